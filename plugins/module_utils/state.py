# SPDX-License-Identifier: Apache-2.0
"""The campaign state store: status table, event log, resume hints and alerts.

One directory per campaign, ``<state_dir>/<campaign_id>/``:

``events.jsonl``
    Append-only, one JSON object per line, fsync'd (see ``make_event`` for the
    fields).  Never rewritten; a line torn by a crash is skipped by readers.
``status.json``
    The current status (``escalator-status/1``): the campaign, its batches and
    its hosts.  Replaced atomically (temporary file, fsync, rename), so readers
    always see a whole document.
``plan.json``
    The plan the campaign was last started with, when one was given.
``.lock``
    ``fcntl.flock`` lock file: every change (status and events) happens under
    it, so several processes (forks of a playbook, the callback plugin, the CLI)
    can record at once without lost or torn records.

Plain Python (standard library only, no Ansible objects) so that modules, the
callback plugin and the CLI share it.  The formats are documented in
``docs/status.md``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import errno
import fcntl
import json
import os
import re
import secrets
import ssl
import tempfile
import time
import urllib.parse

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_id as campaign_ids
from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, E_PLAN, E_STATE, EscalatorError,
)


STATUS_FORMAT = 'escalator-status/1'
EVENTS_FILE = 'events.jsonl'
STATUS_FILE = 'status.json'
PLAN_FILE = 'plan.json'
LOCK_FILE = '.lock'
DEFAULT_STATE_DIR = '~/.escalator/campaigns'
STATE_DIR_ENV = 'ESCALATOR_STATE_DIR'

CAMPAIGN_ID_PATTERN = campaign_ids.PATTERN
RUN_ID_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$')

# Host states.
PENDING = 'pending'
DRAINING = 'draining'
UPGRADING = 'upgrading'
VERIFYING = 'verifying'
DONE = 'done'
FAILED = 'failed'
ROLLED_BACK = 'rolled_back'
SKIPPED = 'skipped'
HOST_STATES = (PENDING, DRAINING, UPGRADING, VERIFYING, DONE, FAILED, ROLLED_BACK, SKIPPED)
ACTIVE_STATES = frozenset((DRAINING, UPGRADING, VERIFYING))
FINAL_STATES = frozenset((DONE, SKIPPED))            # leaving them needs an explicit reset
FAILURE_STATES = frozenset((FAILED, ROLLED_BACK))

# Allowed host transitions (a state to itself is always allowed: a phase or message update).
TRANSITIONS = {
    PENDING: frozenset((DRAINING, UPGRADING, SKIPPED, FAILED)),
    DRAINING: frozenset((UPGRADING, VERIFYING, FAILED, ROLLED_BACK)),
    UPGRADING: frozenset((VERIFYING, FAILED, ROLLED_BACK)),
    VERIFYING: frozenset((DONE, FAILED, ROLLED_BACK)),
    FAILED: frozenset((ROLLED_BACK, PENDING, DRAINING, UPGRADING, VERIFYING)),
    ROLLED_BACK: frozenset((PENDING, DRAINING, FAILED)),
    DONE: frozenset(),
    SKIPPED: frozenset(),
}

# Phases: the step a host is at, in campaign order.
PHASES = ('precheck', 'maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify', 'enable',
          'notify_complete', 'rollback')
# The state of a host during each phase the campaign_status callback records when the host's first task of the
# phase starts (from the task's phase tag, docs/status.md). precheck, enable, notify_complete and rollback are not
# in it: a precheck changes no state, and the other phases end in a record with data of its own (done with the
# VNF managers' answer, failed or rolled_back with the error), which a campaign_state task writes.
PHASE_STATES = {'maintenance': DRAINING, 'notify': DRAINING, 'evacuate': DRAINING, 'backup': UPGRADING,
                'upgrade': UPGRADING, 'verify': VERIFYING}
# Phases after which the host itself has been changed (packages, services): before them, a failed
# host has nothing to roll back but its maintenance.
CHANGING_PHASES = frozenset(('upgrade', 'verify', 'enable', 'notify_complete', 'rollback'))

# Event fields.
OBJECT_TYPES = ('campaign', 'batch', 'host', 'instance', 'vnfm')
RESULTS = ('ok', 'changed', 'failed', 'skipped', 'started')
DEFAULT_RESULT = {PENDING: 'ok', DRAINING: 'started', UPGRADING: 'started', VERIFYING: 'started',
                  DONE: 'ok', FAILED: 'failed', ROLLED_BACK: 'failed', SKIPPED: 'skipped'}

# Campaign and batch states.
RUNNING = 'running'
INCOMPLETE = 'incomplete'
CAMPAIGN_STATES = (RUNNING, DONE, FAILED, INCOMPLETE)
BATCH_STATES = (PENDING, RUNNING, DONE, FAILED, SKIPPED)

SEVERITIES = ('critical', 'warning', 'info')
HISTORY_LIMIT = 200
MESSAGE_LIMIT = 2000
LOCK_TIMEOUT = 60.0
WEBHOOK_TIMEOUT = 10


class StateError(EscalatorError):
    """A change the state store refuses, or a state directory it cannot use."""

    def __init__(self, msg, code=E_STATE, **details):
        super().__init__(msg, code=code, **details)


# --------------------------------------------------------------------------
# time, ids, paths
# --------------------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def format_ts(moment):
    """ISO-8601 UTC with milliseconds: ``2026-01-01T10:00:00.123Z``."""
    moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (moment.microsecond // 1000)


def parse_ts(text):
    """A timestamp written by ``format_ts`` (or any ISO-8601 one) as an aware datetime, or None."""
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except (TypeError, ValueError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def new_run_id(now=None):
    """A run id: UTC start time and a random suffix, e.g. ``20260101T100000Z-3f9a1c``."""
    return '%s-%s' % ((now or utcnow()).strftime('%Y%m%dT%H%M%SZ'), secrets.token_hex(3))


def validate_campaign_id(campaign_id):
    if not campaign_ids.is_valid(campaign_id):
        raise StateError('%s (it names the campaign\'s state directory)' % campaign_ids.problem(campaign_id),
                         code=E_INVALID_INPUT, campaign_id=campaign_id)
    return campaign_id


def validate_run_id(run_id):
    if run_id is not None and (not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id)):
        raise StateError('run_id %r is not valid: use up to 128 letters, digits, ".", "_", ":", "+" or "-"'
                         % (run_id,), code=E_INVALID_INPUT, run_id=run_id)
    return run_id


def default_state_dir(environ=None):
    """``$ESCALATOR_STATE_DIR``, else ``~/.escalator/campaigns``."""
    environ = os.environ if environ is None else environ
    return os.path.abspath(os.path.expanduser(environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR))


def resolve_state_dir(state_dir=None, environ=None):
    if state_dir:
        return os.path.abspath(os.path.expanduser(os.path.expandvars(state_dir)))
    return default_state_dir(environ)


def list_campaigns(state_dir=None):
    """The campaigns under a state directory: [{id, state, started, updated, finished}], newest first."""
    root = resolve_state_dir(state_dir)
    found = []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    for name in names:
        if not CAMPAIGN_ID_PATTERN.match(name) or not os.path.isdir(os.path.join(root, name)):
            continue
        try:
            status = CampaignStore(name, root).read_status()
        except StateError:
            status = None
        campaign = (status or {}).get('campaign') or {}
        found.append(dict(id=name, state=campaign.get('state'), started=campaign.get('started'),
                          updated=campaign.get('updated'), finished=campaign.get('finished')))
    found.sort(key=lambda c: (c['updated'] or '', c['id']), reverse=True)
    return found


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------

def _truncate(text, limit=MESSAGE_LIMIT):
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def make_event(campaign_id, run_id, object_type, object_id, action, result, error_code=None, message=None,
               data=None, now=None):
    """One event, with the fields (and key order) of events.jsonl."""
    if object_type not in OBJECT_TYPES:
        raise StateError('object_type %r is not one of %s' % (object_type, ', '.join(OBJECT_TYPES)),
                         code=E_INVALID_INPUT)
    if result not in RESULTS:
        raise StateError('result %r is not one of %s' % (result, ', '.join(RESULTS)), code=E_INVALID_INPUT)
    if not action or not isinstance(action, str):
        raise StateError('an event needs an action (a short name such as "evacuate")', code=E_INVALID_INPUT)
    return {
        'ts': format_ts(now or utcnow()),
        'campaign': campaign_id,
        'run': run_id,
        'object_type': object_type,
        'object_id': None if object_id is None else str(object_id),
        'action': action,
        'result': result,
        'error_code': error_code or None,
        'message': _truncate(message),
        'data': dict(data or {}),
    }


def encode_event(event):
    """The events.jsonl line for an event (compact JSON, no newline inside, '\\n' at the end)."""
    return json.dumps(event, separators=(',', ':'), ensure_ascii=False, default=str) + '\n'


def iter_events(path, offset=0):
    """Yield ``(event, end_offset)`` for each whole line of an events file from ``offset``.

    A line that is not JSON (torn by a crash) is skipped; a last line without its
    newline is not returned yet (it may still be being written).  Pass the last
    ``end_offset`` back to follow the file.
    """
    try:
        handle = open(path, 'rb')
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        position = offset
        for raw in handle:
            if not raw.endswith(b'\n'):
                break
            position += len(raw)
            try:
                event = json.loads(raw.decode('utf-8'))
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event, position


def read_events(path, offset=0, object_id=None, limit=None):
    """The events of a file (optionally of one object, optionally only the last ``limit``)."""
    events = [event for event, _end in iter_events(path, offset)
              if object_id is None or event.get('object_id') == object_id]
    return events[-limit:] if limit else events


# --------------------------------------------------------------------------
# webhook
# --------------------------------------------------------------------------

def redact_url(url):
    """scheme://host[:port]/... : webhook paths and queries often carry a token."""
    return http_client.redact_url(url)


