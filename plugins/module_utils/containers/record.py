# SPDX-License-Identifier: Apache-2.0
"""``containers.json`` in the host's backup of a run: each listed container's running image (its image ID and
repository digest) and its full ``inspect``, the configuration a rollback recreates it from (the container itself
may be gone by then: an upgrade that failed between remove and create).

Written next to the backup's ``manifest.json`` and BEFORE it (the backup role calls this module before
``compute_backup``): the manifest, written last, still marks a complete backup, and once it exists this file is
never overwritten. The rollback refuses a file that is not format 1 of this run and host.
"""

from __future__ import annotations

import json
import os

from ansible_collections.opnfv.escalator.plugins.module_utils import host_backup
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import spec
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

FILE = 'containers.json'
FORMAT = 1


def repo_digest(image_inspect, image=None):
    """(repository, digest) of a local image: the RepoDigests entry of ``image``'s repository, else the first;
    (None, None) for an image that came from no registry."""
    entries = [entry.split('@', 1) for entry in (image_inspect or {}).get('RepoDigests') or [] if '@' in entry]
    for repo, digest in entries:
        if image and spec.same_repository(repo, image):
            return repo, digest
    return tuple(entries[0]) if entries else (None, None)


def entry(target, inspect, image_inspect, engine):
    repo, digest = repo_digest(image_inspect, target.image)
    running = bool((inspect.get('State') or {}).get('Running'))
    return dict(name=target.name, unit=target.unit, engine=engine, image=target.image,
                reference=inspect.get('ImageName') or (inspect.get('Config') or {}).get('Image'),
                image_id=inspect.get('Image'), repository=repo, digest=digest, running=running, inspect=inspect)


def path(directory):
    return os.path.join(directory, FILE)


def write(directory, data):
    host_backup.make_private_dir(directory)
    host_backup.write_json(path(directory), data)


def read(directory, campaign_id, run_id, host):
    """The record of this run and host, or EscalatorError(E_INVALID_INPUT) saying why it cannot be used."""
    where = path(directory)
    hint = ('the backup role records the containers when escalator_upgrade_method is containers; roll back by hand '
            'with the digests of the controller\'s copy, or give the escalator_run_id of a backup that has them')
    try:
        with open(where, encoding='utf-8') as handle:
            data = json.load(handle)
    except OSError as exc:
        raise EscalatorError('No containers record %s in the backup (%s): the containers cannot be rolled back. '
                             'Nothing was changed.' % (where, exc.strerror or exc), code=E_INVALID_INPUT, hint=hint)
    except ValueError as exc:
        raise EscalatorError('The containers record %s cannot be read (%s). Nothing was changed.' % (where, exc),
                             code=E_INVALID_INPUT, hint=hint)
    ok = (isinstance(data, dict) and data.get('format') == FORMAT and data.get('campaign_id') == campaign_id
          and data.get('run_id') == run_id and data.get('host') == host and isinstance(data.get('containers'), list)
          and all(isinstance(item, dict) and item.get('name') and item.get('image_id') and
                  isinstance(item.get('inspect'), dict) for item in data['containers']))
    if not ok:
        raise EscalatorError('The containers record %s is not a format-%d record of run %s for %s: it cannot be '
                             'trusted. Nothing was changed.' % (where, FORMAT, run_id, host), code=E_INVALID_INPUT,
                             hint=hint)
    return data
