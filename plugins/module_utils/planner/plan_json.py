# SPDX-License-Identifier: Apache-2.0
"""The plan as JSON: its format name, deterministic serialisation and loading (docs/planner.md)."""

from __future__ import annotations

import json

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import PlanInputError

PLAN_FORMAT = "escalator-plan/1"


def plan_to_json(plan, indent=None):
    """Serialise a plan deterministically."""
    return json.dumps(plan, sort_keys=True, indent=indent, separators=(",", ": ") if indent else (",", ":"))


def plan_from_json(text):
    """Load a plan saved with plan_to_json; refuses other formats."""
    plan = json.loads(text)
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise PlanInputError("not an Escalator plan (format %s expected)" % PLAN_FORMAT)
    return plan
