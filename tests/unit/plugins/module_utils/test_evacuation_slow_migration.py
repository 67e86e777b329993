# SPDX-License-Identifier: Apache-2.0
"""A live migration that does not converge, per instance (issue 17 point 6): a server's
``escalator:on_slow_migration`` (force_complete, abort, abort_then_cold) and ``escalator:migration_timeout`` over
compute_evacuate's ``on_timeout`` and ``migration_timeout``, refused when unknown before anything moves, and the
choice and what happened in each instance's report; the planner and its checker refuse a bad value like a bad
``escalator:action``. Against the fake cloud in fake time (a ``stuck`` live migration runs until force-completed or
aborted)."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.fingerprint import fingerprint
from ansible_collections.opnfv.escalator.tests.unit.evacuation_calls import SRC, calls, entry, evacuate, failing, make_cloud

SLOW = 'escalator:on_slow_migration'
TIMEOUT = 'escalator:migration_timeout'


def slow_server(cloud, name, metadata=None, status='ACTIVE'):
    """A server whose live migration never converges by itself (until force-completed or aborted)."""
    server = cloud.add_server(name, SRC, status=status, metadata=metadata)
    cloud.faults[server.id] = 'stuck'
    return server


# -- each choice ---------------------------------------------------------------------------------

def test_force_complete_from_the_server_over_the_abort_default():
    cloud = make_cloud()
    vnf = slow_server(cloud, 'vnf', {SLOW: 'force_complete'})
    result = evacuate(cloud, migration_timeout=30)            # on_timeout: abort (the default) for the others
    item = entry(result, vnf)
    assert item['result'] == 'moved' and item['method'] == 'live' and vnf.host != SRC
    assert calls(cloud, 'force_complete') and not calls(cloud, 'abort')
    slow = item['slow_migration']
    assert (slow['policy'], slow['policy_from'], slow['timeout'], slow['timeout_from']) == (
        'force_complete', 'server', 30, 'option')
    assert [(sent['action'], sent['after']) for sent in slow['sent']] == [('force_complete', 30.0)]
    assert slow['sent'][0]['at'].endswith('Z') and slow['sent'][0]['migration_id'] == item['migration_id']
    assert slow['sent'][0]['why'] == 'escalator:on_slow_migration=force_complete, over migration_timeout=30'
    assert slow['live_seconds'] >= 30 and slow['live_seconds'] == item['seconds']


def test_abort_from_the_server_over_a_force_complete_option():
    cloud = make_cloud()
    vnf = slow_server(cloud, 'vnf', {SLOW: 'Abort'})
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', migration_timeout=30, on_timeout='force_complete')
    item = entry(error.details, vnf)
    assert item['result'] == 'timeout' and vnf.host == SRC and vnf.status == 'ACTIVE'
    assert calls(cloud, 'abort') and not calls(cloud, 'force_complete')
    assert 'escalator:on_slow_migration=abort' in item['error'] and 'aborted' in item['error']
    slow = item['slow_migration']
    assert (slow['policy'], slow['policy_from']) == ('abort', 'server')
    assert [sent['action'] for sent in slow['sent']] == ['abort'] and slow['live_seconds'] >= 30


def test_abort_then_cold_aborts_then_moves_it_cold():
    cloud = make_cloud()
    vnf = slow_server(cloud, 'vnf', {SLOW: 'abort_then_cold'})
    result = evacuate(cloud, migration_timeout=30)
    item = entry(result, vnf)
    assert item['result'] == 'moved' and item['method'] == 'cold' and vnf.host != SRC and vnf.status == 'ACTIVE'
    assert calls(cloud, 'abort') and calls(cloud, 'migrate_server') and not calls(cloud, 'force_complete')
    outcomes = [attempt['outcome'] for attempt in item['attempts']]
    assert outcomes == ['cancelled', 'fallback', 'moved'], item['attempts']
    assert 'abort_then_cold' in item['attempts'][1]['error']
    slow = item['slow_migration']
    assert (slow['policy'], slow['policy_from']) == ('abort_then_cold', 'server')
    assert [sent['action'] for sent in slow['sent']] == ['abort']
    assert 30 <= slow['live_seconds'] < item['seconds']       # the live part, then the cold move


def test_the_servers_own_timeout():
    cloud = make_cloud()
    quick = slow_server(cloud, 'quick', {SLOW: 'force_complete', TIMEOUT: '10'})
    result = evacuate(cloud, migration_timeout=600)
    slow = entry(result, quick)['slow_migration']
    assert (slow['timeout'], slow['timeout_from']) == (10, 'server')
    assert slow['sent'][0]['why'] == 'escalator:on_slow_migration=force_complete, over escalator:migration_timeout=10'
    assert slow['sent'][0]['after'] == 10.0 and result['duration'] < 60


def test_after_a_force_complete_the_module_bound_holds_not_the_servers_timeout():
    cloud = make_cloud()
    vnf = slow_server(cloud, 'vnf', {SLOW: 'force_complete', TIMEOUT: '10'})
    forced = cloud.compute.force_complete_server_migration

    def force_without_effect(migration, server=None):     # a forced migration that still does not end
        forced(migration, server)
        cloud.migrations[-1].forced = False
        cloud.faults[vnf.id] = 'stuck'
    cloud.compute.force_complete_server_migration = force_without_effect
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', migration_timeout=100, on_timeout='fail')
    item = entry(error.details, vnf)
    assert item['result'] == 'timeout' and 'after force-complete' in item['error']
    assert [sent['after'] for sent in item['slow_migration']['sent']] == [10.0]
    assert 110 <= item['slow_migration']['live_seconds'] < 115


def test_the_default_is_the_module_option_and_a_converging_migration_sends_nothing():
    cloud = make_cloud()
    plain = cloud.add_server('plain', SRC)                  # converges in ~6 s
    stuck = slow_server(cloud, 'stuck')
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', migration_timeout=30)
    moved, aborted = entry(error.details, plain), entry(error.details, stuck)
    assert moved['result'] == 'moved'
    assert moved['slow_migration']['sent'] == [] and moved['slow_migration']['policy_from'] == 'option'
    assert moved['slow_migration']['live_seconds'] > 0
    assert (aborted['slow_migration']['policy'], aborted['slow_migration']['policy_from']) == ('abort', 'option')
    assert (aborted['slow_migration']['timeout'], aborted['slow_migration']['timeout_from']) == (30, 'option')
    assert 'on_timeout=abort' in aborted['error']


def test_the_overall_timeout_abort_is_recorded_and_no_cold_move_follows_it():
    cloud = make_cloud()
    vnf = slow_server(cloud, 'vnf', {SLOW: 'abort_then_cold'})
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', timeout=20, migration_timeout=600)
    item = entry(error.details, vnf)
    assert item['result'] == 'timeout' and vnf.host == SRC and not calls(cloud, 'migrate_server')
    assert [(sent['action'], sent['why']) for sent in item['slow_migration']['sent']] == [
        ('abort', 'on_timeout=abort, over the overall timeout=20')]
    assert 'over the overall timeout=20' in item['error']


def test_a_cold_move_has_no_slow_migration_policy():
    cloud = make_cloud()
    off = cloud.add_server('off', SRC, status='SHUTOFF', metadata={SLOW: 'force_complete'})
    result = evacuate(cloud)
    assert entry(result, off)['method'] == 'cold' and entry(result, off)['slow_migration'] is None


def test_check_mode_shows_the_policy_of_each_live_move():
    cloud = make_cloud()
    vnf = cloud.add_server('vnf', SRC, metadata={SLOW: 'abort_then_cold', TIMEOUT: 45})
    result = evacuate(cloud, check_mode=True)
    slow = entry(result, vnf)['slow_migration']
    assert (slow['policy'], slow['policy_from'], slow['timeout'], slow['timeout_from'], slow['sent']) == (
        'abort_then_cold', 'server', 45, 'server', [])
    assert not calls(cloud, 'live_migrate_server')


# -- unknown values: refused before anything moves -------------------------------------------------

@pytest.mark.parametrize('metadata, words', [
    ({SLOW: 'pause'}, "escalator:on_slow_migration='pause'"),
    ({TIMEOUT: 'soon'}, "escalator:migration_timeout='soon'"),
    ({TIMEOUT: '0'}, "escalator:migration_timeout='0'"),
])
def test_an_unknown_value_is_refused_before_anything_moves(metadata, words):
    cloud = make_cloud()
    plain = cloud.add_server('plain', SRC)
    bad = cloud.add_server('bad', SRC, metadata=metadata)
    error = failing(cloud, 'E_POLICY')
    assert words in error.msg and 'bad (%s)' % bad.id in error.msg and 'openstack server set --property' in error.msg
    assert error.details['stuck'] == [bad.id] and not cloud.migrations and plain.host == SRC


# -- the planner and its checker ----------------------------------------------------------------------

def inst(iid, metadata=None):
    return {"id": iid, "name": iid, "project_id": "p", "status": "ACTIVE", "vcpus": 1, "memory_mb": 512,
            "disk_gb": 1, "server_groups": [], "metadata": dict(metadata or {})}


def host(name, instances=()):
    instances = list(instances)
    return {"name": name, "zone": "nova", "aggregates": [], "state": "up", "status": "enabled",
            "disabled_reason": None, "capacity": {"vcpus": 16, "memory_mb": 32768, "disk_gb": 200},
            "used": {k: sum(i[k] for i in instances) for k in ("vcpus", "memory_mb", "disk_gb")},
            "instances": instances}


OPTIONS = {"max_batch_size": 2, "campaign_id": "t"}


def test_the_planner_knows_the_keys_and_the_fingerprint_ignores_them():
    tagged = [host("c1", [inst("vnf", {SLOW: "abort_then_cold", TIMEOUT: "120"})]), host("c2"), host("c3")]
    plan = plan_campaign(tagged, [], OPTIONS)
    assert plan["feasible"], plan["reasons"]
    assert not any(SLOW in w or TIMEOUT in w for w in plan["warnings"]), plan["warnings"]
    assert check_plan(tagged, [], OPTIONS, plan) == []
    # not a plan input: set or changed mid-campaign, the reviewed plan still holds (the evacuation reads it)
    assert fingerprint(tagged, [], OPTIONS) == fingerprint([host("c1", [inst("vnf")]), host("c2"), host("c3")],
                                                           [], OPTIONS)


@pytest.mark.parametrize('metadata, words', [
    ({SLOW: 'pause'}, "escalator:on_slow_migration='pause'"),
    ({TIMEOUT: '-5'}, "escalator:migration_timeout='-5'"),
])
def test_the_planner_refuses_an_unknown_value_naming_the_server_with_a_hint(metadata, words):
    plan = plan_campaign([host("c1", [inst("web", metadata)]), host("c2"), host("c3")], [], OPTIONS)
    assert not plan["feasible"]
    assert any("server web" in r and words in r and "openstack server set --property" in r
               for r in plan["reasons"]), plan["reasons"]


def test_the_checker_refuses_a_feasible_plan_over_an_unknown_value():
    hosts = [host("c1", [inst("web", {SLOW: "pause"})]), host("c2"), host("c3")]
    clean = [host("c1", [inst("web")]), host("c2"), host("c3")]
    plan = plan_campaign(clean, [], OPTIONS)
    assert plan["feasible"] and check_plan(clean, [], OPTIONS, plan) == []
    found = check_plan(hosts, [], OPTIONS, plan)
    assert any("escalator:on_slow_migration='pause'" in v for v in found), found