def post_webhook(url, payload, timeout=WEBHOOK_TIMEOUT, validate_certs=True, opener=None):
    """POST ``payload`` as JSON; return None on a 2xx answer, else a sentence saying what went wrong.

    Never raises. TLS certificates are verified unless ``validate_certs`` is false.
    """
    scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else ''
    if scheme not in ('http', 'https'):
        return 'webhook URL %s is not http(s)' % redact_url(str(url))
    body = json.dumps(payload, default=str).encode('utf-8')
    headers = {'Content-Type': 'application/json', 'User-Agent': 'escalator-campaign-state'}
    try:
        # the shared client follows no redirect (a 3xx is a failure naming the Location) and honours *_proxy
        context = http_client.ssl_context(validate_certs) if scheme == 'https' else None
        http_client.request(url, 'POST', body, headers, timeout, context, opener=opener, max_answer=65536)
    except http_client.HTTPClientError as exc:
        if exc.status is not None:
            return 'webhook %s answered %s' % (redact_url(url), exc.msg)
        return 'webhook %s failed: %s' % (redact_url(url), exc.msg)
    except (OSError, ValueError, ssl.SSLError) as exc:
        return 'webhook %s failed: %s' % (redact_url(url), exc)
    return None


# --------------------------------------------------------------------------
# plans
# --------------------------------------------------------------------------

