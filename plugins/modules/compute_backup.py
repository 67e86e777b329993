#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Back up a compute host's packages, services and configuration, on the host, in one call."""

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_backup
short_description: Back up a compute host (packages, services, configuration files) on the host, once per run
version_added: 0.1.0
description:
  - Runs ON the compute host (no OpenStack API). In C(<root>/<campaign_id>/<run_id>/) (mode 0700) it
    writes C(config.tar.gz), GNU tar with numeric owners, ACLs and xattrs of the O(paths) that exist
    (relative to C(/)), then, last and atomically, C(manifest.json) - its presence marks a complete
    backup. The manifest (format 1) records the installed packages and their versions, the enabled and
    active states of the O(services) and of the O(optional_services) the host has, every saved path
    (a missing one as C(absent)), every file, directory and link under them (type, sha256, mode, owner,
    group, size, link target) and the archive's sha256 and size. See C(docs/roles.md).
  - A complete backup of the run is never overwritten (the second run changes nothing); one whose
    archive is missing or does not match the manifest's sha256 is refused.
  - Retention (O(keep)) - the newest runs under O(root) (all campaigns, by manifest time) stay and the
    current one always does; only directories holding a manifest are deleted.
  - Sets the fact C(escalator_backup_manifest) (the manifest).
  - With O(containers) (the C(containers) upgrade method), also records the listed containers in C(containers.json)
    next to the manifest and before it, in the same call - per container its unit, image reference, running image ID,
    repository digest and full C(inspect), what a rollback recreates it from. It is never rewritten once the manifest
    exists; a complete backup without it is refused (C(E_INVALID_INPUT)), as is a container the host does not have
    (C(E_CONTAINER_NOT_FOUND)). The same record as M(opnfv.escalator.compute_containers) writes with C(operation=backup).
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description: Says whether it would back up and which runs it would delete, and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  facts:
    support: full
    description: Sets C(escalator_backup_manifest).
options:
  root:
    description: The directory of the backups on the host (a normalised absolute path other than C(/)).
    type: path
    required: true
  campaign_id:
    description: The campaign (1 to 64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit).
    type: str
    required: true
  run_id:
    description: The run (same rule); one backup per run.
    type: str
    required: true
  host:
    description: The host's inventory name, recorded in the manifest.
    type: str
    required: true
  nova_host:
    description: The host's name in Nova, recorded in the manifest (default O(host)).
    type: str
  paths:
    description: Configuration paths to save (files, directories recursively, links as links).
    type: list
    elements: path
    default: []
  services:
    description: systemd services whose states are recorded; they must exist.
    type: list
    elements: str
    default: []
  optional_services:
    description: More services recorded where the host has them.
    type: list
    elements: str
    default: []
  keep:
    description: Runs kept under O(root) (the current one always); V(0) keeps every run.
    type: int
    default: 0
  containers:
    description:
      - The containers to record in C(containers.json) (the C(containers) upgrade method), before the manifest.
      - Left out, nothing of the containers is recorded and no container engine is asked.
    type: dict
    suboptions:
      engine:
        description: The container engine.
        type: str
        choices: [podman, docker]
        default: podman
      targets:
        description: The containers, in restart order, as the upgrade role's C(escalator_upgrade_containers).
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: The container's name.
            type: str
            required: true
          image:
            description: The image's repository, without tag or digest.
            type: str
            required: true
          tag:
            description: The target tag.
            type: str
          digest:
            description: The target digest (C(sha256:...)).
            type: str
          unit:
            description: The systemd unit that runs the container.
            type: str
'''

EXAMPLES = r'''
- name: Back up the host for this run of the campaign
  opnfv.escalator.compute_backup:
    root: /var/backups/escalator
    campaign_id: c2026-01
    run_id: c2026-01
    host: "{{ inventory_hostname }}"
    paths: [/etc/nova, /etc/neutron, /etc/apt/sources.list.d]
    services: [nova-compute]
    optional_services: [libvirtd, ovn-controller]
    keep: 3

