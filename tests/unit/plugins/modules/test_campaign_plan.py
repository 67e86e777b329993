# SPDX-License-Identifier: Apache-2.0
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.modules import campaign_plan


def build(cloud, hosts=4, spare=True):
    for index in range(1, hosts + 1):
        cloud.add_host('compute%d' % index, vcpus=8, memory_mb=8192, disk_gb=100)
    group = cloud.add_group('vnf-a-pair', project_id='p-vnf-a')
    cloud.add_server('vnf-a-1', 'compute1', project_id='p-vnf-a', group=group)
    cloud.add_server('vnf-a-2', 'compute2', project_id='p-vnf-a', group=group)
    cloud.add_server('web-1', 'compute2')
    cloud.add_server('db-1', 'compute3', status='SHUTOFF')
    if not spare:
        cloud.add_server('filler', 'compute4')
    return group


def run_module(monkeypatch, cloud, capsys, **args):
    monkeypatch.setattr('ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect',
                        lambda params, sdk=None: cloud)
    args.setdefault('campaign_id', 'c1')
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            campaign_plan.main()
    return json.loads(capsys.readouterr().out)


def test_plan_puts_the_empty_host_first_and_moves_each_instance_once(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys)
    assert result['feasible'] is True
    assert result['batches'][0] == ['compute4']
    assert sorted(h for batch in result['batches'] for h in batch) == ['compute1', 'compute2', 'compute3', 'compute4']
    assert result['plan']['summary']['max_moves_per_instance'] == 1
    assert result['violations'] == []
    assert 'compute4' in result['table']
    # every evacuated host prefers already-upgraded hosts, and never itself
    for host, destinations in result['destinations'].items():
        assert host not in destinations


def test_plan_is_checked_by_the_independent_checker(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys)
    data = host_info.collect(cloud)
    options = campaign_plan.planner_options(dict(campaign_id='c1', max_batch_size='auto', max_batch_percent=25,
                                                 canary_hosts=1))
    assert check_plan(data['hosts'], data['server_groups'], options, result['plan']) == []
    broken = json.loads(json.dumps(result['plan']))
    broken['batches'][0]['hosts'] = broken['batches'][0]['hosts'] + broken['batches'][1]['hosts']
    assert check_plan(data['hosts'], data['server_groups'], options, broken)


def test_a_plan_that_breaks_a_rule_is_refused(monkeypatch, cloud, capsys):
    build(cloud)
    monkeypatch.setattr(campaign_plan, 'check_plan', lambda *args: ['batch 1: 2 hosts, max_batch_size 1'])
    result = run_module(monkeypatch, cloud, capsys)
    assert result['failed'] is True
    assert result['error_code'] == 'E_PLAN'
    assert result['violations'] == ['batch 1: 2 hosts, max_batch_size 1']


def test_budget_zero_with_no_spare_capacity_is_refused_with_the_reason(monkeypatch, cloud, capsys):
    for index in (1, 2):
        cloud.add_host('compute%d' % index, vcpus=1, memory_mb=512, disk_gb=1)
    group = cloud.add_group('vnf-a-pair')
    cloud.add_server('vnf-a-1', 'compute1', group=group)
    cloud.add_server('vnf-a-2', 'compute2', group=group)
    result = run_module(monkeypatch, cloud, capsys)
    assert result['failed'] is True
    assert result['error_code'] == 'E_PLAN'
    assert result['reasons']
    assert 'no valid plan' in result['msg']


def test_infeasible_plan_can_be_returned_without_failing(monkeypatch, cloud, capsys):
    for index in (1, 2):
        cloud.add_host('compute%d' % index, vcpus=1, memory_mb=512, disk_gb=1)
    group = cloud.add_group('vnf-a-pair')
    cloud.add_server('vnf-a-1', 'compute1', group=group)
    cloud.add_server('vnf-a-2', 'compute2', group=group)
    result = run_module(monkeypatch, cloud, capsys, fail_when_infeasible=False)
    assert result.get('failed') is not True
    assert result['feasible'] is False
    assert result['plan']['reasons']


