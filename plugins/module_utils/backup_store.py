# SPDX-License-Identifier: Apache-2.0
"""The controller's copy of a host's backup (module ``backup_store``, run on the controller).

``<controller_dir>/<campaign_id>/<run_id>/<host>/``: ``config.tar.gz`` (fetched from the host) and
``manifest.json``, written here LAST and atomically from the manifest compute_backup returned, once the
archive on the controller matches the manifest's checksum: its presence marks a complete copy, as on the host.
Retention, per host: the newest ``keep`` runs (by manifest time, all campaigns) stay, the current one always;
only directories holding a manifest are deleted, never through a symbolic link. ``keep`` 0 keeps everything.

One call does what three tasks did (find, file in a loop, fetch of the manifest): the copy costs one task and no
round trip to the host beyond the archive's fetch.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

from ansible_collections.opnfv.escalator.plugins.module_utils import host_backup, host_files

MANIFEST = 'manifest.json'
ARCHIVE = 'config.tar.gz'


class StoreError(host_backup.BackupError):
    """The copy cannot be completed (a message that says what to do)."""


def run_dir(controller_dir, campaign_id, run_id, host):
    """Where the controller keeps this host's copy of this run (ids checked: they become path components)."""
    for label, value in (('campaign_id', campaign_id), ('run_id', run_id), ('host', host)):
        if not isinstance(value, str) or not host_backup.RUN_ID.match(value):
            raise StoreError('%s %r must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'
                             % (label, value), code='E_INVALID_INPUT')
    if not os.path.isabs(controller_dir):
        raise StoreError('controller_dir %r must be an absolute path' % controller_dir, code='E_INVALID_INPUT')
    return os.path.join(os.path.normpath(controller_dir), campaign_id, run_id, host)


def kept_runs(controller_dir, host):
    """This host's copies under controller_dir that hold a manifest, newest first (by the manifest's mtime)."""
    found = []
    for manifest in glob.glob(os.path.join(glob.escape(controller_dir), '*', '*', glob.escape(host), MANIFEST)):
        directory = os.path.dirname(manifest)
        try:
            found.append((os.stat(manifest).st_mtime, directory))
        except OSError:
            continue
    return [directory for _mtime, directory in sorted(found, reverse=True)]


def doomed(runs, current, keep):
    """The runs the retention deletes: all but the newest ``keep``, the current run counted among the kept ones
    even before its manifest is written; nothing when keep is 0."""
    if keep <= 0:
        return []
    others = [run for run in runs if run != current]
    return others[keep - 1:]


def _holds_manifest(directory):
    try:
        with open(os.path.join(directory, MANIFEST), encoding='utf-8') as handle:
            return isinstance(json.load(handle), dict)
    except (OSError, ValueError):
        return False


def store(controller_dir, campaign_id, run_id, host, manifest, keep, check_mode=False):
    """Complete the controller's copy of a run (the archive must be there already) and apply the retention.

    Returns {dir, changed, removed}. A copy already complete with the same archive checksum is left as it is."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get('archive'), dict):
        raise StoreError('manifest must be the manifest compute_backup returned (a dict with its archive)',
                         code='E_INVALID_INPUT')
    if keep < 0:
        raise StoreError('keep must be >= 0 (got %d)' % keep, code='E_INVALID_INPUT')
    directory = run_dir(controller_dir, campaign_id, run_id, host)
    root = os.path.normpath(controller_dir)
    changed = False
    manifest_path = os.path.join(directory, MANIFEST)
    existing = None
    if os.path.exists(manifest_path):
        try:
            with open(manifest_path, encoding='utf-8') as handle:
                existing = json.load(handle)
        except (OSError, ValueError):
            existing = None
    if not (isinstance(existing, dict) and existing.get('archive') == manifest['archive']):
        archive = os.path.join(directory, ARCHIVE)
        expected = manifest['archive'].get('sha256')
        # in check mode nothing was fetched (and compute_backup gave no checksum): say what would be written
        if not check_mode and (not os.path.isfile(archive) or os.path.islink(archive)
                               or (expected and host_files.sha256_file(archive) != expected)):
            raise StoreError('the archive %s on the controller is missing or does not match the manifest\'s checksum '
                             '(%s): fetch it again' % (archive, expected), code='E_BACKUP')
        changed = True
        if not check_mode:
            os.chmod(directory, 0o700)
            host_backup.write_json(manifest_path, manifest)
    removed = []
    for old in doomed(kept_runs(root, host), directory, keep):
        if os.path.islink(old) or not _holds_manifest(old) or not old.startswith(root + os.sep):
            continue
        removed.append(old)
        if not check_mode:
            shutil.rmtree(old)
    return dict(dir=directory, changed=changed or bool(removed), removed=removed)
