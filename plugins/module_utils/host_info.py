# SPDX-License-Identifier: Apache-2.0
"""What is on the compute hosts: services, hypervisors, instances, server groups, and their capacity (computed
in host_capacity.py).

The gathering functions here are shared by compute_host_info, compute_maintenance,
compute_evacuate and the campaign planner. They take an openstacksdk connection
(or the unit tests' FakeCloud) and return plain dicts.

Cost on a large cloud: one nova-compute services listing, one hypervisors
listing, one aggregates listing, one server groups listing and ONE servers
listing for all the hosts (a filtered listing per host when only a few hosts are
asked for); Placement needs one providers listing plus two small requests per
host (inventories and usages), which is what Placement's API offers.

``collect(conn, hosts=None, ...)`` returns, per host, the planner's input
contract::

    {"name", "zone", "aggregates", "state", "status", "disabled_reason",
     "capacity": {"vcpus", "memory_mb", "disk_gb"},   # (total - reserved) * allocation_ratio
     "used": {...}, "instances": [{"id", "name", "project_id", "status", "vcpus",
     "memory_mb", "disk_gb", "server_groups": [ids], ...}], ...}

plus ``server_groups``: [{"id", "name", "project_id", "policy", "members", "member_hosts"}].
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import parse_reason
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_HOST_AMBIGUOUS, E_HOST_NOT_FOUND, E_INVALID_INPUT, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import error_from_exception, sdk_list as _list
from ansible_collections.opnfv.escalator.plugins.module_utils.host_capacity import (
    check_allocations, host_capacity, instances_usage, placement_providers, to_int as _int,
)

COMPUTE_BINARY = 'nova-compute'

# Up to this many hosts, instances are listed with one filtered request per host;
# beyond it, one listing of all the cloud's servers is cheaper than N requests.
PER_HOST_LISTING_MAX = 3

# Missing server group members (on hosts outside the selection) are fetched one by
# one up to this many; beyond it, one listing of all servers is cheaper.
MEMBER_FETCH_MAX = 50


# -- small conversions ------------------------------------------------------

def _get(obj, key, default=None):
    """An attribute of an SDK resource or a key of a dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        value = obj.get(key, default)
    else:
        value = getattr(obj, key, default)
    return default if value is None else value


def _ceil_gb(megabytes):
    return (megabytes + 1023) // 1024


def service_dict(service):
    """The fields of a nova-compute service that Escalator reports."""
    return dict(
        id=service.id,
        host=service.host,
        binary=service.binary,
        zone=service.availability_zone,
        status=service.status,
        state=service.state,
        disabled_reason=service.disabled_reason,
        forced_down=bool(service.is_forced_down),
        updated_at=service.updated_at,
    )


def hypervisor_host(hypervisor):
    """The compute host a hypervisor belongs to: its service's host, else its own name."""
    return _get(hypervisor.service_details, 'host') or hypervisor.name


def hypervisor_dict(hypervisor):
    return dict(
        id=hypervisor.id,
        name=hypervisor.name,
        state=hypervisor.state,
        status=hypervisor.status,
        type=hypervisor.hypervisor_type,
    )


def is_volume_backed(server):
    """A server booted from volume: Nova answers ``"image": ""``; its root disk is not on the host."""
    image = server.image
    return image is not None and not _get(image, 'id')


def instance_dict(server, server_groups=None):
    """One instance with its size as the scheduler counts it.

    ``disk_gb`` is what Placement allocates on the host: root disk (unless booted
    from volume) + ephemeral + swap rounded up to GiB. ``server_groups`` (a list of
    group ids) is only there when given: Nova does not say it in server listings.
    """
    flavor = server.flavor
    swap = _get(flavor, 'swap', 0)
    swap_mb = _int(swap) if not isinstance(swap, str) or swap.isdigit() else 0
    root_gb = 0 if is_volume_backed(server) else _int(_get(flavor, 'disk', 0))
    result = dict(
        id=server.id,
        name=server.name,
        project_id=server.project_id,
        host=server.compute_host,
        status=server.status,
        task_state=server.task_state,
        flavor=_get(flavor, 'original_name') or _get(flavor, 'name'),
        vcpus=_int(_get(flavor, 'vcpus', 0)),
        memory_mb=_int(_get(flavor, 'ram', 0)),
        disk_gb=root_gb + _int(_get(flavor, 'ephemeral', 0)) + _ceil_gb(swap_mb),
        metadata=dict(server.metadata or {}),
    )
    if server_groups is not None:
        result['server_groups'] = list(server_groups)
    return result


# -- services ---------------------------------------------------------------

def _did_you_mean(host, known):
    lowered = host.lower()
    return [name for name in known
            if name.lower() == lowered or name.lower().startswith(lowered + '.')
            or lowered.startswith(name.lower() + '.')]


