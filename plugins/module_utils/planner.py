# SPDX-License-Identifier: Apache-2.0
"""Campaign planner: orders compute hosts into upgrade batches.

Pure Python (standard library only, no Ansible objects, no cloud access) so it
runs inside an Ansible module and from plain scripts alike.  Public API:

* ``plan_campaign(hosts, server_groups=None, options=None) -> dict``
* ``normalize_options(options) -> dict``
* ``fingerprint(hosts, server_groups=None, options=None) -> str``
* ``render_table(plan) -> str``
* ``plan_to_json(plan) -> str`` / ``plan_from_json(text) -> dict``

The model, the algorithm, the meaning of budgets and the plan format are
described in ``docs/planner.md``.  ``plan_check.check_plan`` verifies a plan
with code of its own.
"""

from __future__ import annotations

# An algorithmic module: a few long, branchy methods read better than many tiny ones.
# pylint: disable=too-many-lines,too-many-instance-attributes,too-many-locals,too-many-branches
# pylint: disable=too-many-statements,too-many-arguments,too-many-positional-arguments
# pylint: disable=too-few-public-methods,too-many-nested-blocks,consider-using-min-builtin

import gc
import hashlib
import heapq
import json
import math
import textwrap

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import parse_reason

PLAN_FORMAT = "escalator-plan/1"
RESOURCES = ("vcpus", "memory_mb", "disk_gb")
RESOURCE_UNITS = ("vCPU", "MB RAM", "GB disk")
POLICIES = ("anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity")
LIVE_STATUSES = frozenset(("ACTIVE", "PAUSED"))
MIGRATABLE_STATUSES = frozenset(("ACTIVE", "PAUSED", "SHUTOFF"))
EPSILON = 1e-9

