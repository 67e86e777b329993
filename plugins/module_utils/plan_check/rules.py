# SPDX-License-Identifier: Apache-2.0
"""``check_plan`` and the rules of the plan as a whole: skipped hosts, every eligible host in one batch, batch
sizes, the canary, zones, what bound each batch's size, and the plan's figures (docs/planner.md)."""

from __future__ import annotations

import gc

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.batch_rules import check_batch
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.cloud import Cloud, lower_bounds
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.fingerprint import expected_fingerprint
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.options import cap, read_options
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.policies import check_tags

_BOUNDS = ("canary", "cap", "budget", "capacity", "az_max_down", "last_hosts")   # batches[].size_bound[].by


def check_plan(hosts, server_groups, options, plan):
    """Return the list of rules *plan* breaks for these inputs (empty: the plan is valid)."""
    collecting = gc.isenabled()
    gc.disable()     # many small objects, no cycles: the cyclic collector would only slow it down
    try:
        return _check(hosts, server_groups, options, plan)
    finally:
        if collecting:
            gc.enable()


def _check(hosts, server_groups, options, plan):
    if not isinstance(plan, dict):
        return ["the plan is not a mapping"]
    bad = []
    opts = read_options(options)
    if plan.get("format") != "escalator-plan/1":
        bad.append("unknown plan format %r" % plan.get("format"))
    want = expected_fingerprint(hosts, server_groups, options)
    if plan.get("fingerprint") != want:
        bad.append("fingerprint %s does not match the inputs (%s)" % (plan.get("fingerprint"), want))
    cloud = Cloud(hosts, server_groups, opts)
    bad.extend(_check_skipped(cloud, plan))
    bad.extend(check_tags(cloud, plan))
    batches = plan.get("batches") or []
    if not plan.get("feasible"):
        if batches:
            bad.append("an infeasible plan lists %d batches" % len(batches))
        if not plan.get("reasons"):
            bad.append("an infeasible plan gives no reason")
        return bad
    if plan.get("reasons"):
        bad.append("a feasible plan lists reasons: %s" % "; ".join(plan["reasons"]))
    seen = _check_membership(cloud, batches, bad)
    bad.extend(_check_sizes(cloud, opts, batches))
    moved = {iid: 0 for iid in cloud.inst}
    upgraded = set()
    for pos, batch in enumerate(batches, 1):
        bad.extend(check_batch(cloud, opts, pos, batch, upgraded, seen, moved))
        upgraded |= set(batch.get("hosts") or [])
    bad.extend(_check_figures(cloud, opts, plan, batches, moved))
    return bad


def _check_skipped(cloud, plan):
    """The plan skips exactly the hosts the rules skip, for the same reason, and says which receive instances."""
    bad = []
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
    return bad


def _check_membership(cloud, batches, bad):
    """Every eligible host in exactly one batch, nothing else; appends to *bad*, returns {host: batch}."""
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
    return seen


def _check_sizes(cloud, opts, batches):
    """Sizes, the canary, availability zones, and what each batch says bound its size."""
    bad = []
    want_canary = min(opts["canary_hosts"], len(cloud.eligible))
    most = cap(opts, len(cloud.eligible))
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
            if size < 1 or size > most:
                bad.append("batch %d has %d hosts (max_batch_size %s)"
                           % (pos, size, most if opts["max_batch_size"] != "auto" else "auto: at most %d" % most))
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
        bad.extend(_check_size_bound(cloud, opts, pos, batch, most if pos > 1 or not want_canary else want_canary,
                                     zones))
    return bad


def _check_size_bound(cloud, opts, pos, batch, limit, zones):
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


def _check_figures(cloud, opts, plan, batches, moved):
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
    bounds = lower_bounds(cloud, opts)
    claimed_bounds = summary.get("lower_bound") or {}
    for key, value in bounds.items():
        if claimed_bounds.get(key) != value:
            bad.append("summary lower_bound.%s is %r, expected %r" % (key, claimed_bounds.get(key), value))
    if len(batches) < bounds["batches"]:
        bad.append("%d batches is below the lower bound %d" % (len(batches), bounds["batches"]))
    return bad
