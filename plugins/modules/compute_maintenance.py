#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_maintenance
short_description: Put a nova-compute host into maintenance or take it out of it
version_added: 0.1.0
description:
  - "Disables the C(nova-compute) service of a host, so that the scheduler places nothing new on
    it, with a disabled reason that marks the maintenance as Escalator's and names the campaign
    that owns it (C(escalator:<campaign_id>: <reason>)); or enables it again."
  - Only ever enables a host that carries this campaign's marker, and never touches a host
    disabled by someone else or by another campaign, unless O(force=true).
  - Idempotent and safe to re-run after an interruption - a host already in maintenance by the same
    campaign is left as it is.
  - If the service was changed and a later step of the same call fails, the service is put back
    as it was before the call.
  - Needs the admin role (or a policy that allows changing compute services).
author:
  - OPNFV Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
attributes:
  check_mode:
    support: full
    description: Reports what would change and changes nothing.
  diff_mode:
    support: full
    description: The service's status and disabled reason before and after.
options:
  host:
    description:
      - The host name of the C(nova-compute) service, as C(openstack compute service list) shows it.
    type: str
    required: true
  state:
    description:
      - V(maintenance) disables the service with this campaign's marker.
      - V(active) enables it again, if this campaign disabled it.
    type: str
    choices: [maintenance, active]
    default: maintenance
  campaign_id:
    description:
      - The campaign that owns the maintenance. It is written into the disabled reason, so that a
        later run (or another tool) can tell whose maintenance it is.
      - 1 to 64 letters, digits, V(.), V(_) or V(-), starting with a letter or digit.
    type: str
    required: true
  reason:
    description:
      - Free text after the marker in the disabled reason. Whitespace is folded into single spaces.
      - The whole reason (marker included) must fit Nova's 255 characters.
    type: str
    default: compute upgrade
  force:
    description:
      - Take over a host disabled by someone else or by another campaign (its reason is replaced by
        this campaign's), or enable such a host.
      - Issues a warning and returns RV(forced=true) when it overrides someone else's maintenance.
    type: bool
    default: false
  allow_down:
    description:
      - Accept a host whose C(nova-compute) service is down (or forced down).
      - By default such a host fails with error code C(E_SERVICE_DOWN) - Nova cannot migrate instances
        off a host whose compute service is down, nor should a broken host be re-enabled.
    type: bool
    default: false
  list_instances:
    description:
      - Return the instances on the host (all projects) in RV(instances).
    type: bool
    default: true
notes:
  - Failures carry an C(error_code) - C(E_HOST_NOT_FOUND) (the message lists the known compute hosts),
    C(E_HOST_AMBIGUOUS) (several C(nova-compute) services for that host name, for example in several
    cells), C(E_NOT_OURS), C(E_SERVICE_DOWN), C(E_FORBIDDEN) (not admin), C(E_INVALID_INPUT), C(E_API).
  - Nova has no compare-and-set on services - the service is read, then changed; keep other
    tools from changing the same service at the same moment.
  - Instances are listed with the C(compute_host) filter (openstacksdk's C(host) filter silently
    matches nothing).
seealso:
  - module: opnfv.escalator.compute_host_info
  - module: opnfv.escalator.compute_evacuate
'''

EXAMPLES = r'''
- name: Put compute1 into maintenance for the campaign
  opnfv.escalator.compute_maintenance:
    cloud: mycloud
    host: compute1
    campaign_id: upgrade-2026-01
    reason: compute upgrade to 2.0

- name: Take it out of maintenance once upgraded and verified
  opnfv.escalator.compute_maintenance:
    cloud: mycloud
    host: compute1
    campaign_id: upgrade-2026-01
    state: active
    list_instances: false

- name: Take over a host an operator disabled by hand (warns loudly)
  opnfv.escalator.compute_maintenance:
    cloud: mycloud
    host: compute7
    campaign_id: upgrade-2026-01
    force: true

- name: Disable a host whose nova-compute is already down (crashed host)
  opnfv.escalator.compute_maintenance:
    cloud: mycloud
    host: compute3
    campaign_id: upgrade-2026-01
    allow_down: true
'''

RETURN = r'''
msg:
  description: What was done, in one sentence.
  returned: always
  type: str
  sample: compute1 disabled for campaign upgrade-2026-01 (3 instances on it)
host:
  description: The host.
  returned: always
  type: str
  sample: compute1
campaign_id:
  description: The campaign.
  returned: always
  type: str
  sample: upgrade-2026-01
state:
  description: The requested state.
  returned: always
  type: str
  sample: maintenance
disabled_reason:
  description: The disabled reason this campaign uses (marker and O(reason)), whether or not it was written.
  returned: always
  type: str
  sample: "escalator:upgrade-2026-01: compute upgrade"
action:
  description: V(disable), V(enable), or null when nothing had to change. In check mode, what would be done.
  returned: always
  type: str
  sample: disable
ours:
  description: Whether the host is in maintenance by this campaign after the call (in check mode, would be).
  returned: always
  type: bool
  sample: true
forced:
  description: Whether O(force) overrode someone else's maintenance.
  returned: always
  type: bool
  sample: false
previous:
  description: The service's status and disabled reason before the call.
  returned: always
  type: dict
  contains:
    status:
      description: V(enabled) or V(disabled).
      type: str
      sample: enabled
    disabled_reason:
      description: The disabled reason, or null.
      type: str
      sample: null
service:
  description: The C(nova-compute) service after the call (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    id:
      description: Service id (a UUID from microversion 2.53).
      type: str
      sample: 5f0c8c6e-1b2a-4c1e-9a51-0d7b3c1f2e11
    host:
      description: Host name.
      type: str
      sample: compute1
    binary:
      description: Always V(nova-compute).
      type: str
      sample: nova-compute
    zone:
      description: Availability zone.
      type: str
      sample: nova
    status:
      description: V(enabled) or V(disabled).
      type: str
      sample: disabled
    state:
      description: V(up) or V(down) (heartbeat).
      type: str
      sample: up
    disabled_reason:
      description: The disabled reason, or null.
      type: str
      sample: "escalator:upgrade-2026-01: compute upgrade"
    forced_down:
      description: Whether an administrator forced the service down.
      type: bool
      sample: false
    updated_at:
      description: Last update of the service record (heartbeat).
      type: str
      sample: "2026-01-01T10:00:00.000000"
instances:
  description: The instances on the host, all projects.
  returned: when O(list_instances=true)
  type: list
  elements: dict
  contains:
    id:
      description: Server id.
      type: str
      sample: 0b6e7e6a-4d5f-4f55-8d42-9c3c2d7f1a10
    name:
      description: Server name.
      type: str
      sample: vnf-a-active
    project_id:
      description: Project that owns the server.
      type: str
      sample: 8d1b5b8c3f9e4a0f9f2f1e6b2c7d4a11
    host:
      description: Compute host of the server.
      type: str
      sample: compute1
    status:
      description: Server status (V(ACTIVE), V(SHUTOFF), V(MIGRATING)...).
      type: str
      sample: ACTIVE
    task_state:
      description: Nova task state, or null.
      type: str
      sample: null
    flavor:
      description: Flavor name.
      type: str
      sample: m1.small
    vcpus:
      description: vCPUs of the flavor.
      type: int
      sample: 2
    memory_mb:
      description: RAM of the flavor, MiB.
      type: int
      sample: 2048
    disk_gb:
      description: Local disk the server takes on the host, GiB (root unless booted from volume, ephemeral, swap).
      type: int
      sample: 20
    metadata:
      description: Server metadata.
      type: dict
      sample: {}
'''

from ansible_collections.opnfv.escalator.plugins.module_utils.maintenance import (
    ACTIVE, DEFAULT_REASON, MAINTENANCE, set_maintenance,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule


def summary(result, check_mode):
    """One sentence for ``msg``."""
    host, campaign = result['host'], result['campaign_id']
    would = 'would be ' if check_mode else ''
    if result['action'] == 'disable':
        text = '%s %sdisabled for campaign %s' % (host, would, campaign)
    elif result['action'] == 'enable':
        text = '%s %senabled again by campaign %s' % (host, would, campaign)
    elif result['state'] == MAINTENANCE:
        text = '%s already in maintenance by campaign %s' % (host, campaign)
    else:
        text = '%s already enabled' % host
    if result['forced']:
        text += ', FORCED over %r' % result['previous']['disabled_reason']
    if 'instances' in result:
        text += ' (%d instances on it)' % len(result['instances'])
    return text


def run(module, conn):
    params = module.params
    result = set_maintenance(
        conn, host=params['host'], campaign_id=params['campaign_id'], state=params['state'],
        reason=params['reason'], force=params['force'], allow_down=params['allow_down'],
        list_instances=params['list_instances'], check_mode=module.check_mode, warn=module.ansible.warn)
    result['msg'] = summary(result, module.check_mode)
    return result


def main():
    OpenStackModule(argument_spec=dict(
        host=dict(type='str', required=True),
        state=dict(type='str', default=MAINTENANCE, choices=[MAINTENANCE, ACTIVE]),
        campaign_id=dict(type='str', required=True),
        reason=dict(type='str', default=DEFAULT_REASON),
        force=dict(type='bool', default=False),
        allow_down=dict(type='bool', default=False),
        list_instances=dict(type='bool', default=True),
    )).run(run)


if __name__ == '__main__':
    main()
