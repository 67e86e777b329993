# SPDX-License-Identifier: Apache-2.0
"""One live run per campaign on a controller.

The cloud's campaign lock (``lock.py``) keeps two *campaigns* apart, and a run
of the campaign that holds it re-takes it: that is how a killed run is resumed.
It cannot tell a killed run from one still running, so two runs of the *same*
campaign (a job launched twice) would both get it and work on the same hosts.

The run guard tells them apart on the controller: a process holds an ``flock``
on ``<state_dir>/<campaign_id>/.run.lock`` for the life of the run and writes the
run's ``ansible-playbook`` process id (and its start time, against pid reuse)
into it.  The kernel drops the lock when the holder dies (SIGKILL included), so a
held lock means a run that is still going: ``holder()`` reports it, and whether
the caller runs under that same ansible-playbook (then it is its own run).

Two holders, whichever comes first:

- the ``campaign_status`` callback, which lives in ``ansible-playbook`` itself,
  when it is enabled (its forked workers inherit the lock);
- else a detached guard process that ``campaign_lock`` starts (``start_guard``)
  and that holds the lock while the ``ansible-playbook`` or any process it
  started in its session lives - so a plain ``ansible-playbook`` with any
  ``ansible.cfg``, the CLI, the API and AWX are all covered.

Either way the workers of a killed ``ansible-playbook`` keep the run until they
finish their task, which is right: a resumed run must not start while a
migration or an upgrade of the killed one is still running.

Standard library only (the callback plugin, the modules and the CLI share it).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import time

from ansible_collections.opnfv.escalator.plugins.module_utils.detach import detach_with_answer
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts

RUN_LOCK_FILE = '.run.lock'


def _path(campaign_dir):
    return os.path.join(campaign_dir, RUN_LOCK_FILE)


def take(campaign_dir, run_id=None, owner=None):
    """Hold the run lock of the campaign in ``campaign_dir`` (created if needed), for this process's run, or
    for the ansible-playbook ``owner`` (dict(pid, start), from find_playbook) when this process is its guard.

    Returns the open file, to keep for as long as the run lasts (closing it, or
    the process ending, releases the lock), or None when another process holds it.
    """
    os.makedirs(campaign_dir, exist_ok=True)
    handle = open(_path(campaign_dir), 'a+', encoding='utf-8')  # pylint: disable=consider-using-with
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return None
        raise
    handle.seek(0)
    handle.truncate()
    me = os.getpid()
    pid, pid_start = (owner['pid'], owner.get('start')) if owner else (me, start_time(me))
    handle.write(json.dumps(dict(
        pid=pid, pid_start=pid_start, host=socket.gethostname(), run_id=run_id,
        started=format_ts(seconds=True),
        guard_pid=me if owner else None, guard_start=start_time(me) if owner else None)) + '\n')
    handle.flush()
    return handle


def ancestors(pid=None, proc='/proc'):
    """The process ids from ``pid`` (default: this process) up to init."""
    chain, current = [], pid or os.getpid()
    while current and current not in chain:
        chain.append(current)
        try:
            with open(os.path.join(proc, str(current), 'stat'), encoding='utf-8') as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                current = int(stat.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return chain


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(campaign_dir, proc='/proc'):
    """Who runs the campaign right now on this controller: None when nobody does, else a dict with
    ``pid``, ``pid_start``, ``host``, ``run_id``, ``started``, ``guard_pid``, ``guard_start`` (what the
    holder wrote: ``pid`` is the run's ansible-playbook, ``guard_pid`` the guard process holding the lock for
    it, if any), ``ours`` (``pid`` is this process or one of its ancestors: the caller is part of that run)
    and ``alive`` (that process still exists, or is unknown; when it does not, its workers still hold the
    lock)."""
    path = _path(campaign_dir)
    try:
        handle = open(path, 'r', encoding='utf-8')  # pylint: disable=consider-using-with
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
        else:
            return None
        try:
            info = json.loads(handle.read() or '{}')
        except ValueError:
            info = {}
    if not isinstance(info, dict):
        info = {}
    pid = info.get('pid') if isinstance(info.get('pid'), int) else None
    pid_start = info.get('pid_start')
    ours = pid is not None and pid in ancestors(proc=proc) and (pid_start is None or process_alive(pid, pid_start, proc))
    alive = pid is None or (_alive(pid) if pid_start is None else process_alive(pid, pid_start, proc))
    return dict(pid=pid, pid_start=pid_start, host=info.get('host'), run_id=info.get('run_id'),
                started=info.get('started'), guard_pid=info.get('guard_pid'), guard_start=info.get('guard_start'),
                ours=ours, alive=alive)


def describe(campaign_id, info):
    """Why a run of ``campaign_id`` must not start while ``info`` (from holder()) runs it."""
    who = 'process %s on %s (run %s, since %s)' % tuple(
        info.get(key) or '?' for key in ('pid', 'host', 'run_id', 'started'))
    if info.get('alive', True):
        return ('campaign %s is being run right now by %s: two runs of one campaign would work on the same '
                'hosts. Wait for it to end (or stop it), then run again with the same campaign id to resume.'
                % (campaign_id, who))
    return ('campaign %s was run by %s, which is gone, but its workers still hold the run lock: a task of '
            'that run (a migration, an upgrade) is still going. Wait for them to finish (ps --ppid 1 -o pid,cmd '
            '| grep ansible), then run again with the same campaign id to resume.' % (campaign_id, who))


# -- the guard: the run lock held for ansible-playbook, callback or not ---------------------------

PLAYBOOK_COMMAND = 'ansible-playbook'
GUARD_ANSWER_TIMEOUT = 30.0   # seconds to wait for the guard's answer
GUARD_POLL = 1.0              # seconds between two looks at the run's processes


def _stat(pid, proc='/proc'):
    """(ppid, pgid, session, start) of a process from /proc/<pid>/stat, or None when it does not exist (or
    has ended: a zombie). ``start`` is its start time in clock ticks since boot: with the pid it names one
    process, whatever the pid is reused for later."""
    try:
        with open(os.path.join(proc, str(pid), 'stat'), encoding='utf-8') as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
        if fields[0] in ('Z', 'X'):
            return None
        # after "(comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
        # cutime cstime priority nice num_threads itrealvalue starttime
        return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def start_time(pid, proc='/proc'):
    """The start time of process ``pid`` (clock ticks since boot), or None when it does not exist."""
    info = _stat(pid, proc)
    return info[3] if info else None


def process_alive(pid, start, proc='/proc'):
    """Whether process ``pid`` exists and is the one that started at ``start`` (not a reuse of its pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    now = start_time(pid, proc)
    return now is not None and (start is None or str(now) == str(start))


def _cmdline(pid, proc='/proc'):
    try:
        with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as handle:
            return [arg.decode('utf-8', 'replace') for arg in handle.read().split(b'\0') if arg]
    except OSError:
        return []


def runs_playbook(pid, proc='/proc'):
    """Whether process ``pid`` runs ansible-playbook (``ansible-playbook ...`` or ``python .../ansible-playbook``)."""
    args = _cmdline(pid, proc)
    return any(os.path.basename(arg) == PLAYBOOK_COMMAND for arg in args[:2])


def find_playbook(pid=None, proc='/proc'):
    """The ansible-playbook main process this process runs under: walking up from ``pid``, the topmost of the
    first ansible-playbook processes met (a task's worker is a fork of ansible-playbook: its parent is the main
    one). Returns dict(pid, start, session) or None (not run by ansible-playbook, e.g. ``ansible -m``)."""
    found = None
    for current in ancestors(pid, proc):
        if runs_playbook(current, proc):
            found = current
        elif found is not None:
            break
    if found is None:
        return None
    info = _stat(found, proc)
    if info is None:
        return None
    return dict(pid=found, start=info[3], session=info[2])


def _processes(proc='/proc'):
    """{pid: (ppid, session, start)} of every process."""
    table = {}
    for name in os.listdir(proc):
        if name.isdigit():
            info = _stat(int(name), proc)
            if info is not None:
                table[int(name)] = (info[0], info[2], info[3])
    return table


def watch_step(watched, session, proc='/proc', exclude=()):
    """One look at the run's processes: ``watched`` ({pid: start}, the ansible-playbook and its descendants
    seen so far) loses the processes that ended and gains the children of the ones that live, in the run's
    ``session`` (a daemon that left the session, such as an SSH ControlPersist master, does not hold the run).
    Returns the new dict; empty when nothing of the run is left."""
    table = _processes(proc)
    alive = {pid: start for pid, start in watched.items() if pid in table and table[pid][2] == start}
    grown = True
    while grown:
        grown = False
        for pid, (ppid, sid, start) in table.items():
            if pid not in alive and ppid in alive and sid == session and pid not in exclude:
                alive[pid] = start
                grown = True
    return alive


def _guard(campaign_dir, answer_fd, owner, run_id, proc, poll):
    """The body of the guard process: take the run lock, answer, hold it while the run lives."""
    try:
        handle = take(campaign_dir, run_id=run_id, owner=owner)
    except OSError:
        handle = None
    me, watched = (os.getpid(),), {}
    if handle is not None:
        # the run's processes as of now (the worker running campaign_lock among them), before anyone can be told
        watched = watch_step({owner['pid']: owner['start']}, owner['session'], proc, exclude=me)
    os.write(answer_fd, b'taken\n' if handle is not None else b'refused\n')
    os.close(answer_fd)
    if handle is None:
        return
    while watched:
        time.sleep(poll)
        watched = watch_step(watched, owner['session'], proc, exclude=me)
    handle.close()


def start_guard(campaign_dir, owner, run_id=None, proc='/proc', poll=GUARD_POLL, timeout=GUARD_ANSWER_TIMEOUT):
    """Hold the run lock of the campaign for the run of ansible-playbook ``owner`` (dict(pid, start, session),
    from find_playbook), whoever started it and whatever its callbacks: a detached guard process (double
    fork, new session, standard library only) takes the lock, writes ``owner``'s pid into it, and keeps it
    while ``owner`` or a process it started (in its session) lives - the workers of a killed run included.
    Returns True when the guard took it, False when another process holds it (the guard does not stay)."""
    os.makedirs(campaign_dir, exist_ok=True)
    answer = detach_with_answer(lambda answer_fd: _guard(campaign_dir, answer_fd, owner, run_id, proc, poll),
                                timeout)
    return answer.strip() == b'taken'


def stop_guard(campaign_dir, proc='/proc'):
    """End the guard holding the campaign's run lock for this very run (the end of the campaign: its lock is
    released). Returns True when a guard was told to stop. Another run's guard is never touched."""
    info = holder(campaign_dir, proc=proc)
    if not info or not info['ours'] or not info.get('guard_pid'):
        return False
    if not process_alive(info['guard_pid'], info.get('guard_start'), proc):
        return False
    try:
        os.kill(info['guard_pid'], signal.SIGTERM)
    except OSError:
        return False
    return True
