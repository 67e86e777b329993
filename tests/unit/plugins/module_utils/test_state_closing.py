# SPDX-License-Identifier: Apache-2.0
"""Closing a campaign's rollback window (issue 14): a done campaign is committed (and then never changed again), or
rolled back host by host in the reverse order of their upgrade."""

from __future__ import annotations


import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.state import (
    CAMPAIGN_STATES, CampaignStore, StateError, rollback_order)
from ansible_collections.opnfv.escalator.plugins.modules import campaign_state, campaign_state_info
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module
from ansible_collections.opnfv.escalator.tests.unit.fake_clock import Clock


def upgrade(store, *hosts):
    for host in hosts:
        store.update_host(host, state='draining', phase='maintenance')
        store.update_host(host, state='verifying', phase='verify')
        store.update_host(host, state='done', phase='notify_complete', result='ok')


@pytest.fixture
def done(tmp_path):
    """A done campaign: c3 upgraded first, then c1, then c2."""
    store = CampaignStore('c1', str(tmp_path), now=Clock(tick=1))
    store.start(run_id='run-1', plan={'batches': [['c3'], ['c1'], ['c2']]})
    upgrade(store, 'c3', 'c1', 'c2')
    store.finish()
    assert store.read_status()['campaign']['state'] == 'done'
    return store


def test_a_campaign_rollback_takes_the_hosts_last_upgraded_first(done):
    assert rollback_order(done.read_status()) == ['c2', 'c1', 'c3']
    done.update_host('c1', state='rolled_back', phase='rollback', result='ok', reset=True)
    assert rollback_order(done.read_status()) == ['c2', 'c3']           # a resumed rollback: what is left
    answer = run_module(campaign_state_info, campaign_id='c1', state_dir=done.state_dir)[1]
    assert answer['rollback_order'] == ['c2', 'c3']


def test_a_rolled_back_campaign_finishes_rolled_back_and_is_resumable(done):
    for host in rollback_order(done.read_status()):
        done.update_host(host, state='rolled_back', phase='rollback', result='ok', reset=True)
    done.finish(state='rolled_back', message='every upgraded host rolled back')
    assert done.read_status()['campaign']['state'] == 'rolled_back' and 'rolled_back' in CAMPAIGN_STATES
    assert run_module(campaign_state_info, campaign_id='c1', state_dir=done.state_dir)[1]['resumable'] is True
    with pytest.raises(StateError) as caught:
        done.commit()
    assert caught.value.code == 'E_STATE' and 'upgrade its hosts again' in caught.value.msg


def test_commit_closes_a_done_campaign_for_good(done):
    outcome, result = run_module(campaign_state, check_mode=True, campaign_id='c1', state_dir=done.state_dir,
                                 action='commit')[:2]
    assert outcome == 'exit' and result['changed'] and done.read_status()['campaign']['state'] == 'done'
    outcome, result = run_module(campaign_state, campaign_id='c1', state_dir=done.state_dir, action='commit')[:2]
    assert outcome == 'exit' and result['status']['campaign']['state'] == 'committed', result
    assert [e['action'] for e in done.read_events()][-1] == 'commit'
    assert done.commit()['changed'] is False                               # again: nothing to do
    info = run_module(campaign_state_info, campaign_id='c1', state_dir=done.state_dir)[1]
    assert info['resumable'] is False
    for change in (lambda: done.start(plan={'batches': [['c1']]}),
                   lambda: done.update_host('c2', state='rolled_back', reset=True),
                   lambda: done.update_batch(1, state='running')):
        with pytest.raises(StateError) as caught:
            change()
        assert caught.value.code == 'E_STATE' and 'is committed' in caught.value.msg
        assert 'cannot be' in caught.value.msg and 'new campaign id' in caught.value.msg
    assert done.finish()['changed'] is False and done.read_status()['campaign']['state'] == 'committed'


@pytest.mark.parametrize('state, words', [
    ('running', 'it is running'),
    ('failed', 'roll it back (escalator rollback --campaign)'),
    ('incomplete', 'resume it (escalator upgrade)'),
])
def test_only_a_done_campaign_can_be_committed(tmp_path, state, words):
    store = CampaignStore('c1', str(tmp_path), now=Clock(tick=1))
    store.start(run_id='run-1', plan={'batches': [['c1'], ['c2']]})
    upgrade(store, 'c1')
    if state == 'failed':
        store.update_host('c2', state='failed', error_code='E_TASK')
    if state != 'running':
        store.finish()
    assert store.read_status()['campaign']['state'] == state
    outcome, result = run_module(campaign_state, check_mode=True, campaign_id='c1', state_dir=str(tmp_path),
                                 action='commit')[:2]
    assert outcome == 'fail' and result['error_code'] == 'E_STATE', result
    assert 'cannot be committed' in result['msg'] and words in result['msg'], result['msg']