def _not_found(host, known):
    known = sorted(set(known))
    hints = _did_you_mean(host, known)
    msg = 'no nova-compute service on host %r' % host
    if hints:
        msg += '; did you mean %s? (Nova host names are the services\' "host" field)' % ', '.join(
            repr(name) for name in hints)
    msg += '; known compute hosts: %s' % (', '.join(known) if known else 'none')
    return EscalatorError(msg, code=E_HOST_NOT_FOUND, host=host, known_hosts=known)


def _ambiguous(host, services):
    found = [dict(id=service.id, zone=service.availability_zone, status=service.status, state=service.state)
             for service in services]
    return EscalatorError(
        '%d nova-compute services are registered for host %r (%s): several cells, or a stale service '
        'record; remove the stale one (openstack compute service delete) or rename the host'
        % (len(services), host, ', '.join('id %s in zone %s' % (item['id'], item['zone']) for item in found)),
        code=E_HOST_AMBIGUOUS, host=host, services=found)


def compute_services(conn):
    """All nova-compute services of the cloud (one request)."""
    return _list('listing the nova-compute services', conn.compute.services, binary=COMPUTE_BINARY)


def find_compute_service(conn, host):
    """The one nova-compute service of ``host``.

    Raises E_HOST_NOT_FOUND (naming the known compute hosts) or E_HOST_AMBIGUOUS
    (several services for that host name, e.g. in several cells).
    """
    if not host or not isinstance(host, str):
        raise EscalatorError('a host name is required', code=E_INVALID_INPUT)
    services = _list('looking up the nova-compute service of %s' % host,
                     conn.compute.services, binary=COMPUTE_BINARY, host=host)
    # Nova's database may compare host names case-insensitively: insist on the exact name.
    matching = [service for service in services if service.host == host and service.binary == COMPUTE_BINARY]
    if not matching:
        raise _not_found(host, [service.host for service in compute_services(conn)])
    if len(matching) > 1:
        raise _ambiguous(host, matching)
    return matching[0]


def select_services(services, hosts=None):
    """{host name: service} for the hosts asked for (all when ``hosts`` is empty), in order."""
    by_host = {}
    for service in services:
        by_host.setdefault(service.host, []).append(service)
    names = list(hosts) if hosts else sorted(by_host)
    selected = {}
    for name in names:
        if name in selected:
            continue
        if name not in by_host:
            raise _not_found(name, by_host)
        if len(by_host[name]) > 1:
            raise _ambiguous(name, by_host[name])
        selected[name] = by_host[name][0]
    return selected


# -- instances --------------------------------------------------------------

def list_servers(conn, host=None):
    """Servers of all projects, on one host or everywhere.

    The filter is ``compute_host``: openstacksdk's ``host=`` is silently ignored
    by Nova for these listings and returns nothing.
    """
    query = dict(details=True, all_projects=True)
    if host is not None:
        query['compute_host'] = host
    return _list('listing the servers%s' % (' on %s' % host if host else ''), conn.compute.servers, **query)


def list_instances(conn, host, with_server_groups=False):
    """The instances on ``host`` as dicts (see ``instance_dict``), with their server groups'
    ids when ``with_server_groups`` (one more request)."""
    servers = list_servers(conn, host)
    if not with_server_groups:
        return [instance_dict(server) for server in servers]
    index = groups_by_member(list_server_groups(conn))
    return [instance_dict(server, index.get(server.id, [])) for server in servers]


def list_server_groups(conn):
    """All server groups of all projects (one request), as dicts without member hosts."""
    groups = _list('listing the server groups', conn.compute.server_groups, all_projects=True)
    result = []
    for group in groups:
        policy = group.policy
        if not policy and group.policies:
            policy = group.policies[0]
        result.append(dict(id=group.id, name=group.name, project_id=group.project_id, policy=policy,
                           rules=dict(group.rules or {}), members=list(group.member_ids or [])))
    return result


def groups_by_member(server_groups):
    """{server id: [group ids]} from ``list_server_groups``' result."""
    index = {}
    for group in server_groups:
        for member in group['members']:
            index.setdefault(member, []).append(group['id'])
    return index


# -- everything about some hosts --------------------------------------------

def _aggregates(conn, warn):
    """{host: [aggregate names]} and {host: zone from aggregates}; empty (with a warning) when not allowed."""
    try:
        aggregates = _list('listing the host aggregates', conn.compute.aggregates)
    except EscalatorError as exc:
        warn('host aggregates are not readable, reporting none: %s' % exc.msg)
        return {}
    membership = {}
    for aggregate in aggregates:
        for host in aggregate.hosts or []:
            membership.setdefault(host, []).append(aggregate.name)
    return {host: sorted(names) for host, names in membership.items()}


