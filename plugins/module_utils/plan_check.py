# SPDX-License-Identifier: Apache-2.0
"""Independent checker for campaign plans.

``check_plan(hosts, server_groups, options, plan) -> list[str]`` replays a plan
made by ``planner.plan_campaign`` against its inputs and returns every rule it
breaks (an empty list means the plan is valid).  It shares no code with the
planner on purpose: it re-reads the options, re-derives which hosts are
eligible and what each server group may lose, and simulates the campaign batch
after batch with plain dictionaries.  The rules are those of docs/planner.md.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import is_ours

_DIMS = ("vcpus", "memory_mb", "disk_gb")
_TOLERANCE = 1e-9
_LIVE = ("ACTIVE", "PAUSED")
_BOUNDS = ("canary", "cap", "budget", "capacity", "az_max_down", "last_hosts")   # batches[].size_bound[].by
_OPTION_DEFAULTS = {
    "max_batch_size": "auto",
    "max_batch_percent": 25,
    "canary_hosts": 1,
    "default_budget": 1,
    "budgets": {},
    "az_max_down": None,
    "exclude_hosts": [],
    "include_hosts": None,
    "our_disable_marker": "escalator:",
    "reserve": 0,
    "destinations_per_move": 3,
    "prefer": "single_moves",
    "campaign_id": None,
    "unhealthy_instances": "stop",
}


def _batch_size(value):
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return _as_int(value)


def _cap(opts, hosts):
    """Most hosts of a batch after the canary (docs/planner.md): the integer, or with auto
    max_batch_percent of the hosts upgraded, rounded down, at least 2."""
    if opts["max_batch_size"] != "auto":
        return opts["max_batch_size"]
    return max(2, math.floor(opts["max_batch_percent"] * hosts / 100))


def _as_int(value):
    if isinstance(value, str):
        return int(value.strip())
    return int(value)


def _names(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return sorted(set(value))


def _num(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _read_options(options):
    """The checker's own reading of the options (same documented defaults as the planner)."""
    merged = dict(_OPTION_DEFAULTS)
    for key, value in (options or {}).items():
        if value is not None or key in ("az_max_down", "include_hosts", "our_disable_marker", "campaign_id"):
            merged[key] = value
    reserve = merged["reserve"] if merged["reserve"] is not None else 0
    if isinstance(reserve, dict):
        reserve = {k: _num(v) for k, v in reserve.items()}
    else:
        reserve = _num(reserve)
    return {
        "max_batch_size": _batch_size(merged["max_batch_size"]),
        "max_batch_percent": _as_int(merged["max_batch_percent"]),
        "canary_hosts": _as_int(merged["canary_hosts"]),
        "default_budget": _as_int(merged["default_budget"]),
        "budgets": {str(k): _as_int(v) for k, v in (merged["budgets"] or {}).items()},
        "az_max_down": None if merged["az_max_down"] is None else _as_int(merged["az_max_down"]),
        "exclude_hosts": _names(merged["exclude_hosts"]) or [],
        "include_hosts": _names(merged["include_hosts"]),
        "our_disable_marker": merged["our_disable_marker"] or None,
        "reserve": reserve,
        "destinations_per_move": _as_int(merged["destinations_per_move"]),
        "prefer": merged["prefer"],
        "unhealthy_instances": merged["unhealthy_instances"],
        "campaign_id": None if merged["campaign_id"] is None else str(merged["campaign_id"]),
    }