def normalize_plan(plan):
    """Batches and plan-skipped hosts from a plan.

    Accepts the planner's format (``batches: [{batch, hosts, canary}]``,
    ``skipped: [{host, reason, detail}]``) or plain lists
    (``batches: [[host, ...], ...]``, ``skipped: [host, ...]``).
    Returns ``([{index, hosts, canary}], [{host, reason}])``.
    """
    if not isinstance(plan, dict):
        raise StateError('the plan must be a dictionary with "batches", got %s' % type(plan).__name__,
                         code=E_INVALID_INPUT)
    if plan.get('feasible') is False:
        reasons = '; '.join(str(r) for r in plan.get('reasons') or []) or 'no reason given'
        raise StateError('the plan is not feasible (%s): make a feasible plan before starting' % reasons,
                         code=E_PLAN)
    raw_batches = plan.get('batches')
    if raw_batches is None:
        raw_batches = []
    if not isinstance(raw_batches, list):
        raise StateError('plan "batches" must be a list', code=E_INVALID_INPUT)
    batches = []
    seen = {}
    for position, raw in enumerate(raw_batches, 1):
        if isinstance(raw, dict):
            hosts = raw.get('hosts')
            index = raw.get('batch', raw.get('index', position))
            canary = bool(raw.get('canary', False))
        else:
            hosts, index, canary = raw, position, False
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise StateError('plan batch %s: "hosts" must be a list of host names' % position, code=E_INVALID_INPUT)
        if isinstance(index, bool) or not isinstance(index, int):
            raise StateError('plan batch %s: the batch number must be an integer' % position, code=E_INVALID_INPUT)
        for host in hosts:
            if host in seen:
                raise StateError('host %s is in plan batches %s and %s' % (host, seen[host], index),
                                 code=E_INVALID_INPUT)
            seen[host] = index
        batches.append(dict(index=index, hosts=list(hosts), canary=canary))
    indexes = [b['index'] for b in batches]
    if len(set(indexes)) != len(indexes):
        raise StateError('plan batch numbers repeat: %s' % indexes, code=E_INVALID_INPUT)
    skipped = []
    for raw in plan.get('skipped') or []:
        if isinstance(raw, dict):
            host = raw.get('host')
            reason = '; '.join(str(p) for p in (raw.get('reason'), raw.get('detail')) if p)
        else:
            host, reason = raw, ''
        if not isinstance(host, str) or not host:
            raise StateError('plan "skipped" entries must name a host', code=E_INVALID_INPUT)
        if host in seen:
            raise StateError('host %s is both in plan batch %s and skipped' % (host, seen[host]),
                             code=E_INVALID_INPUT)
        skipped.append(dict(host=host, reason=reason or 'left out by the plan'))
    return batches, skipped


