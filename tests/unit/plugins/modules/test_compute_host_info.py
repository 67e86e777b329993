# SPDX-License-Identifier: Apache-2.0
"""compute_host_info as Ansible runs it."""

from __future__ import annotations


import pytest
import yaml

from ansible_collections.opnfv.escalator.plugins.modules import compute_host_info
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module


def run(fake, check_mode=False, **args):
    """Run the module's main(); returns (outcome, result, warnings, connect)."""
    return run_module(compute_host_info, fake, check_mode=check_mode, **args)


@pytest.fixture
def lab(cloud):
    for name in ('compute1', 'compute2', 'compute3'):
        cloud.add_host(name)
    group = cloud.add_group('vnf', policy='anti-affinity')
    cloud.add_server('a', 'compute1', group=group)
    cloud.add_server('b', 'compute2', group=group)
    cloud.add_server('c', 'compute1', status='SHUTOFF')
    cloud.hosts['compute3'].status = 'disabled'
    cloud.hosts['compute3'].disabled_reason = 'escalator:c1: compute upgrade'
    return cloud


def test_all_hosts(lab):
    outcome, result, warnings, *ignored = run(lab, cloud='lab')
    assert outcome == 'exit' and result['changed'] is False
    assert [h['name'] for h in result['hosts']] == ['compute1', 'compute2', 'compute3']
    assert [h['instance_count'] for h in result['hosts']] == [2, 1, 0]
    assert result['hosts'][2]['escalator_campaign'] == 'c1'
    assert result['hosts'][0]['capacity'] == dict(vcpus=16, memory_mb=32768, disk_gb=200)
    assert result['server_groups'][0]['policy'] == 'anti-affinity'
    assert 'warnings' not in result and warnings == []


def test_one_host_by_alias(lab):
    outcome, result, *ignored = run(lab, host='compute2')
    assert [h['name'] for h in result['hosts']] == ['compute2']
    assert [call[1].get('compute_host') for call in lab.calls if call[0] == 'servers'] == ['compute2']


def test_list_of_hosts(lab):
    outcome, result, *ignored = run(lab, hosts=['compute3', 'compute1'])
    assert [h['name'] for h in result['hosts']] == ['compute3', 'compute1']


def test_check_mode_is_the_same(lab):
    assert run(lab, check_mode=True)[1]['hosts'] == run(lab)[1]['hosts']


def test_switches(lab):
    outcome, result, *ignored = run(lab, include_instances=False, include_server_groups=False, include_capacity=False)
    assert outcome == 'exit'
    assert 'server_groups' not in result
    assert not {'instances', 'capacity', 'used', 'free', 'resources', 'capacity_source'} & set(result['hosts'][0])


def test_warnings_go_to_ansible(lab):
    lab.placement_fault = 'unreachable'
    outcome, result, warnings, *ignored = run(lab)
    assert outcome == 'exit'
    assert any('Placement is not reachable' in w for w in warnings)
    assert result['hosts'][0]['capacity_source'] == 'unavailable'


def test_unknown_host(lab):
    outcome, result, *ignored = run(lab, hosts=['compute9'])
    assert outcome == 'fail' and result['error_code'] == 'E_HOST_NOT_FOUND'
    assert 'compute1, compute2, compute3' in result['msg']


def test_forbidden(lab):
    lab.forbidden.add('services')
    outcome, result, *ignored = run(lab)
    assert outcome == 'fail' and result['error_code'] == 'E_FORBIDDEN'


def test_bad_argument(lab):
    outcome, result, *ignored, connect = run(lab, include_capacity='sometimes')
    assert outcome == 'fail' and 'include_capacity' in result['msg']
    connect.assert_not_called()


def test_argument_spec_matches_documentation(check_argument_spec):
    check_argument_spec(compute_host_info, 'default', 'aliases', 'elements')


def test_return_documents_every_host_key(lab):
    doc = yaml.safe_load(compute_host_info.RETURN)
    host = run(lab)[1]['hosts'][0]
    assert set(host) == set(doc['hosts']['contains'])
    assert set(host['instances'][0]) == set(doc['hosts']['contains']['instances']['contains'])
    assert set(host['service']) == set(doc['hosts']['contains']['service']['contains'])
    assert set(host['hypervisor']) == set(doc['hosts']['contains']['hypervisor']['contains'])
    group = run(lab)[1]['server_groups'][0]
    assert set(group) == set(doc['server_groups']['contains'])
