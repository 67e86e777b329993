# SPDX-License-Identifier: Apache-2.0
"""The VNFM protocol pieces: payloads (exact JSON), the reply state machine, token checks,
and every bad reply against the real callback listener on 127.0.0.1."""

import ast
import http.client
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.http_client import ssl_context
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.delivery import (
    SendError, auth_headers, http_request,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.listener import CallbackListener
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.payloads import (
    delivery_body, host_payload, project_payload, traits,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import (
    ACKED, ACTIONS, EVENT_HOST, EVENT_PROJECT, MAINTENANCE_COMPLETE, NACKED, PENDING, fenix_time, mask_tokens,
    reply_url,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.replies import (
    Expectation, ReplyBook, ReplyError, parse_json_body, validate_reply,
)

SESSION = 'campaign-1'
P1 = 'p-vnf-a'
P2 = 'p-vnf-b'
I1 = '11111111-1111-4111-8111-111111111111'
I2 = '22222222-2222-4222-8222-222222222222'
I3 = '33333333-3333-4333-8333-333333333333'


# -- a fake VNFM, shared with the module tests ---------------------------------------

def decode_notification(body):
    """What a Fenix-speaking VNFM sees: the payload, from either delivery shape.

    The AODH shape is decoded as Tacker's alarm receiver does (a text trait that starts
    with "[" or "{" is a Python literal)."""
    if 'reason_data' in body:
        payload = {}
        for name, kind, value in body['reason_data']['event']['traits']:
            if kind == 1 and value and value[0] in '[{':
                value = ast.literal_eval(value)
            payload[name] = value
        return body['reason_data']['event']['event_type'], payload
    return body['event_type'], body['payload']


class FakeVNFM:
    """A small VNFM on 127.0.0.1 that answers notifications the way it is told to.

    behaviour: 'ack' (instance_actions from `actions`, default `action`), 'nack', 'never',
    'garbage' (invalid JSON), 'single' (the single instance_action form), 'http500' (refuses
    the notification). `delay` seconds before replying; `fetch_instances` GETs instance_ids
    when it is a URL."""

    def __init__(self, behaviour='ack', action='OWN_ACTION', actions=None, delay=0.0):
        self.behaviour = behaviour
        self.action = action
        self.actions = actions or {}
        self.delay = delay
        self.received = []
        self.payloads = []
        self.replies = []           # (url, body, status, answer)
        self.polls = []
        self.poll_reply = None      # body served on GET /poll/... once set
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _body(self):
                length = int(self.headers.get('Content-Length') or 0)
                return self.rfile.read(length) if length else b''

            def _answer(self, status, data=b'{}'):
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self._body()
                body = json.loads(raw)
                with fake.lock:
                    fake.received.append(dict(path=self.path, headers=dict(self.headers.items()), body=body))
                if fake.behaviour == 'http500':
                    self._answer(500, b'{"error": "down"}')
                    return
                event_type, payload = decode_notification(body)
                with fake.lock:                 # recorded before the 200: the sender may look right after
                    fake.payloads.append((event_type, payload))
                self._answer(200)
                if event_type == EVENT_PROJECT:
                    threading.Thread(target=fake.reply, args=(payload,), daemon=True).start()

            def do_GET(self):
                with fake.lock:
                    fake.polls.append(self.path)
                    reply = fake.poll_reply
                if reply is None:
                    self._answer(404, b'{"error": "no reply yet"}')
                else:
                    self._answer(200, json.dumps(reply).encode())

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d/maintenance' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.05),
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def instance_ids(self, payload):
        ids = payload['instance_ids']
        if isinstance(ids, str):        # a URL: GET it, as the Doctor app manager does
            with urllib.request.urlopen(ids, timeout=5) as response:
                ids = json.loads(response.read())['instance_ids']
        return ids

    def reply(self, payload):
        if self.delay:
            time.sleep(self.delay)
        state = payload['state']
        if self.behaviour == 'never' or not payload.get('reply_url'):
            return                      # no reply_url: nobody listens (a MAINTENANCE_COMPLETE only sent)
        if self.behaviour == 'garbage':
            body = b'{"state": ACK oops'
        elif self.behaviour == 'nack':
            body = json.dumps(dict(session_id=payload['session_id'], state='NACK_%s' % state)).encode()
        elif self.behaviour == 'single':
            body = json.dumps(dict(session_id=payload['session_id'], state='ACK_%s' % state,
                                   instance_action=self.action)).encode()
        else:
            ids = self.instance_ids(payload)
            reply = dict(session_id=payload['session_id'], state='ACK_%s' % state)
            if state != MAINTENANCE_COMPLETE:
                reply['instance_actions'] = {i: self.actions.get(i, self.action) for i in ids}
            body = json.dumps(reply).encode()
        self.put(payload['reply_url'], body)

    def put(self, url, body, headers=None):
        request = urllib.request.Request(url, data=body, method='PUT',
                                         headers=dict({'Content-Type': 'application/json'}, **(headers or {})))
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                result = (url, body, response.status, json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            result = (url, body, exc.code, json.loads(exc.read()))
        except OSError as exc:
            result = (url, body, None, str(exc))
        with self.lock:
            self.replies.append(result)
        return result


@pytest.fixture
def fake_vnfm():
    started = []

    def start(**kwargs):
        server = FakeVNFM(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- payloads --------------------------------------------------------------------------

NOW = 1767261600.0      # 2026-01-01T10:00:00Z


def test_fenix_time_is_utc_seconds_without_zone():
    assert fenix_time(NOW) == '2026-01-01T10:00:00'
    assert fenix_time(NOW + 300.7) == '2026-01-01T10:05:00'


def test_project_payload_has_exactly_fenix_fields_in_order():
    payload = project_payload('escalator', P1, SESSION, 'PLANNED_MAINTENANCE', [I1, I2],
                              ('MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'),
                              'https://ctl:8443/v1/maintenance/campaign-1/p-vnf-a?token=T',
                              '2026-01-01T10:05:00', '2026-01-01T10:05:00', {'escalator_host': 'compute1'})
    assert json.dumps(payload) == (
        '{"service": "escalator", "project_id": "p-vnf-a", "session_id": "campaign-1", '
        '"state": "PLANNED_MAINTENANCE", "instance_ids": ["%s", "%s"], '
        '"allowed_actions": ["MIGRATE", "LIVE_MIGRATE", "OWN_ACTION"], '
        '"reply_url": "https://ctl:8443/v1/maintenance/campaign-1/p-vnf-a?token=T", '
        '"actions_at": "2026-01-01T10:05:00", "reply_at": "2026-01-01T10:05:00", '
        '"metadata": {"escalator_host": "compute1"}}' % (I1, I2))


def test_host_payload_is_fenix_admin_notification():
    assert json.dumps(host_payload('escalator', 'admin-p', 'compute1', 'IN_MAINTENANCE', SESSION)) == (
        '{"service": "escalator", "project_id": "admin-p", "host": "compute1", "state": "IN_MAINTENANCE", '
        '"session_id": "campaign-1"}')


def test_fenix_delivery_is_the_oslo_messaging_envelope():
    payload = host_payload('escalator', 'admin-p', 'compute1', 'MAINTENANCE_COMPLETE', SESSION)
    body = delivery_body('fenix', EVENT_HOST, payload, 'm-1', NOW)
    assert body == {
        'message_id': 'm-1', 'publisher_id': 'escalator', 'event_type': 'maintenance.host', 'priority': 'INFO',
        'payload': payload, 'timestamp': '2026-01-01 10:00:00.000000'}


def test_aodh_delivery_is_an_event_alarm_with_traits_tacker_and_doctor_can_decode():
    payload = project_payload('escalator', P1, SESSION, 'PLANNED_MAINTENANCE', [I1],
                              ['MIGRATE', 'OWN_ACTION'], 'http://ctl:1/v1/maintenance/campaign-1/p-vnf-a?token=T',
                              '2026-01-01T10:05:00', '2026-01-01T10:05:00', {'release': 'R2', 'n': 2})
    body = delivery_body('aodh', EVENT_PROJECT, payload, 'm-2', NOW, alarm_name='escalator-maintenance-p')
    assert body['alarm_name'] == 'escalator-maintenance-p'
    assert body['current'] == 'alarm' and body['previous'] == 'insufficient data'
    assert body['reason_data']['type'] == 'event'
    event = body['reason_data']['event']
    assert event['event_type'] == 'maintenance.scheduled'
    assert event['message_id'] == 'm-2'
    assert event['generated'] == '2026-01-01T10:00:00.000000'
    assert event['traits'] == [
        ['service', 1, 'escalator'],
        ['project_id', 1, P1],
        ['session_id', 1, SESSION],
        ['state', 1, 'PLANNED_MAINTENANCE'],
        ['instance_ids', 1, "['%s']" % I1],
        ['allowed_actions', 1, "['MIGRATE', 'OWN_ACTION']"],
        ['reply_url', 1, 'http://ctl:1/v1/maintenance/campaign-1/p-vnf-a?token=T'],
        ['actions_at', 4, '2026-01-01T10:05:00'],
        ['reply_at', 4, '2026-01-01T10:05:00'],
        ['metadata', 1, "{'release': 'R2', 'n': 2}"],
    ]
    # Tacker's alarm receiver decoding gives the payload back
    assert decode_notification(body) == ('maintenance.scheduled', payload)
    # and so does the Doctor app manager's (yaml of the text)
    assert yaml.safe_load(event['traits'][4][2]) == [I1]
    assert yaml.safe_load(event['traits'][9][2]) == {'release': 'R2', 'n': 2}


def test_traits_leave_out_none_and_type_numbers():
    assert traits(dict(a=None, b=3, c=1.5, d=True, reply_at='x')) == [
        ['b', 2, 3], ['c', 3, 1.5], ['d', 1, 'True'], ['reply_at', 4, 'x']]


def test_reply_url_carries_the_token_and_quotes_the_path():
    url = reply_url('https://ctl:8443/', 'c 1', 'p/1', 'a+b')
    assert url == 'https://ctl:8443/v1/maintenance/c%201/p%2F1?token=a%2Bb'
    assert reply_url('http://x', 'c1', 'p1', 't', I1) == 'http://x/v1/maintenance/c1/p1/%s?token=t' % I1


def test_tokens_are_masked_everywhere_in_results():
    value = {'a': ['http://x/v1/maintenance/c/p?token=SECRET', "['http://y?x=1&token=SECRET2']"], 'b': 3}
    masked = mask_tokens(value)
    assert 'SECRET' not in json.dumps(masked)
    assert masked['a'][0] == 'http://x/v1/maintenance/c/p?token=********'
    assert masked['b'] == 3


def test_auth_headers():
    assert auth_headers(dict(token='t', token_header='X-Auth-Token')) == {'X-Auth-Token': 't'}
    assert auth_headers(dict(username='u', password='p')) == {'Authorization': 'Basic dTpw'}
    assert auth_headers(dict(headers={'X-Api-Key': 'k'}, token='t', token_header='X-Token')) == {
        'X-Api-Key': 'k', 'X-Token': 't'}


# -- reply validation and the state machine --------------------------------------------

ALL = list(ACTIONS)


def test_ack_with_instance_actions():
    ack, actions = validate_reply(
        dict(session_id=SESSION, state='ACK_PLANNED_MAINTENANCE', instance_actions={I1: 'OWN_ACTION', I2: 'MIGRATE'}),
        SESSION, 'PLANNED_MAINTENANCE', [I1, I2], ALL)
    assert ack is True and actions == {I1: 'OWN_ACTION', I2: 'MIGRATE'}


def test_nack_and_reply_without_session_id():
    assert validate_reply(dict(state='NACK_PLANNED_MAINTENANCE'), SESSION, 'PLANNED_MAINTENANCE', [I1], ALL) == (
        False, {})


def test_single_instance_action_on_project_url_applies_to_all_and_on_instance_url_to_that_one():
    data = dict(session_id=SESSION, state='ACK_PLANNED_MAINTENANCE', instance_action='LIVE_MIGRATE')
    assert validate_reply(data, SESSION, 'PLANNED_MAINTENANCE', [I1, I2], ALL) == (
        True, {I1: 'LIVE_MIGRATE', I2: 'LIVE_MIGRATE'})
    assert validate_reply(data, SESSION, 'PLANNED_MAINTENANCE', [I1, I2], ALL, instance_id=I2) == (
        True, {I2: 'LIVE_MIGRATE'})


@pytest.mark.parametrize('data, status, words', [
    (dict(session_id='other', state='ACK_PLANNED_MAINTENANCE'), 409, 'session'),
    (dict(state='ACK_PREPARE_MAINTENANCE'), 409, 'asked PLANNED_MAINTENANCE'),
    (dict(state='YES'), 400, 'ACK_<STATE>'),
    (dict(instance_actions={}), 400, 'no "state"'),
    (dict(state='ACK_PLANNED_MAINTENANCE', instance_actions=[I1]), 400, 'must be an object'),
    (dict(state='ACK_PLANNED_MAINTENANCE', instance_action=3), 400, 'must be a string'),
    (dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I3: 'MIGRATE'}), 422, 'not one of the instances'),
    (dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I1: 'REBOOT'}), 422, 'unknown action'),
    (dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I1: 'OWN_ACTION'}), 422, 'not allowed'),
])
def test_bad_replies_are_refused_with_the_right_status(data, status, words):
    with pytest.raises(ReplyError) as caught:
        validate_reply(data, SESSION, 'PLANNED_MAINTENANCE', [I1, I2], ['MIGRATE', 'LIVE_MIGRATE'])
    assert caught.value.status == status
    assert words in caught.value.reason


