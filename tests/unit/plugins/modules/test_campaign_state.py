# SPDX-License-Identifier: Apache-2.0
"""campaign_state and campaign_state_info as Ansible runs them."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.opnfv.escalator.plugins.modules import campaign_state, campaign_state_info
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

PLAN = {'fingerprint': 'sha256:abc', 'feasible': True,
        'batches': [{'batch': 1, 'canary': True, 'hosts': ['compute1']},
                    {'batch': 2, 'canary': False, 'hosts': ['compute2', 'compute3']}],
        'skipped': [{'host': 'compute9', 'reason': 'disabled by someone else'}]}


def run(module, check_mode=False, diff=False, **args):
    """Run a module's main(); returns (outcome, result) with outcome 'exit' or 'fail'."""
    return run_module(module, check_mode=check_mode, diff=diff, **args)[:2]


@pytest.fixture
def record(tmp_path):
    def call(check_mode=False, diff=False, **args):
        args.setdefault('campaign_id', 'c1')
        args.setdefault('state_dir', str(tmp_path))
        return run(campaign_state, check_mode=check_mode, diff=diff, **args)
    return call


@pytest.fixture
def info(tmp_path):
    def call(**args):
        args.setdefault('state_dir', str(tmp_path))
        return run(campaign_state_info, **args)
    return call


@pytest.fixture
def started(record):
    outcome, result = record(action='start', run_id='run-1', plan=PLAN)
    assert outcome == 'exit', result
    return result


def test_start(started, tmp_path):
    assert started['changed'] and started['run_id'] == 'run-1'
    assert started['path'] == str(tmp_path / 'c1')
    assert started['msg'] == 'recorded the start of run run-1 of campaign c1'
    assert started['status']['campaign']['state'] == 'running'
    assert started['summary']['hosts'] == 4 and started['summary']['states']['skipped'] == 1
    assert started['table'].startswith('Campaign c1: running (run run-1')
    assert [e['action'] for e in started['events']] == ['start', 'skipped']
    assert sorted(os.listdir(str(tmp_path / 'c1'))) == ['.lock', 'events.jsonl', 'plan.json', 'status.json']


def test_start_makes_up_a_run_id(record):
    outcome, result = record(action='start')
    assert outcome == 'exit' and len(result['run_id']) == len('20260101T100000Z-3f9a1c')


def test_host_updates_with_diff_and_the_run_of_the_start(record, started):
    outcome, result = record(action='host', host='compute1', state='draining', phase='maintenance', diff=True)
    assert outcome == 'exit' and result['changed'] and result['run_id'] == 'run-1'
    assert result['msg'] == 'recorded compute1: draining (maintenance)'
    assert result['host']['state'] == 'draining' and 'history' not in result['host']
    assert result['diff']['before']['state'] == 'pending' and result['diff']['after']['phase'] == 'maintenance'
    outcome, result = record(action='host', host='compute1', state='draining', phase='maintenance')
    assert not result['changed'] and result['msg'] == 'nothing to record: already so'


def test_a_refused_transition_fails_with_e_state(record, started):
    outcome, result = record(action='host', host='compute1', state='done')
    assert outcome == 'fail' and result['error_code'] == 'E_STATE' and 'pending -> done' in result['msg']


def test_a_failure_alerts_and_reports_webhook_errors(record, started):
    record(action='host', host='compute2', state='draining', phase='evacuate')
    outcome, result = record(action='host', host='compute2', state='failed', error_code='E_MIGRATION_TIMEOUT',
                             msg='vm-1 stuck', webhook_url='ftp://127.0.0.1/hook')
    assert outcome == 'exit' and result['msg'] == 'recorded compute2: failed (evacuate) E_MIGRATION_TIMEOUT'
    assert [a['data']['kind'] for a in result['alerts']] == ['host_failed']
    assert result['webhook_errors'] == ['webhook URL ftp://127.0.0.1/... is not http(s)']
    assert [e['action'] for e in result['events']] == ['evacuate', 'alert', 'webhook']


def test_batch_finish_event_alert(record, started):
    outcome, result = record(action='batch', batch=1, state='running')
    assert outcome == 'exit' and result['status']['batches'][0]['state'] == 'running'
    outcome, result = record(action='event', object_type='vnfm', object_id='vnfm-a', event_action='vnfm_reply',
                             msg='migrate', data={'instances': 2})
    assert result['events'][0]['object_id'] == 'vnfm-a' and result['events'][0]['data'] == {'instances': 2}
    outcome, result = record(action='event', host='compute1', event_action='note')
    assert (result['events'][0]['object_type'], result['events'][0]['object_id']) == ('host', 'compute1')
    outcome, result = record(action='alert', kind='budget', severity='critical', msg='budget exceeded',
                             object_type='batch', object_id='2')
    assert result['alerts'][0]['data'] == {'kind': 'budget', 'severity': 'critical'}
    assert result['summary']['alerts'] == 1
    outcome, result = record(action='finish')
    assert result['status']['campaign']['state'] == 'incomplete'
    assert result['msg'] == 'recorded the end of campaign c1: incomplete'


