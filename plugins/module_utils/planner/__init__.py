# SPDX-License-Identifier: Apache-2.0
"""Campaign planner: orders compute hosts into upgrade batches.

Pure Python (standard library only, no Ansible objects, no cloud access) so it runs inside an Ansible
module and from plain scripts alike. The model, the algorithm, the meaning of budgets and the plan format
are described in ``docs/planner.md``; ``plan_check.check_plan`` verifies a plan with code of its own.
One concept a file:

* ``inputs``       the input vocabulary (resources, policies, statuses), ``PlanInputError``, the input checks
* ``options``      ``normalize_options(options) -> dict`` (defaults, validation), ``batch_size_cap``
* ``fingerprint``  ``fingerprint(hosts, server_groups=None, options=None) -> str`` and the canonical inputs
* ``engine``       ``plan_campaign(hosts, server_groups=None, options=None) -> dict``: the planner object,
  assembled from the pieces below, and its main loop
* ``model``        the cloud as the planner holds it: hosts, instances and groups as parallel arrays
* ``policies``     per-server policy from server metadata (escalator:action, escalator:budget; the vocabulary in
  ``module_utils/server_policy.py``): skipped hosts, notify servers, tagged modes, ``server_policies``
* ``checks``       static checks before any batch: budgets, spare hosts, capacity, instances too big to move
* ``placement``    units (what moves together) and where they go: destination pools, fit, group rules
* ``batches``      choosing the next host, building one batch, committing its moves
* ``explain``      what bound a batch's size, why a host left over cannot be drained
* ``moves``        the named types of a move and of a committed batch
* ``output``       the plan dict (batches, moves, notes, summary, lower bound)
* ``render``       ``render_table(plan) -> str``; ``text``: number and list wording shared by reasons and table
* ``plan_json``    ``plan_to_json(plan)`` / ``plan_from_json(text)`` and the format name
"""