def test_reply_for_another_instance_on_an_instance_url_is_refused():
    with pytest.raises(ReplyError) as caught:
        validate_reply(dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I2: 'MIGRATE'}), SESSION,
                       'PLANNED_MAINTENANCE', [I1, I2], ALL, instance_id=I1)
    assert caught.value.status == 422


@pytest.mark.parametrize('body', [b'not json', b'[1, 2]', b'\xff\xfe', b''])
def test_malformed_bodies_are_400(body):
    with pytest.raises(ReplyError) as caught:
        parse_json_body(body)
    assert caught.value.status == 400


def test_project_expectation_goes_pending_to_acked_and_replies_are_final():
    exp = Expectation(P1, 'PLANNED_MAINTENANCE', [I1, I2], ALL, 'tok')
    assert exp.status() == PENDING
    ack = dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I1: 'OWN_ACTION'})
    exp.accept(ack, SESSION, None, 5.0)
    assert exp.status() == ACKED
    assert exp.actions() == {I1: 'OWN_ACTION'}
    exp.accept(dict(ack, session_id=SESSION), SESSION, None, 6.0)       # an identical retry is fine
    with pytest.raises(ReplyError) as caught:
        exp.accept(dict(state='NACK_PLANNED_MAINTENANCE'), SESSION, None, 7.0)
    assert caught.value.status == 409
    with pytest.raises(ReplyError) as caught:                       # and no late per-instance change
        exp.accept(dict(state='ACK_PLANNED_MAINTENANCE', instance_action='MIGRATE'), SESSION, I2, 8.0)
    assert caught.value.status == 409
    assert exp.status() == ACKED and exp.first_reply_at == 5.0


