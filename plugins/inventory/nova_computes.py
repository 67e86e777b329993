# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
name: nova_computes
short_description: The compute hosts of an OpenStack cloud, from Nova's compute services and hypervisors
version_added: 0.1.0
description:
  - One inventory host per nova-compute service. Its name is the service's C(host), the name Nova, the planner and
    every Escalator module use, so a campaign can run on this inventory unchanged.
  - C(ansible_host) is the C(host_ip) of the host's hypervisor (the compute node's C(my_ip) in C(nova.conf)). Replace it
    with O(compose), for example with a management network name built from the host name.
  - "Groups: O(compute_group) (every listed host), C(nova_az_<zone>) per availability zone and C(nova_aggregate_<aggregate>) per
    host aggregate with listed hosts (characters other than letters, digits and C(_) become C(_))."
  - No cell groups - Nova's API tells no one, admins included, which cell a service or hypervisor is in (the cells v2
    host mappings are only in the API database, shown by C(nova-manage cell_v2 list_hosts)). Build them with O(groups)
    or O(keyed_groups) from a naming rule, or add a static inventory file next to this one.
  - "Host variables: C(nova_service_id), C(nova_service_status) (V(enabled)/V(disabled)), C(nova_service_state)
    (V(up)/V(down)), C(nova_disabled_reason), C(nova_forced_down), C(nova_escalator_campaign) (the campaign whose
    maintenance left the host disabled, else null), C(nova_availability_zone), C(nova_aggregates),
    C(nova_hypervisor_hostname), C(nova_hypervisor_type), C(nova_host_ip)."
  - Three API requests per refresh (services, hypervisors, aggregates), with admin credentials. With O(cache), the
    answer is kept in Ansible's inventory cache and the filters apply to it; the C(nova_*) state variables are then
    as old as the cache (Escalator's modules always read Nova again).
  - The configuration file name must end in C(nova_computes.yml) or C(nova_computes.yaml).
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description:
      - The name of this plugin; marks the file as its configuration.
    required: true
    type: str
    choices: [opnfv.escalator.nova_computes]
  clouds_yaml:
    description:
      - The C(clouds.yaml) file that names O(cloud), read instead of the standard locations (what the playbooks'
        C(escalator_clouds_yaml) is to the modules; an inventory is read before any play sets an environment).
    type: path
    env:
      - name: OS_CLIENT_CONFIG_FILE
  compute_group:
    description:
      - The group every listed host joins; the Escalator playbooks run their host plays on V(compute).
      - An empty string adds no such group.
    type: str
    default: compute
  availability_zones:
    description:
      - List only the hosts in one of these availability zones. All zones when empty.
    type: list
    elements: str
    default: []
  aggregates:
    description:
      - List only the hosts in at least one of these host aggregates (by name). All hosts when empty.
      - Refused when the aggregates cannot be read.
    type: list
    elements: str
    default: []
  include_hosts:
    description:
      - List only the hosts whose name matches one of these shell patterns (C(fnmatch), case-sensitive, for example
        V(cmp-r0[12]-*)). All hosts when empty.
    type: list
    elements: str
    default: []
  exclude_hosts:
    description:
      - Leave out the hosts whose name matches one of these shell patterns. Applied after O(include_hosts).
      - A host left out is not upgraded, and a campaign plan that would upgrade it is refused; to keep a host out of a
        campaign but let it receive instances, list it and use C(escalator_exclude_hosts).
    type: list
    elements: str
    default: []
  skip_disabled:
    description:
      - "Leave out the hosts whose nova-compute service is disabled, except those an Escalator campaign disabled (their
        disabled reason is C(escalator:<campaign id>: ...))."
      - Those are always listed - a campaign that stopped half-way leaves its hosts disabled, and resuming it (or
        rolling a host back) needs them in the inventory, since a plan naming a host the inventory does not know is
        refused.
      - The planner skips hosts that someone else disabled anyway; this only keeps them out of the inventory.
    type: bool
    default: false
  wait:
    description:
      - Not used - the inventory only reads.
  timeout:
    description:
      - Not used - the inventory only reads.
notes:
  - Filters apply in this order - O(include_hosts), O(exclude_hosts), O(availability_zones), O(aggregates),
    O(skip_disabled); a host is listed when it passes all of them. O(compose), O(groups) and O(keyed_groups) apply to
    the listed hosts.
  - Several nova-compute services with the same host name (cells, or a stale record) give one host and a warning;
    Escalator refuses to upgrade it (E_HOST_AMBIGUOUS) until the stale service is deleted.
