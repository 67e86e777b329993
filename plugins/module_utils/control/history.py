# SPDX-License-Identifier: Apache-2.0
"""Expected phase durations from the history of earlier campaigns on the same cloud (their events.jsonl).

The campaign_status callback records a host's phase when its first task of the phase starts (``maintenance``,
``notify``, ``evacuate``, ``backup``, ``upgrade``, ``verify``) and the playbook records it ``done``
(``notify_complete``): a phase lasts from its event to the host's next one.  Only attempts that ended
``done`` count (a failed or interrupted attempt says nothing about how long a phase takes), and ``verify``
then includes the release (enable, tell the VNF managers).

A phase's expectation is the median of what was observed, once ``MIN_SAMPLES`` hosts went through it;
otherwise the documented default (``durations``).  ``escalator_expected_phase_seconds`` overrides both.
The evacuate phase is also observed per instance moved (its campaign's plan.json says how many the host had to
move): ``expectations`` scales each host's evacuate expectation by its own instances.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics

from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, expectations

PHASES = ('maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify')
END = 'notify_complete'
MIN_SAMPLES = 3
MAX_CAMPAIGNS = 20          # the newest campaigns of the state directory are read, no more
MAX_EVENTS_BYTES = 64 * 1024 * 1024
_STAMP_KEY = 'ts'


def parse_ts(text):
    """An events.jsonl timestamp (``2026-01-01T10:00:00.123Z``) as an aware datetime, or None."""
    try:
        value = datetime.datetime.fromisoformat(str(text).replace('Z', '+00:00'))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _seconds(start, end):
    first, last = parse_ts(start), parse_ts(end)
    if first is None or last is None:
        return None
    return max(0.0, (last - first).total_seconds())


def observed(events, counts=None):
    """{phase: [seconds, ...]} from one campaign's events (oldest first), for host attempts that ended done;
    with ``counts`` ({host: instances to move}, from its plan), also the evacuate phase's seconds per instance
    (``expectations.SAMPLES_KEY``)."""
    attempts = {}
    samples = {phase: [] for phase in PHASES}
    samples[expectations.SAMPLES_KEY] = []
    for event in events:
        if event.get('object_type') != 'host' or event.get('action') not in PHASES + (END,):
            continue
        key = (event.get('run'), event.get('object_id'))
        steps = attempts.setdefault(key, [])
        if event['action'] == 'maintenance' and steps:
            steps[:] = []                       # a new attempt of the same host in the same run
        steps.append((event['action'], event.get(_STAMP_KEY), event.get('result')))
        if event['action'] == END:
            if event.get('result') == 'ok':
                for (phase, start, _r), (_next, end, _r2) in zip(steps, steps[1:]):
                    seconds = _seconds(start, end) if phase in samples else None
                    if seconds is not None:
                        samples[phase].append(seconds)
                        if phase == 'evacuate' and key[1] in (counts or {}):
                            samples[expectations.SAMPLES_KEY].append(seconds / max(1, counts[key[1]]))
            del attempts[key]
    return samples


def _read_events(path):
    events = []
    try:
        if os.path.getsize(path) > MAX_EVENTS_BYTES:
            return events
        with open(path, 'rb') as handle:
            for raw in handle:
                if b'"object_type":"host"' not in raw:
                    continue
                try:
                    event = json.loads(raw.decode('utf-8'))
                except ValueError:
                    continue
                if isinstance(event, dict):
                    events.append(event)
    except OSError:
        return []
    return events


def _read_plan(events_path):
    """The plan.json next to a campaign's events.jsonl, or None."""
    try:
        with open(os.path.join(os.path.dirname(events_path), 'plan.json'), 'r', encoding='utf-8') as handle:
            plan = json.load(handle)
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) else None


def from_state_dir(state_dir, max_campaigns=MAX_CAMPAIGNS):
    """Samples of every phase from the newest campaigns of ``state_dir`` (the current one included: its own
    finished hosts count), and how many campaigns contributed: ({phase: [seconds]}, campaigns)."""
    samples = {phase: [] for phase in PHASES + (expectations.SAMPLES_KEY,)}
    try:
        names = os.listdir(state_dir)
    except OSError:
        return samples, 0
    paths = []
    for name in names:
        path = os.path.join(state_dir, name, 'events.jsonl')
        try:
            paths.append((os.path.getmtime(path), path))
        except OSError:
            continue
    used = 0
    for _mtime, path in sorted(paths, reverse=True)[:max_campaigns]:
        found = observed(_read_events(path), expectations.instances_to_move(_read_plan(path)))
        if any(found.values()):
            used += 1
        for phase, values in found.items():
            samples[phase].extend(values)
    return samples, used


def expected_phases(samples=None, overrides=None, min_samples=MIN_SAMPLES):
    """The expected seconds per phase and where each comes from: ({phase: seconds}, {phase: source}).

    ``source`` is ``history (N hosts)``, ``default`` or ``setting``. With history for ``verify``, ``release``
    is part of it (0)."""
    expected = dict(durations.DEFAULT_PHASE_SECONDS)
    sources = {phase: 'default' for phase in expected}
    for phase, values in (samples or {}).items():
        if phase in expected and len(values) >= min_samples:
            expected[phase] = round(statistics.median(values), 1)
            sources[phase] = 'history (%d hosts)' % len(values)
    if sources['verify'] != 'default':
        expected['release'], sources['release'] = 0, 'in verify (history)'
    for phase, seconds in durations.phase_seconds(overrides).items():
        if overrides and phase in overrides:
            expected[phase], sources[phase] = seconds, 'setting'
    return expected, sources


def describe(sources):
    """``history (12 hosts)`` / ``defaults`` / ``history and defaults`` for messages."""
    kinds = {'history' if s.startswith(('history', 'in verify')) else s for s in sources.values()}
    if kinds == {'history'}:
        counts = [s for s in sources.values() if s.startswith('history')]
        return counts[0] if len(set(counts)) == 1 else 'history'
    if kinds == {'default'}:
        return 'defaults'
    return ' and '.join(sorted(k if k != 'default' else 'defaults' for k in kinds))
