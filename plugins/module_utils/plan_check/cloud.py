# SPDX-License-Identifier: Apache-2.0
"""The cloud the checker replays: which hosts are eligible, where every instance is, the room of each host,
the budgets of the server groups, and the lower bound on the number of batches."""

from __future__ import annotations

import math

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import is_ours
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.options import DIMS, TOLERANCE, cap
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.policies import action, tag_budgets


def _skip_reason(host, opts):
    name = host["name"]
    if name in opts["exclude_hosts"]:
        return "excluded"
    if opts["include_hosts"] is not None and name not in opts["include_hosts"]:
        return "not_included"
    if host.get("state", "up") != "up":
        return "down"
    if any(action(inst) == "skip" for inst in host.get("instances") or []):
        return "server_policy"
    if opts["unhealthy_instances"] == "skip_host" and any(
            inst.get("status") not in ("ACTIVE", "PAUSED", "SHUTOFF") for inst in host.get("instances") or []):
        return "unhealthy"
    if host.get("status", "enabled") == "disabled":
        if not _disabled_by_us(host.get("disabled_reason"), opts):
            return "disabled"
    return None


def _receives_from_outside(host, why):
    """A host left out only by the selection, up and enabled: it stays up and may receive instances."""
    return (why in ("excluded", "not_included", "server_policy") and host.get("state", "up") == "up"
            and host.get("status", "enabled") == "enabled")


def _disabled_by_us(reason, opts):
    """A disabled host is ours when its reason names this campaign (any Escalator marker without one)."""
    if opts["campaign_id"] is not None:
        return is_ours(reason, opts["campaign_id"])
    marker = opts["our_disable_marker"]
    return bool(marker and isinstance(reason, str) and reason.startswith(marker))


def _limit_of(budget, down):
    if budget is None:
        return None
    if budget == 0:
        return 1
    return budget - down


class Cloud:
    """The campaign state the checker replays: placements and resource use."""

    def __init__(self, hosts, server_groups, opts):
        self.hosts = {h["name"]: h for h in hosts}
        self.skip = {name: _skip_reason(h, opts) for name, h in self.hosts.items()}
        self.eligible = sorted(name for name, why in self.skip.items() if why is None)
        self.ours = {name for name in self.eligible if self.hosts[name].get("status", "enabled") == "disabled"}
        self.outside = {name for name, why in self.skip.items() if _receives_from_outside(self.hosts[name], why)}
        self.where = {}
        self.on = {}
        self.inst = {}
        self.used = {}
        self.limit = {}
        for name, host in self.hosts.items():
            used = host.get("used") or {}
            cap = host.get("capacity") or {}
            self.used[name] = [used.get(d) or 0 for d in DIMS]
            lim = []
            for d in DIMS:
                if cap.get(d) is None:
                    lim.append(None)
                elif isinstance(opts["reserve"], dict):
                    lim.append(cap[d] - opts["reserve"].get(d, 0))
                else:
                    lim.append(cap[d] * (1 - opts["reserve"]))
            self.limit[name] = lim
            self.on[name] = set()
            for inst in host.get("instances") or []:
                self.where[inst["id"]] = name
                self.inst[inst["id"]] = inst
                self.on[name].add(inst["id"])
        self.origin = dict(self.where)   # where every instance is before the campaign (the replay moves them)
        self.groups = {}
        self.group_of = {iid: [] for iid in self.inst}
        declared = {}
        for iid, inst in self.inst.items():
            for gid in inst.get("server_groups") or []:
                declared.setdefault(gid, set()).add(iid)
        for grp in server_groups or []:
            members = {m for m in grp.get("members") or [] if m in self.inst}
            members |= declared.get(grp["id"], set())
            self.groups[grp["id"]] = {"name": grp.get("name") or grp["id"], "policy": grp["policy"],
                                      "members": members}
            for iid in members:
                self.group_of[iid].append(grp["id"])
        self.notify = {iid for iid, inst in self.inst.items() if action(inst) == "notify"}
        for gid, grp in self.groups.items():
            # the members' escalator:budget first, when they agree (a disagreement makes the plan infeasible)
            grp["tag_budgets"] = tag_budgets(grp["members"], self.inst) - {-1}
            grp["budget_from_tags"] = len(grp["tag_budgets"]) == 1
            if grp["budget_from_tags"]:
                budget = next(iter(grp["tag_budgets"]))
            elif gid in opts["budgets"]:
                budget = opts["budgets"][gid]
            elif grp["name"] in opts["budgets"]:
                budget = opts["budgets"][grp["name"]]
            elif grp["policy"] == "anti-affinity":
                budget = opts["default_budget"]
            else:
                budget = None
            # members on a down host are unavailable, whatever else keeps that host out of the campaign
            down = len([m for m in grp["members"] if self.hosts[self.where[m]].get("state", "up") != "up"])
            grp["budget"] = budget
            grp["limit"] = _limit_of(budget, down)

    def members_on(self, gid, host):
        """How many members of group *gid* sit on *host* now."""
        return len([m for m in self.groups[gid]["members"] if self.where[m] == host])

    def room(self, host, need):
        """Whether *host* can take *need* more (vcpus, memory_mb, disk_gb) within its limit."""
        lim = self.limit[host]
        used = self.used[host]
        return all(lim[d] is None or used[d] + need[d] <= lim[d] + TOLERANCE for d in range(3))


def need(inst):
    return [inst.get(d) or 0 for d in DIMS]


def lower_bounds(cloud, opts):
    count = len(cloud.eligible)
    canary = min(opts["canary_hosts"], count)
    by_size = (1 if canary else 0) + math.ceil((count - canary) / cap(opts, count))
    by_az = 0
    if opts["az_max_down"]:
        zones = {}
        for name in cloud.eligible:
            zone = str(cloud.hosts[name].get("zone") or "")
            zones[zone] = zones.get(zone, 0) + 1
        by_az = max([math.ceil(c / opts["az_max_down"]) for c in zones.values()] or [0])
    by_budget = 0
    for grp in cloud.groups.values():
        if grp["limit"] is None or grp["limit"] < 1:
            continue
        on_eligible = len([m for m in grp["members"] if cloud.skip[cloud.origin[m]] is None])
        by_budget = max(by_budget, math.ceil(on_eligible / grp["limit"]))
    return {"by_batch_size": by_size, "by_az": by_az, "by_budget": by_budget,
            "batches": max(by_size, by_az, by_budget)}
