# SPDX-License-Identifier: Apache-2.0
"""The rules of one batch, replayed on the cloud: budgets, the moves (exactly the instances on the batch's
hosts), their destinations and modes, affinity, capacity after the moves, anti-affinity and fallbacks."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.cloud import need
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.policies import action

_LIVE = ("ACTIVE", "PAUSED")


def check_batch(cloud, opts, pos, batch, upgraded, batch_of, moved):
    """The rules batch *pos* breaks; its valid moves are then applied to *cloud* and counted in *moved*."""
    replay = _BatchReplay(cloud, opts, pos, batch, upgraded, batch_of)
    replay.check_budgets()
    replay.check_move_list()
    homes = replay.affinity_homes()
    valid_moves = []
    handled = set()
    for move in batch.get("moves") or []:
        iid = move.get("instance")
        if iid not in cloud.inst or cloud.where.get(iid) not in replay.in_batch or iid in handled:
            continue
        handled.add(iid)
        if iid in cloud.notify:
            continue      # check_move_list said it: its VNFM moves it
        dests = replay.check_move(iid, move, homes)
        if dests:
            valid_moves.append((iid, dests))
    replay.check_affinity_split(valid_moves)
    replay.apply(valid_moves, moved)
    replay.check_landing(valid_moves)
    return replay.bad


class _BatchReplay:
    """One batch's replay: what it reads of the cloud before its moves, and the problems found."""

    def __init__(self, cloud, opts, pos, batch, upgraded, batch_of):
        self.cloud, self.opts, self.pos, self.upgraded, self.batch_of = cloud, opts, pos, upgraded, batch_of
        self.batch = batch
        self.bad = []
        self.in_batch = set(batch.get("hosts") or [])
        self.present = sorted(iid for name in self.in_batch if name in cloud.on for iid in cloud.on[name])
        self.touched = sorted({gid for iid in self.present for gid in cloud.group_of[iid]})

    def check_budgets(self):
        """Budgets: members sitting on the batch's hosts when it starts."""
        cloud = self.cloud
        for gid in self.touched:
            grp = cloud.groups[gid]
            if grp["limit"] is None:
                continue
            count = len([m for m in grp["members"] if cloud.where[m] in self.in_batch])
            if count > grp["limit"]:
                self.bad.append("batch %d: group %s loses %d members (budget %s allows %d)"
                                % (self.pos, grp["name"], count, grp["budget"], grp["limit"]))

    def check_move_list(self):
        """The moves are exactly the instances on the batch's hosts but the notify ones (escalator:action=notify:
        their VNFM moves them), which the batch's ``notify`` lists instead."""
        pos, notify = self.pos, self.cloud.notify
        listed = [m.get("instance") for m in self.batch.get("moves") or []]
        for iid in sorted(set(listed) & notify):
            self.bad.append("batch %d: moves instance %s, whose escalator:action is notify (its VNFM moves it)"
                            % (pos, iid))
        said = sorted(n.get("instance") for n in self.batch.get("notify") or [])
        want = [iid for iid in self.present if iid in notify]
        if said != want:
            self.bad.append("batch %d: notify lists %s, the servers tagged notify on its hosts are %s"
                            % (pos, said, want))
        listed = [iid for iid in listed if iid not in notify]
        present = [iid for iid in self.present if iid not in notify]
        if sorted(listed) == present:
            return
        missing = sorted(set(present) - set(listed))
        extra = sorted(set(listed) - set(present))
        dup = sorted({iid for iid in listed if listed.count(iid) > 1}) if len(set(listed)) != len(listed) else []
        if missing:
            self.bad.append("batch %d: instances left on hosts in maintenance: %s" % (pos, ", ".join(missing[:10])))
        if extra:
            self.bad.append("batch %d: moves instances not on its hosts: %s" % (pos, ", ".join(extra[:10])))
        if dup:
            self.bad.append("batch %d: moves instances twice: %s" % (pos, ", ".join(dup[:10])))

    def _receivable(self, name):
        cloud = self.cloud
        if name in cloud.outside:
            return True
        return (name in cloud.hosts and cloud.skip[name] is None and name not in self.in_batch
                and not (name in cloud.ours and name not in self.upgraded))

    def affinity_homes(self):
        """Where affinity members may go: hosts that keep other members and can receive them."""
        cloud = self.cloud
        homes = {}
        for gid in self.touched:
            grp = cloud.groups[gid]
            if grp["policy"] == "affinity":
                homes[gid] = {cloud.where[m] for m in grp["members"] if self._receivable(cloud.where[m])}
        return homes

    def _destination_ok(self, iid, dest):
        """Whether *dest* may receive *iid* in this batch (a problem recorded when not)."""
        cloud, pos = self.cloud, self.pos
        if dest not in cloud.hosts:
            self.bad.append("batch %d: instance %s: unknown destination %s" % (pos, iid, dest))
            return False
        if dest in cloud.outside:
            return True     # outside the selection, up and enabled: stays up for the whole campaign
        if cloud.skip[dest] is not None:
            host = cloud.hosts[dest]
            why = cloud.skip[dest]
            if why in ("excluded", "not_included"):
                why += ", and %s" % ("down" if host.get("state", "up") != "up" else "disabled")
            self.bad.append("batch %d: instance %s sent to skipped host %s (%s)" % (pos, iid, dest, why))
            return False
        if dest in self.in_batch:
            self.bad.append("batch %d: instance %s sent to %s, which is in the same batch" % (pos, iid, dest))
            return False
        if dest in cloud.ours and dest not in self.upgraded:
            self.bad.append("batch %d: instance %s sent to %s, which Escalator disabled and has not upgraded yet"
                            % (pos, iid, dest))
            return False
        return True

    def check_move(self, iid, move, homes):
        """One move's source, destinations, mode and flags; returns its destinations when all may receive it."""
        cloud, pos, bad = self.cloud, self.pos, self.bad
        if move.get("from") != cloud.where[iid]:
            bad.append("batch %d: instance %s is on %s, the plan says from %s"
                       % (pos, iid, cloud.where[iid], move.get("from")))
        dests = move.get("to") or []
        if not dests:
            bad.append("batch %d: instance %s has no destination" % (pos, iid))
            return None
        if len(set(dests)) != len(dests):
            bad.append("batch %d: instance %s lists a destination twice" % (pos, iid))
        if len(dests) > self.opts["destinations_per_move"]:
            bad.append("batch %d: instance %s has %d destinations (destinations_per_move %d)"
                       % (pos, iid, len(dests), self.opts["destinations_per_move"]))
        ok = True
        for dest in dests:      # each destination checked: every problem recorded
            ok = self._destination_ok(iid, dest) and ok
        flags = [d in self.upgraded or d in cloud.outside for d in dests]
        if flags != sorted(flags, reverse=True):
            bad.append("batch %d: instance %s: not-yet-upgraded destination listed before an upgraded one "
                       "(or one outside the campaign)" % (pos, iid))
        mode = self._mode(iid)
        if move.get("mode") != mode:
            bad.append("batch %d: instance %s has mode %r, expected %r" % (pos, iid, move.get("mode"), mode))
        tag = action(cloud.inst[iid])
        if move.get("policy") != tag:
            bad.append("batch %d: instance %s: the move says policy %r, the server carries escalator:action=%s"
                       % (pos, iid, move.get("policy"), tag))
        self._check_primary(iid, move, dests[0], ok)
        for gid in cloud.group_of[iid]:
            home = homes.get(gid)
            if home and not set(dests) <= home:
                bad.append("batch %d: instance %s of affinity group %s sent away from its group's hosts %s"
                           % (pos, iid, cloud.groups[gid]["name"], ", ".join(sorted(home))))
        return dests if ok else None

    def _mode(self, iid):
        """The documented mode: cold for escalator:action=cold, stop for stop (cold when already SHUTOFF), else
        switchover for a budget-0 group's member, live for a running server, cold for a stopped one."""
        cloud = self.cloud
        status = str(cloud.inst[iid].get("status") or "").upper()
        tag = action(cloud.inst[iid])
        if tag == "cold" or (tag == "stop" and status == "SHUTOFF"):
            return "cold"
        if tag == "stop":
            return "stop"
        if any(cloud.groups[g]["budget"] == 0 for g in cloud.group_of[iid]):
            return "switchover"
        return "live" if status in _LIVE else "cold"

    def _check_primary(self, iid, move, primary, ok):
        """outside_campaign and moves_again_in_batch say the truth about the first destination."""
        cloud, pos, bad = self.cloud, self.pos, self.bad
        if move.get("outside_campaign", False) is not (primary in cloud.outside):
            bad.append("batch %d: instance %s: outside_campaign is %r, but %s is %s the campaign"
                       % (pos, iid, move.get("outside_campaign"), primary,
                          "outside" if primary in cloud.outside else "not outside"))
        if ok and primary in cloud.outside:
            if move.get("moves_again_in_batch") is not None:
                bad.append("batch %d: instance %s goes to %s, outside the campaign, but is said to move again"
                           % (pos, iid, primary))
        elif ok and primary not in self.upgraded:
            again = self.batch_of.get(primary)
            if move.get("moves_again_in_batch") != again:
                bad.append("batch %d: instance %s parked on %s should say it moves again in batch %s"
                           % (pos, iid, primary, again))
        elif ok and move.get("moves_again_in_batch") is not None:
            bad.append("batch %d: instance %s goes to upgraded host %s but is said to move again"
                       % (pos, iid, primary))

    def check_affinity_split(self, valid_moves):
        """Affinity members moving in one batch share their destination."""
        for gid in self.touched:
            grp = self.cloud.groups[gid]
            if grp["policy"] != "affinity":
                continue
            primaries = {dests[0] for iid, dests in valid_moves if iid in grp["members"]}
            if len(primaries) > 1:
                self.bad.append("batch %d: affinity group %s split across %s"
                                % (self.pos, grp["name"], ", ".join(sorted(primaries))))

    def apply(self, valid_moves, moved):
        """Apply the planned (first) destinations; a receiving host must stay within its limit."""
        cloud = self.cloud
        received = set()
        freed = {name: [0, 0, 0] for name in self.in_batch}
        for iid, dests in valid_moves:
            needs = need(cloud.inst[iid])
            src = cloud.where[iid]
            for d in range(3):
                freed[src][d] += needs[d]
                cloud.used[dests[0]][d] += needs[d]
            cloud.where[iid] = dests[0]
            cloud.on[src].discard(iid)
            cloud.on[dests[0]].add(iid)
            moved[iid] += 1
            received.add(dests[0])
        for name, amount in freed.items():
            cloud.used[name] = [max(0, cloud.used[name][d] - amount[d]) for d in range(3)]
        for name in sorted(received):
            if not cloud.room(name, [0, 0, 0]):
                self.bad.append("batch %d: host %s is over capacity after the moves (%s used, limit %s)"
                                % (self.pos, name, cloud.used[name], cloud.limit[name]))

    def check_landing(self, valid_moves):
        """Hard anti-affinity where members land; fallbacks must have room and respect it too."""
        cloud, pos = self.cloud, self.pos
        for iid, dests in valid_moves:
            for gid in cloud.group_of[iid]:
                grp = cloud.groups[gid]
                if grp["policy"] != "anti-affinity":
                    continue
                if cloud.members_on(gid, dests[0]) > 1:
                    self.bad.append("batch %d: instance %s joins another member of anti-affinity group %s on %s"
                                    % (pos, iid, grp["name"], dests[0]))
                for alt in dests[1:]:
                    if cloud.members_on(gid, alt) > 0:
                        self.bad.append("batch %d: fallback %s of instance %s holds a member of anti-affinity "
                                        "group %s" % (pos, alt, iid, grp["name"]))
            for alt in dests[1:]:
                if not cloud.room(alt, need(cloud.inst[iid])):
                    self.bad.append("batch %d: fallback %s of instance %s has no room for it" % (pos, alt, iid))
