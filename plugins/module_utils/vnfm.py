# SPDX-License-Identifier: Apache-2.0
"""Telling VNF managers about host maintenance and honouring their answers.

The protocol is OpenStack Fenix's (OPNFV Doctor maintenance), so VNFMs written for
Fenix -- Tacker's Fenix plugin, the Doctor sample app manager -- work unchanged:

* A *project notification* (event type ``maintenance.scheduled``) per affected
  project (or per instance) with the payload ``service, project_id, session_id,
  state, instance_ids, allowed_actions, reply_url, actions_at, reply_at,
  metadata``; states ``PREPARE_MAINTENANCE`` / ``PLANNED_MAINTENANCE`` before a
  host goes down, ``MAINTENANCE_COMPLETE`` when it is back.
* An *admin notification* (event type ``maintenance.host``) ``service,
  project_id, host, state, session_id`` with ``IN_MAINTENANCE`` /
  ``MAINTENANCE_COMPLETE``.
* Delivered by HTTP POST either as the oslo.messaging envelope (``fenix``) or as
  the body of an AODH event alarm with a ``traits`` list (``aodh``), which is how
  Fenix reaches VNFMs in practice.
* The VNFM answers with PUT ``reply_url`` ``{"session_id", "state":
  "ACK_<STATE>" | "NACK_<STATE>", "instance_actions": {"<uuid>": "MIGRATE" |
  "LIVE_MIGRATE" | "OWN_ACTION"}}`` (or ``"instance_action"`` on a per-instance
  reply URL), received by a short-lived callback listener on the controller that
  authenticates every reply with a per-project secret token carried in the
  reply URL; or Escalator polls a URL of the VNFM for the same JSON.

Nothing here imports Ansible: ``notify()`` is a function of a connection and
plain parameters, and the pieces (payload builders, ``ReplyBook``, the
listener, the HTTP client) are tested on their own.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import difflib
import hmac
import ipaddress
import json
import re
import secrets
import socket
import ssl
import string
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib import parse as urlparse

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, E_VNFM, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.host_info import find_compute_service
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception

# -- protocol vocabulary ---------------------------------------------------------

EVENT_PROJECT = 'maintenance.scheduled'
EVENT_HOST = 'maintenance.host'

PREPARE_MAINTENANCE = 'PREPARE_MAINTENANCE'
PLANNED_MAINTENANCE = 'PLANNED_MAINTENANCE'
MAINTENANCE_COMPLETE = 'MAINTENANCE_COMPLETE'
IN_MAINTENANCE = 'IN_MAINTENANCE'

# The module's `state` option -> what is announced.
STATES = {
    'prepare': PREPARE_MAINTENANCE,
    'planned': PLANNED_MAINTENANCE,
    'in_maintenance': IN_MAINTENANCE,
    'complete': MAINTENANCE_COMPLETE,
}

MIGRATE = 'MIGRATE'
LIVE_MIGRATE = 'LIVE_MIGRATE'
OWN_ACTION = 'OWN_ACTION'
ACTIONS = (MIGRATE, LIVE_MIGRATE, OWN_ACTION)

# Fenix action names <-> the `decisions` compute_evacuate takes.
ACTION_TO_DECISION = {MIGRATE: 'cold', LIVE_MIGRATE: 'live', OWN_ACTION: 'own_action'}
DECISION_TO_ACTION = {value: key for key, value in ACTION_TO_DECISION.items()}

# Per-project outcomes.
ACKED = 'acked'
NACKED = 'nacked'
TIMED_OUT = 'timed_out'
UNREACHABLE = 'unreachable'
NO_VNFM = 'no_vnfm'
NOTIFIED = 'notified'          # sent, no reply awaited (MAINTENANCE_COMPLETE without wait)
NOT_SENT = 'not_sent'          # check mode
PENDING = 'pending'

FAIL = 'fail'
PROCEED = 'proceed'

FENIX_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S'    # Fenix's reply_at/actions_at: UTC, no zone suffix
MAX_BODY = 1024 * 1024             # what is read of a VNFM's answer
MAX_REPLY_BODY = 256 * 1024        # the largest reply the listener takes
MAX_CONNECTIONS = 32               # requests served at once; more are answered 503 and closed
REQUEST_DEADLINE = 10.0            # seconds for a whole request (headers, body, answer), whatever the client does
READ_TIMEOUT = 5.0                 # seconds for one read
LISTEN_BACKLOG = 128
MAX_REJECTIONS_KEPT = 20           # refused requests recorded in full (the others are only counted)
MAX_PATH_KEPT = 120                # characters of a refused request's path that are recorded
MAX_ACCEPTED_KEPT = 1000
ANY_ADDRESSES = ('0.0.0.0', '::', '')
TOKEN_PARAM = 'token'
MASK = '********'
AODH_TEXT, AODH_INT, AODH_FLOAT, AODH_DATETIME = 1, 2, 3, 4
_TOKEN_IN_URL = re.compile(r'([?&]%s=)[^&#\s"\']*' % TOKEN_PARAM)


def fenix_time(epoch):
    """A wall-clock time as Fenix writes reply_at / actions_at (UTC, seconds)."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(FENIX_TIME_FORMAT)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')


