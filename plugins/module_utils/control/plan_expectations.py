# SPDX-License-Identifier: Apache-2.0
"""What the plan expects of its campaign (issue 14): each host's seconds per phase, each batch's (its slowest
host: a batch's hosts run in parallel) and the campaign's (its batches one after the other; waits for windows
and alerts not counted), from the history of earlier campaigns when there is one, else the documented defaults.

The plan carries them in its ``expected`` section (docs/planner.md). They are advice, not the plan's substance:
they are outside its fingerprint, and the independent checker ignores them. The gate computes its own before
each batch (history grows while the campaign runs), the same way (``history``, ``expectations``).
Pure: the caller reads the history (``history.from_state_dir``) and passes its samples.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.control import expectations, history


def section(plan, samples=None, overrides=None):
    """The plan's ``expected`` section for ``plan`` (its batches and moves)."""
    expected, sources = history.expected_phases(samples, overrides)
    rate, rate_source = expectations.evacuate_rate(samples, overrides, history.MIN_SAMPLES)
    batches = [b for b in (plan or {}).get('batches') or [] if isinstance(b, dict)]
    hosts = [host for batch in batches for host in batch.get('hosts') or []]
    by_host = expectations.for_hosts(expected, rate, expectations.instances_to_move(plan), hosts)
    per_batch = [dict(batch=batch.get('batch'), seconds=round(expectations.batch_seconds(
        {host: by_host[host] for host in batch.get('hosts') or []}), 1)) for batch in batches]
    return dict(source=history.describe(sources), phase_sources=sources, evacuate_per_instance=rate,
                evacuate_source=rate_source, hosts=by_host, batches=per_batch,
                campaign_s=round(sum(entry['seconds'] for entry in per_batch), 1))
