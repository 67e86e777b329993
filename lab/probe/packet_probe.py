# SPDX-License-Identifier: Apache-2.0
"""The packet probe (``probe.py --mode packets``, the default on a lab with real guests): service measured
from packets, the cloud's API only naming causes.

Two threads: packets.Pinger sends one UDP datagram to every VNF service address and every guest each
``--probe-interval`` (10 ms) and matches the echoes; this thread polls the cloud every ``--poll-interval``
(cloudpoll.Poller: the targets, and the states history.History keeps for causes.py) and rewrites
summary.json (packet_summary.py) every second and at exit. An API failure keeps the last targets: packets
go on being measured.
"""

import json
import os
import statistics
import time

import packet_summary
from cloudpoll import Poller
from gaps import Builder
from history import History
from packets import Pinger

SETTINGS = ('probe_interval', 'reply_timeout', 'min_lost', 'gap_floor', 'echo_port', 'poll_interval', 'cause_slack',
            'max_heartbeat_age', 'guests', 'network')


class PacketProbe:
    def __init__(self, args, conn, host_addresses):
        self.args = args
        self.settings = {name: getattr(args, name) for name in SETTINGS}
        self.history = History()
        self.builder = Builder(args.probe_interval, min_lost=args.min_lost, gap_floor=args.gap_floor)
        self.settings['gap_floor'] = self.builder.gap_floor
        self.pinger = Pinger(self.builder, interval=args.probe_interval, timeout=args.reply_timeout,
                             port=args.echo_port, bind=args.bind)
        self.started = self.pinger.now()
        self.poller = Poller(conn, self.history, host_addresses, since=self.started - 5, ssh_port=args.ssh_port,
                             connect_timeout=args.connect_timeout, max_heartbeat_age=args.max_heartbeat_age,
                             guests=args.guests == 'all', network=args.network or None,
                             vnfs=[v for v in (args.vnfs or '').split(',') if v])
        self.targets = {}               # every target seen: key -> dict(kind, name, address, server)
        self.errors = 0
        self.reported = {}              # key -> outages and restarts already written to events.jsonl
        self.events = open(os.path.join(args.out, 'events.jsonl'), 'a', buffering=1)

    def emit(self, **event):
        self.events.write(json.dumps(event, sort_keys=True) + '\n')

    def poll(self):
        try:
            targets = self.poller.poll()
        except Exception as exc:  # noqa: BLE001 - an API hiccup: keep probing the last targets
            self.errors += 1
            self.emit(kind='probe_error', at=packet_summary.iso(time.time()), error=str(exc)[:300])
            return
        for key, info in targets.items():
            if info['address'] or key not in self.targets:
                if self.targets.get(key, {}).get('address') != info['address']:
                    self.emit(kind='target', key=key, name=info['name'], address=info['address'],
                              at=packet_summary.iso(time.time()))
                self.targets[key] = info
        self.pinger.set_targets({key: info['address'] for key, info in targets.items() if info['address']})

    def summary(self, final=False):
        result = packet_summary.build(self.targets, self.builder, self.history, self.pinger.stats(), self.settings,
                                      self.started, self.pinger.now(), final, self.errors)
        downtimes = [m['downtime_seconds'] for m in result['live_migrations'] if m['downtime_seconds'] is not None
                     and m['status'] in packet_summary.DONE]
        if downtimes:                   # a true median (the nearest rank is the lower middle for an even count)
            result['live_migration_downtime']['median'] = round(statistics.median(downtimes), 3)
        self._events(result)
        return result

    def _events(self, result):
        """New closed outages and guest restarts, once each, in events.jsonl."""
        for kind, entries in (('vnf', result['vnfs']), ('guest', result['guests'])):
            for name, entry in entries.items():
                done = self.reported.setdefault((kind, name), dict(outages=0, restarts=0))
                closed = [o for o in entry['outages'] if o['end'] is not None]
                for outage in closed[done['outages']:]:
                    self.emit(kind='outage', target=kind, name=entry.get('name', name), **outage)
                done['outages'] = len(closed)
                for restart in entry.get('restarts', [])[done['restarts']:]:
                    self.emit(kind='guest_restarted', name=entry['name'], id=name, **restart)
                done['restarts'] = len(entry.get('restarts', []))

    def write_summary(self, final=False):
        path = os.path.join(self.args.out, 'summary.json')
        with open(path + '.tmp', 'w') as handle:
            json.dump(self.summary(final), handle, indent=2, sort_keys=True)
        os.replace(path + '.tmp', path)

    def run(self, stop, duration=0):
        deadline = time.monotonic() + duration if duration else None
        self.poll()                     # the targets before the first datagram
        self.pinger.start()
        last_summary = 0.0
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                began = time.monotonic()
                self.poll()
                if time.monotonic() - last_summary >= 1.0:
                    self.write_summary()
                    last_summary = time.monotonic()
                stop.wait(max(0.0, self.args.poll_interval - (time.monotonic() - began)))
        finally:
            self.pinger.stop()
            self.write_summary(final=True)
            self.events.close()
        return 0
