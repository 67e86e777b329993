# SPDX-License-Identifier: Apache-2.0
"""The real guests' `mem busy on|off` (lab/guest/udpecho.c): a child that dirties memory without end, so that a pre-copy
live migration never converges (the lab test of a forced slow migration, issue 17 point 6). Run for real here (not the
dry mode): only `mem busy` is sent, which touches nothing but the program's own child."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'lab')


def children(pid):
    out = subprocess.run(['ps', '-o', 'pid=,stat=', '--ppid', str(pid)], capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines() if line.split() and not line.split()[1].startswith('Z')]


def ask(port, text):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(text.encode(), ('127.0.0.1', port))
        return sock.recv(2048).decode()


def test_mem_busy_runs_a_dirtying_child_until_off(tmp_path):
    if not shutil.which('gcc'):
        pytest.skip('no gcc')
    exe = str(tmp_path / 'udpecho')
    subprocess.run(['gcc', '-O2', '-Wall', '-Werror', '-o', exe, os.path.join(LAB, 'guest', 'udpecho.c')], check=True)
    ports = []
    for _ in range(2):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(('127.0.0.1', 0))
            ports.append(s.getsockname()[1])
    proc = subprocess.Popen([exe, '127.0.0.1', str(ports[0]), str(ports[1])], stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().startswith(b'udpecho: ready boot=')
        assert children(proc.pid) == []
        assert ask(ports[1], 'mem busy on') == 'ok mem busy on'
        assert ask(ports[1], 'mem busy on') == 'ok mem busy on'            # idempotent: still one child
        time.sleep(0.3)
        busy = children(proc.pid)
        assert len(busy) == 1, busy
        with open('/proc/%s/status' % busy[0][0], encoding='ascii') as handle:
            rss_kb = int(next(line.split()[1] for line in handle if line.startswith('VmRSS:')))
        assert rss_kb > 40 * 1024, rss_kb          # it has written into (about) every page of its 48 MiB
        assert ask(ports[0], 'still') .startswith('still n=1 ')             # the echo keeps answering meanwhile
        assert ask(ports[1], 'mem busy off') == 'ok mem busy off'
        assert children(proc.pid) == []
        assert ask(ports[1], 'mem busy sideways').startswith('err')
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
