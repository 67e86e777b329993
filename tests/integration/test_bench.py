# SPDX-License-Identifier: Apache-2.0
"""The benchmark's tiny case end to end on the lab (bench --quick: planner on 20 and 50 hosts, evacuation of one
instance at max_concurrent 1 and with nova host-evacuate-live). No timing asserts: it checks that the bench runs,
writes its outputs, and leaves the lab as it found it."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quick_bench_runs_end_to_end_and_leaves_the_lab_reset(seeded_lab, tmp_path):
    lab = seeded_lab
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=lab.clouds_yaml, OS_CLOUD=lab.cloud_name,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.venv', 'collections'))
    # the fixture holds the lab lock: run the Python bench itself (scripts/bench would wait for the lock)
    proc = subprocess.run([sys.executable, '-m', 'bench.run', '--quick', '--out', str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert 'Planner at scale' in proc.stdout and 'Evacuation of one host' in proc.stdout

    results = json.loads((tmp_path / 'latest.json').read_text())
    assert [p['hosts'] for p in results['planner']] == [20, 50]
    assert all(p['checker'].startswith('every plan valid') for p in results['planner'])
    evac = results['evacuation']
    assert evac['methods'] == ['escalator max_concurrent=1', 'host-evacuate-live']
    for run in evac['runs']:
        assert run['ok'], run
        assert run['migrations']['total'] == 1 and run['migrations']['live'] == 1
        assert run['left_on_host'] == [] and run['destinations'] and evac['source_host'] not in run['destinations']
    for name in ('latest.md', 'planner-scaling.png', 'evacuation.png'):
        assert (tmp_path / name).exists(), name

    # the lab is back: no bench servers, every compute service enabled, the seeded layout
    servers = list(lab.conn.compute.servers(all_projects=True))
    assert not [s.name for s in servers if s.name.startswith('bench-')]
    services = lab.conn.compute.services(binary='nova-compute')
    assert all(s.status == 'enabled' for s in services)
    status = lab.status()
    assert sum(len(h['servers']) for h in status['hosts']) == 8
