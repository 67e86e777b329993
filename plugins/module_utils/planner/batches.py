# SPDX-License-Identifier: Apache-2.0
"""Building the batches: which host goes next (candidates per zone), one batch under its budgets, zones and
room, the fallback destinations of each move, and committing a batch (its hosts upgraded, its moves made)."""

from __future__ import annotations

import heapq

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import LIVE_STATUSES
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.model import BATCH, PENDING, UPGRADED
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.moves import Move
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.placement import (
    NO_POOL, PENDING_POOL, UP_POOL)


class BatchBuilder:
    """Mixin of the planner (engine.Planner): batches over its CloudModel with its Placement."""

    def init_candidates(self):
        n = len(self.names)
        self.cver = [0] * n
        self.zone_heaps = {}     # zone -> heap of candidate hosts (ours first, then fewest instances, least RAM)
        self.deferred = []       # hosts that could not go in a batch yet: tried again once another batch went
        self.upgraded_in = [None] * n

    def cand_push(self, h):
        self.cver[h] += 1
        zheap = self.zone_heaps.setdefault(self.zone[h], [])
        heapq.heappush(zheap, ((0 if self.ours[h] else 1, len(self.host_inst[h]), self.used[1][h], h),
                               h, self.cver[h]))

    def _cand_pick(self, zone_counts, az_max):
        heads = []
        for zone, zheap in self.zone_heaps.items():
            if az_max is not None and zone_counts.get(zone, 0) >= az_max:
                continue
            while zheap:
                entry = zheap[0]
                if self.state[entry[1]] != PENDING or self.cver[entry[1]] != entry[2]:
                    heapq.heappop(zheap)
                    continue
                heads.append((entry[0], zone))
                break
        if not heads:
            return None
        zone = min(heads)[1]
        h = heapq.heappop(self.zone_heaps[zone])[1]
        self.cver[h] += 1
        return h

    def _budget_block(self, h, batch_counts):
        """The group whose budget host *h* would exceed in this batch (None: it fits)."""
        limit = self.g_limit
        for k, c in sorted(self.host_groups[h].items()):
            lim = limit[k]
            if lim is not None and batch_counts.get(k, 0) + c > lim:
                return k
        return None

    def _count_in(self, h, zone_counts, batch_counts):
        zone_counts[self.zone[h]] = zone_counts.get(self.zone[h], 0) + 1
        for k, c in self.host_groups[h].items():
            if self.g_limit[k] is not None:
                batch_counts[k] = batch_counts.get(k, 0) + c

    def _reserve_canaries(self, size, lookahead, rejected, bounds):
        """Choose the canary hosts first so none of them becomes another one's destination."""
        az_max = self.opts["az_max_down"]
        zone_counts, batch_counts = {}, {}
        reserved = []
        while len(reserved) < size:
            h = self._cand_pick(zone_counts, az_max)
            if h is None:
                break
            blocking = self._budget_block(h, batch_counts)
            if blocking is not None:
                bounds.append(("budget", None, blocking))
                rejected.append(h)
                if len(rejected) >= lookahead:
                    break
                continue
            reserved.append(h)
            self.state[h] = BATCH
            self.pool_set(h, NO_POOL)
            self._count_in(h, zone_counts, batch_counts)
        reserved.reverse()
        return reserved

    def _back_to_pending(self, h):
        self.state[h] = PENDING
        if not self.ours[h]:
            self.pool_set(h, PENDING_POOL)

    # one loop with the stopping rules side by side (size, budgets, receivers, room, lookahead, parked spill)
    def build_batch(self, number):
        """Batch *number*: (hosts, placements, canary, group counts, size bound); no hosts: none could go."""
        opts = self.opts
        canary = number == 1 and opts["canary_hosts"] > 0
        size = opts["canary_hosts"] if canary else self.batch_cap
        az_max = opts["az_max_down"]
        lookahead = max(32, 4 * size)
        fewer_batches = opts["prefer"] == "fewer_batches"
        batch, placements, rejected = [], [], []
        batch_counts, zone_counts = {}, {}
        receiving = set()
        fit_failures = 0
        spill = False
        bounds = []       # why no other host joined: (code, kind, group or host), in the order met
        reserved = self._reserve_canaries(size, lookahead, rejected, bounds) if canary else []
        while len(batch) < size:
            if canary:
                if not reserved:
                    break
                h = reserved.pop()
            else:
                h = self._cand_pick(zone_counts, az_max)
            if h is None:
                break
            blocking = None if h in receiving else self._budget_block(h, batch_counts)
            if h in receiving or blocking is not None:
                bounds.append(("budget", None, blocking) if blocking is not None else ("capacity", "receives", h))
                rejected.append(h)
                if len(rejected) >= lookahead:
                    break
                continue
            self.state[h] = BATCH
            self.pool_set(h, NO_POOL)
            placed = self.try_host(h, allow_pending=False, exhaustive=False)
            if placed is None and (canary or not batch or fewer_batches):
                placed = self.try_host(h, allow_pending=True, exhaustive=True)
                if placed is not None:
                    spill = True
            if placed is None:
                self._back_to_pending(h)
                if not batch:
                    self.deferred.append(h)
                    continue
                bounds.append(("capacity", "room", h))
                rejected.append(h)
                fit_failures += 1
                if fit_failures >= 2 or len(rejected) >= lookahead:
                    break
                continue
            batch.append(h)
            placements.extend(placed)
            receiving.update(dest for dummy, dest in placed)
            self._count_in(h, zone_counts, batch_counts)
            if spill and not canary and not fewer_batches:
                # single moves: a host whose instances must be parked on hosts not yet upgraded goes alone
                bounds.append(("capacity", "parked", h))
                break
        for h in reserved:
            self._back_to_pending(h)
            rejected.append(h)
        bound = self.why_this_size(batch, size, canary, bounds, zone_counts, az_max)
        if batch:
            for h in rejected:
                self.cand_push(h)
        else:
            self.deferred.extend(rejected)
        return batch, placements, canary, batch_counts, bound

    def _alternates(self, batch_set, placements):
        """Fallback destinations for each placement (capacity not reserved)."""
        extra = self.opts["destinations_per_move"] - 1
        if extra <= 0:
            return [[dest] for dummy, dest in placements]
        tops = {pool: self.pool_top(pool, 16) for pool in (UP_POOL, PENDING_POOL)}
        prefs = []
        for unit, dest in placements:
            chosen = [dest]
            if unit.aff is None:
                pools = (UP_POOL, PENDING_POOL) if self.pool_of[dest] == UP_POOL else (PENDING_POOL,)
                for pool in pools:
                    for t in tops[pool]:
                        if len(chosen) > extra:
                            break
                        if t != dest and t not in batch_set and self.allowed(t, unit):
                            chosen.append(t)
            prefs.append(chosen)
        return prefs

    def _why_parked(self, number, canary):
        if canary:
            return "batch %d is the canary and no host is upgraded yet" % number
        if number == 1:
            return "batch %d: no host is upgraded yet" % number
        return "batch %d: no upgraded host had room for it within its server-group rules" % number

    def commit(self, number, batch, placements, canary):
        """Make the batch's moves and mark its hosts upgraded; returns its moves sorted by source and name."""
        prefs = self._alternates(set(batch), placements)
        moves = []
        for (unit, dest), to in zip(placements, prefs):
            switchover = any(self.inst_switch[i] for i in unit.members)
            parked = self.state[dest] != UPGRADED and not self.outside[dest]
            for i in unit.members:
                src = self.inst_host[i]
                self.moves[i] += 1
                if parked and i not in self.why_twice:
                    self.why_twice[i] = (self._why_parked(number, canary), dest)
                mode = (self.inst_policy and self.tagged_mode(i)) or (
                    "switchover" if switchover else ("live" if self.inst_status[i] in LIVE_STATUSES else "cold"))
                moves.append(Move(src, i, dest, to, mode, parked, unit.aff))
                self.inst_host[i] = dest
                self.host_inst[dest].append(i)
            if parked:
                self.unit_cache.pop(dest, None)
                self.cand_push(dest)
        for h in batch:
            self._empty_upgraded(h, number)
        names = self.names
        moves.sort(key=lambda m: (names[m.source], self.inst_name[m.instance], m.instance))
        return moves

    def _empty_upgraded(self, h, number):
        """Host *h* of batch *number* after its moves: its instances gone, upgraded, a destination for good."""
        load = [0, 0, 0]
        for i in self.host_inst[h]:
            if self.inst_host[i] == h:
                continue
            r = self.inst_req[i]
            load[0] += r[0]
            load[1] += r[1]
            load[2] += r[2]
            for k in self.inst_groups[i]:
                hg = self.host_groups[h]
                c = hg[k] - 1
                if c:
                    hg[k] = c
                    self.group_hosts[k][h] = c
                else:
                    del hg[k]
                    del self.group_hosts[k][h]
        self.host_inst[h] = [i for i in self.host_inst[h] if self.inst_host[i] == h]
        self.unit_cache.pop(h, None)
        for d in range(3):
            self.used[d][h] = max(0, self.used[d][h] - load[d])
        self.state[h] = UPGRADED
        self.upgraded_in[h] = number
        self.pool_set(h, UP_POOL)
