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
import hmac
import http.client
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, E_VNFM, EscalatorError,
)
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
MAX_BODY = 1024 * 1024
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
        self.rejections = []
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

    @staticmethod
    def _authenticate(expectation, query, headers):
        candidates = list(query.get(TOKEN_PARAM, []))
        for name, value in headers.items():
            lname = name.lower()
            if lname == 'x-auth-token' and value:
                candidates.append(value.strip())
            elif lname == 'authorization' and value.lower().startswith('bearer '):
                candidates.append(value[7:].strip())
        if not candidates:
            raise ReplyError(401, 'missing token: use the reply_url as given (it carries ?token=...)')
        expected = expectation.token.encode('utf-8')
        if not any(hmac.compare_digest(candidate.encode('utf-8'), expected) for candidate in candidates):
            raise ReplyError(403, 'wrong token for project %s' % expectation.project_id)

    def handle(self, method, raw_path, headers, body, client=''):
        """One HTTP request -> (status, JSON-able body). Never raises."""
        split = urlparse.urlsplit(raw_path)
        path = split.path
        query = urlparse.parse_qs(split.query)
        try:
            with self.lock:
                if method not in ('GET', 'PUT', 'POST'):
                    raise ReplyError(405, 'method %s not allowed: replies are PUT (or POST) to reply_url' % method)
                expectation, instance_id = self._route(path)
                self._authenticate(expectation, query, headers)
                if method == 'GET':
                    if instance_id is not None:
                        raise ReplyError(405, 'GET is for the project URL: it lists the instance_ids')
                    return 200, dict(instance_ids=list(expectation.instance_ids))
                data = parse_json_body(body)
                reply = expectation.accept(data, self.session_id, instance_id, self.clock())
                self.accepted.append(dict(project_id=expectation.project_id, instance_id=instance_id,
                                          state=reply['state'], client=client))
                self.changed.notify_all()
                return 200, dict(result='accepted', session_id=self.session_id, project_id=expectation.project_id,
                                 state=reply['state'])
        except ReplyError as exc:
            with self.lock:
                self.rejections.append(dict(client=client, method=method, path=path, status=exc.status,
                                            reason=exc.reason, at=_now_iso()))
            return exc.status, dict(error=dict(code=exc.status, message=exc.reason))
        except Exception as exc:  # pylint: disable=broad-except
            with self.lock:
                self.rejections.append(dict(client=client, method=method, path=path, status=500,
                                            reason='internal error: %s' % exc, at=_now_iso()))
            return 500, dict(error=dict(code=500, message='internal error'))


# -- the callback listener --------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server_version = 'EscalatorVNFMListener/1'
    protocol_version = 'HTTP/1.1'
    timeout = 15          # a client that stalls is dropped; it never blocks the others

    def _serve(self):
        book = self.server.book
        try:
            self.close_connection = True
            length = self.headers.get('Content-Length')
            body = b''
            if length:
                try:
                    size = int(length)
                except ValueError:
                    self._send(400, dict(error=dict(code=400, message='bad Content-Length')))
                    return
                if size > MAX_BODY:
                    self._send(413, dict(error=dict(code=413, message='reply larger than %d bytes' % MAX_BODY)))
                    with book.lock:
                        book.rejections.append(dict(client=self.client_address[0], method=self.command,
                                                    path=urlparse.urlsplit(self.path).path, status=413,
                                                    reason='body too large', at=_now_iso()))
                    return
                body = self.rfile.read(size)
            status, answer = book.handle(self.command, self.path, dict(self.headers.items()), body,
                                         client=self.client_address[0])
            self._send(status, answer)
        except Exception:  # pylint: disable=broad-except
            # a broken connection must not take the listener down
            self.close_connection = True

    def _send(self, status, answer):
        data = json.dumps(answer).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # modules must not write to stdout/stderr; rejections are kept in the ReplyBook
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a failed TLS handshake or a reset connection is logged, never printed or fatal
        with self.book.lock:
            self.book.rejections.append(dict(client=client_address[0] if client_address else '', method='',
                                             path='', status=0, reason='connection error (TLS handshake or reset)',
                                             at=_now_iso()))


