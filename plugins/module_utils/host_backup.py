# SPDX-License-Identifier: Apache-2.0
"""The backup of a compute host, taken ON the host in one call (module ``compute_backup``).

``<root>/<campaign_id>/<run_id>/``: ``config.tar.gz`` (GNU tar, numeric owners, ACLs, xattrs, of the
configuration paths that exist) and ``manifest.json`` written LAST and atomically: its presence marks a
complete backup, which is never overwritten (an archive that no longer matches it is refused). The
manifest records the installed packages, the services' enabled/active states, every saved path and file
(type, sha256, mode, owner ...) and the archive's sha256. Retention: the newest ``keep`` runs under
``<root>`` (by manifest time, all campaigns) stay, the current one always; only directories holding a
manifest are deleted. With the containers method, the same call first writes ``containers.json``
(containers/host_calls.py, through ``take``'s ``record``), before the manifest.

Stdlib only (it runs on the compute host); what the host is asked comes from ``host_facts``.
"""

from __future__ import annotations

import json
import os
import shutil

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_id as campaign_ids
from ansible_collections.opnfv.escalator.plugins.module_utils import host_facts, host_files

MANIFEST_FORMAT = 1
RUN_ID = campaign_ids.RUN_ID_PATTERN


class BackupError(host_facts.HostFactsError):
    """The backup cannot be taken (with a message that says what to do); ``code`` an Escalator error
    code where one fits."""

    def __init__(self, msg, code=None, **details):
        super().__init__(msg, **details)
        self.code = code


def run_dir(root, campaign_id, run_id):
    for label, value in (('campaign id', campaign_id), ('run id', run_id)):
        if not RUN_ID.match(value or ''):
            raise BackupError('the %s %r must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter '
                              'or digit: it names the backup directory' % (label, value), code='E_INVALID_INPUT')
    if not os.path.isabs(root) or os.path.normpath(root) != root.rstrip('/') or root.strip('/') == '':
        raise BackupError('the backup directory %r must be a normalised absolute path other than /' % root,
                          code='E_INVALID_INPUT')
    return os.path.join(root, campaign_id, run_id)


def check_existing(existing):
    """True when ``existing`` (host_facts.backup) is a complete backup; a manifest whose archive is missing
    or different is refused: it is never overwritten."""
    if not existing['manifest_exists']:
        return False
    manifest = existing['manifest'] or {}
    expected = (manifest.get('archive') or {}).get('sha256') if isinstance(manifest, dict) else None
    if existing['manifest_error'] or not existing['archive']['exists'] or existing['archive']['sha256'] != expected:
        raise BackupError(
            'The backup %s of this run exists but its archive is missing or does not match the manifest\'s checksum'
            '%s. It is not overwritten: move it away (or delete it) after checking why, or use another '
            'escalator_run_id.' % (existing['dir'], ' (the manifest cannot be read: %s)' % existing['manifest_error']
                                   if existing['manifest_error'] else ''))
    return True


def archive(host, directory, paths):
    """tar the ``paths`` that exist (relative to /) into <directory>/config.tar.gz, through a .part file
    renamed into place; returns {name, sha256, size}."""
    part = os.path.join(directory, 'config.tar.gz.part')
    final = os.path.join(directory, 'config.tar.gz')
    names = [path.lstrip('/') for path in paths]
    if names:
        argv = ['tar', '--create', '--gzip', '--numeric-owner', '--acls', '--xattrs', '--file', part,
                '--directory', '/', '--'] + names
    else:
        argv = ['tar', '--create', '--gzip', '--file', part, '--files-from', '/dev/null']
    rc, _stdout, stderr = host.run(argv)
    if rc != 0:
        raise BackupError('tar could not archive the configuration (exit %d): %s' % (rc, (stderr or '').strip()[-600:]),
                          cmd=argv, rc=rc)
    os.replace(part, final)
    return dict(name='config.tar.gz', sha256=host_files.sha256_file(final), size=os.path.getsize(final))


def write_json(path, data, mode=0o600):
    """Write ``data`` to ``path`` atomically (a .part file renamed into place), readable by root only."""
    part = path + '.part'
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
        handle.write(json.dumps(data, indent=1, sort_keys=True) + '\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(part, mode)
    os.replace(part, path)


def make_private_dir(directory):
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o700)
    if os.geteuid() == 0:
        os.chown(directory, 0, 0)


def retention(root, current, keep, check_mode=False):
    """Delete the runs under ``root`` older than the newest ``keep`` (by manifest time), never ``current``;
    0 keeps everything. A current run without its manifest yet (check mode) is the newest."""
    if keep <= 0:
        return []
    runs = [run['dir'] for run in host_files.backup_runs(root)]
    doomed = [directory for directory in (runs[keep:] if current in runs else runs[keep - 1:])
              if directory != current]
    if not check_mode:
        for directory in doomed:
            shutil.rmtree(directory)
    return doomed


def take(host, root, campaign_id, run_id, inventory_host, nova_host, paths, services, optional_services=(),
         keep=0, check_mode=False, record=None):
    """Take the backup of this run unless a complete one exists; apply the retention. Returns
    {changed, dir, existed, manifest, removed} and, with ``record``, ``containers``.

    ``record(directory, timestamp)`` (containers/host_calls.py: containers.json) writes its part of the backup in
    the same call, before the manifest that marks the backup complete, and returns what it did ({existed, ...})."""
    directory = run_dir(root, campaign_id, run_id)
    recorded = record(directory, host_facts.now_stamp(host.clock)['iso']) if record else None
    existed = check_existing(host_files.backup(directory))
    if existed:
        manifest = host_files.backup(directory)['manifest']
    else:
        units = host_facts.services(host, list(services) + list(optional_services))
        missing = [name for name in services if not units[name]['exists']]
        if missing:
            raise BackupError(
                'escalator_services lists %s, which the host does not have: fix the list (units that only some hosts '
                'have belong in escalator_optional_services)' % ', '.join(missing), code='E_INVALID_INPUT')
        _manager, fmt = host.package_manager()
        described = host_files.describe_paths(paths)
        stamp = host_facts.now_stamp(host.clock)
        manifest = dict(
            format=MANIFEST_FORMAT, campaign_id=campaign_id, run_id=run_id, host=inventory_host, nova_host=nova_host,
            timestamp=stamp['iso'], epoch=stamp['epoch'], package_manager='apt' if fmt == 'deb' else 'rpm',
            packages=host_facts.packages(host)['packages'],
            services=dict((name, dict(enabled=unit['status'], active=unit['state']))
                          for name, unit in units.items() if unit['exists']),
            paths=described['paths'], files=described['files'],
            archive=dict(name='config.tar.gz', sha256=None, size=None))
        if not check_mode:
            make_private_dir(directory)
            manifest['archive'] = archive(host, directory, [path for path in paths
                                                            if described['paths'][path] != 'absent'])
            write_json(os.path.join(directory, 'manifest.json'), manifest)
    removed = retention(root, directory, keep, check_mode=check_mode)
    result = dict(changed=not existed or bool(removed), dir=directory, existed=existed, manifest=manifest,
                  removed=removed)
    if recorded is not None:
        result.update(changed=result['changed'] or not recorded['existed'], containers=recorded)
    return result
