# SPDX-License-Identifier: Apache-2.0
"""Host gathering against the fake cloud: lookups, instances, groups, capacity, cost."""

from __future__ import annotations

import pytest

from openstack.compute.v2 import server as _server
from openstack.compute.v2 import server_group as _server_group

from ansible_collections.opnfv.escalator.plugins.module_utils import host_capacity
from ansible_collections.opnfv.escalator.plugins.module_utils import host_info as hi
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_CONNECT, E_FORBIDDEN, E_HOST_AMBIGUOUS, E_HOST_NOT_FOUND, E_INVALID_INPUT, EscalatorError,
)

PLANNER_HOST_KEYS = {'name', 'zone', 'aggregates', 'state', 'status', 'disabled_reason', 'capacity', 'used',
                     'instances'}
PLANNER_INSTANCE_KEYS = {'id', 'name', 'project_id', 'status', 'vcpus', 'memory_mb', 'disk_gb', 'server_groups'}
PLANNER_GROUP_KEYS = {'id', 'name', 'project_id', 'policy', 'members'}


def calls(cloud, name):
    return [call for call in cloud.calls if call[0] == name]


@pytest.fixture
def telco(cloud):
    """Four hosts, an anti-affinity pair across compute1/compute2, standalone and SHUTOFF servers."""
    for index in range(1, 5):
        cloud.add_host('compute%d' % index)
    cloud.hosts['compute1'].allocation_ratio['VCPU'] = 4.0
    cloud.hosts['compute1'].reserved['MEMORY_MB'] = 512
    cloud.hosts['compute1'].reserved['VCPU'] = 2
    pair = cloud.add_group('vnf-a', policy='anti-affinity', project_id='p-vnf')
    soft = cloud.add_group('vnf-b', policy='soft-affinity', project_id='p-vnf')
    cloud.add_server('vnf-a-active', 'compute1', project_id='p-vnf', vcpus=2, ram=2048, disk=20, group=pair,
                     metadata={'ha': 'active'})
    cloud.add_server('vnf-a-standby', 'compute2', project_id='p-vnf', vcpus=2, ram=2048, disk=20, group=pair)
    cloud.add_server('vnf-b-1', 'compute3', project_id='p-vnf', group=soft)
    cloud.add_server('standalone', 'compute1', project_id='p-web', vcpus=1, ram=1024, disk=10)
    cloud.add_server('stopped', 'compute1', project_id='p-web', status='SHUTOFF')
    cloud.add_aggregate('az-east', ['compute1', 'compute2'], zone='az-east')
    cloud.add_aggregate('dpdk', ['compute2'])
    return cloud


def by_name(result):
    return {host['name']: host for host in result['hosts']}


# -- lookups ----------------------------------------------------------------------

class TestFindComputeService:
    def test_found(self, telco):
        service = hi.find_compute_service(telco, 'compute2')
        assert service.host == 'compute2' and service.binary == 'nova-compute'
        assert calls(telco, 'services') == [('services', dict(binary='nova-compute', host='compute2'))]

    def test_not_found_lists_known_hosts(self, telco):
        with pytest.raises(EscalatorError) as err:
            hi.find_compute_service(telco, 'compute9')
        assert err.value.code == E_HOST_NOT_FOUND
        assert err.value.details['known_hosts'] == ['compute1', 'compute2', 'compute3', 'compute4']
        assert 'did you mean' not in err.value.msg

    def test_case_insensitive_database_match_is_not_accepted(self, telco, monkeypatch):
        # MySQL compares host names case-insensitively: Nova may answer 'compute1' to host=COMPUTE1.
        real = telco.compute.services
        monkeypatch.setattr(telco.compute, 'services', lambda **query: real(
            **{k: (v.lower() if k == 'host' else v) for k, v in query.items()}))
        with pytest.raises(EscalatorError) as err:
            hi.find_compute_service(telco, 'COMPUTE1')
        assert err.value.code == E_HOST_NOT_FOUND and "did you mean 'compute1'" in err.value.msg

    def test_ambiguous(self, telco):
        telco.duplicate_services['compute3'] = 3
        with pytest.raises(EscalatorError) as err:
            hi.find_compute_service(telco, 'compute3')
        assert err.value.code == E_HOST_AMBIGUOUS
        assert len(err.value.details['services']) == 3
        assert '3 nova-compute services' in err.value.msg

    @pytest.mark.parametrize('host', ['', None, ['compute1']])
    def test_no_host(self, telco, host):
        with pytest.raises(EscalatorError) as err:
            hi.find_compute_service(telco, host)
        assert err.value.code == E_INVALID_INPUT

    def test_forbidden(self, telco):
        telco.forbidden.add('services')
        with pytest.raises(EscalatorError) as err:
            hi.find_compute_service(telco, 'compute1')
        assert err.value.code == E_FORBIDDEN
        assert 'looking up the nova-compute service of compute1' in err.value.msg