def test_stale_fingerprint_is_refused(monkeypatch, cloud, capsys):
    build(cloud)
    first = run_module(monkeypatch, cloud, capsys)
    cloud.add_server('late-arrival', 'compute4')
    result = run_module(monkeypatch, cloud, capsys, expected_fingerprint=first['fingerprint'])
    assert result['failed'] is True
    assert result['error_code'] == 'E_PLAN'
    assert 'changed since' in result['msg']
    same = run_module(monkeypatch, cloud, capsys, expected_fingerprint=result['fingerprint'])
    assert same.get('failed') is not True


def test_plan_file_is_written_once_and_not_in_check_mode(monkeypatch, cloud, capsys, tmp_path):
    build(cloud)
    (tmp_path / 'c1').mkdir()
    path = tmp_path / 'c1' / 'plan.json'
    checked = run_module(monkeypatch, cloud, capsys, plan_file=str(path), _ansible_check_mode=True)
    assert checked['changed'] is True and not path.exists()
    written = run_module(monkeypatch, cloud, capsys, plan_file=str(path))
    assert written['changed'] is True
    assert json.loads(path.read_text())['fingerprint'] == written['fingerprint']
    again = run_module(monkeypatch, cloud, capsys, plan_file=str(path))
    assert again['changed'] is False


def test_plan_file_does_not_follow_a_planted_temporary_file(monkeypatch, cloud, capsys, tmp_path):
    build(cloud)
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    path = tmp_path / 'plan.json'
    (tmp_path / 'plan.json.tmp').symlink_to(victim)
    written = run_module(monkeypatch, cloud, capsys, plan_file=str(path))
    assert written['changed'] is True and written.get('failed') is not True
    assert victim.read_text() == 'precious\n'
    assert json.loads(path.read_text())['fingerprint'] == written['fingerprint']
    assert not path.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['plan.json', 'plan.json.tmp', 'victim']


def test_plan_file_replaces_a_symlink_instead_of_writing_through_it(monkeypatch, cloud, capsys, tmp_path):
    build(cloud)
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    path = tmp_path / 'plan.json'
    path.symlink_to(victim)
    run_module(monkeypatch, cloud, capsys, plan_file=str(path))
    assert victim.read_text() == 'precious\n' and not path.is_symlink()


@pytest.mark.parametrize('where', ['missing', 'directory'])
def test_an_unusable_plan_file_is_invalid_input_naming_the_option(monkeypatch, cloud, capsys, tmp_path, where):
    build(cloud)
    path = tmp_path / 'no-such-dir' / 'plan.json' if where == 'missing' else tmp_path
    result = run_module(monkeypatch, cloud, capsys, plan_file=str(path))
    assert result['failed'] is True and result['error_code'] == 'E_INVALID_INPUT', result
    assert 'plan_file' in result['msg'] and str(path) in result['msg']
    assert 'exception' not in result or 'Traceback' not in result.get('exception', '')
    assert not (tmp_path / 'no-such-dir').exists()


def test_disabled_by_someone_else_is_skipped_and_reported(monkeypatch, cloud, capsys):
    build(cloud)
    cloud.hosts['compute3'].status = 'disabled'
    cloud.hosts['compute3'].disabled_reason = 'RMA: bad DIMM (ops ticket 4711)'
    result = run_module(monkeypatch, cloud, capsys)
    assert 'compute3' not in [h for batch in result['batches'] for h in batch]
    skipped = {s['host']: s for s in result['plan']['skipped']}
    assert 'compute3' in skipped
    for destinations in result['destinations'].values():
        assert 'compute3' not in destinations


def test_host_left_disabled_by_another_campaign_is_skipped_with_its_reason(monkeypatch, cloud, capsys):
    """One meaning of "ours": compute_maintenance refuses a host another campaign disabled (E_NOT_OURS), so the plan
    must not take it either; this campaign's own marker still makes a host resumable."""
    build(cloud)
    cloud.hosts['compute3'].status = 'disabled'
    cloud.hosts['compute3'].disabled_reason = 'escalator:2026-10-other: rolling upgrade'
    cloud.hosts['compute2'].status = 'disabled'
    cloud.hosts['compute2'].disabled_reason = 'escalator:c1: rolling upgrade'
    result = run_module(monkeypatch, cloud, capsys)
    planned = [h for batch in result['batches'] for h in batch]
    assert 'compute3' not in planned and 'compute2' in planned
    skipped = {s['host']: s for s in result['plan']['skipped']}
    assert 'campaign 2026-10-other' in skipped['compute3']['detail']
    assert 'escalator:2026-10-other: rolling upgrade' in skipped['compute3']['detail']
    assert 'compute3' in result['table']


