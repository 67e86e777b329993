# SPDX-License-Identifier: Apache-2.0
"""An Ansible inventory from Nova: the core of the ``opnfv.escalator.nova_computes`` inventory plugin.

Two steps, so that the plugin can cache what Nova said and apply its filters to the cache:

``fetch(conn)``
    Three listings (nova-compute services, hypervisors with details, host aggregates) turned
    into a plain, JSON-able *snapshot*: the inventory cache stores it as is.
``build(snapshot, options)``
    Pure: the snapshot and the plugin's options -> ``hosts`` ({name: host vars}), ``groups``
    ({group: [hosts]}), ``skipped`` ({name: why}) and ``warnings``.

A host is a nova-compute service; its inventory name is the service's ``host``, the name every
Escalator module and the planner use. ``ansible_host`` is its hypervisor's ``host_ip`` (Nova's
``my_ip`` of that compute node). Groups: ``options['compute_group']`` (every host; ``compute`` by default,
the group the playbooks target), ``nova_az_<zone>`` and ``nova_aggregate_<aggregate>``.

No cell groups: Nova's API does not tell anyone, admins included, which cell a service or a
hypervisor is in (the cells v2 host mappings live in the API database, shown only by
``nova-manage cell_v2 list_hosts``; the cells v1 ``os-cells`` API is gone).

Standard library only in ``build``; ``fetch`` needs an openstacksdk connection (or FakeCloud).
"""

from __future__ import annotations

import fnmatch
import re

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import parse_reason
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.host_info import compute_services
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import sdk_call

# Version of the snapshot's layout: a cache written by another layout is fetched anew.
SNAPSHOT_VERSION = 1

AZ_GROUP_PREFIX = 'nova_az_'
AGGREGATE_GROUP_PREFIX = 'nova_aggregate_'
DEFAULT_GROUP = 'compute'

OPTION_DEFAULTS = dict(compute_group=DEFAULT_GROUP, availability_zones=[], aggregates=[], include_hosts=[],
                       exclude_hosts=[], skip_disabled=False)

_UNSAFE = re.compile(r'[^A-Za-z0-9_]')


def safe_group_name(text):
    """A group name Ansible accepts as is: letters, digits and ``_`` (anything else becomes ``_``)."""
    return _UNSAFE.sub('_', str(text))


def _text(value):
    return None if value is None else str(value)


