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


# -- the guard process: the run held for a plain ansible-playbook (no callback) ---------------------

FAKE_PLAYBOOK = r'''#!%(python)s
# a stand-in for ansible-playbook: its "worker" (a fork) runs the "module", which starts the guard the way
# campaign_lock does and prints its answer on a pipe that must reach its end once the module is done
import os, subprocess, sys, time
sys.path[:0] = [os.environ['ESC_PATH']]
MODULE = """
import os, sys
sys.path[:0] = [os.environ['ESC_PATH']]
from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
owner = run_guard.find_playbook()
print(owner['pid'], run_guard.start_guard(sys.argv[1], owner, run_id='r-guard', poll=0.1), flush=True)
"""
worker = os.fork()
if worker == 0:
    child = subprocess.Popen([sys.executable, '-c', MODULE, sys.argv[1]], stdout=subprocess.PIPE, text=True)
    out, _err = child.communicate(timeout=20)      # times out if the guard kept the module's output open
    print('module:', out.strip(), flush=True)
    if sys.argv[2] == 'worker-stays':
        time.sleep(60)
    os._exit(0)
if sys.argv[2] != 'worker-stays':
    os.waitpid(worker, 0)
time.sleep(60)
'''


@pytest.fixture
def fake_playbook(tmp_path):
    """Start a fake ansible-playbook (kind: 'plain' or 'worker-stays') whose module starts a guard for
    tmp_path/c1; returns (proc, pid the module found, the guard's answer)."""
    script = tmp_path / 'bin' / 'ansible-playbook'
    script.parent.mkdir()
    script.write_text(FAKE_PLAYBOOK % dict(python=sys.executable))
    script.chmod(0o755)
    procs = []

    def start(kind='plain'):
        proc = subprocess.Popen([str(script), str(tmp_path / 'c1'), kind], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, ESC_PATH=collections_root()), start_new_session=True)
        procs.append(proc)
        line = proc.stdout.readline().split()
        assert line[0] == 'module:', line
        return proc, int(line[1]), line[2] == 'True'

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_guard_holds_the_run_of_a_plain_ansible_playbook_until_it_ends(tmp_path, fake_playbook):
    proc, found, taken = fake_playbook()
    assert found == proc.pid and taken         # the topmost ansible-playbook: the main process, not its worker
    info = run_guard.holder(str(tmp_path / 'c1'))
    assert (info['pid'], info['run_id'], info['alive'], info['ours']) == (proc.pid, 'r-guard', True, False)
    assert info['pid_start'] == run_guard.start_time(proc.pid)
    assert info['guard_pid'] not in (None, proc.pid) and run_guard.process_alive(info['guard_pid'], info['guard_start'])
    assert run_guard.take(str(tmp_path / 'c1')) is None
    assert 'is being run right now by process %d' % proc.pid in run_guard.describe('c1', info)
    # a second run of the campaign: its guard is refused and does not stay
    second, _found, taken = fake_playbook()
    assert not taken and run_guard.holder(str(tmp_path / 'c1'))['pid'] == proc.pid
    os.killpg(proc.pid, 9)      # the first ansible-playbook ends (SIGKILL): its guard lets go
    proc.wait()
    assert wait_for(lambda: run_guard.holder(str(tmp_path / 'c1')) is None)
    assert not run_guard.process_alive(info['guard_pid'], info['guard_start'])
    assert second.poll() is None


def test_a_guard_holds_while_the_workers_of_a_killed_playbook_still_run(tmp_path, fake_playbook):
    proc, _found, taken = fake_playbook('worker-stays')
    assert taken
    os.kill(proc.pid, 9)        # only the main process: its worker goes on with its task
    proc.wait()
    time.sleep(0.5)
    info = run_guard.holder(str(tmp_path / 'c1'))
    assert info is not None and info['pid'] == proc.pid and not info['alive']
    assert 'which is gone, but its workers still hold the run lock' in run_guard.describe('c1', info)
    os.killpg(proc.pid, 9)      # the worker too
    assert wait_for(lambda: run_guard.holder(str(tmp_path / 'c1')) is None)


def test_a_reused_pid_is_not_the_process_that_was_recorded():
    me = os.getpid()
    assert run_guard.process_alive(me, run_guard.start_time(me))
    assert not run_guard.process_alive(me, run_guard.start_time(me) + 1)
    assert run_guard.process_alive(me, None) and not run_guard.process_alive(None, None)


def _fake_proc(root, pid, ppid, cmdline, session=10, start=100):
    (root / str(pid)).mkdir()
    fields = ['S', str(ppid), str(pid), str(session)] + ['0'] * 15 + [str(start)] + ['0'] * 10
    (root / str(pid) / 'stat').write_text('%d (%s) %s\n' % (pid, os.path.basename(cmdline[0]), ' '.join(fields)))
    (root / str(pid) / 'cmdline').write_bytes(b'\0'.join(arg.encode() for arg in cmdline) + b'\0')


def test_find_playbook_is_the_topmost_of_the_nearest_ansible_playbook_processes(tmp_path):
    playbook = ['/venv/bin/python3', '/venv/bin/ansible-playbook', 'upgrade-compute.yml']
    _fake_proc(tmp_path, 1, 0, ['/sbin/init'])
    _fake_proc(tmp_path, 5, 1, playbook, start=50)                      # an outer ansible-playbook ...
    _fake_proc(tmp_path, 6, 5, ['/bin/sh', '-c', 'ansible-playbook x.yml'])   # ... running another by a task
    _fake_proc(tmp_path, 20, 6, ['ansible-playbook', 'x.yml'], start=200)    # the main process
    _fake_proc(tmp_path, 30, 20, ['ansible-playbook', 'x.yml'], start=300)   # its worker
    _fake_proc(tmp_path, 40, 30, ['/bin/sh', '-c', 'python3 AnsiballZ_campaign_lock.py'])
    _fake_proc(tmp_path, 50, 40, ['python3', 'AnsiballZ_campaign_lock.py'])
    assert run_guard.find_playbook(50, proc=str(tmp_path)) == dict(pid=20, start=200, session=10)
    assert run_guard.find_playbook(6, proc=str(tmp_path)) == dict(pid=5, start=50, session=10)
    assert run_guard.find_playbook(1, proc=str(tmp_path)) is None


def test_watch_step_follows_the_run_s_descendants_in_its_session_only(tmp_path):
    _fake_proc(tmp_path, 1, 0, ['/sbin/init'], session=1)
    _fake_proc(tmp_path, 20, 1, ['ansible-playbook'], start=200)
    _fake_proc(tmp_path, 30, 20, ['ansible-playbook'], start=300)
    _fake_proc(tmp_path, 31, 30, ['ssh', '-o', 'ControlPersist=60s'], session=31, start=310)   # a daemon
    _fake_proc(tmp_path, 40, 30, ['python3'], start=400)
    _fake_proc(tmp_path, 99, 1, ['sleep'], start=990)
    watched = run_guard.watch_step({20: 200}, 10, proc=str(tmp_path))
    assert watched == {20: 200, 30: 300, 40: 400}
    # the main process killed: its worker and the worker's child are re-parented, still watched
    for pid in (20, 30):
        for name in ('stat', 'cmdline'):
            (tmp_path / str(pid) / name).unlink()
        (tmp_path / str(pid)).rmdir()
    _fake_proc(tmp_path, 30, 1, ['ansible-playbook'], start=300)
    assert run_guard.watch_step(watched, 10, proc=str(tmp_path)) == {30: 300, 40: 400}
    # a pid reused by another process does not count
    assert run_guard.watch_step({99: 5}, 10, proc=str(tmp_path)) == {}
