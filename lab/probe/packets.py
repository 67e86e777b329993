# SPDX-License-Identifier: Apache-2.0
"""The packet probe's sender/receiver: one UDP socket and ONE thread for every target.

Every ``interval`` seconds it sends one datagram to each target (``address``, ``port``: the guests' UDP echo)
and matches the replies by payload, never by source address (a VNF's service address is answered from the
guest's primary address). A request is ``esc1 <run token> <target number> <sequence>``; the echo answers
``<request> n=<count> boot=<boot id>``.

A probe is final once answered or ``timeout`` seconds after it was sent (then it is lost); final probes go,
in sequence order, to ``sink(key, seq, sent, replied, boot)`` (``replied`` None: lost; ``sent`` None: it could
not be sent). Times are wall-clock seconds (the API's clock), measured on the monotonic clock.

Memory is bounded whatever arrives: per target a ring of the probes not yet final (timeout / interval + a
margin), fixed counters, and a datagram is read into one fixed buffer. Garbage, replies to unknown targets,
to probes already final (late) or answered twice are only counted. Under a flood it reads at most
``burst`` datagrams between two sends, so sending stays on time (the kernel drops the rest).
"""

import os
import select
import socket
import threading
import time

MAX_DATAGRAM = 512
SEND_BUFFER = 4 << 20
SO_SNDBUFFORCE = getattr(socket, 'SO_SNDBUFFORCE', 32)   # Linux's value; not in every Python
COUNTERS = ('sent', 'unsent', 'replies', 'late', 'duplicates', 'unknown_target', 'garbage', 'stalls')


class _Target:
    __slots__ = ('key', 'number', 'address', 'next_seq', 'final_seq', 'sent', 'replied', 'boot')

    def __init__(self, key, number, address, ring):
        self.key = key
        self.number = number
        self.address = address
        self.next_seq = 0           # the next probe's sequence number
        self.final_seq = 0          # every probe below this one is final
        self.sent = [None] * ring   # per slot: wall time sent (None: not sent), replied, boot id
        self.replied = [None] * ring
        self.boot = [None] * ring