class CallbackListener:
    """A threaded HTTP(S) server that feeds replies into a ReplyBook while the module waits."""

    def __init__(self, book, address='0.0.0.0', port=0, public_url=None, tls_cert=None, tls_key=None):
        self.book = book
        self.address = address
        self.port = port
        self.public_url = public_url
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.server = None
        self.thread = None

    @property
    def tls(self):
        return bool(self.tls_cert)

    def start(self):
        family = socket.AF_INET6 if ':' in self.address else socket.AF_INET
        server_class = type('_BoundServer', (_Server,), dict(address_family=family))
        try:
            self.server = server_class((self.address, self.port), _Handler)
        except OSError as exc:
            raise EscalatorError('cannot listen for VNFM replies on %s:%s: %s; choose another listen_address/'
                                 'listen_port' % (self.address, self.port, exc), code=E_INVALID_INPUT) from exc
        self.server.book = self.book
        if self.tls_cert:
            try:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(self.tls_cert, self.tls_key)
            except (OSError, ssl.SSLError) as exc:
                self.server.server_close()
                raise EscalatorError('cannot load the listener TLS certificate %s / key %s: %s'
                                     % (self.tls_cert, self.tls_key, exc), code=E_INVALID_INPUT) from exc
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1),
                                       name='escalator-vnfm-listener', daemon=True)
        self.thread.start()
        return self

    @property
    def base_url(self):
        if self.public_url:
            return self.public_url.rstrip('/')
        host = self.address
        if host in ('0.0.0.0', '::', ''):
            host = socket.getfqdn()
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s:%d' % ('https' if self.tls else 'http', host, self.port)

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def reply_url(base_url, session_id, project_id, token, instance_id=None):
    """The URL a VNFM PUTs its reply to (and GETs the instance list from), token included."""
    path = '/v1/maintenance/%s/%s' % (urlparse.quote(session_id, safe=''), urlparse.quote(project_id, safe=''))
    if instance_id:
        path += '/%s' % urlparse.quote(instance_id, safe='')
    return '%s%s?%s=%s' % (base_url.rstrip('/'), path, TOKEN_PARAM, urlparse.quote(token, safe=''))


# -- HTTP client ---------------------------------------------------------------------

