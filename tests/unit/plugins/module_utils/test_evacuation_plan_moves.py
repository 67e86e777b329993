# SPDX-License-Identifier: Apache-2.0
"""The evacuation follows the campaign plan's per-instance moves: those that still hold are kept, the
others re-planned and said; a batch that breaks a server group's budget (a plan edited by hand) is
refused before anything moves. FakeCloud, fake time."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation import run
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.budget import over_budget
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import normalize_options
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

SRC = 'cmp1'


def make_cloud(hosts=4):
    cloud = FakeCloud()
    for index in range(1, hosts + 1):
        # the later hosts have more RAM: the preflight's own choice (most free RAM) is the last host
        cloud.add_host('cmp%d' % index, memory_mb=32768 + 1024 * index)
    cloud.hosts[SRC].status = 'disabled'
    cloud.hosts[SRC].disabled_reason = 'escalator:c1: upgrade'
    return cloud


def evacuate(cloud, host=SRC, check_mode=False, **options):
    return run.evacuate(cloud, host, options, clock=cloud.clock, sleep=cloud.sleep, check_mode=check_mode)


def entry(result, server):
    return next(item for item in result['instances'] if item['id'] == server.id)


def move(server, *to, source=SRC, **notes):
    """A move as campaign_plan stores it in plan.batches[].moves[] (its notes included)."""
    return dict(instance=server.id, name=server.name, to=list(to), mode='live', **{'from': source}, **notes)


def requests(cloud):
    return [(call[1], call[2]) for call in cloud.calls if call[0] in ('live_migrate_server', 'migrate_server')]


def test_the_plans_moves_are_followed_not_planned_again():
    cloud = make_cloud()
    one = cloud.add_server('one', SRC)
    two = cloud.add_server('two', SRC, status='SHUTOFF')
    result = evacuate(cloud, moves=[move(one, 'cmp2', 'cmp3'), move(two, 'cmp3', moves_again_in_batch=2)])
    assert (one.host, two.host) == ('cmp2', 'cmp3')           # not cmp4, which the preflight alone would pick
    assert requests(cloud) == [(one.id, 'cmp2'), (two.id, 'cmp3')]
    assert entry(result, one)['plan'] == 'kept' and entry(result, one)['candidates'] == ['cmp2', 'cmp3', 'scheduler']
    assert entry(result, one)['plan_note'] is None
    assert result['replanned'] == [] and result['ignored_moves'] == [] and result['warnings'] == []


def test_without_moves_the_preflight_places_as_before():
    cloud = make_cloud()
    one = cloud.add_server('one', SRC)
    result = evacuate(cloud, destinations=['cmp2'])
    assert one.host == 'cmp2' and entry(result, one)['plan'] is None
    assert result['replanned'] == [] and result['ignored_moves'] == []


def test_moves_that_no_longer_hold_are_replanned_and_said():
    cloud = make_cloud(hosts=5)
    group = cloud.add_group('vnf-a')
    kept = cloud.add_server('kept', SRC)
    to_maintenance = cloud.add_server('to-maintenance', SRC)
    to_partner = cloud.add_server('to-partner', SRC, group=group)
    partner = cloud.add_server('partner', 'cmp2', group=group)      # came to cmp2 after the plan was made
    to_full = cloud.add_server('to-full', SRC, ram=8192)
    newcomer = cloud.add_server('newcomer', SRC)
    elsewhere = cloud.add_server('elsewhere', 'cmp5')                # the plan's move is stale: it left cmp1
    cloud.hosts['cmp3'].status = 'disabled'
    cloud.hosts['cmp3'].disabled_reason = 'escalator:c1: upgrade'
    cloud.add_server('filler', 'cmp4', ram=31000)
    moves = [move(kept, 'cmp3', 'cmp2'), move(to_maintenance, 'cmp3'), move(to_partner, 'cmp2'),
             move(to_full, 'cmp4'), move(elsewhere, 'cmp2')]
    result = evacuate(cloud, moves=moves)

    assert entry(result, kept)['plan'] == 'kept' and kept.host == 'cmp2'
    assert entry(result, kept)['plan_note'] == ('planned destination dropped: cmp3: nova-compute is disabled '
                                                '(in maintenance: escalator:c1: upgrade)')
    reasons = {item['instance']: item['reason'] for item in result['replanned']}
    assert set(reasons) == {to_maintenance.id, to_partner.id, to_full.id, newcomer.id}
    assert reasons[to_maintenance.id] == 'the planned destination no longer holds: cmp3: nova-compute is disabled ' \
                                         '(in maintenance: escalator:c1: upgrade)'
    assert reasons[to_partner.id] == 'the planned destination no longer holds: cmp2: anti-affinity group vnf-a: ' \
                                     'member %s is there' % partner.id
    assert reasons[to_full.id].startswith('the planned destination no longer holds: cmp4: not enough MB RAM')
    assert reasons[newcomer.id] == 'not in the plan (it came to cmp1 after the plan was made)'
    assert {item['instance']: item['planned'] for item in result['replanned']}[to_partner.id] == ['cmp2']
    assert result['ignored_moves'] == [dict(instance=elsewhere.id, reason='no longer on cmp1 (now on cmp5)')]
    assert any('to-partner' in warning and 're-planned' in warning for warning in result['warnings'])
    assert any(elsewhere.id in warning and 'left aside' in warning for warning in result['warnings'])
    # everything still left the host, each re-planned one where the cloud now allows it
    assert result['remaining'] == [] and elsewhere.host == 'cmp5'
    assert to_partner.host not in ('cmp2', SRC) and to_maintenance.host != 'cmp3' and to_full.host != 'cmp4'
    for server in (to_maintenance, to_partner, to_full, newcomer):
        assert entry(result, server)['plan'] == 'replanned'
        assert entry(result, server)['plan_note'] == reasons[server.id]


def test_two_planned_partners_on_one_host_the_second_is_replanned():
    cloud = make_cloud()
    group = cloud.add_group('vnf-a')
    first = cloud.add_server('a-1', SRC, group=group)
    second = cloud.add_server('a-2', SRC, group=group)
    result = evacuate(cloud, moves=[move(first, 'cmp2'), move(second, 'cmp2')])
    assert first.host != second.host
    assert [item['instance'] for item in result['replanned']] in ([first.id], [second.id])
    assert 'anti-affinity group vnf-a' in result['replanned'][0]['reason']


def test_replanned_instances_prefer_the_plans_other_destinations():
    cloud = make_cloud()
    one = cloud.add_server('one', SRC)
    two = cloud.add_server('two', SRC)
    cloud.hosts['cmp3'].status = 'disabled'
    result = evacuate(cloud, moves=[move(one, 'cmp2'), move(two, 'cmp3')])
    assert two.host == 'cmp2'                 # the plan's destination for this host, not cmp4 (most free RAM)
    assert entry(result, two)['candidates'] == ['cmp2', 'scheduler']


def test_strict_destinations_with_moves_never_asks_the_scheduler():
    cloud = make_cloud()
    one = cloud.add_server('one', SRC)
    two = cloud.add_server('two', SRC)
    cloud.hosts['cmp3'].status = 'disabled'
    with pytest.raises(EscalatorError) as info:
        evacuate(cloud, moves=[move(one, 'cmp2'), move(two, 'cmp3')], strict_destinations=True,
                 destinations=['cmp3'])
    assert info.value.code == 'E_NO_VALID_HOST' and not requests(cloud)
    result = evacuate(cloud, moves=[move(one, 'cmp2'), move(two, 'cmp2')], strict_destinations=True)
    assert entry(result, one)['candidates'] == ['cmp2'] and one.host == two.host == 'cmp2'


def test_check_mode_reports_the_replanning_and_moves_nothing():
    cloud = make_cloud()
    one = cloud.add_server('one', SRC)
    cloud.hosts['cmp2'].state = 'down'
    result = evacuate(cloud, check_mode=True, moves=[move(one, 'cmp2')])
    assert not requests(cloud) and one.host == SRC
    assert entry(result, one)['result'] == 'planned' and entry(result, one)['to'] == 'cmp4'
    assert result['replanned'][0]['reason'] == 'the planned destination no longer holds: cmp2: nova-compute is down'


# -- the batch guard: a plan edited by hand to break a budget ------------------------

def budget_cloud():
    """vnf-a (anti-affinity, budget 1): members on cmp1 and cmp2. The plan put them in batches 2 and 3."""
    cloud = make_cloud()
    group = cloud.add_group('vnf-a')
    first = cloud.add_server('vnf-a-1', SRC, group=group)
    second = cloud.add_server('vnf-a-2', 'cmp2', group=group)
    cloud.hosts['cmp2'].status = 'disabled'            # in maintenance together with cmp1: the edited batch
    cloud.hosts['cmp2'].disabled_reason = 'escalator:c1: upgrade'
    plan = {'format': 'escalator-plan/1', 'options': {'default_budget': 1, 'budgets': {}}, 'batches': [
        {'batch': 1, 'canary': True, 'hosts': ['cmp4'], 'moves': []},
        {'batch': 2, 'canary': False, 'hosts': [SRC], 'moves': [move(first, 'cmp4')],
         'budget_use': [{'group': group, 'name': 'vnf-a', 'members': 1, 'budget': 1}]},
        {'batch': 3, 'canary': False, 'hosts': ['cmp2'], 'moves': [move(second, 'cmp4', source='cmp2')],
         'budget_use': [{'group': group, 'name': 'vnf-a', 'members': 1, 'budget': 1}]},
    ]}
    return cloud, first, second, plan


def drain_args(plan, host):
    """What playbooks/tasks/drain.yml hands compute_evacuate for ``host`` of ``plan``."""
    batch = next(batch for batch in plan['batches'] if host in batch['hosts'])
    return dict(moves=[item for item in batch['moves'] if item['from'] == host], batch_hosts=batch['hosts'],
                default_budget=plan['options']['default_budget'], budgets=plan['options']['budgets'])


def test_a_plan_edited_by_hand_to_break_a_budget_is_refused_before_anything_moves():
    cloud, first, second, plan = budget_cloud()
    # by hand: cmp2 joins batch 2, so both members of vnf-a go into maintenance at once
    plan['batches'][1]['hosts'].append('cmp2')
    plan['batches'][1]['moves'] += plan['batches'][2].pop('moves')
    del plan['batches'][2]
    for host in (SRC, 'cmp2'):
        with pytest.raises(EscalatorError) as info:
            evacuate(cloud, host, **drain_args(plan, host))
        error = info.value
        assert error.code == 'E_PLAN'
        assert 'group vnf-a (anti-affinity, budget 1) has 2 members on cmp1, cmp2' in error.msg
        assert 'nothing was moved' in error.msg
        assert error.details['budget_violations'] and error.details['moved'] == []
        assert {item['id'] for item in error.details['instances']} == {(first if host == SRC else second).id}
    assert not requests(cloud) and (first.host, second.host) == (SRC, 'cmp2')


def test_the_plan_as_made_passes_the_batch_guard():
    cloud, first, _second, plan = budget_cloud()
    cloud.hosts['cmp2'].status = 'enabled'
    result = evacuate(cloud, **drain_args(plan, SRC))
    assert first.host == 'cmp4' and entry(result, first)['plan'] == 'kept'


def test_an_empty_host_of_a_bad_batch_is_refused_too():
    cloud = budget_cloud()[0]
    cloud.hosts['cmp3'].status = 'disabled'
    with pytest.raises(EscalatorError) as info:
        evacuate(cloud, 'cmp3', batch_hosts=[SRC, 'cmp2', 'cmp3'], default_budget=1, moves=[])
    assert info.value.code == 'E_PLAN'


@pytest.mark.parametrize('budgets, default_budget, down, refused', [
    ({}, 1, False, True),
    ({}, 3, False, False),
    ({'vnf-a': 3}, 1, False, False),          # by name
    ('by-id', 1, False, False),               # by id, which wins over the name
    ({}, 0, False, True),                     # budget 0 (switchover): one member per batch
    ({'vnf-a': 3}, 1, True, True),            # 3 - 1 member on a down host = 2 < 3 on the batch
    ({'vnf-a': 4}, 1, True, False),
])
def test_budgets_by_id_name_default_and_down_members(budgets, default_budget, down, refused):
    cloud = make_cloud()
    group = cloud.add_group('vnf-a')
    for index in (1, 2, 3):
        cloud.add_server('vnf-a-%d' % index, 'cmp%d' % index, group=group)
    if down:
        cloud.add_server('vnf-a-4', 'cmp4', group=group)
        cloud.hosts['cmp4'].state = 'down'
    if budgets == 'by-id':
        budgets = {group: 3, 'vnf-a': 1}
    groups = [dict(id=group, name='vnf-a', policy='anti-affinity',
                   member_hosts={m: cloud.servers[m].host for m in cloud.groups[group]['members']})]
    hosts = {name: dict(state=host.state) for name, host in cloud.hosts.items()}
    found = over_budget(hosts, groups, ['cmp1', 'cmp2', 'cmp3'], default_budget, budgets)
    assert bool(found) is refused, found


def test_groups_without_a_budget_are_not_checked():
    hosts = {'cmp1': dict(state='up'), 'cmp2': dict(state='up')}
    groups = [dict(id='g', name='soft', policy='soft-anti-affinity', member_hosts={'a': 'cmp1', 'b': 'cmp2'})]
    assert over_budget(hosts, groups, ['cmp1', 'cmp2'], 1, {}) == []
    assert over_budget(hosts, groups, ['cmp1', 'cmp2'], 1, {'soft': 1})


# -- options ----------------------------------------------------------------------

@pytest.mark.parametrize('options, message', [
    (dict(moves='cmp2'), 'moves must be a list'),
    (dict(moves=[{'to': ['cmp2']}]), 'moves[0]: a move is a mapping'),
    (dict(moves=[{'instance': 'i1', 'to': [3]}]), 'moves[0] (i1): to must be a list of host names'),
    (dict(moves=[{'instance': 'i1', 'to': ['a']}, {'instance': 'i1', 'to': ['b']}]), 'instance i1 has two moves'),
    (dict(batch_hosts=['cmp1']), 'batch_hosts needs default_budget'),
    (dict(batch_hosts=['cmp1'], default_budget=-1), 'default_budget must be >= 0'),
    (dict(budgets={'g': 'x'}), 'budgets[g] must be an integer'),
    (dict(strict_destinations=True, moves=[]), 'strict_destinations needs'),
])
def test_invalid_plan_options(options, message):
    with pytest.raises(EscalatorError) as info:
        normalize_options(options)
    assert info.value.code == 'E_INVALID_INPUT' and message in info.value.msg


def test_moves_are_read_as_the_plan_stores_them():
    opts = normalize_options(dict(moves=[dict(instance='i1', name='vm', to=['cmp2', 'cmp3', 'cmp2'], mode='live',
                                              with_group='g', outside_campaign=True, **{'from': 'cmp1'})],
                                  batch_hosts='cmp1', default_budget='1', budgets={'g': '0'}))
    assert opts['moves'] == {'i1': ['cmp2', 'cmp3']}
    assert (opts['batch_hosts'], opts['default_budget'], opts['budgets']) == (['cmp1'], 1, {'g': 0})
    assert normalize_options({})['moves'] is None
