# SPDX-License-Identifier: Apache-2.0
"""The VNFM reply listener under a hostile flood, on the REAL listener bound to 127.0.0.1.

Bounded in count (about 1300 requests) and in time (the flood phase stops after FLOOD_SECONDS).
"""

import json
import socket
import threading
import time
import concurrent.futures

from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm import listener as vnfm_listener
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import ACKED, ACTIONS
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.replies import Expectation, ReplyBook

SESSION = 'campaign-flood'
P1 = 'p-vnf-a'
I1 = '11111111-1111-4111-8111-111111111111'
TOKEN = 'token-flood-one'
FLOOD_SECONDS = 20.0
CLIENT_TIMEOUT = 3.0


def rss_kib():
    with open('/proc/self/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def listener_threads():
    return sum(1 for thread in threading.enumerate() if 'process_request' in thread.name)


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.max_rss = rss_kib()
        self.max_server_threads = 0
        self.max_threads = threading.active_count()

    def run(self):
        while not self.stop.is_set():
            self.max_rss = max(self.max_rss, rss_kib())
            self.max_server_threads = max(self.max_server_threads, listener_threads())
            self.max_threads = max(self.max_threads, threading.active_count())
            time.sleep(0.005)


def exchange(port, data, shut_write=False, stall=0.0):
    """Send raw bytes, read what comes back (bounded); never raises."""
    try:
        sock = socket.create_connection(('127.0.0.1', port), timeout=CLIENT_TIMEOUT)
    except OSError:
        return 'connect-failed'
    try:
        sock.settimeout(CLIENT_TIMEOUT)
        try:
            sock.sendall(data)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
            if stall:
                time.sleep(stall)
            answer = sock.recv(4096)
        except OSError:
            return 'reset'
        return answer.split(b'\r\n', 1)[0].decode('latin-1') or 'closed'
    finally:
        sock.close()


def request(method, path, headers=(), body=b''):
    head = '%s %s HTTP/1.1\r\nHost: x\r\n' % (method, path)
    for name, value in headers:
        head += '%s: %s\r\n' % (name, value)
    return head.encode('latin-1') + b'\r\n' + body


def test_listener_bounds_memory_threads_and_records_under_a_hostile_flood(monkeypatch):
    # a short whole-request deadline keeps the test short; the defaults are the same mechanism
    monkeypatch.setattr(vnfm_listener, 'REQUEST_DEADLINE', 2.0)
    book = ReplyBook(SESSION)
    book.expect(Expectation(P1, 'PLANNED_MAINTENANCE', [I1], list(ACTIONS), TOKEN))
    listener = vnfm_listener.CallbackListener(book, '127.0.0.1', 0).start()
    port = listener.port
    good_path = '/v1/maintenance/%s/%s?token=%s' % (SESSION, P1, TOKEN)
    long_tail = 'x' * 3000
    big = b'[' + b'1,' * (4 * 1024 * 1024) + b'1]'              # ~8 MiB

    jobs = []
    for i in range(700):                                           # no token / wrong token, long paths
        session, project = (SESSION if i % 2 else 'other'), (P1 if i % 3 else 'nope')
        path = '/v1/maintenance/%s/%s/%s-%d' % (session, project, long_tail, i)
        if i % 4 == 0:
            path += '?token=wrong-%d' % i
        jobs.append((request('PUT', path, [('Content-Length', '2')], b'{}'),))
    for i in range(100):                                           # garbage
        jobs.append((b'\x16\x03\x01\x02\x00garbage %d\r\n\r\n' % i, True))
    for _index in range(40):                                            # negative length + 8 MiB behind it
        jobs.append((request('PUT', good_path, [('Content-Length', '-1')], big), True))
    for _index in range(60):                                            # huge announced length
        jobs.append((request('PUT', good_path, [('Content-Length', str(10 ** 12))], b'{'),))
    for _index in range(50):                                            # lying length, then silence
        jobs.append((request('PUT', good_path, [('Content-Length', '1000')], b'{"a":'), False, 2.5))
    for _index in range(50):                                            # deeply nested JSON, right token
        nested = b'[' * 200000
        jobs.append((request('PUT', good_path, [('Content-Length', str(len(nested)))], nested),))
    for _index in range(30):                                            # no length at all on a PUT
        jobs.append((request('PUT', good_path), False, 0.5))

    sampler = Sampler()
    baseline_rss = rss_kib()
    baseline_threads = threading.active_count()
    sampler.start()
    stalled = []
    genuine = {}
    started = time.monotonic()

    def send_genuine():
        time.sleep(1.0)
        body = json.dumps(dict(session_id=SESSION, state='ACK_PLANNED_MAINTENANCE',
                               instance_actions={I1: 'LIVE_MIGRATE'})).encode()
        while time.monotonic() - started < FLOOD_SECONDS:
            answer = exchange(port, request('PUT', good_path, [('Content-Length', str(len(body)))], body))
            genuine.setdefault('attempts', []).append(answer)
            if ' 200 ' in answer:
                genuine['accepted'] = True
                return
            time.sleep(0.2)

    genuine_thread = threading.Thread(target=send_genuine, daemon=True)
    genuine_thread.start()
    answers = []
    try:
        # 150 slow clients: half a request line, then nothing (and 20 that trickle a byte at a time)
        for i in range(150):
            try:
                sock = socket.create_connection(('127.0.0.1', port), timeout=1.0)
                sock.sendall(b'PUT /v1/mainten')
                stalled.append(sock)
            except OSError:
                answers.append('connect-failed')
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(exchange, port, *job) for job in jobs]
            trickle_until = time.monotonic() + 4.0
            while time.monotonic() < trickle_until:             # the first 20 trickle one byte every 0.3 s
                for sock in stalled[:20]:
                    try:
                        sock.sendall(b'a')
                    except OSError:
                        pass
                time.sleep(0.3)
            # second wave, once the slow clients are cut: no token or a wrong one, on every kind of path
            wave = []
            for i in range(200):
                path = ['/v1/maintenance/%s/%s' % (SESSION, P1), '/v1/maintenance/%s/nope' % SESSION,
                        '/v1/maintenance/other/%s' % P1, '/nothing/here'][i % 4]
                if i % 2:
                    path += '?token=wrong-%d' % i
                wave.append(pool.submit(exchange, port, request('PUT', path, [('Content-Length', '2')], b'{}')))
            futures.extend(wave)
            for future in futures:
                remaining = FLOOD_SECONDS - (time.monotonic() - started)
                try:
                    answers.append(future.result(timeout=max(0.1, remaining)))
                except concurrent.futures.TimeoutError:
                    answers.append('client-timeout')
        genuine_thread.join(timeout=max(0.1, FLOOD_SECONDS - (time.monotonic() - started)))
        # the slow clients were cut by the whole-request deadline, not by a per-read timeout
        time.sleep(1.0)
        server_threads_after = listener_threads()
    finally:
        for sock in stalled:
            sock.close()
        sampler.stop.set()
        sampler.join()
        listener.stop()

    total = len(jobs) + len(wave) + len(stalled) + len(genuine.get('attempts', []))
    growth_mib = (sampler.max_rss - baseline_rss) / 1024.0
    print('flood: %d requests, %d answers, RSS growth %.1f MiB, max listener threads %d, max threads %d '
          '(baseline %d), rejections kept %d of %s, genuine attempts %s'
          % (total, len(answers), growth_mib, sampler.max_server_threads, sampler.max_threads, baseline_threads,
             len(book.rejections), getattr(book, 'rejected_total', '?'), genuine.get('attempts')))
    assert total >= 1000
    assert genuine.get('accepted'), genuine
    assert book.expectations[P1].status() == ACKED
    assert growth_mib < 50, growth_mib
    assert sampler.max_server_threads <= 40, sampler.max_server_threads
    assert sampler.max_threads <= baseline_threads + 16 + 40 + 4, sampler.max_threads
    assert server_threads_after <= 2, server_threads_after
    # the record of refusals is bounded, with short paths, and counts everything
    assert len(book.rejections) <= 20
    assert all(len(r['path']) <= 200 for r in book.rejections)
    assert book.rejected_total >= 900
    # no token, or a wrong one, is 401 whatever the path: routing reveals nothing
    wave_answers = answers[-len(wave):]
    assert not any(' 404 ' in answer for answer in answers)
    assert sum(' 401 ' in answer for answer in wave_answers) >= 150, wave_answers
    assert all(' 401 ' in answer or ' 503 ' in answer for answer in wave_answers), wave_answers
    # the connection cap answered the excess at once
    assert any(' 503 ' in answer for answer in answers)
    assert time.monotonic() - started < FLOOD_SECONDS + 5
