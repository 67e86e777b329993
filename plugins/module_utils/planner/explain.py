# SPDX-License-Identifier: Apache-2.0
"""The planner's explanations: what bound a batch's size (the plan's ``size_bound``) and why a host left over
by the batch builder cannot be drained (a reason of an infeasible plan); see docs/planner.md."""

from __future__ import annotations

import heapq

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.model import BATCH, PENDING
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.options import AUTO, AUTO_MIN_BATCH
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.placement import (
    NO_POOL, PENDING_POOL, UP_POOL)
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.text import fmt_res, join_names


class Explanations:
    """Mixin of the planner (engine.Planner): sentences about its CloudModel, Placement and batches."""

    def _size_limit(self, canary):
        opts = self.opts
        if canary:
            return "canary", "canary: canary_hosts %d" % opts["canary_hosts"]
        if opts["max_batch_size"] != AUTO:
            return "cap", "cap: max_batch_size %d" % opts["max_batch_size"]
        hosts = self.n_eligible
        share = opts["max_batch_percent"] * hosts // 100
        if share < AUTO_MIN_BATCH:
            return "cap", "cap: %d hosts (auto minimum)" % self.batch_cap
        return "cap", "cap: %d hosts (%d%% of %d)" % (self.batch_cap, opts["max_batch_percent"], hosts)

    def _zone_waiting(self, zone_counts, az_max):
        """A zone at az_max_down that still has hosts waiting (az_max_down kept them out of this batch)."""
        for zone in sorted(self.zone_heaps):
            if zone_counts.get(zone, 0) < az_max:
                continue
            zheap = self.zone_heaps[zone]
            while zheap and (self.state[zheap[0][1]] != PENDING or self.cver[zheap[0][1]] != zheap[0][2]):
                heapq.heappop(zheap)
            if zheap:
                return zone
        return None

    def _bound_entry(self, code, kind, items):
        if code == "budget":
            labels = [self.g_name[k] for k in items]
            detail = ("budget of group %s (%d per batch)" % (labels[0], self.g_limit[items[0]])
                      if len(items) == 1 else "budgets of groups %s" % join_names(labels, 3))
            return {"by": code, "detail": detail, "groups": [self.g_id[k] for k in items]}
        hosts = [self.names[h] for h in items]
        if kind == "room":
            detail = "capacity: no room on hosts that stay up for the instances of %s" % join_names(hosts, 3)
        elif kind == "receives":
            detail = "capacity: %s receive%s instances of this batch" % (
                join_names(hosts, 3), "s" if len(hosts) == 1 else "")
        else:
            detail = ("capacity: no upgraded host has room for the instances of %s (parked on hosts not yet "
                      "upgraded)" % join_names(hosts, 3))
        return {"by": code, "detail": detail, "hosts": hosts}

    def why_this_size(self, batch, size, canary, bounds, zone_counts, az_max):
        """What kept the batch at its size (the plan's size_bound): its size limit when reached, else every limit
        that kept a host out (one entry per kind, naming the groups or hosts), else the last hosts."""
        if len(batch) >= size:
            code, detail = self._size_limit(canary)
            return [{"by": code, "detail": detail}]
        kinds = {}
        for code, kind, what in bounds:
            names = kinds.setdefault((code, kind), [])
            if what not in names:
                names.append(what)
        found = [self._bound_entry(code, kind, items) for (code, kind), items in kinds.items()]
        zone = self._zone_waiting(zone_counts, az_max) if az_max is not None else None
        if zone is not None:
            found.append({"by": "az_max_down", "detail": "az_max_down %d (zone %s)" % (az_max, zone or "-")})
        if not found:
            found.append({"by": "last_hosts", "detail": "last hosts"})
        return found

    def explain(self, h):
        """Why host *h* cannot be drained now (used for hosts left over by the greedy pass)."""
        self.state[h] = BATCH
        pool = self.pool_of[h]
        self.pool_set(h, NO_POOL)
        placed = []
        sentence = None
        for unit in self.units_of(h):
            dest = self.find_destination(unit, True, True)
            if dest is None:
                sentence = self._unit_sentence(h, unit)
                break
            self.apply(unit, dest, +1)
            placed.append((unit, dest))
        for unit, dest in reversed(placed):
            self.apply(unit, dest, -1)
        self.state[h] = PENDING
        self.pool_set(h, pool)
        if sentence is None:
            sentence = ("host %s: no batch could be formed with it under the budgets and capacity "
                        "left after the other batches" % self.names[h])
        return sentence

    def _unit_sentence(self, h, unit):
        """Why *unit* of host *h* has no destination: no room anywhere, its affinity group, or group rules."""
        names = self.names
        pools = (UP_POOL, PENDING_POOL)
        what = ("instance %s (%s)" % (self.inst_name[unit.members[0]], fmt_res(unit.req))
                if len(unit.members) == 1 else
                "instances %s (affinity, %s together)" % (", ".join(self.inst_name[i] for i in unit.members),
                                                          fmt_res(unit.req)))
        roomy = [t for t in range(len(names)) if self.pool_of[t] in pools and self.fits(t, unit.req)]
        if not roomy:
            return "host %s: %s fits on no host that stays up" % (names[h], what)
        if unit.aff is not None and self.targets(unit.aff):
            return ("host %s: %s must join the other members of group %s on %s, which lack room"
                    % (names[h], what, self.g_name[unit.aff],
                       join_names(sorted(names[t] for t in self.targets(unit.aff)))))
        culprits = []
        for k in unit.anti:
            if any(self.host_groups[t].get(k) for t in roomy):
                culprits.append("%s (anti-affinity)" % self.g_name[k])
        for k, c in unit.limited:
            if any(self.host_groups[t].get(k, 0) + c > self.g_limit[k] for t in roomy) and \
                    self.g_policy[k] != "anti-affinity":
                culprits.append("%s (%s, at most %d per host)" % (self.g_name[k], self.g_policy[k],
                                                                  self.g_limit[k]))
        return ("host %s: %s: every host that stays up with room for it (%s) already holds "
                "members of group %s" % (names[h], what, join_names(sorted(names[t] for t in roomy)),
                                         " / ".join(culprits) or "?"))
