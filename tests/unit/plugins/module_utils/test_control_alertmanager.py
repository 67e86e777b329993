# SPDX-License-Identifier: Apache-2.0
"""The Alertmanager client against hostile servers on 127.0.0.1, and the silences' bookkeeping.

Bounded timeouts and sizes, no credential to another origin on a redirect, garbage answers refused with a
sentence; silences recorded as soon as they exist and expired (recorded or found by their marker).
"""

import datetime
import json
import time

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.control import alertmanager as am
from ansible_collections.opnfv.escalator.plugins.module_utils.control import silences


def json_answer(document, status=200):
    return lambda _handler: (status, {'Content-Type': 'application/json'}, json.dumps(document).encode())


def test_redirect_to_another_origin_is_refused_and_the_token_never_leaves(http_server):
    other = http_server(json_answer([]))
    first = http_server(lambda _h: (307, {'Location': other.url + '/api/v2/alerts?x=secret'}, b''))
    client = am.Client(first.url, token='s3cret-token', timeout=5)
    with pytest.raises(am.AlertmanagerError) as caught:
        client.firing([])
    assert 'redirect' in caught.value.msg and other.url in caught.value.msg and 'secret' not in caught.value.msg
    assert other.requests == []
    assert first.requests[0]['headers']['Authorization'] == 'Bearer s3cret-token'


def test_a_slow_server_is_bounded_by_the_timeout(http_server):
    slow = http_server(lambda _h: (time.sleep(3), (200, {}, b'[]'))[1])
    client = am.Client(slow.url, timeout=1)
    started = time.monotonic()
    with pytest.raises(am.AlertmanagerError) as caught:
        client.firing([])
    assert time.monotonic() - started < 2.5 and 'failed' in caught.value.msg