def expected_fingerprint(hosts, server_groups, options):
    """Fingerprint of the inputs as documented in docs/planner.md (computed independently)."""
    opts = _read_options(options)
    del opts["campaign_id"]
    doc_hosts = []
    for host in sorted(hosts, key=lambda x: x["name"]):
        res = {}
        for section in ("capacity", "used"):
            values = host.get(section) or {}
            res[section] = {d: _num(values[d]) for d in _DIMS if values.get(d) is not None}
        doc_hosts.append({
            "name": host["name"], "zone": host.get("zone"), "aggregates": sorted(host.get("aggregates") or []),
            "state": host.get("state", "up"), "status": host.get("status", "enabled"),
            "disabled_reason": host.get("disabled_reason"), "capacity": res["capacity"], "used": res["used"],
            "instances": [{"id": i["id"], "name": i.get("name"), "project_id": i.get("project_id"),
                           "status": i.get("status"), "vcpus": _num(i.get("vcpus") or 0),
                           "memory_mb": _num(i.get("memory_mb") or 0), "disk_gb": _num(i.get("disk_gb") or 0),
                           "server_groups": sorted(i.get("server_groups") or [])}
                          for i in sorted(host.get("instances") or [], key=lambda x: x["id"])],
        })
    doc_groups = [{"id": g["id"], "name": g.get("name"), "project_id": g.get("project_id"),
                   "policy": g.get("policy"), "members": sorted(g.get("members") or [])}
                  for g in sorted(server_groups or [], key=lambda x: x["id"])]
    doc = {"hosts": doc_hosts, "server_groups": doc_groups, "options": opts}
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _skip_reason(host, opts):
    name = host["name"]
    if name in opts["exclude_hosts"]:
        return "excluded"
    if opts["include_hosts"] is not None and name not in opts["include_hosts"]:
        return "not_included"
    if host.get("state", "up") != "up":
        return "down"
    if opts["unhealthy_instances"] == "skip_host" and any(
            inst.get("status") not in ("ACTIVE", "PAUSED", "SHUTOFF") for inst in host.get("instances") or []):
        return "unhealthy"
    if host.get("status", "enabled") == "disabled":
        if not _disabled_by_us(host.get("disabled_reason"), opts):
            return "disabled"
    return None


