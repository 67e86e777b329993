#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Complete the controller's copy of a host's backup and apply the controller's retention."""

from __future__ import annotations

DOCUMENTATION = r'''
module: backup_store
short_description: Complete the controller's copy of a compute host's backup and apply its retention
version_added: 0.1.0
description:
  - "Runs on the controller (C(delegate_to: localhost)), after C(config.tar.gz) of the run was fetched into
    C(<controller_dir>/<campaign_id>/<run_id>/<host>/). Checks the archive against the O(manifest)'s sha256 and
    writes C(manifest.json) there, last and atomically, from the manifest M(opnfv.escalator.compute_backup)
    returned - its presence marks a complete copy, as on the host. A complete copy with the same archive is left
    as it is."
  - Retention (O(keep)) - per host, the newest runs under O(controller_dir) (all campaigns, by manifest time)
    stay and the current one always does; only directories holding a manifest are deleted, never through a
    symbolic link. V(0) keeps everything.
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description: Says whether it would write the manifest and which runs it would delete, and changes nothing.
  diff_mode:
    support: none
    description: Not supported.
options:
  controller_dir:
    description: The controller's backup directory (absolute).
    type: path
    required: true
  campaign_id:
    description: The campaign of the backup.
    type: str
    required: true
  run_id:
    description: The run of the backup.
    type: str
    required: true
  host:
    description: The host (inventory name) the backup is of.
    type: str
    required: true
  manifest:
    description: The manifest M(opnfv.escalator.compute_backup) returned for this run.
    type: dict
    required: true
  keep:
    description: Runs kept per host on the controller (the current one always); V(0) keeps everything.
    type: int
    default: 0
'''

EXAMPLES = r'''
- name: Back up the host
  opnfv.escalator.compute_backup:
    root: /var/backups/escalator
    campaign_id: c2026-01
    run_id: c2026-01
    host: "{{ inventory_hostname }}"
    paths: [/etc/nova]
  register: backup

- name: Fetch the archive to the controller
  ansible.builtin.fetch:
    src: "{{ backup.dir }}/config.tar.gz"
    dest: "/srv/backups/c2026-01/c2026-01/{{ inventory_hostname }}/config.tar.gz"
    flat: true

- name: Complete the controller's copy and keep the newest 3 runs
  opnfv.escalator.backup_store:
    controller_dir: /srv/backups
    campaign_id: c2026-01
    run_id: c2026-01
    host: "{{ inventory_hostname }}"
    manifest: "{{ backup.manifest }}"
    keep: 3
  delegate_to: localhost
'''

RETURN = r'''
dir:
  description: The controller's copy of the run.
  returned: success
  type: str
  sample: /root/.escalator/backups/c2026-01/c2026-01/compute4
removed:
  description: The older copies of this host deleted by the retention (to be deleted, in check mode).
  returned: success
  type: list
  elements: str
error_code:
  description: C(E_INVALID_INPUT) (an id, the directory, the manifest), C(E_BACKUP) (the archive is missing or does
    not match the manifest).
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils import backup_store


def main():
    module = AnsibleModule(
        argument_spec=dict(
            controller_dir=dict(type='path', required=True),
            campaign_id=dict(type='str', required=True),
            run_id=dict(type='str', required=True),
            host=dict(type='str', required=True),
            manifest=dict(type='dict', required=True),
            keep=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = backup_store.store(params['controller_dir'], params['campaign_id'], params['run_id'], params['host'],
                                    params['manifest'], params['keep'], check_mode=module.check_mode)
    except backup_store.StoreError as exc:
        module.fail_json(msg=exc.msg, error_code=exc.code, **exc.details)
    except OSError as exc:
        where = ' (%s)' % exc.filename if exc.filename else ''
        module.fail_json(msg='cannot complete the controller copy: %s%s' % (exc.strerror or exc, where))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
