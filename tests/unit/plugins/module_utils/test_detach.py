# SPDX-License-Identifier: Apache-2.0
"""module_utils/detach: the detached process of the run guard and the silences' watcher, and its one home."""

from __future__ import annotations

import json
import os
import re
import time

from ansible_collections.opnfv.escalator.plugins.module_utils import detach as detach_module
from ansible_collections.opnfv.escalator.plugins.module_utils.detach import detach, detach_with_answer

MODULE_UTILS = os.path.dirname(os.path.abspath(detach_module.__file__))


def open_fds(limit=1024):
    found = []
    for fd in range(limit):
        try:
            os.fstat(fd)
        except OSError:
            continue
        found.append(fd)
    return found


def test_the_body_runs_in_a_new_session_with_nothing_of_the_caller_open(tmp_path):
    stray = os.open(str(tmp_path / 'stray'), os.O_WRONLY | os.O_CREAT)     # must not reach the detached process

    def body(answer_fd):
        facts = dict(pid=os.getpid(), sid=os.getsid(0), cwd=os.getcwd(), fds=open_fds(), answer_fd=answer_fd,
                     stdin=os.readlink('/proc/self/fd/0'), stdout=os.readlink('/proc/self/fd/1'))
        os.write(answer_fd, json.dumps(facts).encode())

    try:
        facts = json.loads(detach_with_answer(body, 10.0))
    finally:
        os.close(stray)
    # a new session whose leader (the intermediate child) is gone: it can never get a controlling terminal
    assert facts['sid'] not in (os.getsid(0), facts['pid'])
    assert facts['cwd'] == '/' and facts['stdin'] == facts['stdout'] == os.devnull
    assert facts['fds'] == [0, 1, 2, facts['answer_fd']]          # the stray descriptor and the read end closed


def test_the_answer_ends_at_a_newline_while_the_body_goes_on():
    def body(answer_fd):
        os.write(answer_fd, b'taken\n')
        time.sleep(1.5)
        os.write(answer_fd, b'more')

    started = time.monotonic()
    assert detach_with_answer(body, 10.0) == b'taken\n'
    assert time.monotonic() - started < 1.0


def test_no_answer_in_time_is_empty():
    started = time.monotonic()
    assert detach_with_answer(lambda answer_fd: time.sleep(3), 0.3) == b''
    assert time.monotonic() - started < 2.0


def test_detach_returns_while_the_body_still_runs(tmp_path):
    flag = tmp_path / 'done'
    started = time.monotonic()
    detach(lambda: (time.sleep(1.0), flag.write_text('done')))
    assert time.monotonic() - started < 0.8 and not flag.exists()
    deadline = time.monotonic() + 10
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.read_text() == 'done'


def test_the_double_fork_has_one_home():
    found = []
    for directory, dirnames, names in os.walk(MODULE_UTILS):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, MODULE_UTILS)
            if name.endswith('.py') and relative != 'detach.py':
                with open(path, encoding='utf-8') as handle:
                    if re.search(r'os\.setsid\(\)', handle.read()):
                        found.append(relative)
    assert found == []
