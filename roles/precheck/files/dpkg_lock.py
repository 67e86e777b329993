#!/usr/bin/env python
# SPDX-License-Identifier: Apache-2.0
"""Exit 1 (naming the lock) when another process holds a dpkg lock, 0 otherwise.

dpkg and apt take fcntl (POSIX) locks, which `flock` cannot see: try one without waiting
and release it at once."""
import fcntl
import os
import sys

for path in ('/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock'):
    if not os.path.exists(path):
        continue
    with open(path, 'a') as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(path)
            sys.exit(1)
        fcntl.lockf(handle, fcntl.LOCK_UN)
sys.exit(0)
