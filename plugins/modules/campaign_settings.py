#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
---
module: campaign_settings
short_description: Check every campaign setting before anything is touched
version_added: "0.1.0"
description:
  - Refuses, with every reason at once and error code E_INVALID_INPUT, a campaign whose settings are wrong, before the
    cloud lock is taken and before any host is touched.
  - Checks every C(escalator_*) variable that the controller and each inventory host see against the campaign
    settings and the options of the collection's roles (their C(meta/argument_specs.yml)), reporting an unknown name
    with the closest known one (a misspelt safety knob would silently fall back to its default), a value of the wrong
    type or out of range, and a name the playbooks set themselves.
  - Checks the VNFM entries (C(escalator_vnfm)) with M(opnfv.escalator.vnfm_notify)'s own validation, an inventory
    without hosts, and two inventory entries that reach the same machine or name the same Nova host.
  - Talks to no cloud and no host.
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description: Checks only; nothing to change.
  diff_mode:
    support: none
    description: Changes nothing.
options:
  settings:
    description:
      - The C(escalator_*) variables of the controller (extra variables, C(group_vars/all)), by name.
    type: dict
    default: {}
  inventory:
    description:
      - Every inventory host, by name, with its C(address) (C(ansible_host)), C(port) (C(ansible_port)) and
        C(settings) (its C(escalator_*) variables).
    type: dict
    default: {}
  role_specs:
    description:
      - The content of each role's C(meta/argument_specs.yml), by role name.
    type: dict
    default: {}
'''

EXAMPLES = r'''
- name: Check every campaign setting before anything is touched
  opnfv.escalator.campaign_settings:
    settings: "{{ dict(q('ansible.builtin.varnames', '^escalator_') | zip(q('ansible.builtin.vars', *q('ansible.builtin.varnames', '^escalator_')))) }}"
    role_specs:
      upgrade: "{{ lookup('ansible.builtin.file', playbook_dir ~ '/../roles/upgrade/meta/argument_specs.yml') | ansible.builtin.from_yaml }}"
'''

RETURN = r'''
problems:
  description: Every problem found (empty when the settings are good).
  returned: always
  type: list
  elements: str
  sample: ["unknown setting escalator_max_batch_sise (did you mean escalator_max_batch_size?)"]
'''

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_settings
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import SecretMaskingModule
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm import options as vnfm


def vnfm_problems(entries):
    """The VNFM entries' problems, by vnfm_notify's own validation (no cloud needed)."""
    try:
        vnfm.validate_entries(entries)
    except EscalatorError as exc:
        return [exc.msg]
    return []


def main():
    # the settings carry secrets (a dict cloud, VNFM tokens, webhook passwords): masked in every result
    module = SecretMaskingModule(
        argument_spec=dict(
            settings=dict(type='dict', default={}),
            inventory=dict(type='dict', default={}),
            role_specs=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
        secret_options=('settings', 'inventory'),
    )
    problems = campaign_settings.check(module.params['settings'], module.params['inventory'],
                                       role_specs=module.params['role_specs'], vnfm_check=vnfm_problems)
    if problems:
        module.fail_json(msg='The campaign settings have %d problem(s); nothing was touched: %s'
                         % (len(problems), '; '.join(problems)), error_code=E_INVALID_INPUT, problems=problems)
    module.exit_json(changed=False, problems=[])


if __name__ == '__main__':
    main()