def test_a_huge_answer_is_refused_not_parsed(http_server):
    huge = http_server(lambda _h: (200, {}, b'[' + b'{"labels": {}},' * (am.MAX_ANSWER // 14) + b'{"labels": {}}]'))
    with pytest.raises(am.AlertmanagerError, match='larger than'):
        am.Client(huge.url, timeout=5).firing([])


@pytest.mark.parametrize('body, words', [
    (b'<html>login</html>', 'not JSON'),
    (b'{"alerts": []}', 'did not answer a list'),
    (b'[{"labels": "x"}]', 'without labels'),
])
def test_garbage_answers_are_refused_with_a_sentence(http_server, body, words):
    server = http_server(lambda _h: (200, {}, body))
    with pytest.raises(am.AlertmanagerError, match=words):
        am.Client(server.url, timeout=5).firing([])


def test_http_error_and_connection_refused(http_server):
    server = http_server(lambda _h: (401, {}, b'unauthorized'))
    with pytest.raises(am.AlertmanagerError, match='HTTP 401'):
        am.Client(server.url, timeout=5).firing([])
    with pytest.raises(am.AlertmanagerError, match='cannot connect'):
        am.Client('http://127.0.0.1:1', timeout=5).firing([])


@pytest.mark.parametrize('url', ['ftp://x', 'http://user:pw@127.0.0.1:9093', 'http://127.0.0.1:9093/?token=x',
                                 'not a url', None])
def test_bad_urls_are_refused_without_echoing_secrets(url):
    with pytest.raises(am.AlertmanagerError) as caught:
        am.Client(url)
    assert caught.value.code == 'E_INVALID_INPUT' and 'pw' not in caught.value.msg and 'token=x' not in caught.value.msg


def test_matchers_parse_and_the_filter_is_sent(http_server):
    server = http_server(json_answer([{'labels': {'alertname': 'NodeDown', 'severity': 'critical'},
                                       'status': {'state': 'active'}},
                                      {'labels': {'alertname': 'Old'}, 'status': {'state': 'suppressed'}}]))
    matchers = [am.parse_matcher('severity="critical"'), am.parse_matcher('alertname=~"Node.*"')]
    firing = am.Client(server.url, timeout=5).firing(matchers)
    assert [a['name'] for a in firing] == ['NodeDown']
    path = server.requests[0]['path']
    assert 'silenced=false' in path and 'filter=severity%3D%22critical%22' in path
    for bad in ('severity=critical', 'a b="c"', 'x=~"("', 42):
        with pytest.raises(am.AlertmanagerError) as caught:
            am.parse_matcher(bad)
        assert caught.value.code == 'E_INVALID_INPUT'
    assert am.matcher_text(am.parse_matcher(r'job="a\"b"')) == r'job="a\"b"'


def test_silences_are_recorded_as_created_and_expired_once(http_server, tmp_path):
    made, expired = [], []

    def answer(handler):
        if handler.command == 'POST':
            made.append(1)
            return 200, {}, json.dumps({'silenceID': 'sil-%d' % len(made)}).encode()
        if handler.command == 'DELETE':
            expired.append(handler.path.rsplit('/', 1)[1])
            return 200, {}, b''
        return 200, {}, json.dumps([
            {'id': 'sil-orphan', 'comment': 'escalator:c1: compute9 is in maintenance', 'status': {'state': 'active'}},
            {'id': 'sil-other', 'comment': 'escalator:c2: x', 'status': {'state': 'active'}},
            {'id': 'sil-old', 'comment': 'escalator:c1: y', 'status': {'state': 'expired'}}]).encode()
    server = http_server(answer)
    client = am.Client(server.url, timeout=5)
    now = datetime.datetime(2026, 12, 8, 22, 0, tzinfo=datetime.timezone.utc)
    created = silences.create(client, str(tmp_path), 'c1', ['compute1', 'compute.2'], ['instance=~"{host}(:[0-9]+)?"'],
                              now, 3600)
    assert [e['id'] for e in created] == ['sil-1', 'sil-2'] and created[0]['ends'] == '2026-12-08T23:00:00.000Z'
    assert [e['host'] for e in silences.read_record(str(tmp_path))] == ['compute1', 'compute.2']
    body = json.loads([r for r in server.requests if r['method'] == 'POST'][1]['body'])
    assert body['matchers'] == [{'name': 'instance', 'value': r'compute\.2(:[0-9]+)?', 'isRegex': True,
                                 'isEqual': True}]
    assert body['comment'].startswith('escalator:c1: compute.2')
    # the recorded ones and the orphan of a killed run (found by its marker); never another campaign's
    assert silences.expire_all(client, str(tmp_path), 'c1') == ['sil-1', 'sil-2', 'sil-orphan']
    assert expired == ['sil-1', 'sil-2', 'sil-orphan'] and silences.read_record(str(tmp_path)) == []


def test_an_already_expired_silence_is_not_an_error(http_server):
    server = http_server(lambda _h: (404, {}, b'silence not found'))
    assert am.Client(server.url, timeout=5).expire_silence('abc-1') is False


def test_the_watcher_expires_the_silences_when_the_run_is_killed(http_server, tmp_path):
    """kill -9 of the run: the kernel drops its run lock, the detached watcher sees it and expires the silences."""
    import os
    import signal
    import subprocess
    import sys
    deleted = []

    def answer(handler):
        if handler.command == 'POST':
            return 200, {}, b'{"silenceID": "sil-1"}'
        if handler.command == 'DELETE':
            deleted.append(handler.path)
            return 200, {}, b''
        return 200, {}, b'[]'
    server = http_server(answer)
    client = am.Client(server.url, timeout=5)
    campaign_dir = str(tmp_path / 'c1')
    os.makedirs(campaign_dir)
    run = subprocess.Popen([sys.executable, '-c', (
        'import sys, time\n'
        'from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard\n'
        'handle = run_guard.take(sys.argv[1], run_id="run-1")\n'
        'print("held" if handle else "busy", flush=True)\n'
        'time.sleep(600)\n'), campaign_dir], stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert run.stdout.readline().strip() == 'held'
        silences.create(client, campaign_dir, 'c1', ['compute1'], ['instance="{host}"'],
                        datetime.datetime.now(datetime.timezone.utc), 600)
        assert silences.start_watcher(client, campaign_dir, 'c1', 60, poll=0.2) is True
        assert silences.start_watcher(client, campaign_dir, 'c1', 60, poll=0.2) is False   # one is enough
        time.sleep(1.0)
        assert deleted == []                # the run is alive: its silences stay
        os.kill(run.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        # the watcher expires the silence, then rewrites its record: wait for both (the DELETE arrives first)
        while (not deleted or silences.read_record(campaign_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if run.poll() is None:
            run.kill()
        run.wait()
    assert deleted == ['/api/v2/silence/sil-1']
    assert silences.read_record(campaign_dir) == []
