# SPDX-License-Identifier: Apache-2.0
"""Static checks before any batch is built: what makes a host impossible to plan, whatever the order.

Each check records a reason (the plan is infeasible) and blocks the hosts it concerns; see docs/planner.md.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import (
    EPSILON, MIGRATABLE_STATUSES, RESOURCE_UNITS)
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.model import BLOCKED, SKIPPED
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.text import fmt, fmt_res, join_names, plural


class StaticChecks:
    """Mixin of the planner (engine.Planner): reads and blocks hosts of its CloudModel."""

    def static_checks(self):
        eligible = self.eligible()
        outside = [h for h in range(len(self.names)) if self.outside[h]]
        for k in range(len(self.g_id)):
            self._check_group(k, len(eligible) + len(outside))
        self._check_capacity(eligible, outside)
        self._check_units_fit(eligible, outside)
        names = self.names
        for i, status in enumerate(self.inst_status):
            if self.state[self.inst_host[i]] != SKIPPED and status not in MIGRATABLE_STATUSES:
                self.warnings.append("instance %s on %s is %s: its migration may fail"
                                     % (self.inst_name[i], names[self.inst_host[i]], status or "of unknown status"))

    def _check_group(self, k, n_receivers):
        """Group *k*: a budget already used up by down hosts, too many members on one host, no spare host."""
        names = self.names
        members = self.g_members[k]
        if not members:
            return
        per_host = {}
        for i in members:
            h = self.inst_host[i]
            per_host[h] = per_host.get(h, 0) + 1
        on_eligible = sorted((h for h in per_host if self.state[h] != SKIPPED), key=lambda h: names[h])
        if not on_eligible:
            return
        on_receivers = len(on_eligible) + sum(1 for h in per_host if self.outside[h])
        limit = self.g_limit[k]
        budget = self.g_budget[k]
        label = self.group_label(k)
        if limit is not None and limit < 1 <= budget:
            down_hosts = sorted({names[self.inst_host[i]] for i in members
                                 if self.state[self.inst_host[i]] == SKIPPED
                                 and self.hosts_in[self.inst_host[i]].get("state", "up") != "up"})
            self.reasons.append(
                "%s: %s already unavailable on down host%s %s, so %s on %s cannot be taken down "
                "(raise the budget, or set it to 0 for VNFM switchover)"
                % (label, plural(self.g_down[k], "member"), "" if len(down_hosts) == 1 else "s",
                   join_names(down_hosts),
                   plural(sum(per_host[h] for h in on_eligible), "member"),
                   join_names(names[h] for h in on_eligible)))
            for h in on_eligible:
                self.block(h)
            return
        if limit is not None:
            for h in on_eligible:
                if per_host[h] > limit:
                    together = " must move together and" if self.g_policy[k] == "affinity" else ""
                    self.reasons.append("%s: %d members on host %s%s exceed what one batch may disrupt (%d)"
                                        % (label, per_host[h], names[h], together, limit))
                    self.block(h)
        if self.g_policy[k] == "anti-affinity" and n_receivers - on_receivers < 1:
            self.reasons.append("%s: %d members on %d hosts, no spare host" % (label, len(members), len(per_host)))
            for h in on_eligible:
                self.block(h)

    def _check_capacity(self, eligible, outside):
        """The instances of a host must fit in what the other hosts (and those outside) have free."""
        names = self.names
        total_free = [0.0, 0.0, 0.0]
        free_of = {}
        for h in eligible + outside:
            vec = []
            for d in range(3):
                f = max(0, self.lim[d][h] - self.used[d][h])
                vec.append(f)
                total_free[d] += f
            free_of[h] = vec
        for h in eligible:
            if not self.host_inst[h]:
                continue
            load = [0, 0, 0]
            for i in self.host_inst[h]:
                if i in self.notify:
                    continue      # its VNFM moves it: no room is planned for it
                req = self.inst_req[i]
                load[0] += req[0]
                load[1] += req[1]
                load[2] += req[2]
            short = [d for d in range(3)
                     if load[d] > EPSILON and load[d] > total_free[d] - free_of[h][d] + EPSILON]
            if short:
                self.reasons.append("host %s: %s of instances, only %s free on hosts that stay up"
                                    % (names[h], " and ".join("%s %s" % (fmt(load[d]), RESOURCE_UNITS[d])
                                                              for d in short),
                                       " and ".join("%s %s" % (fmt(total_free[d] - free_of[h][d]),
                                                               RESOURCE_UNITS[d]) for d in short)))
                self.block(h)

    def _room_when_empty(self, eligible, outside):
        """Distinct free-room vectors -> hosts: an eligible host once emptied, an outside host as it is now."""
        room = {}
        for h in eligible:
            inst_sum = [0, 0, 0]
            for i in self.host_inst[h]:
                if i in self.notify:
                    continue      # not moved by the plan: counted where it is
                for d in range(3):
                    inst_sum[d] += self.inst_req[i][d]
            vec = tuple(self.lim[d][h] - max(0, self.used[d][h] - inst_sum[d]) for d in range(3))
            room.setdefault(vec, []).append(h)
        for h in outside:     # never emptied: what it has free now
            vec = tuple(self.lim[d][h] - self.used[d][h] for d in range(3))
            room.setdefault(vec, []).append(h)
        return room

    def _check_units_fit(self, eligible, outside):
        """Every single instance (or affinity unit) must fit on some other host once that host is empty."""
        names = self.names
        room = self._room_when_empty(eligible, outside)
        vectors = sorted(room, key=lambda v: (-v[1], -v[0], -v[2]))
        holders = {}
        for h in eligible:
            if self.state[h] == BLOCKED:
                continue
            for unit in self.units_of(h):
                req = unit.req
                found = holders.get(req)
                if found is None:
                    found = []
                    for vec in vectors:
                        if all(vec[d] + EPSILON >= req[d] for d in range(3)):
                            found.extend(room[vec][:2 - len(found)])
                            if len(found) >= 2:
                                break
                    holders[req] = found
                if len(found) >= 2 or (found and found[0] != h):
                    continue
                what = ("instance %s" % self.inst_name[unit.members[0]] if len(unit.members) == 1 else
                        "instances %s (affinity, moving together)"
                        % ", ".join(self.inst_name[i] for i in unit.members))
                self.reasons.append("host %s: %s need%s %s, more than any other host to upgrade can hold even "
                                    "when empty%s" % (names[h], what, "s" if len(unit.members) == 1 else "",
                                                      fmt_res(req, skip_zero=False),
                                                      " or any host outside the campaign has free" if outside
                                                      else ""))
                self.block(h)
                break
