# SPDX-License-Identifier: Apache-2.0
"""run_guard: one live run per campaign on a controller (real flock, real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard

HOLD = r'''
import os, sys, time
sys.path[:0] = [os.environ['ESC_PATH']]
from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
handle = run_guard.take(sys.argv[1], run_id='run-other')
print('taken' if handle else 'refused', flush=True)
if sys.argv[2] == 'orphan' and os.fork():
    os._exit(0)          # the "ansible-playbook" dies; its forked "worker" keeps the lock
time.sleep(60)
'''


def collections_root():
    here = os.path.dirname(os.path.abspath(run_guard.__file__))
    return here[:here.index('/ansible_collections/')]


@pytest.fixture
def other_run(tmp_path):
    """Start another process holding the run lock of tmp_path/c1 ('plain' or 'orphan'); kills it after."""
    procs = []

    def start(kind='plain'):
        proc = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path / 'c1'), kind], stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, ESC_PATH=collections_root()), start_new_session=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == 'taken'
        return proc

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()


def test_nobody_runs_a_campaign_never_started(tmp_path):
    assert run_guard.holder(str(tmp_path / 'c1')) is None


def test_our_own_run_is_ours(tmp_path):
    handle = run_guard.take(str(tmp_path / 'c1'), run_id='r1')
    try:
        info = run_guard.holder(str(tmp_path / 'c1'))
        assert info['pid'] == os.getpid() and info['run_id'] == 'r1' and info['ours'] and info['alive']
        # a second take, even in the same process, is refused while the first is held
        assert run_guard.take(str(tmp_path / 'c1')) is None
    finally:
        handle.close()
    assert run_guard.holder(str(tmp_path / 'c1')) is None


def test_another_live_run_is_not_ours_and_its_death_frees_the_campaign(tmp_path, other_run):
    proc = other_run()
    info = run_guard.holder(str(tmp_path / 'c1'))
    assert (info['pid'], info['run_id'], info['ours'], info['alive']) == (proc.pid, 'run-other', False, True)
    assert run_guard.take(str(tmp_path / 'c1')) is None
    assert 'is being run right now by process %d' % proc.pid in run_guard.describe('c1', info)
    os.killpg(proc.pid, 9)      # SIGKILL: the kernel drops the lock
    proc.wait()
    assert run_guard.holder(str(tmp_path / 'c1')) is None
    handle = run_guard.take(str(tmp_path / 'c1'))
    assert handle is not None
    handle.close()


def test_the_workers_of_a_killed_run_still_hold_it(tmp_path, other_run):
    proc = other_run('orphan')
    proc.wait()                 # the holder exited; its child still sleeps with the lock
    info = None
    for _attempt in range(50):
        info = run_guard.holder(str(tmp_path / 'c1'))
        if info and not info['alive']:
            break
        time.sleep(0.1)
    assert info is not None and info['pid'] == proc.pid and not info['alive'] and not info['ours']
    assert 'which is gone, but its workers still hold the run lock' in run_guard.describe('c1', info)


def test_ancestors_reads_parent_ids_even_with_odd_command_names(tmp_path):
    for pid, ppid, comm in ((30, 20, 'python3'), (20, 10, 'ansible (x) y'), (10, 1, 'sh'), (1, 0, 'init')):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / 'stat').write_text('%d (%s) S %d 1 1 0 -1\n' % (pid, comm, ppid))
    assert run_guard.ancestors(30, proc=str(tmp_path)) == [30, 20, 10, 1]
    assert run_guard.ancestors(os.getpid())[:2] == [os.getpid(), os.getppid()]


def test_a_garbled_lock_file_still_counts_as_held(tmp_path):
    handle = run_guard.take(str(tmp_path / 'c1'))
    try:
        handle.seek(0)
        handle.truncate()
        handle.write('not json')
        handle.flush()
        info = run_guard.holder(str(tmp_path / 'c1'))
        assert info['pid'] is None and not info['ours'] and info['alive']
        assert 'is being run right now by process ?' in run_guard.describe('c1', info)
    finally:
        handle.close()