class Pinger:
    def __init__(self, sink, interval=0.01, timeout=0.5, port=7, bind='0.0.0.0', burst=256,
                 clock=time.monotonic, wall=time.time):
        if not 0 < interval <= 1.0:
            raise ValueError('interval must be in (0, 1] seconds')
        if timeout < interval:
            raise ValueError('timeout must be at least one interval')
        self.sink = sink
        self.interval = interval
        self.timeout = timeout
        self.port = port
        self.burst = burst
        self.ring = int(timeout / interval) + 8
        if self.ring > 100000:
            raise ValueError('timeout / interval is too large (at most 100000 probes in flight per target)')
        self.clock = clock
        self.offset = wall() - clock()       # wall = monotonic + offset: steady, comparable to the API's times
        self.token = os.urandom(4).hex().encode()
        self.prefix = b'esc1 ' + self.token + b' '
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.rounds = 0
        self.stalled = 0.0                  # seconds the loop fell behind by more than 5 intervals
        self.lock = threading.Lock()
        self.targets = {}                   # key -> _Target
        self.by_number = {}                 # number -> _Target
        self.numbers = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # a datagram to a guest whose address does not resolve (a stopped guest: ARP INCOMPLETE) waits in the
        # neighbour queue charged to this socket; with the default send buffer two such guests filled it and every
        # sendto failed with EAGAIN, to the healthy guests too (measured on the lab: 29 % of a campaign's probes)
        # (SO_SNDBUFFORCE, root: past net.core.wmem_max, which is 208 KiB on a stock Debian 12)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SEND_BUFFER)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.sock.bind((bind, 0))
        self.sock.setblocking(False)
        self.buffer = bytearray(MAX_DATAGRAM)
        self.stop_event = threading.Event()
        self.thread = None

    def now(self):
        return self.clock() + self.offset

    # -- targets (called from another thread) -------------------------------------------------------------
    def set_targets(self, targets):
        """{key: address}: new keys start, gone keys stop (their probes in flight are dropped, not final)."""
        with self.lock:
            for key in list(self.targets):
                if key not in targets:
                    self.by_number.pop(self.targets.pop(key).number, None)
            for key, address in targets.items():
                current = self.targets.get(key)
                if current is None:
                    self.numbers += 1
                    current = _Target(key, self.numbers, address, self.ring)
                    self.targets[key] = current
                    self.by_number[current.number] = current
                current.address = address

    # -- the loop -------------------------------------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self.run, name='packet-probe', daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(10)
        self.sock.close()

    def run(self):
        due = self.clock()
        while not self.stop_event.is_set():
            now = self.clock()
            if now >= due:
                if now - due > 5 * self.interval:      # the machine did not run us: no probe, no claim
                    self.stalled += now - due
                    self.counters['stalls'] += 1
                    due = now
                self.send_round()
                due += self.interval
            self.receive(max(0.0, due - self.clock()))
            self.finalize()

    def send_round(self):
        wall = self.now()
        with self.lock:
            self.rounds += 1
            for target in self.targets.values():
                seq = target.next_seq
                slot = seq % self.ring
                if seq - target.final_seq >= self.ring:     # cannot happen while finalize runs; stay bounded
                    self._final(target)
                try:
                    self.sock.sendto(self.prefix + b'%d %d' % (target.number, seq), (target.address, self.port))
                    target.sent[slot] = wall
                    self.counters['sent'] += 1
                except OSError:
                    target.sent[slot] = None
                    self.counters['unsent'] += 1
                target.replied[slot] = None
                target.boot[slot] = None
                target.next_seq = seq + 1

    def receive(self, wait):
        try:
            ready, _, _ = select.select([self.sock], [], [], wait)
        except (OSError, ValueError):
            return
        if not ready:
            return
        for _ in range(self.burst):
            try:
                size = self.sock.recv_into(self.buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:          # e.g. an ICMP error queued on the socket
                continue
            self.match(bytes(self.buffer[:size]), self.now())

    def match(self, data, wall):
        if not data.startswith(self.prefix):
            self.counters['garbage'] += 1
            return
        fields = data[len(self.prefix):].split()
        try:
            number, seq = int(fields[0]), int(fields[1])
        except (IndexError, ValueError):
            self.counters['garbage'] += 1
            return
        boot = None
        for field in fields[2:]:
            if field.startswith(b'boot='):
                boot = field[5:69].decode('ascii', 'replace')
        with self.lock:
            target = self.by_number.get(number)
            if target is None:
                self.counters['unknown_target'] += 1
                return
            if seq < target.final_seq:
                self.counters['late'] += 1
                return
            if seq >= target.next_seq:
                self.counters['garbage'] += 1        # a sequence never sent: forged
                return
            slot = seq % self.ring
            if target.replied[slot] is not None:
                self.counters['duplicates'] += 1
                return
            if target.sent[slot] is None:            # never left the machine: nothing can answer it
                self.counters['garbage'] += 1
                return
            target.replied[slot] = wall
            target.boot[slot] = boot
            self.counters['replies'] += 1

    def finalize(self):
        """Hand the probes that are answered or timed out to the sink, in order, per target."""
        with self.lock:
            for target in self.targets.values():
                self._final(target)

    def _final(self, target):
        horizon = self.now() - self.timeout
        while target.final_seq < target.next_seq:
            seq = target.final_seq
            slot = seq % self.ring
            sent, replied = target.sent[slot], target.replied[slot]
            forced = target.next_seq - seq >= self.ring
            if replied is None and sent is not None and sent > horizon and not forced:
                break                                 # still in flight
            target.final_seq = seq + 1
            self.sink(target.key, seq, sent, replied, target.boot[slot])

    def stats(self):
        with self.lock:
            return dict(self.counters, rounds=self.rounds, stalled_seconds=round(self.stalled, 3),
                        targets=len(self.targets), interval=self.interval, timeout=self.timeout, port=self.port)
