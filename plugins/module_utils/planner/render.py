# SPDX-License-Identifier: Apache-2.0
"""The plan as a fixed-width table for the operator (campaign_plan's ``table``, the confirmation prompt)."""

from __future__ import annotations

import textwrap

from ansible_collections.opnfv.escalator.plugins.module_utils.control.durations import minutes_text
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.options import AUTO, AUTO_MIN_BATCH
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.text import plural

_WIDTHS = (5, 24, 26, 24, 24, 26)
_EXPECTED_WIDTH = 11


def _destinations_summary(moves):
    counts = {}
    outside = set()
    for move in moves:
        dest = move["to"][0]
        counts[dest] = counts.get(dest, 0) + 1
        if move.get("outside_campaign"):
            outside.add(dest)
    return ", ".join("%s(%d)%s" % (dest, c, "^" if dest in outside else "") for dest, c in sorted(counts.items()))


def _table(rows, widths):
    lines = []
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines.append(sep)
    for r, row in enumerate(rows):
        cells = [textwrap.wrap(str(cell), w, break_on_hyphens=False) or [""] for cell, w in zip(row, widths)]
        height = max(len(c) for c in cells)
        for line in range(height):
            lines.append("| " + " | ".join((c[line] if line < len(c) else "").ljust(w)
                                           for c, w in zip(cells, widths)) + " |")
        if r == 0:
            lines.append(sep.replace("-", "="))
    lines.append(sep)
    return lines


def _batch_row(batch):
    moves = batch["moves"]
    moving = str(len(moves))
    if 0 < len(moves) <= 6:
        # a server's own policy (escalator:action) beside its name: name[cold]
        moving += ": " + ", ".join(m["name"] + ("[%s]" % m["policy"] if m.get("policy") else "") for m in moves)
    return ("%d%s" % (batch["batch"], "*" if batch.get("canary") else ""), ", ".join(batch["hosts"]),
            moving, _destinations_summary(moves) or "-",
            "; ".join(b["detail"] for b in batch.get("size_bound") or []) or "-",
            "; ".join(batch.get("notes", [])) or "-")


def _summary_lines(plan, summary):
    bound = summary.get("lower_bound", {})
    lines = ["hosts: %d eligible, %d skipped; batches: %d (lower bound %s); instances moving: %d, "
             "moves: %d, max per instance: %d, moving more than once: %d"
             % (summary.get("eligible_hosts", 0), summary.get("skipped_hosts", 0),
                summary.get("batches", 0), bound.get("batches", "-"), summary.get("instances_moving", 0),
                summary.get("moves", 0), summary.get("max_moves_per_instance", 0),
                summary.get("instances_moving_more_than_once", 0))]
    options = plan.get("options") or {}
    if "batch_size_cap" in summary:
        how = ""
        if options.get("max_batch_size") == AUTO:
            how = ": %s%% of the %d hosts, at least %d" % (options.get("max_batch_percent"),
                                                           summary.get("eligible_hosts", 0), AUTO_MIN_BATCH)
        lines.append("batch size: at most %s per batch after the canary (max_batch_size %s%s)"
                     % (plural(summary["batch_size_cap"], "host"), options.get("max_batch_size", "-"), how))
    return lines


_MEANS = {"live": "live migration", "cold": "cold migration only", "stop": "stopped, moved cold, left SHUTOFF",
          "skip": "not touched: its host is skipped", "notify": "moved by its VNFM, not by Escalator"}


def _policy_lines(policies):
    """Which server carried which policy (server metadata, docs/planner.md "Server policies")."""
    lines = ["server policy: %s on %s: escalator:action=%s (%s)" % (s["name"], s["host"], s["action"],
                                                                    _MEANS.get(s["action"], "?"))
             for s in policies.get("servers") or []]
    lines.extend("server policy: group %s: escalator:budget=%s on %s (over budgets and default_budget)"
                 % (g["name"], g["budget"], ", ".join(g["servers"])) for g in policies.get("groups") or [])
    return lines


def _expected(seconds):
    return "-" if seconds is None else minutes_text(seconds)


def render_table(plan):
    """A readable fixed-width table of a plan (batches, hosts, moves, destinations, notes)."""
    summary = plan.get("summary", {})
    lines = ["Campaign %s  plan %s  fingerprint %s" % (plan.get("campaign_id") or "-",
                                                       "FEASIBLE" if plan.get("feasible") else "INFEASIBLE",
                                                       (plan.get("fingerprint") or "")[:19])]
    if not plan.get("feasible"):
        lines.append("No plan exists:")
        lines.extend("  - %s" % r for r in plan.get("reasons", []))
    rows = [("Batch", "Hosts", "Instances moving", "Destinations (instances)", "Size bound by", "Notes")]
    rows.extend(_batch_row(batch) for batch in plan.get("batches", []))
    expected = plan.get("expected") or {}
    widths = _WIDTHS
    if expected.get("batches"):
        # the expected durations (campaign_plan adds them: advice outside the fingerprint), a column per batch
        seconds = {entry.get("batch"): entry.get("seconds") for entry in expected["batches"]}
        rows = [rows[0] + ("Expected",)] + [row + (_expected(seconds.get(batch.get("batch"))),)
                                            for row, batch in zip(rows[1:], plan.get("batches", []))]
        widths = _WIDTHS + (_EXPECTED_WIDTH,)
    if len(rows) > 1:
        lines.extend(_table(rows, widths))
        lines.append("* canary batch")
        if any(m.get("outside_campaign") for b in plan.get("batches", []) for m in b["moves"]):
            lines.append("^ host outside the campaign: stays up and is not upgraded now")
    for skipped in plan.get("skipped", []):
        lines.append("skipped %s: %s (%s left in place%s)"
                     % (skipped["host"], skipped["detail"], plural(skipped["instances"], "instance"),
                        "; up and enabled, it may receive instances" if skipped.get("destination") else ""))
    lines.extend(_policy_lines(plan.get("server_policies") or {}))
    if summary:
        lines.extend(_summary_lines(plan, summary))
    if expected.get("batches"):
        lines.append("expected: campaign: %s (%s; a batch as long as its slowest host; waits for windows and "
                     "alerts not counted)" % (minutes_text(expected.get("campaign_s") or 0),
                                              expected.get("source") or "-"))
    for warning in plan.get("warnings", []):
        lines.append("warning: %s" % warning)
    return "\n".join(lines) + "\n"
