# SPDX-License-Identifier: Apache-2.0
"""Campaign control on the lab (issue 14), one campaign, chained to keep the suite cheap:

run 1  a pause request (escalator pause) while the canary is in flight: the canary is finished, nothing new
       starts, the run exits PAUSED (9) naming who asked and why, the cloud lock is released, and the canary's
       Alertmanager silence is gone;
run 2  the same command outside the maintenance windows: paused again before the next batch (exit 9, kind window);
run 3  the same command in the window, with a test alert firing in a real Alertmanager (Debian prometheus-alertmanager on a
       loopback port): the gate holds the next batch until the alert is resolved; once the batch holds its
       host's silence and the host has started, the run's ansible-playbook is killed (kill -9 of its process
       group): with no run left, the detached watcher expires that silence;
run 4  the same command resumes the killed campaign and finishes it; every silence it created for maintained
       hosts (the killed run's too) is expired at the end. The upgrade phase is expected to
       take 3 s with escalator_hang_multiple 1.5: the host's real upgrade (tens of seconds) is flagged as a
       hang (an alert event at once), and the campaign goes on (the policy only alerts);
commit the done campaign: its hosts are checked, its backups deleted on the hosts and on the controller, it is
       committed, and a rollback of it is refused.

A second campaign (two hosts, escalator_hang_policy fail) makes its second host's notify phase hang (the sample VNF
manager stops replying once the canary is verified): the host is flagged (E_HANG alert), its phase interrupted at its
limit, the host failed and left as it was (its software untouched, out of maintenance); then `escalator rollback
--campaign` rolls the upgraded canary back without VNF outage (the probe), and the campaign ends rolled_back. The
order of a campaign rollback (the last upgraded first) is the playbook's `serial` over the order
state/closing.py gives, tested with more hosts in test_state_closing.py (a third host here cost ~2.5 min).

Maintenance windows are tested in depth with an injected clock (tests/unit/plugins/module_utils/
test_control_windows.py); here a closed window pauses a run and an always-open one lets the next run go.
Two hosts are upgraded (a canary, then one more); the other two are left out (destinations).
"""
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import escalator
from escalator.errors import ExitCode, InputError
from escalator.events import HostPhase
from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
from ansible_collections.opnfv.escalator.plugins.module_utils.control import silences

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(REPO, 'inventories', 'lab', 'hosts.yml')
VNFM = os.path.join(REPO, 'lab', 'vnfm', 'sample_vnfm.py')
PROBE = os.path.join(REPO, 'lab', 'probe', 'probe.py')
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


def _silence(am, silence_id):
    return am.call('GET', '/api/v2/silence/%s' % silence_id)


