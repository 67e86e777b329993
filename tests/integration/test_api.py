# SPDX-License-Identifier: Apache-2.0
"""The Python API and the `escalator` CLI against the lab: a real campaign through ansible-runner,
its events and status, and the failures an operator meets first (bad credentials, lock held)."""
import json
import os
import subprocess
import sys

import pytest
import yaml

import escalator
from escalator.errors import ExitCode
from escalator.events import HostPhase, TaskResult

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(REPO, 'playbooks')
INVENTORY = os.path.join(REPO, 'inventories', 'lab', 'hosts.yml')
VENV_BIN = os.path.dirname(sys.executable)
ESCALATOR = os.path.join(VENV_BIN, 'escalator')
VNFM = os.path.join(REPO, 'lab', 'vnfm', 'sample_vnfm.py')
IN_ORDER = ['maintenance', 'evacuate', 'upgrade', 'verify']


def _cli(lab, tmp_path, *args, timeout=900):
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=lab.clouds_yaml, OS_CLOUD=lab.cloud_name,
               ESCALATOR_HOME=str(tmp_path / 'home'), ESCALATOR_STATE_DIR=str(tmp_path / 'campaigns'))
    return subprocess.run([ESCALATOR] + list(args), capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def _agent_version(lab, host):
    return lab.ssh(host, "dpkg-query -W -f '${Version}' lab-compute-agent").stdout.strip()


def test_api_upgrade_campaign_on_two_hosts(seeded_lab, tmp_path):
    lab = seeded_lab
    excluded, upgraded = lab.hosts[:2], lab.hosts[2:]
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    subprocess.run([sys.executable, VNFM, 'start', '--port', '9310', '--pid-file', str(run_dir / 'vnfm.pid'),
                    '--log', str(run_dir / 'vnfm.log'), '--clouds', lab.clouds_yaml],
                   check=True, capture_output=True, timeout=120)
    events = []
    try:
        result = escalator.upgrade('api-two-hosts', INVENTORY, {'escalator_exclude_hosts': excluded},
                                   clouds_yaml=lab.clouds_yaml, cloud=lab.cloud_name,
                                   state_dir=str(tmp_path / 'campaigns'), private_data_dir=str(tmp_path / 'pdd'),
                                   event_handler=events.append)
    finally:
        subprocess.run([sys.executable, VNFM, 'stop', '--pid-file', str(run_dir / 'vnfm.pid')],
                       check=False, capture_output=True, timeout=120)
    assert result.exit_code == ExitCode.OK, (result.error_code, result.message, result.artifacts)
    assert result.rc == 0 and result.outcome == 'ok' and result.error_code is None
    # typed events: every upgraded host went through maintenance -> evacuate -> upgrade -> verify -> done
    for host in upgraded:
        phases = [e.phase for e in events if isinstance(e, HostPhase) and e.host == host]
        assert [p for p in phases if p in IN_ORDER] == IN_ORDER, phases
        assert [e.state for e in events if isinstance(e, HostPhase) and e.host == host][-1] == 'done'
        assert any(isinstance(e, TaskResult) and e.host == host and e.phase == 'upgrade' and e.role for e in events)
    assert not [e for e in events if isinstance(e, HostPhase) and e.host in excluded]
    assert not [e for e in events if isinstance(e, TaskResult) and e.failed]
    # the final status, from the state store
    assert result.status['campaign']['state'] == 'done'
    assert {h: r['state'] for h, r in result.status['hosts'].items()} == dict(
        {h: 'skipped' for h in excluded}, **{h: 'done' for h in upgraded})
    assert 'api-two-hosts: done' in result.table
    assert {h: _agent_version(lab, h) for h in lab.hosts} == dict(
        {h: '1.0' for h in excluded}, **{h: '2.0' for h in upgraded})
    # nothing secret under the runner's directory
    for root, _dirs, files in os.walk(result.private_data_dir):
        for name in files:
            with open(os.path.join(root, name), 'rb') as handle:
                assert b'lab-secret' not in handle.read(), os.path.join(root, name)
    # the CLI reads the same status
    proc = _cli(lab, tmp_path, 'status', '-c', 'api-two-hosts', '--json')
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report['status']['campaign']['state'] == 'done' and report['summary']['done'] == 2
    proc = _cli(lab, tmp_path, 'status', '-c', 'api-two-hosts')
    assert proc.returncode == 0 and 'Campaign api-two-hosts: done' in proc.stdout


def test_cli_bad_credentials_exit_5(exclusive_lab, tmp_path):
    lab = exclusive_lab
    with open(lab.clouds_yaml, encoding='utf-8') as handle:
        clouds = yaml.safe_load(handle)
    clouds['clouds'][lab.cloud_name]['auth']['password'] = 'wrong-password-0815'
    bad = tmp_path / 'clouds.yaml'
    bad.write_text(yaml.safe_dump(clouds))
    proc = _cli(lab, tmp_path, 'plan', '-c', 'api-bad-creds', '-i', INVENTORY, '--clouds-yaml', str(bad),
                '--json', timeout=300)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc['outcome'] == 'cloud_error' and doc['error_code'] == 'E_AUTH', doc
    assert 'credentials rejected' in proc.stderr
    for root, _dirs, files in os.walk(tmp_path / 'home'):
        for name in files:
            with open(os.path.join(root, name), 'rb') as handle:
                assert b'wrong-password-0815' not in handle.read()


def _lock(lab, tmp_path, campaign_id, state):
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=lab.clouds_yaml, ANSIBLE_COLLECTIONS_PATH=os.path.join(
        REPO, '.venv', 'collections'))
    args = dict(campaign_id=campaign_id, state=state, cloud=lab.cloud_name)
    if state == 'present':
        args['holder'] = 'test-api@elsewhere'
    subprocess.run([os.path.join(VENV_BIN, 'ansible'), 'localhost', '-m', 'opnfv.escalator.campaign_lock',
                    '-a', json.dumps(args)], cwd=PLAYBOOKS, env=env, capture_output=True, text=True, check=True,
                   timeout=300)


def test_cli_upgrade_while_another_campaign_holds_the_lock_exits_4(exclusive_lab, tmp_path):
    lab = exclusive_lab
    _lock(lab, tmp_path, 'api-other-campaign', 'present')
    try:
        proc = _cli(lab, tmp_path, 'upgrade', '-c', 'api-locked-out', '-i', INVENTORY, '--yes', timeout=300)
    finally:
        _lock(lab, tmp_path, 'api-other-campaign', 'absent')
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert 'locked (exit 4) [E_LOCK]' in proc.stderr
    assert 'api-other-campaign' in proc.stderr and 'test-api@elsewhere' in proc.stderr
    report = escalator.read_status('api-locked-out', str(tmp_path / 'campaigns'))
    assert not report.exists, 'a locked-out campaign must not start'