@pytest.mark.parametrize('args, words', [
    (dict(action='host'), 'action=host needs host'),
    (dict(action='batch'), 'action=batch needs batch'),
    (dict(action='event'), 'action=event needs event_action'),
    (dict(action='alert'), 'action=alert needs msg'),
    (dict(action='finish', state='draining'), 'finishes done, failed or incomplete'),
    (dict(action='host', host='compute1', state='running'), 'host state'),
])
def test_missing_or_wrong_arguments(record, started, args, words):
    outcome, result = record(**args)
    assert outcome == 'fail' and words in result['msg'] and result['error_code'] == 'E_INVALID_INPUT'


def test_nothing_before_the_start(record):
    outcome, result = record(action='host', host='compute1', state='draining')
    assert outcome == 'fail' and result['error_code'] == 'E_STATE' and 'action=start first' in result['msg']


def test_check_mode_writes_nothing(record, tmp_path):
    outcome, result = record(action='start', plan=PLAN, check_mode=True)
    assert outcome == 'exit' and result['changed'] and result['status']['hosts']['compute9']['state'] == 'skipped'
    assert not os.path.exists(str(tmp_path / 'c1'))


def test_the_state_dir_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('ESCALATOR_STATE_DIR', str(tmp_path / 'env'))
    outcome, result = run(campaign_state, campaign_id='c1', action='start')
    assert outcome == 'exit' and result['path'] == str(tmp_path / 'env' / 'c1')


# -- campaign_state_info ----------------------------------------------------------------------

def test_info_of_a_campaign_never_started(info, tmp_path):
    outcome, result = info(campaign_id='nope')
    assert outcome == 'exit' and not result['changed']
    assert not result['exists'] and not result['resumable'] and result['status'] is None
    assert result['campaign_id'] == 'nope' and result['path'] == str(tmp_path / 'nope')
    assert result['hosts_to_skip'] == [] and result['resume']['continue'] == {} and result['table'] == ''
    assert not os.path.exists(str(tmp_path / 'nope'))


def test_info_for_a_resumed_run(record, info, started):
    for state, phase in (('draining', 'maintenance'), ('upgrading', 'upgrade'), ('verifying', 'verify'),
                         ('done', 'notify_complete')):
        record(action='host', host='compute1', state=state, phase=phase)
    record(action='host', host='compute2', state='draining', phase='evacuate')
    outcome, result = info(campaign_id='c1', events=2)
    assert outcome == 'exit' and result['exists'] and result['resumable']
    assert result['plan'] == PLAN
    assert result['hosts_to_skip'] == ['compute1', 'compute9']
    assert result['resume']['continue'] == {'compute2': 'evacuate'} and result['resume']['start'] == ['compute3']
    assert result['resume']['hosts']['compute2']['reason'].startswith('caught half-way')
    assert [e['object_id'] for e in result['events']] == ['compute1', 'compute2']
    assert result['summary']['done'] == 1 and result['summary']['failed'] == 0
    outcome, result = info(campaign_id='c1', events=-1)
    assert result['resume']['rollback'] == [] and len(result['events']) == 7


def test_a_done_campaign_is_not_resumable(record, info, started):
    record(action='batch', batch=2, state='skipped')
    for state in ('draining', 'upgrading', 'verifying', 'done'):
        record(action='host', host='compute1', state=state)
    record(action='finish')
    outcome, result = info(campaign_id='c1')
    assert result['status']['campaign']['state'] == 'done' and not result['resumable']


def test_info_lists_campaigns(record, info, tmp_path, started):
    record(campaign_id='c2', action='start')
    outcome, result = info()
    assert outcome == 'exit' and [c['id'] for c in result['campaigns']] == ['c2', 'c1']
    assert result['state_dir'] == str(tmp_path)


def test_info_of_a_broken_status(info, started, tmp_path):
    (tmp_path / 'c1' / 'status.json').write_text(json.dumps({'format': 'nope'}))
    outcome, result = info(campaign_id='c1')
    assert outcome == 'fail' and result['error_code'] == 'E_STATE'
