# SPDX-License-Identifier: Apache-2.0
"""The nova_computes inventory core against the fake cloud: hosts, addresses, groups, filters, snapshot."""

from __future__ import annotations

import json

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import nova_computes as nc
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_FORBIDDEN, E_INVALID_INPUT, EscalatorError,
)

LAB_IPS = {'compute%d' % index: '10.213.0.1%d' % index for index in range(1, 5)}


def with_host_ips(cloud, ips):
    """The fake cloud's hypervisors carry ``host_ip`` (Nova's my_ip of the compute node) from ``ips``."""
    listing = cloud.compute.hypervisors

    def hypervisors(details=False, **query):
        result = []
        for hypervisor in listing(details=details, **query):
            hypervisor.host_ip = ips.get(hypervisor.name)
            result.append(hypervisor)
        return iter(result)

    cloud.compute.hypervisors = hypervisors
    return cloud


@pytest.fixture
def lab(cloud):
    """The lab's shape: compute1..compute4 in zone nova, each hypervisor with its address."""
    for name in sorted(LAB_IPS):
        cloud.add_host(name)
    return with_host_ips(cloud, LAB_IPS)


def inventory(cloud, **options):
    return nc.build(nc.fetch(cloud), options)


def test_lab_hosts_addresses_and_groups(lab):
    result = inventory(lab)
    assert sorted(result['hosts']) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert {name: host['ansible_host'] for name, host in result['hosts'].items()} == LAB_IPS
    assert result['groups'] == {'compute': ['compute1', 'compute2', 'compute3', 'compute4'],
                                'nova_az_nova': ['compute1', 'compute2', 'compute3', 'compute4']}
    assert result['skipped'] == {} and result['warnings'] == []
    host = result['hosts']['compute1']
    assert host['nova_service_id'] == lab.hosts['compute1'].service_id
    assert (host['nova_service_status'], host['nova_service_state'], host['nova_disabled_reason']) == (
        'enabled', 'up', None)
    assert host['nova_forced_down'] is False and host['nova_escalator_campaign'] is None
    assert (host['nova_hypervisor_hostname'], host['nova_hypervisor_type'], host['nova_host_ip']) == (
        'compute1', 'fake', '10.213.0.11')
    assert host['nova_availability_zone'] == 'nova' and host['nova_aggregates'] == []


def test_three_listings_whatever_the_cloud_size(cloud):
    for index in range(50):
        cloud.add_host('cmp%03d' % index)
    nc.fetch(cloud)
    assert sorted(call[0] for call in cloud.calls) == ['aggregates', 'hypervisors', 'services']


def test_no_variable_is_an_escalator_setting(lab):
    """campaign_settings refuses unknown escalator_* variables on inventory hosts: the plugin sets none."""
    for host in inventory(lab)['hosts'].values():
        assert not [key for key in host if key.startswith('escalator')]


def test_zones_and_aggregates_become_groups_with_safe_names(lab):
    lab.add_aggregate('az-east.1', ['compute1', 'compute2'], zone='east-1')
    lab.add_aggregate('rack 7/a', ['compute2', 'compute3'])
    lab.add_aggregate('escalator-campaign-lock', [])      # the campaign lock: no hosts, no group
    result = inventory(lab)
    groups = result['groups']
    assert groups['nova_az_east_1'] == ['compute1', 'compute2']
    assert groups['nova_az_nova'] == ['compute3', 'compute4']
    assert groups['nova_aggregate_az_east_1'] == ['compute1', 'compute2']
    assert groups['nova_aggregate_rack_7_a'] == ['compute2', 'compute3']
    assert not [name for name in groups if 'lock' in name]
    assert result['hosts']['compute2']['nova_aggregates'] == ['az-east.1', 'rack 7/a']
    assert result['hosts']['compute2']['nova_availability_zone'] == 'east-1'


