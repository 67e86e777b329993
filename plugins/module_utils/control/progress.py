# SPDX-License-Identifier: Apache-2.0
"""Elapsed vs expected, the ETA, and hang detection, from a campaign's status and the expected phase durations.

``expected`` is ``{phase: seconds}`` (history.expected_phases); ``by_host`` (``expectations.for_hosts``), when
given, is each host's own (its evacuate phase scaled by its instances).  A host's current phase started at the
first entry of the latest run of that phase in its history.  A host whose phase has run longer than ``multiple``
times its expectation hangs: the watcher started by the gate raises an ``alert`` event (kind ``hang``) at once,
once per host and phase, and POSTs it to the alert webhook; what else happens is the policy's (``hang_policy``).
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.opnfv.escalator.plugins.module_utils import detach, run_guard
from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, hang_policy
from ansible_collections.opnfv.escalator.plugins.module_utils.control.history import parse_ts
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_HANG

ACTIVE = ('draining', 'upgrading', 'verifying')
OPEN_BATCH_STATES = ('pending', 'running')
HANG_POLL = 5.0


def phase_started(record):
    """When the host's current phase started (aware datetime), or None."""
    phase = record.get('phase')
    started = None
    for entry in reversed(record.get('history') or []):
        if entry.get('phase') != phase:
            break
        started = entry.get('ts')
    return parse_ts(started) if started else None


def phase_expected(expected, phase):
    # verify's history includes the release; with defaults the release is its own phase
    if phase == 'verify':
        return expected.get('verify', 0) + expected.get('release', 0)
    return expected.get(phase)


def active(status, expected, now, by_host=None):
    """[{host, phase, elapsed_s, expected_s, ratio}] for the hosts being worked on."""
    rows = []
    for name, record in sorted((status.get('hosts') or {}).items()):
        if record.get('state') not in ACTIVE:
            continue
        started = phase_started(record)
        wanted = phase_expected((by_host or {}).get(name) or expected, record.get('phase'))
        elapsed = (now - started).total_seconds() if started else None
        rows.append(dict(host=name, phase=record.get('phase'), elapsed_s=elapsed, expected_s=wanted,
                         ratio=(elapsed / wanted) if elapsed is not None and wanted else None))
    return rows


def hangs(status, expected, multiple, now, by_host=None):
    """The active hosts whose phase has run more than ``multiple`` times its expectation."""
    if not multiple:
        return []
    return [row for row in active(status, expected, now, by_host)
            if row['ratio'] is not None and row['ratio'] > multiple]


def eta_seconds(status, expected, now):
    """Seconds left: what the batch in flight still needs (its slowest host) plus one host's expectation per
    batch not started; None when nothing is left."""
    host_s = float(sum(expected.values()))
    batches = status.get('batches') or []
    waiting = [b for b in batches if b.get('state') == 'pending']
    left = 0.0
    for row in active(status, expected, now):
        record = status['hosts'][row['host']]
        started = parse_ts(record.get('started'))
        spent = (now - started).total_seconds() if started else 0.0
        left = max(left, host_s - spent, 0.0)
    total = left + host_s * len(waiting)
    return total if (waiting or left) else None


def lines(status, expected, source, now, by_host=None):
    """The progress lines under the status table."""
    host_s = float(sum(expected.values()))
    text = ['expected: %s a host, batch (hosts in parallel) from %s' % (
        durations.minutes_text(host_s), source)]
    for row in active(status, expected, now, by_host):
        if row['elapsed_s'] is None or not row['expected_s']:
            continue
        text.append('%s: %s for %s, expected %s (%.1fx)' % (
            row['host'], row['phase'], _clock(row['elapsed_s']), _clock(row['expected_s']), row['ratio']))
    left = eta_seconds(status, expected, now)
    if left is not None and (status.get('campaign') or {}).get('state') == 'running':
        finish = now + datetime.timedelta(seconds=left)
        text.append('ETA %s (%s left; waits for windows and alerts not counted)' % (
            finish.strftime('%Y-%m-%d %H:%M UTC'), durations.minutes_text(left)))
    elif left is not None:
        text.append('left: %s of expected work (%d batch(es) not started)' % (
            durations.minutes_text(left), sum(1 for b in status.get('batches') or [] if b.get('state') == 'pending')))
    return text


def _clock(seconds):
    seconds = int(round(seconds))
    return '%d:%02d:%02d' % (seconds // 3600, seconds % 3600 // 60, seconds % 60)


def check_hangs(store, expected, multiple, hosts, alerted, now, webhook=None, by_host=None,
                policy=hang_policy.ALERT):
    """Raise an alert for each host of ``hosts`` newly found hanging; returns whether any of them is still
    being worked on. ``alerted``: the (host, phase) pairs already alerted (updated)."""
    status = store.read_status() or {}
    for row in hangs(status, expected, multiple, now, by_host):
        key = (row['host'], row['phase'])
        if row['host'] not in hosts or key in alerted:
            continue
        alerted.add(key)
        text = '%s has been at %s for %s, %.1fx its expected %s (%s): is it stuck?' % (
            row['host'], row['phase'], _clock(row['elapsed_s']), row['ratio'], _clock(row['expected_s']),
            hang_policy.describe(multiple, policy))
        store.alert('hang', text,
                    object_type='host', object_id=row['host'], error_code=E_HANG,
                    data=dict(phase=row['phase'], elapsed_s=round(row['elapsed_s'], 1), expected_s=row['expected_s'],
                              multiple=multiple, policy=policy),
                    severity='critical' if policy == hang_policy.FAIL else 'warning', webhook=webhook)
    return any(((status.get('hosts') or {}).get(h) or {}).get('state') in ACTIVE + ('pending',) for h in hosts)


def _run_of(holder):
    """The run holding the lock (its ansible-playbook's pid and start time), or None."""
    return None if holder is None else (holder.get('pid'), holder.get('pid_start'))


def _watch(store, expected, multiple, hosts, webhook, poll, proc, by_host,
           policy):  # pragma: no cover - in the watcher process
    alerted = set()
    seen_active = False
    run = _run_of(run_guard.holder(store.path, proc=proc))
    # watch the run that started us only: after a kill -9 a resumed run holds the lock again, and its own gate
    # starts its own watcher (two would raise every hang alert twice)
    while run is not None and _run_of(run_guard.holder(store.path, proc=proc)) == run:
        try:
            busy = check_hangs(store, expected, multiple, hosts, alerted,
                               datetime.datetime.now(datetime.timezone.utc), webhook, by_host, policy)
        # a watcher must not die of a torn read
        except Exception:  # pylint: disable=broad-except
            busy = True
        seen_active = seen_active or busy
        if seen_active and not busy:
            return
        time.sleep(poll)


def start_hang_watcher(store, expected, multiple, hosts, webhook=None, poll=HANG_POLL, proc='/proc', by_host=None,
                       policy=hang_policy.ALERT):
    """A detached process watching this batch's hosts until they are finished or the run ends."""
    if not multiple:
        return False
    hosts = list(hosts)
    detach.detach(lambda: _watch(store, expected, multiple, hosts, webhook, poll, proc, by_host, policy))
    return True