def test_instance_expectation_needs_every_instance_and_any_nack_wins():
    exp = Expectation(P1, 'PLANNED_MAINTENANCE', [I1, I2], ALL, 'tok', granularity='instance')
    exp.accept(dict(state='ACK_PLANNED_MAINTENANCE', instance_action='OWN_ACTION'), SESSION, I1, 1.0)
    assert exp.status() == PENDING
    exp.accept(dict(state='ACK_PLANNED_MAINTENANCE', instance_action='LIVE_MIGRATE'), SESSION, I2, 2.0)
    assert exp.status() == ACKED
    assert exp.actions() == {I1: 'OWN_ACTION', I2: 'LIVE_MIGRATE'}

    exp = Expectation(P1, 'PLANNED_MAINTENANCE', [I1, I2], ALL, 'tok', granularity='instance')
    exp.accept(dict(state='ACK_PLANNED_MAINTENANCE', instance_action='OWN_ACTION'), SESSION, I1, 1.0)
    exp.accept(dict(state='NACK_PLANNED_MAINTENANCE'), SESSION, I2, 2.0)
    assert exp.status() == NACKED


def test_complete_with_no_instances_is_acked_by_a_project_reply():
    exp = Expectation(P1, 'MAINTENANCE_COMPLETE', [], [], 'tok')
    assert exp.status() == PENDING
    exp.accept(dict(state='ACK_MAINTENANCE_COMPLETE'), SESSION, None, 1.0)
    assert exp.status() == ACKED


