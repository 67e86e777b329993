# SPDX-License-Identifier: Apache-2.0
"""The planner's options: their defaults, their validation, and the batch size they allow (docs/planner.md)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import (
    RESOURCES, PlanInputError, number)

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
# options whose None is a value of its own rather than "use the default"
_NULLABLE = ("az_max_down", "include_hosts", "our_disable_marker", "campaign_id")


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


def _normalize_reserve(value):
    if value is None:
        return 0
    if isinstance(value, dict):
        out = {}
        for key, amount in value.items():
            if key not in RESOURCES:
                raise PlanInputError("option reserve: unknown resource %r (use %s)" % (key, ", ".join(RESOURCES)))
            amount = number(amount, "option reserve.%s" % key)
            if amount < 0:
                raise PlanInputError("option reserve.%s must be >= 0" % key)
            out[key] = amount
        return out
    value = number(value, "option reserve")
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


def _normalize_budgets(budgets):
    budgets = budgets or {}
    if not isinstance(budgets, dict):
        raise PlanInputError("option budgets must be a mapping of group name or id to an integer")
    out = {}
    for key in sorted(budgets, key=str):
        value = budgets[key]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlanInputError("budget for group %r must be an integer >= 0, got %r" % (key, value))
        out[str(key)] = value
    return out


def _choice(opts, key, choices):
    if opts[key] not in choices:
        raise PlanInputError("option %s must be one of %s, got %r" % (key, ", ".join(choices), opts[key]))
    return opts[key]


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
    opts.update({k: v for k, v in options.items() if v is not None or k in _NULLABLE})
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
    out["budgets"] = _normalize_budgets(opts["budgets"])
    marker = opts["our_disable_marker"]
    if marker is not None and not isinstance(marker, str):
        raise PlanInputError("option our_disable_marker must be a string")
    out["our_disable_marker"] = marker or None
    out["prefer"] = _choice(opts, "prefer", PREFERENCES)
    out["unhealthy_instances"] = _choice(opts, "unhealthy_instances", UNHEALTHY_CHOICES)
    campaign_id = opts["campaign_id"]
    out["campaign_id"] = None if campaign_id is None else str(campaign_id)
    return out