def _events(state_dir, campaign=CAMPAIGN):
    path = os.path.join(state_dir, campaign, 'events.jsonl')
    with open(path, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _status(state_dir, campaign=CAMPAIGN):
    with open(os.path.join(state_dir, campaign, 'status.json'), encoding='utf-8') as handle:
        return json.load(handle)


def _backups_on(lab, host, campaign):
    return lab.ssh(host, 'test -e /var/backups/escalator/%s' % campaign, check=False).returncode == 0


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
    backups = tmp_path / 'backups'
    settings = {
        'escalator_exclude_hosts': excluded, 'escalator_max_batch_size': 1,
        'escalator_backup_controller_dir': str(backups),
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
            # -- kill -9 once the batch holds its host's silence and the host has started (the gate is over) ----
            campaign_dir = os.path.join(state_dir, CAMPAIGN)
            _wait(lambda: second_host in [e['host'] for e in silences.read_record(campaign_dir)]
                  and _status(state_dir)['hosts'][second_host]['state'] != 'pending', 300,
                  'the second batch to hold its silence')
            silence_id = [e['id'] for e in silences.read_record(campaign_dir) if e['host'] == second_host][-1]
            assert _silence(am, silence_id)['status']['state'] == 'active'
            playbook = run_guard.holder(campaign_dir)['pid']
            assert os.getpgid(playbook) != os.getpgrp()     # its own session (ansible-runner's pty): not ours
            os.killpg(os.getpgid(playbook), signal.SIGKILL)
        finally:
            runner.join(timeout=1500)
        assert 'result' not in outcome or outcome['result'].exit_code != ExitCode.OK, outcome
        # no run any more: the detached watcher alone expires the killed run's silence
        _wait(lambda: _silence(am, silence_id)['status']['state'] == 'expired', 60,
              'the watcher to expire the killed run\'s silence')
        assert run_guard.holder(campaign_dir) is None
        # -- run 4: the same command resumes the killed campaign and finishes it ---------------------------------
        second = escalator.upgrade(CAMPAIGN, INVENTORY, settings, **options)
        assert second.exit_code == ExitCode.OK, (second.exit_code, second.message, second.artifacts)
        status = _status(state_dir)
        assert {h: status['hosts'][h]['state'] for h in hosts} == {h: 'done' for h in hosts}
        assert status['campaign']['state'] == 'done'
        gone = [e for e in _events(state_dir) if e['action'] == 'gate']
        assert gone and max(e['data'].get('waited_s') or 0 for e in gone) >= 6, gone
        hangs = [e for e in _events(state_dir) if e['action'] == 'alert' and e['data'].get('kind') == 'hang']
        assert [(e['object_id'], e['data']['phase']) for e in hangs] == [(second_host, 'upgrade')], hangs
        assert hangs[0]['error_code'] == 'E_HANG' and 'its expected 0:00:03' in hangs[0]['message']
        # every silence of the campaign (one per maintained host and run: the killed run's too) is expired once
        # the run has ended
        _wait(lambda: all(s['status']['state'] == 'expired' for s in am.silences(marker)), 60,
              'every silence to expire after the run')
        assert sorted(s['matchers'][0]['value'].split('(')[0] for s in am.silences(marker)) == sorted(
            hosts + [second_host])

        # -- commit: the hosts are checked, the backups deleted (hosts and controller), the campaign closed ---------
        assert all(_backups_on(lab, h, CAMPAIGN) for h in hosts) and (backups / CAMPAIGN).is_dir()
        committed = escalator.commit(CAMPAIGN, INVENTORY, {'escalator_backup_controller_dir': str(backups)},
                                     **options)
        assert committed.ok, (committed.exit_code, committed.message, committed.artifacts)
        assert _status(state_dir)['campaign']['state'] == 'committed'
        assert not any(_backups_on(lab, h, CAMPAIGN) for h in hosts) and not (backups / CAMPAIGN).exists()
        with pytest.raises(InputError, match='is committed'):
            escalator.rollback(CAMPAIGN, campaign=True, inventory=INVENTORY, **options)
    finally:
        subprocess.run([sys.executable, VNFM, 'stop', '--pid-file', str(tmp_path / 'vnfm.pid')],
                       check=False, capture_output=True, timeout=120)
        am.stop()


def _vnfm_control(**config):
    request = urllib.request.Request('http://127.0.0.1:9310/control', method='POST', data=json.dumps(config).encode(),
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode())


def _version(lab, host):
    return lab.ssh(host, "dpkg-query -W -f='${Version}' lab-kernel").stdout.strip()


def test_a_hang_fails_the_host_then_the_campaign_is_rolled_back(seeded_lab, tmp_path):
    lab = seeded_lab
    campaign = 'ctl-hang-rollback'
    state_dir = str(tmp_path / 'campaigns')
    hosts = lab.hosts[:2]
    settings = {
        'escalator_hosts': hosts, 'escalator_max_batch_size': 1, 'escalator_canary_hosts': 1,
        'escalator_backup_controller_dir': str(tmp_path / 'backups'), 'escalator_vnfm_reply_timeout': 300,
        # the drain of a lab host takes 5 to 30 s: its limit is 3 x (2 + 5 + 10) = 51 s
        'escalator_hang_policy': 'fail', 'escalator_hang_multiple': 3,
        'escalator_expected_phase_seconds': {'maintenance': 2, 'notify': 5, 'evacuate': 10},
    }
    options = dict(clouds_yaml=lab.clouds_yaml, cloud=lab.cloud_name, state_dir=state_dir,
                   private_data_dir=str(tmp_path / 'pdd'))
    probe = str(tmp_path / 'probe')
    try:
        subprocess.run([sys.executable, VNFM, 'start', '--port', '9310', '--pid-file', str(tmp_path / 'vnfm.pid'),
                        '--log', str(tmp_path / 'vnfm.log'), '--clouds', lab.clouds_yaml],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([sys.executable, PROBE, 'start', '--out', probe, '--clouds', lab.clouds_yaml],
                       check=True, capture_output=True, timeout=120)
        # the VNF manager stops replying once the canary is being verified: the second host's notify hangs
        verified = []

        def on_event(event):
            if isinstance(event, HostPhase) and event.phase == 'verify' and event.host not in verified:
                verified.append(event.host)
                _vnfm_control(mode='never')
        run = escalator.upgrade(campaign, INVENTORY, settings, event_handler=on_event, **options)
        assert run.exit_code == ExitCode.FAILED, (run.exit_code, run.message, run.artifacts)
        status = _status(state_dir, campaign)
        upgraded = [h for h in verified if status['hosts'][h]['state'] == 'done']
        hung = [h for h in hosts if h not in verified]
        assert len(upgraded) == 1 and len(hung) == 1, status['hosts']
        record = status['hosts'][hung[0]]
        assert (record['state'], record['error_code']) == ('failed', 'E_HANG'), record
        assert 'hang: ran past its phase' in record['message'], record
        alerts = [e for e in _events(state_dir, campaign) if e['action'] == 'alert' and e['data'].get('kind') == 'hang']
        assert (hung[0], 'notify', 'fail') in [(e['object_id'], e['data']['phase'], e['data']['policy'])
                                                for e in alerts], alerts
        assert lab.compute_service(hung[0]).status == 'enabled' and _version(lab, hung[0]) == '1.0'
        assert status['campaign']['state'] == 'failed'

        # -- the whole campaign rolled back: the last upgraded first, each emptied first -------------------------
        _vnfm_control(mode='ack')
        seen = len(_events(state_dir, campaign))
        back = escalator.rollback(campaign, campaign=True, inventory=INVENTORY,
                                  extravars={'escalator_backup_controller_dir': str(tmp_path / 'backups')}, **options)
        assert back.ok, (back.exit_code, back.message, back.artifacts)
        order = [e['object_id'] for e in _events(state_dir, campaign)[seen:]
                 if e['object_type'] == 'host' and e['action'] == 'maintenance']
        assert order == upgraded[::-1], (order, upgraded)
        status = _status(state_dir, campaign)
        assert status['campaign']['state'] == 'rolled_back'
        assert {h: status['hosts'][h]['state'] for h in upgraded} == {h: 'rolled_back' for h in upgraded}
        assert all(_version(lab, h) == '1.0' for h in upgraded)
        assert all(lab.compute_service(h).status == 'enabled' for h in hosts)
    finally:
        subprocess.run([sys.executable, PROBE, 'stop', '--out', probe], check=False, capture_output=True, timeout=120)
        subprocess.run([sys.executable, VNFM, 'stop', '--pid-file', str(tmp_path / 'vnfm.pid')],
                       check=False, capture_output=True, timeout=120)
    with open(os.path.join(probe, 'summary.json'), encoding='utf-8') as handle:
        outage = {vnf: data['outage_seconds'] for vnf, data in json.load(handle)['vnfs'].items()}
    assert outage and all(seconds == 0 for seconds in outage.values()), outage