- name: Back up a containerised host, its agent containers recorded in containers.json in the same call
  opnfv.escalator.compute_backup:
    root: /var/backups/escalator
    campaign_id: c2026-01
    run_id: c2026-01
    host: "{{ inventory_hostname }}"
    paths: [/etc/kolla]
    services: [kolla-nova_compute-container.service]
    containers:
      engine: podman
      targets:
        - {name: nova_compute, image: registry:4000/kolla/nova-compute, tag: 2024.1-ubuntu-jammy,
           unit: kolla-nova_compute-container.service}
'''

RETURN = r'''
dir:
  description: The run's backup directory.
  returned: success
  type: str
  sample: /var/backups/escalator/c2026-01/c2026-01
existed:
  description: Whether a complete backup of the run was already there (it was kept as it is).
  returned: success
  type: bool
  sample: false
manifest:
  description: The manifest (format 1) of the backup; in check mode, what it would record (without the archive's checksum).
  returned: success
  type: dict
  sample: {"format": 1, "campaign_id": "c2026-01", "run_id": "c2026-01", "host": "compute4", "package_manager": "apt",
           "packages": {"lab-kernel": {"version": "1.0", "arch": "all", "hold": false}},
           "services": {"nova-compute": {"enabled": "enabled", "active": "running"}},
           "paths": {"/etc/nova": "directory"}, "files": [], "archive": {"name": "config.tar.gz", "sha256": "9f8...", "size": 2345}}
containers:
  description: With O(containers) - C(containers.json), C(path); C(existed) (kept as it was); when it was written (would
    be, in check mode), C(containers), per container C(name), C(image_id), C(repository), C(digest), C(running).
  returned: when O(containers) is given
  type: dict
  sample: {"path": "/var/backups/escalator/c2026-01/c2026-01/containers.json", "existed": false,
           "containers": [{"name": "nova_compute", "image_id": "9f8...", "repository": "registry:4000/kolla/nova-compute",
                           "digest": "sha256:1a2...", "running": true}]}
removed:
  description: The older runs deleted by the retention (to be deleted, in check mode).
  returned: success
  type: list
  elements: str
  sample: [/var/backups/escalator/c2026-10/c2026-10]
error_code:
  description: C(E_INVALID_INPUT) for a bad campaign or run id, root, or a service the host does not have; with
    O(containers), also bad containers input, an engine the host does not have or a complete backup without
    C(containers.json), C(E_CONTAINER_NOT_FOUND) or C(E_CONTAINER_ENGINE), each with a C(hint).
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils import host_backup, host_facts
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import host_calls
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import spec as containers_spec
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError

TOOL_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path', required=True),
            campaign_id=dict(type='str', required=True),
            run_id=dict(type='str', required=True),
            host=dict(type='str', required=True),
            nova_host=dict(type='str'),
            paths=dict(type='list', elements='path', default=[]),
            services=dict(type='list', elements='str', default=[]),
            optional_services=dict(type='list', elements='str', default=[]),
            keep=dict(type='int', default=0),
            containers=dict(type='dict', options=dict(
                engine=containers_spec.engine_option(),
                targets=dict(type='list', elements='dict', required=True, options=containers_spec.target_options()),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    host = host_facts.Host(lambda argv: module.run_command(argv, check_rc=False),
                           lambda name: module.get_bin_path(name, opt_dirs=TOOL_DIRS))
    try:
        record = host_calls.recorder(host.run, host.which, params['containers'], dict(
            campaign_id=params['campaign_id'], run_id=params['run_id'], host=params['host']),
            check_mode=module.check_mode) if params['containers'] else None
        result = host_backup.take(host, params['root'], params['campaign_id'], params['run_id'], params['host'],
                                  params['nova_host'] or params['host'], params['paths'], params['services'],
                                  params['optional_services'], keep=params['keep'], check_mode=module.check_mode,
                                  record=record)
    except EscalatorError as exc:
        module.fail_json(**exc.to_result())
    except host_backup.BackupError as exc:
        extra = dict(error_code=exc.code) if exc.code else {}
        module.fail_json(msg=exc.msg, **dict(exc.details, **extra))
    except host_facts.HostFactsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except OSError as exc:
        where = ' (%s)' % exc.filename if exc.filename else ''
        module.fail_json(msg='cannot write the backup: %s%s' % (exc.strerror or exc, where))
    module.exit_json(ansible_facts=dict(escalator_backup_manifest=result['manifest']), **result)


if __name__ == '__main__':
    main()
