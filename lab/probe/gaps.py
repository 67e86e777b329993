# SPDX-License-Identifier: Apache-2.0
"""The packet probe's interval builder: from final probes (in order, per target) to outage intervals.

An outage is a run of at least ``min_lost`` consecutive lost probes. It starts when the first lost probe was
sent and ends when the first answered probe after the run was sent (so its length is the number of lost
probes times the interval); ``gap`` is the reply gap around it (last reply before to first reply after, as
measured in the feasibility study). Fewer lost probes in a row are a ``blip`` (counted, not an outage).
Probes that could not be sent are neither service nor outage: ``unknown`` seconds.

Besides outages it keeps every reply gap longer than ``gap_floor`` (to give each live migration its
downtime even when it lost fewer than ``min_lost`` probes) and every change of the echo's boot id (a guest
that restarted lost its state; for a VNF's service address a change is a switchover to another guest).

Everything kept is bounded: at most ``max_records`` intervals, gaps and boot changes per target (the
oldest go; ``dropped`` counts them).
"""

import collections
import threading


class Track:
    """One target's figures."""

    def __init__(self, max_records):
        self.sent = 0
        self.answered = 0
        self.lost = 0
        self.unsent = 0
        self.blips = 0
        self.dropped = 0
        self.rtt_max = 0.0
        self.rtt_sum = 0.0
        self.last_reply = None          # wall time of the last reply
        self.last_sent = None           # wall time the last final probe was sent
        self.last_ok = None             # was the last final probe answered
        self.boot = None
        self.run = None                 # the current run of lost probes: dict(first, lost, reply_before, boot)
        self.outages = collections.deque(maxlen=max_records)
        self.gaps = collections.deque(maxlen=max_records)
        self.boots = collections.deque(maxlen=max_records)


class Builder:
    def __init__(self, interval, min_lost=3, gap_floor=None, max_records=10000):
        self.interval = interval
        self.min_lost = max(1, int(min_lost))
        self.gap_floor = gap_floor if gap_floor is not None else 2.5 * interval
        self.max_records = max_records
        self.tracks = {}
        self.lock = threading.Lock()

    def track(self, key):
        with self.lock:
            return self.tracks.setdefault(key, Track(self.max_records))

    def _keep(self, track, records, record):
        if len(records) == records.maxlen:
            track.dropped += 1
        records.append(record)

    def __call__(self, key, seq, sent, replied, boot):
        """The Pinger's sink: one final probe."""
        with self.lock:
            track = self.tracks.get(key)
            if track is None:
                track = self.tracks[key] = Track(self.max_records)
            if sent is None:
                track.unsent += 1
                return
            track.sent += 1
            track.last_sent = sent
            if replied is None:
                track.lost += 1
                track.last_ok = False
                if track.run is None:
                    track.run = dict(first=sent, lost=0, reply_before=track.last_reply, boot=track.boot, seq=seq)
                track.run['lost'] += 1
                return
            track.answered += 1
            track.last_ok = True
            rtt = replied - sent
            track.rtt_sum += rtt
            track.rtt_max = max(track.rtt_max, rtt)
            run, track.run = track.run, None
            if run is not None:
                if run['lost'] >= self.min_lost:
                    self._keep(track, track.outages, dict(
                        start=run['first'], end=sent, lost=run['lost'], first_seq=run['seq'],
                        gap=None if run['reply_before'] is None else replied - run['reply_before'],
                        boot_before=run['boot'], boot_after=boot))
                else:
                    track.blips += 1
            if track.last_reply is not None and replied - track.last_reply > self.gap_floor:
                self._keep(track, track.gaps, (track.last_reply, replied))
            track.last_reply = max(replied, track.last_reply or replied)
            if boot is not None:
                if track.boot is not None and boot != track.boot:
                    self._keep(track, track.boots, dict(at=replied, before=track.boot, after=boot))
                track.boot = boot

    def snapshot(self, key):
        """A consistent copy of one target's figures, with the outage still open (if any) up to the last probe."""
        with self.lock:
            track = self.tracks.get(key)
            if track is None:
                return None
            outages = [dict(o) for o in track.outages]
            run = track.run
            if run is not None and run['lost'] >= self.min_lost:
                outages.append(dict(start=run['first'], end=None, until=track.last_sent + self.interval,
                                    lost=run['lost'], first_seq=run['seq'], gap=None, boot_before=run['boot'],
                                    boot_after=None))
            return dict(sent=track.sent, answered=track.answered, lost=track.lost, unsent=track.unsent,
                        blips=track.blips, dropped=track.dropped, rtt_max=track.rtt_max,
                        rtt_mean=track.rtt_sum / track.answered if track.answered else None,
                        last_reply=track.last_reply, last_ok=track.last_ok, boot=track.boot,
                        outages=outages, gaps=list(track.gaps), boots=[dict(b) for b in track.boots],
                        unknown_seconds=track.unsent * self.interval)