# -- instances ------------------------------------------------------------------------

class TestInstances:
    def test_list_instances(self, telco):
        instances = hi.list_instances(telco, 'compute1')
        assert sorted(i['name'] for i in instances) == ['standalone', 'stopped', 'vnf-a-active']
        assert all('server_groups' not in i for i in instances)
        assert calls(telco, 'servers') == [('servers', dict(all_projects=True, compute_host='compute1'))]
        assert calls(telco, 'server_groups') == []

    def test_list_instances_with_groups(self, telco):
        instances = {i['name']: i for i in hi.list_instances(telco, 'compute1', with_server_groups=True)}
        assert instances['vnf-a-active']['server_groups'] == [next(iter(telco.groups))]
        assert instances['standalone']['server_groups'] == []
        assert len(calls(telco, 'server_groups')) == 1

    def test_instance_dict_fields(self, telco):
        active = next(i for i in hi.list_instances(telco, 'compute1') if i['name'] == 'vnf-a-active')
        assert active == dict(id=active['id'], name='vnf-a-active', project_id='p-vnf', host='compute1',
                              status='ACTIVE', task_state=None, flavor='m1.tiny', vcpus=2, memory_mb=2048,
                              disk_gb=20, metadata={'ha': 'active'})

    @pytest.mark.parametrize('kwargs, disk_gb', [
        (dict(disk=20), 20),
        (dict(disk=20, ephemeral=5), 25),
        (dict(disk=20, swap=512), 21),
        (dict(disk=20, swap=2048), 22),
        (dict(disk=20, swap=2049, ephemeral=1), 24),
        (dict(disk=20, boot_from_volume=True), 0),
        (dict(disk=20, boot_from_volume=True, ephemeral=3, swap=1), 4),
    ])
    def test_disk_as_placement_counts_it(self, cloud, kwargs, disk_gb):
        cloud.add_host('compute1')
        cloud.add_server('s', 'compute1', **kwargs)
        assert hi.list_instances(cloud, 'compute1')[0]['disk_gb'] == disk_gb
        assert cloud.usage('compute1')['DISK_GB'] == disk_gb

    def test_flavor_without_original_name_and_string_swap(self):
        server = _server.Server.existing(id='s1', name='old', flavor=dict(name='m1.old', vcpus=1, ram=64, disk=1,
                                                                          swap=''), image={'id': 'img'})
        entry = hi.instance_dict(server)
        assert entry['flavor'] == 'm1.old' and entry['disk_gb'] == 1

    def test_never_uses_the_host_filter(self, telco):
        hi.collect(telco)
        hi.list_instances(telco, 'compute1')
        assert all('host' not in query for (name, query) in calls(telco, 'servers'))


# -- collect ------------------------------------------------------------------------

