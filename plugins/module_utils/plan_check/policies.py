# SPDX-License-Identifier: Apache-2.0
"""The checker's own reading of the servers' policy metadata (docs/planner.md, "Server policies"), written again on
purpose like its options: ``escalator:action`` (live, cold, stop, skip, notify) and ``escalator:budget`` (an integer
>= 0 every tagged member of a group agrees on), ``escalator:on_slow_migration`` (force_complete, abort, abort_then_cold)
and ``escalator:migration_timeout`` (an integer >= 1; neither changes a move nor the fingerprint), and the plan-wide
rules they give: a plan over a bad tag is infeasible, and the plan's ``server_policies`` says exactly which server
carried which policy."""

from __future__ import annotations

ACTION = "escalator:action"
BUDGET = "escalator:budget"
SLOW = "escalator:on_slow_migration"
TIMEOUT = "escalator:migration_timeout"
_ACTIONS = ("live", "cold", "stop", "skip", "notify")
_SLOW = ("force_complete", "abort", "abort_then_cold")


def action(inst):
    """The documented action of *inst* (lower-cased), None without the key, "?" for a value not documented."""
    meta = inst.get("metadata") or {}
    if ACTION not in meta:
        return None
    value = str(meta[ACTION]).strip().lower()
    return value if value in _ACTIONS else "?"


def budget(inst):
    """The integer ``escalator:budget`` of *inst*, None without the key, -1 for a value that is not one."""
    meta = inst.get("metadata") or {}
    if BUDGET not in meta:
        return None
    text = str(meta[BUDGET]).strip()
    return int(text) if text.isdigit() else -1


def migration_keys_ok(inst):
    """False when *inst* carries an ``escalator:on_slow_migration`` or ``escalator:migration_timeout`` that is not
    documented (the evacuation would refuse it)."""
    meta = inst.get("metadata") or {}
    if SLOW in meta and str(meta[SLOW]).strip().lower() not in _SLOW:
        return False
    if TIMEOUT in meta:
        text = str(meta[TIMEOUT]).strip()
        return text.isdigit() and int(text) >= 1
    return True


def fingerprint_tags(inst):
    """What the fingerprint hashes of a server's metadata: its Escalator keys, as strings (none: nothing)."""
    meta = inst.get("metadata") or {}
    return {key: str(meta[key]) for key in (ACTION, BUDGET) if key in meta}


def tag_budgets(members, inst):
    """{budget values found on *members*}: one value when they agree (none: no tag)."""
    return {budget(inst[m]) for m in members if budget(inst[m]) is not None}


def check_tags(cloud, plan):
    """The plan-wide rules of the tags: bad values make the plan infeasible; ``server_policies`` tells the truth."""
    bad = []
    wrong = sorted(iid for iid, i in cloud.inst.items()
                   if action(i) == "?" or budget(i) == -1 or not migration_keys_ok(i))
    split = sorted(cloud.groups[gid]["name"] for gid in cloud.groups if len(cloud.groups[gid]["tag_budgets"]) > 1)
    if plan.get("feasible"):
        for iid in wrong:
            meta = cloud.inst[iid].get("metadata") or {}
            bad.append("instance %s carries %s: a plan over an undocumented value must be infeasible"
                       % (iid, ", ".join("%s=%r" % (k, meta[k]) for k in (ACTION, BUDGET, SLOW, TIMEOUT)
                                         if k in meta)))
        for name in split:
            bad.append("group %s: its members disagree on %s, the plan must be infeasible" % (name, BUDGET))
    section = plan.get("server_policies") or {}
    want = sorted((iid, cloud.origin[iid], action(i)) for iid, i in cloud.inst.items()
                  if action(i) not in (None, "?"))
    have = sorted((s.get("instance"), s.get("host"), s.get("action")) for s in section.get("servers") or [])
    if have != want:
        bad.append("server_policies lists %s, the servers carry %s"
                   % (["%s@%s=%s" % t for t in have], ["%s@%s=%s" % t for t in want]))
    want_groups = sorted((gid, grp["budget"]) for gid, grp in cloud.groups.items() if grp["budget_from_tags"])
    have_groups = sorted((g.get("group"), g.get("budget")) for g in section.get("groups") or [])
    if have_groups != want_groups:
        bad.append("server_policies gives group budgets %s, the members' %s gives %s"
                   % (have_groups, BUDGET, want_groups))
    return bad
