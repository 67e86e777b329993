# SPDX-License-Identifier: Apache-2.0
"""The plan dict the planner returns: batches with their moves and notes, skipped hosts, moves per instance,
the summary and the lower bound on the number of batches (format in docs/planner.md)."""

from __future__ import annotations

import math

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.model import SKIPPED
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.plan_json import PLAN_FORMAT
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.text import plural


class PlanOutput:
    """Mixin of the planner (engine.Planner): its state as the plan's dictionaries."""

    def lower_bound(self):
        opts = self.opts
        eligible = self.eligible()
        n_el = len(eligible)
        canary = min(opts["canary_hosts"], n_el)
        by_size = (1 if canary else 0) + math.ceil((n_el - canary) / self.batch_cap)
        by_az = 0
        if opts["az_max_down"] is not None:
            per_zone = {}
            for h in eligible:
                per_zone[self.zone[h]] = per_zone.get(self.zone[h], 0) + 1
            by_az = max([math.ceil(c / opts["az_max_down"]) for c in per_zone.values()] or [0])
        by_budget = 0
        hosts0 = self.inst_host0
        for k, members in enumerate(self.g_members):
            limit = self.g_limit[k]
            if limit is None or limit < 1:
                continue
            count = sum(1 for i in members if self.state[hosts0[i]] != SKIPPED)
            by_budget = max(by_budget, math.ceil(count / limit))
        return {"batches": max(by_size, by_az, by_budget), "by_batch_size": by_size, "by_az": by_az,
                "by_budget": by_budget}

    def _batch_notes(self, batch):
        names = self.names
        notes = []
        if batch.canary:
            notes.append("canary")
        resumed = [names[h] for h in batch.hosts if self.ours[h]]
        if resumed:
            notes.append("resumes %s (already disabled by Escalator)" % ", ".join(resumed))
        parked = sum(1 for m in batch.moves if m.parked)
        if parked:
            notes.append("%s parked on hosts not yet upgraded (%s again later)"
                         % (plural(parked, "instance"), "it moves" if parked == 1 else "they move"))
        away = sorted({names[m.dest] for m in batch.moves if self.outside[m.dest]})
        if away:
            count = sum(1 for m in batch.moves if self.outside[m.dest])
            notes.append("%s sent outside the campaign to %s (%s up now; a later campaign upgrading %s "
                         "moves %s again)"
                         % (plural(count, "instance"), ", ".join(away), "stays" if len(away) == 1 else "stay",
                            "it" if len(away) == 1 else "them", "it" if count == 1 else "them"))
        switch = sorted({self.g_name[k] for m in batch.moves if m.mode == "switchover"
                         for k in self.inst_groups[m.instance] if self.g_budget[k] == 0})
        if switch:
            notes.append("VNFM switchover before maintenance for group %s" % ", ".join(switch))
        notify = self._notify_of(batch)
        if notify:
            notes.append("%s moved by %s VNFM, not by Escalator (escalator:action=notify): %s"
                         % (plural(len(notify), "instance"), "its" if len(notify) == 1 else "their",
                            ", ".join(self.inst_name[i] for i in notify)))
        return notes

    def _notify_of(self, batch):
        """The notify servers on the batch's hosts (they never move, so they are where the campaign found them)."""
        hosts = set(batch.hosts)
        return sorted((i for i in self.notify if self.inst_host0[i] in hosts),
                      key=lambda i: (self.names[self.inst_host0[i]], self.inst_name[i], i))

    def _moves_out(self, moves):
        """The plan's moves of a batch (one loop, no call per move: a plan has one move per instance)."""
        names = self.names
        out = []
        for move in moves:
            entry = {"instance": self.inst_id[move.instance], "name": self.inst_name[move.instance],
                     "from": names[move.source], "to": [names[t] for t in move.to], "mode": move.mode}
            if move.parked:
                entry["moves_again_in_batch"] = self.upgraded_in[move.dest]
            if self.outside[move.dest]:
                entry["outside_campaign"] = True
            if move.group is not None:
                entry["with_group"] = self.g_id[move.group]
            if move.instance in self.inst_policy:
                entry["policy"] = self.inst_policy[move.instance]
            out.append(entry)
        return out

    def _batch_out(self, number, batch):
        zones = {}
        for h in batch.hosts:
            zones[self.zone[h]] = zones.get(self.zone[h], 0) + 1
        budget_use = [{"group": self.g_id[k], "name": self.g_name[k], "members": c, "budget": self.g_budget[k]}
                      for k, c in sorted(batch.group_counts.items(), key=lambda kv: kv[0])]
        return {
            "batch": number,
            "canary": batch.canary,
            "hosts": sorted(self.names[h] for h in batch.hosts),
            "zones": dict(sorted(zones.items())),
            "moves": self._moves_out(batch.moves),
            "budget_use": budget_use,
            "size_bound": batch.size_bound,
            "notes": self._batch_notes(batch),
            "notify": [{"instance": self.inst_id[i], "name": self.inst_name[i], "from": self.names[self.inst_host0[i]]}
                       for i in self._notify_of(batch)],
        }

    def _moves_per_instance(self):
        """({instance id: moves}, [the instances moving more than once, and why]) of a feasible plan."""
        per_instance = {}
        twice = []
        for i, iid in enumerate(self.inst_id):
            count = self.moves[i]
            per_instance[iid] = count
            if count > 1:
                why, dest = self.why_twice[i]
                twice.append({"instance": iid, "name": self.inst_name[i], "moves": count,
                              "why": "%s; parked on %s, upgraded in batch %d"
                                     % (why, self.names[dest], self.upgraded_in[dest])})
        twice.sort(key=lambda t: t["instance"])
        return dict(sorted(per_instance.items())), twice

    def _summary(self, out_batches, skipped, per_instance, twice):
        eligible = self.eligible()
        total_moves = sum(per_instance.values())
        moving = sum(1 for count in per_instance.values() if count)
        return {
            "eligible_hosts": len(eligible),
            "skipped_hosts": len(skipped),
            "batches": len(out_batches),
            "batch_size_cap": self.batch_cap,
            "lower_bound": self.lower_bound(),
            "instances_on_eligible_hosts": sum(len(self.host_inst0[h]) for h in eligible),
            "instances_moving": moving,
            "moves": total_moves,
            "max_moves_per_instance": max(per_instance.values()) if per_instance else 0,
            "mean_moves_per_moving_instance": round(total_moves / moving, 4) if moving else 0,
            "instances_moving_more_than_once": len(twice),
        }

    def output(self, fp, batches, feasible):
        """The plan dict; *batches* are moves.Batch in order (none when infeasible)."""
        out_batches = [self._batch_out(number, batch) for number, batch in enumerate(batches, 1)]
        skipped = [{"host": self.names[h], "reason": reason, "detail": detail, "destination": self.outside[h],
                    "instances": len(self.hosts_in[h].get("instances") or [])} for h, reason, detail in self.skipped]
        skipped.sort(key=lambda s: s["host"])
        per_instance, twice = self._moves_per_instance() if feasible else ({}, [])
        return {
            "format": PLAN_FORMAT,
            "campaign_id": self.opts["campaign_id"],
            "fingerprint": fp,
            "feasible": feasible,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "options": self.opts,
            "batches": out_batches,
            "skipped": skipped,
            "server_policies": self.policies_out(),
            "moves_per_instance": per_instance,
            "moved_more_than_once": twice,
            "summary": self._summary(out_batches, skipped, per_instance, twice),
        }
