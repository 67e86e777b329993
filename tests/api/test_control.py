# SPDX-License-Identifier: Apache-2.0
"""escalator pause, and a run that paused the campaign exits PAUSED (9) with the reason."""
import json
import os
import subprocess
import sys

import pytest

import escalator
from escalator import api, control, locate
from escalator.errors import ExitCode

ESCALATOR = os.path.join(os.path.dirname(sys.executable), 'escalator')


@pytest.fixture
def running(tmp_path, monkeypatch):
    state_dir = tmp_path / 'state'
    monkeypatch.setenv('ESCALATOR_STATE_DIR', str(state_dir))
    monkeypatch.setenv('ESCALATOR_HOME', str(tmp_path / 'home'))
    state = locate.collection_module('state')
    store = state.CampaignStore('c-night', str(state_dir))
    store.start(run_id='run-1', plan={'batches': [['h1'], ['h2']]})
    return store


def test_pause_writes_a_request_the_gate_consumes(running):
    result = escalator.pause('c-night', reason='NOC incident 4711', requested_by='alice@noc')
    assert result.ok and 'alice@noc: NOC incident 4711' in result.message
    assert 'No run of it is live' in result.message      # nothing holds the run lock in this test
    request = json.load(open(os.path.join(running.path, 'pause-request.json')))
    assert request['requested_by'] == 'alice@noc' and request['run'] == 'run-1'
    assert [e['action'] for e in running.read_events()][-1] == 'pause_request'
    gate = locate.collection_module('control.gate').Gate(running)
    decision = gate.decide(2, ['h2'])
    assert decision['action'] == 'pause' and decision['kind'] == 'request'
    status = api.read_status('c-night')
    assert status.status['campaign']['state'] == 'incomplete'
    assert 'paused: pause requested by alice@noc: NOC incident 4711' in status.table
    assert control.paused_outcome('c-night', None, status.status) == (
        ExitCode.PAUSED, 'paused before batch 2: pause requested by alice@noc: NOC incident 4711')


def test_a_finished_or_unknown_campaign_cannot_be_paused(running, tmp_path):
    running.finish()
    proc = subprocess.run([ESCALATOR, 'pause', '-c', 'c-night', '--reason', 'x'], capture_output=True, text=True,
                          timeout=120, check=False, env=dict(os.environ))
    assert proc.returncode == 2 and 'not running' in proc.stderr
    proc = subprocess.run([ESCALATOR, 'pause', '-c', 'c-none', '--json'], capture_output=True, text=True,
                          timeout=120, check=False, env=dict(os.environ))
    assert proc.returncode == 2 and json.loads(proc.stdout)['ok'] is False and 'not been started' in proc.stdout


def test_cli_pause_and_exit_code_help(running):
    proc = subprocess.run([ESCALATOR, 'pause', '-c', 'c-night', '--by', 'bob'], capture_output=True, text=True,
                          timeout=120, check=False, env=dict(os.environ))
    assert proc.returncode == 0 and 'asked by bob' in proc.stdout
    assert api.OUTCOMES[ExitCode.PAUSED] == 'paused'
    assert any(code == ExitCode.PAUSED for code, _text in escalator.errors.EXIT_CODE_HELP)


def test_a_resumed_campaign_is_not_reported_paused(running):
    escalator.pause('c-night', requested_by='alice')
    locate.collection_module('control.gate').Gate(running).decide(2, ['h2'])
    running.start(run_id='run-2')
    assert control.paused_outcome('c-night', None, running.read_status()) is None
