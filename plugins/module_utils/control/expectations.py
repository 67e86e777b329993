# SPDX-License-Identifier: Apache-2.0
"""Each host's expected phase durations: the evacuate phase scales with the instances the host has to move.

A host's evacuation is a live migration per instance (a few at a time): a host with 12 instances takes about 12
times as long as one with one. One expectation per host (the median of earlier hosts) flagged every full host as
hanging (E_HANG) while the plan was moving instances onto the hosts left for later (8 lab hosts: the last ones
carried three times the instances of the first). So the evacuate phase is expected to take
``seconds per instance x max(1, instances to move)``, the rate being (first that applies):

1. none when ``escalator_expected_phase_seconds.evacuate`` is set: the operator fixed it per host;
2. ``escalator_expected_phase_seconds.evacuate_per_instance``;
3. the median seconds per instance of earlier hosts (history: their evacuate phase over the moves their
   campaign's plan gave them), once ``history.MIN_SAMPLES`` hosts went through it;
4. ``durations.DEFAULT_EVACUATE_PER_INSTANCE``.

The instances a host has to move are the plan's moves from it (the plan the campaign follows, plan.json).
"""

from __future__ import annotations

import statistics

from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations

SAMPLES_KEY = durations.PER_INSTANCE          # history's samples of seconds per instance


def instances_to_move(plan):
    """{host: instances the plan moves away from it} for every host of the plan's batches ({} without a plan)."""
    counts = {}
    for batch in (plan or {}).get('batches') or []:
        if not isinstance(batch, dict):
            continue
        for host in batch.get('hosts') or []:
            counts.setdefault(host, 0)
        for move in batch.get('moves') or []:
            if isinstance(move, dict) and move.get('from') is not None:
                counts[move['from']] = counts.get(move['from'], 0) + 1
    return counts


def evacuate_rate(samples=None, overrides=None, min_samples=3):
    """(seconds per instance or None, where it comes from); None: the evacuate expectation is fixed per host."""
    overrides = overrides or {}
    if 'evacuate' in overrides:
        return None, 'setting (per host)'
    rate = durations.per_instance_seconds(overrides)
    if rate is not None:
        return rate, 'setting'
    observed = (samples or {}).get(SAMPLES_KEY) or []
    if len(observed) >= min_samples:
        return round(statistics.median(observed), 1), 'history (%d hosts)' % len(observed)
    return durations.DEFAULT_EVACUATE_PER_INSTANCE, 'default'


def for_hosts(expected, rate, counts, hosts):
    """{host: {phase: seconds}}: ``expected`` with the evacuate phase scaled by the host's instances to move
    (a host the plan does not know, or a fixed rate (None), keeps ``expected['evacuate']``)."""
    result = {}
    for host in hosts:
        phases = dict(expected)
        if rate is not None and host in (counts or {}):
            phases['evacuate'] = round(rate * max(1, counts[host]), 1)
        result[host] = phases
    return result


def batch_seconds(by_host):
    """A batch's expected seconds (its hosts run in parallel): its slowest host's; 0 for an empty batch."""
    return max((float(sum(phases.values())) for phases in by_host.values()), default=0.0)