def test_name_patterns(lab):
    result = inventory(lab, include_hosts=['compute[12]', 'compute4'], exclude_hosts=['*2'])
    assert sorted(result['hosts']) == ['compute1', 'compute4']
    assert result['skipped'] == {'compute2': 'matches an exclude_hosts pattern',
                                 'compute3': 'matches no include_hosts pattern'}
    assert result['groups']['compute'] == ['compute1', 'compute4']
    # Nova's host names are case-sensitive for Escalator (the modules insist on the exact name)
    assert inventory(lab, include_hosts=['COMPUTE*'])['hosts'] == {}


def test_zone_and_aggregate_filters(lab):
    lab.add_aggregate('east', ['compute1', 'compute2'], zone='east')
    lab.add_aggregate('wave-1', ['compute2', 'compute3'])
    assert sorted(inventory(lab, availability_zones=['east'])['hosts']) == ['compute1', 'compute2']
    assert sorted(inventory(lab, aggregates=['wave-1'])['hosts']) == ['compute2', 'compute3']
    both = inventory(lab, availability_zones=['east'], aggregates=['wave-1', 'nowhere'])
    assert sorted(both['hosts']) == ['compute2']
    assert both['skipped']['compute3'] == 'availability zone nova is not in availability_zones'
    assert both['skipped']['compute1'] == 'in no aggregate of aggregates'
    assert 'aggregates names nowhere, which is not a host aggregate of this cloud' in both['warnings']


def test_skip_disabled_keeps_the_hosts_an_escalator_campaign_disabled(lab):
    lab.hosts['compute2'].status = 'disabled'
    lab.hosts['compute2'].disabled_reason = 'broken fan, ticket 4711'
    lab.hosts['compute3'].status = 'disabled'
    lab.hosts['compute3'].disabled_reason = 'escalator:2026-11-kernel: maintenance by Escalator'
    lab.hosts['compute4'].status = 'disabled'           # no reason at all: someone else's
    everything = inventory(lab)
    assert sorted(everything['hosts']) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert everything['hosts']['compute3']['nova_escalator_campaign'] == '2026-11-kernel'
    assert everything['hosts']['compute2']['nova_escalator_campaign'] is None

    result = inventory(lab, skip_disabled=True)
    # compute3 must stay: resuming the stopped campaign needs it in the inventory
    assert sorted(result['hosts']) == ['compute1', 'compute3']
    assert result['skipped'] == {
        'compute2': 'nova-compute is disabled (skip_disabled), not by an Escalator campaign: broken fan, ticket 4711',
        'compute4': 'nova-compute is disabled (skip_disabled), not by an Escalator campaign: no reason given'}


def test_an_enabled_host_with_a_stale_escalator_reason_is_not_in_maintenance(lab):
    lab.hosts['compute1'].disabled_reason = 'escalator:old: maintenance by Escalator'
    assert inventory(lab)['hosts']['compute1']['nova_escalator_campaign'] is None


def test_a_host_without_a_hypervisor_or_host_ip_has_no_ansible_host(cloud):
    cloud.add_host('compute1')
    cloud.add_host('compute2')
    with_host_ips(cloud, {})
    listing = cloud.compute.hypervisors
    cloud.compute.hypervisors = lambda details=False, **query: iter(
        [hv for hv in listing(details=details, **query) if hv.name != 'compute2'])
    result = inventory(cloud)
    assert sorted(result['hosts']) == ['compute1', 'compute2']
    assert 'ansible_host' not in result['hosts']['compute1'] and 'ansible_host' not in result['hosts']['compute2']
    assert result['hosts']['compute2']['nova_hypervisor_hostname'] is None
    text = ' '.join(result['warnings'])
    assert 'the hypervisor of compute host compute1 has no host_ip' in text
    assert 'compute host compute2 has no hypervisor in Nova' in text and 'discover_hosts' in text


