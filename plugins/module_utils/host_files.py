# SPDX-License-Identifier: Apache-2.0
"""The host's files as a backup sees them, read ON the host (part of what ``compute_host_facts`` answers, and what
``compute_backup`` records): paths described (type, mode, owner, sha256 ...), a backup of one run, the runs kept.

Stdlib only: it runs on the compute host, shipped with the modules that import it.
"""

from __future__ import annotations

import glob
import grp
import hashlib
import json
import os
import pwd
import stat


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def describe_entry(path, st=None):
    """One file system entry, never following a link: {path, type (file|directory|link|other), sha256
    (files), mode ("0640"), owner, group, size (files), target (links)}."""
    st = st or os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        kind = 'link'
    elif stat.S_ISDIR(st.st_mode):
        kind = 'directory'
    elif stat.S_ISREG(st.st_mode):
        kind = 'file'
    else:
        kind = 'other'
    return dict(path=path, type=kind, mode='%04o' % stat.S_IMODE(st.st_mode), owner=_owner(st.st_uid),
                group=_group(st.st_gid), size=st.st_size if kind == 'file' else 0,
                sha256=sha256_file(path) if kind == 'file' else None,
                target=os.readlink(path) if kind == 'link' else None)


def describe_paths(paths):
    """{path: absent|file|directory|link|other} for each path, and every entry at and under them
    (directories recursively, hidden files included, links not followed), sorted by path."""
    kinds, entries = {}, []
    for top in paths:
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            kinds[top] = 'absent'
            continue
        entry = describe_entry(top, st)
        kinds[top] = entry['type']
        entries.append(entry)
        if entry['type'] != 'directory':
            continue
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            for name in sorted(dirnames + filenames):
                entries.append(describe_entry(os.path.join(dirpath, name)))
    unique = dict((entry['path'], entry) for entry in entries)
    return dict(paths=kinds, files=[unique[path] for path in sorted(unique)])


def backup(directory):
    """A backup of one run on the host: its manifest (None when absent; ``manifest_error`` when it cannot
    be read) and its archive's sha256 and size."""
    manifest, error = None, None
    try:
        with open(os.path.join(directory, 'manifest.json'), encoding='utf-8') as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        error = str(exc)
    archive_path = os.path.join(directory, 'config.tar.gz')
    if os.path.isfile(archive_path):
        archive = dict(exists=True, sha256=sha256_file(archive_path), size=os.path.getsize(archive_path))
    else:
        archive = dict(exists=False, sha256=None, size=None)
    return dict(dir=directory, manifest=manifest, manifest_exists=manifest is not None or error is not None,
                manifest_error=error, archive=archive)


def backup_runs(root):
    """The runs kept under ``root`` (<root>/<campaign>/<run>/manifest.json), newest manifest first:
    [{dir, mtime}]. Only directories holding a manifest are runs."""
    runs = []
    for manifest in glob.glob(os.path.join(glob.escape(root), '*', '*', 'manifest.json')):
        try:
            st = os.lstat(manifest)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            runs.append(dict(dir=os.path.dirname(manifest), mtime=st.st_mtime))
    return sorted(runs, key=lambda run: (run['mtime'], run['dir']), reverse=True)