class SendError(Exception):
    def __init__(self, msg, status=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status


def ssl_context(validate_certs=True, ca_cert=None, client_cert=None, client_key=None):
    """TLS for talking to a VNFM: verified by default, with an optional CA bundle and client cert."""
    context = ssl.create_default_context(cafile=ca_cert)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context


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
    """One HTTP request with a JSON body; returns (status, text). Raises SendError for
    transport failures and for any status >= 300."""
    data = None if body is None else json.dumps(body).encode('utf-8')
    all_headers = {'Content-Type': 'application/json', 'Accept': 'application/json',
                   'User-Agent': 'escalator-vnfm-notify'}
    all_headers.update(headers or {})
    req = urlrequest.Request(url, data=data, method=method, headers=all_headers)
    handlers = [urlrequest.HTTPSHandler(context=context)] if context is not None else []
    opener = urlrequest.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as response:
            return response.status, response.read(MAX_BODY).decode('utf-8', 'replace')
    except urlerror.HTTPError as exc:
        try:
            text = exc.read(2000).decode('utf-8', 'replace')
        except Exception:  # pylint: disable=broad-except
            text = ''
        raise SendError('HTTP %s %s%s' % (exc.code, exc.reason, (': ' + text.strip()[:300]) if text.strip() else ''),
                        status=exc.code) from None
    except urlerror.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            raise SendError('TLS verification failed: %s; give the VNFM\'s CA with ca_cert' % reason) from None
        raise SendError('cannot connect: %s' % reason) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise SendError('cannot connect: %s' % exc) from None


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


def resolve_endpoints(conn, endpoints, known_project_ids):
    """Map each VNFM endpoint to a project id. ``project`` may be an id or a Keystone name."""
    resolved = {}
    warnings = []
    for entry in endpoints:
        name = entry['project']
        project_id = name if name in known_project_ids else None
        if project_id is None:
            try:
                project = conn.identity.find_project(name, ignore_missing=True)
            except Exception as exc:  # pylint: disable=broad-except
                project = None
                warnings.append('VNFM for project %r: cannot look the project up in Keystone (%s); it is '
                                'matched by id only' % (name, exc))
            project_id = project.id if project is not None else name
        if project_id in resolved:
            raise EscalatorError('two vnfm entries are for the same project %s (%r and %r)'
                                 % (project_id, resolved[project_id]['project'], name), code=E_INVALID_INPUT)
        full = dict(DEFAULT_ENDPOINT)
        full.update({key: value for key, value in entry.items() if value is not None})
        full['project_id'] = project_id
        resolved[project_id] = full
    return resolved, warnings


def _public_url(url):
    """An endpoint URL without user info or query (what the result shows)."""
    parts = urlparse.urlsplit(url)
    netloc = parts.hostname or ''
    if parts.port:
        netloc += ':%d' % parts.port
    return urlparse.urlunsplit((parts.scheme, netloc, parts.path, '', ''))


def validate_endpoint(entry):
    """Refuse an endpoint whose options do not make sense together (E_INVALID_INPUT)."""
    where = 'vnfm entry for project %r' % entry['project']
    url = entry.get('url')
    if not url or urlparse.urlsplit(url).scheme not in ('http', 'https'):
        raise EscalatorError('%s: url %r must be an http:// or https:// URL' % (where, url), code=E_INVALID_INPUT)
    if entry.get('reply_mode') == 'poll':
        if not entry.get('poll_url'):
            raise EscalatorError('%s: reply_mode poll needs poll_url' % where, code=E_INVALID_INPUT)
        if entry.get('instance_ids_format') == 'url':
            raise EscalatorError('%s: instance_ids_format url needs the listener (reply_mode listener)' % where,
                                 code=E_INVALID_INPUT)
    if (entry.get('username') is None) != (entry.get('password') is None):
        raise EscalatorError('%s: give both username and password for basic auth' % where, code=E_INVALID_INPUT)


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
        if state_name == IN_MAINTENANCE:
            if not params.get('host'):
                raise EscalatorError('state in_maintenance announces a host: give host', code=E_INVALID_INPUT)
            self._admin(state_name)
            return self._result(state_name, {}, started)

        allowed = list(params.get('allowed_actions') or ACTIONS)
        for action in allowed:
            if action not in ACTIONS:
                raise EscalatorError('allowed_actions: unknown action %r (one of %s)' % (action, ', '.join(ACTIONS)),
                                     code=E_INVALID_INPUT)
        for entry in params.get('vnfm') or []:
            validate_endpoint(entry)

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
            base = self.listener.base_url if self.listener else (
                params.get('reply_base_url') or 'https://escalator.invalid').rstrip('/')
            jobs = []
            for pid in targets:
                jobs.extend(self._prepare_project(pid, endpoints[pid], by_project.get(pid, []), state_name,
                                                  allowed if state_name != MAINTENANCE_COMPLETE else [], base, wait))
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
            raise EscalatorError(
                'VNFM: %s; the host must not be taken down (set the per-project policy to proceed to override)'
                % '; '.join(failures), code=E_VNFM, **{k: v for k, v in result.items() if k != 'changed'})
        return result

    def _instances(self, state_name):
        params = self.params
        host, ids = params.get('host'), params.get('instances')
        if state_name == MAINTENANCE_COMPLETE:
            return list_instances(self.conn, instance_ids=ids) if ids else []
        if not host and not ids:
            raise EscalatorError('give host or instances: the instances to announce', code=E_INVALID_INPUT)
        return list_instances(self.conn, host=host if not ids else None, instance_ids=ids)

    def _project_record(self, pid, endpoint, instances, outcome=PENDING, name=None):
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
        project_url = reply_url(base, self.session_id, pid, token)
        if endpoint['reply_mode'] == 'poll':
            project_url = self._poll_url(endpoint, pid, state_name)
        # the instance list URL is served by the listener, which lives only while the module waits
        listing = project_url if endpoint['instance_ids_format'] == 'url' and wait else ids
        units = [(None, listing, project_url)]
        if endpoint['granularity'] == 'instance' and ids:
            units = [(iid, [iid], reply_url(base, self.session_id, pid, token, iid)
                      if endpoint['reply_mode'] == 'listener' else project_url) for iid in ids]
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
            with self.book.lock:
                self.book.rejections.append(dict(client='poll', method='GET', path=urlparse.urlsplit(url).path,
                                                 status=exc.status, reason=exc.reason, at=_now_iso()))

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
                failures.append('project %s: %s' % (pid, self._describe(outcome, record, endpoint)))
            return
        default = self.param(endpoint, 'default_action')
        replied = expectation.actions() if expectation is not None else {}
        if outcome == ACKED:
            record['policy'] = 'accepted'
        else:
            record['policy'] = self._policy(endpoint, outcome)
            if record['policy'] == FAIL:
                failures.append('project %s: %s' % (pid, self._describe(outcome, record, endpoint)))
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
