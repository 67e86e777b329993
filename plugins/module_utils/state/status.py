# SPDX-License-Identifier: Apache-2.0
"""The status document (status.json) as pure functions on its dict: its structure, new records, the states of
batches and of the campaign derived from the hosts'."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    ACTIVE_STATES, BATCH_STATES, CAMPAIGN_STATES, DONE, FAILED, FAILURE_STATES, FINAL_STATES, HOST_STATES,
    INCOMPLETE, PENDING, RUNNING, SKIPPED, STATUS_FORMAT)
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts

_CAMPAIGN_KEYS = ('id', 'state', 'started', 'updated', 'finished', 'run', 'runs')
_HOST_KEYS = ('state', 'phase', 'batch', 'result', 'error_code', 'message', 'started', 'finished', 'updated',
              'run', 'history')


def status_structure_problem(status):
    """What is wrong with the structure of a loaded status dict (its format marker checked), or None."""
    campaign = status.get('campaign')
    if not isinstance(campaign, dict):
        return "'campaign' is %s, not an object" % type(campaign).__name__
    missing = [key for key in _CAMPAIGN_KEYS if key not in campaign]
    if missing:
        return "'campaign' lacks %s" % ', '.join(missing)
    if campaign['state'] not in CAMPAIGN_STATES:
        return "campaign state %r is not one of %s" % (campaign['state'], ', '.join(CAMPAIGN_STATES))
    if not isinstance(campaign['runs'], list):
        return "'campaign.runs' is not a list"
    hosts, batches = status.get('hosts'), status.get('batches')
    if not isinstance(hosts, dict):
        return "'hosts' is %s, not an object" % type(hosts).__name__
    if not isinstance(batches, list):
        return "'batches' is %s, not a list" % type(batches).__name__
    for name, record in hosts.items():
        if not isinstance(record, dict):
            return 'host %s is not an object' % name
        missing = [key for key in _HOST_KEYS if key not in record]
        if missing:
            return 'host %s lacks %s' % (name, ', '.join(missing))
        if record['state'] not in HOST_STATES:
            return 'host %s has state %r, not one of %s' % (name, record['state'], ', '.join(HOST_STATES))
        if not isinstance(record['history'], list):
            return 'the history of host %s is not a list' % name
    for position, batch in enumerate(batches):
        if not isinstance(batch, dict) or not isinstance(batch.get('hosts'), list) or 'index' not in batch \
                or batch.get('state') not in BATCH_STATES:
            return 'batch %d is not an object with index, hosts (a list) and a batch state' % (position + 1)
    return None


def new_status(campaign_id, run_id, now):
    stamp = format_ts(now)
    return {
        'format': STATUS_FORMAT,
        'campaign': {
            'id': campaign_id, 'state': RUNNING, 'started': stamp, 'updated': stamp, 'finished': None,
            'run': run_id, 'runs': [run_id], 'plan_fingerprint': None, 'message': None, 'alerts': 0,
        },
        'batches': [],
        'hosts': {},
    }


def new_host(batch=None):
    return {'state': PENDING, 'phase': None, 'batch': batch, 'result': None, 'error_code': None, 'message': None,
            'started': None, 'finished': None, 'updated': None, 'run': None, 'history': []}


def derive_batch_state(batch, hosts):
    """A batch's state from its hosts' states (and whether it was explicitly started)."""
    states = [hosts.get(name, {}).get('state', PENDING) for name in batch['hosts']]
    if states and all(s in FINAL_STATES for s in states):
        return SKIPPED if all(s == SKIPPED for s in states) else DONE
    if any(s in FAILURE_STATES for s in states) and not any(s in ACTIVE_STATES for s in states):
        return FAILED
    if any(s != PENDING for s in states) or (batch.get('started') and not batch.get('finished')):
        return RUNNING
    if not states and batch.get('finished'):
        return DONE
    return PENDING


def refresh_batches(status, stamp=None):
    """Derive every batch's state; with ``stamp``, also note when a batch started and finished."""
    for batch in status['batches']:
        batch['state'] = derive_batch_state(batch, status['hosts'])
        if stamp is None:
            continue
        if batch['state'] != PENDING and not batch.get('started') and batch['state'] != SKIPPED:
            batch['started'] = stamp
        if batch['state'] in (DONE, FAILED, SKIPPED) and not batch.get('finished'):
            batch['finished'] = stamp
        elif batch['state'] == RUNNING and batch.get('finished'):
            batch['finished'] = None


def campaign_outcome(status):
    """done, failed or incomplete, from the hosts."""
    states = [h['state'] for h in status['hosts'].values()]
    if any(s in FAILURE_STATES for s in states):
        return FAILED
    if all(s in FINAL_STATES for s in states):
        return DONE
    return INCOMPLETE
