# SPDX-License-Identifier: Apache-2.0
"""`escalator status` and api.read_status on a status file with the right format marker and a wrong
structure: a clear error naming the file, not a KeyError traceback."""
import json
import os
import subprocess
import sys

import pytest

from escalator import api
from escalator.errors import InputError

ESCALATOR = os.path.join(os.path.dirname(sys.executable), 'escalator')


@pytest.fixture
def damaged(tmp_path, monkeypatch):
    state_dir = tmp_path / 'state'
    (state_dir / 'c-bad').mkdir(parents=True)
    path = state_dir / 'c-bad' / 'status.json'
    path.write_text(json.dumps({'format': 'escalator-status/1', 'campaign': {'id': 'c-bad'}, 'hosts': [],
                                'batches': []}))
    monkeypatch.setenv('ESCALATOR_STATE_DIR', str(state_dir))
    monkeypatch.setenv('ESCALATOR_HOME', str(tmp_path / 'home'))
    return str(path)


def test_api_read_status_names_the_file(damaged):
    with pytest.raises(InputError) as err:
        api.read_status('c-bad')
    assert damaged in str(err.value) and 'structure' in str(err.value)


@pytest.mark.parametrize('extra', [[], ['--json']])
def test_cli_status_reports_a_damaged_status_file_without_a_traceback(damaged, extra):
    proc = subprocess.run([ESCALATOR, 'status', '-c', 'c-bad'] + extra, capture_output=True, text=True,
                          timeout=120, check=False, env=dict(os.environ))
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr + proc.stdout and 'KeyError' not in proc.stderr + proc.stdout
    assert damaged in proc.stderr + proc.stdout
    listing = subprocess.run([ESCALATOR, 'status', '--json'], capture_output=True, text=True, timeout=120,
                             check=False, env=dict(os.environ))
    assert listing.returncode == 0 and 'Traceback' not in listing.stderr, listing.stderr
    assert [c['id'] for c in json.loads(listing.stdout)] == ['c-bad']


def test_a_running_campaign_with_no_live_run_is_said_to_be_interrupted(tmp_path, monkeypatch):
    """kill -9 leaves 'running' behind (nothing ran to close it): the status must say no run is live."""
    from escalator import locate
    state = locate.collection_module('state')
    run_guard = locate.collection_module('run_guard')
    monkeypatch.setenv('ESCALATOR_HOME', str(tmp_path / 'home'))
    store = state.CampaignStore('c-killed', str(tmp_path / 'state'))
    store.start(run_id='run-1', plan={'batches': [['compute1']]})
    report = api.read_status('c-killed', str(tmp_path / 'state'))
    assert report.status['campaign']['state'] == 'running'
    assert 'the last run was interrupted' in report.table
    held = run_guard.take(store.path, run_id='run-1')       # a live run holds the run lock: no such line
    try:
        assert 'interrupted' not in api.read_status('c-killed', str(tmp_path / 'state')).table
    finally:
        held.close()
