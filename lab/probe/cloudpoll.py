# SPDX-License-Identifier: Apache-2.0
"""The packet probe's view of the cloud: what to probe, and the states that name an outage's cause.

One poll (about once a second) lists the servers, the nova-compute services, the migration records since
the probe started and checks that each host's sshd accepts a TCP connection (all hosts at once, one thread,
non-blocking connects). It records what it saw in a history.History and returns the targets:

* ``vnf:<name>``: the VNF's service address, server metadata ``vnf_service_ip`` of its members;
* ``guest:<server id>``: the server's first IPv4 address in Nova's ``addresses`` (``network``: only that
  network's addresses).
"""

import datetime
import errno
import os
import select
import socket
import time

from probe import parse_time


def changes_since(epoch):
    """Nova's changes-since value (UTC, milliseconds, Z: the form the lab's benchmarks send)."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (moment.microsecond // 1000)


def reachable(addresses, port, timeout):
    """{host: None if a TCP connection to address:port succeeds within timeout, else why not}."""
    result, pending = {}, {}
    for host, address in addresses.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((address, port))
        if code in (0, errno.EINPROGRESS):
            pending[sock] = host
        else:
            result[host] = 'host unreachable (%s:%d: %s)' % (address, port, os.strerror(code))
            sock.close()
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, ready, _ = select.select([], list(pending), [], left)
        for sock in ready:
            host = pending.pop(sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            result[host] = None if code == 0 else 'host unreachable (%s:%d: %s)' % (
                addresses[host], port, os.strerror(code))
            sock.close()
    for sock, host in pending.items():
        result[host] = 'host unreachable (%s:%d: no answer in %.1fs)' % (addresses[host], port, timeout)
        sock.close()
    return result


def first_ipv4(addresses, network=None):
    for net, entries in sorted((addresses or {}).items()):
        if network and net != network:
            continue
        for entry in entries or ():
            if entry.get('version', 4) == 4 and entry.get('addr'):
                return entry['addr']
    return None


class Poller:
    def __init__(self, conn, history, host_addresses, since, ssh_port=22, connect_timeout=0.5,
                 max_heartbeat_age=10.0, guests=True, network=None, vnfs=None):
        self.conn = conn
        self.history = history
        self.host_addresses = host_addresses
        self.since = since
        self.ssh_port = ssh_port
        self.connect_timeout = connect_timeout
        self.max_heartbeat_age = max_heartbeat_age
        self.guests = guests
        self.network = network
        self.only = set(vnfs or ())
        self.migrations_error = None

    def poll(self):
        """Record one look at the cloud; return {key: dict(kind, name, address, server)} to probe."""
        began = time.time()
        servers = list(self.conn.compute.servers(details=True, all_projects=True))
        services = {s.host: s for s in self.conn.compute.services(binary='nova-compute')}
        try:
            migrations = list(self.conn.compute.migrations(changes_since=changes_since(self.since)))
            self.migrations_error = None
        except Exception as exc:  # noqa: BLE001 - causes get poorer, service is still measured
            migrations, self.migrations_error = [], str(exc)[:300]
        hosts = {getattr(s, 'compute_host', None) for s in servers} | set(services)
        hosts.discard(None)
        reach = reachable({h: self.host_addresses[h] for h in hosts if h in self.host_addresses},
                          self.ssh_port, self.connect_timeout)
        t = (began + time.time()) / 2                 # what was seen holds around the middle of the poll
        for host in sorted(hosts):
            service = services.get(host)
            beat = parse_time(getattr(service, 'updated_at', None)) if service is not None else None
            if service is None:
                down = 'no nova-compute service'
            elif service.state != 'up':
                down = 'nova-compute %s' % service.state
            elif beat is None or began - beat > self.max_heartbeat_age:
                down = 'nova-compute heartbeat %s old' % ('unknown' if beat is None else '%.0fs' % (began - beat))
            else:
                down = reach.get(host)
            self.history.host(t, host, down)
        for m in migrations:
            self.history.migration(dict(
                id=m.id, server=getattr(m, 'server_id', None) or getattr(m, 'instance_uuid', None),
                type=getattr(m, 'migration_type', None) or 'migration', status=m.status,
                created=parse_time(getattr(m, 'created_at', None)), updated=parse_time(getattr(m, 'updated_at', None)),
                source=getattr(m, 'source_compute', None), dest=getattr(m, 'dest_compute', None)))
        targets = {}
        for server in servers:
            metadata = server.metadata or {}
            vnf = metadata.get('vnf')
            if self.only and vnf not in self.only:
                vnf = None                            # still probed as a guest, not as a VNF
            self.history.server(t, server.id, name=server.name, status=server.status,
                                host=getattr(server, 'compute_host', None), vnf=vnf,
                                role=metadata.get('escalator_role'), task_state=getattr(server, 'task_state', None))
            if vnf and metadata.get('vnf_service_ip'):
                key = 'vnf:%s' % vnf
                # the active member's word wins when members disagree
                if key not in targets or metadata.get('escalator_role') == 'active':
                    targets[key] = dict(kind='vnf', name=vnf, address=metadata['vnf_service_ip'], server=None)
            address = first_ipv4(server.addresses, self.network) if self.guests else None
            if address:
                targets['guest:%s' % server.id] = dict(kind='guest', name=server.name, address=address,
                                                       server=server.id)
        for name in self.only:
            if 'vnf:%s' % name not in targets:
                targets['vnf:%s' % name] = dict(kind='vnf', name=name, address=None, server=None)
        return targets
