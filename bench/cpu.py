# SPDX-License-Identifier: Apache-2.0
"""Controller CPU of a command's whole process tree: run it, return its exit code and user+sys seconds.

`run()` starts this file as a small wrapper process (`python bench/cpu.py --usage-file F -- CMD...`), which:
  - becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so that processes the command's tree detaches
    (ssh's ControlPersist masters: ansible-playbook's connections to the hosts) are adopted by it, not by init;
  - runs the command and waits for it with os.wait4 (its own rusage: the command and every descendant it reaped);
  - ends what the command left behind (the adopted ssh masters; the run is over) and reaps it;
  - writes resource.getrusage(RUSAGE_CHILDREN) - everything it reaped, so the whole tree - to F as JSON.
Without the wrapper, wait4 alone would miss the ssh masters, which encrypt every module sent to the hosts.
The wrapper's own Python start-up is not in the figure (RUSAGE_CHILDREN counts children only).
"""
import argparse
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LEFTOVER_GRACE_S = 10


def usage_dict(usage):
    """user, sys and their sum (CPU-seconds) of a resource.struct_rusage (or a tuple of the same fields)."""
    user, system = float(usage.ru_utime), float(usage.ru_stime)
    return {'user_s': round(user, 3), 'sys_s': round(system, 3), 'cpu_s': round(user + system, 3)}


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_children():
    """Pids whose parent is this process (scan of /proc)."""
    me = os.getpid()
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, encoding='utf-8', errors='replace') as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: the fields after its last ')' are fixed
        fields = stat.rsplit(')', 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(me):
            out.append(int(name))
    return out


def reap_leftovers(grace=LEFTOVER_GRACE_S):
    """SIGTERM what the command left (adopted orphans), SIGKILL after `grace` seconds, reap everything.
    Returns how many processes were left."""
    left = own_children()
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    killed = False
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return len(left)
        if pid:
            continue
        if not killed and time.monotonic() > deadline:
            for other in own_children():
                try:
                    os.kill(other, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed = True
        time.sleep(0.05)


def wrapper_main(argv=None):
    parser = argparse.ArgumentParser(prog='bench/cpu.py')
    parser.add_argument('--usage-file', required=True)
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    subreaper = become_subreaper()
    child = subprocess.Popen(command)  # pylint: disable=consider-using-with
    # the bench stops a run that overran with SIGTERM to the whole group: let the command die, report anyway
    # (set after the start: an ignored signal would be inherited by the command)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _pid, status, child_usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    leftovers = reap_leftovers() if subreaper else 0
    tree = usage_dict(resource.getrusage(resource.RUSAGE_CHILDREN))
    direct = usage_dict(child_usage)
    out = dict(tree, rc=child.returncode, command_s=direct['cpu_s'],
               leftover_s=round(tree['cpu_s'] - direct['cpu_s'], 3), leftovers=leftovers, subreaper=subreaper)
    with open(args.usage_file, 'w', encoding='utf-8') as handle:
        json.dump(out, handle)
    rc = child.returncode
    return rc if rc >= 0 else 128 - rc


def run(cmd, usage_file, timeout, **popen_kwargs):
    """Run `cmd` through the wrapper; (exit code, {user_s, sys_s, cpu_s, command_s, leftover_s, leftovers,
    subreaper}) - the usage is None when the wrapper could not report it. On timeout the whole group gets
    SIGTERM (the wrapper survives it to report), then SIGKILL; the exit code is then -1."""
    # run as a script (standard library only): the command's environment stays exactly the caller's
    wrapper = [sys.executable, os.path.abspath(__file__), '--usage-file', usage_file, '--'] + list(cmd)
    proc = subprocess.Popen(wrapper, start_new_session=True, **popen_kwargs)  # pylint: disable=consider-using-with
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=LEFTOVER_GRACE_S + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc = -1
    try:
        with open(usage_file, encoding='utf-8') as handle:
            usage = json.load(handle)
    except (OSError, ValueError):
        usage = None
    return rc, usage


if __name__ == '__main__':
    sys.exit(wrapper_main())