# -- ReplyBook: routing and authentication -----------------------------------------------

def book_with_two_projects():
    book = ReplyBook(SESSION)
    book.expect(Expectation(P1, 'PLANNED_MAINTENANCE', [I1, I2], ALL, 'token-one'))
    book.expect(Expectation(P2, 'PLANNED_MAINTENANCE', [I3], ALL, 'token-two'))
    return book


GOOD = json.dumps(dict(session_id=SESSION, state='ACK_PLANNED_MAINTENANCE',
                       instance_actions={I1: 'OWN_ACTION', I2: 'LIVE_MIGRATE'})).encode()


@pytest.mark.parametrize('method, path, headers, body, status', [
    ('PUT', '/v1/maintenance/campaign-1/p-vnf-a', {}, GOOD, 401),
    ('PUT', '/v1/maintenance/campaign-1/p-vnf-a?token=wrong', {}, GOOD, 401),     # a token nobody was given
    ('PUT', '/v1/maintenance/campaign-1/p-vnf-a?token=token-two', {}, GOOD, 403),      # another project's token
    ('PUT', '/v1/maintenance/campaign-1/p-vnf-a', {'X-Auth-Token': 'wrong'}, GOOD, 401),
    ('PUT', '/v1/maintenance/campaign-2/p-vnf-a?token=wrong', {}, GOOD, 401),     # routing reveals nothing
    ('PUT', '/v1/maintenance/campaign-1/p-other', {}, GOOD, 401),
    ('DELETE', '/v1/maintenance/campaign-1/p-vnf-a', {}, b'', 401),
    ('PUT', '/v1/maintenance/campaign-2/p-vnf-a?token=token-one', {}, GOOD, 404),
    ('PUT', '/v1/maintenance/campaign-1/p-other?token=token-one', {}, GOOD, 404),
    ('PUT', '/v1/maintenance/campaign-1/p-vnf-a/%s?token=token-one' % I3, {}, GOOD, 404),
    ('PUT', '/v2/whatever', {}, GOOD, 401),
    ('PUT', '/v2/whatever?token=token-one', {}, GOOD, 404),
    ('DELETE', '/v1/maintenance/campaign-1/p-vnf-a?token=token-one', {}, b'', 405),
    ('PUT', '/v1/maintenance/campaign-1/p-vnf-a?token=token-one', {}, b'{"state": ', 400),
])
def test_book_refuses_and_records(method, path, headers, body, status):
    book = book_with_two_projects()
    got, answer = book.handle(method, path, headers, body, client='10.0.0.9')
    assert got == status
    assert answer['error']['code'] == status
    assert book.rejections[-1]['status'] == status and book.rejections[-1]['client'] == '10.0.0.9'
    assert 'token-one' not in json.dumps(book.rejections)
    assert book.expectations[P1].status() == PENDING