# --------------------------------------------------------------------------
# status: pure functions on the status dict
# --------------------------------------------------------------------------

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


def apply_host(status, name, now, run_id, state=None, phase=None, result=None, error_code=None, message=None,
               data=None, reset=False, batch=None):
    """Change one host's record in ``status`` (in place). Returns the events to append ([] when nothing changed).

    Raises StateError on a transition the state machine refuses.
    """
    if not isinstance(name, str) or not name:
        raise StateError('a host update needs the host name', code=E_INVALID_INPUT)
    if state is not None and state not in HOST_STATES:
        raise StateError('host state %r is not one of %s' % (state, ', '.join(HOST_STATES)), code=E_INVALID_INPUT)
    if phase is not None and phase not in PHASES:
        raise StateError('phase %r is not one of %s' % (phase, ', '.join(PHASES)), code=E_INVALID_INPUT)
    if result is not None and result not in RESULTS:
        raise StateError('result %r is not one of %s' % (result, ', '.join(RESULTS)), code=E_INVALID_INPUT)
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
    new_message = _truncate(message if message is not None else (record['message'] if inherit else None))
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


def apply_start(status, campaign_id, run_id, now, plan=None):
    """Create (status None) or resume a campaign. Returns (status, events)."""
    stamp = format_ts(now)
    events = []
    if status is None:
        status = new_status(campaign_id, run_id, now)
        resumed = False
        previous_state = None
    else:
        campaign = status['campaign']
        resumed = True
        previous_state = campaign['state']
        if campaign['run'] == run_id and campaign['state'] == RUNNING and _same_plan(status, plan):
            return status, []
        if run_id not in campaign['runs']:
            campaign['runs'].append(run_id)
        campaign.update(run=run_id, state=RUNNING, finished=None, updated=stamp)
    if plan is not None:
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


def campaign_outcome(status):
    """done, failed or incomplete, from the hosts."""
    states = [h['state'] for h in status['hosts'].values()]
    if any(s in FAILURE_STATES for s in states):
        return FAILED
    if all(s in FINAL_STATES for s in states):
        return DONE
    return INCOMPLETE


def apply_finish(status, run_id, now, state=None, message=None, data=None):
    if state is not None and state not in (DONE, FAILED, INCOMPLETE):
        raise StateError('a campaign finishes done, failed or incomplete, not %r' % (state,), code=E_INVALID_INPUT)
    campaign = status['campaign']
    final = state or campaign_outcome(status)
    if campaign['state'] == final and campaign['finished'] and message in (None, campaign.get('message')):
        return []
    stamp = format_ts(now)
    campaign.update(state=final, finished=stamp, updated=stamp, message=_truncate(message))
    event_data = dict(state=final, summary=summary(status, now=now))
    event_data.update(data or {})
    return [make_event(campaign['id'], run_id, 'campaign', campaign['id'], 'finish',
                       'ok' if final == DONE else 'failed',
                       message=message or 'campaign %s finished: %s' % (campaign['id'], final),
                       data=event_data, now=now)]


