# SPDX-License-Identifier: Apache-2.0
"""Independent checker for campaign plans.

``rules.check_plan(hosts, server_groups, options, plan) -> list[str]`` replays a plan made by
``planner.engine.plan_campaign`` against its inputs and returns every rule it breaks (an empty list means the
plan is valid).  It shares no code with the planner on purpose: it re-reads the options, re-derives which hosts
are eligible and what each server group may lose, and simulates the campaign batch after batch with plain
dictionaries.  The rules are those of docs/planner.md. One concept a file:

* ``options``      the checker's own reading of the options (the same documented defaults as the planner's)
* ``fingerprint``  ``expected_fingerprint(hosts, server_groups, options)``, computed independently
* ``cloud``        the cloud the checker replays: eligibility, placements, room, group budgets, lower bounds
* ``policies``     its own reading of the servers' escalator:action / escalator:budget and the plan-wide rules of them
* ``rules``        ``check_plan`` and the plan-wide rules: skipped hosts, batch membership and sizes, figures
* ``batch_rules``  the rules of one batch: budgets, moves, destinations, affinity, capacity, anti-affinity
"""
