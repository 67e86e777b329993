# SPDX-License-Identifier: Apache-2.0
"""Durations and the summary of a status (counts per host state, batches, failed hosts, duration)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import ACTIVE_STATES, DONE, FAILURE_STATES, HOST_STATES, SKIPPED
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts, seconds_between


def format_duration(seconds):
    if seconds is None:
        return '-'
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return '%d:%02d:%02d' % (hours, rest // 60, rest % 60)


def host_duration(record, now=None):
    """Seconds the host has been (or was) worked on in its current attempt, or None."""
    if not record.get('started'):
        return None
    end = record.get('finished')
    if not end:
        end = format_ts(now) if now is not None else record.get('updated')
    return seconds_between(record['started'], end)


def campaign_duration(status, now=None):
    campaign = status['campaign']
    end = campaign.get('finished')
    if not end:
        end = format_ts(now) if now is not None else campaign.get('updated')
    return seconds_between(campaign.get('started'), end)


def summary(status, now=None):
    """Counts per host state, batches, failed hosts and duration, as a dict."""
    hosts = status['hosts']
    counts = {state: 0 for state in HOST_STATES}
    for record in hosts.values():
        counts[record['state']] = counts.get(record['state'], 0) + 1
    campaign = status['campaign']
    batches = status['batches']
    return {
        'campaign_id': campaign['id'],
        'state': campaign['state'],
        'run': campaign['run'],
        'runs': len(campaign['runs']),
        'hosts': len(hosts),
        'states': counts,
        'batches': len(batches),
        'batches_done': sum(1 for b in batches if b['state'] in (DONE, SKIPPED)),
        'done': counts[DONE],
        'failed': sum(1 for r in hosts.values() if r['state'] in FAILURE_STATES),
        'failed_hosts': sorted(n for n, r in hosts.items() if r['state'] in FAILURE_STATES),
        'active_hosts': sorted(n for n, r in hosts.items() if r['state'] in ACTIVE_STATES),
        'alerts': campaign.get('alerts', 0),
        'started': campaign['started'],
        'finished': campaign['finished'],
        'duration_s': campaign_duration(status, now),
    }
