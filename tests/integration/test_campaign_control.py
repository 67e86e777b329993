# SPDX-License-Identifier: Apache-2.0
"""Campaign control on the lab (issue 14), one campaign, chained to keep the suite cheap:

run 1  a pause request (escalator pause) while the canary is in flight: the canary is finished, nothing new
       starts, the run exits PAUSED (9) naming who asked and why, the cloud lock is released, and the canary's
       Alertmanager silence is gone;
run 2  the same command outside the maintenance windows: paused again before the next batch (exit 9, kind window);
run 3  the same command in the window, with a test alert firing in a real Alertmanager (Debian prometheus-alertmanager on a
       loopback port): the gate holds the next batch until the alert is resolved, then the campaign finishes;
       every silence it created for maintained hosts is expired at the end. The upgrade phase is expected to
       take 3 s with escalator_hang_multiple 1.5: the host's real upgrade (tens of seconds) is flagged as a
       hang (an alert event at once), and the campaign goes on (the policy only alerts).

Maintenance windows are tested in depth with an injected clock (tests/unit/plugins/module_utils/
test_control_windows.py); here a closed window pauses a run and an always-open one lets the next run go.
Two hosts are upgraded (a canary, then one more); the other two are left out (destinations).
"""
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import escalator
from escalator.errors import ExitCode
from escalator.events import HostPhase

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(REPO, 'inventories', 'lab', 'hosts.yml')
VNFM = os.path.join(REPO, 'lab', 'vnfm', 'sample_vnfm.py')
ALERTMANAGER = shutil.which('prometheus-alertmanager') or '/usr/bin/prometheus-alertmanager'
CAMPAIGN = 'ctl-pause-alert'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Alertmanager:
    """A real Alertmanager on 127.0.0.1 (no cluster listener), with a receiver that sends nothing."""

    def __init__(self, workdir):
        self.port = _free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        config = workdir / 'alertmanager.yml'
        config.write_text('route: {receiver: none, group_wait: 1s}\nreceivers: [{name: none}]\n')
        self.log = open(workdir / 'alertmanager.log', 'w', encoding='utf-8')  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen([  # pylint: disable=consider-using-with
            ALERTMANAGER, '--config.file=%s' % config, '--storage.path=%s' % (workdir / 'am-data'),
            '--web.listen-address=127.0.0.1:%d' % self.port, '--cluster.listen-address='],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call('GET', '/api/v2/status')
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError('Alertmanager did not start: %s' % (workdir / 'alertmanager.log').read_text())

    def call(self, method, path, body=None):
        request = urllib.request.Request(self.url + path, method=method, data=None if body is None else
                                         json.dumps(body).encode(), headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def fire(self, labels, resolved=False):
        now = datetime.datetime.now(datetime.timezone.utc)
        alert = dict(labels=labels, startsAt=(now - datetime.timedelta(minutes=1)).isoformat())
        if resolved:
            alert['endsAt'] = now.isoformat()
        self.call('POST', '/api/v2/alerts', [alert])

    def silences(self, comment_prefix):
        return [s for s in self.call('GET', '/api/v2/silences') or []
                if s['comment'].startswith(comment_prefix)]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _events(state_dir):
    path = os.path.join(state_dir, CAMPAIGN, 'events.jsonl')
    with open(path, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _status(state_dir):
    with open(os.path.join(state_dir, CAMPAIGN, 'status.json'), encoding='utf-8') as handle:
        return json.load(handle)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError('timed out waiting for %s' % what)


@pytest.mark.skipif(not os.path.exists(ALERTMANAGER), reason='prometheus-alertmanager is not installed '
                    '(scripts/setup installs it)')
def test_pause_request_then_a_firing_alert_holds_the_next_batch(seeded_lab, tmp_path):
    lab = seeded_lab
    excluded, hosts = [lab.hosts[0], lab.hosts[-1]], lab.hosts[1:-1]
    state_dir = str(tmp_path / 'campaigns')
    am = Alertmanager(tmp_path)
    marker = 'escalator:%s:' % CAMPAIGN
    settings = {
        'escalator_exclude_hosts': excluded, 'escalator_max_batch_size': 1,
        'escalator_windows': [{'days': 'daily', 'start': '00:00', 'end': '00:00', 'timezone': 'Europe/Paris'}],
        'escalator_alertmanager': {'url': am.url, 'matchers': ['escalator_test="%s"' % CAMPAIGN], 'wait': 900,
                                   'poll': 2, 'silence': True, 'silence_matchers': ['instance=~"{host}(:[0-9]+)?"']},
    }
    options = dict(clouds_yaml=lab.clouds_yaml, cloud=lab.cloud_name, state_dir=state_dir,
                   private_data_dir=str(tmp_path / 'pdd'))
    try:
        subprocess.run([sys.executable, VNFM, 'start', '--port', '9310', '--pid-file', str(tmp_path / 'vnfm.pid'),
                        '--log', str(tmp_path / 'vnfm.log'), '--clouds', lab.clouds_yaml],
                       check=True, capture_output=True, timeout=120)
        # -- run 1: a pause request while the canary is being emptied ------------------------------------------
        asked = []

        def on_event(event):
            if isinstance(event, HostPhase) and event.phase == 'evacuate' and not asked:
                asked.append(escalator.pause(CAMPAIGN, reason='NOC change freeze', requested_by='lab-test',
                                             state_dir=state_dir))
        first = escalator.upgrade(CAMPAIGN, INVENTORY, settings, event_handler=on_event, **options)
        assert asked and asked[0].ok, asked
        assert first.exit_code == ExitCode.PAUSED, (first.exit_code, first.message, first.artifacts)
        assert first.error_code == 'E_PAUSED' and first.outcome == 'paused'
        assert first.message.startswith('paused before batch 2: pause requested by lab-test: NOC change freeze'), \
            first.message
        status = _status(state_dir)
        canary = [h for h in hosts if status['hosts'][h]['state'] == 'done']
        assert len(canary) == 1, status['hosts']          # the host in flight was finished
        second_host = [h for h in hosts if h not in canary][0]
        assert status['hosts'][second_host]['state'] == 'pending', status['hosts']
        assert status['campaign']['state'] == 'incomplete'
        assert status['campaign']['message'].startswith('paused: pause requested by lab-test'), status['campaign']
        assert 'paused: pause requested by lab-test' in first.table
        report = escalator.read_status(CAMPAIGN, state_dir)
        assert 'expected: ' in report.table and 'left: ' in report.table, report.table
        assert not os.path.exists(os.path.join(state_dir, CAMPAIGN, 'pause-request.json'))
        assert lab.compute_service(canary[0]).status == 'enabled'
        assert lab.compute_service(second_host).status == 'enabled' and not lab.compute_service(second_host).disabled_reason
        # the canary's silence was created, and expired by the gate that paused
        created = [e for e in _events(state_dir) if e['action'] == 'pause_request']
        assert created and created[0]['data']['requested_by'] == 'lab-test'
        _wait(lambda: not am.silences(marker) or all(s['status']['state'] == 'expired' for s in am.silences(marker)),
              30, 'the canary silence to expire')
        assert [s['matchers'][0]['value'] for s in am.silences(marker)] == ['%s(:[0-9]+)?' % canary[0]]

        # -- run 2: the same command outside the maintenance window: paused again before any host ---------------
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)
        closed = [{'days': 'daily', 'start': later.strftime('%H:%M'),
                   'end': (later + datetime.timedelta(minutes=1)).strftime('%H:%M'), 'timezone': 'UTC'}]
        outside = escalator.upgrade(CAMPAIGN, INVENTORY, dict(settings, escalator_windows=closed), **options)
        assert outside.exit_code == ExitCode.PAUSED, (outside.exit_code, outside.message, outside.artifacts)
        assert outside.message.startswith('paused before batch 2: outside the maintenance windows (daily %s-'
                                          % later.strftime('%H:%M')), outside.message
        assert 'next window for it opens' not in outside.message    # one minute is never enough for a batch
        assert _status(state_dir)['hosts'][second_host]['state'] == 'pending'
        finish = [e for e in _events(state_dir) if e['action'] == 'finish'][-1]
        assert finish['data']['paused']['kind'] == 'window', finish

        # -- run 3: the same command in the window while a matching alert fires; resolved once the gate waits ----
        am.fire({'alertname': 'EscalatorLabTest', 'escalator_test': CAMPAIGN, 'instance': 'noc:9100'})
        outcome = {}
        settings = dict(settings, escalator_expected_phase_seconds={'upgrade': 3}, escalator_hang_multiple=1.5)
        runner = threading.Thread(target=lambda: outcome.setdefault(
            'result', escalator.upgrade(CAMPAIGN, INVENTORY, settings, **options)))
        runner.start()
        try:
            _wait(lambda: any(e['action'] == 'gate_wait' for e in _events(state_dir)), 600, 'the gate to wait')
            held = [e for e in _events(state_dir) if e['action'] == 'gate_wait'][-1]
            assert held['data']['kind'] == 'alert' and 'EscalatorLabTest (noc:9100)' in held['message'], held
            time.sleep(6)           # three polls: the batch is still held
            assert _status(state_dir)['hosts'][second_host]['state'] == 'pending'
            am.fire({'alertname': 'EscalatorLabTest', 'escalator_test': CAMPAIGN, 'instance': 'noc:9100'},
                    resolved=True)
        finally:
            runner.join(timeout=1500)
        second = outcome['result']
        assert second.exit_code == ExitCode.OK, (second.exit_code, second.message, second.artifacts)
        status = _status(state_dir)
        assert {h: status['hosts'][h]['state'] for h in hosts} == {h: 'done' for h in hosts}
        assert status['campaign']['state'] == 'done'
        gone = [e for e in _events(state_dir) if e['action'] == 'gate']
        assert gone and gone[-1]['data']['waited_s'] >= 6, gone
        hangs = [e for e in _events(state_dir) if e['action'] == 'alert' and e['data'].get('kind') == 'hang']
        assert [(e['object_id'], e['data']['phase']) for e in hangs] == [(second_host, 'upgrade')], hangs
        assert hangs[0]['error_code'] == 'E_HANG' and 'its expected 0:00:03' in hangs[0]['message']
        # every silence of the campaign (one per maintained host) is expired once the run has ended
        _wait(lambda: all(s['status']['state'] == 'expired' for s in am.silences(marker)), 60,
              'every silence to expire after the run')
        assert sorted(s['matchers'][0]['value'].split('(')[0] for s in am.silences(marker)) == sorted(hosts)
    finally:
        subprocess.run([sys.executable, VNFM, 'stop', '--pid-file', str(tmp_path / 'vnfm.pid')],
                       check=False, capture_output=True, timeout=120)
        am.stop()
