#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Boot a canary server on one compute host, wait for ACTIVE, delete it."""

from __future__ import annotations

DOCUMENTATION = r'''
module: canary_server
short_description: Prove a compute host can run a new server, leaving nothing behind
version_added: 0.1.0
description:
  - Boots a small server forced onto O(host) with C(availability_zone=<zone>:<host>) (this works while
    the host is disabled for maintenance, because the scheduler's filters are bypassed, which needs the
    admin role), waits until it is C(ACTIVE) on that host, deletes it and waits until it is gone.
  - The server is deleted whatever happens (error, timeout); the module fails when it could not
    delete it, naming the server.
  - Reports C(changed=false) because the cloud is left as it was found.
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
attributes:
  check_mode:
    support: full
    description: In check mode nothing is booted; the result says what would be.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  host:
    description: The nova-compute host name.
    type: str
    required: true
  flavor:
    description: Flavor name or id (use the smallest one).
    type: str
    required: true
  image:
    description: Image name or id.
    type: str
    required: true
  network:
    description:
      - Network name or id for the server's port.
      - V(none) boots it without a network (Nova microversion 2.37+), V(auto) lets Nova pick one.
    type: str
    default: none
  zone:
    description: Availability zone of the host; defaults to the zone of its nova-compute service.
    type: str
  name:
    description: Name of the canary server; name it with the campaign id.
    type: str
    required: true
  delay:
    description: Seconds between two looks at the server.
    type: int
    default: 2
'''

EXAMPLES = r'''
- name: A new server boots on the upgraded host
  opnfv.escalator.canary_server:
    cloud: mycloud
    host: compute-12
    flavor: m1.tiny
    image: cirros
    network: none
    name: "escalator-canary-{{ escalator_campaign_id }}-compute-12"
    timeout: 300
  delegate_to: localhost
'''

RETURN = r'''
canary:
  description: What happened to the canary server.
  returned: always
  type: dict
  contains:
    id: {description: Server id (C(None) in check mode)., type: str}
    name: {description: Server name., type: str}
    host: {description: The host asked for., type: str}
    booted_on: {description: The host Nova put it on., type: str}
    zone: {description: Availability zone used., type: str}
    status: {description: Last status seen before the deletion., type: str}
    active_after: {description: Seconds until ACTIVE., type: float}
    seconds: {description: Seconds for the whole boot and delete., type: float}
    deleted: {description: Whether the server was deleted., type: bool}
  sample: {"id": "5b1...", "name": "escalator-canary-c1-compute-12", "host": "compute-12",
           "booted_on": "compute-12", "status": "ACTIVE", "active_after": 6.2, "seconds": 9.1, "deleted": true}
error_code:
  description: C(E_CANARY) when the server did not become ACTIVE on the host, C(E_API) ...
  returned: failure
  type: str
'''

from ansible_collections.opnfv.escalator.plugins.module_utils import compute_checks
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule


def run(module, conn):
    params = module.params
    if module.check_mode:
        return dict(changed=False, canary=dict(id=None, name=params['name'], host=params['host'], deleted=True))
    result = compute_checks.canary(conn, params['host'], params['flavor'], params['image'], params['name'],
                                   network=params['network'], zone=params['zone'], timeout=params['timeout'],
                                   delay=params['delay'])
    return dict(changed=False, canary=result)


def main():
    OpenStackModule(argument_spec=dict(
        host=dict(type='str', required=True),
        flavor=dict(type='str', required=True),
        image=dict(type='str', required=True),
        network=dict(type='str', default='none'),
        zone=dict(type='str'),
        name=dict(type='str', required=True),
        delay=dict(type='int', default=2),
    )).run(run)


if __name__ == '__main__':
    main()
