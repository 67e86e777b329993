# SPDX-License-Identifier: Apache-2.0
"""The state machine: every change to a campaign's status as a pure function ``apply_*(status, ...)`` that
changes the dict in place and returns the events to append (the store writes both under its lock)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT
from ansible_collections.opnfv.escalator.plugins.module_utils.state.closing import check_open
from ansible_collections.opnfv.escalator.plugins.module_utils.state.events import make_event
from ansible_collections.opnfv.escalator.plugins.module_utils.state.plans import normalize_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.state.resume import hosts_to_skip
from ansible_collections.opnfv.escalator.plugins.module_utils.state.status import campaign_outcome, new_host, new_status, refresh_batches
from ansible_collections.opnfv.escalator.plugins.module_utils.state.summary import summary
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    ACTIVE_STATES, BATCH_STATES, CLOSED_STATES, DEFAULT_RESULT, DONE, FAILED, FAILURE_STATES, FINAL_STATES, HISTORY_LIMIT,
    HOST_STATES, INCOMPLETE, PENDING, PHASES, RESULTS, ROLLED_BACK, RUNNING, SKIPPED, TRANSITIONS, StateError,
    truncate)
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts


def _check_transition(name, record, new_state, reset):
    old = record['state']
    if new_state == old or reset or new_state in TRANSITIONS[old]:
        return
    if old in FINAL_STATES:
        why = 'a %s host is never touched again unless a new run resets it (reset=true)' % old
    else:
        allowed = ', '.join(sorted(TRANSITIONS[old])) or 'none'
        why = 'from %s the allowed states are: %s' % (old, allowed)
    raise StateError('host %s is %s (phase %s, since %s, run %s): refusing %s -> %s; %s'
                     % (name, old, record.get('phase') or '-', record.get('updated') or '-', record.get('run') or '-',
                        old, new_state, why), host=name, state=old, requested_state=new_state)


def _check_host_update(name, state, phase, result):
    if not isinstance(name, str) or not name:
        raise StateError('a host update needs the host name', code=E_INVALID_INPUT)
    if state is not None and state not in HOST_STATES:
        raise StateError('host state %r is not one of %s' % (state, ', '.join(HOST_STATES)), code=E_INVALID_INPUT)
    if phase is not None and phase not in PHASES:
        raise StateError('phase %r is not one of %s' % (phase, ', '.join(PHASES)), code=E_INVALID_INPUT)
    if result is not None and result not in RESULTS:
        raise StateError('result %r is not one of %s' % (result, ', '.join(RESULTS)), code=E_INVALID_INPUT)


def apply_host(status, name, now, run_id, state=None, phase=None, result=None, error_code=None, message=None,
               data=None, reset=False, batch=None):
    """Change one host's record in ``status`` (in place). Returns the events to append ([] when nothing changed).

    Raises StateError on a transition the state machine refuses.
    """
    _check_host_update(name, state, phase, result)
    check_open(status, 'changed (host %s)' % name)
    hosts = status['hosts']
    added = name not in hosts
    record = hosts[name] if not added else new_host(batch=batch)
    old = {key: record.get(key) for key in ('state', 'phase', 'result', 'error_code', 'message', 'batch')}
    new_state = state or record['state']
    _check_transition(name, record, new_state, reset)
    new_phase = phase if phase is not None else record['phase']
    new_result = result or DEFAULT_RESULT[new_state]
    # a rollback recorded after the failure keeps the failure's code and message unless it gives its own
    inherit = new_state in FAILURE_STATES and record['state'] in FAILURE_STATES
    new_code = error_code or (record['error_code'] if inherit else None)
    new_message = truncate(message if message is not None else (record['message'] if inherit else None))
    new_batch = batch if batch is not None else record['batch']
    after = dict(state=new_state, phase=new_phase, result=new_result, error_code=new_code, message=new_message,
                 batch=new_batch)
    if not added and not reset and after == old and not data:
        return []
    stamp = format_ts(now)
    entering_active = new_state in ACTIVE_STATES and record['state'] not in ACTIVE_STATES
    if entering_active or (added and new_state in ACTIVE_STATES):
        record['started'] = stamp
        record['finished'] = None
    if new_state in FINAL_STATES | FAILURE_STATES and (new_state != record['state'] or not record['finished']):
        record['finished'] = stamp
    if new_state == PENDING:
        record['started'] = record['finished'] = None
    record.update(after)
    record['updated'] = stamp
    record['run'] = run_id
    record['history'].append(dict(ts=stamp, run=run_id, state=new_state, phase=new_phase, result=new_result,
                                  error_code=new_code, message=new_message))
    del record['history'][:-HISTORY_LIMIT]
    hosts[name] = record
    campaign_id = status['campaign']['id']
    events = []
    if reset and old['state'] != new_state:
        events.append(make_event(campaign_id, run_id, 'host', name, 'reset', 'changed',
                                 message='host %s reset from %s to %s' % (name, old['state'], new_state),
                                 data=dict(previous_state=old['state'], state=new_state), now=now))
    event_data = dict(state=new_state, previous_state=None if added else old['state'], phase=new_phase,
                      previous_phase=old['phase'], batch=new_batch)
    if added:
        event_data['added'] = True
    event_data.update(data or {})
    events.append(make_event(campaign_id, run_id, 'host', name, new_phase or new_state, new_result,
                             error_code=new_code, message=new_message, data=event_data, now=now))
    refresh_batches(status, stamp)
    status['campaign']['updated'] = stamp
    return events


def _same_plan(status, plan):
    """Whether ``plan`` (None: no new plan) is the one the status already follows."""
    if plan is None:
        return True
    batches, skipped = normalize_plan(plan)
    hosts = status['hosts']
    return ([(b['index'], b['hosts'], b['canary']) for b in batches]
            == [(b['index'], b['hosts'], b.get('canary', False)) for b in status['batches']]
            and all(entry['host'] in hosts for entry in skipped)
            and plan.get('fingerprint') == status['campaign'].get('plan_fingerprint'))


def _follow_plan(status, campaign_id, run_id, now, plan, resumed):
    """Lay the plan's batches and skipped hosts over the status (hosts keep their records); returns the events."""
    events = []
    batches, skipped = normalize_plan(plan)
    old_layout = [(b['index'], b['hosts']) for b in status['batches']]
    new_layout = [(b['index'], b['hosts']) for b in batches]
    in_plan = {h for b in batches for h in b['hosts']}
    hosts = status['hosts']
    for batch in batches:
        previous = next((b for b in status['batches'] if b['index'] == batch['index']
                         and b['hosts'] == batch['hosts']), None)
        batch['started'] = previous.get('started') if previous else None
        batch['finished'] = previous.get('finished') if previous else None
        for name in batch['hosts']:
            record = hosts.get(name)
            if record is None:
                hosts[name] = new_host(batch=batch['index'])
                continue
            if record['state'] == SKIPPED and record.get('phase') is None:
                # skipped by an earlier plan (never touched): this plan includes it again
                events += apply_host(status, name, now, run_id, state=PENDING, reset=True,
                                     message='included again by the plan', batch=batch['index'])
            record['batch'] = batch['index']
    for name, record in hosts.items():
        if name not in in_plan and record['batch'] is not None and old_layout != new_layout:
            record['batch'] = None
    for entry in skipped:
        record = hosts.get(entry['host'])
        if record is None or record['state'] == PENDING:
            if record is None:
                hosts[entry['host']] = new_host()
            events += apply_host(status, entry['host'], now, run_id, state=SKIPPED, result='skipped',
                                 message=entry['reason'], batch=None)
            hosts[entry['host']]['batch'] = None
    status['batches'] = batches
    status['campaign']['plan_fingerprint'] = plan.get('fingerprint')
    if resumed and old_layout and old_layout != new_layout:
        events.append(make_event(campaign_id, run_id, 'campaign', campaign_id, 'replan', 'changed',
                                 message='the campaign continues with a new plan',
                                 data=dict(previous_batches=[h for _i, h in old_layout],
                                           batches=[h for _i, h in new_layout]), now=now))
    return events