class TestCollect:
    def test_planner_contract(self, telco):
        result = hi.collect(telco)
        assert [h['name'] for h in result['hosts']] == ['compute1', 'compute2', 'compute3', 'compute4']
        for host in result['hosts']:
            assert PLANNER_HOST_KEYS <= set(host)
            assert set(host['capacity']) == set(host['used']) == {'vcpus', 'memory_mb', 'disk_gb'}
            assert host['state'] in ('up', 'down') and host['status'] in ('enabled', 'disabled')
            for instance in host['instances']:
                assert PLANNER_INSTANCE_KEYS <= set(instance)
        for group in result['server_groups']:
            assert PLANNER_GROUP_KEYS <= set(group)
        assert result['warnings'] == []

    def test_host_details(self, telco):
        host = by_name(hi.collect(telco))['compute1']
        assert host['zone'] == 'az-east'
        assert host['aggregates'] == ['az-east']
        assert (host['state'], host['status'], host['disabled_reason'], host['forced_down']) == \
            ('up', 'enabled', None, False)
        assert host['escalator_campaign'] is None
        assert host['service']['id'] == telco.hosts['compute1'].service_id
        assert host['hypervisor'] == dict(id=telco.hosts['compute1'].hypervisor_id, name='compute1', state='up',
                                          status='enabled', type='fake')
        assert host['instance_count'] == 3
        assert by_name(hi.collect(telco))['compute2']['aggregates'] == ['az-east', 'dpdk']

    def test_capacity_from_placement(self, telco):
        host = by_name(hi.collect(telco))['compute1']
        assert host['capacity_source'] == 'placement'
        # (16 - 2) * 4.0 vCPUs, 32768 - 512 MiB
        assert host['capacity'] == dict(vcpus=56, memory_mb=32256, disk_gb=200)
        assert host['used'] == dict(vcpus=4, memory_mb=3584, disk_gb=31)
        assert host['free'] == dict(vcpus=52, memory_mb=28672, disk_gb=169)
        assert host['resources']['VCPU'] == dict(total=16, reserved=2, allocation_ratio=4.0, max_unit=16,
                                                 capacity=56, used=4, free=52)

    def test_used_includes_migrations_in_progress(self, telco):
        server = next(s for s in telco.servers.values() if s.name == 'standalone')
        telco.compute.live_migrate_server(server.id, host='compute4')
        telco.sleep(1.5)
        result = hi.collect(telco)
        compute4 = by_name(result)['compute4']
        assert compute4['used']['vcpus'] == 1 and compute4['instances_used']['vcpus'] == 0
        assert [w for w in result['warnings'] if 'Placement counts' in w] == [
            'compute4: Placement counts vcpus 1, memory_mb 1024, disk_gb 10 used, its instances add up to vcpus 0, '
            'memory_mb 0, disk_gb 0: a migration to or from it in progress, or allocations left behind by a '
            'deleted server or a failed migration (nova-manage placement audit finds them); capacity planning '
            'uses Placement\'s figure']

    def test_instances_used_matches_placement_when_consistent(self, telco):
        result = hi.collect(telco)
        for host in result['hosts']:
            assert host['instances_used'] == host['used'], host['name']
        assert result['warnings'] == []

    def test_no_allocation_check_without_placement(self, telco):
        telco.placement_fault = 'unreachable'
        telco.hypervisor_stats = True
        telco.servers[next(iter(telco.servers))].flavor['vcpus'] = 99  # the hypervisor view differs; no claim
        assert not [w for w in hi.collect(telco)['warnings'] if 'Placement counts' in w]

    def test_escalator_campaign(self, telco):
        host = telco.hosts['compute2']
        host.status, host.disabled_reason = 'disabled', 'escalator:c42: compute upgrade'
        telco.hosts['compute3'].status = 'disabled'
        telco.hosts['compute3'].disabled_reason = 'broken disk'
        hosts = by_name(hi.collect(telco))
        assert hosts['compute2']['escalator_campaign'] == 'c42'
        assert hosts['compute2']['status'] == 'disabled'
        assert hosts['compute3']['escalator_campaign'] is None
        assert hosts['compute3']['disabled_reason'] == 'broken disk'

    def test_down_and_forced_down(self, telco):
        telco.hosts['compute4'].state = 'down'
        telco.hosts['compute4'].forced_down = True
        host = by_name(hi.collect(telco))['compute4']
        assert host['state'] == 'down' and host['forced_down'] is True

    def test_instances_carry_their_groups(self, telco):
        result = hi.collect(telco)
        pair = next(g for g in result['server_groups'] if g['name'] == 'vnf-a')
        instances = {i['name']: i for h in result['hosts'] for i in h['instances']}
        assert instances['vnf-a-active']['server_groups'] == [pair['id']]
        assert instances['vnf-a-standby']['server_groups'] == [pair['id']]
        assert instances['standalone']['server_groups'] == []

    def test_server_groups(self, telco):
        groups = {g['name']: g for g in hi.collect(telco)['server_groups']}
        assert set(groups) == {'vnf-a', 'vnf-b'}
        pair = groups['vnf-a']
        assert pair['policy'] == 'anti-affinity' and pair['project_id'] == 'p-vnf' and pair['rules'] == {}
        names = {s.id: s.name for s in telco.servers.values()}
        assert {names[m]: h for m, h in pair['member_hosts'].items()} == {'vnf-a-active': 'compute1',
                                                                          'vnf-a-standby': 'compute2'}
        assert groups['vnf-b']['policy'] == 'soft-affinity'

    def test_subset_keeps_order_and_only_relevant_groups(self, telco):
        result = hi.collect(telco, hosts=['compute2', 'compute1', 'compute2'])
        assert [h['name'] for h in result['hosts']] == ['compute2', 'compute1']
        assert [g['name'] for g in result['server_groups']] == ['vnf-a']

    def test_subset_finds_the_hosts_of_members_elsewhere(self, telco):
        result = hi.collect(telco, hosts=['compute1'])
        pair = result['server_groups'][0]
        assert sorted(pair['member_hosts'].values()) == ['compute1', 'compute2']
        # the standby on compute2 was looked up alone, not by listing compute2 or the whole cloud
        assert [call[1].get('compute_host') for call in calls(telco, 'servers')] == ['compute1']

    def test_subset_with_many_missing_members_lists_everything_once(self, telco, monkeypatch):
        monkeypatch.setattr(hi, 'MEMBER_FETCH_MAX', 0)
        pair = hi.collect(telco, hosts=['compute1'])['server_groups'][0]
        assert sorted(pair['member_hosts'].values()) == ['compute1', 'compute2']
        assert [call[1].get('compute_host') for call in calls(telco, 'servers')] == ['compute1', None]

    def test_member_without_host_is_reported(self, telco):
        ghost = telco.add_server('shelved', None, project_id='p-vnf')
        telco.groups[next(iter(telco.groups))]['members'].append('deleted-server-id')
        telco.groups[next(iter(telco.groups))]['members'].append(ghost.id)
        result = hi.collect(telco, hosts=['compute1'])
        pair = result['server_groups'][0]
        assert pair['member_hosts']['deleted-server-id'] is None
        assert pair['member_hosts'][ghost.id] is None
        assert any('deleted-server-id' in w and ghost.id in w for w in result['warnings'])

    def test_member_lookup_error_other_than_404_fails(self, telco):
        telco.forbidden.add('get_server')
        real = telco.compute.get_server

        def forbidden(server):
            telco.check_forbidden('get_server')
            return real(server)

        telco.compute.get_server = forbidden
        with pytest.raises(EscalatorError) as err:
            hi.collect(telco, hosts=['compute1'])
        assert err.value.code == E_FORBIDDEN and 'server group member' in err.value.msg

    def test_old_microversion_groups_have_policies(self, telco, monkeypatch):
        monkeypatch.setattr(telco.compute, 'server_groups', lambda **query: iter([_server_group.ServerGroup.existing(
            id='g1', name='old', policies=['affinity'], member_ids=[], project_id='p')]))
        assert hi.collect(telco)['server_groups'][0]['policy'] == 'affinity'

    def test_unknown_and_ambiguous_hosts(self, telco):
        with pytest.raises(EscalatorError) as err:
            hi.collect(telco, hosts=['compute1', 'nope'])
        assert err.value.code == E_HOST_NOT_FOUND and 'nope' in err.value.msg
        telco.duplicate_services['compute4'] = 2
        with pytest.raises(EscalatorError) as err:
            hi.collect(telco)
        assert err.value.code == E_HOST_AMBIGUOUS

    def test_hosts_must_be_a_list(self, telco):
        with pytest.raises(EscalatorError) as err:
            hi.collect(telco, hosts='compute1')
        assert err.value.code == E_INVALID_INPUT

    def test_empty_hosts_means_all(self, telco):
        assert len(hi.collect(telco, hosts=[])['hosts']) == 4
        assert len(hi.collect(telco, hosts=[''])['hosts']) == 4

    def test_no_compute_hosts(self, cloud):
        assert hi.collect(cloud) == dict(hosts=[], server_groups=[], warnings=[])

    def test_switches(self, telco):
        result = hi.collect(telco, include_instances=False, include_server_groups=False, include_capacity=False)
        host = result['hosts'][0]
        assert 'instances' not in host and 'capacity' not in host and 'used' not in host and 'free' not in host
        assert host['instance_count'] == 3
        assert result['server_groups'] == []
        assert calls(telco, 'server_groups') == []

    def test_without_server_groups_instances_have_no_group_key(self, telco):
        result = hi.collect(telco, include_server_groups=False)
        assert all('server_groups' not in i for h in result['hosts'] for i in h['instances'])

    def test_warn_callback(self, telco):
        telco.forbidden.add('aggregates')
        seen = []
        result = hi.collect(telco, warn=seen.append)
        assert seen == result['warnings'] and 'aggregates' in seen[0]
        assert all(h['aggregates'] == [] for h in result['hosts'])

    def test_services_forbidden(self, telco):
        telco.forbidden.add('services')
        with pytest.raises(EscalatorError) as err:
            hi.collect(telco)
        assert err.value.code == E_FORBIDDEN


