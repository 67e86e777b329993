# SPDX-License-Identifier: Apache-2.0
"""The planner's input vocabulary and the checks of its hosts and server groups (docs/planner.md)."""

from __future__ import annotations

import math

RESOURCES = ("vcpus", "memory_mb", "disk_gb")
RESOURCE_UNITS = ("vCPU", "MB RAM", "GB disk")
POLICIES = ("anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity")
LIVE_STATUSES = frozenset(("ACTIVE", "PAUSED"))
MIGRATABLE_STATUSES = frozenset(("ACTIVE", "PAUSED", "SHUTOFF"))
EPSILON = 1e-9


class PlanInputError(ValueError):
    """The hosts, server groups or options are malformed."""


def unhealthy(host):
    """The instances of a host that Nova can move neither live nor cold."""
    return [inst for inst in host.get("instances") or [] if inst.get("status") not in MIGRATABLE_STATUSES]


def number(value, what):
    """A finite int or float (a whole float becomes an int); PlanInputError naming *what* otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanInputError("%s must be a number, got %r" % (what, value))
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise PlanInputError("%s must be finite, got %r" % (what, value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def validate_inputs(hosts, server_groups):
    """Raise PlanInputError for the first malformed host, instance or server group."""
    if not isinstance(hosts, (list, tuple)):
        raise PlanInputError("hosts must be a list")
    seen_hosts = set()
    seen_instances = set()
    for host in hosts:
        if not isinstance(host, dict) or not isinstance(host.get("name"), str) or not host["name"]:
            raise PlanInputError("every host needs a non-empty string name: %r" % (host,))
        if host["name"] in seen_hosts:
            raise PlanInputError("host %s is listed twice" % host["name"])
        seen_hosts.add(host["name"])
        _validate_host(host)
        for inst in host.get("instances") or []:     # inline, not a call: this runs once per instance
            if not isinstance(inst, dict) or not isinstance(inst.get("id"), str) or not inst["id"]:
                raise PlanInputError("host %s: every instance needs a string id: %r" % (host["name"], inst))
            if inst["id"] in seen_instances:
                raise PlanInputError("instance %s is listed twice" % inst["id"])
            seen_instances.add(inst["id"])
            for key in RESOURCES:
                if number(inst.get(key) or 0, "instance %s: %s" % (inst["id"], key)) < 0:
                    raise PlanInputError("instance %s: %s must be >= 0" % (inst["id"], key))
    _validate_groups(server_groups)


def _validate_host(host):
    name = host["name"]
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
                if number(values[key], "host %s: %s.%s" % (name, section, key)) < 0:
                    raise PlanInputError("host %s: %s.%s must be >= 0" % (name, section, key))


def _validate_groups(server_groups):
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
