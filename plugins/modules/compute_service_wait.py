#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Wait until nova-compute on a host is up with a fresh heartbeat."""

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_service_wait
short_description: Wait until nova-compute on a host reports to Nova again
version_added: 0.1.0
description:
  - Waits until the nova-compute service of O(host) is C(up), not forced down, with a heartbeat
    (the service's C(updated_at)) newer than O(since), and its hypervisor is C(up).
  - A nova-compute stopped less than Nova's C(service_down_time) ago still shows C(up); only a
    heartbeat newer than the moment the service was (re)started proves that the new process
    reports to Nova. Give O(since) for that.
  - Read-only; never changes anything.
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
  - opnfv.escalator.read_only
options:
  host:
    description: The nova-compute host name (the service's C(host) field).
    type: str
    required: true
  since:
    description:
      - The heartbeat must be newer than this moment, as seconds since the epoch (UTC) or an ISO 8601
        timestamp (without zone means UTC).
      - Without it, C(up) is enough.
    type: str
  require_hypervisor:
    description: Also require the host's hypervisor record to be C(up).
    type: bool
    default: true
  delay:
    description: Seconds between two looks.
    type: int
    default: 5
'''

EXAMPLES = r'''
- name: Nova-compute reports again since its restart
  opnfv.escalator.compute_service_wait:
    cloud: mycloud
    host: compute-12
    since: "{{ restart_epoch }}"
    timeout: 300
  delegate_to: localhost
'''

RETURN = r'''
service:
  description: The nova-compute service once it is up.
  returned: success
  type: dict
  contains:
    id: {description: Service id., type: str}
    host: {description: Host name., type: str}
    state: {description: C(up) or C(down)., type: str}
    status: {description: C(enabled) or C(disabled)., type: str}
    disabled_reason: {description: Why it is disabled., type: str}
    forced_down: {description: Whether it is forced down., type: bool}
    updated_at: {description: Last heartbeat (UTC)., type: str}
    zone: {description: Availability zone., type: str}
    binary: {description: C(nova-compute)., type: str}
  sample: {"host": "compute-12", "state": "up", "status": "disabled", "updated_at": "2026-01-01T10:00:03.000000"}
hypervisor:
  description: The host's hypervisor (C(None) when none is registered and O(require_hypervisor=false)).
  returned: success
  type: dict
  sample: {"id": "3d7...", "name": "compute-12", "state": "up", "status": "disabled", "type": "QEMU"}
waited:
  description: Seconds waited.
  returned: success
  type: float
  sample: 12.5
error_code:
  description: C(E_SERVICE_DOWN) when the service did not come back within O(timeout), C(E_HOST_NOT_FOUND) ...
  returned: failure
  type: str
problems:
  description: What was still wrong at the timeout.
  returned: failure
  type: list
  elements: str
'''

from ansible_collections.opnfv.escalator.plugins.module_utils import compute_checks
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule


def run(module, conn):
    params = module.params
    since = compute_checks.parse_time(params['since'])
    result = compute_checks.wait_service(conn, params['host'], since=since,
                                         require_hypervisor=params['require_hypervisor'],
                                         timeout=params['timeout'] if params['wait'] else 0,
                                         delay=params['delay'])
    result['changed'] = False
    return result


def main():
    OpenStackModule(argument_spec=dict(
        host=dict(type='str', required=True),
        since=dict(type='str'),
        require_hypervisor=dict(type='bool', default=True),
        delay=dict(type='int', default=5),
    )).run(run)


if __name__ == '__main__':
    main()
