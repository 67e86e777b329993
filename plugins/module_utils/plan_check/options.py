# SPDX-License-Identifier: Apache-2.0
"""The checker's own reading of the planner options (the documented defaults, written again on purpose: a
checker that shared the planner's code would share its mistakes)."""

from __future__ import annotations

import math

DIMS = ("vcpus", "memory_mb", "disk_gb")
TOLERANCE = 1e-9
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


def cap(opts, hosts):
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


def num(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_options(options):
    """The checker's own reading of the options (same documented defaults as the planner)."""
    merged = dict(_OPTION_DEFAULTS)
    for key, value in (options or {}).items():
        if value is not None or key in ("az_max_down", "include_hosts", "our_disable_marker", "campaign_id"):
            merged[key] = value
    reserve = merged["reserve"] if merged["reserve"] is not None else 0
    if isinstance(reserve, dict):
        reserve = {k: num(v) for k, v in reserve.items()}
    else:
        reserve = num(reserve)
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
