# SPDX-License-Identifier: Apache-2.0
"""compute_evacuate as Ansible runs it: arguments, exit/fail JSON, check mode, diff."""

from __future__ import annotations

import functools
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation import run
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import normalize_options
from ansible_collections.opnfv.escalator.plugins.modules import compute_evacuate

SRC = 'compute1'


def build(cloud, hosts=4):
    for index in range(1, hosts + 1):
        cloud.add_host('compute%d' % index)
    cloud.hosts[SRC].status = 'disabled'
    cloud.hosts[SRC].disabled_reason = 'escalator:c1: upgrade'
    group = cloud.add_group('vnf-a', project_id='p-vnf')
    active = cloud.add_server('vnf-a-1', SRC, project_id='p-vnf', group=group)
    cloud.add_server('vnf-a-2', 'compute2', project_id='p-vnf', group=group)
    web = cloud.add_server('web', SRC)
    off = cloud.add_server('db', SRC, status='SHUTOFF')
    return active, web, off


def run_module(monkeypatch, cloud, capsys, check_mode=False, **args):
    monkeypatch.setattr('ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect',
                        lambda params, sdk=None: cloud)
    monkeypatch.setattr(compute_evacuate, 'evacuate',
                        functools.partial(run.evacuate, clock=cloud.clock, sleep=cloud.sleep))
    args.setdefault('host', SRC)
    if check_mode:
        args['_ansible_check_mode'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            compute_evacuate.main()
    result = json.loads(capsys.readouterr().out)
    result['_rc'] = info.value.code
    json.dumps(result)
    return result


def test_evacuates_and_reports(monkeypatch, cloud, capsys):
    active, web, off = build(cloud)
    result = run_module(monkeypatch, cloud, capsys, destinations=['compute3'])
    assert result['_rc'] == 0 and result['changed'] is True
    assert sorted(result['moved']) == sorted([active.id, web.id, off.id])
    assert result['remaining'] == [] and result['failed_instances'] == []
    by_id = {item['id']: item for item in result['instances']}
    assert by_id[off.id]['method'] == 'cold' and by_id[off.id]['status_after'] == 'SHUTOFF'
    assert by_id[active.id]['to'] != 'compute2'
    assert set(by_id[web.id]) >= {'id', 'name', 'project_id', 'from', 'to', 'method', 'status_before', 'status_after',
                                  'result', 'seconds', 'migration_id', 'error'}
    assert result['diff']['before']['instances'] and result['diff']['after']['instances'] == []
    assert all(server.host != SRC for server in (active, web, off))


def test_second_run_is_unchanged(monkeypatch, cloud, capsys):
    build(cloud)
    run_module(monkeypatch, cloud, capsys)
    again = run_module(monkeypatch, cloud, capsys)
    assert again['_rc'] == 0 and again['changed'] is False and again['instances'] == []


def test_check_mode_moves_nothing(monkeypatch, cloud, capsys):
    active, web, off = build(cloud)
    result = run_module(monkeypatch, cloud, capsys, check_mode=True, leave_alone=[web.id])
    assert result['changed'] is True and not cloud.migrations
    assert {item['result'] for item in result['instances']} == {'planned', 'left_alone'}
    assert result['diff']['after']['instances'] == [web.id]
    assert active.host == SRC and off.host == SRC


def test_failure_carries_the_report(monkeypatch, cloud, capsys):
    active, _web, _off = build(cloud, hosts=2)          # compute2 holds the other member: no destination
    result = run_module(monkeypatch, cloud, capsys)
    assert result['_rc'] == 1 and result['failed'] is True
    assert result['error_code'] == 'E_NO_VALID_HOST'
    assert result['stuck'] == [active.id]
    assert len(result['instances']) == 3 and len(result['remaining']) == 3
    assert 'nothing was moved' in result['msg'] and not cloud.migrations


def test_runtime_failure_carries_the_report(monkeypatch, cloud, capsys):
    _active, web, _off = build(cloud)
    cloud.faults[web.id] = 'no_move'
    result = run_module(monkeypatch, cloud, capsys, keep_going=True)
    assert result['_rc'] == 1 and result['error_code'] == 'E_MIGRATION_FAILED'
    by_id = {item['id']: item for item in result['instances']}
    assert by_id[web.id]['result'] == 'failed' and result['remaining'] == [web.id]


def test_enabled_host_is_refused(monkeypatch, cloud, capsys):
    build(cloud)
    cloud.hosts[SRC].status = 'enabled'
    result = run_module(monkeypatch, cloud, capsys)
    assert result['error_code'] == 'E_INVALID_INPUT' and 'compute_maintenance' in result['msg']


def test_every_option_reaches_the_engine(monkeypatch, cloud, capsys):
    build(cloud)
    seen = {}

    def fake(conn, host, options, check_mode=False):
        seen.update(options, host=host, check_mode=check_mode)
        return dict(changed=False, host=host, instances=[], moved=[], failed_instances=[], remaining=[], duration=0.0,
                    confirmed=[], warnings=[])

    monkeypatch.setattr('ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect',
                        lambda params, sdk=None: cloud)
    args = dict(host=SRC, destinations=['compute2'], strict_destinations=True, block_migration=False,
                max_concurrent=4, migration_timeout=90, timeout=900, poll_interval=0.5, on_timeout='fail',
                status_policy=dict(SUSPENDED='skip'), live_failure='cold', decisions={'x': 'OWN_ACTION'},
                own_action_timeout=30, own_action_fallback='fail', leave_alone=['y'], require_disabled=False,
                verify_empty=False, keep_going=True, wait=False, moves=[dict(instance='z', to=['compute2'])],
                batch_hosts=[SRC, 'compute3'], default_budget=0, budgets={'vnf-a': 2})
    monkeypatch.setattr(compute_evacuate, 'evacuate', fake)
    warned = []
    monkeypatch.setattr('ansible.module_utils.basic.AnsibleModule.warn', lambda self, warning: warned.append(warning))
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            compute_evacuate.main()
    json.loads(capsys.readouterr().out)
    assert any('wait=false is ignored' in warning for warning in warned), warned
    args.pop('wait')
    assert {key: seen[key] for key in args} == args


def test_defaults_reach_the_engine(monkeypatch, cloud, capsys):
    build(cloud)
    seen = {}

    def fake(conn, host, options, check_mode=False):
        seen.update(options)
        return dict(changed=False, host=host, instances=[], moved=[], failed_instances=[], remaining=[], duration=0.0,
                    confirmed=[], warnings=[])

    monkeypatch.setattr('ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect',
                        lambda params, sdk=None: cloud)
    monkeypatch.setattr(compute_evacuate, 'evacuate', fake)
    with patch_module_args(dict(host=SRC)):
        with pytest.raises(SystemExit):
            compute_evacuate.main()
    opts = normalize_options(seen)
    assert opts['timeout'] == 3600 and opts['max_concurrent'] == 2 and opts['block_migration'] == 'auto'
    assert opts['on_timeout'] == 'abort' and opts['live_failure'] == 'fail' and opts['require_disabled'] is True


def test_bad_option_value_is_a_clean_failure(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, block_migration='sometimes')
    assert result['_rc'] == 1 and result['error_code'] == 'E_INVALID_INPUT'


def test_unknown_host(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, host='compute9')
    assert result['error_code'] == 'E_HOST_NOT_FOUND' and 'compute1' in result['msg']


def test_the_plans_moves_are_kept_or_replanned_and_said(monkeypatch, cloud, capsys):
    active, web, off = build(cloud)
    cloud.hosts['compute4'].state = 'down'
    moves = [dict(instance=active.id, name='vnf-a-1', to=['compute3'], mode='live', **{'from': SRC}),
             dict(instance=web.id, name='web', to=['compute4', 'compute3'], mode='live', **{'from': SRC}),
             dict(instance=off.id, name='db', to=['compute4'], mode='cold', moves_again_in_batch=3, **{'from': SRC}),
             dict(instance='gone', name='old', to=['compute3'], mode='live', **{'from': SRC})]
    warned = []
    monkeypatch.setattr('ansible.module_utils.basic.AnsibleModule.warn', lambda self, warning: warned.append(warning))
    result = run_module(monkeypatch, cloud, capsys, moves=moves, batch_hosts=[SRC], default_budget=1, budgets={})
    assert result['_rc'] == 0, result['msg']
    by_id = {item['id']: item for item in result['instances']}
    assert (by_id[active.id]['plan'], by_id[web.id]['plan'], by_id[off.id]['plan']) == ('kept', 'kept', 'replanned')
    assert by_id[web.id]['plan_note'] == 'planned destination dropped: compute4: nova-compute is down'
    assert result['replanned'] == [dict(instance=off.id, name='db', planned=['compute4'],
                                        reason='the planned destination no longer holds: compute4: nova-compute is down')]
    assert result['ignored_moves'] == [dict(instance='gone', reason='no longer on compute1 (not on any compute host: '
                                                                    'deleted, or moved by someone else)')]
    assert any('db (%s) is re-planned' % off.id in warning for warning in warned), warned
    assert active.host == web.host == off.host == 'compute3'


def test_a_batch_over_a_group_budget_is_refused_with_the_report(monkeypatch, cloud, capsys):
    active, _web, _off = build(cloud)
    result = run_module(monkeypatch, cloud, capsys, moves=[dict(instance=active.id, to=['compute3'])],
                        batch_hosts=[SRC, 'compute2'], default_budget=1)
    assert result['_rc'] == 1 and result['error_code'] == 'E_PLAN'
    assert result['budget_violations'] == ['group vnf-a (anti-affinity, budget 1) has 2 members on compute1, '
                                           'compute2, which go into maintenance together; it may lose 1 at a time']
    assert len(result['instances']) == 3 and result['moved'] == [] and not cloud.migrations


def test_batch_hosts_need_a_default_budget(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, batch_hosts=[SRC])
    assert result['_rc'] == 1 and result['error_code'] == 'E_INVALID_INPUT' and 'default_budget' in result['msg']
