# SPDX-License-Identifier: Apache-2.0
"""What a resumed run does with each host: skip it, start it, continue it from a phase, roll it back or retry it.

``resume_plan`` is campaign_state_info's ``resume``; the upgrade playbook's precheck play reads its
``hosts[<host>].host_changed`` (a host this campaign changed part-way may have its reboot pending)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    ACTIVE_STATES, CHANGING_PHASES, DRAINING, FAILED, FINAL_STATES, PENDING, PHASES, UPGRADING, VERIFYING)


def hosts_to_skip(status):
    """Hosts a resumed run must not touch: done or skipped."""
    return sorted(name for name, record in status['hosts'].items() if record['state'] in FINAL_STATES)


def host_resume_point(status, host):
    """Where a host stopped, and what a resumed run does with it.

    ``resume`` is one of:
      ``skip``      done or skipped: leave it alone;
      ``start``     not begun (pending, or unknown to the campaign): run every phase;
      ``continue``  caught half-way (draining, upgrading, verifying): run again from ``from_phase`` (every phase
                    is idempotent);
      ``rollback``  failed after the host was disturbed, or a rollback was under way: roll it back from
                    ``from_phase`` (re-enable only what this campaign disabled);
      ``retry``     failed before anything was changed, or already rolled back: may be tried again from the
                    start by a new run (the failure policy decides whether it is).
    ``host_changed`` says whether the host reached a phase that changes the host itself (upgrade and later),
    so that a rollback has to restore its software, not only its maintenance.
    """
    record = status['hosts'].get(host)
    if record is None:
        return dict(host=host, state=None, phase=None, batch=None, resume='start', from_phase=PHASES[0],
                    error_code=None, host_changed=False, reason='not in the campaign yet')
    state, phase = record['state'], record.get('phase')
    reached = {entry.get('phase') for entry in record.get('history') or []} | {phase}
    point = dict(host=host, state=state, phase=phase, batch=record.get('batch'), error_code=record.get('error_code'),
                 host_changed=bool(reached & CHANGING_PHASES))
    if state in FINAL_STATES:
        point.update(resume='skip', from_phase=None, reason='%s already' % state)
    elif state == PENDING:
        point.update(resume='start', from_phase=PHASES[0], reason='not begun')
    elif state in ACTIVE_STATES:
        start = phase or {DRAINING: 'maintenance', UPGRADING: 'backup', VERIFYING: 'verify'}[state]
        if phase == 'rollback':
            point.update(resume='rollback', from_phase='rollback', reason='a rollback was under way')
        else:
            point.update(resume='continue', from_phase=start,
                         reason='caught half-way: %s at %s, continue from there' % (state, start))
    elif state == FAILED:
        if phase in (None, 'precheck'):
            point.update(resume='retry', from_phase=PHASES[0], reason='failed before any change (%s)'
                         % (record.get('error_code') or 'no error code'))
        else:
            point.update(resume='rollback', from_phase='rollback', reason='failed at %s (%s) and not rolled back'
                         % (phase, record.get('error_code') or 'no error code'))
    else:  # rolled back
        point.update(resume='retry', from_phase=PHASES[0], reason='rolled back after %s'
                     % (record.get('error_code') or 'a failure'))
    return point


def resume_plan(status):
    """Every host's resume point, grouped: {skip: [...], start: [...], continue: {host: phase}, rollback: [...],
    retry: [...], hosts: {host: point}}."""
    grouped = {'skip': [], 'start': [], 'continue': {}, 'rollback': [], 'retry': [], 'hosts': {}}
    for name in sorted(status['hosts']):
        point = host_resume_point(status, name)
        grouped['hosts'][name] = point
        if point['resume'] == 'continue':
            grouped['continue'][name] = point['from_phase']
        else:
            grouped[point['resume']].append(name)
    return grouped