'''

EXAMPLES = r'''
# inventories/mycloud/nova_computes.yml, then: ansible-inventory -i inventories/mycloud --graph
# (the smallest one is the first line alone: the cloud then comes from OS_CLOUD or the OS_* variables)
plugin: opnfv.escalator.nova_computes
cloud: mycloud                              # from clouds.yaml, admin credentials
clouds_yaml: /etc/openstack/clouds.yaml
availability_zones: [az1, az2]
exclude_hosts: ['*-gpu-*']
skip_disabled: true                         # hosts disabled by an Escalator campaign are kept
compose:
  ansible_host: inventory_hostname ~ '.mgmt.example.com'   # instead of the hypervisor's host_ip
keyed_groups:
  - key: inventory_hostname.split('-')[1]   # cmp-r01-01 -> group rack_r01
    prefix: rack
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/escalator-inventory
cache_timeout: 600
'''

import contextlib
import os

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.opnfv.escalator.plugins.module_utils import nova_computes
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import (
    SDK_IMPORT_ERROR, connect, openstack_argument_spec,
)

# The modules' connection options, one home: their argument spec (wait and timeout mean nothing here).
CONNECTION_OPTIONS = tuple(name for name in openstack_argument_spec() if name not in ('wait', 'timeout'))


@contextlib.contextmanager
def _clouds_yaml(path):
    """OS_CLIENT_CONFIG_FILE set to ``path`` while connecting: what openstacksdk reads first, as for the modules."""
    if not path:
        yield
        return
    before = os.environ.get('OS_CLIENT_CONFIG_FILE')
    os.environ['OS_CLIENT_CONFIG_FILE'] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop('OS_CLIENT_CONFIG_FILE', None)
        else:
            os.environ['OS_CLIENT_CONFIG_FILE'] = before


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = 'opnfv.escalator.nova_computes'

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(('nova_computes.yml', 'nova_computes.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        use_cache = self.get_option('cache')
        cache_key = self.get_cache_key(path)
        snapshot = None
        if use_cache and cache:
            try:
                snapshot = self._cache[cache_key]
            except KeyError:
                snapshot = None
            if not isinstance(snapshot, dict) or snapshot.get('version') != nova_computes.SNAPSHOT_VERSION:
                snapshot = None
        if snapshot is None:
            snapshot = self._fetch()
            if use_cache:
                self._cache[cache_key] = snapshot
        self._populate(snapshot)

    def _fetch(self):
        if SDK_IMPORT_ERROR:
            raise AnsibleParserError('the nova_computes inventory needs openstacksdk on the controller: %s'
                                     % SDK_IMPORT_ERROR.strip().splitlines()[-1])
        params = {name: self.get_option(name) for name in CONNECTION_OPTIONS}
        try:
            with _clouds_yaml(self.get_option('clouds_yaml')):
                conn = connect(params)
            try:
                return nova_computes.fetch(conn)
            finally:
                conn.close()
        except EscalatorError as exc:
            raise AnsibleParserError('nova_computes: %s [%s]' % (exc.msg, exc.code)) from None

    def _populate(self, snapshot):
        options = {name: self.get_option(name) for name in nova_computes.OPTION_DEFAULTS}
        try:
            result = nova_computes.build(snapshot, options)
        except EscalatorError as exc:
            raise AnsibleParserError('nova_computes: %s [%s]' % (exc.msg, exc.code)) from None
        for warning in result['warnings']:
            self.display.warning('nova_computes: %s' % warning)
        for name, why in sorted(result['skipped'].items()):
            self.display.vvv('nova_computes: %s left out: %s' % (name, why))
        for group in result['groups']:
            self.inventory.add_group(group)
        strict = self.get_option('strict')
        for name, host_vars in result['hosts'].items():
            self.inventory.add_host(name)
            for key, value in host_vars.items():
                self.inventory.set_variable(name, key, value)
        for group, members in result['groups'].items():
            for name in members:
                self.inventory.add_child(group, name)
        for name in result['hosts']:
            try:
                self._set_composite_vars(self.get_option('compose'), self.inventory.get_host(name).get_vars(), name,
                                         strict=strict)
                # groups and keyed_groups see the composed variables too (fetch_hostvars)
                self._add_host_to_composed_groups(self.get_option('groups'), {}, name, strict=strict)
                self._add_host_to_keyed_groups(self.get_option('keyed_groups'), {}, name, strict=strict)
            except AnsibleParserError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                raise AnsibleParserError('nova_computes: host %s: %s' % (name, to_native(exc))) from exc
