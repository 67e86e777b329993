# SPDX-License-Identifier: Apache-2.0
"""The evacuation engine against the fake cloud, in fake time."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation import run
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import normalize_options
from ansible_collections.opnfv.escalator.tests.unit.evacuation_calls import SRC, calls, entry, evacuate, failing
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud


def make_cloud(hosts=4, **host_kwargs):
    cloud = FakeCloud()
    for index in range(1, hosts + 1):
        cloud.add_host('cmp%d' % index, **host_kwargs)
    cloud.hosts[SRC].status = 'disabled'
    cloud.hosts[SRC].disabled_reason = 'escalator:c1: upgrade'
    return cloud


def assert_settled(cloud):
    """Nothing half-done: no server mid-migration or in ERROR, no migration left running."""
    for server in cloud.servers.values():
        assert server.status in ('ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED'), (server.name, server.status)
        assert server.task_state is None
    for migration in cloud.migrations:
        assert migration.status in ('completed', 'confirmed', 'error', 'cancelled'), migration.status


def migration_records(cloud, server):
    return [m for m in cloud.migrations if m.server is server]


# -- the normal case -------------------------------------------------------------

def test_empty_host_is_unchanged():
    cloud = make_cloud()
    result = evacuate(cloud)
    assert result['changed'] is False
    assert result['instances'] == [] and result['remaining'] == [] and result['moved'] == []
    assert not calls(cloud, 'live_migrate_server')


def test_evacuates_live_cold_and_anti_affinity_members_preserving_status():
    cloud = make_cloud()
    group = cloud.add_group('vnf-a')
    active = cloud.add_server('active', SRC, group=group)
    cloud.add_server('standby', 'cmp2', group=group)
    plain = cloud.add_server('plain', SRC, project_id='p2')
    paused = cloud.add_server('paused', SRC, status='PAUSED')
    off = cloud.add_server('off', SRC, status='SHUTOFF')
    before = set(cloud.servers)
    result = evacuate(cloud)
    assert result['changed'] is True
    assert set(result['moved']) == {active.id, plain.id, paused.id, off.id}
    assert result['failed_instances'] == [] and result['remaining'] == []
    assert set(cloud.servers) == before
    for server, method, status in ((active, 'live', 'ACTIVE'), (plain, 'live', 'ACTIVE'), (paused, 'live', 'PAUSED'),
                                   (off, 'cold', 'SHUTOFF')):
        item = entry(result, server)
        assert item['method'] == method and item['result'] == 'moved'
        assert item['status_before'] == status and item['status_after'] == status == server.status
        assert item['from'] == SRC and item['to'] == server.host != SRC
        assert item['migration_id'] == migration_records(cloud, server)[-1].id
        assert item['seconds'] > 0 and item['error'] is None
        assert [m.status for m in migration_records(cloud, server)] == ['confirmed' if method == 'cold' else 'completed']
    assert active.host != 'cmp2'                       # anti-affinity kept
    assert calls(cloud, 'confirm_server_resize') == [('confirm_server_resize', off.id)]
    assert entry(result, plain)['project_id'] == 'p2'
    assert_settled(cloud)
    # idempotent: a second run finds nothing to do
    again = evacuate(cloud)
    assert again['changed'] is False and again['instances'] == []


def test_waits_for_the_migration_record_not_only_the_host_flip():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    seen = []
    real_sleep = cloud.sleep

    def sleep(seconds):
        real_sleep(seconds)
        record = cloud.migrations[-1] if cloud.migrations else None
        seen.append((server.host, record.status if record else None))

    result = run.evacuate(cloud, SRC, dict(poll_interval=0.5), clock=cloud.clock, sleep=sleep)
    assert (server.host != SRC) and any(host != SRC and status == 'running' for host, status in seen)
    assert result['instances'][0]['seconds'] >= 6.0        # the record completes after the flip
    assert result['moved'] == [server.id]


@pytest.mark.parametrize('limit', [1, 2, 3])
def test_max_concurrent_bounds_running_migrations(limit):
    cloud = make_cloud(hosts=5)
    for index in range(6):
        cloud.add_server('vm%d' % index, SRC)
    peak = []
    real_sleep = cloud.sleep

    def sleep(seconds):
        peak.append(sum(1 for m in cloud.migrations if m.status not in ('completed', 'confirmed', 'error', 'cancelled')))
        real_sleep(seconds)

    result = run.evacuate(cloud, SRC, dict(max_concurrent=limit), clock=cloud.clock, sleep=sleep)
    assert len(result['moved']) == 6
    assert max(peak) == limit


def test_destinations_are_tried_in_order_then_the_scheduler():
    cloud = make_cloud(hosts=4)
    cloud.hosts['cmp3'].capacity['MEMORY_MB'] = 1024      # room for two
    servers = [cloud.add_server('vm%d' % index, SRC) for index in range(3)]
    result = evacuate(cloud, destinations=['cmp3', 'cmp4'], max_concurrent=1)
    hosts_requested = [call[2] for call in calls(cloud, 'live_migrate_server')]
    assert hosts_requested == ['cmp3', 'cmp3', 'cmp4']
    assert sorted(server.host for server in servers) == ['cmp3', 'cmp3', 'cmp4']
    assert entry(result, servers[0])['candidates'][-1] == 'scheduler'


def test_destinations_fall_back_to_the_scheduler_when_full():
    cloud = make_cloud(hosts=3)
    cloud.hosts['cmp3'].capacity['MEMORY_MB'] = 512
    servers = [cloud.add_server('vm%d' % index, SRC) for index in range(2)]
    evacuate(cloud, destinations=['cmp3'], max_concurrent=1)
    assert [call[2] for call in calls(cloud, 'live_migrate_server')] == ['cmp3', None]
    assert sorted(server.host for server in servers) == ['cmp2', 'cmp3']


def test_strict_destinations_never_use_other_hosts():
    cloud = make_cloud(hosts=3)
    cloud.hosts['cmp3'].capacity['MEMORY_MB'] = 512
    cloud.add_server('vm0', SRC)
    cloud.add_server('vm1', SRC)
    error = failing(cloud, 'E_NO_VALID_HOST', destinations=['cmp3'], strict_destinations=True)
    assert 'cmp2: not in destinations (strict_destinations)' in error.msg
    assert 'nothing was moved' in error.msg
    assert not calls(cloud, 'live_migrate_server')


def test_strict_destination_refused_at_run_time_is_no_valid_host():
    cloud = make_cloud(hosts=3)
    server = cloud.add_server('vm0', SRC)
    cloud.call_at(0.0, lambda c: setattr(c.hosts['cmp3'], 'status', 'disabled'))   # after the preflight
    error = failing(cloud, 'E_NO_VALID_HOST', destinations=['cmp3'], strict_destinations=True)
    assert error.details['failed_instances'] == [server.id]
    assert server.host == SRC and server.status == 'ACTIVE'


def test_block_migration_is_passed_through():
    for value, sent in (('auto', 'auto'), (True, True), (False, False), ('false', False)):
        cloud = make_cloud()
        cloud.add_server('vm', SRC)
        evacuate(cloud, block_migration=value)
        assert calls(cloud, 'live_migrate_server')[0][3] == sent


# -- preflight: nothing half-done -------------------------------------------------

def test_anti_affinity_without_destination_fails_before_moving_anything():
    cloud = make_cloud(hosts=3)
    group = cloud.add_group('vnf-b')
    stuck = cloud.add_server('b0', SRC, group=group)
    cloud.add_server('b1', 'cmp2', group=group)
    cloud.add_server('b2', 'cmp3', group=group)
    free = cloud.add_server('free', SRC)
    error = failing(cloud, 'E_NO_VALID_HOST')
    assert 'b0 (%s)' % stuck.id in error.msg and 'anti-affinity group vnf-b' in error.msg
    assert 'cmp2: anti-affinity group vnf-b: member' in error.msg
    assert error.details['stuck'] == [stuck.id]
    assert set(error.details['remaining']) == {stuck.id, free.id}
    assert not calls(cloud, 'live_migrate_server') and not cloud.migrations


def test_planned_moves_count_for_anti_affinity():
    """Two members of one group on the source and only two other hosts, one of them holding a third member."""
    cloud = make_cloud(hosts=3)
    group = cloud.add_group('vnf-c')
    cloud.add_server('c0', SRC, group=group)
    cloud.add_server('c1', SRC, group=group)
    cloud.add_server('c2', 'cmp2', group=group)
    error = failing(cloud, 'E_NO_VALID_HOST')
    assert len(error.details['stuck']) == 1
    assert 'cmp3: anti-affinity group vnf-c' in error.msg       # taken by the planned move of the other member
    assert not cloud.migrations


def test_affinity_group_members_cannot_be_moved_one_by_one():
    cloud = make_cloud()
    group = cloud.add_group('tight', policy='affinity')
    cloud.add_server('t0', SRC, group=group)
    cloud.add_server('t1', SRC, group=group)
    error = failing(cloud, 'E_NO_VALID_HOST')
    assert 'affinity group tight: its other members are on cmp1' in error.msg


def test_soft_policies_do_not_block():
    cloud = make_cloud(hosts=2)
    group = cloud.add_group('soft', policy='soft-anti-affinity')
    cloud.add_server('s0', SRC, group=group)
    cloud.add_server('s1', 'cmp2', group=group)
    result = evacuate(cloud)
    assert len(result['moved']) == 1


def test_capacity_from_placement_blocks_the_preflight():
    cloud = make_cloud(hosts=2)
    cloud.hosts['cmp2'].capacity['VCPU'] = 2
    cloud.add_server('big', SRC, vcpus=4)
    error = failing(cloud, 'E_NO_VALID_HOST')
    assert 'cmp2: not enough vCPU (free 2, needs 4)' in error.msg


def test_down_and_disabled_hosts_are_no_destination():
    cloud = make_cloud(hosts=3)
    cloud.hosts['cmp2'].state = 'down'
    cloud.hosts['cmp3'].status = 'disabled'
    cloud.add_server('vm', SRC)
    error = failing(cloud, 'E_NO_VALID_HOST', destinations=['cmp2'])
    assert 'cmp2: nova-compute is down' in error.msg and 'cmp3: nova-compute is disabled' in error.msg
    assert any('destination cmp2 is not usable' in w for w in error.details['warnings'])


def test_enabled_host_is_refused_unless_require_disabled_is_false():
    cloud = make_cloud()
    cloud.hosts[SRC].status = 'enabled'
    server = cloud.add_server('vm', SRC)
    error = failing(cloud, 'E_INVALID_INPUT')
    assert 'compute_maintenance' in error.msg and server.host == SRC
    result = evacuate(cloud, require_disabled=False)
    assert result['moved'] == [server.id]


def test_source_compute_down_is_a_clear_error():
    cloud = make_cloud()
    cloud.hosts[SRC].state = 'down'
    server = cloud.add_server('vm', SRC)
    error = failing(cloud, 'E_SERVICE_DOWN')
    assert 'nova-compute on cmp1 is down' in error.msg and 'start it' in error.msg
    assert error.details['instances'][0]['id'] == server.id
    assert not cloud.migrations


def test_source_compute_down_but_empty_is_fine():
    cloud = make_cloud()
    cloud.hosts[SRC].state = 'down'
    assert evacuate(cloud)['changed'] is False


def test_unknown_host_and_bad_destinations():
    cloud = make_cloud()
    cloud.add_server('vm', SRC)
    assert 'known compute hosts' in failing(cloud, 'E_HOST_NOT_FOUND', host='nope').msg
    assert 'cmp9' in failing(cloud, 'E_INVALID_INPUT', destinations=['cmp9']).msg
    assert 'the host being emptied' in failing(cloud, 'E_INVALID_INPUT', destinations=[SRC]).msg


# -- status policy and decisions ---------------------------------------------------

@pytest.mark.parametrize('status', ['SUSPENDED', 'ERROR', 'SHELVED', 'RESCUE'])
def test_statuses_that_cannot_move_fail_the_preflight_by_default(status):
    cloud = make_cloud()
    odd = cloud.add_server('odd', SRC, status=status)
    cloud.add_server('fine', SRC)
    error = failing(cloud, 'E_POLICY')
    assert error.details['stuck'] == [odd.id] and status in error.msg
    assert not cloud.migrations


def test_skip_leaves_the_instance_and_does_not_fail():
    cloud = make_cloud()
    odd = cloud.add_server('odd', SRC, status='SUSPENDED')
    fine = cloud.add_server('fine', SRC)
    result = evacuate(cloud, status_policy=dict(suspended='skip'))
    assert entry(result, odd)['result'] == 'skipped' and entry(result, odd)['method'] == 'skipped'
    assert result['moved'] == [fine.id] and result['remaining'] == [odd.id]


def test_status_policy_cold_for_active():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    result = evacuate(cloud, status_policy=dict(ACTIVE='cold'))
    assert entry(result, server)['method'] == 'cold' and server.status == 'ACTIVE' and server.host != SRC


def test_status_policy_fail_for_shutoff():
    cloud = make_cloud()
    cloud.add_server('off', SRC, status='SHUTOFF')
    failing(cloud, 'E_POLICY', status_policy=dict(SHUTOFF='fail'))


@pytest.mark.parametrize('policy, words', [
    (dict(SHUTOFF='live'), 'live-migrate only'), (dict(PAUSED='cold'), 'cold-migrate only'),
    (dict(ACTIVE='teleport'), 'not one of'), ('nope', 'dictionary')])
def test_status_policy_is_validated(policy, words):
    with pytest.raises(EscalatorError) as info:
        normalize_options(dict(status_policy=policy))
    assert info.value.code == 'E_INVALID_INPUT' and words in info.value.msg


def test_decisions_override_the_status_policy_with_fenix_names():
    cloud = make_cloud()
    cold = cloud.add_server('cold', SRC)
    off = cloud.add_server('off', SRC, status='SHUTOFF')
    live = cloud.add_server('live', SRC)
    result = evacuate(cloud, decisions={cold.id: 'MIGRATE', off.id: 'LIVE_MIGRATE', live.id: 'live'})
    assert entry(result, cold)['method'] == 'cold' and cold.status == 'ACTIVE'
    assert entry(result, off)['method'] == 'cold' and off.status == 'SHUTOFF'
    assert entry(result, live)['method'] == 'live'


def test_decision_cold_for_paused_is_a_policy_error():
    cloud = make_cloud()
    paused = cloud.add_server('p', SRC, status='PAUSED')
    error = failing(cloud, 'E_POLICY', decisions={paused.id: 'cold'})
    assert 'VNFM chose a cold migration' in error.msg


def test_bad_decision_is_invalid_input():
    with pytest.raises(EscalatorError) as info:
        normalize_options(dict(decisions={'x': 'EVACUATE'}))
    assert 'LIVE_MIGRATE' in info.value.msg


def test_decisions_for_instances_elsewhere_are_ignored():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    result = evacuate(cloud, decisions={'not-here': 'OWN_ACTION'})
    assert result['moved'] == [server.id]


def test_own_action_waits_for_the_vnfm():
    cloud = make_cloud()
    own = cloud.add_server('own', SRC)
    other = cloud.add_server('other', SRC)
    cloud.call_at(30, lambda c: c.move_server(own.id, 'cmp4'))
    result = evacuate(cloud, decisions={own.id: 'OWN_ACTION'})
    item = entry(result, own)
    assert item['method'] == 'own_action' and item['result'] == 'moved' and item['to'] == 'cmp4'
    assert 30 <= item['seconds'] <= 33
    assert not [c for c in calls(cloud, 'live_migrate_server') if c[1] == own.id]
    assert entry(result, other)['result'] == 'moved'


def test_own_action_deleted_by_the_vnfm():
    cloud = make_cloud()
    own = cloud.add_server('own', SRC)
    cloud.call_at(10, lambda c: c.delete_server(own.id))
    result = evacuate(cloud, decisions={own.id: 'own_action'})
    assert entry(result, own)['result'] == 'deleted' and result['remaining'] == []


def test_own_action_timeout_falls_back_to_live():
    cloud = make_cloud()
    own = cloud.add_server('own', SRC)
    result = evacuate(cloud, decisions={own.id: 'OWN_ACTION'}, own_action_timeout=20)
    item = entry(result, own)
    assert item['result'] == 'moved' and item['method'] == 'live'
    assert item['attempts'][0]['outcome'] == 'fallback'
    assert calls(cloud, 'live_migrate_server')[0][1] == own.id
    assert cloud.now >= 20


def test_own_action_timeout_with_fail_fallback():
    cloud = make_cloud()
    own = cloud.add_server('own', SRC)
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', decisions={own.id: 'OWN_ACTION'}, own_action_timeout=20,
                    own_action_fallback='fail')
    assert error.details['instances'][0]['result'] == 'timeout'
    assert 'own_action_timeout' in error.msg and own.host == SRC and not cloud.migrations


def test_own_action_without_destination_only_warns():
    cloud = make_cloud(hosts=2)
    group = cloud.add_group('g')
    own = cloud.add_server('own', SRC, group=group)
    cloud.add_server('mate', 'cmp2', group=group)
    cloud.call_at(5, lambda c: c.delete_server(own.id))
    result = evacuate(cloud, decisions={own.id: 'OWN_ACTION'})
    assert any('its VNFM moves it itself' in w for w in result['warnings'])
    assert entry(result, own)['result'] == 'deleted'


def test_leave_alone_is_untouched_and_exempt():
    cloud = make_cloud()
    kept = cloud.add_server('kept', SRC)
    moved = cloud.add_server('moved', SRC)
    result = evacuate(cloud, leave_alone=[kept.id])
    assert entry(result, kept)['result'] == 'left_alone' and entry(result, kept)['method'] == 'left_alone'
    assert result['remaining'] == [kept.id] and result['moved'] == [moved.id]
    assert not [c for c in cloud.calls if c[0] == 'live_migrate_server' and c[1] == kept.id]


# -- failures at run time -----------------------------------------------------------

def test_runtime_no_valid_host_stops_starting_and_lets_running_finish():
    cloud = make_cloud(hosts=2)
    first = cloud.add_server('a', SRC, ram=1024)
    second = cloud.add_server('b', SRC, ram=1024)
    third = cloud.add_server('c', SRC, ram=1024)
    # After the preflight, someone else fills cmp2 so that only one more instance fits.
    cloud.call_at(0.5, lambda c: c.add_server('intruder', 'cmp2', ram=32768 - 2048))
    error = failing(cloud, 'E_NO_VALID_HOST', max_concurrent=1)
    results = {item['id']: item['result'] for item in error.details['instances']}
    assert results[first.id] == 'moved'
    assert results[second.id] == 'moved' or results[third.id] == 'moved'
    stuck = [item for item in error.details['instances'] if item['result'] == 'failed']
    assert len(stuck) == 1 and 'No valid host' in stuck[0]['error']
    assert 'Make room' in error.msg
    assert_settled(cloud)


def test_a_transient_no_valid_host_is_asked_again_later():
    # Nova's scheduler may still count an instance on the host it just left (until the next instance
    # sync), so a move the preflight found valid can be refused for a while: ask again later.
    cloud = make_cloud(hosts=2)
    server = cloud.add_server('vm0', SRC)
    cloud.call_at(0.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'disabled'))   # after the preflight
    cloud.call_at(30.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'enabled'))
    result = evacuate(cloud, destinations=['cmp2'], scheduler_retry_delay=20)
    item = entry(result, server)
    assert item['result'] == 'moved' and server.host == 'cmp2'
    outcomes = [attempt['outcome'] for attempt in item['attempts']]
    assert outcomes.count('retry_later') == 2 and outcomes[-1] == 'moved', outcomes
    assert cloud.clock() >= 40
    assert_settled(cloud)


def test_no_valid_host_retries_are_bounded():
    cloud = make_cloud(hosts=2)
    server = cloud.add_server('vm0', SRC)
    cloud.call_at(0.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'disabled'))
    error = failing(cloud, 'E_NO_VALID_HOST', scheduler_retries=2, scheduler_retry_delay=10)
    item = error.details['instances'][0]
    outcomes = [attempt['outcome'] for attempt in item['attempts']]
    assert outcomes.count('retry_later') == 2, outcomes
    assert item['result'] == 'failed' and 'No valid host' in item['error']
    assert server.host == SRC and server.status == 'ACTIVE'


def test_no_scheduler_retries_fails_at_the_first_no_valid_host():
    cloud = make_cloud(hosts=2)
    cloud.add_server('vm0', SRC)
    cloud.call_at(0.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'disabled'))
    error = failing(cloud, 'E_NO_VALID_HOST', scheduler_retries=0)
    assert 'retry_later' not in [attempt['outcome'] for attempt in error.details['instances'][0]['attempts']]
    assert cloud.clock() < 10


def test_a_cold_move_refused_by_the_scheduler_is_asked_again_later():
    cloud = make_cloud(hosts=2)
    off = cloud.add_server('off', SRC, status='SHUTOFF')
    cloud.call_at(0.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'disabled'))
    cloud.call_at(30.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'enabled'))
    result = evacuate(cloud, scheduler_retry_delay=45)
    assert entry(result, off)['result'] == 'moved' and off.host == 'cmp2' and off.status == 'SHUTOFF'
    assert 'retry_later' in [attempt['outcome'] for attempt in entry(result, off)['attempts']]


@pytest.mark.parametrize('option', ['scheduler_retries', 'scheduler_retry_delay'])
def test_scheduler_retry_options_must_not_be_negative(option):
    with pytest.raises(EscalatorError) as info:
        normalize_options({option: -1})
    assert info.value.code == 'E_INVALID_INPUT' and option in info.value.msg


def test_runtime_no_valid_host_for_a_cold_migration_is_read_from_instance_actions():
    cloud = make_cloud(hosts=2)
    off = cloud.add_server('off', SRC, status='SHUTOFF')
    cloud.call_at(0.0, lambda c: setattr(c.hosts['cmp2'], 'status', 'disabled'))
    error = failing(cloud, 'E_NO_VALID_HOST')
    item = error.details['instances'][0]
    assert item['result'] == 'failed' and 'NoValidHost' in item['error'] and 'No valid host' in item['error']
    assert off.status == 'SHUTOFF' and off.host == SRC


def test_completed_but_not_moved_is_a_migration_failure():
    cloud = make_cloud()
    server = cloud.add_server('liar', SRC)
    cloud.faults[server.id] = 'no_move'
    error = failing(cloud, 'E_MIGRATION_FAILED')
    assert 'completed but the server is still on cmp1' in error.msg
    assert error.details['failed_instances'] == [server.id] and error.details['remaining'] == [server.id]


def test_server_in_error_after_migration_is_reported_loudly():
    cloud = make_cloud()
    server = cloud.add_server('broken', SRC)
    cloud.faults[server.id] = 'server_error'
    error = failing(cloud, 'E_MIGRATION_FAILED')
    item = error.details['instances'][0]
    assert item['status_after'] == 'ERROR' and 'went to ERROR' in item['error'] and 'libvirtError' in item['error']


def test_live_failure_fail_keeps_the_server_where_it_was():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'error'
    error = failing(cloud, 'E_MIGRATION_FAILED')
    assert server.host == SRC and server.status == 'ACTIVE'
    assert error.details['instances'][0]['attempts'][0]['outcome'] == 'error'


def test_live_failure_cold_falls_back_to_a_cold_migration():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'error'

    def heal(c):
        c.faults.pop(server.id, None)

    cloud.call_at(7.0, heal)            # the live attempt has failed by then; the cold one works
    result = evacuate(cloud, live_failure='cold')
    item = entry(result, server)
    assert item['method'] == 'cold' and item['result'] == 'moved' and server.status == 'ACTIVE'
    assert [attempt['outcome'] for attempt in item['attempts']] == ['error', 'fallback', 'moved']


def test_precheck_refusal_tries_next_destination_then_falls_back_to_cold():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'precheck'
    result = evacuate(cloud, destinations=['cmp2'], live_failure='cold')
    item = entry(result, server)
    assert [(a['destination'], a['outcome']) for a in item['attempts']][:3] == [
        ('cmp2', 'refused'), ('scheduler', 'refused'), ('scheduler', 'fallback')]
    assert item['method'] == 'cold' and item['result'] == 'moved'


def test_precheck_refusal_without_fallback_fails():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'precheck'
    error = failing(cloud, 'E_MIGRATION_FAILED')
    assert 'Exceeded maximum number of retries' in error.msg and server.host == SRC


def test_a_409_is_a_clear_failure():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'reject'
    error = failing(cloud, 'E_MIGRATION_FAILED')
    assert "Cannot 'os-migrateLive'" in error.msg


def test_forbidden_is_raised_as_such():
    cloud = make_cloud()
    cloud.add_server('vm', SRC)
    cloud.forbidden.add('live_migrate_server')
    error = failing(cloud, 'E_FORBIDDEN')
    assert 'admin' in error.msg


def test_failure_stops_new_migrations_unless_keep_going():
    cloud = make_cloud()
    bad = cloud.add_server('a-bad', SRC)
    others = [cloud.add_server('b%d' % index, SRC) for index in range(3)]
    cloud.faults[bad.id] = 'reject'
    error = failing(cloud, 'E_MIGRATION_FAILED', max_concurrent=1)
    assert {item['result'] for item in error.details['instances'] if item['id'] != bad.id} == {'not_started'}
    assert all(server.host == SRC for server in others)
    error = failing(cloud, 'E_MIGRATION_FAILED', max_concurrent=1, keep_going=True)
    assert sorted(error.details['moved']) == sorted(server.id for server in others)
    assert error.details['failed_instances'] == [bad.id]


def test_server_deleted_during_migration():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.call_at(3, lambda c: c.delete_server(server.id))
    result = evacuate(cloud)
    assert result['instances'][0]['result'] == 'deleted'


# -- timeouts --------------------------------------------------------------------------

def test_migration_timeout_abort_returns_the_server_to_the_source():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'stuck'
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', migration_timeout=30)
    item = error.details['instances'][0]
    assert item['result'] == 'timeout' and 'aborted' in item['error']
    assert calls(cloud, 'abort') and server.host == SRC and server.status == 'ACTIVE'
    assert_settled(cloud)


def test_migration_timeout_force_complete_finishes_it():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'stuck'
    result = evacuate(cloud, migration_timeout=30, on_timeout='force_complete')
    item = result['instances'][0]
    assert item['result'] == 'moved' and calls(cloud, 'force_complete')
    assert 'force_complete' in [attempt['outcome'] for attempt in item['attempts']]


def test_migration_timeout_fail_leaves_it_running_and_reports():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.faults[server.id] = 'stuck'
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', migration_timeout=30, on_timeout='fail')
    assert not calls(cloud, 'abort') and not calls(cloud, 'force_complete')
    assert 'Nova may still complete it' in error.details['instances'][0]['error']
    assert server.status == 'MIGRATING'


def test_overall_timeout_aborts_in_flight_and_does_not_start_the_rest():
    cloud = make_cloud()
    stuck = cloud.add_server('a', SRC)
    later = cloud.add_server('b', SRC)
    cloud.faults[stuck.id] = 'stuck'
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', timeout=20, max_concurrent=1)
    results = {item['id']: item['result'] for item in error.details['instances']}
    assert results == {stuck.id: 'timeout', later.id: 'not_started'}
    assert stuck.host == SRC and stuck.status == 'ACTIVE' and later.host == SRC
    assert_settled(cloud)


def test_overall_timeout_without_abort_leaves_migrations_running():
    cloud = make_cloud()
    stuck = cloud.add_server('a', SRC)
    cloud.faults[stuck.id] = 'stuck'
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', timeout=20, on_timeout='fail')
    assert 'overall timeout' in error.msg and stuck.status == 'MIGRATING'
    assert not calls(cloud, 'abort')


# -- the end check, check mode, leftovers ------------------------------------------

def test_instance_arriving_during_evacuation_fails_the_emptiness_check():
    cloud = make_cloud()
    cloud.add_server('vm', SRC)
    cloud.call_at(3, lambda c: c.add_server('newcomer', SRC))
    error = failing(cloud, 'E_HOST_NOT_EMPTY')
    assert 'newcomer' in error.msg and len(error.details['remaining']) == 1
    cloud2 = make_cloud()
    cloud2.add_server('vm', SRC)
    cloud2.call_at(3, lambda c: c.add_server('newcomer', SRC))
    result = evacuate(cloud2, verify_empty=False)
    assert len(result['remaining']) == 1 and len(result['moved']) == 1


def test_check_mode_moves_nothing_and_reports_the_plan():
    cloud = make_cloud()
    live = cloud.add_server('vm', SRC)
    off = cloud.add_server('off', SRC, status='SHUTOFF')
    result = evacuate(cloud, check_mode=True, destinations=['cmp3'])
    assert result['changed'] is True and not cloud.migrations
    assert not calls(cloud, 'live_migrate_server') and not calls(cloud, 'migrate_server')
    assert entry(result, live)['method'] == 'live' and entry(result, live)['result'] == 'planned'
    assert entry(result, live)['to'] == 'cmp3' and entry(result, live)['candidates'] == ['cmp3', 'scheduler']
    assert entry(result, off)['method'] == 'cold'
    assert set(result['remaining']) == {live.id, off.id}


def test_check_mode_predicts_failures():
    cloud = make_cloud(hosts=2)
    group = cloud.add_group('g')
    cloud.add_server('x', SRC, group=group)
    cloud.add_server('y', 'cmp2', group=group)
    with pytest.raises(EscalatorError) as info:
        evacuate(cloud, check_mode=True)
    assert info.value.code == 'E_NO_VALID_HOST'


def test_adopts_a_migration_already_in_progress():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC)
    cloud.compute.live_migrate_server(server.id, host='cmp3')       # an interrupted earlier run
    cloud.advance(1.5)
    result = evacuate(cloud)
    item = result['instances'][0]
    assert item['result'] == 'moved' and item['to'] == 'cmp3' and item['attempts'][0]['outcome'] == 'adopted'
    assert len(calls(cloud, 'live_migrate_server')) == 1


def test_confirms_a_cold_migration_left_unconfirmed():
    cloud = make_cloud()
    server = cloud.add_server('off', SRC, status='SHUTOFF')
    cloud.compute.migrate_server(server.id)
    cloud.advance(10)
    assert server.status == 'VERIFY_RESIZE' and server.host != SRC
    planned = evacuate(cloud, check_mode=True)
    assert planned['confirmed'] == [server.id] and server.status == 'VERIFY_RESIZE'
    result = evacuate(cloud)
    assert result['confirmed'] == [server.id] and result['changed'] is True
    assert server.status == 'SHUTOFF'


def test_busy_instance_without_our_migration_is_reported():
    cloud = make_cloud()
    server = cloud.add_server('vm', SRC, status='MIGRATING')
    error = failing(cloud, 'E_MIGRATION_FAILED')
    assert 'someone else' in error.details['instances'][0]['error'] and server.host == SRC


# -- options ----------------------------------------------------------------------------

@pytest.mark.parametrize('options, words', [
    (dict(max_concurrent=0), 'at least 1'), (dict(timeout='x'), 'integer'), (dict(poll_interval=0), 'positive'),
    (dict(on_timeout='pray'), 'on_timeout'), (dict(live_failure='skip'), 'live_failure'),
    (dict(own_action_fallback='cold'), 'own_action_fallback'), (dict(block_migration='maybe'), 'block_migration'),
    (dict(strict_destinations=True), 'needs a list'), (dict(destinations=[1]), 'list of names'),
    (dict(bogus=1), 'unknown')])
def test_invalid_options(options, words):
    with pytest.raises(EscalatorError) as info:
        normalize_options(options)
    assert info.value.code == 'E_INVALID_INPUT' and words in info.value.msg


def test_defaults():
    opts = normalize_options({})
    assert opts['status_policy'] == dict(ACTIVE='live', PAUSED='live', SHUTOFF='cold', SUSPENDED='fail', ERROR='fail')
    assert (opts['live_failure'], opts['on_timeout'], opts['max_concurrent'], opts['block_migration']) == (
        'fail', 'abort', 2, 'auto')
    assert normalize_options(dict(destinations='cmp2'))['destinations'] == ['cmp2']


def test_poll_interval_is_used():
    cloud = make_cloud()
    cloud.add_server('vm', SRC)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        cloud.sleep(seconds)

    run.evacuate(cloud, SRC, dict(poll_interval=0.25), clock=cloud.clock, sleep=sleep)
    assert set(slept) == {0.25}