@pytest.mark.parametrize('path, headers', [
    ('/v1/maintenance/campaign-1/p-vnf-a?token=token-one', {}),
    ('/v1/maintenance/campaign-1/p-vnf-a/', {'X-Auth-Token': 'token-one'}),
    ('/v1/maintenance/campaign-1/p-vnf-a', {'Authorization': 'Bearer token-one'}),
    # Tacker sends its Keystone token in X-Auth-Token and the reply URL as given
    ('/v1/maintenance/campaign-1/p-vnf-a?token=token-one', {'X-Auth-Token': 'gAAAA-keystone'}),
])
def test_book_accepts_the_token_in_the_url_or_a_header(path, headers):
    book = book_with_two_projects()
    status, answer = book.handle('PUT', path, headers, GOOD)
    assert status == 200, answer
    assert answer == dict(result='accepted', session_id=SESSION, project_id=P1, state='ACK_PLANNED_MAINTENANCE')
    assert book.status(P1) == ACKED and book.status(P2) == PENDING


def test_book_serves_the_instance_list_to_the_token_holder_only():
    book = book_with_two_projects()
    assert book.handle('GET', '/v1/maintenance/campaign-1/p-vnf-a?token=token-one', {}, b'{"session_id": "x"}') == (
        200, dict(instance_ids=[I1, I2]))
    assert book.handle('GET', '/v1/maintenance/campaign-1/p-vnf-a', {}, b'')[0] == 401


