# SPDX-License-Identifier: Apache-2.0
"""campaign_lock as Ansible runs it: arguments, check mode, results, E_LOCK failures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
from ansible_collections.opnfv.escalator.plugins.modules import campaign_lock
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

NAME = 'escalator-campaign-lock'


def run(fake, check_mode=False, **args):
    """Run the module's main(); returns (outcome, result, warnings) with outcome 'exit' or 'fail'."""
    return run_module(campaign_lock, fake, check_mode=check_mode, **args)[:3]


def metadata(cloud):
    return [a['metadata'] for a in cloud.aggregates if a['name'] == NAME]


def test_take_and_release(cloud):
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r1', holder='awx job 42')
    assert outcome == 'exit' and result['changed'] and result['action'] == 'acquire'
    assert result['msg'] == 'campaign lock escalator-campaign-lock taken by campaign c1'
    assert result['lock']['holder'] == 'awx job 42' and result['lock']['run_id'] == 'r1'
    assert metadata(cloud)[0]['campaign_id'] == 'c1'
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r1', holder='awx job 42')
    assert not result['changed'] and result['msg'] == 'campaign lock escalator-campaign-lock already held by campaign c1'
    outcome, result, _warnings = run(cloud, campaign_id='c1', state='absent')
    assert result['changed'] and result['action'] == 'release' and result['lock'] is None
    assert result['msg'] == 'campaign lock escalator-campaign-lock released' and metadata(cloud) == []
    outcome, result, _warnings = run(cloud, campaign_id='c1', state='absent')
    assert not result['changed'] and result['msg'] == 'campaign lock escalator-campaign-lock is not held'


def test_held_by_another_campaign(cloud):
    run(cloud, campaign_id='c1', run_id='r1', holder='stack@ctl1')
    outcome, result, _warnings = run(cloud, campaign_id='c2')
    assert outcome == 'fail' and result['error_code'] == 'E_LOCK'
    assert 'locked by campaign c1 (holder stack@ctl1, run r1' in result['msg']
    assert result['lock']['campaign_id'] == 'c1'
    outcome, result, _warnings = run(cloud, campaign_id='c2', state='absent')
    assert outcome == 'fail' and result['error_code'] == 'E_LOCK' and metadata(cloud)[0]['campaign_id'] == 'c1'


def test_force(cloud):
    run(cloud, campaign_id='c1', holder='stack@ctl1')
    outcome, result, warnings = run(cloud, campaign_id='c2', force=True, holder='ops@ctl2')
    assert outcome == 'exit' and result['forced'] and result['action'] == 'takeover'
    assert 'taken over (FORCED) from campaign c1' in result['msg'] and warnings
    outcome, result, warnings = run(cloud, campaign_id='c9', state='absent', force=True)
    assert result['forced'] and '(FORCED, it was held by campaign c2' in result['msg'] and warnings
    assert metadata(cloud) == []


def test_another_run_of_the_same_campaign_is_refused_even_forced(cloud, tmp_path):
    """The cloud's lock lets a run of its own campaign re-take it (a resume); with state_dir, a run of that
    campaign still going on this controller is refused."""
    run(cloud, campaign_id='c1', run_id='r1')
    script = ('import fcntl, json, os, sys, time; f = open(sys.argv[1], "a+"); fcntl.flock(f, fcntl.LOCK_EX); '
              'f.write(json.dumps(dict(pid=os.getpid(), host="ctl1", run_id="r1"))); f.flush(); '
              'print("held", flush=True); time.sleep(60)')
    (tmp_path / 'c1').mkdir()
    other = subprocess.Popen([sys.executable, '-c', script, str(tmp_path / 'c1' / '.run.lock')],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == 'held'
        for force in (False, True):
            outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r2', state_dir=str(tmp_path), force=force)
            assert outcome == 'fail' and result['error_code'] == 'E_LOCK'
            assert result['msg'].startswith('campaign c1 is being run right now by process %d on ctl1 (run r1'
                                            % other.pid)
            assert result['run']['pid'] == other.pid and not result['run']['ours']
        assert metadata(cloud)[0]['run_id'] == 'r1'
    finally:
        other.kill()
        other.wait()
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r2', state_dir=str(tmp_path))
    assert outcome == 'exit' and result['action'] == 'reacquire' and result['run'] is None


def test_the_run_holding_the_run_lock_may_take_the_cloud_lock(cloud, tmp_path):
    handle = run_guard.take(str(tmp_path / 'c1'), run_id='r1')
    try:
        outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r1', state_dir=str(tmp_path))
    finally:
        handle.close()
    assert outcome == 'exit' and result['action'] == 'acquire'
    assert result['run']['ours'] and result['run']['pid'] == os.getpid()


def test_check_mode(cloud):
    outcome, result, _warnings = run(cloud, check_mode=True, campaign_id='c1')
    assert outcome == 'exit' and result['changed'] and result['msg'].endswith('would be taken by campaign c1')
    assert metadata(cloud) == []
    run(cloud, campaign_id='c1')
    outcome, result, _warnings = run(cloud, check_mode=True, campaign_id='c1', state='absent')
    assert result['changed'] and 'would be released' in result['msg'] and len(metadata(cloud)) == 1


def test_another_lock_name(cloud):
    run(cloud, campaign_id='c1', name='escalator-lock-region2')
    outcome, result, _warnings = run(cloud, campaign_id='c2')
    assert outcome == 'exit' and result['action'] == 'acquire'
    assert sorted(a['name'] for a in cloud.aggregates) == ['escalator-campaign-lock', 'escalator-lock-region2']


@pytest.mark.parametrize('forbidden, code', [('aggregates', 'E_FORBIDDEN'), ('create_aggregate', 'E_FORBIDDEN')])
def test_api_errors(cloud, forbidden, code):
    cloud.forbidden.add(forbidden)
    outcome, result, _warnings = run(cloud, campaign_id='c1')
    assert outcome == 'fail' and result['error_code'] == code
