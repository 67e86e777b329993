# SPDX-License-Identifier: Apache-2.0
"""Writing a file so that readers see the old or the new content, never a torn one."""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_file_atomic(path, text, mode=0o640):
    """Replace ``path`` with ``text`` atomically: a private temporary file (mkstemp) in the same
    directory, fsync'd, renamed over ``path`` (a symlink at ``path`` is replaced, never followed),
    then the directory fsync'd. The directory must exist. OSError on failure (nothing left behind)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
