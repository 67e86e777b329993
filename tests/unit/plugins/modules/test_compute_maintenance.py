# SPDX-License-Identifier: Apache-2.0
"""compute_maintenance as Ansible runs it: arguments, check mode, diff, results, failures."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.modules import compute_maintenance
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

CAMPAIGN = 'upgrade-2026-01'
OURS = 'escalator:upgrade-2026-01: compute upgrade'


def run(fake, check_mode=False, diff=False, **args):
    """Run the module's main(); returns (outcome, result, warnings, connect)."""
    return run_module(compute_maintenance, fake, check_mode=check_mode, diff=diff, **args)


@pytest.fixture
def hosts(cloud):
    cloud.add_host('compute1')
    cloud.add_host('compute2')
    cloud.add_server('vnf-a', 'compute1')
    return cloud


def changes(cloud):
    return [c for c in cloud.calls if c[0] in ('disable_service', 'enable_service')]


def test_into_maintenance(hosts):
    outcome, result, warnings, connect = run(hosts, host='compute1', campaign_id=CAMPAIGN, cloud='lab')
    assert outcome == 'exit'
    assert result['changed'] is True and result['ours'] is True and result['action'] == 'disable'
    assert result['msg'] == 'compute1 disabled for campaign %s (1 instances on it)' % CAMPAIGN
    assert result['service']['disabled_reason'] == OURS
    assert result['instances'][0]['name'] == 'vnf-a'
    assert result['diff'] == dict(before=dict(status='enabled', disabled_reason=None),
                                  after=dict(status='disabled', disabled_reason=OURS))
    assert warnings == []
    assert connect.call_args[0][0]['cloud'] == 'lab'
    assert hosts.hosts['compute1'].disabled_reason == OURS


def test_idempotent(hosts):
    run(hosts, host='compute1', campaign_id=CAMPAIGN)
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'exit' and result['changed'] is False
    assert result['msg'].startswith('compute1 already in maintenance by campaign')
    assert len(changes(hosts)) == 1


def test_check_mode(hosts):
    outcome, result, *ignored = run(hosts, check_mode=True, diff=True, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'exit' and result['changed'] is True
    assert result['msg'].startswith('compute1 would be disabled')
    assert result['diff']['after']['status'] == 'disabled'
    assert changes(hosts) == [] and hosts.hosts['compute1'].status == 'enabled'


def test_out_of_maintenance(hosts):
    run(hosts, host='compute1', campaign_id=CAMPAIGN)
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN, state='active', list_instances=False)
    assert outcome == 'exit' and result['changed'] is True and result['ours'] is False
    assert result['msg'] == 'compute1 enabled again by campaign %s' % CAMPAIGN
    assert 'instances' not in result
    assert hosts.hosts['compute1'].status == 'enabled'
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN, state='active')
    assert result['changed'] is False and result['msg'] == 'compute1 already enabled (1 instances on it)'


def test_check_mode_active(hosts):
    run(hosts, host='compute1', campaign_id=CAMPAIGN)
    outcome, result, *ignored = run(hosts, check_mode=True, host='compute1', campaign_id=CAMPAIGN, state='active')
    assert result['changed'] and result['msg'].startswith('compute1 would be enabled again')
    assert hosts.hosts['compute1'].status == 'disabled'


def test_reason(hosts):
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id='c2', reason='kernel upgrade')
    assert hosts.hosts['compute1'].disabled_reason == 'escalator:c2: kernel upgrade'
    assert result['disabled_reason'] == 'escalator:c2: kernel upgrade'


def test_not_ours_fails_with_code(hosts):
    hosts.hosts['compute1'].status = 'disabled'
    hosts.hosts['compute1'].disabled_reason = 'RMA ticket 4711'
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'fail'
    assert result['error_code'] == 'E_NOT_OURS'
    assert 'RMA ticket 4711' in result['msg']
    assert result['disabled_reason'] == 'RMA ticket 4711'
    assert changes(hosts) == []


def test_force_warns_and_says_so(hosts):
    hosts.hosts['compute1'].status = 'disabled'
    hosts.hosts['compute1'].disabled_reason = 'RMA ticket 4711'
    outcome, result, warnings, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN, force=True)
    assert outcome == 'exit' and result['forced'] is True and result['changed'] is True
    assert "FORCED over 'RMA ticket 4711'" in result['msg']
    assert len(warnings) == 1 and 'RMA ticket 4711' in warnings[0]


def test_allow_down(hosts):
    hosts.hosts['compute1'].state = 'down'
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'fail' and result['error_code'] == 'E_SERVICE_DOWN'
    assert result['service']['state'] == 'down'
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN, allow_down=True)
    assert outcome == 'exit' and result['changed']


def test_unknown_host(hosts):
    outcome, result, *ignored = run(hosts, host='compute3', campaign_id=CAMPAIGN)
    assert outcome == 'fail' and result['error_code'] == 'E_HOST_NOT_FOUND'
    assert result['known_hosts'] == ['compute1', 'compute2']


def test_ambiguous_host(hosts):
    hosts.duplicate_services['compute1'] = 2
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'fail' and result['error_code'] == 'E_HOST_AMBIGUOUS'


def test_forbidden(hosts):
    hosts.forbidden.add('disable_service')
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'fail' and result['error_code'] == 'E_FORBIDDEN'
    assert result['status_code'] == 403 and result['request_method'] == 'POST'


def test_undo_is_reported(hosts):
    hosts.forbidden.add('servers')
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id=CAMPAIGN)
    assert outcome == 'fail' and result['rolled_back'] is True
    assert hosts.hosts['compute1'].status == 'enabled'


def test_invalid_campaign_id(hosts):
    outcome, result, *ignored = run(hosts, host='compute1', campaign_id='not valid')
    assert outcome == 'fail' and result['error_code'] == 'E_INVALID_INPUT'


@pytest.mark.parametrize('args, complaint', [
    (dict(host='compute1'), 'campaign_id'),
    (dict(campaign_id=CAMPAIGN), 'host'),
    (dict(host='compute1', campaign_id=CAMPAIGN, state='disabled'), 'state'),
    (dict(host='compute1', campaign_id=CAMPAIGN, force='perhaps'), 'force'),
    (dict(host='compute1', campaign_id=CAMPAIGN, bogus=1), 'bogus'),
])
def test_argument_validation(hosts, args, complaint):
    outcome, result, *ignored, connect = run(hosts, **args)
    assert outcome == 'fail' and complaint in result['msg']
    connect.assert_not_called()


def test_argument_spec_matches_documentation(check_argument_spec):
    check_argument_spec(compute_maintenance, 'default', 'choices', 'required')


def test_return_documents_every_key(hosts):
    import yaml
    doc = yaml.safe_load(compute_maintenance.RETURN)
    result = run(hosts, host='compute1', campaign_id=CAMPAIGN)[1]
    assert set(result) - {'changed', 'diff'} == set(doc)
    assert set(result['service']) == set(doc['service']['contains'])
    assert set(result['previous']) == set(doc['previous']['contains'])
    assert set(result['instances'][0]) == set(doc['instances']['contains'])
