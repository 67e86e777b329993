# SPDX-License-Identifier: Apache-2.0
"""The campaign_gate module: its inputs checked with clear errors, go, pause, check mode."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore
from ansible_collections.opnfv.escalator.plugins.modules import campaign_gate
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module


@pytest.fixture
def state_dir(tmp_path):
    CampaignStore('c1', str(tmp_path)).start(run_id='run-1', plan={'batches': [['h1'], ['h2']]})
    return str(tmp_path)


def gate(state_dir, check_mode=False, **args):
    return run_module(campaign_gate, check_mode=check_mode, campaign_id='c1', state_dir=state_dir, batch=2,
                      hosts=['h2'], **args)[:2]


ALWAYS = [{'days': 'daily', 'start': '00:00', 'end': '00:00', 'timezone': 'UTC'}]


def test_an_open_window_lets_the_batch_go(state_dir):
    outcome, result = gate(state_dir, windows=ALWAYS)
    assert outcome == 'exit' and result['action'] == 'go' and not result['changed']
    assert result['expected_batch_s'] == 1185.0


@pytest.mark.parametrize('args, words', [
    (dict(windows=[{'days': 'someday', 'start': '22:00', 'end': '05:00'}]), "unknown day 'someday'"),
    (dict(windows=[{'days': 'mon', 'start': '22:00', 'end': '05:00', 'timezone': 'Europe/Atlantis'}]),
     'unknown time zone'),
    (dict(windows=[{'days': 'mon', 'start': '25:00', 'end': '05:00'}]), 'not a time of day'),
    (dict(expected_phase_seconds={'upgrade': -5}), 'must be a number of seconds >= 0'),
    (dict(window_max_wait=-1), 'window_max_wait must be >= 0'),
    (dict(hang_multiple=-2.0), 'hang_multiple must be positive'),
    (dict(alertmanager={'url': 'http://127.0.0.1:9093', 'matchers': ['severity=critical']}), 'not an Alertmanager'),
    (dict(alertmanager={'url': 'http://127.0.0.1:9093', 'wait': -1}), 'alertmanager.wait must be >= 0'),
])
def test_bad_values_fail_with_e_invalid_input(state_dir, args, words):
    outcome, result = gate(state_dir, **args)
    assert outcome == 'fail' and result['error_code'] == 'E_INVALID_INPUT' and words in result['msg'], result


def test_a_closed_window_pauses_and_check_mode_records_nothing(state_dir):
    # a window of one minute a week, in the past or future: never enough for a batch of ~20 min
    closed = [{'days': 'mon', 'start': '03:00', 'end': '03:01', 'timezone': 'UTC'}]
    outcome, result = gate(state_dir, check_mode=True, windows=closed)
    assert outcome == 'exit' and result['action'] == 'pause' and result['kind'] == 'window'
    assert CampaignStore('c1', state_dir).read_status()['campaign']['state'] == 'running'
    outcome, result = gate(state_dir, windows=closed)
    assert result['action'] == 'pause' and result['changed']
    assert 'paused before batch 2' in result['msg']
    status = CampaignStore('c1', state_dir).read_status()
    assert status['campaign']['state'] == 'incomplete' and status['campaign']['message'].startswith('paused: ')


def test_campaign_pause_module_writes_the_request_the_gate_acts_on(state_dir):
    from ansible_collections.opnfv.escalator.plugins.modules import campaign_pause
    outcome, result = run_module(campaign_pause, check_mode=True, campaign_id='c1', state_dir=state_dir)[:2]
    assert outcome == 'exit' and result['request'] is None
    outcome, result = run_module(campaign_pause, campaign_id='c1', state_dir=state_dir, reason='freeze',
                                 requested_by='awx:alice')[:2]
    assert outcome == 'exit' and result['request']['requested_by'] == 'awx:alice'
    outcome, result = gate(state_dir)
    assert result['action'] == 'pause' and result['reason'] == 'pause requested by awx:alice: freeze'
    outcome, result = run_module(campaign_pause, campaign_id='c1', state_dir=state_dir)[:2]
    assert outcome == 'fail' and result['error_code'] == 'E_STATE' and 'not running' in result['msg']