# -- capacity fallbacks ---------------------------------------------------------------

class TestCapacityFallback:
    @pytest.mark.parametrize('fault', ['unreachable', 'error'])
    def test_hypervisor_statistics(self, telco, fault):
        telco.placement_fault = fault
        telco.hypervisor_stats = True
        result = hi.collect(telco)
        host = by_name(result)['compute1']
        assert host['capacity_source'] == 'hypervisor'
        assert host['capacity'] == dict(vcpus=16, memory_mb=32768, disk_gb=200)  # ratios unknown: 1.0
        assert host['used'] == dict(vcpus=4, memory_mb=3584, disk_gb=31)
        assert host['free'] == dict(vcpus=12, memory_mb=29184, disk_gb=169)
        assert host['resources'] == {}
        assert any('Placement is not reachable' in w for w in result['warnings'])

    def test_unavailable(self, telco):
        telco.placement_fault = 'unreachable'
        result = hi.collect(telco)
        host = by_name(result)['compute1']
        assert host['capacity_source'] == 'unavailable'
        assert host['capacity'] is None and host['free'] is None
        assert host['used'] == dict(vcpus=4, memory_mb=3584, disk_gb=31)
        assert any('capacity unknown' in w for w in result['warnings'])

    def test_placement_forbidden(self, telco):
        telco.forbidden.add('resource_providers')
        telco.hypervisor_stats = True
        assert by_name(hi.collect(telco))['compute2']['capacity_source'] == 'hypervisor'

    def test_one_provider_failing(self, telco, monkeypatch):
        real = telco.placement.fetch_resource_provider_usages

        def flaky(provider):
            if provider.name == 'compute3':
                telco.placement_fault = 'error'
                try:
                    return real(provider)
                finally:
                    telco.placement_fault = None
            return real(provider)

        monkeypatch.setattr(telco.placement, 'fetch_resource_provider_usages', flaky)
        telco.hypervisor_stats = True
        result = hi.collect(telco)
        sources = {h['name']: h['capacity_source'] for h in result['hosts']}
        assert sources == dict(compute1='placement', compute2='placement', compute3='hypervisor',
                               compute4='placement')
        assert any(w.startswith('compute3: Placement did not answer') for w in result['warnings'])

    def test_provider_found_by_hypervisor_id(self, telco):
        # In a real cloud the compute node provider's UUID is the hypervisor id (its name may differ).
        telco.hosts['compute1'].provider_id = telco.hosts['compute1'].hypervisor_id
        assert by_name(hi.collect(telco))['compute1']['capacity_source'] == 'placement'

    def test_no_provider(self, telco, monkeypatch):
        real = telco.placement.resource_providers
        monkeypatch.setattr(telco.placement, 'resource_providers',
                            lambda **q: iter([p for p in real(**q) if p.name != 'compute4']))
        result = hi.collect(telco)
        assert by_name(result)['compute4']['capacity_source'] == 'unavailable'
        assert any('compute4: no Placement resource provider' in w for w in result['warnings'])

    def test_placement_capacity_direct(self, telco):
        provider = next(iter(telco.placement.resource_providers(name='compute1')))
        capacity, used, free, resources = host_capacity.placement_capacity(telco, provider)
        assert capacity['vcpus'] == 56 and used['vcpus'] == 4 and free['vcpus'] == 52
        assert set(resources) == {'VCPU', 'MEMORY_MB', 'DISK_GB'}

    def test_placement_error_code(self, telco):
        telco.placement_fault = 'unreachable'
        provider = next(iter(telco.compute.hypervisors()))
        with pytest.raises(EscalatorError) as err:
            host_capacity.placement_capacity(telco, provider)
        assert err.value.code == E_CONNECT