def _receives_from_outside(host, why):
    """A host left out only by the selection, up and enabled: it stays up and may receive instances."""
    return (why in ("excluded", "not_included") and host.get("state", "up") == "up"
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


class _Cloud:  # pylint: disable=too-many-instance-attributes
    """The campaign state the checker replays: placements and resource use."""

    def __init__(self, hosts, server_groups, opts):  # pylint: disable=too-many-locals,too-many-branches
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
            self.used[name] = [used.get(d) or 0 for d in _DIMS]
            lim = []
            for d in _DIMS:
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
        for gid, grp in self.groups.items():
            if gid in opts["budgets"]:
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
        return all(lim[d] is None or used[d] + need[d] <= lim[d] + _TOLERANCE for d in range(3))


def _need(inst):
    return [inst.get(d) or 0 for d in _DIMS]


def _lower_bounds(cloud, opts):
    count = len(cloud.eligible)
    canary = min(opts["canary_hosts"], count)
    by_size = (1 if canary else 0) + math.ceil((count - canary) / _cap(opts, count))
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


def check_plan(hosts, server_groups, options, plan):
    """Return the list of rules *plan* breaks for these inputs (empty: the plan is valid)."""
    collecting = gc.isenabled()
    gc.disable()     # many small objects, no cycles: the cyclic collector would only slow it down
    try:
        return _check(hosts, server_groups, options, plan)
    finally:
        if collecting:
            gc.enable()


def _check(hosts, server_groups, options, plan):  # pylint: disable=too-many-locals,too-many-branches,too-many-statements
    bad = []
    opts = _read_options(options)
    if not isinstance(plan, dict):
        return ["the plan is not a mapping"]
    if plan.get("format") != "escalator-plan/1":
        bad.append("unknown plan format %r" % plan.get("format"))
    want = expected_fingerprint(hosts, server_groups, options)
    if plan.get("fingerprint") != want:
        bad.append("fingerprint %s does not match the inputs (%s)" % (plan.get("fingerprint"), want))
    cloud = _Cloud(hosts, server_groups, opts)

    reported = {s.get("host"): s.get("reason") for s in plan.get("skipped") or []}
    expected_skips = {name: why for name, why in cloud.skip.items() if why is not None}
    for name in sorted(set(reported) | set(expected_skips)):
        if reported.get(name) != expected_skips.get(name):
            bad.append("host %s: skipped as %r in the plan, expected %r"
                       % (name, reported.get(name), expected_skips.get(name)))
    for entry in plan.get("skipped") or []:
        name = entry.get("host")
        if name in expected_skips and entry.get("destination") is not (name in cloud.outside):
            bad.append("host %s: the plan says destination %r for this skipped host, expected %r"
                       % (name, entry.get("destination"), name in cloud.outside))

    batches = plan.get("batches") or []
    if not plan.get("feasible"):
        if batches:
            bad.append("an infeasible plan lists %d batches" % len(batches))
        if not plan.get("reasons"):
            bad.append("an infeasible plan gives no reason")
        return bad
    if plan.get("reasons"):
        bad.append("a feasible plan lists reasons: %s" % "; ".join(plan["reasons"]))

    # every eligible host in exactly one batch, nothing else
    seen = {}
    for pos, batch in enumerate(batches, 1):
        if batch.get("batch") != pos:
            bad.append("batch at position %d is numbered %r" % (pos, batch.get("batch")))
        for name in batch.get("hosts") or []:
            if name not in cloud.hosts:
                bad.append("batch %d: unknown host %s" % (pos, name))
            elif cloud.skip[name] is not None:
                bad.append("batch %d: host %s is skipped (%s) but planned" % (pos, name, cloud.skip[name]))
            if name in seen:
                bad.append("host %s is in batch %d and batch %d" % (name, seen[name], pos))
            seen.setdefault(name, pos)
    for name in cloud.eligible:
        if name not in seen:
            bad.append("eligible host %s is in no batch" % name)

    # sizes, canary, availability zones
    want_canary = min(opts["canary_hosts"], len(cloud.eligible))
    cap = _cap(opts, len(cloud.eligible))
    for pos, batch in enumerate(batches, 1):
        size = len(batch.get("hosts") or [])
        is_canary = bool(batch.get("canary"))
        if pos == 1 and want_canary:
            if not is_canary:
                bad.append("batch 1 is not marked as the canary")
            if size < 1 or size > want_canary:
                bad.append("canary batch has %d hosts, expected 1 to %d" % (size, want_canary))
        else:
            if is_canary:
                bad.append("batch %d is marked canary but is not the first batch" % pos)
            if size < 1 or size > cap:
                bad.append("batch %d has %d hosts (max_batch_size %s)"
                           % (pos, size, cap if opts["max_batch_size"] != "auto" else "auto: at most %d" % cap))
        zones = {}
        for name in batch.get("hosts") or []:
            if name in cloud.hosts:
                zone = str(cloud.hosts[name].get("zone") or "")
                zones[zone] = zones.get(zone, 0) + 1
        if opts["az_max_down"] is not None:
            for zone, count in sorted(zones.items()):
                if count > opts["az_max_down"]:
                    bad.append("batch %d takes %d hosts of zone %r down (az_max_down %d)"
                               % (pos, count, zone, opts["az_max_down"]))
        bad.extend(_check_size_bound(cloud, opts, pos, batch, cap if pos > 1 or not want_canary else want_canary,
                                     zones))

    moved = {iid: 0 for iid in cloud.inst}
    upgraded = set()
    for pos, batch in enumerate(batches, 1):
        bad.extend(_check_batch(cloud, opts, pos, batch, upgraded, seen, moved))
        upgraded |= set(batch.get("hosts") or [])

    bad.extend(_check_figures(cloud, opts, plan, batches, moved))
    return bad


def _check_size_bound(cloud, opts, pos, batch, limit, zones):  # pylint: disable=too-many-arguments,too-many-positional-arguments
    """The batch says what bound its size (docs/planner.md); the claims the plan alone can prove must hold:
    the size limit was reached, a zone is at az_max_down, the groups named exist."""
    bound = batch.get("size_bound")
    if not isinstance(bound, list) or not bound or not all(
            isinstance(b, dict) and b.get("by") in _BOUNDS and isinstance(b.get("detail"), str) and b["detail"]
            for b in bound):
        return ["batch %d does not say what bound its size (size_bound: a list of {by, detail}, by one of %s)"
                % (pos, ", ".join(_BOUNDS))]
    bad = []
    size = len(batch.get("hosts") or [])
    codes = [b["by"] for b in bound]
    if ("cap" in codes or "canary" in codes) and size != limit:
        bad.append("batch %d says its size limit bound it, but has %d hosts (limit %d)" % (pos, size, limit))
    if "canary" in codes and not batch.get("canary"):
        bad.append("batch %d says the canary size bound it, but is not the canary batch" % pos)
    if "az_max_down" in codes and (opts["az_max_down"] is None or max(zones.values() or [0]) < opts["az_max_down"]):
        bad.append("batch %d says az_max_down bound it, but no zone of it is at az_max_down (%s)"
                   % (pos, opts["az_max_down"]))
    for entry in bound:
        unknown = sorted(str(g) for g in entry.get("groups") or [] if g not in cloud.groups)
        if unknown:
            bad.append("batch %d: size_bound names unknown server groups %s" % (pos, ", ".join(unknown)))
    return bad


# one straight pass over a batch reads better than many small helpers here
# pylint: disable-next=too-many-locals,too-many-branches,too-many-statements,too-many-arguments,too-many-positional-arguments
def _check_batch(cloud, opts, pos, batch, upgraded, batch_of, moved):
    bad = []
    in_batch = set(batch.get("hosts") or [])

    present = sorted(iid for name in in_batch if name in cloud.on for iid in cloud.on[name])

    # budgets: members sitting on the batch's hosts when it starts
    touched = sorted({gid for iid in present for gid in cloud.group_of[iid]})
    for gid in touched:
        grp = cloud.groups[gid]
        if grp["limit"] is None:
            continue
        count = len([m for m in grp["members"] if cloud.where[m] in in_batch])
        if count > grp["limit"]:
            bad.append("batch %d: group %s loses %d members (budget %s allows %d)"
                       % (pos, grp["name"], count, grp["budget"], grp["limit"]))

    # the moves are exactly the instances on the batch's hosts
    moves = batch.get("moves") or []
    listed = [m.get("instance") for m in moves]
    if sorted(listed) != present:
        missing = sorted(set(present) - set(listed))
        extra = sorted(set(listed) - set(present))
        dup = sorted({iid for iid in listed if listed.count(iid) > 1}) if len(set(listed)) != len(listed) else []
        if missing:
            bad.append("batch %d: instances left on hosts in maintenance: %s" % (pos, ", ".join(missing[:10])))
        if extra:
            bad.append("batch %d: moves instances not on its hosts: %s" % (pos, ", ".join(extra[:10])))
        if dup:
            bad.append("batch %d: moves instances twice: %s" % (pos, ", ".join(dup[:10])))

    # where affinity members may go: hosts that keep other members and can receive them
    def receivable(name):
        if name in cloud.outside:
            return True
        return (name in cloud.hosts and cloud.skip[name] is None and name not in in_batch
                and not (name in cloud.ours and name not in upgraded))

    affinity_homes = {}
    for gid in touched:
        grp = cloud.groups[gid]
        if grp["policy"] == "affinity":
            affinity_homes[gid] = {cloud.where[m] for m in grp["members"] if receivable(cloud.where[m])}

    valid_moves = []
    handled = set()
    for move in moves:
        iid = move.get("instance")
        if iid not in cloud.inst or cloud.where.get(iid) not in in_batch or iid in handled:
            continue
        handled.add(iid)
        if move.get("from") != cloud.where[iid]:
            bad.append("batch %d: instance %s is on %s, the plan says from %s"
                       % (pos, iid, cloud.where[iid], move.get("from")))
        dests = move.get("to") or []
        if not dests:
            bad.append("batch %d: instance %s has no destination" % (pos, iid))
            continue
        if len(set(dests)) != len(dests):
            bad.append("batch %d: instance %s lists a destination twice" % (pos, iid))
        if len(dests) > opts["destinations_per_move"]:
            bad.append("batch %d: instance %s has %d destinations (destinations_per_move %d)"
                       % (pos, iid, len(dests), opts["destinations_per_move"]))
        ok = True
        for dest in dests:
            if dest not in cloud.hosts:
                bad.append("batch %d: instance %s: unknown destination %s" % (pos, iid, dest))
                ok = False
            elif dest in cloud.outside:
                continue    # outside the selection, up and enabled: stays up for the whole campaign
            elif cloud.skip[dest] is not None:
                host = cloud.hosts[dest]
                why = cloud.skip[dest]
                if why in ("excluded", "not_included"):
                    why += ", and %s" % ("down" if host.get("state", "up") != "up" else "disabled")
                bad.append("batch %d: instance %s sent to skipped host %s (%s)" % (pos, iid, dest, why))
                ok = False
            elif dest in in_batch:
                bad.append("batch %d: instance %s sent to %s, which is in the same batch" % (pos, iid, dest))
                ok = False
            elif dest in cloud.ours and dest not in upgraded:
                bad.append("batch %d: instance %s sent to %s, which Escalator disabled and has not upgraded yet"
                           % (pos, iid, dest))
                ok = False
        flags = [d in upgraded or d in cloud.outside for d in dests]
        if flags != sorted(flags, reverse=True):
            bad.append("batch %d: instance %s: not-yet-upgraded destination listed before an upgraded one "
                       "(or one outside the campaign)" % (pos, iid))
        inst = cloud.inst[iid]
        switch = any(cloud.groups[g]["budget"] == 0 for g in cloud.group_of[iid])
        mode = "switchover" if switch else ("live" if str(inst.get("status") or "").upper() in _LIVE else "cold")
        if move.get("mode") != mode:
            bad.append("batch %d: instance %s has mode %r, expected %r" % (pos, iid, move.get("mode"), mode))
        primary = dests[0]
        if move.get("outside_campaign", False) is not (primary in cloud.outside):
            bad.append("batch %d: instance %s: outside_campaign is %r, but %s is %s the campaign"
                       % (pos, iid, move.get("outside_campaign"), primary,
                          "outside" if primary in cloud.outside else "not outside"))
        if ok and primary in cloud.outside:
            if move.get("moves_again_in_batch") is not None:
                bad.append("batch %d: instance %s goes to %s, outside the campaign, but is said to move again"
                           % (pos, iid, primary))
        elif ok and primary not in upgraded:
            again = batch_of.get(primary)
            if move.get("moves_again_in_batch") != again:
                bad.append("batch %d: instance %s parked on %s should say it moves again in batch %s"
                           % (pos, iid, primary, again))
        elif ok and move.get("moves_again_in_batch") is not None:
            bad.append("batch %d: instance %s goes to upgraded host %s but is said to move again"
                       % (pos, iid, primary))
        for gid in cloud.group_of[iid]:
            homes = affinity_homes.get(gid)
            if homes and not set(dests) <= homes:
                bad.append("batch %d: instance %s of affinity group %s sent away from its group's hosts %s"
                           % (pos, iid, cloud.groups[gid]["name"], ", ".join(sorted(homes))))
        if ok:
            valid_moves.append((iid, dests))

    # affinity members moving in one batch share their destination
    for gid in touched:
        grp = cloud.groups[gid]
        if grp["policy"] != "affinity":
            continue
        primaries = {dests[0] for iid, dests in valid_moves if iid in grp["members"]}
        if len(primaries) > 1:
            bad.append("batch %d: affinity group %s split across %s" % (pos, grp["name"], ", ".join(sorted(primaries))))

    # apply the planned (first) destinations
    received = set()
    freed = {name: [0, 0, 0] for name in in_batch}
    for iid, dests in valid_moves:
        need = _need(cloud.inst[iid])
        src = cloud.where[iid]
        for d in range(3):
            freed[src][d] += need[d]
            cloud.used[dests[0]][d] += need[d]
        cloud.where[iid] = dests[0]
        cloud.on[src].discard(iid)
        cloud.on[dests[0]].add(iid)
        moved[iid] += 1
        received.add(dests[0])
    for name, amount in freed.items():
        cloud.used[name] = [max(0, cloud.used[name][d] - amount[d]) for d in range(3)]
    for name in sorted(received):
        if not cloud.room(name, [0, 0, 0]):
            bad.append("batch %d: host %s is over capacity after the moves (%s used, limit %s)"
                       % (pos, name, cloud.used[name], cloud.limit[name]))

    # hard anti-affinity where members land; fallbacks must have room and respect it too
    for iid, dests in valid_moves:
        for gid in cloud.group_of[iid]:
            grp = cloud.groups[gid]
            if grp["policy"] != "anti-affinity":
                continue
            if cloud.members_on(gid, dests[0]) > 1:
                bad.append("batch %d: instance %s joins another member of anti-affinity group %s on %s"
                           % (pos, iid, grp["name"], dests[0]))
            for alt in dests[1:]:
                if cloud.members_on(gid, alt) > 0:
                    bad.append("batch %d: fallback %s of instance %s holds a member of anti-affinity group %s"
                               % (pos, alt, iid, grp["name"]))
        for alt in dests[1:]:
            if not cloud.room(alt, _need(cloud.inst[iid])):
                bad.append("batch %d: fallback %s of instance %s has no room for it" % (pos, alt, iid))
    return bad


def _check_figures(cloud, opts, plan, batches, moved):  # pylint: disable=too-many-locals
    bad = []
    claimed = plan.get("moves_per_instance") or {}
    for iid in sorted(set(claimed) | set(moved)):
        if claimed.get(iid) != moved.get(iid):
            bad.append("instance %s: the plan says %s moves, the batches make %s"
                       % (iid, claimed.get(iid), moved.get(iid)))
    twice = sorted(iid for iid, count in moved.items() if count > 1)
    listed = sorted(t.get("instance") for t in plan.get("moved_more_than_once") or [])
    if twice != listed:
        bad.append("moved_more_than_once lists %d instances, the batches move %d more than once"
                   % (len(listed), len(twice)))
    summary = plan.get("summary") or {}
    figures = {
        "batches": len(batches),
        "eligible_hosts": len(cloud.eligible),
        "skipped_hosts": len(cloud.hosts) - len(cloud.eligible),
        "moves": sum(moved.values()),
        "instances_moving": len([c for c in moved.values() if c]),
        "max_moves_per_instance": max(moved.values()) if moved else 0,
        "instances_moving_more_than_once": len(twice),
    }
    for key, value in figures.items():
        if summary.get(key) != value:
            bad.append("summary %s is %r, expected %r" % (key, summary.get(key), value))
    bounds = _lower_bounds(cloud, opts)
    claimed_bounds = summary.get("lower_bound") or {}
    for key, value in bounds.items():
        if claimed_bounds.get(key) != value:
            bad.append("summary lower_bound.%s is %r, expected %r" % (key, claimed_bounds.get(key), value))
    if len(batches) < bounds["batches"]:
        bad.append("%d batches is below the lower bound %d" % (len(batches), bounds["batches"]))
    return bad