def _get(obj, key):
    """An attribute of an SDK resource or a key of a dict (hypervisor ``service_details`` is a dict)."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


# -- fetch: Nova -> snapshot ---------------------------------------------------------------------

def _service(service):
    return dict(id=_text(service.id), host=service.host, zone=service.availability_zone,
                status=service.status, state=service.state, disabled_reason=service.disabled_reason,
                forced_down=bool(service.is_forced_down))


def _hypervisor(hypervisor):
    details = hypervisor.service_details
    return dict(id=_text(hypervisor.id), name=hypervisor.name, host_ip=_text(hypervisor.host_ip),
                type=hypervisor.hypervisor_type, service_id=_text(_get(details, 'id')),
                service_host=_get(details, 'host'))


def _aggregate(aggregate):
    return dict(id=_text(aggregate.id), name=aggregate.name, hosts=sorted(aggregate.hosts or []),
                zone=aggregate.availability_zone)


def fetch(conn):
    """What Nova says about its compute hosts, as a plain snapshot (three listings).

    Services and hypervisors need the admin role (E_FORBIDDEN otherwise). Aggregates that
    cannot be read become a warning and no aggregate groups, as in compute_host_info.
    """
    services = [_service(service) for service in compute_services(conn)]
    hypervisors = sdk_call('listing the hypervisors', lambda: [
        _hypervisor(hypervisor) for hypervisor in conn.compute.hypervisors(details=True)])
    warnings = []
    try:
        aggregates = sdk_call('listing the host aggregates', lambda: [
            _aggregate(aggregate) for aggregate in conn.compute.aggregates()])
    except EscalatorError as exc:
        warnings.append('host aggregates are not readable, so there are no aggregate groups: %s' % exc.msg)
        aggregates = None
    return dict(version=SNAPSHOT_VERSION, services=services, hypervisors=hypervisors, aggregates=aggregates,
                warnings=warnings)


# -- build: snapshot + options -> hosts, groups ----------------------------------------------------

def _hypervisors_of(service, hypervisors, shared_name):
    """The hypervisors of one service: by service id; by host name only when no other service has that name."""
    found = [hv for hv in hypervisors if hv['service_id'] is not None and hv['service_id'] == service['id']]
    if not found and not shared_name:
        found = [hv for hv in hypervisors if hv['service_host'] == service['host']]
    return sorted(found, key=lambda hv: hv['name'] or '')


def _host_vars(service, hypervisors, aggregates, warnings):
    name = service['host']
    addresses = sorted({hv['host_ip'] for hv in hypervisors if hv['host_ip']})
    host_vars = dict(
        nova_service_id=service['id'],
        nova_service_status=service['status'],
        nova_service_state=service['state'],
        nova_disabled_reason=service['disabled_reason'],
        nova_forced_down=service['forced_down'],
        # the campaign whose maintenance left this host disabled (None: not disabled by Escalator)
        nova_escalator_campaign=parse_reason(service['disabled_reason']) if service['status'] == 'disabled'
        else None,
        nova_availability_zone=service['zone'],
        nova_aggregates=aggregates,
        nova_hypervisor_hostname=hypervisors[0]['name'] if hypervisors else None,
        nova_hypervisor_type=hypervisors[0]['type'] if hypervisors else None,
        nova_host_ip=addresses[0] if len(addresses) == 1 else None,
    )
    if len(addresses) == 1:
        host_vars['ansible_host'] = addresses[0]
    elif not hypervisors:
        warnings.append('compute host %s has no hypervisor in Nova (not mapped to a cell yet? nova-manage '
                        'cell_v2 discover_hosts): no ansible_host, Ansible connects to the name %s' % (name, name))
    elif not addresses:
        warnings.append('the hypervisor of compute host %s has no host_ip: no ansible_host, Ansible connects to '
                        'the name %s (or set ansible_host with compose)' % (name, name))
    else:
        warnings.append('compute host %s has hypervisors with different host_ip (%s): no ansible_host; set it with '
                        'compose' % (name, ', '.join(addresses)))
    return host_vars


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _why_skipped(name, host_vars, options):
    """Why the filters leave this host out, or None to list it."""
    if options['include_hosts'] and not _matches(name, options['include_hosts']):
        return 'matches no include_hosts pattern'
    if _matches(name, options['exclude_hosts']):
        return 'matches an exclude_hosts pattern'
    if options['availability_zones'] and host_vars['nova_availability_zone'] not in options['availability_zones']:
        return 'availability zone %s is not in availability_zones' % host_vars['nova_availability_zone']
    if options['aggregates'] and not set(host_vars['nova_aggregates']) & set(options['aggregates']):
        return 'in no aggregate of aggregates'
    # A host an Escalator campaign disabled stays listed: a stopped campaign leaves its hosts disabled, and
    # its resume (or rollback) needs them in the inventory (the plan refuses hosts the inventory does not know).
    if (options['skip_disabled'] and host_vars['nova_service_status'] == 'disabled'
            and host_vars['nova_escalator_campaign'] is None):
        return 'nova-compute is disabled (skip_disabled), not by an Escalator campaign: %s' % (
            host_vars['nova_disabled_reason'] or 'no reason given')
    return None


def _options(options):
    merged = dict(OPTION_DEFAULTS)
    merged.update({key: value for key, value in (options or {}).items() if value is not None})
    unknown = sorted(set(merged) - set(OPTION_DEFAULTS))
    if unknown:
        raise EscalatorError('unknown nova_computes option(s): %s' % ', '.join(unknown), code=E_INVALID_INPUT)
    return merged


def build(snapshot, options=None):
    """Hosts, groups, skipped hosts and warnings from a snapshot (see the module docstring).

    ``options``: compute_group, availability_zones, aggregates, include_hosts, exclude_hosts (fnmatch patterns,
    case-sensitive like Nova's host names), skip_disabled. A host is listed when it passes every filter
    that is set; skip_disabled never leaves out a host an Escalator campaign disabled.
    """
    options = _options(options)
    warnings = list(snapshot.get('warnings') or [])
    aggregates = snapshot.get('aggregates')
    if options['aggregates'] and aggregates is None:
        raise EscalatorError('the aggregates filter is set but the host aggregates cannot be read (see the warning '
                             'above): use credentials with the admin role, or filter by availability_zones or '
                             'include_hosts', code=E_INVALID_INPUT, warnings=warnings)
    membership = {}
    for aggregate in aggregates or []:
        for host in aggregate['hosts']:
            membership.setdefault(host, set()).add(aggregate['name'])
    if options['aggregates']:
        known = {aggregate['name'] for aggregate in aggregates}
        for name in sorted(set(options['aggregates']) - known):
            warnings.append('aggregates names %s, which is not a host aggregate of this cloud' % name)

    by_name = {}
    for service in snapshot.get('services') or []:
        by_name.setdefault(service['host'], []).append(service)

    hosts, groups, skipped = {}, {}, {}
    for name in sorted(by_name):
        services = by_name[name]
        if len(services) > 1:
            # several cells with the same host name, or a stale record: Escalator's modules refuse such a host
            # (E_HOST_AMBIGUOUS) until the stale service is deleted; the inventory lists it once, with the first.
            warnings.append('%d nova-compute services are registered for host %s (ids %s): several cells or a stale '
                            'record; the campaign refuses this host until one is deleted (openstack compute '
                            'service delete)' % (len(services), name, ', '.join(str(s['id']) for s in services)))
        service = services[0]
        host_vars = _host_vars(service, _hypervisors_of(service, snapshot.get('hypervisors') or [], len(services) > 1),
                               sorted(membership.get(name, ())), warnings)
        why = _why_skipped(name, host_vars, options)
        if why:
            skipped[name] = why
            continue
        hosts[name] = host_vars
        names = [options['compute_group']] if options['compute_group'] else []
        if host_vars['nova_availability_zone']:
            names.append(AZ_GROUP_PREFIX + safe_group_name(host_vars['nova_availability_zone']))
        names += [AGGREGATE_GROUP_PREFIX + safe_group_name(aggregate) for aggregate in host_vars['nova_aggregates']]
        for group in names:
            groups.setdefault(group, [])
            if name not in groups[group]:
                groups[group].append(name)
    if not hosts:
        warnings.append('no compute host is listed: %s' % (
            'every one is left out by the filters' if skipped else 'Nova has no nova-compute service'))
    return dict(hosts=hosts, groups=groups, skipped=skipped, warnings=warnings)
