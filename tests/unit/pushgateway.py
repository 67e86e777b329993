# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus Pushgateway (Debian package prometheus-pushgateway, installed by scripts/setup) on a loopback
port, with basic auth, for the metrics tests (unit and lab); and a reader of what it holds."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
import warnings

BINARY = 'prometheus-pushgateway'
USER, PASSWORD = 'escalator', 'pg-s3cret-word'


def available():
    return shutil.which(BINARY) is not None


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _bcrypt(password):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        import crypt  # pylint: disable=import-outside-toplevel,deprecated-module
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))


class Gateway:
    def __init__(self, port):
        self.port = port
        self.base = 'http://127.0.0.1:%d' % port
        self.url_with_credentials = 'http://%s:%s@127.0.0.1:%d' % (USER, PASSWORD, port)

    def get(self, path):
        token = base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()
        request = urllib.request.Request(self.base + path, headers={'Authorization': 'Basic ' + token})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=5) as answer:
            return answer.read().decode('utf-8')

    def groups(self):
        """{campaign: {metric name: [(labels, value), ...]}} from the gateway's API."""
        found = {}
        for group in json.loads(self.get('/api/v1/metrics'))['data']:
            campaign = group['labels'].get('campaign')
            metrics = found.setdefault(campaign, {})
            for name, family in group.items():
                if not isinstance(family, dict) or 'metrics' not in family:
                    continue
                for sample in family['metrics']:
                    if 'value' in sample:
                        metrics.setdefault(name, []).append((sample.get('labels', {}), float(sample['value'])))
                    else:       # a summary: its _sum and _count
                        metrics.setdefault(name + '_sum', []).append((sample.get('labels', {}), float(sample['sum'])))
                        metrics.setdefault(name + '_count', []).append((sample.get('labels', {}),
                                                                        float(sample['count'])))
        return found

    def value(self, campaign, name, **labels):
        for sample_labels, value in self.groups().get(campaign, {}).get(name, []):
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                return value
        return None


@contextlib.contextmanager
def running(tmp_path):
    """A Pushgateway on a free loopback port with basic auth (USER, PASSWORD), stopped at the end."""
    config = tmp_path / 'pushgateway-web.yml'
    config.write_text('basic_auth_users:\n  %s: %s\n' % (USER, _bcrypt(PASSWORD)))
    port = free_port()
    log = open(tmp_path / 'pushgateway.log', 'w', encoding='utf-8')  # pylint: disable=consider-using-with
    proc = subprocess.Popen([BINARY, '--web.listen-address=127.0.0.1:%d' % port, '--web.config.file=%s' % config,
                             '--persistence.file=%s' % (tmp_path / 'pushgateway.data')],
                            stdout=log, stderr=subprocess.STDOUT)
    gateway = Gateway(port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                gateway.get('/-/ready')
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('the Pushgateway did not start: %s'
                                       % (tmp_path / 'pushgateway.log').read_text(encoding='utf-8'))
                time.sleep(0.1)
        yield gateway
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
