# SPDX-License-Identifier: Apache-2.0
"""Typed progress events parsed from ansible-runner's event dicts.

ansible-runner hands every callback event of the playbook to the API as a dict
(``{"event": "runner_on_ok", "counter": 12, "created": "...", "event_data": {...}}``).
:class:`EventParser` turns them into the events below; an API caller's ``event_handler``
receives them one by one while the campaign runs:

``PlayStarted``   a play begins (``play``)
``TaskStarted``   a task begins (``task``, ``action``, ``role``, ``phase``)
``TaskResult``    a task's result on one host: ``result`` is ok, changed, failed, unreachable or
                  skipped, with the module's ``error_code`` and ``message`` on failure
``HostPhase``     the campaign state store recorded a host's progress: ``phase`` (maintenance,
                  evacuate, backup, upgrade, verify, notify_complete, rollback...), ``state``
                  (draining, upgrading, verifying, done, failed, rolled_back), ``result``
``CampaignStatus`` the campaign's whole status after a change (the ``status.json`` document)
``PlanReady``     the campaign plan: ``table``, ``fingerprint``, ``feasible``, ``plan``
``PlaybookStats`` the recap: per host ok/changed/failures/unreachable/skipped/rescued

Every event has ``kind``, ``timestamp`` (ISO-8601 UTC, from the runner event) and ``counter``
(the runner's event number) and ``to_dict()`` for JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, ClassVar

from escalator import locate

RESULTS = ('ok', 'changed', 'failed', 'unreachable', 'skipped')
MESSAGE_LIMIT = 2000

# A task's phase, when the task tells it: by its role, else by its module (see docs/api.md).
ROLE_PHASES = {'precheck': 'precheck', 'backup': 'backup', 'upgrade': 'upgrade', 'verify': 'verify',
               'rollback': 'rollback'}
MODULE_PHASES = {'compute_maintenance': 'maintenance', 'vnfm_notify': 'notify', 'compute_evacuate': 'evacuate',
                 'compute_precheck': 'precheck', 'campaign_plan': 'plan', 'campaign_lock': 'lock'}
STATE_MODULES = ('campaign_state', 'campaign_state_info')
# The phases the campaign_status callback records from task tags (no campaign_state result tells them): read from
# the campaign's events.jsonl (docs/status.md, Phases from tags).
ACTIVE_STATES = ('draining', 'upgrading', 'verifying')


def _short(name):
    """``opnfv.escalator.precheck`` -> ``precheck``."""
    return (name or '').rsplit('.', 1)[-1]


def _timestamp(event):
    created = event.get('created')
    if isinstance(created, str) and created:
        text = created if created.endswith('Z') or '+' in created[10:] else created + 'Z'
        return text.replace('+00:00', 'Z')
    return locate.collection_module('timestamps').format_ts()     # the collection's one formatter


def refine_error_code(error_code, message):
    """The error code of a failed authentication, which openstacksdk's Connection.authorize() hides.

    authorize() re-raises keystoneauth's ConnectFailure and Unauthorized as a bare SDKException, which
    the collection reports as E_API with the message prefix ``authenticating:``; tell them apart again.
    """
    if error_code != 'E_API' or not isinstance(message, str) or not message.startswith('authenticating:'):
        return error_code
    if any(text in message for text in ('Unable to establish connection', 'Connection refused', 'timed out',
                                         'Name or service not known', 'No route to host', 'Failed to resolve')):
        return 'E_CONNECT'
    if any(text in message for text in ('requires authentication', 'HTTP 401', 'Unauthorized',
                                        'could not be found' if 'HTTP 401' in message else '\0')):
        return 'E_AUTH'
    if 'HTTP 403' in message:
        return 'E_FORBIDDEN'
    return error_code


def _text(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ' '.join(str(v) for v in value)
    text = str(value).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + '...'


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = 'event'
    timestamp: str
    counter: int = 0

    def to_dict(self):
        data = dataclasses.asdict(self)
        return dict(kind=self.kind, **data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlayStarted(Event):
    kind: ClassVar[str] = 'play'
    play: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskStarted(Event):
    kind: ClassVar[str] = 'task_start'
    task: str
    action: str | None = None
    role: str | None = None
    phase: str | None = None
    play: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskResult(Event):
    kind: ClassVar[str] = 'task'
    host: str
    task: str
    result: str                       # ok, changed, failed, unreachable, skipped
    action: str | None = None
    role: str | None = None
    phase: str | None = None
    error_code: str | None = None
    message: str | None = None
    ignored: bool = False             # a failure the play ignores (ignore_errors)
    duration: float | None = None
    play: str | None = None

    @property
    def failed(self):
        return self.result in ('failed', 'unreachable') and not self.ignored


@dataclasses.dataclass(frozen=True, kw_only=True)
class HostPhase(Event):
    kind: ClassVar[str] = 'phase'
    host: str
    phase: str | None
    state: str
    result: str | None = None
    error_code: str | None = None
    message: str | None = None
    batch: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CampaignStatus(Event):
    kind: ClassVar[str] = 'status'
    campaign_id: str
    state: str
    status: dict[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlanReady(Event):
    kind: ClassVar[str] = 'plan'
    feasible: bool
    fingerprint: str | None
    table: str
    plan: dict[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlaybookStats(Event):
    kind: ClassVar[str] = 'stats'
    hosts: dict[str, dict[str, int]]


@dataclasses.dataclass(frozen=True)
class Failure:
    """One failed (or unreachable) task that the play did not ignore."""

    host: str
    task: str
    error_code: str | None
    message: str | None
    role: str | None = None
    phase: str | None = None
    soft: bool = False      # the error code was seen in a result the play tolerated (failed_when: false)

    def to_dict(self):
        return dataclasses.asdict(self)


class EventParser:
    """Stateful parser of one run's runner events: ``feed(event)`` returns the typed events it yields.

    It also keeps what the API reports at the end: ``failures`` (in order), ``error_codes``
    (every code seen in a failure, or a tolerated cloud/precheck error), ``plan``, ``status``
    (the last campaign status seen), ``stats`` and each host's current ``phases``.
    """

    def __init__(self):
        self.failures = []
        self.soft_errors = []
        self.plan = None
        self.status = None
        self.stats = None
        self.phases = {}
        self.state_paths = {}
        self._offsets = {}

    # -- helpers -----------------------------------------------------------------
    def _phase(self, host, role, action):
        role_phase = ROLE_PHASES.get(_short(role))
        if role_phase:
            return role_phase
        module_phase = MODULE_PHASES.get(_short(action))
        if module_phase:
            return module_phase
        return self.phases.get(host) if host else None

    def feed(self, event):
        """Parse one runner event dict; returns a (possibly empty) list of typed events."""
        if not isinstance(event, dict):
            return []
        name = event.get('event')
        data = event.get('event_data') or {}
        common = dict(timestamp=_timestamp(event), counter=int(event.get('counter') or 0))
        if name == 'playbook_on_play_start':
            return [PlayStarted(play=data.get('play') or data.get('name') or '', **common)]
        if name == 'playbook_on_task_start':
            role, action = data.get('role') or None, data.get('resolved_action') or data.get('task_action')
            return [TaskStarted(task=data.get('task') or data.get('name') or '', action=action, role=role,
                                phase=self._phase(None, role, action), play=data.get('play'), **common)]
        if name in ('runner_on_ok', 'runner_on_failed', 'runner_on_unreachable', 'runner_on_skipped'):
            return self._result(name, data, common) + self._callback_records(common)
        if name == 'runner_on_start':
            return self._callback_records(common)
        if name == 'playbook_on_stats':
            hosts = {}
            for key, label in (('ok', 'ok'), ('changed', 'changed'), ('failures', 'failures'),
                               ('dark', 'unreachable'), ('skipped', 'skipped'), ('rescued', 'rescued'),
                               ('ignored', 'ignored')):
                for host, count in (data.get(key) or {}).items():
                    hosts.setdefault(host, dict(ok=0, changed=0, failures=0, unreachable=0, skipped=0,
                                                rescued=0, ignored=0))[label] = int(count)
            self.stats = hosts
            return [PlaybookStats(hosts=hosts, **common)]
        return []

    def _result(self, name, data, common):
        host = data.get('host') or ''
        res = data.get('res') if isinstance(data.get('res'), dict) else {}
        action = data.get('resolved_action') or data.get('task_action') or ''
        role = data.get('role') or None
        task = data.get('task') or ''
        ignored = bool(data.get('ignore_errors'))
        if name == 'runner_on_ok':
            result = 'changed' if res.get('changed') else 'ok'
        else:
            result = {'runner_on_failed': 'failed', 'runner_on_unreachable': 'unreachable',
                      'runner_on_skipped': 'skipped'}[name]
        error_code = res.get('error_code') if isinstance(res.get('error_code'), str) else None
        if result == 'unreachable':
            error_code = error_code or 'E_UNREACHABLE'
        out = []
        if _short(action) in STATE_MODULES and result in ('ok', 'changed'):
            out.extend(self._state_record(res, common, host))
        if _short(action) == 'campaign_plan' and result in ('ok', 'changed') and isinstance(res.get('plan'), dict):
            self.plan = dict(feasible=bool(res.get('feasible', True)), fingerprint=res.get('fingerprint'),
                             table=res.get('table') or '', plan=res['plan'])
            out.append(PlanReady(**self.plan, **common))
        phase = self._phase(host, role, action)
        message = None
        if result in ('failed', 'unreachable'):
            message = _text(res.get('msg') or res.get('reason') or res.get('stderr') or result)
            error_code = refine_error_code(error_code, message)
            if _short(role) == 'precheck' and not error_code and not ignored:
                error_code = 'E_PRECHECK'
        elif result == 'skipped':
            message = _text(res.get('skip_reason'))
        elif error_code:
            # a result the play tolerated (failed_when: false) that still carries an error code,
            # e.g. the precheck's cloud check when the cloud cannot be reached
            message = _text(res.get('msg'))
            error_code = refine_error_code(error_code, message)
            self.soft_errors.append(Failure(host, task, error_code, message, role, phase, soft=True))
        event = TaskResult(host=host, task=task, result=result, action=action or None, role=role, phase=phase,
                           error_code=error_code, message=message, ignored=ignored,
                           duration=data.get('duration'), play=data.get('play'), **common)
        if event.failed:
            self.failures.append(Failure(host, task, error_code, message, role, phase))
        out.insert(0, event)
        return out

    def _state_record(self, res, common, event_host=None):
        out = []
        if isinstance(res.get('path'), str) and isinstance(res.get('campaign_id'), str):
            self.state_paths[res['campaign_id']] = res['path']
        record = res.get('host')
        invocation = res.get('invocation') if isinstance(res.get('invocation'), dict) else {}
        host = (invocation.get('module_args') or {}).get('host')
        if isinstance(record, dict) and record.get('state'):
            host = host or self._host_from_msg(res.get('msg')) or event_host
            if host:
                self.phases[host] = record.get('phase') or self.phases.get(host)
                out.append(HostPhase(host=host, phase=record.get('phase'), state=record['state'],
                                     result=record.get('result'), error_code=record.get('error_code'),
                                     message=_text(record.get('message')), batch=record.get('batch'), **common))
        status = res.get('status')
        if isinstance(status, dict) and isinstance(status.get('campaign'), dict):
            self.status = status
            out.append(CampaignStatus(campaign_id=status['campaign'].get('id') or '',
                                      state=status['campaign'].get('state') or '', status=status, **common))
        return out

    def _callback_records(self, common):
        """HostPhase (and then CampaignStatus) for the phase records the status callback wrote since the last
        look: it records a host entering maintenance, notify, evacuate, backup, upgrade or verify itself, in the
        campaign's events.jsonl, which runner's event stream never shows."""
        out = []
        for path in sorted(set(self.state_paths.values())):
            events_path = os.path.join(path, 'events.jsonl')
            try:
                with open(events_path, 'rb') as handle:
                    handle.seek(self._offsets.get(path, 0))
                    chunk = handle.read()
            except OSError:
                continue
            whole = chunk[:chunk.rfind(b'\n') + 1]
            self._offsets[path] = self._offsets.get(path, 0) + len(whole)
            for line in whole.splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                data = record.get('data') if isinstance(record, dict) else None
                if not isinstance(data, dict) or record.get('object_type') != 'host' or \
                        record.get('action') != data.get('phase') or data.get('state') not in ACTIVE_STATES:
                    continue
                host = record.get('object_id')
                self.phases[host] = data.get('phase')
                out.append(HostPhase(host=host, phase=data.get('phase'), state=data['state'],
                                     result=record.get('result'), error_code=record.get('error_code'),
                                     message=_text(record.get('message')), batch=data.get('batch'), **common))
            if out:
                try:
                    with open(os.path.join(path, 'status.json'), encoding='utf-8') as handle:
                        status = json.load(handle)
                except (OSError, ValueError):
                    continue
                if isinstance(status, dict) and isinstance(status.get('campaign'), dict):
                    self.status = status
                    out.append(CampaignStatus(campaign_id=status['campaign'].get('id') or '',
                                              state=status['campaign'].get('state') or '', status=status, **common))
        return out

    @staticmethod
    def _host_from_msg(msg):
        # campaign_state says "compute1: draining (evacuate)"
        if isinstance(msg, str) and ':' in msg:
            return msg.split(':', 1)[0].strip() or None
        return None

    # -- what the run amounts to ---------------------------------------------------------
    def error_codes(self):
        codes = [f.error_code for f in self.failures if f.error_code]
        codes += [f.error_code for f in self.soft_errors if f.error_code in ('E_CONNECT', 'E_AUTH', 'E_FORBIDDEN')]
        return codes

    def first_failure(self):
        """The failure that explains the run: the first one with an error code, else the first one."""
        for failure in self.failures:
            if failure.error_code:
                return failure
        return self.failures[0] if self.failures else None