def test_an_empty_host_selection_selects_nothing(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, hosts=[])
    assert result['failed'] and result['error_code'] == 'E_INVALID_INPUT'
    assert 'no hosts selected' in result['msg']
    assert 'plan' not in result


def test_more_canaries_than_hosts_is_refused_not_clamped(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, canary_hosts=10)
    assert result['failed'] and result['error_code'] == 'E_INVALID_INPUT'
    assert 'canary_hosts is 10' in result['msg'] and 'only 4 host(s)' in result['msg']
    assert run_module(monkeypatch, cloud, capsys, canary_hosts=4, max_batch_size=4)['feasible']


def test_a_planned_host_the_inventory_does_not_know_is_invalid_input(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, inventory_hosts=['compute1', 'compute2', 'compute4'])
    assert result['failed'] and result['error_code'] == 'E_INVALID_INPUT'
    assert 'compute3, which the inventory does not know' in result['msg']
    assert run_module(monkeypatch, cloud, capsys, inventory_hosts=['compute%d' % i for i in range(1, 5)])['feasible']


def test_unhealthy_instances_skip_host_leaves_the_host_out_and_goes_on(monkeypatch, cloud, capsys):
    """Issue 12 item 7: a host holding an instance Nova cannot move (ERROR, SUSPENDED) can be left out, so that the
    campaign goes on with the others; by default it stays in the plan (the precheck refuses it, naming the option)."""
    build(cloud)
    cloud.add_server('broken', 'compute3', status='ERROR')
    cloud.add_server('sleeping', 'compute3', status='SUSPENDED')
    default = run_module(monkeypatch, cloud, capsys)
    assert 'compute3' in [h for batch in default['batches'] for h in batch]
    result = run_module(monkeypatch, cloud, capsys, unhealthy_instances='skip_host')
    assert result['feasible'] and result['violations'] == []
    assert 'compute3' not in [h for batch in result['batches'] for h in batch]
    skipped = {s['host']: s for s in result['plan']['skipped']}
    assert skipped['compute3']['reason'] == 'unhealthy'
    assert 'broken (ERROR)' in skipped['compute3']['detail'] and 'sleeping (SUSPENDED)' in skipped['compute3']['detail']
    for destinations in result['destinations'].values():
        assert 'compute3' not in destinations


def test_the_default_batch_size_is_auto_and_an_integer_still_works(monkeypatch, cloud, capsys):
    build(cloud, hosts=8)
    result = run_module(monkeypatch, cloud, capsys)
    assert result['plan']['options']['max_batch_size'] == 'auto'
    assert [len(batch) for batch in result['batches']] == [1, 2, 2, 2, 1]
    assert result['violations'] == [] and 'Size bound by' in result['table']
    assert [len(batch) for batch in run_module(monkeypatch, cloud, capsys, max_batch_size='1')['batches']] == [1] * 8
    wide = run_module(monkeypatch, cloud, capsys, max_batch_size='auto', max_batch_percent=50)
    assert max(len(batch) for batch in wide['batches']) == 4


@pytest.mark.parametrize('args', [dict(max_batch_size='fast'), dict(max_batch_size=0), dict(max_batch_percent=101)])
def test_a_bad_batch_size_is_invalid_input(monkeypatch, cloud, capsys, args):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, **args)
    assert result['failed'] and result['error_code'] == 'E_INVALID_INPUT', result
    assert 'max_batch_' in result['msg']


def test_server_metadata_policies_reach_the_plan_and_its_table(monkeypatch, cloud, capsys):
    """escalator:action read from Nova's server metadata (issue 16): the plan's moves, server_policies and table."""
    build(cloud)
    cloud.add_server('tagged-cold', 'compute2', metadata={'escalator:action': 'cold'})
    pinned = cloud.add_server('tagged-skip', 'compute3', metadata={'escalator:action': 'skip'})
    result = run_module(monkeypatch, cloud, capsys)
    assert result['feasible'] is True and result['violations'] == []
    move = next(m for b in result['plan']['batches'] for m in b['moves'] if m['name'] == 'tagged-cold')
    assert (move['mode'], move['policy']) == ('cold', 'cold')
    assert {s['host']: s['reason'] for s in result['plan']['skipped']} == {'compute3': 'server_policy'}
    assert 'server policy: tagged-skip on compute3: escalator:action=skip' in result['table']
    assert pinned.id in [s['instance'] for s in result['plan']['server_policies']['servers']]


