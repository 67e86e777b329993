# SPDX-License-Identifier: Apache-2.0
"""The VNFMs' replies: validation against what was asked, the per-project reply state machine
(``Expectation``) and the session's book of them (``ReplyBook``), whose ``handle()`` is the whole HTTP
behaviour of the callback listener (routing, authentication, validation) without sockets."""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from urllib import parse as urlparse

from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import (
    ACKED, ACTIONS, NACKED, PENDING, TOKEN_PARAM, mask_tokens, now_iso,
)

MAX_REJECTIONS_KEPT = 20           # refused requests recorded in full (the others are only counted)
MAX_PATH_KEPT = 120                # characters of a refused request's path that are recorded
MAX_ACCEPTED_KEPT = 1000


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
                                            status=status, reason=mask_tokens(str(reason))[:300], at=now_iso()))

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
