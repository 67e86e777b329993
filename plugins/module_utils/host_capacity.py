# SPDX-License-Identifier: Apache-2.0
"""How much room a compute host has: Placement's inventories and usages first, else the hypervisor statistics
(Nova below microversion 2.88), else only what its instances use; keyed like the planner's input (vcpus,
memory_mb, disk_gb). ``host_info.collect`` adds it to each host."""

from __future__ import annotations

import warnings

from ansible_collections.opnfv.escalator.plugins.module_utils.connection import sdk_call as _call, sdk_list as _list
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError

# Placement resource classes -> the planner's keys.
RESOURCE_KEYS = (('VCPU', 'vcpus'), ('MEMORY_MB', 'memory_mb'), ('DISK_GB', 'disk_gb'))
PLANNER_KEYS = tuple(key for rc, key in RESOURCE_KEYS)

# Hypervisor statistics (only returned by Nova below microversion 2.88) -> the planner's keys.
HYPERVISOR_TOTALS = (('vcpus', 'vcpus'), ('memory_size', 'memory_mb'), ('local_disk_size', 'disk_gb'))
HYPERVISOR_USED = (('vcpus_used', 'vcpus'), ('memory_used', 'memory_mb'), ('local_disk_used', 'disk_gb'))


def to_int(value):
    """A count Nova or Placement reports, 0 when missing or not a number."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def placement_providers(conn):
    """Placement's resource providers, (by id, by name)."""
    providers = _list('listing the Placement resource providers', conn.placement.resource_providers)
    by_id = {provider.id: provider for provider in providers}
    by_name = {provider.name: provider for provider in providers}
    return by_id, by_name


def _find_provider(providers, host, hypervisor):
    """A host's compute node provider: its UUID is the hypervisor's id (Nova >= 2.53), its name
    the hypervisor host name."""
    by_id, by_name = providers
    for key, index in ((hypervisor and hypervisor.id, by_id), (hypervisor and hypervisor.name, by_name),
                       (host, by_name)):
        if key and key in index:
            return index[key]
    return None


def placement_capacity(conn, provider):
    """Capacity of one resource provider from its inventories and usages.

    Returns ``(capacity, used, free, resources)``: the first three keyed vcpus /
    memory_mb / disk_gb, ``resources`` keyed by resource class with total,
    reserved, allocation_ratio, max_unit, capacity, used, free.
    """
    inventories = _list('reading the Placement inventories of %s' % provider.name,
                        conn.placement.resource_provider_inventories, provider)
    usages = _call('reading the Placement usages of %s' % provider.name,
                   conn.placement.fetch_resource_provider_usages, provider).usages or {}
    resources = {}
    for inventory in inventories:
        total, reserved = to_int(inventory.total), to_int(inventory.reserved)
        ratio = float(inventory.allocation_ratio if inventory.allocation_ratio is not None else 1.0)
        capacity = int((total - reserved) * ratio)
        used = to_int(usages.get(inventory.resource_class))
        resources[inventory.resource_class] = dict(
            total=total, reserved=reserved, allocation_ratio=ratio, max_unit=inventory.max_unit,
            capacity=capacity, used=used, free=capacity - used)
    capacity = {key: resources.get(rc, {}).get('capacity', 0) for rc, key in RESOURCE_KEYS}
    used = {key: to_int(usages.get(rc)) for rc, key in RESOURCE_KEYS}
    free = {key: capacity[key] - used[key] for key in capacity}
    return capacity, used, free, resources


def hypervisor_capacity(hypervisors):
    """Capacity from the hypervisors' statistics (Nova < 2.88), or ``None`` when Nova hides them.

    Allocation ratios are unknown here: the raw totals are used (ratio 1.0), which
    is conservative for over-committed CPU.
    """
    if not hypervisors:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the SDK flags these attributes as deprecated
        totals = [{key: getattr(hv, attr, None) for attr, key in HYPERVISOR_TOTALS} for hv in hypervisors]
        useds = [{key: getattr(hv, attr, None) for attr, key in HYPERVISOR_USED} for hv in hypervisors]
    if any(value is None for total in totals for value in total.values()):
        return None
    capacity = {key: sum(to_int(total[key]) for total in totals) for key in PLANNER_KEYS}
    used = {key: sum(to_int(item[key]) for item in useds) for key in PLANNER_KEYS}
    free = {key: capacity[key] - used[key] for key in capacity}
    return capacity, used, free


def instances_usage(instances):
    """What the instances' flavors add up to (vcpus / memory_mb / disk_gb)."""
    return {key: sum(instance[key] for instance in instances) for key in PLANNER_KEYS}


def check_allocations(entry, warn):
    """Warn when Placement's usage of a host is not what its instances add up to."""
    if entry['capacity_source'] != 'placement' or entry['used'] == entry['instances_used']:
        return
    warn('%s: Placement counts %s used, its instances add up to %s: a migration to or from it in progress, '
         'or allocations left behind by a deleted server or a failed migration (nova-manage placement audit '
         'finds them); capacity planning uses Placement\'s figure' % (
             entry['name'], _sizes(entry['used']), _sizes(entry['instances_used'])))


def _sizes(values):
    return ', '.join('%s %s' % (key, values[key]) for key in PLANNER_KEYS)


def host_capacity(conn, name, hypervisors, providers, instances, warn):
    """capacity, used, free, resources, source for one host, trying Placement first."""
    if providers is not None:
        provider = _find_provider(providers, name, hypervisors[0] if hypervisors else None)
        if provider is None:
            warn('%s: no Placement resource provider found for this host, using the hypervisor '
                 'statistics' % name)
        else:
            try:
                capacity, used, free, resources = placement_capacity(conn, provider)
                return dict(capacity=capacity, used=used, free=free, resources=resources,
                            capacity_source='placement')
            except EscalatorError as exc:
                warn('%s: Placement did not answer (%s), using the hypervisor statistics' % (name, exc.msg))
    stats = hypervisor_capacity(hypervisors)
    if stats is not None:
        capacity, used, free = stats
        return dict(capacity=capacity, used=used, free=free, resources={}, capacity_source='hypervisor')
    warn('%s: capacity unknown (Placement unreachable and Nova no longer reports hypervisor '
         'statistics); "used" is the sum of the instances\' flavors' % name)
    used = instances_usage(instances) if instances is not None else None
    return dict(capacity=None, used=used, free=None, resources={}, capacity_source='unavailable')
