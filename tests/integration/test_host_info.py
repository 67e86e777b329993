# SPDX-License-Identifier: Apache-2.0
"""compute_host_info against the seeded lab: what it reports is what Nova and Placement say."""

import pytest

pytestmark = pytest.mark.lab

PLANNER_HOST_KEYS = {'name', 'zone', 'aggregates', 'state', 'status', 'disabled_reason', 'capacity', 'used',
                     'instances'}


def test_all_hosts_match_nova_and_placement(seeded_lab, cloud, ansible_module):
    failed, result, stderr = ansible_module(seeded_lab, 'compute_host_info')
    assert not failed, result
    stderr = ' '.join(stderr.split())
    assert result['changed'] is False
    hosts = {h['name']: h for h in result['hosts']}
    assert set(seeded_lab.hosts) <= set(hosts)

    servers = list(cloud.compute.servers(all_projects=True, details=True))
    for name in seeded_lab.hosts:
        host = hosts[name]
        assert PLANNER_HOST_KEYS <= set(host)
        assert (host['state'], host['status'], host['disabled_reason']) == ('up', 'enabled', None)
        assert host['hypervisor']['name'] == name and host['hypervisor']['state'] == 'up'
        assert {i['id'] for i in host['instances']} == {s.id for s in servers if s.compute_host == name}
        assert host['capacity_source'] == 'placement'
        assert host['capacity'] == dict(vcpus=16, memory_mb=32768, disk_gb=200)     # the lab's hosts
        # what the instances' flavors add up to, as Placement allocates it (disk included)
        for key in ('vcpus', 'memory_mb', 'disk_gb'):
            assert host['instances_used'][key] == sum(i[key] for i in host['instances']), (name, key)
            assert host['free'][key] == host['capacity'][key] - host['used'][key]
        # Placement's figure is the scheduler's; where it differs (allocations left behind by earlier
        # tests' failed migrations or deleted servers), the module says so
        if host['used'] != host['instances_used']:
            assert '%s: Placement counts' % name in stderr, (name, stderr)

    first = hosts[seeded_lab.hosts[0]]
    assert {'ACTIVE', 'SHUTOFF'} <= {i['status'] for i in first['instances']}

    groups = {g['name']: g for g in result['server_groups']}
    for name in ('vnf-a-pair', 'vnf-b-pair'):
        group = groups[name]
        assert group['policy'] == 'anti-affinity' and len(group['members']) == 2
        member_hosts = list(group['member_hosts'].values())
        assert None not in member_hosts and len(set(member_hosts)) == 2
        for member, host in group['member_hosts'].items():
            instance = next(i for i in hosts[host]['instances'] if i['id'] == member)
            assert group['id'] in instance['server_groups']


def test_one_host_and_its_groups(seeded_lab, ansible_module):
    first = seeded_lab.hosts[0]
    failed, result, *ignored = ansible_module(seeded_lab, 'compute_host_info', host=first)
    assert not failed, result
    assert [h['name'] for h in result['hosts']] == [first]
    # only the groups with a member on that host, with the partner's host found elsewhere
    assert {g['name'] for g in result['server_groups']} == {'vnf-a-pair', 'vnf-b-pair'}
    for group in result['server_groups']:
        assert first in group['member_hosts'].values()
        assert len(set(group['member_hosts'].values())) == 2


def test_unknown_host(lab, ansible_module):
    failed, result, *ignored = ansible_module(lab, 'compute_host_info', hosts=['nope'])
    assert failed and result['error_code'] == 'E_HOST_NOT_FOUND'
