#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_host_info
short_description: What is on compute hosts - service, hypervisor, instances, server groups, capacity
version_added: 0.1.0
description:
  - For one host, a list of hosts or all compute hosts, reports the C(nova-compute) service (state,
    status, disabled reason, forced down, zone, and the Escalator campaign that disabled it), the
    hypervisor, the host aggregates, the instances with their size and server groups, the server
    groups with the host of each member, and the capacity used and free.
  - The result is the input of the campaign planner - each element of RV(hosts) has the keys
    C(name), C(zone), C(aggregates), C(state), C(status), C(disabled_reason), C(capacity), C(used)
    and C(instances) it expects.
  - Capacity comes from Placement - per resource class (V(VCPU), V(MEMORY_MB), V(DISK_GB)),
    (total - reserved) x allocation_ratio is what the scheduler can place, and the usages (which
    include allocations held by migrations in progress) what is used. When Placement cannot be
    reached, the hypervisor statistics are used (only Nova below microversion 2.88 reports them;
    allocation ratios are then unknown and taken as 1.0); failing both, capacity is null.
  - Efficient on large clouds - one listing each of services, hypervisors, aggregates, server groups
    and servers (a filtered listing per host when at most 3 hosts are asked for), plus two Placement
    requests per host.
  - Needs the admin role (all-projects listings, services, hypervisors, Placement).
author:
  - OPNFV Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
  - opnfv.escalator.read_only
options:
  hosts:
    description:
      - The compute hosts, by the C(host) name of their C(nova-compute) service.
      - All compute hosts when empty or not given.
      - An unknown host fails with C(E_HOST_NOT_FOUND) (the message lists the known ones); a host name
        with several C(nova-compute) services (for example in several cells) with C(E_HOST_AMBIGUOUS).
    type: list
    elements: str
    aliases: [host]
  include_instances:
    description:
      - Return the instances of each host (RV(hosts[].instances)).
    type: bool
    default: true
  include_server_groups:
    description:
      - Return the server groups (RV(server_groups)) and the group ids of each instance.
      - With O(hosts), only the groups that have a member on one of those hosts.
    type: bool
    default: true
  include_capacity:
    description:
      - Return RV(hosts[].capacity), RV(hosts[].used), RV(hosts[].free) and RV(hosts[].resources).
    type: bool
    default: true
notes:
  - Problems that do not stop the gathering (Placement unreachable, aggregates not readable, server
    group members without a host) are reported as Ansible warnings.
  - Servers are listed with the C(compute_host) filter (openstacksdk's C(host) filter silently matches
    nothing). Shelved-offloaded servers have no host and are in no host's instances.
seealso:
  - module: opnfv.escalator.compute_maintenance
  - module: opnfv.escalator.compute_evacuate
'''

EXAMPLES = r'''
- name: Everything about every compute host, for the planner
  opnfv.escalator.compute_host_info:
    cloud: mycloud
  register: cloud_hosts

- name: One host, no capacity
  opnfv.escalator.compute_host_info:
    cloud: mycloud
    host: compute1
    include_capacity: false
  register: compute1

- name: Hosts still carrying instances
  ansible.builtin.debug:
    msg: "{{ cloud_hosts.hosts | selectattr('instance_count', 'gt', 0) | map(attribute='name') | list }}"

- name: Hosts in maintenance by this campaign
  ansible.builtin.debug:
    msg: "{{ cloud_hosts.hosts | selectattr('escalator_campaign', 'equalto', 'upgrade-2026-01') | map(attribute='name') | list }}"