def apply_start(status, campaign_id, run_id, now, plan=None):
    """Create (status None) or resume a campaign. Returns (status, events)."""
    stamp = format_ts(now)
    events = []
    if status is None:
        status = new_status(campaign_id, run_id, now)
        resumed = False
        previous_state = None
    else:
        check_open(status, 'run again')
        campaign = status['campaign']
        resumed = True
        previous_state = campaign['state']
        if campaign['run'] == run_id and campaign['state'] == RUNNING and _same_plan(status, plan):
            return status, []
        if run_id not in campaign['runs']:
            campaign['runs'].append(run_id)
        campaign.update(run=run_id, state=RUNNING, finished=None, updated=stamp)
    if plan is not None:
        events += _follow_plan(status, campaign_id, run_id, now, plan, resumed)
    refresh_batches(status)
    status['campaign']['updated'] = stamp
    start_event = make_event(
        campaign_id, run_id, 'campaign', campaign_id, 'resume' if resumed else 'start', 'started',
        message='campaign %s %s (run %s)' % (campaign_id, 'resumed' if resumed else 'started', run_id),
        data=dict(previous_state=previous_state, batches=len(status['batches']), hosts=len(status['hosts']),
                  skip=hosts_to_skip(status), plan_fingerprint=status['campaign']['plan_fingerprint']), now=now)
    return status, [start_event] + events