# -- cost on a large cloud -------------------------------------------------------------

def test_one_listing_of_each_for_many_hosts(cloud):
    for index in range(50):
        cloud.add_host('compute%02d' % index)
        group = cloud.add_group('g%d' % index)
        for replica in range(3):
            cloud.add_server('s%d-%d' % (index, replica), 'compute%02d' % ((index + replica) % 50), group=group)
    result = hi.collect(cloud)
    assert len(result['hosts']) == 50
    assert sum(h['instance_count'] for h in result['hosts']) == 150
    assert [call[0] for call in cloud.calls].count('servers') == 1
    assert [call[0] for call in cloud.calls].count('server_groups') == 1
    assert [call[0] for call in cloud.calls].count('services') == 1
    assert [call[0] for call in cloud.calls].count('hypervisors') == 1
    assert [call[0] for call in cloud.calls].count('aggregates') == 1
    assert all(None not in g['member_hosts'].values() for g in result['server_groups'])


def test_few_hosts_are_listed_one_by_one(telco):
    hi.collect(telco, hosts=['compute1', 'compute3'])
    assert [call[1].get('compute_host') for call in calls(telco, 'servers')] == ['compute1', 'compute3']


def test_many_selected_hosts_use_one_listing(telco, monkeypatch):
    monkeypatch.setattr(hi, 'PER_HOST_LISTING_MAX', 1)
    result = hi.collect(telco, hosts=['compute3', 'compute1'])
    assert [call[1].get('compute_host') for call in calls(telco, 'servers')] == [None]
    assert [h['instance_count'] for h in result['hosts']] == [1, 3]
    pair = next(g for g in result['server_groups'] if g['name'] == 'vnf-a')
    assert sorted(pair['member_hosts'].values()) == ['compute1', 'compute2']
    assert not any(c[0] == 'get_server' for c in telco.calls)
