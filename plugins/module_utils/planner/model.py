# SPDX-License-Identifier: Apache-2.0
"""The cloud as the planner holds it: which hosts the campaign takes, their room, the instances and groups.

Struct-of-arrays: hosts, instances and groups are integers indexing parallel lists (``names[h]``,
``used[d][h]``, ``inst_req[i]``, ``g_limit[k]``) because the placement loop reads them millions of times at
5 000 hosts and list indexing is several times cheaper than attribute access on per-host objects.
"""

from __future__ import annotations

import math

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import parse_reason
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import RESOURCES, unhealthy
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.policies import ServerPolicies

# host states
PENDING = 0      # eligible, not yet upgraded, may be batched
BATCH = 1        # in the batch being built
UPGRADED = 2     # upgraded by an earlier batch
SKIPPED = 3      # left out of the campaign (an outside host may still receive instances)
BLOCKED = 4      # eligible but cannot be planned (a reason was recorded)

_OUTSIDE_BIAS = 4.0   # added to an outside host's pool key: upgraded hosts of the campaign come first
# skipped hosts that stay up and may receive instances when they are up and enabled
_OUTSIDE_REASONS = ("excluded", "not_included", "server_policy")


class CloudModel(ServerPolicies):
    """Hosts (sorted by name), their instances and server groups, and the reasons and warnings found so far."""

    def __init__(self, hosts, server_groups, opts):
        self.opts = opts
        self.reasons = []
        self.warnings = []
        hosts = sorted(hosts, key=lambda h: h["name"])
        self.hosts_in = hosts
        n = len(hosts)
        self.names = [h["name"] for h in hosts]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.zone = [str(h.get("zone") or "") for h in hosts]
        self.state = [PENDING] * n
        self.ours = [False] * n
        self.outside = [False] * n   # skipped only for the selection, up and enabled: a destination
        self.skipped = []
        self.read_policies(hosts)
        self._classify()
        self.n_eligible = sum(1 for st in self.state if st != SKIPPED)
        self.key_bias = [_OUTSIDE_BIAS if o else 0.0 for o in self.outside]
        self._load_room(hosts, opts["reserve"])
        self._load_instances(hosts)
        self.index_policies()
        self._load_groups(server_groups)
        self.inst_rules = []
        self.inst_switch = []
        self._instance_rules()

    def _load_room(self, hosts, reserve):
        """Capacity, the limit the reserve leaves (inf: not reported) and use, per resource then host."""
        n = len(hosts)
        self.cap = [[None] * n for dummy in RESOURCES]
        self.lim = [[math.inf] * n for dummy in RESOURCES]
        self.used = [[0] * n for dummy in RESOURCES]
        for h, host in enumerate(hosts):
            capacity = host.get("capacity") or {}
            used = host.get("used") or {}
            for d, key in enumerate(RESOURCES):
                self.used[d][h] = used.get(key) or 0
                if capacity.get(key) is None:
                    continue
                cap = capacity[key]
                self.cap[d][h] = cap
                if isinstance(reserve, dict):
                    self.lim[d][h] = cap - reserve.get(key, 0)
                else:
                    self.lim[d][h] = cap * (1 - reserve)

    def _load_instances(self, hosts):
        self.inst_id = []
        self.inst_name = []
        self.inst_status = []
        self.inst_req = []
        self.inst_host = []
        self.inst_groups = []
        self.inst_sg = []
        self.host_inst = [[] for dummy in hosts]
        self.inst_index = {}
        for h, host in enumerate(hosts):
            for inst in sorted(host.get("instances") or [], key=lambda i: i["id"]):
                i = len(self.inst_id)
                self.inst_index[inst["id"]] = i
                self.inst_id.append(inst["id"])
                self.inst_name.append(inst.get("name") or inst["id"])
                self.inst_status.append(str(inst.get("status") or "").upper())
                self.inst_req.append(tuple(inst.get(k) or 0 for k in RESOURCES))
                self.inst_host.append(h)
                self.inst_sg.append(inst.get("server_groups") or [])
                self.inst_groups.append(())
                self.host_inst[h].append(i)
        self.moves = [0] * len(self.inst_id)
        self.why_twice = {}
        self.inst_host0 = list(self.inst_host)
        self.host_inst0 = [list(x) for x in self.host_inst]

    def _classify(self):
        """Which hosts the campaign takes; the others are skipped with a reason (docs/planner.md)."""
        opts = self.opts
        exclude = set(opts["exclude_hosts"])
        include = None if opts["include_hosts"] is None else set(opts["include_hosts"])
        for name in sorted(exclude - set(self.names)):
            self.warnings.append("exclude_hosts names %s, which is not a known compute host" % name)
        if include is not None:
            for name in sorted(include - set(self.names)):
                self.reasons.append("include_hosts names %s, which is not a known compute host" % name)
        for h, host in enumerate(self.hosts_in):
            reason, detail = self._skip_reason(h, host, exclude, include)
            if reason:
                self.state[h] = SKIPPED
                self.skipped.append((h, reason, detail))
                self.outside[h] = (reason in _OUTSIDE_REASONS and host.get("state", "up") == "up"
                                   and host.get("status", "enabled") == "enabled")

    def _skip_reason(self, h, host, exclude, include):
        """(reason, detail) when the campaign leaves *host* out, else (None, None); marks hosts disabled by us."""
        name = host["name"]
        if name in exclude:
            return "excluded", "listed in exclude_hosts"
        if include is not None and name not in include:
            return "not_included", "not listed in include_hosts"
        if host.get("state", "up") != "up":
            return "down", "nova-compute is down"
        if name in self.skip_holders:
            # CERN's practice: a server its owner wants untouched keeps its hypervisor out of the campaign
            return "server_policy", "holds %s (escalator:action=skip)" % ", ".join(sorted(self.skip_holders[name]))
        if self.opts["unhealthy_instances"] == "skip_host" and unhealthy(host):
            return "unhealthy", "holds %s (unhealthy_instances: skip_host)" % ", ".join(
                "%s (%s)" % (inst.get("name") or inst["id"], inst.get("status") or "unknown status")
                for inst in unhealthy(host))
        if host.get("status", "enabled") != "disabled":
            return None, None
        disabled_reason = host.get("disabled_reason")
        owner = parse_reason(disabled_reason)
        campaign_id = self.opts["campaign_id"]
        marker = self.opts["our_disable_marker"]
        if campaign_id is not None:
            # one meaning of "ours" with compute_maintenance: this campaign's marker, not any Escalator's
            ours = owner == campaign_id
        else:
            ours = bool(marker and isinstance(disabled_reason, str) and disabled_reason.startswith(marker))
        if ours:
            self.ours[h] = True
            return None, None
        return "disabled", "disabled by %s (%s)" % (
            "Escalator campaign %s" % owner if owner else "someone else",
            "reason: %s" % disabled_reason if disabled_reason else "no reason given")

    def _load_groups(self, server_groups):
        groups = sorted(server_groups, key=lambda g: g["id"])
        self.g_id = [g["id"] for g in groups]
        self.g_name = [g.get("name") or g["id"] for g in groups]
        self.g_policy = [g["policy"] for g in groups]
        gindex = {gid: k for k, gid in enumerate(self.g_id)}
        members = [set() for dummy in groups]
        for k, group in enumerate(groups):
            for iid in group.get("members") or []:
                i = self.inst_index.get(iid)
                if i is not None:
                    members[k].add(i)
        for i, sgs in enumerate(self.inst_sg):
            for gid in sgs:
                k = gindex.get(gid)
                if k is not None:
                    members[k].add(i)
        self.g_members = [sorted(m) for m in members]
        inst_groups = [[] for dummy in self.inst_id]
        for k, mem in enumerate(self.g_members):
            for i in mem:
                inst_groups[i].append(k)
        self.inst_groups = [tuple(g) for g in inst_groups]
        self.inst_sg = None
        self._load_budgets()
        self.host_groups = [{} for dummy in self.names]     # per host: group index -> members on it
        self.group_hosts = [{} for dummy in groups]         # per group: host index -> members on it
        for i, gs in enumerate(self.inst_groups):
            h = self.inst_host[i]
            for k in gs:
                hg = self.host_groups[h]
                hg[k] = hg.get(k, 0) + 1
                gh = self.group_hosts[k]
                gh[h] = gh.get(h, 0) + 1

    def _load_budgets(self):
        """Per group: its budget (its members' escalator:budget, then by id, then name, then default_budget for
        anti-affinity), members already down, and the limit a batch may take down (budget 0: one at a time, by VNFM
        switchover)."""
        budgets = self.opts["budgets"]
        used_keys = set()
        self.g_budget = []
        self.g_limit = []
        self.g_down = []
        self.g_budget_tag = {}     # group index -> the servers whose escalator:budget set its budget
        for k, gid in enumerate(self.g_id):
            name, policy = self.g_name[k], self.g_policy[k]
            tag_budget, carriers = self.policy_budget(k) if self.tagged else (None, [])
            if tag_budget is not None:
                budget = tag_budget
                self.g_budget_tag[k] = carriers
                for key in dict.fromkeys((gid, name)):
                    if key in budgets:
                        used_keys.add(key)
                        self.warnings.append("group %s: escalator:budget=%d on its members (%s) overrides budgets[%s]=%d"
                                             % (name, budget, ", ".join(carriers), key, budgets[key]))
            elif gid in budgets:
                budget = budgets[gid]
                used_keys.add(gid)
            elif name in budgets:
                budget = budgets[name]
                used_keys.add(name)
            elif policy == "anti-affinity":
                budget = self.opts["default_budget"]
            else:
                budget = None
            down = sum(1 for i in self.g_members[k]
                       if self.state[self.inst_host[i]] == SKIPPED
                       and self.hosts_in[self.inst_host[i]].get("state", "up") != "up")
            self.g_down.append(down)
            self.g_budget.append(budget)
            if budget is None:
                self.g_limit.append(None)
            elif budget == 0:
                self.g_limit.append(1)
            else:
                self.g_limit.append(budget - down)
        for key in sorted(set(budgets) - used_keys):
            self.warnings.append("budgets names %s, which is not a known server group" % key)

    def _instance_rules(self):
        """Per instance: the server-group facts a unit needs (computed once)."""
        policy = self.g_policy
        limit = self.g_limit
        plain = ((), (), (), (), None)
        for groups in self.inst_groups:
            self.inst_switch.append(any(self.g_budget[k] == 0 for k in groups))
            if not groups:
                self.inst_rules.append(plain)
                continue
            anti, limited, soft_anti, soft_aff, aff = [], [], [], [], None
            for k in groups:
                p = policy[k]
                if p == "anti-affinity":
                    anti.append(k)
                elif p == "affinity":
                    if aff is None:
                        aff = k
                elif p == "soft-anti-affinity":
                    soft_anti.append(k)
                else:
                    soft_aff.append(k)
                if limit[k] is not None:
                    limited.append(k)
            self.inst_rules.append((tuple(anti), tuple(limited), tuple(soft_anti), tuple(soft_aff), aff))

    def group_label(self, k):
        budget = self.g_budget[k]
        return "group %s (%s, budget %s)" % (self.g_name[k], self.g_policy[k],
                                             "none" if budget is None else budget)

    def eligible(self):
        return [h for h in range(len(self.names)) if self.state[h] != SKIPPED]

    def block(self, h):
        if self.state[h] == PENDING:
            self.state[h] = BLOCKED
