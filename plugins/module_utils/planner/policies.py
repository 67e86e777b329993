# SPDX-License-Identifier: Apache-2.0
"""Per-server policy from server metadata, as the planner holds it (docs/planner.md, "Server policies"): which
servers carry ``escalator:action`` and ``escalator:budget`` (and valid ``escalator:on_slow_migration`` /
``escalator:migration_timeout`` values, which the evacuation reads), the hosts a ``skip`` leaves out, the ``notify``
servers that never move, the mode of a tagged server's move, the groups whose budget their members set, and the
plan's ``server_policies`` section. The vocabulary and its reading: module_utils/server_policy.py."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import server_policy as sp

_STOPPED = "SHUTOFF"


class ServerPolicies:
    """Mixin of the planner's CloudModel: reads the tags once, before the hosts are classified."""

    def read_policies(self, hosts):
        """Every tagged server of *hosts*: its action (problems are reasons of an infeasible plan, unknown
        ``escalator:`` keys warnings); fills ``tag_action``, ``tag_host``, ``skip_holders`` and ``tagged``."""
        self.tag_action = {}       # instance id -> action
        self.tag_host = {}         # instance id -> host name
        self.skip_holders = {}     # host name -> names of its servers tagged skip
        self.tagged = {}           # instance id -> instance dict, every server with an escalator: key
        # one comprehension over every instance (100 000 at scale), then work only on those with metadata
        with_metadata = [(host, inst) for host in hosts for inst in host.get("instances") or () if inst.get("metadata")]
        for host, inst in with_metadata:
            if not any(str(key).startswith(sp.PREFIX) for key in inst["metadata"]):
                continue
            self.tagged[inst["id"]] = inst
            for key in sp.unknown_keys(inst):
                self.warnings.append("server %s on %s: metadata key %s is not Escalator's (it knows %s): ignored"
                                     % (inst.get("name") or inst["id"], host["name"], key, ", ".join(sp.KNOWN_KEYS)))
            action, problem = sp.action_of(inst)
            # the migration keys change no move, but a bad value would fail the evacuation: refused here already
            for found in [problem, sp.budget_of(inst)[1]] + sp.migration_problems(inst):
                if found:
                    self.reasons.append(found)
            if action is None:
                continue
            self.tag_action[inst["id"]] = action
            self.tag_host[inst["id"]] = host["name"]
            if action == sp.SKIP:
                self.skip_holders.setdefault(host["name"], []).append(inst.get("name") or inst["id"])

    def index_policies(self):
        """After the instances are loaded: the actions by instance index, and the set of notify servers."""
        self.inst_policy = {self.inst_index[iid]: action for iid, action in self.tag_action.items()}
        self.notify = {i for i, action in self.inst_policy.items() if action == sp.NOTIFY}
        for i, action in sorted(self.inst_policy.items()):
            if action in (sp.COLD, sp.STOP) and self.inst_status[i] not in ("ACTIVE", _STOPPED):
                self.warnings.append("instance %s on %s is %s: Nova can neither stop nor cold-migrate it, so its "
                                     "escalator:action=%s cannot be honoured (the evacuation refuses it)"
                                     % (self.inst_name[i], self.names[self.inst_host[i]], self.inst_status[i], action))

    def policy_budget(self, k):
        """``(budget or None, servers carrying it)`` of group *k* from its members' ``escalator:budget``; a
        disagreement is a reason of an infeasible plan (the group then keeps its group-vars budget)."""
        members = [self.inst_id[i] for i in self.g_members[k]]
        if not any(iid in self.tagged for iid in members):
            return None, []
        budget, carriers, problem = sp.group_budget(
            {"id": self.g_id[k], "name": self.g_name[k], "members": members}, self.tagged)
        if problem:
            self.reasons.append(problem)
        return budget, carriers

    def tagged_mode(self, i):
        """The mode a tag imposes on instance *i*'s move (None: the usual rule)."""
        action = self.inst_policy.get(i)
        if action == sp.COLD:
            return "cold"
        if action == sp.STOP:
            return "cold" if self.inst_status[i] == _STOPPED else "stop"
        return None

    def policies_out(self):
        """The plan's ``server_policies``: the tagged servers and the groups whose budget their members set."""
        servers = [{"instance": iid, "name": self.inst_name[self.inst_index[iid]], "host": self.tag_host[iid],
                    "action": action} for iid, action in self.tag_action.items()]
        servers.sort(key=lambda s: (s["host"], s["name"], s["instance"]))
        groups = [{"group": self.g_id[k], "name": self.g_name[k], "budget": self.g_budget[k], "servers": carriers}
                  for k, carriers in sorted(self.g_budget_tag.items())]
        return {"servers": servers, "groups": groups}
