#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Cloud-level health checks before the upgrade of one compute host."""

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_precheck
short_description: Cloud-level checks before a compute host is upgraded
version_added: 0.1.0
description:
  - Checks, for the upgrade of O(host), that every nova-compute (and other compute) service is
    C(up) except the hosts listed in O(down_hosts), that no instance on the host is in C(ERROR) or in
    the middle of a task (migrating, resizing ...), and that the host's instances fit on the other
    enabled, up hosts (first-fit by vCPUs, RAM and disk, from Placement's free capacity).
  - Returns ALL the problems it found in RV(problems) and does not fail because of them unless
    O(fail_on_problems=true), so that a role can report them together with its host-level checks.
  - With O(hosts), every listed host is checked from one reading of the cloud (a campaign prechecks all its
    hosts in one call); the per-host results are in RV(results).
  - Read-only.
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
  - opnfv.escalator.read_only
options:
  host:
    description:
      - The nova-compute host name about to be upgraded.
      - One of O(host) and O(hosts) is required.
    type: str
  hosts:
    description:
      - Several nova-compute hosts, checked from one reading of the cloud. Each host's result is in RV(results);
        RV(problems) holds all of them, each naming its host.
    type: list
    elements: str
  down_hosts:
    description: Hosts known to be down; their services being down is not a problem.
    type: list
    elements: str
    default: []
  checks:
    description: Which checks to run.
    type: list
    elements: str
    choices: [services, instances, capacity]
    default: [services, instances, capacity]
  fail_on_problems:
    description: Fail (with C(error_code=E_PRECHECK) and every problem in the message) when problems are found.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Cloud-level prechecks for compute-12
  opnfv.escalator.compute_precheck:
    cloud: mycloud
    host: compute-12
    down_hosts: [compute-40]
  delegate_to: localhost
  register: cloud_precheck
'''

RETURN = r'''
problems:
  description: One sentence per problem found (empty when all is well).
  returned: success
  type: list
  elements: str
  sample: ["instance web-1 (5b1...) on compute-12 is in ERROR: repair or delete it first"]
host:
  description: The host's nova-compute service (name, zone, state, status, disabled_reason).
  returned: success
  type: dict
instances:
  description: The host's instances (id, name, status, task_state, vcpus, memory_mb, disk_gb ...).
  returned: success
  type: list
  elements: dict
capacity:
  description: The fit check (instances, targets, unknown, need, free, homeless); C(None) when not run.
  returned: success
  type: dict
results:
  description: With O(hosts), per host, what O(host) returns (problems, host, instances, capacity).
  returned: success, with O(hosts)
  type: dict
warnings_found:
  description: Warnings from gathering the data (e.g. Placement not readable).
  returned: success
  type: list
  elements: str
'''

from ansible_collections.opnfv.escalator.plugins.module_utils import compute_checks
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule


def run(module, conn):
    params = module.params
    checks = set(params['checks'])
    hosts = params['hosts'] if params['hosts'] is not None else [params['host']]
    results = compute_checks.precheck_hosts(conn, hosts, down_hosts=params['down_hosts'],
                                            check_services='services' in checks,
                                            check_instances='instances' in checks,
                                            check_capacity='capacity' in checks)
    problems = [p for host in hosts for p in results[host]['problems']]
    if problems and params['fail_on_problems']:
        raise EscalatorError('%d precheck problem(s) for %s: %s' % (
            len(problems), ', '.join(hosts), ' | '.join(problems)), code='E_PRECHECK', problems=problems)
    warnings_found = results[hosts[0]]['warnings']
    for result in results.values():
        result.pop('warnings')
    if params['hosts'] is None:
        return dict(changed=False, warnings_found=warnings_found, **results[params['host']])
    return dict(changed=False, warnings_found=warnings_found, problems=problems, results=results)


def main():
    OpenStackModule(argument_spec=dict(
        host=dict(type='str'),
        hosts=dict(type='list', elements='str'),
        down_hosts=dict(type='list', elements='str', default=[]),
        checks=dict(type='list', elements='str', choices=['services', 'instances', 'capacity'],
                    default=['services', 'instances', 'capacity']),
        fail_on_problems=dict(type='bool', default=False),
    ), required_one_of=[('host', 'hosts')], mutually_exclusive=[('host', 'hosts')]).run(run)


if __name__ == '__main__':
    main()
