# SPDX-License-Identifier: Apache-2.0
"""Wording of numbers, resources and name lists, shared by the planner's reasons and its table."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import RESOURCE_UNITS


def fmt(value):
    """A number as an operator reads it: whole floats without decimals, others with one."""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return "%.1f" % value
    return str(value)


def fmt_res(vector, dims=(0, 1, 2), skip_zero=True):
    """A (vcpus, memory_mb, disk_gb) vector with units; zero memory/disk left out unless *skip_zero* is off."""
    parts = []
    for d in dims:
        if skip_zero and not vector[d] and d != 0:
            continue
        parts.append("%s %s" % (fmt(vector[d]), RESOURCE_UNITS[d]))
    return ", ".join(parts)


def plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def join_names(names, limit=6):
    """At most *limit* names, then how many more."""
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return "%s and %d more" % (", ".join(names[:limit]), len(names) - limit)
