# SPDX-License-Identifier: Apache-2.0
"""campaign_state_info on a status file with the right format marker and a wrong structure: E_STATE, no traceback."""

from __future__ import annotations

import json

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore
from ansible_collections.opnfv.escalator.plugins.modules import campaign_state_info
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module


@pytest.mark.parametrize('damage', [
    lambda s: s.pop('campaign'),
    lambda s: s.update(hosts=[]),
    lambda s: s['hosts']['compute1'].pop('state'),
    lambda s: s['batches'][0].pop('hosts'),
])
def test_a_damaged_status_is_e_state_naming_the_file(tmp_path, damage):
    store = CampaignStore('c1', str(tmp_path))
    store.start(run_id='run-1', plan={'fingerprint': 'f', 'feasible': True,
                                      'batches': [{'batch': 1, 'canary': True, 'hosts': ['compute1']}]})
    store.update_host('compute1', state='draining', phase='evacuate')
    status = json.loads(open(store.status_path, encoding='utf-8').read())
    damage(status)
    with open(store.status_path, 'w', encoding='utf-8') as handle:
        json.dump(status, handle)
    outcome, result = run_module(campaign_state_info, campaign_id='c1', state_dir=str(tmp_path))[:2]
    assert outcome == 'fail', result
    assert result['error_code'] == 'E_STATE' and store.status_path in result['msg'], result
    assert 'exception' not in result
