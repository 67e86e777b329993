#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Service-continuity probe: does every VNF have a healthy active instance, right now?

Several times a second it asks the cloud (as admin) and the hosts, and decides per VNF
(servers with metadata ``vnf: <name>``) whether some server is

* the VNF's active (metadata ``escalator_role: active``),
* running: status ACTIVE, or MIGRATING (a live migration keeps the VM running),
* on a host whose nova-compute service is ``up`` with a heartbeat (``updated_at``)
  younger than ``--max-heartbeat-age`` seconds,
* on a host that answers: a TCP connection to its sshd on the lab bridge address
  succeeds within ``--connect-timeout``.

A VNF without such a server is in outage. The probe writes, in ``--out``:

* ``events.jsonl``: one JSON line per change of a VNF (``outage_start`` with the
  reason, ``outage_end`` with its duration), and ``probe_error`` lines when a sample
  could not be taken (those periods are counted as ``unknown``, not as service);
* ``summary.json`` (rewritten every second and at exit): per VNF the outage
  intervals, total outage seconds, unknown seconds, samples; and the sample rate.

It is deliberately strict in what it trusts: it never assumes a host is fine
because Nova says so (the TCP check catches a host that is powered off long before
Nova notices), and a sample that fails is never counted as healthy.

With real guests (the lab's ``guests: real`` mode, or ``--mode packets``) service is measured from packets
instead: packet_probe.py (docs/lab.md, "Packet probe"). ``--mode api`` keeps this check on any lab.

Usage (stdlib + openstacksdk)::

  probe.py start --out /var/lib/escalator-lab/probe/run1 [--interval 0.2]
  probe.py stop --out /var/lib/escalator-lab/probe/run1     # writes the final summary
  probe.py run --out DIR --duration 60                       # foreground
"""

import argparse
import datetime
import json
import os
import signal
import socket
import sys
import threading
import time

DEFAULT_STATE_DIR = '/var/lib/escalator-lab'
LAB_SRC = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
RUNNING = ('ACTIVE', 'MIGRATING')


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec='milliseconds')


def parse_time(value):
    if not value:
        return None
    stamp = datetime.datetime.fromisoformat(str(value).replace('Z', ''))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def host_addresses(inventory):
    """{host name: address} from the lab's Ansible inventory (hosts.yml)."""
    import yaml   # installed with openstacksdk
    with open(inventory) as handle:
        data = yaml.safe_load(handle)
    result = {}

    def walk(group):
        for name, variables in ((group or {}).get('hosts') or {}).items():
            result[name] = (variables or {}).get('ansible_host', name)
        for child in ((group or {}).get('children') or {}).values():
            walk(child)

    walk((data or {}).get('all'))
    return result


def tcp_ok(address, port, timeout):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class Probe:
    def __init__(self, conn, addresses, args, vnfs=None):
        self.conn = conn
        self.addresses = addresses
        self.args = args
        self.only = set(vnfs or [])
        self.state = {}             # vnf -> dict(healthy, since, reason)
        self.intervals = {}         # vnf -> [dict(start, end, seconds, reason)]
        self.unknown = 0.0
        self.samples = 0
        self.errors = 0
        self.started = time.time()
        self.last_sample = None
        self.events = open(os.path.join(args.out, 'events.jsonl'), 'a', buffering=1)

    def emit(self, **event):
        self.events.write(json.dumps(event, sort_keys=True) + '\n')

    def hosts_health(self, names, now):
        services = {s.host: s for s in self.conn.compute.services(binary='nova-compute')}
        health = {}

        def check(name):
            service = services.get(name)
            if service is None:
                health[name] = 'no nova-compute service'
                return
            if service.state != 'up':
                health[name] = 'nova-compute %s' % service.state
                return
            beat = parse_time(service.updated_at)
            if beat is None or now - beat > self.args.max_heartbeat_age:
                health[name] = 'nova-compute heartbeat %s old' % (
                    'unknown' if beat is None else '%.0fs' % (now - beat))
                return
            address = self.addresses.get(name)
            if address is None:
                health[name] = 'address unknown'
                return
            if not tcp_ok(address, self.args.ssh_port, self.args.connect_timeout):
                health[name] = 'host unreachable (%s:%d)' % (address, self.args.ssh_port)
                return
            health[name] = None

        threads = [threading.Thread(target=check, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return health

    def sample(self):
        now = time.time()
        servers = [s for s in self.conn.compute.servers(details=True, all_projects=True)
                   if (s.metadata or {}).get('vnf')]
        vnfs = {}
        for server in servers:
            name = server.metadata['vnf']
            if not self.only or name in self.only:
                vnfs.setdefault(name, []).append(server)
        for name in self.only - set(vnfs):
            vnfs[name] = []
        hosts = {getattr(s, 'compute_host', None) for group in vnfs.values() for s in group} - {None}
        health = self.hosts_health(sorted(hosts), now)
        taken = time.time()
        result = {}
        for name, group in vnfs.items():
            actives = [s for s in group if s.metadata.get('escalator_role') == 'active']
            reasons = []
            healthy = False
            for server in actives:
                host = getattr(server, 'compute_host', None)
                if server.status not in RUNNING:
                    reasons.append('%s is %s' % (server.name, server.status))
                elif health.get(host, 'no host') is not None:
                    reasons.append('%s on %s: %s' % (server.name, host, health.get(host, 'no host')))
                else:
                    healthy = True
            if not actives:
                reasons.append('no server has escalator_role active')
            result[name] = (healthy, '; '.join(reasons), [dict(name=s.name, host=getattr(s, 'compute_host', None),
                                                               status=s.status) for s in actives])
        return now, taken, result

    def step(self):
        try:
            now, taken, result = self.sample()
        except Exception as exc:  # noqa: BLE001 - an API hiccup is recorded, never counted as service
            now = time.time()
            if self.last_sample is not None:
                self.unknown += now - self.last_sample
            self.errors += 1
            self.emit(kind='probe_error', at=iso(now), error=str(exc)[:300])
            self.last_sample = None
            return
        # the sample describes the moment the answers were collected; attribute it to `taken`
        self.samples += 1
        self.last_sample = taken
        for name, (healthy, reason, actives) in result.items():
            previous = self.state.get(name)
            if previous is None:
                self.state[name] = dict(healthy=healthy, since=taken, reason=reason)
                self.intervals.setdefault(name, [])
                self.emit(kind='first_sample', vnf=name, at=iso(taken), healthy=healthy, reason=reason,
                          actives=actives)
                if not healthy:
                    self.intervals[name].append(dict(start=taken, end=None, reason=reason))
                    self.emit(kind='outage_start', vnf=name, at=iso(taken), reason=reason, actives=actives)
                continue
            if previous['healthy'] and not healthy:
                self.intervals[name].append(dict(start=taken, end=None, reason=reason))
                self.emit(kind='outage_start', vnf=name, at=iso(taken), reason=reason, actives=actives)
            elif not previous['healthy'] and healthy:
                interval = self.intervals[name][-1]
                interval['end'] = taken
                self.emit(kind='outage_end', vnf=name, at=iso(taken), seconds=round(taken - interval['start'], 3),
                          reason=interval['reason'], actives=actives)
            previous.update(healthy=healthy, since=taken if previous['healthy'] != healthy else previous['since'],
                            reason=reason)

    def summary(self, final=False):
        now = self.last_sample or time.time()
        elapsed = max(1e-9, now - self.started)
        vnfs = {}
        for name, intervals in self.intervals.items():
            listed = []
            total = 0.0
            for interval in intervals:
                end = interval['end'] if interval['end'] is not None else now
                total += end - interval['start']
                listed.append(dict(start=iso(interval['start']), end=iso(end) if interval['end'] is not None else None,
                                   seconds=round(end - interval['start'], 3), reason=interval['reason']))
            vnfs[name] = dict(outage_seconds=round(total, 3), outages=listed,
                              healthy_now=self.state.get(name, {}).get('healthy'))
        return dict(started=iso(self.started), last_sample=iso(now), final=final, samples=self.samples,
                    errors=self.errors, unknown_seconds=round(self.unknown, 3),
                    samples_per_second=round(self.samples / elapsed, 2), interval=self.args.interval,
                    max_heartbeat_age=self.args.max_heartbeat_age, vnfs=vnfs)

    def write_summary(self, final=False):
        path = os.path.join(self.args.out, 'summary.json')
        with open(path + '.tmp', 'w') as handle:
            json.dump(self.summary(final), handle, indent=2, sort_keys=True)
        os.replace(path + '.tmp', path)


def lab_guests_mode():
    """'real' or 'fake': the lab's guests setting (the lab's own answer when it has one)."""
    if LAB_SRC not in sys.path:
        sys.path.insert(0, LAB_SRC)
    try:
        from escalator_lab import common
        if hasattr(common, 'guests_mode'):
            return common.guests_mode()
        return common.settings().get('guests', 'fake')
    except Exception:  # noqa: BLE001 - no lab here: nothing but the API can be probed
        return 'fake'


def probe_mode(args):
    if args.mode != 'auto':
        return args.mode
    return 'packets' if lab_guests_mode() == 'real' else 'api'


def serve(args):
    import openstack
    os.makedirs(args.out, exist_ok=True)
    os.environ['OS_CLIENT_CONFIG_FILE'] = args.clouds
    conn = openstack.connect(cloud=args.cloud, api_timeout=5)
    addresses = host_addresses(args.inventory)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with open(os.path.join(args.out, 'probe.pid'), 'w') as handle:
        handle.write('%d\n' % os.getpid())
    if probe_mode(args) == 'packets':
        import packet_probe
        try:
            return packet_probe.PacketProbe(args, conn, addresses).run(stop, args.duration)
        finally:
            try:
                os.unlink(os.path.join(args.out, 'probe.pid'))
            except OSError:
                pass
    probe = Probe(conn, addresses, args, vnfs=[v for v in (args.vnfs or '').split(',') if v])
    deadline = time.time() + args.duration if args.duration else None
    last_summary = 0.0
    try:
        while not stop.is_set() and (deadline is None or time.time() < deadline):
            began = time.time()
            probe.step()
            if time.time() - last_summary >= 1.0:
                probe.write_summary()
                last_summary = time.time()
            stop.wait(max(0.0, args.interval - (time.time() - began)))
    finally:
        probe.write_summary(final=True)
        probe.events.close()
        try:
            os.unlink(os.path.join(args.out, 'probe.pid'))
        except OSError:
            pass
    return 0


def running_pid(out):
    try:
        with open(os.path.join(out, 'probe.pid')) as handle:
            pid = int(handle.read())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start(args):
    if running_pid(args.out):
        print('probe already running in %s (pid %d)' % (args.out, running_pid(args.out)))
        return 0
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, 'probe.log')
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        try:
            os._exit(serve(args))
        except BaseException:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            os._exit(1)
    os.waitpid(child, 0)
    deadline = time.time() + 60
    summary = os.path.join(args.out, 'summary.json')
    while time.time() < deadline:
        if os.path.exists(summary) and running_pid(args.out):
            with open(summary) as handle:
                if json.load(handle)['samples'] > 0:
                    print('probe running: pid %d, %s' % (running_pid(args.out), args.out))
                    return 0
        time.sleep(0.2)
    print('probe did not start; see %s' % log, file=sys.stderr)
    return 1


def stop_cmd(args):
    pid = running_pid(args.out)
    if not pid:
        print('probe not running in %s' % args.out)
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    with open(os.path.join(args.out, 'summary.json')) as handle:
        print(handle.read())
    return 0


def parser():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('command', nargs='?', default='run', choices=['run', 'start', 'stop'])
    p.add_argument('--out', required=True, help='directory for events.jsonl, summary.json, probe.pid')
    p.add_argument('--clouds', default=os.path.join(DEFAULT_STATE_DIR, 'clouds.yaml'))
    p.add_argument('--cloud', default='escalator-lab', help='an admin cloud (all projects, services)')
    p.add_argument('--inventory', default=os.path.join(DEFAULT_STATE_DIR, 'hosts.yml'),
                   help='Ansible inventory with each host\'s ansible_host address')
    p.add_argument('--vnfs', default='', help='only these VNFs (comma separated); default: every vnf metadata')
    p.add_argument('--interval', type=float, default=0.2, help='seconds between samples (default 0.2)')
    p.add_argument('--duration', type=float, default=0, help='stop after this many seconds (0: until stopped)')
    p.add_argument('--max-heartbeat-age', type=float, default=10.0,
                   help='a nova-compute heartbeat older than this is not fresh (seconds)')
    p.add_argument('--ssh-port', type=int, default=22)
    p.add_argument('--connect-timeout', type=float, default=0.5)
    p.add_argument('--mode', default='auto', choices=['auto', 'api', 'packets'],
                   help='api: service from API states; packets: from UDP echoes of the guests; '
                        'auto (default): packets when the lab runs real guests')
    packets = p.add_argument_group('packet mode')
    packets.add_argument('--probe-interval', type=float, default=0.01,
                         help='seconds between two datagrams to each target (default 0.01)')
    packets.add_argument('--reply-timeout', type=float, default=0.5,
                         help='a datagram not answered within this many seconds is lost (default 0.5)')
    packets.add_argument('--min-lost', type=int, default=3,
                         help='this many lost datagrams in a row are an outage; fewer are a blip (default 3)')
    packets.add_argument('--gap-floor', type=float, default=None,
                         help='reply gaps longer than this are kept for the migrations\' downtime '
                              '(default 2.5 probe intervals)')
    packets.add_argument('--echo-port', type=int, default=7, help='the guests\' UDP echo port (default 7)')
    packets.add_argument('--bind', default='0.0.0.0', help='local address of the probe\'s socket')
    packets.add_argument('--poll-interval', type=float, default=1.0,
                         help='seconds between two looks at the cloud (targets, causes; default 1)')
    packets.add_argument('--cause-slack', type=float, default=2.0,
                         help='an event this many seconds before or after an outage can be its cause (default 2)')
    packets.add_argument('--guests', default='all', choices=['all', 'none'],
                         help='probe every server\'s own address too (default all)')
    packets.add_argument('--network', default='', help='only guest addresses on this network (default: any)')
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    return dict(run=serve, start=start, stop=stop_cmd)[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