# --------------------------------------------------------------------------
# reading: summary, table, resume
# --------------------------------------------------------------------------

def _seconds(start, end):
    start, end = parse_ts(start), parse_ts(end)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


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
    return _seconds(record['started'], end)


def campaign_duration(status, now=None):
    campaign = status['campaign']
    end = campaign.get('finished')
    if not end:
        end = format_ts(now) if now is not None else campaign.get('updated')
    return _seconds(campaign.get('started'), end)


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


def _rows_table(header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        lines.append('  '.join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    return lines, widths


def render_table(status, now=None, message_width=60, campaign_id=None):
    """The status as fixed-width text: a header line, one row per host grouped by batch, a summary line.
    A campaign never started (``status`` None: refused by the lock, its plan or its precheck before its start)
    or without plan or hosts yet renders as such."""
    if not status:
        return 'Campaign %s: never started (no status recorded: it stopped before its start, e.g. refused by the ' \
            'campaign lock, its plan or its precheck)' % (campaign_id or '?')
    campaign = dict(dict(id=campaign_id or '?', state=None, run=None, runs=[], started=None, finished=None),
                    **{key: value for key, value in (status.get('campaign') or {}).items() if value is not None})
    status = dict(status, campaign=campaign, batches=status.get('batches') or [], hosts=status.get('hosts') or {})
    if now is None and campaign.get('state') == RUNNING:
        now = utcnow()
    hosts = status['hosts']
    header = ['BATCH', 'HOST', 'STATE', 'PHASE', 'RESULT', 'ERROR', 'DURATION', 'MESSAGE']
    rows = []

    def row(label, name):
        record = hosts.get(name) or new_host()
        active_now = now if record['state'] in ACTIVE_STATES else None
        message = (record.get('message') or '').replace('\n', ' ')
        if len(message) > message_width:
            message = message[:message_width - 3] + '...'
        rows.append([label, name, record['state'], record.get('phase') or '-', record.get('result') or '-',
                     record.get('error_code') or '-', format_duration(host_duration(record, active_now)), message])

    listed = set()
    for batch in status['batches']:
        label = '%s%s %s' % (batch['index'], '*' if batch.get('canary') else '', batch['state'])
        for position, name in enumerate(batch['hosts']):
            row(label if position == 0 else '', name)
            listed.add(name)
    for name in sorted(set(hosts) - listed):
        row('-', name)
    info = summary(status, now)
    title = 'Campaign %s: %s (run %s, %d run%s) started %s%s, duration %s' % (
        campaign['id'], campaign['state'], campaign['run'], info['runs'], '' if info['runs'] == 1 else 's',
        campaign['started'], (', finished %s' % campaign['finished']) if campaign.get('finished') else '',
        format_duration(info['duration_s']))
    skipped = sorted(name for name, record in hosts.items() if (record or {}).get('state') == SKIPPED)
    if campaign.get('state') == DONE and skipped:
        # "done" alone would hide that these hosts were never upgraded
        title += ' - %d host(s) skipped, left at their old version: %s' % (len(skipped), ', '.join(skipped))
    counts = ', '.join('%s %d' % (state, count) for state, count in info['states'].items() if count)
    footer = 'hosts: %d (%s); batches: %d/%d done%s%s' % (
        info['hosts'], counts or 'none', info['batches_done'], info['batches'],
        ('; failed: %s' % ', '.join(info['failed_hosts'])) if info['failed_hosts'] else '',
        ('; alerts: %d' % info['alerts']) if info['alerts'] else '')
    if campaign.get('message'):
        footer += '\n' + campaign['message']
    if not rows:
        return '\n'.join([title, '(no hosts)', footer])
    lines, widths = _rows_table(header, rows)
    rule = '  '.join('-' * w for w in widths)
    return '\n'.join([title, lines[0], rule] + lines[1:] + [footer])


def hosts_to_skip(status):
    """Hosts a resumed run must not touch: done or skipped."""
    return sorted(name for name, record in status['hosts'].items() if record['state'] in FINAL_STATES)


def host_resume_point(status, host, halfway='continue'):
    """Where a host stopped, and what a resumed run does with it.

    ``resume`` is one of:
      ``skip``      done or skipped: leave it alone;
      ``start``     not begun (pending, or unknown to the campaign): run every phase;
      ``continue``  caught half-way (draining, upgrading, verifying): run again from ``from_phase`` (every phase
                    is idempotent), or ``rollback`` instead when ``halfway='rollback'``;
      ``rollback``  failed after the host was disturbed, or a rollback was under way: roll it back from
                    ``from_phase`` (re-enable only what this campaign disabled);
      ``retry``     failed before anything was changed, or already rolled back: may be tried again from the
                    start by a new run (the failure policy decides whether it is).
    ``host_changed`` says whether the host reached a phase that changes the host itself (upgrade and later),
    so that a rollback has to restore its software, not only its maintenance.
    """
    if halfway not in ('continue', 'rollback'):
        raise StateError("halfway must be 'continue' or 'rollback'", code=E_INVALID_INPUT)
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
        elif halfway == 'rollback':
            point.update(resume='rollback', from_phase='rollback',
                         reason='caught half-way (%s at %s); rolling back as asked' % (state, start))
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


def resume_plan(status, halfway='continue'):
    """Every host's resume point, grouped: {skip: [...], start: [...], continue: {host: phase}, rollback: [...],
    retry: [...], hosts: {host: point}}."""
    grouped = {'skip': [], 'start': [], 'continue': {}, 'rollback': [], 'retry': [], 'hosts': {}}
    for name in sorted(status['hosts']):
        point = host_resume_point(status, name, halfway)
        grouped['hosts'][name] = point
        if point['resume'] == 'continue':
            grouped['continue'][name] = point['from_phase']
        else:
            grouped[point['resume']].append(name)
    return grouped


# --------------------------------------------------------------------------
# the store: files, locking, atomic writes
# --------------------------------------------------------------------------

def write_file_atomic(path, text, mode=0o640):
    """Replace ``path`` with ``text`` atomically: a private temporary file (mkstemp) in the same
    directory, fsync'd, renamed over ``path`` (a symlink at ``path`` is replaced, never followed),
    then the directory fsync'd. The directory must exist. OSError on failure (nothing left behind)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class CampaignStore:
    """The files of one campaign. Every method that changes something takes ``check_mode``:
    then it computes and returns what would be recorded, and writes nothing.

    Methods that record return ``dict(changed, status, events, alerts)``.
    """

    def __init__(self, campaign_id, state_dir=None, now=None, lock_timeout=LOCK_TIMEOUT, sleep=time.sleep,
                 clock=time.monotonic):
        self.campaign_id = validate_campaign_id(campaign_id)
        self.state_dir = resolve_state_dir(state_dir)
        self.path = os.path.join(self.state_dir, campaign_id)
        self.events_path = os.path.join(self.path, EVENTS_FILE)
        self.status_path = os.path.join(self.path, STATUS_FILE)
        self.plan_path = os.path.join(self.path, PLAN_FILE)
        self.lock_path = os.path.join(self.path, LOCK_FILE)
        self._now = now or utcnow
        self.lock_timeout = lock_timeout
        self._sleep = sleep
        self._clock = clock
        self._lock_fd = None
        self._lock_depth = 0

    # -- low level --------------------------------------------------------
    def _ensure_dir(self):
        try:
            os.makedirs(self.path, mode=0o750, exist_ok=True)
        except OSError as exc:
            raise StateError('cannot create the campaign state directory %s: %s' % (self.path, exc.strerror),
                             path=self.path) from exc

    @contextlib.contextmanager
    def locked(self):
        """Hold the campaign's lock (exclusive ``flock``); re-entrant within this object."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self._ensure_dir()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o640)
        deadline = self._clock() + self.lock_timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if self._clock() >= deadline:
                        raise StateError('the state of campaign %s is locked by another process for more than %ss '
                                         '(%s); is a process stuck?' % (self.campaign_id, self.lock_timeout,
                                                                        self.lock_path)) from exc
                    self._sleep(0.01)
            self._lock_fd = fd
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                self._lock_fd = None
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def exists(self):
        return os.path.exists(self.status_path)

    def read_status(self):
        """The status dict, or None when the campaign was never started."""
        try:
            with open(self.status_path, 'r', encoding='utf-8') as handle:
                status = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError('cannot read %s: %s; the event log %s is intact and tells what happened'
                             % (self.status_path, exc, self.events_path), path=self.status_path) from exc
        if not isinstance(status, dict) or status.get('format') != STATUS_FORMAT:
            raise StateError('%s is not an Escalator status file (format %r, expected %r)'
                             % (self.status_path, status.get('format') if isinstance(status, dict) else None,
                                STATUS_FORMAT), path=self.status_path)
        problem = status_structure_problem(status)
        if problem:
            raise StateError('%s has the structure of no %s status file: %s; the event log %s is intact and tells '
                             'what happened' % (self.status_path, STATUS_FORMAT, problem, self.events_path),
                             path=self.status_path)
        return status

    def read_plan(self):
        try:
            with open(self.plan_path, 'r', encoding='utf-8') as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError('cannot read %s: %s' % (self.plan_path, exc), path=self.plan_path) from exc

    def read_events(self, offset=0, object_id=None, limit=None):
        return read_events(self.events_path, offset, object_id, limit)

    def _write_json(self, path, document):
        self._ensure_dir()
        write_file_atomic(path, json.dumps(document, indent=2, sort_keys=False, default=str) + '\n')

    def _append(self, events):
        """Append events (under the lock), one write per call, fsync'd."""
        if not events:
            return
        payload = ''.join(encode_event(event) for event in events).encode('utf-8')
        with self.locked():
            fd = os.open(self.events_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b'\n':
                    payload = b'\n' + payload       # terminate a line torn by a crash
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)

    def _commit(self, status, events, check_mode):
        if check_mode:
            return
        with self.locked():
            self._append(events)
            if status is not None:
                self._write_json(self.status_path, status)

    def _load_for_update(self):
        status = self.read_status()
        if status is None:
            raise StateError('campaign %s has not been started (no %s): record action=start first'
                             % (self.campaign_id, self.status_path), campaign_id=self.campaign_id)
        return status

    # -- recording --------------------------------------------------------
    def _current_run(self, status, run_id):
        return validate_run_id(run_id) or status['campaign']['run']

    def _guard(self, check_mode):
        """The lock, except in check mode (which must not even create the lock file)."""
        return contextlib.nullcontext() if check_mode else self.locked()

    def start(self, run_id=None, plan=None, check_mode=False):
        """Create the campaign, or resume it with a new run (and optionally a new plan).

        Without ``run_id`` every call starts a new run. With the ``run_id`` of the running
        run and the same plan, nothing changes.
        """
        validate_run_id(run_id)
        now = self._now()
        run_id = run_id or new_run_id(now)
        with self._guard(check_mode):
            status = self.read_status()
            new, events = apply_start(copy.deepcopy(status), self.campaign_id, run_id, now, plan)
            changed = bool(events)
            if changed and not check_mode:
                if plan is not None:
                    self._write_json(self.plan_path, plan)
                self._commit(new, events, check_mode)
        return dict(changed=changed, status=new, events=events, run_id=run_id, alerts=[])

    def update_host(self, host, state=None, phase=None, result=None, error_code=None, message=None, data=None,
                    reset=False, run_id=None, check_mode=False, webhook=None):
        """Change a host's state/phase/result; a host entering failed or rolled_back raises an alert."""
        now = self._now()
        with self._guard(check_mode):
            status = self._load_for_update()
            before = copy.deepcopy(status['hosts'].get(host))
            run = self._current_run(status, run_id)
            events = apply_host(status, host, now, run, state, phase, result, error_code, message, data, reset)
            alerts = []
            after = status['hosts'].get(host)
            if events and after['state'] in FAILURE_STATES and (before is None or before['state'] != after['state']):
                kind = 'rollback' if after['state'] == ROLLED_BACK else 'host_failed'
                text = 'host %s %s%s: %s' % (
                    host, 'rolled back' if kind == 'rollback' else 'failed',
                    (' at %s' % after['phase']) if after['phase'] and kind != 'rollback' else '',
                    after['message'] or after['error_code'] or 'no message')
                alerts.append(self._alert_event(status, run, kind, text, 'host', host, after['error_code'],
                                                dict(state=after['state'], phase=after['phase'],
                                                     batch=after['batch']), 'critical', now))
            self._commit(status if events else None, events + alerts, check_mode)
        sent = self._deliver(alerts, webhook, check_mode)
        return dict(changed=bool(events), status=status, events=events + alerts + sent, run_id=run, alerts=alerts,
                    before=before, after=status['hosts'].get(host))

    def update_batch(self, index, state=None, message=None, data=None, run_id=None, check_mode=False):
        now = self._now()
        with self._guard(check_mode):
            status = self._load_for_update()
            run = self._current_run(status, run_id)
            events = apply_batch(status, index, run, now, state, message, data)
            self._commit(status if events else None, events, check_mode)
        return dict(changed=bool(events), status=status, events=events, run_id=run, alerts=[])

    def finish(self, state=None, message=None, data=None, run_id=None, check_mode=False):
        now = self._now()
        with self._guard(check_mode):
            status = self._load_for_update()
            run = self._current_run(status, run_id)
            events = apply_finish(status, run, now, state, message, data)
            self._commit(status if events else None, events, check_mode)
        return dict(changed=bool(events), status=status, events=events, run_id=run, alerts=[])

    def record_event(self, object_type, object_id, action, result='ok', error_code=None, message=None, data=None,
                     run_id=None, check_mode=False):
        """Append a free event (the status is not changed)."""
        now = self._now()
        with self._guard(check_mode):
            status = self.read_status()
            run = validate_run_id(run_id) or (status['campaign']['run'] if status else None)
            if object_id is None and object_type == 'campaign':
                object_id = self.campaign_id
            event = make_event(self.campaign_id, run, object_type, object_id, action, result, error_code,
                               message, data, now)
            self._commit(None, [event], check_mode)
        return dict(changed=True, status=status, events=[event], run_id=run, alerts=[])

    def _alert_event(self, status, run, kind, message, object_type, object_id, error_code, data, severity, now):
        if severity not in SEVERITIES:
            raise StateError('severity %r is not one of %s' % (severity, ', '.join(SEVERITIES)), code=E_INVALID_INPUT)
        event_data = dict(kind=kind, severity=severity)
        event_data.update(data or {})
        if status is not None:
            status['campaign']['alerts'] = status['campaign'].get('alerts', 0) + 1
        return make_event(self.campaign_id, run, object_type, object_id, 'alert', 'failed', error_code, message,
                          event_data, now)

    def alert(self, kind, message, object_type='campaign', object_id=None, error_code=None, data=None,
              severity='warning', run_id=None, check_mode=False, webhook=None):
        """Append an ``alert`` event and POST it to the webhook, if one is configured.

        A webhook failure is recorded as a ``webhook`` event with result failed; it is never raised.
        """
        now = self._now()
        with self._guard(check_mode):
            status = self.read_status()
            run = validate_run_id(run_id) or (status['campaign']['run'] if status else None)
            event = self._alert_event(status, run, kind, message, object_type,
                                      self.campaign_id if object_id is None and object_type == 'campaign'
                                      else object_id, error_code, data, severity, now)
            if status is not None:
                status['campaign']['updated'] = format_ts(now)
            self._commit(status, [event], check_mode)
        sent = self._deliver([event], webhook, check_mode)
        return dict(changed=True, status=status, events=[event] + sent, run_id=run, alerts=[event])

    def _deliver(self, alerts, webhook, check_mode):
        """POST each alert to the webhook; returns the ``webhook`` events recorded for failures."""
        if not alerts or not webhook or not webhook.get('url') or check_mode:
            return []
        failures = []
        for event in alerts:
            error = post_webhook(webhook['url'], event, timeout=webhook.get('timeout') or WEBHOOK_TIMEOUT,
                                 validate_certs=webhook.get('validate_certs', True), opener=webhook.get('opener'))
            if error:
                failures.append(make_event(self.campaign_id, event['run'], event['object_type'], event['object_id'],
                                           'webhook', 'failed', None, error,
                                           dict(alert_ts=event['ts'], kind=event['data'].get('kind')), self._now()))
        self._commit(None, failures, check_mode)
        return failures
