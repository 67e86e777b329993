# SPDX-License-Identifier: Apache-2.0
"""Checks the precheck and verify roles run against Nova, from the controller.

* ``precheck(conn, host, ...)`` - the cloud-level health of one host before its upgrade:
  every nova-compute service up (except hosts known to be down), no instance of the host
  in ERROR or in the middle of a task (migrating, resizing ...), and the host's instances
  fit on the other enabled, up hosts. It returns ALL the problems it finds, so the role
  can report them together with the host-level ones.
* ``wait_service(conn, host, since=...)`` - wait until the host's nova-compute is ``up``
  with a heartbeat (``updated_at``) newer than ``since`` and its hypervisor is ``up``.
  A service stopped less than ``service_down_time`` ago still shows ``up``: only a
  heartbeat newer than the restart proves the new process reports to Nova.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, E_SERVICE_DOWN, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import error_from_exception
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import MIGRATABLE_STATUSES
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts

# A server with a task_state is in the middle of something (migrating, resizing, rebuilding ...).
BUSY_STATUSES = ('MIGRATING', 'RESIZE', 'VERIFY_RESIZE', 'REVERT_RESIZE', 'REBUILD', 'BUILD',
                 'HARD_REBOOT', 'REBOOT', 'PASSWORD', 'RESCUE')
DIMS = ('vcpus', 'memory_mb', 'disk_gb')
MOVABLE_STATUSES = MIGRATABLE_STATUSES        # what Nova can move (the planner's one definition)


def parse_time(value):
    """A UTC epoch (float) from an epoch number, an ISO 8601 string (Nova's ``updated_at``
    has no zone and is UTC) or ``None``."""
    if value is None or value == '':
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise EscalatorError('%r is not a time: give seconds since the epoch or an ISO 8601 '
                             'timestamp' % (value,), code=E_INVALID_INPUT) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


# -- precheck -----------------------------------------------------------------

def _fit(instances, hosts):
    """First-fit decreasing of ``instances`` into ``hosts`` ({name: free dict}).

    Returns the instances that found no room (empty list: everything fits)."""
    free = {name: dict(room) for name, room in hosts.items()}
    homeless = []
    for inst in sorted(instances, key=lambda i: tuple(i[d] for d in DIMS), reverse=True):
        for name in sorted(free, key=lambda n: tuple(free[n][d] for d in DIMS), reverse=True):
            room = free[name]
            if all(room[d] >= inst[d] for d in DIMS):
                for d in DIMS:
                    room[d] -= inst[d]
                break
        else:
            homeless.append(inst)
    return homeless


def precheck(conn, host, down_hosts=(), check_services=True, check_instances=True, check_capacity=True):
    """Cloud-level problems that should stop the upgrade of ``host`` (a list of sentences)."""
    return precheck_hosts(conn, [host], down_hosts=down_hosts, check_services=check_services,
                          check_instances=check_instances, check_capacity=check_capacity)[host]


def precheck_hosts(conn, hosts, down_hosts=(), check_services=True, check_instances=True, check_capacity=True):
    """{host: precheck of that host} for several hosts from one look at the cloud: a campaign prechecks all its
    hosts at once, so the cloud is read once, not once per host (the reading is what costs, and it grows with
    the cloud)."""
    data = host_info.collect(conn, include_server_groups=False, include_capacity=check_capacity)
    by_name = {entry['name']: entry for entry in data['hosts']}
    missing = [host for host in hosts if host not in by_name]
    if missing:
        raise EscalatorError('no nova-compute service on host %s; known compute hosts: %s'
                             % (', '.join(repr(h) for h in missing), ', '.join(sorted(by_name)) or 'none'),
                             code='E_HOST_NOT_FOUND', host=missing[0])
    others = _other_services(conn) if check_services else []
    return {host: _precheck_one(data, by_name, others, host, set(down_hosts or ()), check_services, check_instances,
                                check_capacity) for host in hosts}


def _precheck_one(data, by_name, other_services, host, down_hosts,  # pylint: disable=too-many-arguments
                  check_services, check_instances, check_capacity):
    """One host's precheck from the cloud as read once (host_info.collect, the other services)."""
    problems = []
    down = []
    if check_services:
        for entry in data['hosts']:
            if entry['state'] != 'up' and entry['name'] not in down_hosts:
                down.append(entry['name'])
                problems.append('nova-compute on %s is %s (not up): bring it back, or list the host in '
                                'escalator_precheck_down_hosts if it is known to be down'
                                % (entry['name'], entry['state']))
        for service in other_services:
            if service['state'] != 'up' and service['host'] not in down_hosts and service['status'] == 'enabled':
                problems.append('%s on %s is %s (not up)' % (service['binary'], service['host'], service['state']))
    me = by_name[host]
    instances = me.get('instances', [])
    if check_instances:
        problems.extend(_instance_problems(host, instances))
    capacity = None
    if check_capacity:
        capacity, problem = _capacity(host, data['hosts'], instances, set(down_hosts) | set(down))
        if problem:
            problems.append(problem)
    summary = {k: me.get(k) for k in ('name', 'zone', 'state', 'status', 'disabled_reason')}
    return dict(problems=problems, host=summary, instances=instances, capacity=capacity,
                warnings=data.get('warnings', []))