def test_an_unknown_server_policy_refuses_the_plan_naming_the_server(monkeypatch, cloud, capsys):
    build(cloud)
    cloud.add_server('odd', 'compute2', metadata={'escalator:action': 'evacuate'})
    result = run_module(monkeypatch, cloud, capsys)
    assert result['failed'] and result['error_code'] == 'E_PLAN'
    assert "server odd" in result['msg'] and "escalator:action='evacuate'" in result['msg']
    assert 'openstack server set --property escalator:action=' in result['msg']


def _earlier_campaign(state_dir, hosts=('h1', 'h2', 'h3'), seconds=10):
    """An earlier campaign's events: each of ``hosts`` spent ``seconds`` in each phase and ended done."""
    (state_dir / 'earlier').mkdir(parents=True)
    lines = []
    for index, host in enumerate(hosts):
        start = 1000 * index
        for step, action in enumerate(('maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify',
                                       'notify_complete')):
            minute, second = divmod(start + step * seconds, 60)
            lines.append(json.dumps(dict(object_type='host', object_id=host, action=action, run='r1',
                                         ts='2026-12-01T10:%02d:%02d.000Z' % (minute % 60, second),
                                         result='ok' if action == 'notify_complete' else None),
                                    separators=(',', ':')))     # as the events file has them
    (state_dir / 'earlier' / 'events.jsonl').write_text('\n'.join(lines) + '\n')


def test_the_plan_carries_expected_durations_from_defaults_or_history(monkeypatch, cloud, capsys, tmp_path):
    """Issue 14: per host and phase, per batch (its slowest host) and for the campaign, with their source; outside
    the fingerprint and the checker's rules; the table shows the batches' and the campaign's."""
    build(cloud)
    plain = run_module(monkeypatch, cloud, capsys)
    expected = plain['plan']['expected']
    assert expected['source'] == 'defaults'
    hosts = [h for batch in plain['batches'] for h in batch]
    assert sorted(expected['hosts']) == sorted(hosts)
    assert expected['hosts']['compute2']['evacuate'] == 60      # two instances to move, 30 s each
    assert [b['seconds'] for b in expected['batches']] == [
        max(sum(expected['hosts'][h].values()) for h in batch) for batch in plain['batches']]
    assert expected['campaign_s'] == sum(b['seconds'] for b in expected['batches'])
    assert 'Expected' in plain['table'] and 'campaign: ~' in plain['table'], plain['table']
    state_dir = tmp_path / 'campaigns'
    _earlier_campaign(state_dir)
    (state_dir / 'c1').mkdir()
    path = state_dir / 'c1' / 'plan.json'
    learned = run_module(monkeypatch, cloud, capsys, state_dir=str(state_dir), plan_file=str(path),
                         expected_phase_seconds={'upgrade': 120})
    section = learned['plan']['expected']
    assert section['source'] == 'history and setting', section['source']
    assert section['phase_sources']['notify'] == 'history (3 hosts)'
    assert section['hosts']['compute4']['notify'] == 10 and section['hosts']['compute4']['upgrade'] == 120
    assert json.loads(path.read_text())['expected'] == section        # the state's plan.json carries them
    assert learned['fingerprint'] == plain['fingerprint']              # advice, not the plan's substance
    data = host_info.collect(cloud)
    options = campaign_plan.planner_options(dict(campaign_id='c1', max_batch_size='auto', max_batch_percent=25,
                                                 canary_hosts=1))
    assert check_plan(data['hosts'], data['server_groups'], options, learned['plan']) == []


def test_a_bad_expected_phase_is_invalid_input(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, expected_phase_seconds={'reboot': 60})
    assert result['failed'] is True and result['error_code'] == 'E_INVALID_INPUT'
    assert "unknown phase 'reboot'" in result['msg']
