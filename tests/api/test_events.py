# SPDX-License-Identifier: Apache-2.0
"""Typed events parsed from recorded ansible-runner event dicts, and the exit-code mapping."""
import pytest

from escalator.errors import ExitCode, decide, exit_code_for
from escalator.events import (
    CampaignStatus, EventParser, HostPhase, PlanReady, PlaybookStats, PlayStarted, TaskResult, TaskStarted,
)


def ev(name, counter=1, **data):
    return {'event': name, 'counter': counter, 'created': '2026-01-01T10:00:00.000001', 'uuid': 'u%d' % counter,
            'stdout': '', 'event_data': data}


STATUS = {'format': 'escalator-status/1',
          'campaign': {'id': 'c1', 'state': 'running'},
          'batches': [{'index': 1, 'hosts': ['compute1'], 'state': 'running', 'canary': True}],
          'hosts': {'compute1': {'state': 'draining', 'phase': 'evacuate'}}}


def test_play_and_task_start():
    parser = EventParser()
    (play,) = parser.feed(ev('playbook_on_play_start', play='Escalator | upgrade batch by batch'))
    assert isinstance(play, PlayStarted) and play.play == 'Escalator | upgrade batch by batch'
    assert play.timestamp == '2026-01-01T10:00:00.000001Z'
    (task,) = parser.feed(ev('playbook_on_task_start', 2, task='Back up the host', role='opnfv.escalator.backup',
                             task_action='ansible.builtin.copy'))
    assert isinstance(task, TaskStarted) and task.phase == 'backup' and task.counter == 2


def test_campaign_state_result_yields_a_host_phase_and_the_status():
    parser = EventParser()
    events = parser.feed(ev('runner_on_ok', 3, host='compute1', task='Record evacuating',
                            resolved_action='opnfv.escalator.campaign_state',
                            res={'changed': True, 'msg': 'compute1: draining (evacuate)',
                                 'host': {'state': 'draining', 'phase': 'evacuate', 'batch': 1, 'result': 'started'},
                                 'status': STATUS}))
    kinds = [type(e) for e in events]
    assert kinds == [TaskResult, HostPhase, CampaignStatus]
    task, phase, status = events
    assert task.result == 'changed' and not task.failed
    assert (phase.host, phase.phase, phase.state, phase.batch) == ('compute1', 'evacuate', 'draining', 1)
    assert status.campaign_id == 'c1' and status.status is STATUS
    assert parser.status is STATUS and parser.phases == {'compute1': 'evacuate'}
    # later tasks of the host without a role of their own belong to its current phase
    (later,) = parser.feed(ev('runner_on_ok', 4, host='compute1', task='Something', task_action='debug', res={}))
    assert later.phase == 'evacuate'


def test_failed_module_keeps_its_error_code_and_message():
    parser = EventParser()
    (event,) = parser.feed(ev('runner_on_failed', 5, host='compute2', task='Evacuate the host',
                              resolved_action='opnfv.escalator.compute_evacuate',
                              res={'failed': True, 'msg': 'no valid host for vm1', 'error_code': 'E_NO_VALID_HOST'}))
    assert event.result == 'failed' and event.failed and event.phase == 'evacuate'
    assert (event.error_code, event.message) == ('E_NO_VALID_HOST', 'no valid host for vm1')
    assert parser.first_failure().error_code == 'E_NO_VALID_HOST'
    assert parser.error_codes() == ['E_NO_VALID_HOST']


def test_ignored_failure_is_not_a_failure():
    parser = EventParser()
    (event,) = parser.feed(ev('runner_on_failed', host='h', task='t', ignore_errors=True, res={'msg': 'x'}))
    assert event.result == 'failed' and event.ignored and not event.failed
    assert parser.failures == []


def test_unreachable_host_gets_e_unreachable():
    parser = EventParser()
    (event,) = parser.feed(ev('runner_on_unreachable', host='compute3', task='Free disk space',
                              role='opnfv.escalator.precheck', res={'msg': 'ssh: connect timed out',
                                                                     'unreachable': True}))
    assert event.result == 'unreachable' and event.error_code == 'E_UNREACHABLE'
    assert decide(parser.error_codes()) == ExitCode.UNREACHABLE


