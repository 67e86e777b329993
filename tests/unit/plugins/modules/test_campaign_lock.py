# SPDX-License-Identifier: Apache-2.0
"""campaign_lock as Ansible runs it: arguments, check mode, results, E_LOCK failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from unittest import mock

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore
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


@pytest.fixture
def playbooks():
    """Real processes standing for the ansible-playbook of a run (each its own session): owner dicts as
    run_guard.find_playbook returns them."""
    procs = []

    def start():
        proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)
        procs.append(proc)
        return proc, dict(pid=proc.pid, start=run_guard.start_time(proc.pid), session=proc.pid)

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _gone(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run_guard.holder(path) is None:
            return True
        time.sleep(0.05)
    return False


def test_a_run_without_the_callback_is_held_by_a_guard_and_a_second_run_is_refused(
        cloud, tmp_path, monkeypatch, playbooks):
    """A plain ansible-playbook (no campaign_status callback, any ansible.cfg): campaign_lock starts a guard that
    holds the run lock for it; a second run of the campaign - same state directory or not - is refused."""
    first, owner1 = playbooks()
    second, owner2 = playbooks()
    monkeypatch.setattr(campaign_lock.run_guard, 'find_playbook', lambda: owner1)
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r1', state_dir=str(tmp_path))
    assert outcome == 'exit' and result['action'] == 'acquire', result
    assert result['run']['pid'] == first.pid and result['run']['guard_pid'] not in (None, first.pid)
    assert metadata(cloud)[0] == dict(campaign_id='c1', holder=metadata(cloud)[0]['holder'], started=mock.ANY,
                                      run_id='r1', controller=socket.gethostname(), pid=str(first.pid),
                                      pid_start=str(owner1['start']))
    monkeypatch.setattr(campaign_lock.run_guard, 'find_playbook', lambda: owner2)
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r2', state_dir=str(tmp_path))
    assert outcome == 'fail' and result['error_code'] == 'E_LOCK'
    assert result['msg'].startswith('campaign c1 is being run right now by process %d on %s (run r1'
                                    % (first.pid, socket.gethostname()))
    # another state directory: the run guard cannot see it, the lock's record of the run can
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r2', state_dir=str(tmp_path / 'other'))
    assert outcome == 'fail' and result['error_code'] == 'E_LOCK'
    assert result['msg'].startswith('campaign c1 is being run right now by process %d on %s (run r1'
                                    % (first.pid, socket.gethostname()))
    assert metadata(cloud)[0]['pid'] == str(first.pid)
    # the first run ends: its guard lets go, the campaign resumes
    first.kill()
    first.wait()
    assert _gone(str(tmp_path / 'c1'))
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r2', state_dir=str(tmp_path))
    assert outcome == 'exit' and result['action'] == 'reacquire' and result['run']['pid'] == second.pid
    assert metadata(cloud)[0]['pid'] == str(second.pid)
    second.kill()
    second.wait()
    assert _gone(str(tmp_path / 'c1'))


def test_without_ansible_playbook_nothing_is_held(cloud, tmp_path):
    """ansible -m campaign_lock (or this test): no ansible-playbook to guard, no run recorded in the lock."""
    outcome, result, _warnings = run(cloud, campaign_id='c1', run_id='r1', state_dir=str(tmp_path))
    assert outcome == 'exit' and result['run'] is None and 'pid' not in metadata(cloud)[0]


def test_another_campaign_s_lock_says_why_it_is_held_and_how_to_resume_or_abandon_it(cloud, tmp_path):
    run(cloud, campaign_id='c1', run_id='r1', holder='stack@ctl1')
    store = CampaignStore('c1', str(tmp_path))
    store.start(run_id='r1', plan=dict(batches=[['compute1']]))
    store.update_host('compute1', state='failed', phase='precheck', error_code='E_PRECHECK',
                      message='nova-compute is down', run_id='r1')
    outcome, result, _warnings = run(cloud, campaign_id='c2', state_dir=str(tmp_path))
    assert outcome == 'fail' and result['error_code'] == 'E_LOCK'
    text = result['msg']
    assert text.startswith('the cloud is locked by campaign c1 (holder stack@ctl1, run r1, since ')
    assert 'No live run of campaign c1 on this controller.' in text and 'is running' not in text
    assert 'Last error: host compute1 failed: E_PRECHECK nova-compute is down.' in text
    assert 'To resume it: ansible-playbook upgrade-compute.yml -e escalator_campaign_id=c1 (or: escalator upgrade -c ' \
        'c1). To abandon it and release the lock: escalator unlock -c c1' in text
    # never started (refused plan or precheck before its start): said so
    run(cloud, campaign_id='c1', state='absent')
    run(cloud, campaign_id='c3', run_id='r1')
    outcome, result, _warnings = run(cloud, campaign_id='c2', state_dir=str(tmp_path))
    assert 'It has no status in %s: it stopped before its start' % (tmp_path / 'c3') in result['msg']
