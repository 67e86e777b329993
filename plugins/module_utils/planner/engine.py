# SPDX-License-Identifier: Apache-2.0
"""The planning engine: ``plan_campaign`` and the planner object it runs (docs/planner.md).

The planner is one object over one struct-of-arrays state (model.CloudModel, for the hot loop's speed);
each concern that reads and changes that state lives in a file of its own as a mixin: checks, placement,
batches, explain, output.
"""

from __future__ import annotations

import gc

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.batches import BatchBuilder
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.checks import StaticChecks
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.explain import Explanations
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.fingerprint import fingerprint
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import validate_inputs
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.model import (
    BLOCKED, PENDING, CloudModel)
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.moves import Batch
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.options import (
    batch_size_cap, normalize_options)
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.output import PlanOutput
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.placement import (
    PENDING_POOL, UP_POOL, Placement)


class Planner(PlanOutput, Explanations, BatchBuilder, StaticChecks, Placement, CloudModel):
    """One campaign's planning: static checks, then the greedy batch builder."""

    def __init__(self, hosts, server_groups, opts):
        CloudModel.__init__(self, hosts, server_groups, opts)
        self.batch_cap = batch_size_cap(opts, self.n_eligible)
        self.init_pools()
        self.init_candidates()

    def run(self, fp):
        """Static checks, then batches until no host is left that can go; returns the plan dict."""
        self.static_checks()
        for h in range(len(self.names)):
            if self.state[h] in (PENDING, BLOCKED) and not self.ours[h]:
                self.pool_set(h, PENDING_POOL)
            elif self.outside[h]:
                self.pool_set(h, UP_POOL)
            if self.state[h] == PENDING:
                self.cand_push(h)
        batches = []
        progressed = False
        while True:
            if not any(self.zone_heaps.values()):
                if self.deferred and progressed:
                    # a batch went since these hosts were deferred: its hosts are upgraded, try them again
                    for h in self.deferred:
                        self.cand_push(h)
                    self.deferred = []
                    progressed = False
                    continue
                break
            number = len(batches) + 1
            batch, placements, canary, counts, bound = self.build_batch(number)
            if not batch:
                continue
            progressed = True
            moves = self.commit(number, batch, placements, canary)
            batches.append(Batch(batch, moves, canary, counts, bound))
        for h in sorted(self.deferred, key=lambda h: self.names[h]):
            self.reasons.append(self.explain(h))
        feasible = not self.reasons
        return self.output(fp, batches if feasible else [], feasible)


def plan_campaign(hosts, server_groups=None, options=None):
    """Plan an upgrade campaign; see docs/planner.md for the input and output shapes."""
    opts = normalize_options(options)
    hosts = list(hosts or [])
    server_groups = list(server_groups or [])
    validate_inputs(hosts, server_groups)
    # The planner makes ~10 objects per instance and no reference cycles: pausing the cyclic
    # garbage collector (it would rescan them again and again) saves a third of the time at scale.
    collecting = gc.isenabled()
    gc.disable()
    try:
        fp = fingerprint(hosts, server_groups, opts)
        return Planner(hosts, server_groups, opts).run(fp)
    finally:
        if collecting:
            gc.enable()
