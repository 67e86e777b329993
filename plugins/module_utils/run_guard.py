# SPDX-License-Identifier: Apache-2.0
"""One live run per campaign on a controller.

The cloud's campaign lock (``lock.py``) keeps two *campaigns* apart, and a run
of the campaign that holds it re-takes it: that is how a killed run is resumed.
It cannot tell a killed run from one still running, so two runs of the *same*
campaign (a job launched twice) would both get it and work on the same hosts.

The run guard tells them apart on the controller.  The ``campaign_status``
callback, which lives as long as ``ansible-playbook``, holds an ``flock`` on
``<state_dir>/<campaign_id>/.run.lock`` and writes its process id into it.  The
kernel drops the lock when the process dies (SIGKILL included), so a held lock
means a run that is still going: ``holder()`` reports it, and whether the caller
runs under that same process (then it is its own run).  The workers of a killed
``ansible-playbook`` inherit the lock and keep it until they finish their task,
which is right: a resumed run must not start while a migration or an upgrade of
the killed one is still running.

Standard library only (the callback plugin, the modules and the CLI share it).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket

RUN_LOCK_FILE = '.run.lock'


def _path(campaign_dir):
    return os.path.join(campaign_dir, RUN_LOCK_FILE)


def take(campaign_dir, run_id=None):
    """Hold the run lock of the campaign in ``campaign_dir`` (created if needed).

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
    handle.write(json.dumps(dict(
        pid=os.getpid(), host=socket.gethostname(), run_id=run_id,
        started=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))) + '\n')
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
    ``pid``, ``host``, ``run_id``, ``started`` (what the holder wrote), ``ours`` (the holder is this
    process or one of its ancestors: the caller is part of that run) and ``alive`` (the holder process
    still exists, or is unknown; when it does not, its workers still hold the lock)."""
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
    return dict(pid=pid, host=info.get('host'), run_id=info.get('run_id'), started=info.get('started'),
                ours=pid is not None and pid in ancestors(proc=proc), alive=pid is None or _alive(pid))


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