# -- the real listener on 127.0.0.1 -------------------------------------------------------

@pytest.fixture
def listener():
    book = book_with_two_projects()
    server = CallbackListener(book, '127.0.0.1', 0).start()
    yield server
    server.stop()


def request(server, method, path, body=b'', headers=None, tls_context=None):
    if tls_context is not None:
        conn = http.client.HTTPSConnection('127.0.0.1', server.port, timeout=5, context=tls_context)
    else:
        conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=5)
    conn.request(method, path, body=body, headers=dict({'Content-Type': 'application/json'}, **(headers or {})))
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data)


P1_URL = '/v1/maintenance/campaign-1/p-vnf-a?token=token-one'


@pytest.mark.parametrize('path, body, status, words', [
    (P1_URL, b'{"state": "ACK_PLANNED', 400, 'not valid JSON'),
    (P1_URL, b'"ACK"', 400, 'JSON object'),
    ('/v1/maintenance/campaign-1/p-vnf-a?token=nope', GOOD, 401, 'unknown token'),
    ('/v1/maintenance/campaign-1/p-vnf-a?token=token-two', GOOD, 403, 'not for project'),
    ('/v1/maintenance/campaign-1/p-vnf-a', GOOD, 401, 'missing token'),
    ('/v1/maintenance/other-session/p-vnf-a?token=token-one', GOOD, 404, 'unknown maintenance session'),
    (P1_URL, json.dumps(dict(session_id='other-session', state='ACK_PLANNED_MAINTENANCE')).encode(), 409,
     'session'),
    (P1_URL, json.dumps(dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I3: 'MIGRATE'})).encode(), 422,
     'not one of the instances'),
    (P1_URL, json.dumps(dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I1: 'SHUTDOWN'})).encode(), 422,
     'unknown action'),
])
def test_listener_rejects_every_bad_reply_then_takes_a_good_one(listener, path, body, status, words):
    got, answer = request(listener, 'PUT', path, body)
    assert got == status
    assert words in answer['error']['message']
    assert listener.book.rejections and listener.book.rejections[-1]['status'] == status
    assert listener.book.status(P1) == PENDING
    # the listener is still there and still refuses nothing valid
    assert request(listener, 'PUT', P1_URL, GOOD) == (200, dict(
        result='accepted', session_id=SESSION, project_id=P1, state='ACK_PLANNED_MAINTENANCE'))
    assert listener.book.status(P1) == ACKED


def test_listener_refuses_a_disallowed_action():
    book = ReplyBook(SESSION)
    book.expect(Expectation(P1, 'PLANNED_MAINTENANCE', [I1], ['LIVE_MIGRATE'], 'token-one'))
    server = CallbackListener(book, '127.0.0.1', 0).start()
    try:
        status, answer = request(server, 'PUT', P1_URL, json.dumps(
            dict(state='ACK_PLANNED_MAINTENANCE', instance_actions={I1: 'OWN_ACTION'})).encode())
        assert status == 422 and 'not allowed' in answer['error']['message']
        assert book.status(P1) == PENDING
    finally:
        server.stop()


