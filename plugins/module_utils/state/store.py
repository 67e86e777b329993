# SPDX-License-Identifier: Apache-2.0
"""The store: one campaign's files (status.json, events.jsonl, plan.json) under its lock, and the campaigns of a
state directory. The pure logic is in ``machine``; this file reads, locks and writes."""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import json
import os
import time

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import PATTERN as CAMPAIGN_ID_PATTERN
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT
from ansible_collections.opnfv.escalator.plugins.module_utils.state.closing import apply_commit
from ansible_collections.opnfv.escalator.plugins.module_utils.state.events import encode_event, make_event, read_events
from ansible_collections.opnfv.escalator.plugins.module_utils.state.files import write_file_atomic
from ansible_collections.opnfv.escalator.plugins.module_utils.state.machine import apply_batch, apply_finish, apply_host, apply_start
from ansible_collections.opnfv.escalator.plugins.module_utils.state.paths import new_run_id, resolve_state_dir, validate_campaign_id, validate_run_id
from ansible_collections.opnfv.escalator.plugins.module_utils.state.status import status_structure_problem
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    EVENTS_FILE, FAILURE_STATES, LOCK_FILE, LOCK_TIMEOUT, PLAN_FILE, ROLLED_BACK, SEVERITIES, STATUS_FILE,
    STATUS_FORMAT, StateError)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.webhook import WEBHOOK_TIMEOUT, post_webhook
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts, utcnow


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

    def commit(self, message=None, data=None, run_id=None, check_mode=False):
        """Record the done campaign committed (its rollback window closed); refused unless it is done."""
        now = self._now()
        with self._guard(check_mode):
            status = self._load_for_update()
            run = self._current_run(status, run_id)
            events = apply_commit(status, run, now, message, data)
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
