# SPDX-License-Identifier: Apache-2.0
"""scripts/campaign_report.py and state.render_table for a campaign that stopped before it started (E_LOCK,
E_PLAN, precheck): no status.json, or a status without plan or hosts."""
import importlib.util
import os

from ansible_collections.opnfv.escalator.plugins.module_utils import state

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_report():
    spec = importlib.util.spec_from_file_location('campaign_report', os.path.join(REPO, 'scripts', 'campaign_report.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_of_a_campaign_refused_before_its_start(tmp_path):
    text = load_report().status_table('refused-1', str(tmp_path))
    assert text.startswith('Campaign refused-1: never started (no status recorded: it stopped before its start')
    assert str(tmp_path / 'refused-1' / 'status.json') in text


def test_render_table_without_status_plan_or_hosts():
    assert state.render_table(None, campaign_id='c9').startswith('Campaign c9: never started')
    assert state.render_table(None).startswith('Campaign ?: never started')
    bare = {'campaign': {'id': 'c9', 'state': 'incomplete', 'run': 'r1', 'runs': ['r1'], 'started': None,
                         'finished': None, 'updated': None, 'message': 'plan refused (E_PLAN)'},
            'batches': None, 'hosts': None}
    text = state.render_table(bare)
    assert text.splitlines()[0].startswith('Campaign c9: incomplete (run r1, 1 run)')
    assert '(no hosts)' in text and 'hosts: 0 (none); batches: 0/0 done' in text and 'plan refused (E_PLAN)' in text