def mask_tokens(value):
    """A copy of value (str, list, dict) with every ``token=...`` in URLs masked."""
    if isinstance(value, str):
        return _TOKEN_IN_URL.sub(r'\1' + MASK, value)
    if isinstance(value, dict):
        return {key: mask_tokens(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_tokens(item) for item in value]
    return value


# -- payloads ------------------------------------------------------------------------

def project_payload(service, project_id, session_id, state, instance_ids, allowed_actions, reply_url,
                    actions_at, reply_at, metadata):
    """The ``maintenance.scheduled`` payload, field for field as Fenix's ``_project_notify``."""
    return dict(
        service=service,
        project_id=project_id,
        session_id=session_id,
        state=state,
        instance_ids=instance_ids,
        allowed_actions=list(allowed_actions),
        reply_url=reply_url,
        actions_at=actions_at,
        reply_at=reply_at,
        metadata=dict(metadata or {}),
    )


def host_payload(service, project_id, host, state, session_id):
    """The admin ``maintenance.host`` payload, as Fenix's ``_admin_notify``."""
    return dict(service=service, project_id=project_id, host=host, state=state, session_id=session_id)


def envelope(event_type, payload, publisher_id, message_id, timestamp):
    """The oslo.messaging notification envelope around a payload (delivery ``fenix``)."""
    return dict(
        message_id=message_id,
        publisher_id=publisher_id,
        event_type=event_type,
        priority='INFO',
        payload=payload,
        timestamp=timestamp,
    )


def _trait_text(value):
    # Ceilometer stores non-string trait values as their Python text; VNFMs decode a value that
    # starts with "[" or "{" with eval()/yaml (Tacker's alarm receiver, Doctor's app manager).
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return repr([_plain(item) for item in value])
    if isinstance(value, dict):
        return repr({str(key): _plain(item) for key, item in value.items()})
    return str(value)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def traits(payload, datetime_fields=('actions_at', 'reply_at')):
    """The payload as AODH event traits ``[[name, type, value], ...]`` (Ceilometer's event definitions
    for ``maintenance.scheduled`` / ``maintenance.host``); fields that are None are left out."""
    result = []
    for name, value in payload.items():
        if value is None:
            continue
        if name in datetime_fields:
            result.append([name, AODH_DATETIME, value])
        elif isinstance(value, bool):
            result.append([name, AODH_TEXT, str(value)])
        elif isinstance(value, int):
            result.append([name, AODH_INT, value])
        elif isinstance(value, float):
            result.append([name, AODH_FLOAT, value])
        else:
            result.append([name, AODH_TEXT, _trait_text(value)])
    return result


def aodh_alarm(event_type, payload, message_id, generated, alarm_name, alarm_id):
    """The body AODH's REST notifier POSTs when an event alarm on ``event_type`` fires (delivery ``aodh``)."""
    return dict(
        alarm_name=alarm_name,
        alarm_id=alarm_id,
        severity='moderate',
        previous='insufficient data',
        current='alarm',
        reason='Event <id=%s,event_type=%s> hits the query <query=[]>.' % (message_id, event_type),
        reason_data=dict(
            type='event',
            event=dict(
                message_id=message_id,
                event_type=event_type,
                generated=generated,
                traits=traits(payload),
                raw={},
                message_signature='',
            ),
        ),
    )


def delivery_body(delivery, event_type, payload, message_id, wall_time, publisher_id='escalator', alarm_name=None):
    """What is POSTed to a VNFM for ``payload`` in the given delivery shape."""
    stamp = datetime.datetime.fromtimestamp(wall_time, datetime.timezone.utc)
    if delivery == 'aodh':
        alarm_id = str(uuid.uuid5(uuid.NAMESPACE_URL, 'escalator:%s:%s' % (event_type, alarm_name or '')))
        return aodh_alarm(event_type, payload, message_id, stamp.strftime('%Y-%m-%dT%H:%M:%S.%f'),
                          alarm_name or 'escalator-%s' % event_type, alarm_id)
    return envelope(event_type, payload, publisher_id, message_id, stamp.strftime('%Y-%m-%d %H:%M:%S.%f'))


# -- replies ----------------------------------------------------------------------

class ReplyError(Exception):
    """A reply refused with an HTTP status and a reason for the VNFM (and the log)."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_json_body(body):
    """Bytes -> dict, or ReplyError(400)."""
    if isinstance(body, bytes):
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            raise ReplyError(400, 'the reply is not UTF-8 text') from None
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ReplyError(400, 'the reply is not valid JSON: %s' % exc) from None
    except RecursionError:
        raise ReplyError(400, 'the reply is nested too deeply') from None
    if not isinstance(data, dict):
        raise ReplyError(400, 'the reply must be a JSON object, not %s' % type(data).__name__)
    return data


def validate_reply(data, session_id, state, instance_ids, allowed_actions, instance_id=None):
    """Check a reply against what was asked; return ``(ack, {instance: action})``.

    ``instance_id`` is set for a reply to a per-instance reply URL. Raises
    ReplyError: 400 malformed, 409 another session or state, 422 unknown
    instance or an action not allowed.
    """
    reply_session = data.get('session_id')
    if reply_session is not None and reply_session != session_id:
        raise ReplyError(409, 'the reply is for session %r, this is session %r' % (reply_session, session_id))
    reply_state = data.get('state')
    if not isinstance(reply_state, str) or not reply_state:
        raise ReplyError(400, 'the reply has no "state" (expected "ACK_%s" or "NACK_%s")' % (state, state))
    match = re.match(r'^(ACK|NACK)_([A-Z_]+)$', reply_state)
    if not match:
        raise ReplyError(400, 'the reply state %r is not ACK_<STATE> or NACK_<STATE>' % reply_state)
    if match.group(2) != state:
        raise ReplyError(409, 'the reply answers %s but Escalator asked %s' % (match.group(2), state))
    ack = match.group(1) == 'ACK'

    actions = {}
    many = data.get('instance_actions')
    single = data.get('instance_action')
    if many is not None and not isinstance(many, dict):
        raise ReplyError(400, '"instance_actions" must be an object {"<instance uuid>": "<action>"}')
    if single is not None and not isinstance(single, str):
        raise ReplyError(400, '"instance_action" must be a string (%s)' % ', '.join(ACTIONS))
    if many:
        for instance, action in many.items():
            actions[instance] = action
    if single is not None:
        # The single form answers the instance of a per-instance reply URL; on a project reply URL it
        # applies to every instance that was announced (Tacker answers that way).
        for instance in ([instance_id] if instance_id else instance_ids):
            actions.setdefault(instance, single)
    known = set(instance_ids)
    for instance, action in actions.items():
        if instance not in known:
            raise ReplyError(422, 'instance %s is not one of the instances announced to this project%s'
                             % (instance, (' for instance %s' % instance_id) if instance_id else ''))
        if instance_id and instance != instance_id:
            raise ReplyError(422, 'this reply URL is for instance %s, not %s' % (instance_id, instance))
        if not isinstance(action, str) or action not in ACTIONS:
            raise ReplyError(422, 'instance %s: unknown action %r (one of %s)' % (instance, action, ', '.join(ACTIONS)))
        if ack and action not in allowed_actions:
            raise ReplyError(422, 'instance %s: action %s is not allowed (allowed: %s)'
                             % (instance, action, ', '.join(allowed_actions) or 'none'))
    return ack, actions


class Expectation:
    """What one project was asked, its token, and the replies it gave (the reply state machine).

    A reply to the project's reply URL answers for all of its instances; a reply
    to a per-instance reply URL (``granularity`` ``instance``) for that instance.
    The project is ``pending`` until it has a project reply or a reply for every
    instance, then ``acked``; any NACK makes it ``nacked``. Replies are final: an
    identical repeat is accepted again (VNFMs retry until they get 200), a
    different one is refused with 409.
    """

    def __init__(self, project_id, state, instance_ids, allowed_actions, token, granularity='project'):
        self.project_id = project_id
        self.state = state
        self.instance_ids = list(instance_ids)
        self.allowed_actions = list(allowed_actions)
        self.token = token
        self.granularity = granularity
        self.replies = {}           # None (project reply) or instance id -> dict(ack, state, instance_actions, at)
        self.first_reply_at = None
        self.last_reply_at = None

    def status(self):
        if any(not reply['ack'] for reply in self.replies.values()):
            return NACKED
        if None in self.replies:
            return ACKED
        if self.instance_ids and all(instance in self.replies for instance in self.instance_ids):
            return ACKED
        return PENDING

    def actions(self):
        """{instance: action} from the ACKs received (per-instance replies win over the project reply)."""
        result = {}
        if None in self.replies and self.replies[None]['ack']:
            result.update(self.replies[None]['instance_actions'])
        for key, reply in self.replies.items():
            if key is not None and reply['ack']:
                result.update(reply['instance_actions'])
        return result

    def accept(self, data, session_id, instance_id, now):
        """Validate and record a reply (already authenticated); returns it or raises ReplyError."""
        ack, actions = validate_reply(data, session_id, self.state, self.instance_ids, self.allowed_actions,
                                      instance_id=instance_id)
        reply = dict(ack=ack, state=data.get('state'), instance_actions=actions, at=now)
        previous = self.replies.get(instance_id)
        if previous is not None:
            if previous['ack'] == ack and previous['instance_actions'] == actions:
                return previous
            raise ReplyError(409, 'a different reply (%s) was already accepted%s; replies are final'
                             % (previous['state'], (' for instance %s' % instance_id) if instance_id else ''))
        if self.status() != PENDING:
            raise ReplyError(409, 'project %s has already answered %s; replies are final'
                             % (self.project_id, self.status().upper()))
        self.replies[instance_id] = reply
        if self.first_reply_at is None:
            self.first_reply_at = now
        self.last_reply_at = now
        return reply


class ReplyBook:
    """The expectations of one session, shared by the listener threads and the waiting module.

    ``handle()`` is the whole HTTP behaviour of the callback listener (routing,
    authentication, validation) as a pure function of the request, so it is
    tested without sockets.
    """

    def __init__(self, session_id, clock=time.monotonic):
        self.session_id = session_id
        self.expectations = {}
        self.rejections = []        # the first MAX_REJECTIONS_KEPT refusals
        self.rejected_total = 0     # every refusal
        self.accepted = []
        self.clock = clock
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def expect(self, expectation):
        with self.lock:
            self.expectations[expectation.project_id] = expectation

    def status(self, project_id):
        with self.lock:
            return self.expectations[project_id].status()

    def wait_for_change(self, timeout):
        with self.changed:
            self.changed.wait(timeout)

    def reject(self, client='', method='', path='', status=0, reason=''):
        """Count a refused request; the first MAX_REJECTIONS_KEPT are recorded (path without query, cut)."""
        path = urlparse.urlsplit(str(path)).path if '?' in str(path) else str(path)
        if len(path) > MAX_PATH_KEPT:
            path = path[:MAX_PATH_KEPT] + '...'
        with self.lock:
            self.rejected_total += 1
            if len(self.rejections) < MAX_REJECTIONS_KEPT:
                self.rejections.append(dict(client=str(client)[:64], method=str(method)[:16], path=path,
                                            status=status, reason=mask_tokens(str(reason))[:300], at=_now_iso()))

    # -- HTTP --------------------------------------------------------------------
    def _route(self, path):
        parts = [urlparse.unquote(part) for part in path.split('/') if part]
        if len(parts) < 4 or parts[0] != 'v1' or parts[1] != 'maintenance' or len(parts) > 5:
            raise ReplyError(404, 'no such resource; replies go to the reply_url of the notification')
        if parts[2] != self.session_id:
            raise ReplyError(404, 'unknown maintenance session %r' % parts[2])
        expectation = self.expectations.get(parts[3])
        if expectation is None:
            raise ReplyError(404, 'project %r has no notification in session %s' % (parts[3], self.session_id))
        instance_id = parts[4] if len(parts) == 5 else None
        if instance_id is not None and instance_id not in expectation.instance_ids:
            raise ReplyError(404, 'instance %r was not announced to project %s' % (instance_id, parts[3]))
        return expectation, instance_id

    def _authenticate(self, query, headers):
        """The expectation whose token the request carries, checked before anything else is looked at:
        without a valid token every path gets the same 401 (nothing says which sessions exist)."""
        candidates = list(query.get(TOKEN_PARAM, []))[:4]
        for name, value in headers.items():
            lname = name.lower()
            if lname == 'x-auth-token' and value:
                candidates.append(value.strip())
            elif lname == 'authorization' and value.lower().startswith('bearer '):
                candidates.append(value[7:].strip())
        if not candidates:
            raise ReplyError(401, 'missing token: use the reply_url as given (it carries ?token=...)')
        found = None
        for expectation in self.expectations.values():
            expected = expectation.token.encode('utf-8')
            for candidate in candidates:
                if hmac.compare_digest(candidate.encode('utf-8', 'replace')[:256], expected):
                    found = expectation
        if found is None:
            raise ReplyError(401, 'unknown token: use the reply_url as given (it carries ?token=...)')
        return found

    def handle(self, method, raw_path, headers, body, client=''):
        """One HTTP request -> (status, JSON-able body). Never raises."""
        split = urlparse.urlsplit(raw_path)
        path = split.path
        query = urlparse.parse_qs(split.query)
        try:
            with self.lock:
                authenticated = self._authenticate(query, headers)
                if method not in ('GET', 'PUT', 'POST'):
                    raise ReplyError(405, 'method %s not allowed: replies are PUT (or POST) to reply_url' % method)
                expectation, instance_id = self._route(path)
                if expectation is not authenticated:
                    raise ReplyError(403, 'this token is not for project %s' % expectation.project_id)
                if method == 'GET':
                    if instance_id is not None:
                        raise ReplyError(405, 'GET is for the project URL: it lists the instance_ids')
                    return 200, dict(instance_ids=list(expectation.instance_ids))
                data = parse_json_body(body)
                reply = expectation.accept(data, self.session_id, instance_id, self.clock())
                if len(self.accepted) < MAX_ACCEPTED_KEPT:
                    self.accepted.append(dict(project_id=expectation.project_id, instance_id=instance_id,
                                              state=reply['state'], client=client))
                self.changed.notify_all()
                return 200, dict(result='accepted', session_id=self.session_id, project_id=expectation.project_id,
                                 state=reply['state'])
        except ReplyError as exc:
            self.reject(client=client, method=method, path=path, status=exc.status, reason=exc.reason)
            return exc.status, dict(error=dict(code=exc.status, message=exc.reason))
        except Exception as exc:  # pylint: disable=broad-except
            self.reject(client=client, method=method, path=path, status=500, reason='internal error: %s' % exc)
            return 500, dict(error=dict(code=500, message='internal error'))


# -- the callback listener --------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server_version = 'EscalatorVNFMListener/1'
    protocol_version = 'HTTP/1.1'
    timeout = READ_TIMEOUT      # per read; the whole request is bounded by the server's deadline

    def _refuse(self, status, reason):
        self.server.book.reject(client=self.client_address[0], method=self.command, path=self.path,
                                status=status, reason=reason)
        self._send(status, dict(error=dict(code=status, message=reason)))

    def _serve(self):
        book = self.server.book
        try:
            self.close_connection = True
            if self.headers.get('Transfer-Encoding'):
                self._refuse(411, 'Transfer-Encoding is not supported: send the reply with a Content-Length')
                return
            lengths = self.headers.get_all('Content-Length') or []
            body = b''
            if not lengths:
                if self.command in ('PUT', 'POST'):
                    self._refuse(411, 'a reply needs a Content-Length')
                    return
            else:
                text = lengths[0].strip()
                if len(lengths) > 1 or not text.isdigit() or len(text) > 12:
                    self._refuse(400, 'bad Content-Length')
                    return
                size = int(text)
                if size > MAX_REPLY_BODY:
                    self._refuse(413, 'reply larger than %d bytes' % MAX_REPLY_BODY)
                    return
                body = self.rfile.read(size) if size else b''
                if len(body) < size:
                    self._refuse(400, 'the body is shorter than its Content-Length')
                    return
            status, answer = book.handle(self.command, self.path, dict(self.headers.items()), body,
                                         client=self.client_address[0])
            self._send(status, answer)
        except Exception:  # pylint: disable=broad-except
            # a broken connection (or one cut at the request deadline) must not take the listener down
            self.close_connection = True

    def _send(self, status, answer):
        data = json.dumps(answer).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # modules must not write to stdout/stderr; rejections are kept in the ReplyBook
        return


_BUSY = b'{"error": {"code": 503, "message": "too many connections; retry later"}}'
_OVERLOADED = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n'
               b'Connection: close\r\nContent-Length: %d\r\n\r\n%s' % (len(_BUSY), _BUSY))


class _Server(ThreadingHTTPServer):
    """At most ``max_connections`` requests at once (more are answered 503 and closed at once), each
    cut at ``request_deadline`` seconds whatever the client does; a listen backlog of LISTEN_BACKLOG."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG
    max_connections = MAX_CONNECTIONS
    request_deadline = REQUEST_DEADLINE
    tls = False
    book = None

    def __init__(self, *args, **kwargs):
        self.active = {}
        self.active_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self.active_lock:
            overloaded = len(self.active) >= self.max_connections
            if not overloaded:
                self.active[request] = time.monotonic() + self.request_deadline
        if overloaded:
            self.book.reject(client=client_address[0] if client_address else '', method='', path='', status=503,
                             reason='too many connections (%d)' % self.max_connections)
            if not self.tls:
                try:
                    request.settimeout(0.2)
                    request.sendall(_OVERLOADED)
                except OSError:
                    pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # pylint: disable=broad-except
            with self.active_lock:
                self.active.pop(request, None)
            self.shutdown_request(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active.pop(request, None)

    def service_actions(self):
        # called by serve_forever every poll interval: cut the requests past their deadline
        now = time.monotonic()
        with self.active_lock:
            expired = [request for request, deadline in self.active.items() if deadline <= now]
        for request in expired:
            try:
                socket.socket.shutdown(request, socket.SHUT_RDWR)
            except (OSError, TypeError):
                pass

    def handle_error(self, request, client_address):
        # a failed TLS handshake or a reset connection is logged, never printed or fatal
        self.book.reject(client=client_address[0] if client_address else '', method='', path='', status=0,
                         reason='connection error (TLS handshake or reset)')


class CallbackListener:
    """A threaded HTTP(S) server that feeds replies into a ReplyBook while the module waits.

    Bounded whatever clients send: MAX_CONNECTIONS requests at once, each within REQUEST_DEADLINE
    seconds, bodies up to MAX_REPLY_BODY bytes, a bounded record of refusals (ReplyBook.reject)."""

    def __init__(self, book, address='0.0.0.0', port=0, public_url=None, tls_cert=None, tls_key=None,
                 advertise_for=None):
        self.book = book
        self.address = address
        self.port = port
        self.public_url = public_url
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.advertise_for = advertise_for
        self.server = None
        self.thread = None

    @property
    def tls(self):
        return bool(self.tls_cert)

    def start(self):
        family = socket.AF_INET6 if ':' in self.address else socket.AF_INET
        server_class = type('_BoundServer', (_Server,), dict(
            address_family=family, request_queue_size=LISTEN_BACKLOG, max_connections=MAX_CONNECTIONS,
            request_deadline=REQUEST_DEADLINE, tls=self.tls))
        try:
            self.server = server_class((self.address, self.port), _Handler)
        except (OSError, OverflowError) as exc:
            raise EscalatorError('cannot listen for VNFM replies on %s:%s: %s; choose another listen_address/'
                                 'listen_port' % (self.address, self.port, exc), code=E_INVALID_INPUT,
                                 option='listen_port') from exc
        self.server.book = self.book
        if self.tls_cert:
            try:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(self.tls_cert, self.tls_key)
            except (OSError, ssl.SSLError) as exc:
                self.server.server_close()
                raise EscalatorError('cannot load the listener TLS certificate %s / key %s: %s'
                                     % (self.tls_cert, self.tls_key, exc), code=E_INVALID_INPUT,
                                     option='listen_tls_cert') from exc
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1),
                                       name='escalator-vnfm-listener', daemon=True)
        self.thread.start()
        return self

    @property
    def base_url(self):
        return self.url_for(self.advertise_for)

    def url_for(self, peer_url=None):
        """The listener's URL as a VNFM at ``peer_url`` reaches it: ``public_url`` if given, else the bound
        address, or, when bound to every address, the local address that routes to that VNFM (a name
        from socket.getfqdn() is often one nobody resolves)."""
        if self.public_url:
            return self.public_url.rstrip('/')
        host = self.address
        if host in ANY_ADDRESSES:
            host = route_address(peer_url, ipv6=host == '::')
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s:%d' % ('https' if self.tls else 'http', host, self.port)

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def route_address(peer_url=None, ipv6=False):
    """The local IP address the kernel would use to reach ``peer_url``'s host (no packet is sent)."""
    host = None
    try:
        host = urlparse.urlsplit(peer_url).hostname if peer_url else None
    except ValueError:
        host = None
    targets = [host] if host else []
    targets.append('2001:db8::1' if ipv6 else '192.0.2.1')     # documentation addresses: the default route
    for target in targets:
        try:
            infos = socket.getaddrinfo(target, 9, socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
        except (OSError, UnicodeError):
            continue
        for family, kind, proto, _name, address in infos:
            try:
                with socket.socket(family, kind, proto) as probe:
                    probe.connect(address)
                    return probe.getsockname()[0]
            except OSError:
                continue
    return '::1' if ipv6 else '127.0.0.1'


def reply_url(base_url, session_id, project_id, token, instance_id=None):
    """The URL a VNFM PUTs its reply to (and GETs the instance list from), token included."""
    path = '/v1/maintenance/%s/%s' % (urlparse.quote(session_id, safe=''), urlparse.quote(project_id, safe=''))
    if instance_id:
        path += '/%s' % urlparse.quote(instance_id, safe='')
    return '%s%s?%s=%s' % (base_url.rstrip('/'), path, TOKEN_PARAM, urlparse.quote(token, safe=''))


# -- HTTP client ---------------------------------------------------------------------

SendError = http_client.HTTPClientError
ssl_context = http_client.ssl_context


def auth_headers(endpoint):
    """HTTP headers for a VNFM endpoint's credentials (token, basic, extra headers)."""
    headers = {}
    for name, value in (endpoint.get('headers') or {}).items():
        headers[str(name)] = str(value)
    if endpoint.get('token'):
        headers[endpoint.get('token_header') or 'X-Auth-Token'] = endpoint['token']
    if endpoint.get('username') is not None and endpoint.get('password') is not None:
        pair = ('%s:%s' % (endpoint['username'], endpoint['password'])).encode('utf-8')
        headers['Authorization'] = 'Basic ' + base64.b64encode(pair).decode('ascii')
    return headers


def http_request(url, method='POST', body=None, headers=None, timeout=10, context=None):
    """One HTTP request with a JSON body; returns (status, text). Raises SendError for transport failures,
    for any status >= 300 and for a redirect, which is never followed (the credentials stay with the
    configured origin)."""
    data = None if body is None else json.dumps(body).encode('utf-8')
    all_headers = {'Content-Type': 'application/json', 'Accept': 'application/json',
                   'User-Agent': 'escalator-vnfm-notify'}
    all_headers.update(headers or {})
    return http_client.request(url, method, data, all_headers, timeout, context, max_answer=MAX_BODY)


# -- the orchestration ----------------------------------------------------------------

DEFAULT_ENDPOINT = dict(
    delivery='fenix', granularity='project', instance_ids_format='list', reply_mode='listener',
    poll_url=None, token=None, token_header='X-Auth-Token', username=None, password=None, headers=None,
    validate_certs=True, ca_cert=None, client_cert=None, client_key=None,
    on_nack=None, on_timeout=None, on_unreachable=None, default_action=None, reply_timeout=None,
)


def _server_host(server):
    return getattr(server, 'compute_host', None) or getattr(server, 'hypervisor_hostname', None)


def list_instances(conn, host=None, instance_ids=None):
    """The instances to announce: on ``host`` (all projects) or the given ids. Returns dicts."""
    result = []
    try:
        if host:
            # `compute_host` is the real filter; openstacksdk's `host` is silently ignored by Nova here.
            servers = list(conn.compute.servers(details=True, all_projects=True, compute_host=host))
        else:
            servers = [conn.compute.get_server(instance) for instance in instance_ids or []]
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing the instances to announce') from exc
    for server in servers:
        result.append(dict(id=server.id, name=server.name, project_id=server.project_id, status=server.status,
                           host=_server_host(server)))
    return result


def project_instances(conn, project_id):
    try:
        servers = list(conn.compute.servers(details=True, all_projects=True, project_id=project_id))
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing the instances of project %s' % project_id) from exc
    return [dict(id=s.id, name=s.name, project_id=s.project_id, status=s.status, host=_server_host(s))
            for s in servers]


def _project_names(conn, known_project_ids):
    """Names of the cloud's projects (for a hint), or at least of the given ones."""
    names = []
    try:
        names = [project.name for project in conn.identity.projects()]
    except Exception:  # pylint: disable=broad-except
        for project_id in sorted(known_project_ids):
            try:
                project = conn.identity.find_project(project_id, ignore_missing=True)
            except Exception:  # pylint: disable=broad-except
                project = None
            if project is not None and project.name:
                names.append(project.name)
    return sorted(set(name for name in names if name))


def resolve_endpoints(conn, endpoints, known_project_ids):
    """Map each VNFM endpoint to a project id. ``project`` may be an id or a Keystone name; one that names
    no project is refused (E_INVALID_INPUT naming the entry, the known projects and a close match)."""
    resolved = {}
    warnings = []
    for index, entry in enumerate(endpoints):
        name = entry['project']
        try:
            project = conn.identity.find_project(name, ignore_missing=True)
        except Exception as exc:  # pylint: disable=broad-except
            raise error_from_exception(exc, during='looking up the project %r of vnfm[%d] in Keystone'
                                       % (name, index)) from exc
        if project is None:
            known = _project_names(conn, known_project_ids)
            hint = [match for match in known if match.lower() == name.lower()] or difflib.get_close_matches(
                name, known, n=2)
            raise EscalatorError(
                'vnfm[%d].project: no project %r in Keystone (names are case-sensitive)%s; known projects: %s'
                % (index, name, ('; did you mean %s?' % ' or '.join(repr(item) for item in hint)) if hint else '',
                   ', '.join(known[:50]) or 'none'),
                code=E_INVALID_INPUT, option='vnfm[%d].project' % index, project=name, known_projects=known[:50])
        project_id = project.id
        if project_id in resolved:
            raise EscalatorError('two vnfm entries are for the same project %s (%r and %r)'
                                 % (project_id, resolved[project_id]['project'], name), code=E_INVALID_INPUT,
                                 option='vnfm[%d].project' % index)
        full = dict(DEFAULT_ENDPOINT)
        full.update({key: value for key, value in entry.items() if value is not None})
        full['project_id'] = project_id
        full['project_name'] = getattr(project, 'name', None) or name
        resolved[project_id] = full
    return resolved, warnings


def _public_url(url):
    """An endpoint URL without user info or query (what the result shows)."""
    return http_client.public_url(url)


# -- validation (no cloud) -------------------------------------------------------------

POLICIES = ('fail', 'proceed')
POLL_PLACEHOLDERS = ('session_id', 'project_id', 'state')


def endpoint_options(project=True):
    """The options of a ``vnfm`` entry (``project=True``) or an ``admin_endpoints`` entry, as an Ansible
    argument spec; vnfm_notify uses it and validate_entries() checks raw entries against it."""
    options = dict(
        url=dict(type='str', required=True),
        delivery=dict(type='str', default='fenix', choices=['fenix', 'aodh']),
        token=dict(type='str', no_log=True),
        token_header=dict(type='str', default='X-Auth-Token', no_log=False),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        headers=dict(type='dict', no_log=True),
        validate_certs=dict(type='bool', default=True),
        ca_cert=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path', no_log=False),
        insecure_http=dict(type='bool', default=False),
    )
    if project:
        options.update(
            project=dict(type='str', required=True),
            granularity=dict(type='str', default='project', choices=['project', 'instance']),
            instance_ids_format=dict(type='str', default='list', choices=['list', 'url']),
            reply_mode=dict(type='str', default='listener', choices=['listener', 'poll']),
            poll_url=dict(type='str'),
            reply_timeout=dict(type='int'),
            on_nack=dict(type='str', choices=list(POLICIES)),
            on_timeout=dict(type='str', choices=list(POLICIES)),
            on_unreachable=dict(type='str', choices=list(POLICIES)),
            default_action=dict(type='str', choices=['live', 'cold']),
        )
    return options


def _invalid(option, msg, **details):
    return EscalatorError('%s: %s' % (option, msg), code=E_INVALID_INPUT, option=option, **details)


_TRUE = ('yes', 'on', '1', 'true', 'y', 't')
_FALSE = ('no', 'off', '0', 'false', 'n', 'f')


def _convert(option, kind, value):
    """A raw (YAML / templated) value as the module would take it, or E_INVALID_INPUT."""
    if kind in ('str', 'path'):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _invalid(option, 'must be a string, not %s' % type(value).__name__)
        return str(value)
    if kind == 'int':
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.match(r'^\s*-?\d+\s*$', value):
            return int(value)
        raise _invalid(option, 'must be an integer, not %r' % (value,))
    if kind == 'bool':
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise _invalid(option, 'must be true or false, not %r' % (value,))
    if kind == 'dict':
        if not isinstance(value, dict):
            raise _invalid(option, 'must be a mapping, not %s' % type(value).__name__)
        return value
    return value


def is_loopback(host):
    if not host:
        return False
    if host.lower() == 'localhost' or host.lower().endswith('.localhost'):
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def check_url(option, url, insecure_http=False, insecure_option=None):
    """Refuse a URL that is not http(s)://host[:port]/..., whose port is not a number in 1-65535, or
    that is plain http to an address other than the loopback without the explicit opt-in."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid(option, 'give an http:// or https:// URL')
    try:
        parts = urlparse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(option, '%s is not a valid URL: the port must be a number in 1-65535 (%s)'
                       % (http_client.redact_url(url), exc)) from None
    if parts.scheme not in ('http', 'https'):
        raise _invalid(option, '%s must be an http:// or https:// URL' % http_client.redact_url(url))
    if not parts.hostname:
        raise _invalid(option, '%s has no host' % http_client.redact_url(url))
    if port == 0:
        raise _invalid(option, '%s: the port must be a number in 1-65535' % http_client.redact_url(url))
    if parts.scheme == 'http' and not insecure_http and not is_loopback(parts.hostname):
        raise _invalid(option, '%s is plain http to %s: the notification and its credentials would cross the '
                               'network in clear; use https, or set %s: true to accept that'
                       % (http_client.redact_url(url), parts.hostname, insecure_option or 'insecure_http'))
    return parts


def check_poll_url(option, url):
    try:
        fields = [field for _text, field, _spec, _conv in string.Formatter().parse(url) if field is not None]
    except ValueError as exc:
        raise _invalid(option, 'is not a valid template (%s); placeholders are %s'
                       % (exc, ', '.join('{%s}' % name for name in POLL_PLACEHOLDERS))) from None
    for field in fields:
        if field not in POLL_PLACEHOLDERS:
            raise _invalid(option, 'unknown placeholder {%s}; the placeholders are %s'
                           % (field, ', '.join('{%s}' % name for name in POLL_PLACEHOLDERS)))


def _normalize(option, entry, spec):
    if not isinstance(entry, dict):
        raise _invalid(option, 'each entry must be a mapping, not %s' % type(entry).__name__)
    unknown = sorted(str(key) for key in entry if key not in spec)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(spec), n=1)
        raise _invalid('%s.%s' % (option, unknown[0]), 'unknown option%s; the options are %s'
                       % ((' (did you mean %s?)' % hint[0]) if hint else '', ', '.join(sorted(spec))))
    result = {}
    for name, rules in spec.items():
        value = entry.get(name)
        where = '%s.%s' % (option, name)
        if value is None:
            if rules.get('required'):
                raise _invalid(where, 'is required')
            result[name] = rules.get('default')
            continue
        value = _convert(where, rules['type'], value)
        if rules.get('choices') and value not in rules['choices']:
            raise _invalid(where, '%r is not one of %s' % (value, ', '.join(rules['choices'])))
        result[name] = value
    return result


def _check_endpoint(option, entry, project=True):
    insecure = '%s.insecure_http' % option
    check_url('%s.url' % option, entry['url'], entry.get('insecure_http'), insecure)
    header = entry.get('token_header') or 'X-Auth-Token'
    if not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", header):
        raise _invalid('%s.token_header' % option, '%r is not an HTTP header name' % header)
    for name, value in (entry.get('headers') or {}).items():
        if not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", str(name)) or re.search(r'[\r\n]', str(value)):
            raise _invalid('%s.headers' % option, 'header %r is not a valid HTTP header (name, one-line value)'
                           % str(name))
    if (entry.get('username') is None) != (entry.get('password') is None):
        raise _invalid('%s.username' % option, 'give both username and password for basic auth')
    if entry.get('client_key') and not entry.get('client_cert'):
        raise _invalid('%s.client_key' % option, 'client_key needs client_cert')
    if not project:
        return
    if not str(entry['project']).strip():
        raise _invalid('%s.project' % option, 'is empty: give the project\'s Keystone name or ID')
    if entry.get('reply_timeout') is not None and entry['reply_timeout'] < 1:
        raise _invalid('%s.reply_timeout' % option, 'must be at least 1 second, not %s' % entry['reply_timeout'])
    if entry.get('reply_mode') == 'poll':
        if not entry.get('poll_url'):
            raise _invalid('%s.poll_url' % option, 'reply_mode poll needs poll_url')
        if entry.get('instance_ids_format') == 'url':
            raise _invalid('%s.instance_ids_format' % option,
                           'instance_ids_format url needs the listener (reply_mode listener)')
    if entry.get('poll_url'):
        check_poll_url('%s.poll_url' % option, entry['poll_url'])
        check_url('%s.poll_url' % option, entry['poll_url'].format(session_id='s', project_id='p', state='S'),
                  entry.get('insecure_http'), insecure)


def validate_entries(entries, admin_endpoints=None):
    """Check VNFM entries (the ``vnfm`` option / ``escalator_vnfm``) and admin endpoints completely,
    without the cloud: known options only, types, choices, URLs (scheme, host, port), plain http only to
    the loopback or with ``insecure_http: true``, poll_url placeholders, auth form, one entry per project.

    Returns ``(vnfm_entries, admin_entries)`` with every option filled in (defaults). Raises
    EscalatorError(E_INVALID_INPUT) whose ``msg`` starts with and whose ``details['option']`` is the
    option at fault, for example ``vnfm[0].url``. Whether each project exists needs Keystone: notify()
    checks that before sending anything.
    """
    result = []
    for name, values, project in (('vnfm', entries, True), ('admin_endpoints', admin_endpoints, False)):
        values = [] if values is None else values
        if not isinstance(values, (list, tuple)):
            raise _invalid(name, 'must be a list of entries, not %s' % type(values).__name__)
        spec = endpoint_options(project)
        normalized = []
        seen = {}
        for index, entry in enumerate(values):
            option = '%s[%d]' % (name, index)
            full = _normalize(option, entry, spec)
            _check_endpoint(option, full, project)
            if project:
                if full['project'] in seen:
                    raise _invalid('%s.project' % option, 'the same project %r as vnfm[%d]: one entry per project'
                                   % (full['project'], seen[full['project']]))
                seen[full['project']] = index
            normalized.append(full)
        result.append(normalized)
    return result[0], result[1]


def validate_params(params):
    """The module's other options (E_INVALID_INPUT naming the option): bounds, and a reply_base_url that
    matches what the listener binds (scheme and TLS, port, no loopback URL when binding every address)."""
    session = params.get('session_id')
    if not isinstance(session, str) or not session.strip():
        raise _invalid('session_id', 'is empty: give the campaign id')
    for name, low in (('reply_timeout', 1), ('send_timeout', 1), ('send_retries', 0)):
        value = params.get(name)
        if value is not None and value < low:
            raise _invalid(name, 'must be at least %d, not %s' % (low, value))
    interval = params.get('poll_interval')
    if interval is not None and not interval > 0:
        raise _invalid('poll_interval', 'must be more than 0 seconds, not %s' % interval)
    port = params.get('listen_port') or 0
    if not 0 <= port <= 65535:
        raise _invalid('listen_port', '%s is not a port (1-65535, or 0 for any free port)' % port)
    cert, key = params.get('listen_tls_cert'), params.get('listen_tls_key')
    if bool(cert) != bool(key):
        raise _invalid('listen_tls_cert', 'give listen_tls_cert and listen_tls_key together')
    base = params.get('reply_base_url')
    if not base:
        return
    try:
        parts = urlparse.urlsplit(base)
        base_port = parts.port
    except ValueError as exc:
        raise _invalid('reply_base_url', '%s: the port must be a number in 1-65535 (%s)'
                       % (http_client.redact_url(base), exc)) from None
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise _invalid('reply_base_url', '%s must be http(s)://host[:port]' % http_client.redact_url(base))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _invalid('reply_base_url', 'must have no user, query or fragment')
    if (parts.scheme == 'https') != bool(cert):
        raise _invalid('reply_base_url', 'is %s but the listener %s: %s' % (
            parts.scheme, 'has a certificate (listen_tls_cert), so it speaks https only' if cert
            else 'has no certificate (listen_tls_cert), so it speaks plain http', 'make them agree'))
    base_port = base_port or (443 if parts.scheme == 'https' else 80)
    if not port:
        raise _invalid('listen_port', 'is 0 (any free port), so no reply_base_url can name it: set listen_port '
                                      'to the port of reply_base_url (%d)' % base_port)
    if base_port != port:
        raise _invalid('listen_port', 'the listener binds port %d but reply_base_url names port %d: they must be '
                                      'equal' % (port, base_port))
    if (params.get('listen_address') or '0.0.0.0') in ANY_ADDRESSES and is_loopback(parts.hostname):
        raise _invalid('reply_base_url', '%s is a loopback address but the listener binds every address for '
                                         'VNFMs elsewhere: give the address they reach'
                       % http_client.redact_url(base))


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
        self.sleep = sleep or self.book.wait_for_change
        self.listener = None
        self.warnings = []
        self.notifications = []
        self.admin_notifications = []
        self.projects = {}
        self.names = {}
        self.notified_at = {}
        self.deadlines = {}

    # -- parameters ----------------------------------------------------------
    def param(self, entry, name):
        value = entry.get(name) if entry else None
        return value if value is not None else self.params.get(name)

    # -- sending -------------------------------------------------------------
    def _send(self, endpoint, body, record):
        context = None
        if endpoint['url'].startswith('https'):
            try:
                context = ssl_context(endpoint.get('validate_certs', True), endpoint.get('ca_cert'),
                                      endpoint.get('client_cert'), endpoint.get('client_key'))
            except (OSError, ssl.SSLError) as exc:
                record.update(sent=False, error='TLS configuration: %s' % exc, attempts=0)
                return False
        retries = max(0, int(self.params.get('send_retries') or 0))
        timeout = self.params.get('send_timeout') or 10
        for attempt in range(1, retries + 2):
            record['attempts'] = attempt
            try:
                status, _text = http_request(endpoint['url'], 'POST', body, auth_headers(endpoint), timeout, context)
                record.update(sent=True, status_code=status, error=None, sent_at=_now_iso())
                return True
            except SendError as exc:
                record.update(sent=False, status_code=exc.status, error=exc.msg)
                if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
                    return False        # the VNFM refuses this notification; repeating will not help
                if attempt <= retries:
                    time.sleep(min(2.0 * attempt, 5.0))
        return False

    def _send_all(self, jobs):
        """jobs: list of (endpoint, body, record). Sends in parallel; returns when all are done."""
        if not jobs:
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
            futures = [pool.submit(self._send, endpoint, body, record) for endpoint, body, record in jobs]
            for future in futures:
                future.result()

    # -- one run -------------------------------------------------------------
    def run(self):
        started = self.clock()
        params = self.params
        state_name = STATES[params['state']]
        # every option is checked before the cloud is asked anything and before anything is sent
        validate_params(params)
        validate_entries(params.get('vnfm') or [], params.get('admin_endpoints') or [])
        allowed = list(params.get('allowed_actions') or ACTIONS)
        for action in allowed:
            if action not in ACTIONS:
                raise EscalatorError('allowed_actions: unknown action %r (one of %s)' % (action, ', '.join(ACTIONS)),
                                     code=E_INVALID_INPUT, option='allowed_actions')
        if params.get('host'):
            find_compute_service(self.conn, params['host'])     # E_HOST_NOT_FOUND naming the known hosts
        if state_name == IN_MAINTENANCE:
            if not params.get('host'):
                raise EscalatorError('state in_maintenance announces a host: give host', code=E_INVALID_INPUT,
                                     option='host')
            self._admin(state_name)
            return self._result(state_name, {}, started)

        instances = self._instances(state_name)
        by_project = {}
        for instance in instances:
            by_project.setdefault(instance['project_id'], []).append(instance)
        endpoints, warnings = resolve_endpoints(self.conn, params.get('vnfm') or [], set(by_project))
        self.warnings.extend(warnings)

        if state_name == MAINTENANCE_COMPLETE:
            wanted = params.get('projects')
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
                    by_project[pid] = project_instances(self.conn, pid) if not params.get('instances') else []
            for pid in sorted(wanted_ids - set(endpoints)):
                self.projects[pid] = self._project_record(pid, None, by_project.get(pid, []), NO_VNFM)
        else:
            targets = sorted(pid for pid in by_project if pid in endpoints)
            for pid in sorted(set(by_project) - set(endpoints)):
                self._unmanaged(pid, by_project[pid])
            refused = sorted(pid for pid, record in self.projects.items() if record['policy'] == FAIL)
            if refused:
                # before anything is sent: nobody is told about a maintenance that cannot happen
                result = self._result(state_name, {}, started)
                raise EscalatorError('VNFM: no VNFM is configured for project(s) %s and unmanaged_action is fail; '
                                     'configure their VNFM in vnfm or choose live/cold' % ', '.join(refused),
                                     code=E_VNFM, **{k: v for k, v in result.items() if k != 'changed'})

        wait = state_name != MAINTENANCE_COMPLETE or bool(params.get('wait_complete'))
        needs_listener = wait and any(endpoints[pid]['reply_mode'] == 'listener' for pid in targets)
        try:
            if needs_listener and not self.check_mode:
                self.listener = CallbackListener(
                    self.book, params.get('listen_address') or '0.0.0.0', params.get('listen_port') or 0,
                    params.get('reply_base_url'), params.get('listen_tls_cert'), params.get('listen_tls_key')).start()
            jobs = []
            for pid in targets:
                jobs.extend(self._prepare_project(pid, endpoints[pid], by_project.get(pid, []), state_name,
                                                  allowed if state_name != MAINTENANCE_COMPLETE else [],
                                                  self._base_url(endpoints[pid], wait), wait))
            if self.check_mode:
                for pid in targets:
                    self.projects[pid]['outcome'] = NOT_SENT
                result = self._result(state_name, {}, started)
                result['changed'] = bool(jobs)
                return result
            self._send_all(jobs)
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

        decisions = {}
        failures = []
        for pid in targets:
            self._settle(pid, endpoints[pid], state_name, decisions, failures)
        for pid, record in self.projects.items():
            if pid not in targets and record.get('decisions'):
                decisions.update(record['decisions'])
        if state_name == MAINTENANCE_COMPLETE and params.get('host'):
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
                      vnfm=_public_url(endpoint['url']) if endpoint else None,
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
        record = self._project_record(pid, endpoint, instances)
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
                                delivery=endpoint['delivery'], url=_public_url(endpoint['url']),
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
                          url=_public_url(endpoint['url']), body=body, sent=False, status_code=None, error=None,
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
        context = None
        url = self._poll_url(endpoint, pid, self.book.expectations[pid].state)
        if url.startswith('https'):
            context = ssl_context(endpoint.get('validate_certs', True), endpoint.get('ca_cert'),
                                  endpoint.get('client_cert'), endpoint.get('client_key'))
        record = self.projects[pid]
        try:
            status, text = http_request(url, 'GET', None, auth_headers(endpoint),
                                        self.params.get('send_timeout') or 10, context)
        except SendError as exc:
            if exc.status in (404,):
                return
            record['error'] = 'polling %s: %s' % (_public_url(url), exc.msg)
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
    could not resolve). Returns the module result (``decisions``, ``projects``,
    ``notifications`` ...); raises EscalatorError with code E_VNFM (and the same
    details) when a project's policy says fail.
    """
    return Notifier(conn, params, clock=clock, sleep=sleep, wall_clock=wall_clock, check_mode=check_mode,
                    warn=warn).run()