def test_precheck_role_failure_is_e_precheck_and_a_tolerated_cloud_error_wins():
    parser = EventParser()
    parser.feed(ev('runner_on_ok', 1, host='compute1', task='Ask Nova about the host',
                   role='opnfv.escalator.precheck', resolved_action='opnfv.escalator.compute_precheck',
                   res={'failed': False, 'failed_when_result': False, 'error_code': 'E_CONNECT',
                        'msg': 'authenticating: cannot reach the OpenStack API'}))
    (fail,) = parser.feed(ev('runner_on_failed', 2, host='compute1', task='Fail with every problem found',
                             role='opnfv.escalator.precheck', task_action='ansible.builtin.fail',
                             res={'failed': True, 'msg': 'Precheck of compute1 found 1 problem(s)'}))
    assert fail.error_code == 'E_PRECHECK' and fail.phase == 'precheck'
    assert decide(parser.error_codes()) == ExitCode.CLOUD
    parser = EventParser()
    parser.feed(ev('runner_on_failed', 2, host='compute1', task='Fail with every problem found',
                   role='precheck', res={'failed': True, 'msg': 'disk full'}))
    assert decide(parser.error_codes()) == ExitCode.PRECHECK


def test_plan_and_stats():
    parser = EventParser()
    events = parser.feed(ev('runner_on_ok', host='localhost', task='Plan the campaign',
                            resolved_action='opnfv.escalator.campaign_plan',
                            res={'plan': {'batches': [{'hosts': ['compute1']}]}, 'feasible': True,
                                 'fingerprint': 'sha256:abc', 'table': 'TABLE'}))
    plan = events[1]
    assert isinstance(plan, PlanReady) and plan.fingerprint == 'sha256:abc' and plan.table == 'TABLE'
    assert parser.plan['feasible'] is True
    (stats,) = parser.feed(ev('playbook_on_stats', ok={'compute1': 5}, failures={'compute1': 1},
                              dark={'compute2': 1}, rescued={'compute1': 1}))
    assert isinstance(stats, PlaybookStats)
    assert stats.hosts['compute1']['failures'] == 1 and stats.hosts['compute2']['unreachable'] == 1
    assert stats.to_dict()['kind'] == 'stats'


def test_other_events_and_garbage_are_ignored():
    parser = EventParser()
    assert parser.feed(ev('verbose')) == []
    assert parser.feed(None) == []
    assert parser.feed({'event': 'runner_on_ok'})[0].host == ''


@pytest.mark.parametrize('codes, expected', [
    ([], ExitCode.FAILED),
    (['E_MIGRATION_FAILED'], ExitCode.FAILED),
    (['E_LOCK'], ExitCode.LOCKED),
    (['E_AUTH'], ExitCode.CLOUD),
    (['E_FORBIDDEN'], ExitCode.CLOUD),
    (['E_PRECHECK', 'E_CONNECT'], ExitCode.CLOUD),
    (['E_PLAN'], ExitCode.PLAN),
    (['E_PRECHECK', 'E_UNREACHABLE'], ExitCode.PRECHECK),
    (['E_TASK', 'E_UNREACHABLE'], ExitCode.UNREACHABLE),
])
def test_exit_code_mapping(codes, expected):
    assert decide(codes) == expected


def test_exit_code_for_unknown_code_is_failed():
    assert exit_code_for('E_SOMETHING_NEW') == ExitCode.FAILED
    assert exit_code_for(None) == ExitCode.FAILED
    assert exit_code_for('E_LOCK') == 4


@pytest.mark.parametrize('message, expected', [
    ('authenticating: Unable to establish connection to http://127.0.0.1:1/v3/auth/tokens: refused', 'E_CONNECT'),
    ('authenticating: The request you have made requires authentication. (HTTP 401) (Request-ID: req-1)', 'E_AUTH'),
    ('authenticating: something else', 'E_API'),
    ('listing servers: Unable to establish connection', 'E_API'),
])
def test_failed_authentication_hidden_as_e_api_is_told_apart(message, expected):
    parser = EventParser()
    (event,) = parser.feed(ev('runner_on_failed', host='localhost', task='Take the lock',
                              res={'msg': message, 'error_code': 'E_API'}))
    assert event.error_code == expected


def test_the_state_directory_the_playbook_used_is_remembered():
    parser = EventParser()
    parser.feed(ev('runner_on_ok', host='localhost', task='Record the start', resolved_action='campaign_state',
                   res={'campaign_id': 'c1', 'path': '/srv/state/c1', 'status': STATUS}))
    assert parser.state_paths == {'c1': '/srv/state/c1'}