def _servers_by_host(conn, names):
    """{host: [Server]} for the selected hosts, and {server id: host} for every server of the
    cloud when the whole cloud was listed (``None`` otherwise)."""
    if len(names) <= PER_HOST_LISTING_MAX:
        return {name: list_servers(conn, name) for name in names}, None
    by_host = {name: [] for name in names}
    everywhere = {}
    for server in list_servers(conn):
        everywhere[server.id] = server.compute_host
        if server.compute_host in by_host:
            by_host[server.compute_host].append(server)
    return by_host, everywhere


def _member_hosts(conn, groups, known_hosts, complete, warn):
    """Fill each group's ``member_hosts`` ({member: host or None}).

    ``known_hosts`` is {server id: host} of the servers listed so far; unless
    ``complete``, the other members are looked up (one by one when few).
    """
    missing = sorted({member for group in groups for member in group['members'] if member not in known_hosts})
    if missing and not complete:
        if len(missing) > MEMBER_FETCH_MAX:
            known_hosts.update({server.id: server.compute_host for server in list_servers(conn)})
        else:
            for member in missing:
                try:
                    server = conn.compute.get_server(member)
                except Exception as exc:  # pylint: disable=broad-except
                    error = error_from_exception(exc, during='reading server group member %s' % member)
                    if error.details.get('status_code') != 404:
                        raise error from exc
                    continue
                known_hosts[member] = server.compute_host
    for group in groups:
        group['member_hosts'] = {member: known_hosts.get(member) for member in group['members']}
        gone = [member for member in group['members'] if known_hosts.get(member) is None]
        if gone:
            warn('server group %s (%s): no host known for member(s) %s (deleted, shelved or never scheduled)'
                 % (group['name'], group['id'], ', '.join(gone)))


def _host_entry(service, aggregates, hypervisors, instances):
    """What collect says of one host before its instances and capacity."""
    return dict(
        name=service.host,
        zone=service.availability_zone,
        aggregates=aggregates,
        state=service.state,
        status=service.status,
        disabled_reason=service.disabled_reason,
        forced_down=bool(service.is_forced_down),
        escalator_campaign=parse_reason(service.disabled_reason),
        service=service_dict(service),
        hypervisor=hypervisor_dict(hypervisors[0]) if hypervisors else None,
        instance_count=len(instances),
    )


def collect(conn, hosts=None, include_instances=True, include_server_groups=True, include_capacity=True,
            warn=None):
    """Everything the planner needs about ``hosts`` (all compute hosts when empty).

    Returns ``{"hosts": [host dicts], "server_groups": [group dicts], "warnings": [str]}``.
    ``warn`` (optional) is called with each warning as well.
    """
    collected_warnings = []

    def _warn(message):
        collected_warnings.append(message)
        if warn:
            warn(message)

    if hosts is not None and not isinstance(hosts, (list, tuple)):
        raise EscalatorError('hosts must be a list of host names', code=E_INVALID_INPUT)
    services = select_services(compute_services(conn), [h for h in (hosts or []) if h] or None)
    names = list(services)

    hypervisors = {}
    for hypervisor in _list('listing the hypervisors', conn.compute.hypervisors, details=True):
        hypervisors.setdefault(hypervisor_host(hypervisor), []).append(hypervisor)
    aggregates = _aggregates(conn, _warn)

    servers, everywhere = _servers_by_host(conn, names) if names else ({}, None)

    groups = list_server_groups(conn) if include_server_groups else []
    member_index = groups_by_member(groups)

    providers = None
    if include_capacity and names:
        try:
            providers = placement_providers(conn)
        except EscalatorError as exc:
            _warn('Placement is not reachable (%s): capacity comes from the hypervisor statistics' % exc.msg)

    result_hosts = []
    for name in names:
        instances = [instance_dict(server, member_index.get(server.id, []) if include_server_groups else None)
                     for server in servers.get(name, [])]
        entry = _host_entry(services[name], aggregates.get(name, []), hypervisors.get(name, []), instances)
        if include_instances:
            entry['instances'] = instances
        if include_capacity:
            entry.update(host_capacity(conn, name, hypervisors.get(name, []), providers, instances, _warn))
            entry['instances_used'] = instances_usage(instances)
            check_allocations(entry, _warn)
        result_hosts.append(entry)

    if include_server_groups:
        on_selected = {server.id: name for name, listed in servers.items() for server in listed}
        if hosts:
            # Only the groups with a member on the selected hosts constrain them.
            groups = [group for group in groups if any(member in on_selected for member in group['members'])]
        known = dict(everywhere if everywhere is not None else on_selected)
        _member_hosts(conn, groups, known, everywhere is not None or not hosts, _warn)

    return dict(hosts=result_hosts, server_groups=groups, warnings=collected_warnings)