DEFAULT_OPTIONS = {
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
PREFERENCES = ("single_moves", "fewer_batches")
# max_batch_size "auto": a batch after the canary takes as many hosts as the budgets, the room on hosts that stay
# up and az_max_down allow, at most max_batch_percent of the hosts the campaign upgrades (rounded down) and never
# fewer than AUTO_MIN_BATCH: below that, auto would be serial on every cloud under 8 hosts (docs/planner.md)
AUTO = "auto"
AUTO_MIN_BATCH = 2
# what to do with a host holding an instance Nova can move neither live nor cold (ERROR, SUSPENDED...):
# stop (the precheck refuses the campaign; the plan only warns) or skip_host (leave the host out, and go on)
UNHEALTHY_CHOICES = ("stop", "skip_host")

# host states inside the planner
_PENDING = 0      # eligible, not yet upgraded, may be batched
_BATCH = 1        # in the batch being built
_UPGRADED = 2     # upgraded by an earlier batch
_SKIPPED = 3      # left out of the campaign (an outside host may still receive instances)
_BLOCKED = 4      # eligible but cannot be planned (a reason was recorded)

# destination pools
_NO_POOL = 0
_UP_POOL = 1
_PENDING_POOL = 2

_HEAP_SCAN = 24   # entries a bounded heap search looks at before giving up
_OUTSIDE_BIAS = 4.0   # added to an outside host's pool key: upgraded hosts of the campaign come first
# skipped hosts that stay up and may receive instances when they are up and enabled
_OUTSIDE_REASONS = ("excluded", "not_included")


def _unhealthy(host):
    """The instances of a host that Nova can move neither live nor cold."""
    return [inst for inst in host.get("instances") or [] if inst.get("status") not in MIGRATABLE_STATUSES]


class PlanInputError(ValueError):
    """The hosts, server groups or options are malformed."""


# --------------------------------------------------------------------------
# options and input validation
# --------------------------------------------------------------------------

def _int_option(opts, key, minimum, allow_none=False):
    value = opts[key]
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise PlanInputError("option %s must be an integer, got %r" % (key, value))
    if value < minimum:
        raise PlanInputError("option %s must be >= %d, got %d" % (key, minimum, value))
    return value


def _name_list(opts, key, allow_none=False):
    value = opts[key]
    if value is None:
        return None if allow_none else []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise PlanInputError("option %s must be a list of host names" % key)
    return sorted(set(value))


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanInputError("%s must be a number, got %r" % (what, value))
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise PlanInputError("%s must be finite, got %r" % (what, value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _normalize_reserve(value):
    if value is None:
        return 0
    if isinstance(value, dict):
        out = {}
        for key, amount in value.items():
            if key not in RESOURCES:
                raise PlanInputError("option reserve: unknown resource %r (use %s)" % (key, ", ".join(RESOURCES)))
            amount = _number(amount, "option reserve.%s" % key)
            if amount < 0:
                raise PlanInputError("option reserve.%s must be >= 0" % key)
            out[key] = amount
        return out
    value = _number(value, "option reserve")
    if not 0 <= value < 1:
        raise PlanInputError("option reserve as a number is a fraction of capacity in [0, 1), got %r "
                             "(give a dict such as {'vcpus': 2, 'memory_mb': 4096} for absolute headroom)" % value)
    return value


def _batch_size(value):
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        return _int_option({"max_batch_size": value}, "max_batch_size", 1)
    except PlanInputError:
        raise PlanInputError("option max_batch_size must be 'auto' or an integer >= 1, got %r" % (value,)) from None


def batch_size_cap(options, hosts_to_upgrade):
    """The most hosts of a batch after the canary, for normalised *options* and a campaign of that many hosts."""
    if options["max_batch_size"] != AUTO:
        return options["max_batch_size"]
    return max(AUTO_MIN_BATCH, options["max_batch_percent"] * hosts_to_upgrade // 100)


def normalize_options(options=None):
    """Return a validated copy of *options* with defaults filled in."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise PlanInputError("unknown option(s): %s" % ", ".join(unknown))
    opts = dict(DEFAULT_OPTIONS)
    nullable = ("az_max_down", "include_hosts", "our_disable_marker", "campaign_id")
    opts.update({k: v for k, v in options.items() if v is not None or k in nullable})
    out = {
        "max_batch_size": _batch_size(opts["max_batch_size"]),
        "max_batch_percent": _int_option(opts, "max_batch_percent", 1),
        "canary_hosts": _int_option(opts, "canary_hosts", 0),
        "default_budget": _int_option(opts, "default_budget", 0),
        "az_max_down": _int_option(opts, "az_max_down", 1, allow_none=True),
        "exclude_hosts": _name_list(opts, "exclude_hosts"),
        "include_hosts": _name_list(opts, "include_hosts", allow_none=True),
        "reserve": _normalize_reserve(opts["reserve"]),
        "destinations_per_move": _int_option(opts, "destinations_per_move", 1),
    }
    if out["max_batch_percent"] > 100:
        raise PlanInputError("option max_batch_percent is a percentage of the hosts, 1 to 100, got %d"
                             % out["max_batch_percent"])
    budgets = opts["budgets"] or {}
    if not isinstance(budgets, dict):
        raise PlanInputError("option budgets must be a mapping of group name or id to an integer")
    out["budgets"] = {}
    for key in sorted(budgets, key=str):
        value = budgets[key]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlanInputError("budget for group %r must be an integer >= 0, got %r" % (key, value))
        out["budgets"][str(key)] = value
    marker = opts["our_disable_marker"]
    if marker is not None and not isinstance(marker, str):
        raise PlanInputError("option our_disable_marker must be a string")
    out["our_disable_marker"] = marker or None
    if opts["prefer"] not in PREFERENCES:
        raise PlanInputError("option prefer must be one of %s, got %r" % (", ".join(PREFERENCES), opts["prefer"]))
    out["prefer"] = opts["prefer"]
    if opts["unhealthy_instances"] not in UNHEALTHY_CHOICES:
        raise PlanInputError("option unhealthy_instances must be one of %s, got %r"
                             % (", ".join(UNHEALTHY_CHOICES), opts["unhealthy_instances"]))
    out["unhealthy_instances"] = opts["unhealthy_instances"]
    campaign_id = opts["campaign_id"]
    out["campaign_id"] = None if campaign_id is None else str(campaign_id)
    return out


def _validate_inputs(hosts, server_groups):
    if not isinstance(hosts, (list, tuple)):
        raise PlanInputError("hosts must be a list")
    seen_hosts = set()
    seen_instances = set()
    for host in hosts:
        if not isinstance(host, dict) or not isinstance(host.get("name"), str) or not host["name"]:
            raise PlanInputError("every host needs a non-empty string name: %r" % (host,))
        name = host["name"]
        if name in seen_hosts:
            raise PlanInputError("host %s is listed twice" % name)
        seen_hosts.add(name)
        if host.get("state", "up") not in ("up", "down"):
            raise PlanInputError("host %s: state must be 'up' or 'down', got %r" % (name, host.get("state")))
        if host.get("status", "enabled") not in ("enabled", "disabled"):
            raise PlanInputError("host %s: status must be 'enabled' or 'disabled', got %r"
                                 % (name, host.get("status")))
        for section in ("capacity", "used"):
            values = host.get(section) or {}
            if not isinstance(values, dict):
                raise PlanInputError("host %s: %s must be a mapping" % (name, section))
            for key in RESOURCES:
                if values.get(key) is not None:
                    if _number(values[key], "host %s: %s.%s" % (name, section, key)) < 0:
                        raise PlanInputError("host %s: %s.%s must be >= 0" % (name, section, key))
        for inst in host.get("instances") or []:
            if not isinstance(inst, dict) or not isinstance(inst.get("id"), str) or not inst["id"]:
                raise PlanInputError("host %s: every instance needs a string id: %r" % (name, inst))
            if inst["id"] in seen_instances:
                raise PlanInputError("instance %s is listed twice" % inst["id"])
            seen_instances.add(inst["id"])
            for key in RESOURCES:
                if _number(inst.get(key) or 0, "instance %s: %s" % (inst["id"], key)) < 0:
                    raise PlanInputError("instance %s: %s must be >= 0" % (inst["id"], key))
    if not isinstance(server_groups, (list, tuple)):
        raise PlanInputError("server_groups must be a list")
    seen_groups = set()
    for group in server_groups:
        if not isinstance(group, dict) or not isinstance(group.get("id"), str) or not group["id"]:
            raise PlanInputError("every server group needs a string id: %r" % (group,))
        if group["id"] in seen_groups:
            raise PlanInputError("server group %s is listed twice" % group["id"])
        seen_groups.add(group["id"])
        if group.get("policy") not in POLICIES:
            raise PlanInputError("server group %s: policy must be one of %s, got %r"
                                 % (group["id"], ", ".join(POLICIES), group.get("policy")))


# --------------------------------------------------------------------------
# fingerprint
# --------------------------------------------------------------------------

def _canon_number(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _canon_resources(values):
    values = values or {}
    return {k: _canon_number(values[k]) for k in RESOURCES if values.get(k) is not None}


def canonical_inputs(hosts, server_groups=None, options=None):
    """The canonical form of the inputs that the fingerprint hashes (see docs/planner.md)."""
    opts = normalize_options(options)
    opts.pop("campaign_id")
    canon_hosts = []
    for host in sorted(hosts, key=lambda h: h["name"]):
        instances = []
        for inst in sorted(host.get("instances") or [], key=lambda i: i["id"]):
            instances.append({
                "id": inst["id"],
                "name": inst.get("name"),
                "project_id": inst.get("project_id"),
                "status": inst.get("status"),
                "vcpus": _canon_number(inst.get("vcpus") or 0),
                "memory_mb": _canon_number(inst.get("memory_mb") or 0),
                "disk_gb": _canon_number(inst.get("disk_gb") or 0),
                "server_groups": sorted(inst.get("server_groups") or []),
            })
        canon_hosts.append({
            "name": host["name"],
            "zone": host.get("zone"),
            "aggregates": sorted(host.get("aggregates") or []),
            "state": host.get("state", "up"),
            "status": host.get("status", "enabled"),
            "disabled_reason": host.get("disabled_reason"),
            "capacity": _canon_resources(host.get("capacity")),
            "used": _canon_resources(host.get("used")),
            "instances": instances,
        })
    canon_groups = []
    for group in sorted(server_groups or [], key=lambda g: g["id"]):
        canon_groups.append({
            "id": group["id"],
            "name": group.get("name"),
            "project_id": group.get("project_id"),
            "policy": group.get("policy"),
            "members": sorted(group.get("members") or []),
        })
    return {"hosts": canon_hosts, "server_groups": canon_groups, "options": opts}


def fingerprint(hosts, server_groups=None, options=None):
    """sha256 of the canonical inputs: ``"sha256:<hex>"``."""
    text = json.dumps(canonical_inputs(hosts, server_groups, options), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------

def _fmt(value):
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return "%.1f" % value
    return str(value)


def _fmt_res(vector, dims=(0, 1, 2), skip_zero=True):
    parts = []
    for d in dims:
        if skip_zero and not vector[d] and d != 0:
            continue
        parts.append("%s %s" % (_fmt(vector[d]), RESOURCE_UNITS[d]))
    return ", ".join(parts)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _join_names(names, limit=6):
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return "%s and %d more" % (", ".join(names[:limit]), len(names) - limit)


class _Unit:
    """Instances that move together (members of one hard-affinity group share a unit)."""

    __slots__ = ("members", "req", "anti", "limited", "soft_anti", "soft_aff", "aff", "order")

    def __init__(self, members, req, anti, limited, soft_anti, soft_aff, aff):
        self.members = members
        self.req = req
        self.anti = anti
        self.limited = limited
        self.soft_anti = soft_anti
        self.soft_aff = soft_aff
        self.aff = aff
        self.order = (0 if anti else 1, -req[1], -req[0], -req[2], members[0])


# --------------------------------------------------------------------------
# the planner
# --------------------------------------------------------------------------

class _Planner:

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
        self.state = [_PENDING] * n
        self.ours = [False] * n
        self.outside = [False] * n   # skipped only for the selection, up and enabled: a destination
        self.skipped = []
        self._classify()
        self.n_eligible = sum(1 for st in self.state if st != _SKIPPED)
        self.batch_cap = batch_size_cap(opts, self.n_eligible)
        self.key_bias = [_OUTSIDE_BIAS if o else 0.0 for o in self.outside]

        reserve = opts["reserve"]
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

        # instances
        self.inst_id = []
        self.inst_name = []
        self.inst_status = []
        self.inst_req = []
        self.inst_host = []
        self.inst_groups = []
        self.inst_sg = []
        self.host_inst = [[] for dummy in range(n)]
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

        self._load_groups(server_groups)
        self.inst_rules = []
        self.inst_switch = []
        self.unit_cache = {}
        self._instance_rules()

        # destination pools (max-heaps of free room with lazy deletion) and candidate heaps per zone
        self.pool_of = [_NO_POOL] * n
        self.pver = [0] * n
        self.cver = [0] * n
        self.up_heap = []
        self.pend_heap = []
        self.zone_heaps = {}
        self.deferred = []
        self.upgraded_in = [None] * n

    # -- input model -------------------------------------------------------

    def _classify(self):
        opts = self.opts
        exclude = set(opts["exclude_hosts"])
        include = None if opts["include_hosts"] is None else set(opts["include_hosts"])
        marker = opts["our_disable_marker"]
        campaign_id = opts["campaign_id"]
        for name in sorted(exclude - set(self.names)):
            self.warnings.append("exclude_hosts names %s, which is not a known compute host" % name)
        if include is not None:
            for name in sorted(include - set(self.names)):
                self.reasons.append("include_hosts names %s, which is not a known compute host" % name)
        for h, host in enumerate(self.hosts_in):
            name = host["name"]
            reason = detail = None
            status = host.get("status", "enabled")
            disabled_reason = host.get("disabled_reason")
            if name in exclude:
                reason, detail = "excluded", "listed in exclude_hosts"
            elif include is not None and name not in include:
                reason, detail = "not_included", "not listed in include_hosts"
            elif host.get("state", "up") != "up":
                reason, detail = "down", "nova-compute is down"
            elif opts["unhealthy_instances"] == "skip_host" and _unhealthy(host):
                reason, detail = "unhealthy", "holds %s (unhealthy_instances: skip_host)" % ", ".join(
                    "%s (%s)" % (inst.get("name") or inst["id"], inst.get("status") or "unknown status")
                    for inst in _unhealthy(host))
            elif status == "disabled":
                owner = parse_reason(disabled_reason)
                if campaign_id is not None:
                    # one meaning of "ours" with compute_maintenance: this campaign's marker, not any Escalator's
                    ours = owner == campaign_id
                else:
                    ours = bool(marker and isinstance(disabled_reason, str) and disabled_reason.startswith(marker))
                if ours:
                    self.ours[h] = True
                else:
                    reason = "disabled"
                    detail = "disabled by %s (%s)" % (
                        "Escalator campaign %s" % owner if owner else "someone else",
                        "reason: %s" % disabled_reason if disabled_reason else "no reason given")
            if reason:
                self.state[h] = _SKIPPED
                self.skipped.append((h, reason, detail))
                self.outside[h] = (reason in _OUTSIDE_REASONS and host.get("state", "up") == "up"
                                   and status == "enabled")

    def _load_groups(self, server_groups):
        opts = self.opts
        budgets = opts["budgets"]
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

        used_keys = set()
        self.g_budget = []
        self.g_limit = []
        self.g_down = []
        for k in range(len(groups)):
            gid, name, policy = self.g_id[k], self.g_name[k], self.g_policy[k]
            if gid in budgets:
                budget = budgets[gid]
                used_keys.add(gid)
            elif name in budgets:
                budget = budgets[name]
                used_keys.add(name)
            elif policy == "anti-affinity":
                budget = opts["default_budget"]
            else:
                budget = None
            down = sum(1 for i in self.g_members[k]
                       if self.state[self.inst_host[i]] == _SKIPPED
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

        n = len(self.names)
        self.host_groups = [{} for dummy in range(n)]
        self.group_hosts = [{} for dummy in groups]
        for i, gs in enumerate(self.inst_groups):
            h = self.inst_host[i]
            for k in gs:
                hg = self.host_groups[h]
                hg[k] = hg.get(k, 0) + 1
                gh = self.group_hosts[k]
                gh[h] = gh.get(h, 0) + 1

    def _group_label(self, k):
        budget = self.g_budget[k]
        return "group %s (%s, budget %s)" % (self.g_name[k], self.g_policy[k],
                                             "none" if budget is None else budget)

    # -- static checks -------------------------------------------------------

    def _eligible(self):
        return [h for h in range(len(self.names)) if self.state[h] != _SKIPPED]

    def _block(self, h):
        if self.state[h] == _PENDING:
            self.state[h] = _BLOCKED

    def _static_checks(self):
        eligible = self._eligible()
        outside = [h for h in range(len(self.names)) if self.outside[h]]
        n_receivers = len(eligible) + len(outside)
        names = self.names
        for k in range(len(self.g_id)):
            members = self.g_members[k]
            if not members:
                continue
            per_host = {}
            for i in members:
                h = self.inst_host[i]
                per_host[h] = per_host.get(h, 0) + 1
            on_eligible = sorted((h for h in per_host if self.state[h] != _SKIPPED), key=lambda h: names[h])
            if not on_eligible:
                continue
            on_receivers = len(on_eligible) + sum(1 for h in per_host if self.outside[h])
            limit = self.g_limit[k]
            budget = self.g_budget[k]
            label = self._group_label(k)
            if limit is not None and limit < 1 <= budget:
                down_hosts = sorted({names[self.inst_host[i]] for i in members
                                     if self.state[self.inst_host[i]] == _SKIPPED
                                     and self.hosts_in[self.inst_host[i]].get("state", "up") != "up"})
                self.reasons.append(
                    "%s: %s already unavailable on down host%s %s, so %s on %s cannot be taken down "
                    "(raise the budget, or set it to 0 for VNFM switchover)"
                    % (label, _plural(self.g_down[k], "member"), "" if len(down_hosts) == 1 else "s",
                       _join_names(down_hosts),
                       _plural(sum(per_host[h] for h in on_eligible), "member"),
                       _join_names(names[h] for h in on_eligible)))
                for h in on_eligible:
                    self._block(h)
                continue
            if limit is not None:
                crowded = [h for h in on_eligible if per_host[h] > limit]
                for h in crowded:
                    together = " must move together and" if self.g_policy[k] == "affinity" else ""
                    self.reasons.append("%s: %d members on host %s%s exceed what one batch may disrupt (%d)"
                                        % (label, per_host[h], names[h], together, limit))
                    self._block(h)
            if self.g_policy[k] == "anti-affinity" and n_receivers - on_receivers < 1:
                self.reasons.append("%s: %d members on %d hosts, no spare host"
                                    % (label, len(members), len(per_host)))
                for h in on_eligible:
                    self._block(h)

        # capacity: the instances of a host must fit in what the other hosts (and those outside) have free
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
                req = self.inst_req[i]
                load[0] += req[0]
                load[1] += req[1]
                load[2] += req[2]
            short = [d for d in range(3)
                     if load[d] > EPSILON and load[d] > total_free[d] - free_of[h][d] + EPSILON]
            if short:
                self.reasons.append("host %s: %s of instances, only %s free on hosts that stay up"
                                    % (names[h], " and ".join("%s %s" % (_fmt(load[d]), RESOURCE_UNITS[d])
                                                              for d in short),
                                       " and ".join("%s %s" % (_fmt(total_free[d] - free_of[h][d]),
                                                               RESOURCE_UNITS[d]) for d in short)))
                self._block(h)

        # every single instance (or affinity unit) must fit on some other host once that host is empty
        room = {}
        for h in eligible:
            inst_sum = [0, 0, 0]
            for i in self.host_inst[h]:
                for d in range(3):
                    inst_sum[d] += self.inst_req[i][d]
            vec = tuple(self.lim[d][h] - max(0, self.used[d][h] - inst_sum[d]) for d in range(3))
            room.setdefault(vec, []).append(h)
        for h in outside:     # never emptied: what it has free now
            vec = tuple(self.lim[d][h] - self.used[d][h] for d in range(3))
            room.setdefault(vec, []).append(h)
        vectors = sorted(room, key=lambda v: (-v[1], -v[0], -v[2]))
        holders = {}
        for h in eligible:
            if self.state[h] == _BLOCKED:
                continue
            for unit in self._units_of(h):
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
                                                      _fmt_res(req, skip_zero=False),
                                                      " or any host outside the campaign has free" if outside
                                                      else ""))
                self._block(h)
                break

        for i, status in enumerate(self.inst_status):
            if self.state[self.inst_host[i]] != _SKIPPED and status not in MIGRATABLE_STATUSES:
                self.warnings.append("instance %s on %s is %s: its migration may fail"
                                     % (self.inst_name[i], names[self.inst_host[i]], status or "of unknown status"))

    # -- units ----------------------------------------------------------------

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

    def _units_of(self, h):
        """Split the instances on host *h* into units; affinity members share one."""
        cached = self.unit_cache.get(h)
        if cached is not None:
            return cached
        rules = self.inst_rules
        reqs = self.inst_req
        by_aff = {}
        groups_of = []
        for i in self.host_inst[h]:
            aff = rules[i][4]
            if aff is None:
                groups_of.append([i])
            elif aff in by_aff:
                by_aff[aff].append(i)
            else:
                by_aff[aff] = [i]
                groups_of.append(by_aff[aff])
        out = []
        for members in groups_of:
            if len(members) == 1:
                i = members[0]
                anti, limited, soft_anti, soft_aff, aff = rules[i]
                out.append(_Unit(members, reqs[i], anti, tuple((k, 1) for k in limited), soft_anti, soft_aff, aff))
                continue
            req = [0, 0, 0]
            anti, soft_anti, soft_aff = set(), set(), set()
            limited = {}
            aff = None
            for i in members:
                r = reqs[i]
                req[0] += r[0]
                req[1] += r[1]
                req[2] += r[2]
                rule = rules[i]
                anti.update(rule[0])
                for k in rule[1]:
                    limited[k] = limited.get(k, 0) + 1
                soft_anti.update(rule[2])
                soft_aff.update(rule[3])
                if aff is None:
                    aff = rule[4]
            out.append(_Unit(members, tuple(req), tuple(sorted(anti)), tuple(sorted(limited.items())),
                             tuple(sorted(soft_anti)), tuple(sorted(soft_aff)), aff))
        out.sort(key=lambda u: u.order)
        self.unit_cache[h] = out
        return out

    # -- destination pools ------------------------------------------------------

    def _key(self, h):
        key = 1.0
        for d in range(3):
            cap = self.cap[d][h]
            if cap:
                f = (self.lim[d][h] - self.used[d][h]) / cap
                if f < key:
                    key = f
        return self.key_bias[h] - key

    def _pool_push(self, h):
        self.pver[h] += 1
        heap = self.up_heap if self.pool_of[h] == _UP_POOL else self.pend_heap
        heapq.heappush(heap, (self._key(h), h, self.pver[h]))

    def _pool_set(self, h, pool):
        self.pool_of[h] = pool
        if pool == _NO_POOL:
            self.pver[h] += 1
        else:
            self._pool_push(h)

    def _fits(self, h, req):
        used = self.used
        lim = self.lim
        return (used[0][h] + req[0] <= lim[0][h] + EPSILON and used[1][h] + req[1] <= lim[1][h] + EPSILON
                and used[2][h] + req[2] <= lim[2][h] + EPSILON)

    def _groups_allow(self, h, unit):
        hg = self.host_groups[h]
        if hg:
            for k in unit.anti:
                if hg.get(k):
                    return False
            limit = self.g_limit
            for k, c in unit.limited:
                if hg.get(k, 0) + c > limit[k]:
                    return False
        return True

    def _soft_clean(self, h, unit):
        hg = self.host_groups[h]
        return not any(hg.get(k) for k in unit.soft_anti)

    def _allowed(self, h, unit):
        return self._fits(h, unit.req) and self._groups_allow(h, unit)

    def _targets(self, k):
        """Destination-capable hosts that hold members of group *k*."""
        pool_of = self.pool_of
        return [t for t in self.group_hosts[k] if pool_of[t] != _NO_POOL]

    def _rank(self, hosts):
        return sorted(hosts, key=lambda t: (0 if self.pool_of[t] == _UP_POOL else 1, self._key(t), t))

    def _heap_search(self, heap, unit, pool):
        """Bounded search of one pool; returns a host or None."""
        popped = []
        chosen = fallback = None
        scanned = 0
        pver = self.pver
        pool_of = self.pool_of
        while heap and scanned < _HEAP_SCAN:
            entry = heapq.heappop(heap)
            h = entry[1]
            if pool_of[h] != pool or pver[h] != entry[2]:
                continue
            popped.append(entry)
            scanned += 1
            if not self._allowed(h, unit):
                continue
            if unit.soft_anti and not self._soft_clean(h, unit):
                if fallback is None:
                    fallback = h
                continue
            chosen = h
            break
        for entry in popped:
            heapq.heappush(heap, entry)
        return chosen if chosen is not None else fallback

    def _exhaustive(self, unit, pools):
        """Every destination-capable host, best first (upgraded, most room); soft rules as tie-break."""
        clean, dirty = [], []
        for t in range(len(self.names)):
            if self.pool_of[t] not in pools or not self._allowed(t, unit):
                continue
            rank = (0 if self.pool_of[t] == _UP_POOL else 1, self._key(t), t)
            if unit.soft_anti and not self._soft_clean(t, unit):
                dirty.append(rank)
            else:
                clean.append(rank)
        if clean:
            return min(clean)[2]
        return min(dirty)[2] if dirty else None

    def _find_destination(self, unit, allow_pending, exhaustive):
        pools = (_UP_POOL, _PENDING_POOL) if allow_pending else (_UP_POOL,)
        if unit.aff is not None:
            all_targets = self._targets(unit.aff)
            if all_targets:
                for t in self._rank(t for t in all_targets if self.pool_of[t] in pools):
                    if self._allowed(t, unit):
                        return t
                return None
        for k in unit.soft_aff:
            for t in self._rank(t for t in self._targets(k) if self.pool_of[t] in pools):
                if self._allowed(t, unit) and self._soft_clean(t, unit):
                    return t
        dest = self._heap_search(self.up_heap, unit, _UP_POOL)
        if dest is None and allow_pending:
            dest = self._heap_search(self.pend_heap, unit, _PENDING_POOL)
        if dest is None and exhaustive:
            dest = self._exhaustive(unit, pools)
        return dest

    def _apply(self, unit, dest, sign):
        req = unit.req
        used = self.used
        used[0][dest] += sign * req[0]
        used[1][dest] += sign * req[1]
        used[2][dest] += sign * req[2]
        hg = self.host_groups[dest]
        group_hosts = self.group_hosts
        for i in unit.members:
            for k in self.inst_groups[i]:
                c = hg.get(k, 0) + sign
                gh = group_hosts[k]
                if c:
                    hg[k] = c
                    gh[dest] = c
                else:
                    del hg[k]
                    del gh[dest]
        self._pool_push(dest)

    def _try_host(self, h, allow_pending, exhaustive):
        """Place every unit of host *h*; returns the placements or None (state unchanged)."""
        placed = []
        for unit in self._units_of(h):
            dest = self._find_destination(unit, allow_pending, exhaustive)
            if dest is None:
                for u, t in reversed(placed):
                    self._apply(u, t, -1)
                return None
            self._apply(unit, dest, +1)
            placed.append((unit, dest))
        return placed

    # -- candidates -------------------------------------------------------------

    def _cand_push(self, h):
        self.cver[h] += 1
        zheap = self.zone_heaps.setdefault(self.zone[h], [])
        heapq.heappush(zheap, ((0 if self.ours[h] else 1, len(self.host_inst[h]), self.used[1][h], h),
                               h, self.cver[h]))

    def _cand_pick(self, zone_counts, az_max):
        heads = []
        for zone, zheap in self.zone_heaps.items():
            if az_max is not None and zone_counts.get(zone, 0) >= az_max:
                continue
            while zheap:
                entry = zheap[0]
                if self.state[entry[1]] != _PENDING or self.cver[entry[1]] != entry[2]:
                    heapq.heappop(zheap)
                    continue
                heads.append((entry[0], zone))
                break
        if not heads:
            return None
        zone = min(heads)[1]
        h = heapq.heappop(self.zone_heaps[zone])[1]
        self.cver[h] += 1
        return h

    # -- the campaign -------------------------------------------------------------

    def _budget_block(self, h, batch_counts):
        """The group whose budget host *h* would exceed in this batch (None: it fits)."""
        limit = self.g_limit
        for k, c in sorted(self.host_groups[h].items()):
            lim = limit[k]
            if lim is not None and batch_counts.get(k, 0) + c > lim:
                return k
        return None

    def _zone_waiting(self, zone_counts, az_max):
        """A zone at az_max_down that still has hosts waiting (az_max_down kept them out of this batch)."""
        for zone in sorted(self.zone_heaps):
            if zone_counts.get(zone, 0) < az_max:
                continue
            zheap = self.zone_heaps[zone]
            while zheap and (self.state[zheap[0][1]] != _PENDING or self.cver[zheap[0][1]] != zheap[0][2]):
                heapq.heappop(zheap)
            if zheap:
                return zone
        return None

    def _size_limit(self, canary):
        opts = self.opts
        if canary:
            return "canary", "canary: canary_hosts %d" % opts["canary_hosts"]
        if opts["max_batch_size"] != AUTO:
            return "cap", "cap: max_batch_size %d" % opts["max_batch_size"]
        hosts = self.n_eligible
        share = opts["max_batch_percent"] * hosts // 100
        if share < AUTO_MIN_BATCH:
            return "cap", "cap: %d hosts (auto minimum)" % self.batch_cap
        return "cap", "cap: %d hosts (%d%% of %d)" % (self.batch_cap, opts["max_batch_percent"], hosts)

    def _build_batch(self, number):
        opts = self.opts
        canary = number == 1 and opts["canary_hosts"] > 0
        size = opts["canary_hosts"] if canary else self.batch_cap
        az_max = opts["az_max_down"]
        lookahead = max(32, 4 * size)
        fewer_batches = opts["prefer"] == "fewer_batches"
        batch, placements = [], []
        batch_counts, zone_counts = {}, {}
        rejected = []
        receiving = set()
        fit_failures = 0
        spill = False
        reserved = []
        bounds = []       # why no other host joined: (code, kind, group or host), in the order met
        if canary:
            # choose the canary hosts first so none of them becomes another one's destination
            while len(reserved) < size:
                h = self._cand_pick(zone_counts, az_max)
                if h is None:
                    break
                blocking = self._budget_block(h, batch_counts)
                if blocking is not None:
                    bounds.append(("budget", None, blocking))
                    rejected.append(h)
                    if len(rejected) >= lookahead:
                        break
                    continue
                reserved.append(h)
                self.state[h] = _BATCH
                self._pool_set(h, _NO_POOL)
                zone_counts[self.zone[h]] = zone_counts.get(self.zone[h], 0) + 1
                for k, c in self.host_groups[h].items():
                    if self.g_limit[k] is not None:
                        batch_counts[k] = batch_counts.get(k, 0) + c
            zone_counts, batch_counts = {}, {}
            reserved.reverse()
        while len(batch) < size:
            if canary:
                if not reserved:
                    break
                h = reserved.pop()
            else:
                h = self._cand_pick(zone_counts, az_max)
            if h is None:
                break
            blocking = None if h in receiving else self._budget_block(h, batch_counts)
            if h in receiving or blocking is not None:
                bounds.append(("budget", None, blocking) if blocking is not None else ("capacity", "receives", h))
                rejected.append(h)
                if len(rejected) >= lookahead:
                    break
                continue
            self.state[h] = _BATCH
            self._pool_set(h, _NO_POOL)
            placed = self._try_host(h, allow_pending=False, exhaustive=False)
            if placed is None and (canary or not batch or fewer_batches):
                placed = self._try_host(h, allow_pending=True, exhaustive=True)
                if placed is not None:
                    spill = True
            if placed is None:
                self.state[h] = _PENDING
                if not self.ours[h]:
                    self._pool_set(h, _PENDING_POOL)
                if not batch:
                    self.deferred.append(h)
                    continue
                bounds.append(("capacity", "room", h))
                rejected.append(h)
                fit_failures += 1
                if fit_failures >= 2 or len(rejected) >= lookahead:
                    break
                continue
            batch.append(h)
            placements.extend(placed)
            receiving.update(dest for dummy, dest in placed)
            zone_counts[self.zone[h]] = zone_counts.get(self.zone[h], 0) + 1
            for k, c in self.host_groups[h].items():
                if self.g_limit[k] is not None:
                    batch_counts[k] = batch_counts.get(k, 0) + c
            if spill and not canary and not fewer_batches:
                # single moves: a host whose instances must be parked on hosts not yet upgraded goes alone
                bounds.append(("capacity", "parked", h))
                break
        for h in reserved:
            self.state[h] = _PENDING
            if not self.ours[h]:
                self._pool_set(h, _PENDING_POOL)
            rejected.append(h)
        bound = self._why_this_size(batch, size, canary, bounds, zone_counts, az_max)
        if batch:
            for h in rejected:
                self._cand_push(h)
        else:
            self.deferred.extend(rejected)
        return batch, placements, canary, batch_counts, bound

    def _why_this_size(self, batch, size, canary, bounds, zone_counts, az_max):
        """What kept the batch at its size (the plan's size_bound): its size limit when reached, else every limit
        that kept a host out (one entry per kind, naming the groups or hosts), else the last hosts."""
        if len(batch) >= size:
            code, detail = self._size_limit(canary)
            return [{"by": code, "detail": detail}]
        kinds = {}
        for code, kind, what in bounds:
            names = kinds.setdefault((code, kind), [])
            if what not in names:
                names.append(what)
        found = []
        for (code, kind), items in kinds.items():
            if code == "budget":
                labels = [self.g_name[k] for k in items]
                detail = ("budget of group %s (%d per batch)" % (labels[0], self.g_limit[items[0]])
                          if len(items) == 1 else "budgets of groups %s" % _join_names(labels, 3))
                found.append({"by": code, "detail": detail, "groups": [self.g_id[k] for k in items]})
                continue
            hosts = [self.names[h] for h in items]
            if kind == "room":
                detail = "capacity: no room on hosts that stay up for the instances of %s" % _join_names(hosts, 3)
            elif kind == "receives":
                detail = "capacity: %s receive%s instances of this batch" % (
                    _join_names(hosts, 3), "s" if len(hosts) == 1 else "")
            else:
                detail = ("capacity: no upgraded host has room for the instances of %s (parked on hosts not yet "
                          "upgraded)" % _join_names(hosts, 3))
            found.append({"by": code, "detail": detail, "hosts": hosts})
        zone = self._zone_waiting(zone_counts, az_max) if az_max is not None else None
        if zone is not None:
            found.append({"by": "az_max_down", "detail": "az_max_down %d (zone %s)" % (az_max, zone or "-")})
        if not found:
            found.append({"by": "last_hosts", "detail": "last hosts"})
        return found

    def _alternates(self, batch_set, placements):
        """Fallback destinations for each placement (capacity not reserved)."""
        extra = self.opts["destinations_per_move"] - 1
        prefs = []
        if extra <= 0:
            return [[dest] for dummy, dest in placements]
        tops = {}
        for pool, heap in ((_UP_POOL, self.up_heap), (_PENDING_POOL, self.pend_heap)):
            popped, top = [], []
            while heap and len(top) < 16:
                entry = heapq.heappop(heap)
                h = entry[1]
                if self.pool_of[h] != pool or self.pver[h] != entry[2]:
                    continue
                popped.append(entry)
                top.append(h)
            for entry in popped:
                heapq.heappush(heap, entry)
            tops[pool] = top
        for unit, dest in placements:
            chosen = [dest]
            if unit.aff is None:
                pools = (_UP_POOL, _PENDING_POOL) if self.pool_of[dest] == _UP_POOL else (_PENDING_POOL,)
                for pool in pools:
                    for t in tops[pool]:
                        if len(chosen) > extra:
                            break
                        if t != dest and t not in batch_set and self._allowed(t, unit):
                            chosen.append(t)
            prefs.append(chosen)
        return prefs

    def _commit(self, number, batch, placements, canary):
        batch_set = set(batch)
        prefs = self._alternates(batch_set, placements)
        moves = []
        names = self.names
        for (unit, dest), to in zip(placements, prefs):
            switchover = any(self.inst_switch[i] for i in unit.members)
            parked = self.state[dest] != _UPGRADED and not self.outside[dest]
            for i in unit.members:
                src = self.inst_host[i]
                self.moves[i] += 1
                if parked and i not in self.why_twice:
                    if canary:
                        why = "batch %d is the canary and no host is upgraded yet" % number
                    elif number == 1:
                        why = "batch %d: no host is upgraded yet" % number
                    else:
                        why = "batch %d: no upgraded host had room for it within its server-group rules" % number
                    self.why_twice[i] = (why, dest)
                mode = "switchover" if switchover else ("live" if self.inst_status[i] in LIVE_STATUSES else "cold")
                moves.append((src, i, dest, to, mode, parked, unit.aff))
                self.inst_host[i] = dest
                self.host_inst[dest].append(i)
            if parked:
                self.unit_cache.pop(dest, None)
                self._cand_push(dest)
        for h in batch:
            load = [0, 0, 0]
            for i in self.host_inst[h]:
                if self.inst_host[i] == h:
                    continue
                r = self.inst_req[i]
                load[0] += r[0]
                load[1] += r[1]
                load[2] += r[2]
                for k in self.inst_groups[i]:
                    hg = self.host_groups[h]
                    c = hg[k] - 1
                    if c:
                        hg[k] = c
                        self.group_hosts[k][h] = c
                    else:
                        del hg[k]
                        del self.group_hosts[k][h]
            self.host_inst[h] = [i for i in self.host_inst[h] if self.inst_host[i] == h]
            self.unit_cache.pop(h, None)
            for d in range(3):
                self.used[d][h] = max(0, self.used[d][h] - load[d])
            self.state[h] = _UPGRADED
            self.upgraded_in[h] = number
            self._pool_set(h, _UP_POOL)
        moves.sort(key=lambda m: (names[m[0]], self.inst_name[m[1]], m[1]))
        return moves

    def _explain(self, h):
        """Why host *h* cannot be drained now (used for hosts left over by the greedy pass)."""
        names = self.names
        self.state[h] = _BATCH
        pool = self.pool_of[h]
        self._pool_set(h, _NO_POOL)
        placed = []
        sentence = None
        pools = (_UP_POOL, _PENDING_POOL)
        for unit in self._units_of(h):
            dest = self._find_destination(unit, True, True)
            if dest is not None:
                self._apply(unit, dest, +1)
                placed.append((unit, dest))
                continue
            what = ("instance %s (%s)" % (self.inst_name[unit.members[0]], _fmt_res(unit.req))
                    if len(unit.members) == 1 else
                    "instances %s (affinity, %s together)" % (", ".join(self.inst_name[i] for i in unit.members),
                                                              _fmt_res(unit.req)))
            roomy = [t for t in range(len(names)) if self.pool_of[t] in pools and self._fits(t, unit.req)]
            if not roomy:
                sentence = "host %s: %s fits on no host that stays up" % (names[h], what)
            elif unit.aff is not None and self._targets(unit.aff):
                sentence = ("host %s: %s must join the other members of group %s on %s, which lack room"
                            % (names[h], what, self.g_name[unit.aff],
                               _join_names(sorted(names[t] for t in self._targets(unit.aff)))))
            else:
                culprits = []
                for k in unit.anti:
                    if any(self.host_groups[t].get(k) for t in roomy):
                        culprits.append("%s (anti-affinity)" % self.g_name[k])
                for k, c in unit.limited:
                    if any(self.host_groups[t].get(k, 0) + c > self.g_limit[k] for t in roomy) and \
                            self.g_policy[k] != "anti-affinity":
                        culprits.append("%s (%s, at most %d per host)" % (self.g_name[k], self.g_policy[k],
                                                                          self.g_limit[k]))
                sentence = ("host %s: %s: every host that stays up with room for it (%s) already holds "
                            "members of group %s" % (names[h], what, _join_names(sorted(names[t] for t in roomy)),
                                                     " / ".join(culprits) or "?"))
            break
        for unit, dest in reversed(placed):
            self._apply(unit, dest, -1)
        self.state[h] = _PENDING
        self._pool_set(h, pool)
        if sentence is None:
            sentence = ("host %s: no batch could be formed with it under the budgets and capacity "
                        "left after the other batches" % names[h])
        return sentence

    def run(self, fp):
        """Static checks, then the greedy batch builder; returns the plan dict."""
        n = len(self.names)
        self._static_checks()
        for h in range(n):
            if self.state[h] in (_PENDING, _BLOCKED) and not self.ours[h]:
                self._pool_set(h, _PENDING_POOL)
            elif self.outside[h]:
                self._pool_set(h, _UP_POOL)
            if self.state[h] == _PENDING:
                self._cand_push(h)

        batches = []
        progressed = False
        while True:
            if not any(self.zone_heaps.values()):
                if self.deferred and progressed:
                    for h in self.deferred:
                        self._cand_push(h)
                    self.deferred = []
                    progressed = False
                    continue
                break
            number = len(batches) + 1
            batch, placements, canary, counts, bound = self._build_batch(number)
            if not batch:
                continue
            progressed = True
            moves = self._commit(number, batch, placements, canary)
            batches.append((batch, moves, canary, counts, bound))

        left = sorted(self.deferred, key=lambda h: self.names[h])
        for h in left:
            self.reasons.append(self._explain(h))
        feasible = not self.reasons
        return self._output(fp, batches if feasible else [], feasible)

    # -- output ---------------------------------------------------------------------

    def _lower_bound(self):
        opts = self.opts
        eligible = self._eligible()
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
            count = sum(1 for i in members if self.state[hosts0[i]] != _SKIPPED)
            by_budget = max(by_budget, math.ceil(count / limit))
        return {"batches": max(by_size, by_az, by_budget), "by_batch_size": by_size, "by_az": by_az,
                "by_budget": by_budget}

    def _output(self, fp, batches, feasible):
        opts = self.opts
        names = self.names
        out_batches = []
        for number, (batch, moves, canary, counts, bound) in enumerate(batches, 1):
            zones = {}
            for h in batch:
                zones[self.zone[h]] = zones.get(self.zone[h], 0) + 1
            notes = []
            if canary:
                notes.append("canary")
            resumed = [names[h] for h in batch if self.ours[h]]
            if resumed:
                notes.append("resumes %s (already disabled by Escalator)" % ", ".join(resumed))
            parked = sum(1 for m in moves if m[5])
            if parked:
                notes.append("%s parked on hosts not yet upgraded (%s again later)"
                             % (_plural(parked, "instance"), "it moves" if parked == 1 else "they move"))
            away = sorted({names[m[2]] for m in moves if self.outside[m[2]]})
            if away:
                count = sum(1 for m in moves if self.outside[m[2]])
                notes.append("%s sent outside the campaign to %s (%s up now; a later campaign upgrading %s "
                             "moves %s again)"
                             % (_plural(count, "instance"), ", ".join(away), "stays" if len(away) == 1 else "stay",
                                "it" if len(away) == 1 else "them", "it" if count == 1 else "them"))
            switch = sorted({self.g_name[k] for m in moves if m[4] == "switchover"
                             for k in self.inst_groups[m[1]] if self.g_budget[k] == 0})
            if switch:
                notes.append("VNFM switchover before maintenance for group %s" % ", ".join(switch))
            out_moves = []
            for src, i, dest, to, mode, parked_move, aff in moves:
                move = {"instance": self.inst_id[i], "name": self.inst_name[i], "from": names[src],
                        "to": [names[t] for t in to], "mode": mode}
                if parked_move:
                    move["moves_again_in_batch"] = self.upgraded_in[dest]
                if self.outside[dest]:
                    move["outside_campaign"] = True
                if aff is not None:
                    move["with_group"] = self.g_id[aff]
                out_moves.append(move)
            budget_use = [{"group": self.g_id[k], "name": self.g_name[k], "members": c,
                           "budget": self.g_budget[k]} for k, c in sorted(counts.items(), key=lambda kv: kv[0])]
            out_batches.append({
                "batch": number,
                "canary": canary,
                "hosts": sorted(names[h] for h in batch),
                "zones": dict(sorted(zones.items())),
                "moves": out_moves,
                "budget_use": budget_use,
                "size_bound": bound,
                "notes": notes,
            })
        skipped = [{"host": names[h], "reason": reason, "detail": detail, "destination": self.outside[h],
                    "instances": len(self.hosts_in[h].get("instances") or [])} for h, reason, detail in self.skipped]
        skipped.sort(key=lambda s: s["host"])
        moves_per_instance = {}
        twice = []
        total_moves = 0
        moving = 0
        eligible = self._eligible()
        if feasible:
            for i, iid in enumerate(self.inst_id):
                count = self.moves[i]
                moves_per_instance[iid] = count
                total_moves += count
                if count:
                    moving += 1
                if count > 1:
                    why, dest = self.why_twice[i]
                    twice.append({"instance": iid, "name": self.inst_name[i], "moves": count,
                                  "why": "%s; parked on %s, upgraded in batch %d"
                                         % (why, names[dest], self.upgraded_in[dest])})
            moves_per_instance = dict(sorted(moves_per_instance.items()))
            twice.sort(key=lambda t: t["instance"])
        n_instances = sum(len(self.host_inst0[h]) for h in eligible)
        summary = {
            "eligible_hosts": len(eligible),
            "skipped_hosts": len(skipped),
            "batches": len(out_batches),
            "batch_size_cap": self.batch_cap,
            "lower_bound": self._lower_bound(),
            "instances_on_eligible_hosts": n_instances,
            "instances_moving": moving,
            "moves": total_moves,
            "max_moves_per_instance": max(moves_per_instance.values()) if moves_per_instance else 0,
            "mean_moves_per_moving_instance": round(total_moves / moving, 4) if moving else 0,
            "instances_moving_more_than_once": len(twice),
        }
        plan = {
            "format": PLAN_FORMAT,
            "campaign_id": opts["campaign_id"],
            "fingerprint": fp,
            "feasible": feasible,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "options": opts,
            "batches": out_batches,
            "skipped": skipped,
            "moves_per_instance": moves_per_instance,
            "moved_more_than_once": twice,
            "summary": summary,
        }
        return plan


def plan_campaign(hosts, server_groups=None, options=None):
    """Plan an upgrade campaign; see docs/planner.md for the input and output shapes."""
    opts = normalize_options(options)
    hosts = list(hosts or [])
    server_groups = list(server_groups or [])
    _validate_inputs(hosts, server_groups)
    # The planner makes ~10 objects per instance and no reference cycles: pausing the cyclic
    # garbage collector (it would rescan them again and again) saves a third of the time at scale.
    collecting = gc.isenabled()
    gc.disable()
    try:
        fp = fingerprint(hosts, server_groups, opts)
        return _Planner(hosts, server_groups, opts).run(fp)
    finally:
        if collecting:
            gc.enable()


# --------------------------------------------------------------------------
# table and JSON
# --------------------------------------------------------------------------

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
    for batch in plan.get("batches", []):
        moves = batch["moves"]
        moving = str(len(moves))
        if 0 < len(moves) <= 6:
            moving += ": " + ", ".join(m["name"] for m in moves)
        rows.append(("%d%s" % (batch["batch"], "*" if batch.get("canary") else ""), ", ".join(batch["hosts"]),
                     moving, _destinations_summary(moves) or "-",
                     "; ".join(b["detail"] for b in batch.get("size_bound") or []) or "-",
                     "; ".join(batch.get("notes", [])) or "-"))
    if len(rows) > 1:
        lines.extend(_table(rows, (5, 24, 26, 24, 24, 26)))
        lines.append("* canary batch")
        if any(m.get("outside_campaign") for b in plan.get("batches", []) for m in b["moves"]):
            lines.append("^ host outside the campaign: stays up and is not upgraded now")
    for skipped in plan.get("skipped", []):
        lines.append("skipped %s: %s (%s left in place%s)"
                     % (skipped["host"], skipped["detail"], _plural(skipped["instances"], "instance"),
                        "; up and enabled, it may receive instances" if skipped.get("destination") else ""))
    if summary:
        bound = summary.get("lower_bound", {})
        lines.append("hosts: %d eligible, %d skipped; batches: %d (lower bound %s); instances moving: %d, "
                     "moves: %d, max per instance: %d, moving more than once: %d"
                     % (summary.get("eligible_hosts", 0), summary.get("skipped_hosts", 0),
                        summary.get("batches", 0), bound.get("batches", "-"), summary.get("instances_moving", 0),
                        summary.get("moves", 0), summary.get("max_moves_per_instance", 0),
                        summary.get("instances_moving_more_than_once", 0)))
        options = plan.get("options") or {}
        if "batch_size_cap" in summary:
            how = ""
            if options.get("max_batch_size") == AUTO:
                how = ": %s%% of the %d hosts, at least %d" % (options.get("max_batch_percent"),
                                                               summary.get("eligible_hosts", 0), AUTO_MIN_BATCH)
            lines.append("batch size: at most %s per batch after the canary (max_batch_size %s%s)"
                         % (_plural(summary["batch_size_cap"], "host"), options.get("max_batch_size", "-"), how))
    for warning in plan.get("warnings", []):
        lines.append("warning: %s" % warning)
    return "\n".join(lines) + "\n"


def plan_to_json(plan, indent=None):
    """Serialise a plan deterministically."""
    return json.dumps(plan, sort_keys=True, indent=indent, separators=(",", ": ") if indent else (",", ":"))


def plan_from_json(text):
    """Load a plan saved with plan_to_json; refuses other formats."""
    plan = json.loads(text)
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise PlanInputError("not an Escalator plan (format %s expected)" % PLAN_FORMAT)
    return plan