'''

RETURN = r'''
hosts:
  description: One element per compute host, in the order of O(hosts) (by name when all).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Host name of the C(nova-compute) service.
      type: str
      sample: compute1
    zone:
      description: Availability zone.
      type: str
      sample: nova
    aggregates:
      description: Names of the host aggregates the host belongs to.
      type: list
      elements: str
      sample: [az1, dpdk-hosts]
    state:
      description: V(up) or V(down) (service heartbeat).
      type: str
      sample: up
    status:
      description: V(enabled) or V(disabled).
      type: str
      sample: enabled
    disabled_reason:
      description: The service's disabled reason, or null.
      type: str
      sample: null
    forced_down:
      description: Whether an administrator forced the service down.
      type: bool
      sample: false
    escalator_campaign:
      description: The campaign named by an Escalator disabled reason, null when the reason is not Escalator's.
      type: str
      sample: upgrade-2026-01
    service:
      description: The C(nova-compute) service.
      type: dict
      contains:
        id:
          description: Service id.
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
          sample: enabled
        state:
          description: V(up) or V(down).
          type: str
          sample: up
        disabled_reason:
          description: Disabled reason, or null.
          type: str
          sample: null
        forced_down:
          description: Forced down by an administrator.
          type: bool
          sample: false
        updated_at:
          description: Last update of the service record (heartbeat).
          type: str
          sample: "2026-01-01T10:00:00.000000"
    hypervisor:
      description: The host's hypervisor (the first one if the host has several nodes), or null when Nova lists none.
      type: dict
      contains:
        id:
          description: Hypervisor id (the compute node UUID, also its Placement resource provider's).
          type: str
          sample: 1d3a6f0e-6c55-4d8e-8f57-3f7b8f6a2c10
        name:
          description: Hypervisor host name.
          type: str
          sample: compute1.example.net
        state:
          description: V(up) or V(down).
          type: str
          sample: up
        status:
          description: V(enabled) or V(disabled).
          type: str
          sample: enabled
        type:
          description: Hypervisor type.
          type: str
          sample: QEMU
    instance_count:
      description: Number of instances on the host.
      type: int
      sample: 3
    instances:
      description: The instances on the host, all projects.
      returned: when O(include_instances=true)
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
          description: Compute host.
          type: str
          sample: compute1
        status:
          description: Server status.
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
          description: vCPUs.
          type: int
          sample: 2
        memory_mb:
          description: RAM, MiB.
          type: int
          sample: 2048
        disk_gb:
          description: Local disk taken on the host, GiB (root unless booted from volume, ephemeral, swap).
          type: int
          sample: 20
        server_groups:
          description: Ids of the server groups the server is a member of.
          returned: when O(include_server_groups=true)
          type: list
          elements: str
          sample: [6a0c1b55-2f7e-4c4e-b1f6-3b9b0d6c8e21]
        metadata:
          description: Server metadata.
          type: dict
          sample: {}
    capacity:
      description:
        - What the scheduler can place on the host - (total - reserved) x allocation_ratio.
        - Null when neither Placement nor the hypervisor statistics are available.
      returned: when O(include_capacity=true)
      type: dict
      sample: {vcpus: 64, memory_mb: 262144, disk_gb: 800}
    used:
      description: What is allocated on the host (Placement usages), same keys as RV(hosts[].capacity).
      returned: when O(include_capacity=true)
      type: dict
      sample: {vcpus: 6, memory_mb: 6144, disk_gb: 60}
    instances_used:
      description:
        - What the host's instances' flavors add up to, same keys as RV(hosts[].capacity).
        - When it differs from RV(hosts[].used) (Placement), a warning says so - a migration in progress,
          or allocations left behind by a deleted server or a failed migration.
      returned: when O(include_capacity=true)
      type: dict
      sample: {vcpus: 6, memory_mb: 6144, disk_gb: 60}
    free:
      description: RV(hosts[].capacity) minus RV(hosts[].used), or null.
      returned: when O(include_capacity=true)
      type: dict
      sample: {vcpus: 58, memory_mb: 256000, disk_gb: 740}
    resources:
      description:
        - Per Placement resource class (also V(PCPU), V(VGPU), custom classes), the inventory and usage -
          C(total), C(reserved), C(allocation_ratio), C(max_unit), C(capacity), C(used), C(free).
        - Empty when the capacity does not come from Placement.
      returned: when O(include_capacity=true)
      type: dict
      sample: {VCPU: {total: 16, reserved: 0, allocation_ratio: 4.0, max_unit: 16, capacity: 64, used: 6, free: 58}}
    capacity_source:
      description: Where the capacity comes from - V(placement), V(hypervisor) or V(unavailable).
      returned: when O(include_capacity=true)
      type: str
      sample: placement
server_groups:
  description: The server groups (with O(hosts), those with a member on one of them).
  returned: when O(include_server_groups=true)
  type: list
  elements: dict
  contains:
    id:
      description: Group id.
      type: str
      sample: 6a0c1b55-2f7e-4c4e-b1f6-3b9b0d6c8e21
    name:
      description: Group name.
      type: str
      sample: vnf-a
    project_id:
      description: Project that owns the group.
      type: str
      sample: 8d1b5b8c3f9e4a0f9f2f1e6b2c7d4a11
    policy:
      description: V(anti-affinity), V(affinity), V(soft-anti-affinity) or V(soft-affinity).
      type: str
      sample: anti-affinity
    rules:
      description: Policy rules (for example C(max_server_per_host)).
      type: dict
      sample: {}
    members:
      description: Ids of the member servers.
      type: list
      elements: str
      sample: [0b6e7e6a-4d5f-4f55-8d42-9c3c2d7f1a10, 9a1f0c2e-7b3d-4e5f-8a6b-1c2d3e4f5a6b]
    member_hosts:
      description: The compute host of each member (null when it has none, for example shelved).
      type: dict
      sample: {0b6e7e6a-4d5f-4f55-8d42-9c3c2d7f1a10: compute1, 9a1f0c2e-7b3d-4e5f-8a6b-1c2d3e4f5a6b: compute2}
'''

from ansible_collections.opnfv.escalator.plugins.module_utils.host_info import collect
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule


def run(module, conn):
    params = module.params
    result = collect(conn, hosts=params['hosts'], include_instances=params['include_instances'],
                     include_server_groups=params['include_server_groups'],
                     include_capacity=params['include_capacity'], warn=module.ansible.warn)
    if not params['include_server_groups']:
        result.pop('server_groups')
    result.pop('warnings')  # already issued through module.warn
    result['changed'] = False
    return result


def main():
    OpenStackModule(argument_spec=dict(
        hosts=dict(type='list', elements='str', aliases=['host']),
        include_instances=dict(type='bool', default=True),
        include_server_groups=dict(type='bool', default=True),
        include_capacity=dict(type='bool', default=True),
    )).run(run)


if __name__ == '__main__':
    main()
