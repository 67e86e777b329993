# SPDX-License-Identifier: Apache-2.0
"""The nova_computes inventory plugin, loaded by Ansible, on the fake cloud: options, constructed, cache."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_AUTH, EscalatorError

LAB_IPS = {'compute%d' % index: '10.213.0.1%d' % index for index in range(1, 5)}


@pytest.fixture
def fake(cloud):
    """compute1..compute4, hypervisors with host_ip; compute1 and compute2 in zone east (aggregate east)."""
    for name in sorted(LAB_IPS):
        cloud.add_host(name)
    cloud.add_aggregate('east', ['compute1', 'compute2'], zone='east')
    listing = cloud.compute.hypervisors

    def hypervisors(details=False, **query):
        result = list(listing(details=details, **query))
        for hypervisor in result:
            hypervisor.host_ip = LAB_IPS.get(hypervisor.name)
        return iter(result)

    cloud.compute.hypervisors = hypervisors
    return cloud


@pytest.fixture
def plugin_module():
    plugin = inventory_loader.get('opnfv.escalator.nova_computes')
    assert plugin is not None, 'the plugin is not found by Ansible'
    return sys.modules[type(plugin).__module__]


@pytest.fixture
def connected(monkeypatch, plugin_module, fake):
    """connect() hands out the fake cloud and records its parameters and OS_CLIENT_CONFIG_FILE at that time."""
    seen = []

    def connect(params):
        seen.append(dict(params, clouds_yaml_env=os.environ.get('OS_CLIENT_CONFIG_FILE')))
        fake.close = lambda: None
        return fake

    monkeypatch.setattr(plugin_module, 'connect', connect)
    return seen


def config(tmp_path, text, name='nova_computes.yml'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def parse(path, cache=True):
    plugin = inventory_loader.get('opnfv.escalator.nova_computes')
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), path, cache=cache)
    try:
        plugin.update_cache_if_changed()        # what Ansible's InventoryManager does after parse
    except AttributeError:
        pass
    return inventory


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


def test_hosts_addresses_groups_and_connection_options(tmp_path, connected, monkeypatch):
    monkeypatch.delenv('OS_CLIENT_CONFIG_FILE', raising=False)
    path = config(tmp_path, '''\
        plugin: opnfv.escalator.nova_computes
        cloud: mycloud
        clouds_yaml: /etc/escalator/clouds.yaml
        region_name: RegionTwo
        ''')
    inventory = parse(path)
    assert sorted(inventory.hosts) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert {name: host.vars['ansible_host'] for name, host in inventory.hosts.items()} == LAB_IPS
    assert members(inventory, 'compute') == ['compute1', 'compute2', 'compute3', 'compute4']
    assert members(inventory, 'nova_az_east') == ['compute1', 'compute2']
    assert members(inventory, 'nova_az_nova') == ['compute3', 'compute4']
    assert members(inventory, 'nova_aggregate_east') == ['compute1', 'compute2']
    assert inventory.hosts['compute1'].vars['nova_aggregates'] == ['east']
    (params,) = connected
    assert (params['cloud'], params['region_name'], params['interface']) == ('mycloud', 'RegionTwo', 'public')
    assert 'wait' not in params and 'timeout' not in params
    # the clouds.yaml is what openstacksdk reads while connecting, and only then
    assert params['clouds_yaml_env'] == '/etc/escalator/clouds.yaml'
    assert 'OS_CLIENT_CONFIG_FILE' not in os.environ


def test_filters_from_the_configuration(tmp_path, connected, fake):
    fake.hosts['compute4'].status = 'disabled'
    fake.hosts['compute4'].disabled_reason = 'escalator:c1: maintenance by Escalator'
    fake.hosts['compute3'].status = 'disabled'
    path = config(tmp_path, '''\
        plugin: opnfv.escalator.nova_computes
        include_hosts: ['compute*']
        exclude_hosts: ['compute1']
        skip_disabled: true
        compute_group: nfvi
        ''')
    inventory = parse(path)
    assert sorted(inventory.hosts) == ['compute2', 'compute4']
    assert members(inventory, 'nfvi') == ['compute2', 'compute4']
    assert inventory.hosts['compute4'].vars['nova_escalator_campaign'] == 'c1'


def test_compose_overrides_ansible_host_and_constructed_groups_see_nova_vars(tmp_path, connected):
    path = config(tmp_path, '''\
        plugin: opnfv.escalator.nova_computes
        compose:
          ansible_host: inventory_hostname ~ '.mgmt.example.com'
        groups:
          first_two: inventory_hostname in ['compute1', 'compute2']
        keyed_groups:
          - key: nova_availability_zone
            prefix: zone
          - key: ansible_host
            prefix: via
        ''')
    inventory = parse(path)
    assert inventory.hosts['compute3'].vars['ansible_host'] == 'compute3.mgmt.example.com'
    assert inventory.hosts['compute3'].vars['nova_host_ip'] == '10.213.0.13'
    assert members(inventory, 'first_two') == ['compute1', 'compute2']
    assert members(inventory, 'zone_east') == ['compute1', 'compute2']
    # keyed groups are built after compose
    assert members(inventory, 'via_compute1_mgmt_example_com') == ['compute1']


def test_values_from_nova_are_never_templated(tmp_path, connected, fake):
    fake.hosts['compute1'].status = 'disabled'
    fake.hosts['compute1'].disabled_reason = "{{ lookup('pipe', 'id') }}"
    path = config(tmp_path, '''\
        plugin: opnfv.escalator.nova_computes
        compose:
          reason_copy: nova_disabled_reason
        ''')
    inventory = parse(path)
    assert inventory.hosts['compute1'].vars['reason_copy'] == "{{ lookup('pipe', 'id') }}"


def test_cache_serves_the_filters_until_refreshed(tmp_path, connected, fake):
    path = config(tmp_path, '''\
        plugin: opnfv.escalator.nova_computes
        cache: true
        cache_plugin: ansible.builtin.jsonfile
        cache_connection: %s
        ''' % (tmp_path / 'cache'))
    assert sorted(parse(path).hosts) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert len(connected) == 1 and os.listdir(str(tmp_path / 'cache'))
    fake.hosts.pop('compute4')
    assert sorted(parse(path).hosts) == ['compute1', 'compute2', 'compute3', 'compute4']    # from the cache
    assert len(connected) == 1
    assert sorted(parse(path, cache=False).hosts) == ['compute1', 'compute2', 'compute3']   # --flush-cache
    assert len(connected) == 2
    assert sorted(parse(path).hosts) == ['compute1', 'compute2', 'compute3']                # the refreshed cache
    assert len(connected) == 2


def test_connection_errors_name_the_code(tmp_path, monkeypatch, plugin_module):
    def refuse(params):
        raise EscalatorError('authenticating: credentials rejected: 401', code=E_AUTH)

    monkeypatch.setattr(plugin_module, 'connect', refuse)
    with pytest.raises(AnsibleParserError, match=r'nova_computes: authenticating: credentials rejected: 401 \[E_AUTH\]'):
        parse(config(tmp_path, 'plugin: opnfv.escalator.nova_computes\n'))


@pytest.mark.parametrize('name,accepted', [('nova_computes.yml', True), ('prod.nova_computes.yaml', True),
                                           ('hosts.yml', False), ('openstack.yml', False)])
def test_verify_file(tmp_path, name, accepted):
    path = config(tmp_path, 'plugin: opnfv.escalator.nova_computes\n', name=name)
    assert inventory_loader.get('opnfv.escalator.nova_computes').verify_file(path) is accepted


def test_the_example_configuration_works(tmp_path, connected, fake):
    """examples/inventory/nova_computes.yml, with the cache moved to a temporary directory."""
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'examples', 'inventory',
                           'nova_computes.yml')
    with open(example, encoding='utf-8') as handle:
        text = handle.read()
    assert 'cache_connection: ~/.cache/escalator-inventory' in text
    text = text.replace('~/.cache/escalator-inventory', str(tmp_path / 'cache'))
    fake.hosts.clear()
    fake.aggregates.clear()
    for name, zone in (('cmp-r01-01', 'az1'), ('cmp-r01-02', 'az1'), ('cmp-r02-01', 'az2'), ('cmp-r02-gpu-1', 'az2'),
                       ('cmp-r03-01', 'az3')):
        fake.add_host(name, zone=zone)
    fake.hosts['cmp-r01-02'].status = 'disabled'
    inventory = parse(config(tmp_path, text))
    assert sorted(inventory.hosts) == ['cmp-r01-01', 'cmp-r02-01']
    assert members(inventory, 'rack_r01') == ['cmp-r01-01'] and members(inventory, 'rack_r02') == ['cmp-r02-01']
    assert connected[0]['cloud'] == 'mycloud' and connected[0]['clouds_yaml_env'] == '/etc/openstack/clouds.yaml'
    assert os.listdir(str(tmp_path / 'cache'))
