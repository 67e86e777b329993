# SPDX-License-Identifier: Apache-2.0
"""A detached process: the double fork that lets a module leave something running after it returns.

The run guard (``run_guard.start_guard``) and the silences' watcher (``control.silences.start_watcher``) start one
and wait for its answer; the hang watcher (``control.progress.start_hang_watcher``) starts one. Standard library
only.
"""

from __future__ import annotations

import os
import select
import time

MAX_FD = 65536


def detach(body, keep_fd=None):
    """Run ``body()`` in a detached process and return in the caller once it is started.

    Double fork: the intermediate child starts a new session and exits at once (the caller reaps it), so the
    detached process has no controlling terminal and init adopts it. Its standard streams go to /dev/null and
    every other descriptor but ``keep_fd`` is closed: Ansible waits for the end of the module's output, so
    nothing of the module may stay open in it. Its working directory is /. It exits when ``body`` returns or
    raises.
    """
    child = os.fork()
    if child == 0:   # pragma: no cover - runs in the forked processes (tested through their effects)
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            if keep_fd is None:
                os.closerange(3, MAX_FD)
            else:
                os.closerange(3, keep_fd)
                os.closerange(keep_fd + 1, MAX_FD)
            os.chdir('/')
            body()
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def detach_with_answer(body, timeout):
    """Run ``body(answer_fd)`` in a detached process (see detach) and wait for its answer: what it writes to
    ``answer_fd`` up to a newline or until it closes it, for ``timeout`` seconds at most. Returns those bytes
    (b'' when it said nothing in time)."""
    read_fd, write_fd = os.pipe()
    try:
        try:
            detach(lambda: body(write_fd), keep_fd=write_fd)
        finally:
            os.close(write_fd)
        answer = b''
        deadline = time.monotonic() + timeout
        while not answer.endswith(b'\n') and time.monotonic() < deadline:
            ready, _w, _x = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_fd, 64)
            if not chunk:
                break
            answer += chunk
        return answer
    finally:
        os.close(read_fd)
