# SPDX-License-Identifier: Apache-2.0
"""One notification session: ``notify()`` checks every option, announces a state to the VNFMs of the
affected projects, waits for their replies before maintenance (listener or poll) and decides, per
project, what happens to its instances (the ``decisions`` compute_evacuate takes)."""

from __future__ import annotations

import secrets
import time
import uuid
from urllib import parse as urlparse

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, E_VNFM, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.host_info import find_compute_service
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.delivery import (
    SendError, auth_headers, http_request, send_all, tls_context,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.listener import CallbackListener
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.lookup import (
    list_instances, project_instances, resolve_endpoints,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.options import (
    DEFAULT_ENDPOINT, validate_entries, validate_params,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.payloads import (
    delivery_body, host_payload, project_payload,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import (
    ACKED, ACTION_TO_DECISION, ACTIONS, EVENT_HOST, EVENT_PROJECT, FAIL, IN_MAINTENANCE, MAINTENANCE_COMPLETE,
    NACKED, NO_VNFM, NOT_SENT, NOTIFIED, PENDING, STATES, TIMED_OUT, UNREACHABLE, fenix_time, mask_tokens,
    reply_url,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.replies import (
    Expectation, ReplyBook, ReplyError, parse_json_body,
)


class Notifier:
    """Sends one session's notifications, collects the replies and decides (see ``notify``)."""

    def __init__(self, conn, params, clock=time.monotonic, sleep=None, wall_clock=time.time, check_mode=False,
                 warn=None):
        self.conn = conn
        self.warn = warn
        self.params = params
        self.clock = clock
        self.wall_clock = wall_clock
        self.check_mode = check_mode
        self.session_id = params['session_id']
        self.book = ReplyBook(self.session_id, clock=clock)
        # Waiting for replies wakes on each one (the book's condition); the back-off between send
        # attempts must not, so by default it is a plain sleep. An injected sleep serves both.
        self.sleep = sleep or self.book.wait_for_change
        self.pause = sleep or time.sleep
        self.listener = None
        self.warnings = []
        self.notifications = []
        self.admin_notifications = []
        self.projects = {}
        self.names = {}
        self.notified_at = {}
        self.deadlines = {}

    def param(self, entry, name):
        """An endpoint's own setting, else the session's."""
        value = entry.get(name) if entry else None
        return value if value is not None else self.params.get(name)

    # -- one run -------------------------------------------------------------
    def run(self):
        started = self.clock()
        state_name = STATES[self.params['state']]
        allowed = self._check(state_name)
        if state_name == IN_MAINTENANCE:
            self._admin(state_name)
            return self._result(state_name, {}, started)
        by_project = {}
        for instance in self._instances(state_name):
            by_project.setdefault(instance['project_id'], []).append(instance)
        endpoints, warnings = resolve_endpoints(self.conn, self.params.get('vnfm') or [], set(by_project))
        self.warnings.extend(warnings)
        if state_name == MAINTENANCE_COMPLETE:
            targets = self._complete_targets(endpoints, by_project)
            allowed = []            # the host is back: there is no action to choose
        else:
            targets = self._planned_targets(endpoints, by_project, state_name, started)
        wait = state_name != MAINTENANCE_COMPLETE or bool(self.params.get('wait_complete'))
        if self.check_mode:
            return self._dry_run(targets, endpoints, by_project, state_name, allowed, wait, started)
        self._announce(targets, endpoints, by_project, state_name, allowed, wait)
        return self._decide(targets, endpoints, state_name, started)

    def _check(self, state_name):
        """Every option, checked before the cloud is asked anything and before anything is sent; returns
        the allowed actions."""
        params = self.params
        validate_params(params)
        validate_entries(params.get('vnfm') or [], params.get('admin_endpoints') or [])
        allowed = list(params.get('allowed_actions') or ACTIONS)
        for action in allowed:
            if action not in ACTIONS:
                raise EscalatorError('allowed_actions: unknown action %r (one of %s)' % (action, ', '.join(ACTIONS)),
                                     code=E_INVALID_INPUT, option='allowed_actions')
        if params.get('host'):
            find_compute_service(self.conn, params['host'])     # E_HOST_NOT_FOUND naming the known hosts
        if state_name == IN_MAINTENANCE and not params.get('host'):
            raise EscalatorError('state in_maintenance announces a host: give host', code=E_INVALID_INPUT,
                                 option='host')
        return allowed

    def _complete_targets(self, endpoints, by_project):
        """MAINTENANCE_COMPLETE: the projects named (or every one with a VNFM or an instance) that have a
        VNFM; the others are recorded as no_vnfm. Fills in the instances of projects not on the host."""
        wanted = self.params.get('projects')
        if wanted:
            wanted_ids = set()
            for name in wanted:
                match = [pid for pid, entry in endpoints.items() if name in (pid, entry['project'])]
                wanted_ids.update(match or [name])
        else:
            wanted_ids = set(endpoints) | set(by_project)
        targets = sorted(pid for pid in wanted_ids if pid in endpoints)
        for pid in targets:
            if pid not in by_project:
                by_project[pid] = project_instances(self.conn, pid) if not self.params.get('instances') else []
        for pid in sorted(wanted_ids - set(endpoints)):
            self.projects[pid] = self._project_record(pid, None, by_project.get(pid, []), NO_VNFM)
        return targets

    def _planned_targets(self, endpoints, by_project, state_name, started):
        """Before maintenance: the projects with a VNFM; the others get unmanaged_action, and when that is
        fail nothing is sent at all (nobody is told about a maintenance that cannot happen)."""
        targets = sorted(pid for pid in by_project if pid in endpoints)
        for pid in sorted(set(by_project) - set(endpoints)):
            self._unmanaged(pid, by_project[pid])
        refused = sorted(pid for pid, record in self.projects.items() if record['policy'] == FAIL)
        if refused:
            result = self._result(state_name, {}, started)
            raise EscalatorError('VNFM: no VNFM is configured for project(s) %s and unmanaged_action is fail; '
                                 'configure their VNFM in vnfm or choose live/cold' % ', '.join(refused),
                                 code=E_VNFM, **{k: v for k, v in result.items() if k != 'changed'})
        return targets

    def _prepare(self, targets, endpoints, by_project, state_name, allowed, wait):
        jobs = []
        for pid in targets:
            jobs.extend(self._prepare_project(pid, endpoints[pid], by_project.get(pid, []), state_name, allowed,
                                              self._base_url(endpoints[pid], wait), wait))
        return jobs

    def _dry_run(self, targets, endpoints, by_project, state_name, allowed, wait, started):
        """Check mode: the notifications are built and shown, nothing is sent and nobody listens."""
        jobs = self._prepare(targets, endpoints, by_project, state_name, allowed, wait)
        for pid in targets:
            self.projects[pid]['outcome'] = NOT_SENT
        result = self._result(state_name, {}, started)
        result['changed'] = bool(jobs)
        return result

    def _announce(self, targets, endpoints, by_project, state_name, allowed, wait):
        """Send the notifications and, when replies are awaited, wait for them; the listener lives only
        meanwhile."""
        try:
            if wait and any(endpoints[pid]['reply_mode'] == 'listener' for pid in targets):
                params = self.params
                self.listener = CallbackListener(
                    self.book, params.get('listen_address') or '0.0.0.0', params.get('listen_port') or 0,
                    params.get('reply_base_url'), params.get('listen_tls_cert'), params.get('listen_tls_key')).start()
            self._send_all(self._prepare(targets, endpoints, by_project, state_name, allowed, wait))
            for pid in targets:
                record = self.projects[pid]
                sent = [n for n in self.notifications if n['project_id'] == pid]
                if not all(n['sent'] for n in sent):
                    record['outcome'] = UNREACHABLE
                    record['error'] = '; '.join(sorted({n['error'] for n in sent if n['error']}))
                elif not wait:
                    record['outcome'] = NOTIFIED
            if wait:
                self._wait([pid for pid in targets if self.projects[pid]['outcome'] == PENDING], endpoints)
        finally:
            if self.listener is not None:
                self.listener.stop()

    def _decide(self, targets, endpoints, state_name, started):
        """Each project's outcome through its policy: the decisions, or E_VNFM naming the projects at fault."""
        decisions = {}
        failures = []
        for pid in targets:
            self._settle(pid, endpoints[pid], state_name, decisions, failures)
        for pid, record in self.projects.items():
            if pid not in targets and record.get('decisions'):
                decisions.update(record['decisions'])
        if state_name == MAINTENANCE_COMPLETE and self.params.get('host'):
            self._admin(state_name)
        result = self._result(state_name, decisions if state_name != MAINTENANCE_COMPLETE else {}, started)
        if failures:
            if state_name == MAINTENANCE_COMPLETE:
                consequence = ('the host is back in service, but these VNFMs did not take note of it; check them '
                               '(or set the per-project policy to proceed to accept that)')
            else:
                consequence = 'the host must not be taken down (set the per-project policy to proceed to override)'
            raise EscalatorError('VNFM: %s; %s' % ('; '.join(failures), consequence), code=E_VNFM,
                                 **{k: v for k, v in result.items() if k != 'changed'})
        return result

    def _send_all(self, jobs):
        send_all(jobs, max(0, int(self.params.get('send_retries') or 0)), self.params.get('send_timeout') or 10,
                 self.pause)

    # -- notifications -------------------------------------------------------
    def _base_url(self, endpoint, wait):
        """Where this VNFM is told to reply: the listener as it reaches it; None when nobody listens (a
        MAINTENANCE_COMPLETE that is only sent must not advertise a URL that leads nowhere)."""
        if self.listener is not None:
            return self.listener.url_for(endpoint['url'])
        if wait and self.check_mode:
            return (self.params.get('reply_base_url') or 'https://escalator.invalid').rstrip('/')
        return None

    def _label(self, pid):
        name = self.names.get(pid) or (self.projects.get(pid) or {}).get('project')
        return '%s (%s)' % (name, pid) if name and name != pid else pid

    def _instances(self, state_name):
        params = self.params
        host, ids = params.get('host'), params.get('instances')
        if state_name == MAINTENANCE_COMPLETE:
            return list_instances(self.conn, instance_ids=ids) if ids else []
        if not host and not ids:
            raise EscalatorError('give host or instances: the instances to announce', code=E_INVALID_INPUT)
        return list_instances(self.conn, host=host if not ids else None, instance_ids=ids)

    def _project_record(self, pid, endpoint, instances, outcome=PENDING, name=None):
        if endpoint and endpoint.get('project_name'):
            self.names[pid] = endpoint['project_name']
        record = dict(project=(endpoint or {}).get('project', name or pid), outcome=outcome, policy=None,
                      vnfm=http_client.public_url(endpoint['url']) if endpoint else None,
                      delivery=endpoint['delivery'] if endpoint else None,
                      granularity=endpoint['granularity'] if endpoint else None,
                      instances=[i['id'] for i in instances], reply=None, replies={}, seconds=None,
                      decisions={}, defaulted=[], error=None)
        self.projects[pid] = record
        return record

    def _unmanaged(self, pid, instances):
        action = self.params.get('unmanaged_action') or 'live'
        record = self._project_record(pid, None, instances, NO_VNFM)
        if action == FAIL:
            record['policy'] = FAIL
            record['error'] = 'no VNFM configured for this project and unmanaged_action is fail'
        else:
            record['policy'] = 'default'
            record['decisions'] = {i['id']: action for i in instances}

    def _prepare_project(self, pid, endpoint, instances, state_name, allowed, base, wait=True):
        self._project_record(pid, endpoint, instances)
        ids = [i['id'] for i in instances]
        token = secrets.token_urlsafe(24)
        self.book.expect(Expectation(pid, state_name, ids, allowed, token, endpoint['granularity']))
        timeout = self.param(endpoint, 'reply_timeout')
        now = self.wall_clock()
        reply_at = fenix_time(now + timeout)
        metadata = dict(self.params.get('metadata') or {})
        if self.params.get('host'):
            metadata.setdefault('escalator_host', self.params['host'])
        project_url = reply_url(base, self.session_id, pid, token) if base else None
        if endpoint['reply_mode'] == 'poll':
            project_url = self._poll_url(endpoint, pid, state_name)
        # the instance list URL is served by the listener, which lives only while the module waits
        listing = project_url if endpoint['instance_ids_format'] == 'url' and wait else ids
        units = [(None, listing, project_url)]
        if endpoint['granularity'] == 'instance' and ids:
            units = [(iid, [iid], reply_url(base, self.session_id, pid, token, iid)
                      if endpoint['reply_mode'] == 'listener' and base else project_url) for iid in ids]
        jobs = []
        for iid, listing, url in units:
            payload = project_payload(self.params.get('service_name') or 'escalator', pid, self.session_id,
                                      state_name, listing, allowed, url, reply_at, reply_at, metadata)
            body = delivery_body(endpoint['delivery'], EVENT_PROJECT, payload, str(uuid.uuid4()), now,
                                 alarm_name='escalator-maintenance-%s' % pid)
            notification = dict(project_id=pid, instance_id=iid, event_type=EVENT_PROJECT, state=state_name,
                                delivery=endpoint['delivery'], url=http_client.public_url(endpoint['url']),
                                body=mask_tokens(body), sent=False, status_code=None, error=None, attempts=0,
                                sent_at=None)
            self.notifications.append(notification)
            jobs.append((endpoint, body, notification))
        self.notified_at[pid] = self.clock()
        self.deadlines[pid] = self.notified_at[pid] + timeout
        return jobs

    def _poll_url(self, endpoint, pid, state_name):
        return endpoint['poll_url'].format(session_id=urlparse.quote(self.session_id, safe=''),
                                           project_id=urlparse.quote(pid, safe=''), state=state_name)

    def _admin(self, state_name):
        host = self.params['host']
        admin_project = getattr(self.conn, 'current_project_id', None)
        payload = host_payload(self.params.get('service_name') or 'escalator', admin_project, host, state_name,
                               self.session_id)
        jobs = []
        for entry in self.params.get('admin_endpoints') or []:
            endpoint = dict(DEFAULT_ENDPOINT)
            endpoint.update({key: value for key, value in entry.items() if value is not None})
            body = delivery_body(endpoint['delivery'], EVENT_HOST, payload, str(uuid.uuid4()), self.wall_clock(),
                                 alarm_name='escalator-maintenance-host')
            record = dict(event_type=EVENT_HOST, state=state_name, host=host, delivery=endpoint['delivery'],
                          url=http_client.public_url(endpoint['url']), body=body, sent=False, status_code=None, error=None,
                          attempts=0)
            self.admin_notifications.append(record)
            jobs.append((endpoint, body, record))
        if not self.check_mode:
            self._send_all(jobs)
            for record in self.admin_notifications:
                if not record['sent']:
                    self.warnings.append('admin notification %s %s to %s failed: %s'
                                         % (EVENT_HOST, state_name, record['url'], record['error']))

    # -- waiting -------------------------------------------------------------
    def _wait(self, pending, endpoints):
        interval = float(self.params.get('poll_interval') or 2)
        next_poll = {pid: self.clock() for pid in pending if endpoints[pid]['reply_mode'] == 'poll'}
        while True:
            now = self.clock()
            still = []
            for pid in pending:
                if self.book.status(pid) == PENDING and now < self.deadlines[pid]:
                    still.append(pid)
            if not still:
                return
            for pid in still:
                if pid in next_poll and now >= next_poll[pid]:
                    self._poll(pid, endpoints[pid])
                    next_poll[pid] = self.clock() + interval
            remaining = min(self.deadlines[pid] for pid in still) - self.clock()
            if next_poll:
                remaining = min([remaining] + [next_poll[pid] - self.clock() for pid in still if pid in next_poll])
            self.sleep(max(0.0, min(remaining, 0.5)))

    def _poll(self, pid, endpoint):
        url = self._poll_url(endpoint, pid, self.book.expectations[pid].state)
        context = tls_context(endpoint, url)
        record = self.projects[pid]
        try:
            status, text = http_request(url, 'GET', None, auth_headers(endpoint),
                                        self.params.get('send_timeout') or 10, context)
        except SendError as exc:
            if exc.status in (404,):
                return
            record['error'] = 'polling %s: %s' % (http_client.public_url(url), exc.msg)
            return
        if status in (202, 204) or not text.strip():
            return
        try:
            data = parse_json_body(text)
            with self.book.lock:
                self.book.expectations[pid].accept(data, self.session_id, None, self.clock())
            record['error'] = None
        except ReplyError as exc:
            record['error'] = 'polled reply refused (%s): %s' % (exc.status, exc.reason)
            self.book.reject(client='poll', method='GET', path=urlparse.urlsplit(url).path, status=exc.status,
                             reason=exc.reason)

    # -- deciding ------------------------------------------------------------
    def _settle(self, pid, endpoint, state_name, decisions, failures):
        record = self.projects[pid]
        expectation = self.book.expectations.get(pid)
        if record['outcome'] == PENDING:
            status = expectation.status()
            record['outcome'] = {PENDING: TIMED_OUT}.get(status, status)
        if expectation is not None:
            record['replies'] = {
                str(key) if key else 'project': dict(state=reply['state'], ack=reply['ack'],
                                                     instance_actions=reply['instance_actions'])
                for key, reply in expectation.replies.items()}
            record['reply'] = record['replies'].get('project')
            if expectation.last_reply_at is not None and pid in self.notified_at:
                record['seconds'] = round(expectation.last_reply_at - self.notified_at[pid], 3)
        outcome = record['outcome']
        if state_name == MAINTENANCE_COMPLETE:
            record['policy'] = 'accepted' if outcome in (ACKED, NOTIFIED) else self._policy(endpoint, outcome)
            if record['policy'] == FAIL:
                failures.append('project %s: %s' % (self._label(pid), self._describe(outcome, record, endpoint)))
            return
        default = self.param(endpoint, 'default_action')
        replied = expectation.actions() if expectation is not None else {}
        if outcome == ACKED:
            record['policy'] = 'accepted'
        else:
            record['policy'] = self._policy(endpoint, outcome)
            if record['policy'] == FAIL:
                failures.append('project %s: %s' % (self._label(pid), self._describe(outcome, record, endpoint)))
        if outcome != ACKED and record['policy'] == FAIL:
            return
        if outcome == NACKED:
            replied = {}
        for iid in record['instances']:
            action = replied.get(iid)
            if action is None:
                record['defaulted'].append(iid)
                record['decisions'][iid] = default
            else:
                record['decisions'][iid] = ACTION_TO_DECISION[action]
        decisions.update(record['decisions'])

    def _policy(self, endpoint, outcome):
        name = {NACKED: 'on_nack', TIMED_OUT: 'on_timeout', UNREACHABLE: 'on_unreachable'}.get(outcome)
        return self.param(endpoint, name) if name else FAIL

    def _describe(self, outcome, record, endpoint):
        if outcome == NACKED:
            refusals = sorted({r['state'] for r in record['replies'].values() if not r['ack']})
            return 'the VNFM refused (%s)' % ', '.join(refusals)
        if outcome == TIMED_OUT:
            return 'no reply within %ss' % self.param(endpoint, 'reply_timeout')
        if outcome == UNREACHABLE:
            return 'the VNFM could not be notified at %s (%s)' % (record['vnfm'], record['error'])
        return outcome

    def _result(self, state_name, decisions, started):
        result = dict(
            changed=any(n['sent'] for n in self.notifications + self.admin_notifications),
            session_id=self.session_id,
            state=state_name,
            host=self.params.get('host'),
            decisions=decisions,
            projects=self.projects,
            notifications=self.notifications,
            admin_notifications=self.admin_notifications,
            rejected_replies=[dict(r) for r in self.book.rejections],
            rejected_replies_total=self.book.rejected_total,
            listener=dict(url=self.listener.base_url, tls=self.listener.tls) if self.listener else None,
            elapsed=round(self.clock() - started, 3),
        )
        if self.warn is not None:
            while self.warnings:
                self.warn(self.warnings.pop(0))
        return result


def notify(conn, params, clock=time.monotonic, sleep=None, wall_clock=time.time, check_mode=False, warn=None):
    """Announce ``params['state']`` to the VNFMs and, before maintenance, wait for their replies.

    ``params`` are the vnfm_notify module's options; ``warn(message)`` receives the
    warnings (an admin endpoint that could not be reached, a project name Keystone
    could not resolve). ``clock``, ``wall_clock`` and ``sleep`` are injectable (``sleep``
    serves the wait for replies and the back-off between send attempts). Returns the module result (``decisions``, ``projects``,
    ``notifications`` ...); raises EscalatorError with code E_VNFM (and the same
    details) when a project's policy says fail.
    """
    return Notifier(conn, params, clock=clock, sleep=sleep, wall_clock=wall_clock, check_mode=check_mode,
                    warn=warn).run()
