# SPDX-License-Identifier: Apache-2.0
"""What the planner moves: a unit (instances that move together), a move, and a committed batch."""

from __future__ import annotations

from collections import namedtuple

# One instance's move, as indices into the planner's arrays (docs/planner.md "moves"):
# source and dest are host indices, instance an instance index, to the host indices in order of preference
# (dest first), mode "live" | "cold" | "stop" (escalator:action=stop) | "switchover", parked True when dest is
# not upgraded yet (the instance moves again), group the index of the hard-affinity group it moves with, or None.
Move = namedtuple("Move", "source instance dest to mode parked group")

# A batch as committed: host indices, its moves, whether it is the canary, the members it takes down per
# budgeted group index, and what bound its size (the plan's size_bound entries).
Batch = namedtuple("Batch", "hosts moves canary group_counts size_bound")


class Unit:
    """Instances that move together (members of one hard-affinity group share a unit), with the group rules
    that decide where they may go, as group indices: anti (hard anti-affinity), limited ((group, members)
    under a budget), soft_anti, soft_aff, aff (the hard-affinity group or None)."""

    __slots__ = ("members", "req", "anti", "limited", "soft_anti", "soft_aff", "aff", "order")

    def __init__(self, members, req, rules):
        self.members = members
        self.req = req
        self.anti, self.limited, self.soft_anti, self.soft_aff, self.aff = rules
        # placement order: anti-affinity members first (fewest choices), then the largest
        self.order = (0 if self.anti else 1, -req[1], -req[0], -req[2], members[0])