def test_listener_survives_garbage_oversize_and_dropped_connections(listener):
    # raw garbage that is not HTTP
    with socket.create_connection(('127.0.0.1', listener.port), timeout=5) as sock:
        sock.sendall(b'\x00\x01\x02 hello\r\n\r\n')
        sock.recv(1024)
    # a client that connects and goes away
    socket.create_connection(('127.0.0.1', listener.port), timeout=5).close()
    # a body announced far too large
    with socket.create_connection(('127.0.0.1', listener.port), timeout=5) as sock:
        sock.sendall(('PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % (P1_URL, 50 * 1024 * 1024)).encode())
        assert b' 413 ' in sock.recv(1024)
    assert request(listener, 'PUT', P1_URL, GOOD)[0] == 200


def test_listener_base_url_uses_public_url_or_bound_port():
    book = ReplyBook(SESSION)
    server = CallbackListener(book, '127.0.0.1', 0, public_url='https://escalator.example:8443/').start()
    try:
        assert server.base_url == 'https://escalator.example:8443'
    finally:
        server.stop()
    server = CallbackListener(book, '127.0.0.1', 0).start()
    try:
        assert server.base_url == 'http://127.0.0.1:%d' % server.port
    finally:
        server.stop()


def test_listener_port_in_use_is_a_clear_error(listener):
    with pytest.raises(EscalatorError) as caught:
        CallbackListener(listener.book, '127.0.0.1', listener.port).start()
    assert caught.value.code == E_INVALID_INPUT
    assert 'listen_port' in caught.value.msg


# -- TLS -----------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    directory = tmp_path_factory.mktemp('tls')
    cert, key = str(directory / 'cert.pem'), str(directory / 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
                    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, capture_output=True)
    return cert, key


def test_tls_listener_and_client_verify_by_default(certificate):
    cert, key = certificate
    book = book_with_two_projects()
    server = CallbackListener(book, '127.0.0.1', 0, tls_cert=cert, tls_key=key).start()
    try:
        assert server.base_url.startswith('https://127.0.0.1:')
        url = server.base_url + P1_URL
        # the client verifies by default: a self-signed certificate is refused ...
        with pytest.raises(SendError) as caught:
            http_request(url, 'PUT', json.loads(GOOD), context=ssl_context())
        assert 'TLS verification failed' in caught.value.msg
        # ... plain HTTP to the TLS port does not get through ...
        with pytest.raises((http.client.HTTPException, OSError)):
            request(server, 'PUT', P1_URL, GOOD)
        assert book.status(P1) == PENDING
        # ... and with the CA it works
        assert http_request(url, 'PUT', json.loads(GOOD), context=ssl_context(ca_cert=cert))[0] == 200
        assert book.status(P1) == ACKED
    finally:
        server.stop()


def test_tls_listener_with_a_bad_certificate_is_a_clear_error(tmp_path):
    bad = tmp_path / 'bad.pem'
    bad.write_text('not a certificate')
    with pytest.raises(EscalatorError) as caught:
        CallbackListener(ReplyBook(SESSION), '127.0.0.1', 0, tls_cert=str(bad), tls_key=str(bad)).start()
    assert caught.value.code == E_INVALID_INPUT


# -- HTTP client -------------------------------------------------------------------------------

def test_http_request_reports_connection_refused_and_http_errors(fake_vnfm):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(SendError) as caught:
        http_request('http://127.0.0.1:%d/x' % port, 'POST', {}, timeout=2)
    assert 'cannot connect' in caught.value.msg and caught.value.status is None
    server = fake_vnfm(behaviour='http500')
    with pytest.raises(SendError) as caught:
        http_request(server.url, 'POST', dict(event_type='x', payload={}), timeout=2)
    assert caught.value.status == 500 and 'down' in caught.value.msg


def test_ssl_context_without_verification_is_explicit():
    context = ssl_context(validate_certs=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert ssl_context().verify_mode == ssl.CERT_REQUIRED