def test_several_services_with_one_host_name_give_one_host_and_a_warning(lab):
    lab.duplicate_services['compute2'] = 2
    result = inventory(lab)
    assert sorted(result['hosts']) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert result['groups']['compute'].count('compute2') == 1
    assert any('2 nova-compute services are registered for host compute2' in warning
               and 'refuses this host' in warning for warning in result['warnings'])
    # the hypervisor is matched by service id, not by the shared name
    assert result['hosts']['compute2']['ansible_host'] == '10.213.0.12'


def test_hypervisors_with_different_addresses_leave_ansible_host_to_compose():
    snapshot = dict(version=nc.SNAPSHOT_VERSION, aggregates=[], warnings=[], services=[
        dict(id='s1', host='ironic1', zone='nova', status='enabled', state='up', disabled_reason=None,
             forced_down=False)], hypervisors=[
        dict(id='h1', name='node-a', host_ip='192.0.2.1', type='ironic', service_id='s1', service_host='ironic1'),
        dict(id='h2', name='node-b', host_ip='192.0.2.2', type='ironic', service_id='s1', service_host='ironic1')])
    result = nc.build(snapshot)
    assert 'ansible_host' not in result['hosts']['ironic1']
    assert result['hosts']['ironic1']['nova_hypervisor_hostname'] == 'node-a'
    assert any('different host_ip (192.0.2.1, 192.0.2.2)' in warning for warning in result['warnings'])


def test_unreadable_aggregates_are_a_warning_unless_filtered_on(lab):
    lab.add_aggregate('wave-1', ['compute1'])
    lab.forbidden.add('aggregates')
    snapshot = nc.fetch(lab)
    assert snapshot['aggregates'] is None
    result = nc.build(snapshot)
    assert sorted(result['hosts']) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert not [name for name in result['groups'] if name.startswith('nova_aggregate_')]
    assert any('host aggregates are not readable' in warning for warning in result['warnings'])
    with pytest.raises(EscalatorError) as caught:
        nc.build(snapshot, dict(aggregates=['wave-1']))
    assert caught.value.code == E_INVALID_INPUT and 'cannot be read' in caught.value.msg


def test_services_need_the_admin_role(lab):
    lab.forbidden.add('services')
    with pytest.raises(EscalatorError) as caught:
        nc.fetch(lab)
    assert caught.value.code == E_FORBIDDEN
    assert 'listing the nova-compute services' in caught.value.msg


def test_the_snapshot_survives_a_json_cache(lab):
    lab.add_aggregate('wave-1', ['compute1'], zone='east')
    lab.hosts['compute3'].status = 'disabled'
    lab.hosts['compute3'].disabled_reason = 'escalator:c1: maintenance by Escalator'
    snapshot = nc.fetch(lab)
    copy = json.loads(json.dumps(snapshot))
    assert copy == snapshot
    assert nc.build(copy, dict(skip_disabled=True)) == nc.build(snapshot, dict(skip_disabled=True))


def test_compute_group_name_or_none(lab):
    assert sorted(inventory(lab, compute_group='nfvi_computes')['groups']) == ['nfvi_computes', 'nova_az_nova']
    assert sorted(inventory(lab, compute_group='')['groups']) == ['nova_az_nova']


def test_empty_results_say_why(lab, cloud):
    result = inventory(lab, include_hosts=['nothing*'])
    assert result['hosts'] == {} and 'every one is left out by the filters' in result['warnings'][-1]
    lab.hosts.clear()
    assert 'Nova has no nova-compute service' in inventory(lab)['warnings'][-1]


def test_unknown_option_is_refused(lab):
    with pytest.raises(EscalatorError) as caught:
        inventory(lab, skip_down=True)
    assert caught.value.code == E_INVALID_INPUT and 'skip_down' in caught.value.msg


@pytest.mark.parametrize('text,expected', [('nova', 'nova'), ('az-1.b', 'az_1_b'), ('r 7/a', 'r_7_a'),
                                           ('Zone_2', 'Zone_2')])
def test_safe_group_name(text, expected):
    assert nc.safe_group_name(text) == expected
