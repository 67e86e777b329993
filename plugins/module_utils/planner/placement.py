# SPDX-License-Identifier: Apache-2.0
"""Where a unit of instances may go: units, destination pools, fit and server-group rules.

The pools are max-heaps of free room with lazy deletion (an entry is live while its version matches
``pver[h]``): a search pops a bounded number of entries instead of scanning every host, which is what keeps a
5 000-host plan in seconds.
"""

from __future__ import annotations

import heapq

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import EPSILON
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.moves import Unit

# destination pools
NO_POOL = 0
UP_POOL = 1         # upgraded, or outside the campaign and up: a destination for good
PENDING_POOL = 2    # not upgraded yet: a destination that parks instances (they move again)

_HEAP_SCAN = 24   # entries a bounded heap search looks at before giving up


class Placement:
    """Mixin of the planner (engine.Planner): the destination pools over its CloudModel's arrays."""

    def init_pools(self):
        n = len(self.names)
        self.pool_of = [NO_POOL] * n
        self.pver = [0] * n
        self.up_heap = []
        self.pend_heap = []
        self.unit_cache = {}

    def units_of(self, h):
        """Split the instances on host *h* into units, in placement order; affinity members share one."""
        cached = self.unit_cache.get(h)
        if cached is not None:
            return cached
        rules = self.inst_rules
        by_aff = {}
        groups_of = []
        notify = self.notify
        for i in self.host_inst[h]:
            if notify and i in notify:
                continue      # escalator:action=notify: its VNFM moves it, the plan never does
            aff = rules[i][4]
            if aff is None:
                groups_of.append([i])
            elif aff in by_aff:
                by_aff[aff].append(i)
            else:
                by_aff[aff] = [i]
                groups_of.append(by_aff[aff])
        out = []
        for members in groups_of:
            if len(members) == 1:
                i = members[0]
                anti, limited, soft_anti, soft_aff, aff = rules[i]
                out.append(Unit(members, self.inst_req[i],
                                (anti, tuple((k, 1) for k in limited), soft_anti, soft_aff, aff)))
            else:
                out.append(self._merged_unit(members))
        out.sort(key=lambda u: u.order)
        self.unit_cache[h] = out
        return out

    def _merged_unit(self, members):
        """The unit of several hard-affinity members: summed needs, the union of their rules."""
        req = [0, 0, 0]
        anti, soft_anti, soft_aff = set(), set(), set()
        limited = {}
        aff = None
        for i in members:
            r = self.inst_req[i]
            req[0] += r[0]
            req[1] += r[1]
            req[2] += r[2]
            rule = self.inst_rules[i]
            anti.update(rule[0])
            for k in rule[1]:
                limited[k] = limited.get(k, 0) + 1
            soft_anti.update(rule[2])
            soft_aff.update(rule[3])
            if aff is None:
                aff = rule[4]
        return Unit(members, tuple(req), (tuple(sorted(anti)), tuple(sorted(limited.items())),
                                          tuple(sorted(soft_anti)), tuple(sorted(soft_aff)), aff))

    def pool_key(self, h):
        """Heap key of host *h*: least free fraction first negated (most room first), outside hosts after."""
        key = 1.0
        for d in range(3):
            cap = self.cap[d][h]
            if cap:
                f = (self.lim[d][h] - self.used[d][h]) / cap
                if f < key:
                    key = f
        return self.key_bias[h] - key

    def _pool_push(self, h):
        self.pver[h] += 1
        heap = self.up_heap if self.pool_of[h] == UP_POOL else self.pend_heap
        heapq.heappush(heap, (self.pool_key(h), h, self.pver[h]))

    def pool_set(self, h, pool):
        self.pool_of[h] = pool
        if pool == NO_POOL:
            self.pver[h] += 1
        else:
            self._pool_push(h)

    def pool_top(self, pool, count):
        """Up to *count* live hosts of *pool*, best first (the heap is left as it was)."""
        heap = self.up_heap if pool == UP_POOL else self.pend_heap
        popped, top = [], []
        while heap and len(top) < count:
            entry = heapq.heappop(heap)
            h = entry[1]
            if self.pool_of[h] != pool or self.pver[h] != entry[2]:
                continue
            popped.append(entry)
            top.append(h)
        for entry in popped:
            heapq.heappush(heap, entry)
        return top

    def fits(self, h, req):
        used = self.used
        lim = self.lim
        return (used[0][h] + req[0] <= lim[0][h] + EPSILON and used[1][h] + req[1] <= lim[1][h] + EPSILON
                and used[2][h] + req[2] <= lim[2][h] + EPSILON)

    def _groups_allow(self, h, unit):
        hg = self.host_groups[h]
        if hg:
            for k in unit.anti:
                if hg.get(k):
                    return False
            limit = self.g_limit
            for k, c in unit.limited:
                if hg.get(k, 0) + c > limit[k]:
                    return False
        return True

    def _soft_clean(self, h, unit):
        hg = self.host_groups[h]
        return not any(hg.get(k) for k in unit.soft_anti)

    def allowed(self, h, unit):
        return self.fits(h, unit.req) and self._groups_allow(h, unit)

    def targets(self, k):
        """Destination-capable hosts that hold members of group *k*."""
        pool_of = self.pool_of
        return [t for t in self.group_hosts[k] if pool_of[t] != NO_POOL]

    def _rank(self, hosts):
        return sorted(hosts, key=lambda t: (0 if self.pool_of[t] == UP_POOL else 1, self.pool_key(t), t))

    def _heap_search(self, heap, unit, pool):
        """Bounded search of one pool; returns a host or None."""
        popped = []
        chosen = fallback = None
        scanned = 0
        pver = self.pver
        pool_of = self.pool_of
        while heap and scanned < _HEAP_SCAN:
            entry = heapq.heappop(heap)
            h = entry[1]
            if pool_of[h] != pool or pver[h] != entry[2]:
                continue
            popped.append(entry)
            scanned += 1
            if not self.allowed(h, unit):
                continue
            if unit.soft_anti and not self._soft_clean(h, unit):
                if fallback is None:
                    fallback = h
                continue
            chosen = h
            break
        for entry in popped:
            heapq.heappush(heap, entry)
        return chosen if chosen is not None else fallback

    def _exhaustive(self, unit, pools):
        """Every destination-capable host, best first (upgraded, most room); soft rules as tie-break."""
        clean, dirty = [], []
        for t in range(len(self.names)):
            if self.pool_of[t] not in pools or not self.allowed(t, unit):
                continue
            rank = (0 if self.pool_of[t] == UP_POOL else 1, self.pool_key(t), t)
            if unit.soft_anti and not self._soft_clean(t, unit):
                dirty.append(rank)
            else:
                clean.append(rank)
        if clean:
            return min(clean)[2]
        return min(dirty)[2] if dirty else None

    def find_destination(self, unit, allow_pending, exhaustive):
        """The host for *unit*: its affinity group's, a soft-affinity one, then the pools; None: nowhere."""
        pools = (UP_POOL, PENDING_POOL) if allow_pending else (UP_POOL,)
        if unit.aff is not None:
            all_targets = self.targets(unit.aff)
            if all_targets:
                for t in self._rank(t for t in all_targets if self.pool_of[t] in pools):
                    if self.allowed(t, unit):
                        return t
                return None
        for k in unit.soft_aff:
            for t in self._rank(t for t in self.targets(k) if self.pool_of[t] in pools):
                if self.allowed(t, unit) and self._soft_clean(t, unit):
                    return t
        dest = self._heap_search(self.up_heap, unit, UP_POOL)
        if dest is None and allow_pending:
            dest = self._heap_search(self.pend_heap, unit, PENDING_POOL)
        if dest is None and exhaustive:
            dest = self._exhaustive(unit, pools)
        return dest

    def apply(self, unit, dest, sign):
        """Add (+1) or take back (-1) *unit* on host *dest*: its room and its group counts."""
        req = unit.req
        used = self.used
        used[0][dest] += sign * req[0]
        used[1][dest] += sign * req[1]
        used[2][dest] += sign * req[2]
        hg = self.host_groups[dest]
        group_hosts = self.group_hosts
        for i in unit.members:
            for k in self.inst_groups[i]:
                c = hg.get(k, 0) + sign
                gh = group_hosts[k]
                if c:
                    hg[k] = c
                    gh[dest] = c
                else:
                    del hg[k]
                    del gh[dest]
        self._pool_push(dest)

    def try_host(self, h, allow_pending, exhaustive):
        """Place every unit of host *h*; returns the placements or None (state unchanged)."""
        placed = []
        for unit in self.units_of(h):
            dest = self.find_destination(unit, allow_pending, exhaustive)
            if dest is None:
                for u, t in reversed(placed):
                    self.apply(u, t, -1)
                return None
            self.apply(unit, dest, +1)
            placed.append((unit, dest))
        return placed