def apply_batch(status, index, run_id, now, state=None, message=None, data=None):
    """Mark a batch started (running), finished (done/failed) or skipped (its pending hosts skipped)."""
    check_open(status, 'changed (batch %s)' % index)
    batch = next((b for b in status['batches'] if b['index'] == index), None)
    if batch is None:
        known = ', '.join(str(b['index']) for b in status['batches']) or 'none'
        raise StateError('batch %s is not in the campaign (batches: %s)' % (index, known), code=E_INVALID_INPUT)
    if state is not None and state not in BATCH_STATES:
        raise StateError('batch state %r is not one of %s' % (state, ', '.join(BATCH_STATES)), code=E_INVALID_INPUT)
    stamp = format_ts(now)
    events = []
    before = dict(batch)
    if state == RUNNING:
        batch['started'] = batch.get('started') or stamp
        batch['finished'] = None
    elif state in (DONE, FAILED):
        batch['started'] = batch.get('started') or stamp
        batch['finished'] = batch.get('finished') or stamp
    elif state == SKIPPED:
        for name in batch['hosts']:
            if status['hosts'][name]['state'] == PENDING:
                events += apply_host(status, name, now, run_id, state=SKIPPED, message=message or 'batch skipped')
        batch['finished'] = batch.get('finished') or stamp
    elif state == PENDING:
        batch['started'] = batch['finished'] = None
    refresh_batches(status)
    if batch == before and not events and not data and not message:
        return []
    result = {RUNNING: 'started', DONE: 'ok', FAILED: 'failed', SKIPPED: 'skipped'}.get(state, 'ok')
    event_data = dict(requested_state=state, state=batch['state'], hosts=list(batch['hosts']))
    event_data.update(data or {})
    events.insert(0, make_event(status['campaign']['id'], run_id, 'batch', index, 'batch', result,
                                message=message, data=event_data, now=now))
    status['campaign']['updated'] = stamp
    return events


def apply_finish(status, run_id, now, state=None, message=None, data=None):
    if state is not None and state not in (DONE, FAILED, INCOMPLETE, ROLLED_BACK):
        raise StateError('a campaign finishes done, failed or incomplete (or rolled_back: every host it upgraded was '
                         'rolled back), not %r' % (state,), code=E_INVALID_INPUT)
    campaign = status['campaign']
    if campaign['state'] in CLOSED_STATES:
        return []           # the close play of a run refused at its start, or a late record: it stays committed
    final = state or campaign_outcome(status)
    if campaign['state'] == final and campaign['finished'] and message in (None, campaign.get('message')):
        return []
    stamp = format_ts(now)
    campaign.update(state=final, finished=stamp, updated=stamp, message=truncate(message))
    event_data = dict(state=final, summary=summary(status, now=now))
    event_data.update(data or {})
    return [make_event(campaign['id'], run_id, 'campaign', campaign['id'], 'finish',
                       'ok' if final == DONE else 'failed',
                       message=message or 'campaign %s finished: %s' % (campaign['id'], final),
                       data=event_data, now=now)]
