# SPDX-License-Identifier: Apache-2.0
"""compute_host_info against the seeded lab: what it reports is what Nova and Placement say."""

import json
import os
import re
import subprocess

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.lab


def ansible_module(lab, module, **args):
    """Run opnfv.escalator.<module> with `ansible localhost -m` against the lab; returns
    (failed, result dict, stderr)."""
    args.setdefault('cloud', lab.cloud_name)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.venv', 'collections'),
               OS_CLIENT_CONFIG_FILE=lab.clouds_yaml, ANSIBLE_DEPRECATION_WARNINGS='False',
               ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_NOCOLOR='1')
    command = [os.path.join(REPO_ROOT, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'opnfv.escalator.' + module,
               '-a', json.dumps(args)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT,
                             check=False)
    out = process.stdout
    try:
        marker = re.search(r'^localhost \| (SUCCESS|CHANGED|FAILED!) => ', out, re.M)
        result = json.loads(out[marker.end():])
    except (AttributeError, ValueError):
        raise AssertionError('ansible printed no result (rc=%d): %s %s' % (process.returncode, out[-2000:],
                                                                           process.stderr[-2000:])) from None
    return process.returncode != 0, result, process.stderr


PLANNER_HOST_KEYS = {'name', 'zone', 'aggregates', 'state', 'status', 'disabled_reason', 'capacity', 'used',
                     'instances'}


def test_all_hosts_match_nova_and_placement(seeded_lab, cloud):
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


def test_one_host_and_its_groups(seeded_lab):
    first = seeded_lab.hosts[0]
    failed, result, *ignored = ansible_module(seeded_lab, 'compute_host_info', host=first)
    assert not failed, result
    assert [h['name'] for h in result['hosts']] == [first]
    # only the groups with a member on that host, with the partner's host found elsewhere
    assert {g['name'] for g in result['server_groups']} == {'vnf-a-pair', 'vnf-b-pair'}
    for group in result['server_groups']:
        assert first in group['member_hosts'].values()
        assert len(set(group['member_hosts'].values())) == 2


def test_unknown_host(lab):
    failed, result, *ignored = ansible_module(lab, 'compute_host_info', hosts=['nope'])
    assert failed and result['error_code'] == 'E_HOST_NOT_FOUND'