def _instance_problems(host, instances):
    """The instances of ``host`` the evacuation could not move now: in ERROR, busy, or neither live nor cold."""
    problems = []
    for inst in instances:
        if inst['status'] == 'ERROR':
            problems.append('instance %s (%s) on %s is in ERROR: repair or delete it first, or leave the host '
                            'out (escalator_unhealthy_instances: skip_host)' % (inst['name'], inst['id'], host))
        elif inst['task_state'] or inst['status'] in BUSY_STATUSES:
            problems.append('instance %s (%s) on %s is busy (status %s, task_state %s): wait until it '
                            'finishes' % (inst['name'], inst['id'], host, inst['status'], inst['task_state']))
        elif inst['status'] not in MOVABLE_STATUSES:
            # the evacuation would stop on it mid-campaign, after the host was disabled and half emptied
            problems.append('instance %s (%s) on %s is %s: Nova can move it neither live nor cold; resume or '
                            'start it first, or leave the host out (escalator_unhealthy_instances: skip_host)'
                            % (inst['name'], inst['id'], host, inst['status']))
    return problems


def _capacity(host, hosts, instances, down):
    """(the capacity figures, a problem or None): do the instances of ``host`` fit on the other enabled hosts."""
    targets = {}
    unknown = []
    for entry in hosts:
        if entry['name'] == host or entry['name'] in down:
            continue
        if entry['state'] != 'up' or entry['status'] != 'enabled':
            continue
        if entry.get('free') is None:
            unknown.append(entry['name'])
            continue
        targets[entry['name']] = {d: entry['free'].get(d) or 0 for d in DIMS}
    homeless = _fit(instances, targets)
    capacity = dict(instances=len(instances), targets=sorted(targets), unknown=sorted(unknown),
                    need={d: sum(i[d] for i in instances) for d in DIMS},
                    free={d: sum(t[d] for t in targets.values()) for d in DIMS},
                    homeless=[i['name'] for i in homeless])
    if not homeless:
        return capacity, None
    room = ', '.join('%s (%s vcpus, %s MB, %s GB)' % (i['name'], i['vcpus'], i['memory_mb'], i['disk_gb'])
                     for i in homeless)
    problem = ('the %d instance(s) of %s do not fit on the other enabled hosts (%s): no room for %s; free capacity '
               'first or add hosts' % (len(instances), host, ', '.join(sorted(targets)) or 'none', room))
    return capacity, problem


def _other_services(conn):
    try:
        services = list(conn.compute.services())
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing the compute services') from exc
    return [dict(binary=s.binary, host=s.host, state=s.state, status=s.status) for s in services
            if s.binary != host_info.COMPUTE_BINARY]


# -- wait for nova-compute ------------------------------------------------------

def _snapshot(conn, host):
    service = host_info.find_compute_service(conn, host)
    hypervisor = None
    try:
        for candidate in conn.compute.hypervisors(details=True):
            owner = host_info.hypervisor_host(candidate)
            if owner == host:
                hypervisor = host_info.hypervisor_dict(candidate)
                break
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing the hypervisors') from exc
    return host_info.service_dict(service), hypervisor


def _service_problems(service, hypervisor, since, require_hypervisor):
    problems = []
    if service['state'] != 'up':
        problems.append('nova-compute is %s' % service['state'])
    if service['forced_down']:
        problems.append('nova-compute is forced down')
    beat = parse_time(service['updated_at'])
    if since is not None and (beat is None or beat <= since):
        problems.append('its last heartbeat (%s) is not newer than %s' % (service['updated_at'], format_ts(since)))
    if require_hypervisor:
        if hypervisor is None:
            problems.append('no hypervisor is registered for it')
        elif hypervisor['state'] != 'up':
            problems.append('its hypervisor %s is %s' % (hypervisor['name'], hypervisor['state']))
    return problems


def wait_service(conn, host, since=None, require_hypervisor=True, timeout=300, delay=5,
                 clock=None, sleep=None):
    """Wait until nova-compute on ``host`` is up with a heartbeat newer than ``since`` (epoch)."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    if timeout < 0 or delay <= 0:
        raise EscalatorError('timeout must be >= 0 and delay > 0', code=E_INVALID_INPUT)
    start = clock()
    while True:
        service, hypervisor = _snapshot(conn, host)
        problems = _service_problems(service, hypervisor, since, require_hypervisor)
        waited = clock() - start
        if not problems:
            return dict(service=service, hypervisor=hypervisor, waited=round(waited, 1))
        if waited >= timeout:
            raise EscalatorError(
                'nova-compute on %s is not back after %ds: %s; check the service and its log on the host '
                '(journalctl -u nova-compute) and that it reaches the message queue'
                % (host, timeout, '; '.join(problems)), code=E_SERVICE_DOWN, host=host, service=service,
                hypervisor=hypervisor, problems=problems)
        sleep(delay)
