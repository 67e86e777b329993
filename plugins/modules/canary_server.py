#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Boot a canary server anywhere, force it onto one compute host by live migration, delete it."""

from __future__ import annotations

DOCUMENTATION = r'''
module: canary_server
short_description: Prove a compute host takes a new server in by live migration, leaving nothing behind
version_added: 0.1.0
description:
  - Boots a small server where Nova's scheduler puts it (an enabled host), waits until it is C(ACTIVE), then
    live-migrates it with C(force) onto O(host) and waits until it is C(ACTIVE) there, deletes it and waits until it
    is gone. This is what the host's instances do next.
  - Made for a host the campaign still keeps disabled (tenants must not land on it before it is verified) - Nova never
    schedules a boot onto a disabled host, forced or not (its placement pre-filter asks for
    C(!COMPUTE_STATUS_DISABLED)), but a forced live migration skips the scheduler (openstacksdk sends it with
    microversion 2.30; C(force) exists up to 2.67). The conductor still checks that the host's nova-compute is up.
    Needs the admin role (live migration, the server's host).
  - A host that is not disabled may get the canary at boot already; then it is not migrated (RV(canary.migrated)).
  - The server is deleted whatever happens (error, timeout); the module fails when it could not delete it, naming
    the server.
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
    description:
      - Availability zone to boot the canary in before it is moved; unset lets the scheduler choose any enabled host.
      - In a cloud with several cells, a zone of the host's cell (a live migration does not cross cells).
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
  description: What happened to the canary server (also returned on failure, as far as it got).
  returned: always
  type: dict
  contains:
    id: {description: Server id (C(None) in check mode or when the boot request failed)., type: str}
    name: {description: Server name., type: str}
    host: {description: The host asked for., type: str}
    booted_on: {description: The host the scheduler booted it on., type: str}
    on_host: {description: The host it was last seen on (O(host) on success)., type: str}
    migrated: {description: Whether it came onto O(host) by live migration (false when it was booted there)., type: bool}
    zone: {description: Availability zone it was booted in (C(None) for the scheduler's choice)., type: str}
    status: {description: Last status seen before the deletion., type: str}
    active_after: {description: Seconds until ACTIVE after the boot request., type: float}
    migration_seconds: {description: Seconds of the live migration until ACTIVE on O(host)., type: float}
    seconds: {description: 'Seconds for the whole boot, move and delete.', type: float}
    deleted: {description: Whether the server was deleted., type: bool}
  sample: {"id": "5b1...", "name": "escalator-canary-c1-compute-12", "host": "compute-12", "booted_on": "compute-3",
           "on_host": "compute-12", "migrated": true, "status": "ACTIVE", "active_after": 4.2,
           "migration_seconds": 6.1, "seconds": 13.0, "deleted": true}
error_code:
  description:
    - C(E_CANARY) when O(host) did not take the canary in (Nova refused the migration, it failed, timed out or left
      the server elsewhere); C(E_CANARY_BOOT) when it could not be started on an enabled host (says nothing of
      O(host)); C(E_INVALID_INPUT) for an unknown flavor, image or network; C(E_HOST_NOT_FOUND), C(E_API) ...
  returned: failure
  type: str
'''

from ansible_collections.opnfv.escalator.plugins.module_utils import canary
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule


def run(module, conn):
    params = module.params
    if module.check_mode:
        return dict(changed=False, canary=dict(id=None, name=params['name'], host=params['host'], zone=params['zone'],
                                               migrated=False, deleted=True))
    result = canary.canary(conn, params['host'], params['flavor'], params['image'], params['name'],
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
