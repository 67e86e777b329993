# SPDX-License-Identifier: Apache-2.0
"""The evacuation honours each server's escalator:action (and its group's escalator:budget), against the fake
cloud in fake time (issue 16)."""

from __future__ import annotations

import types

from ansible_collections.opnfv.escalator.tests.unit.evacuation_calls import SRC, calls, entry, evacuate, failing
from ansible_collections.opnfv.escalator.tests.unit.evacuation_calls import make_cloud as base_cloud
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import http_error


def _stop_server(compute, server):
    """Nova's stop: 202, the guest shuts down cleanly (task powering-off), SHUTOFF a few seconds later."""
    cloud = compute.cloud
    record = cloud.servers[server if isinstance(server, str) else server.id]
    cloud.calls.append(('stop_server', record.id))
    if record.status != 'ACTIVE' or record.task_state:
        raise http_error(409, "Cannot 'stop' instance %s while it is in vm_state %s" % (record.id, record.status.lower()))
    record.task_state = 'powering-off'

    def stopped(_cloud):
        record.status = 'SHUTOFF'
        record.task_state = None
    cloud.call_at(cloud.now + 4, stopped)


def make_cloud(hosts=3):
    cloud = base_cloud(hosts)
    cloud.compute.stop_server = types.MethodType(_stop_server, cloud.compute)
    return cloud


def tagged(cloud, name, action, status='ACTIVE', host=SRC, **kwargs):
    return cloud.add_server(name, host, status=status, metadata={'escalator:action': action}, **kwargs)


def test_cold_tag_is_moved_cold_only_even_when_the_vnfm_says_live():
    cloud = make_cloud()
    db = tagged(cloud, 'db', 'cold')
    result = evacuate(cloud, decisions={db.id: 'live'})
    assert not calls(cloud, 'live_migrate_server', db) and calls(cloud, 'migrate_server', db)
    assert entry(result, db)['method'] == 'cold' and entry(result, db)['result'] == 'moved'
    assert db.host != SRC and db.status == 'ACTIVE'


def test_stop_tag_is_stopped_moved_cold_and_left_shutoff():
    cloud = make_cloud()
    web = tagged(cloud, 'web', 'stop')
    plain = cloud.add_server('plain', SRC)
    result = evacuate(cloud)
    assert calls(cloud, 'stop_server', web) and not calls(cloud, 'live_migrate_server', web)
    assert calls(cloud, 'migrate_server', web) and calls(cloud, 'live_migrate_server', plain)
    item = entry(result, web)
    assert item['method'] == 'stop' and item['result'] == 'moved' and item['status_after'] == 'SHUTOFF'
    assert item['attempts'][0]['outcome'] == 'stopped'
    assert web.host != SRC and web.status == 'SHUTOFF' and web.task_state is None


def test_stop_tag_on_a_stopped_server_is_a_cold_move():
    cloud = make_cloud()
    off = tagged(cloud, 'off', 'stop', status='SHUTOFF')
    result = evacuate(cloud)
    assert not calls(cloud, 'stop_server') and entry(result, off)['result'] == 'moved' and off.status == 'SHUTOFF'


def test_skip_tag_on_a_host_being_emptied_is_refused_before_anything_moves():
    cloud = make_cloud()
    pinned = tagged(cloud, 'pinned', 'skip')
    cloud.add_server('plain', SRC)
    error = failing(cloud, 'E_POLICY')
    assert 'pinned' in error.msg and 'escalator:action=skip' in error.msg and 'plan' in error.msg
    assert not cloud.migrations and pinned.host == SRC


def test_an_unknown_action_is_refused_naming_the_server():
    cloud = make_cloud()
    tagged(cloud, 'odd', 'migrate')
    error = failing(cloud, 'E_POLICY')
    assert "odd" in error.msg and "escalator:action='migrate'" in error.msg and not cloud.migrations


def test_notify_tag_waits_for_the_vnfm_and_is_never_migrated_by_escalator():
    cloud = make_cloud()
    vnfc = tagged(cloud, 'vnfc', 'notify')
    cloud.call_at(30, lambda c: c.move_server(vnfc.id, 'cmp3'))
    result = evacuate(cloud, decisions={vnfc.id: 'live'})       # the VNFM's reply does not turn it into a migration
    item = entry(result, vnfc)
    assert item['method'] == 'own_action' and item['result'] == 'moved' and item['to'] == 'cmp3'
    assert not calls(cloud, 'live_migrate_server') and not calls(cloud, 'migrate_server')
    assert not any('re-planned' in warning for warning in result['warnings'])


def test_notify_tag_left_on_the_host_follows_the_own_action_timeout_policy():
    cloud = make_cloud()
    vnfc = tagged(cloud, 'vnfc', 'notify')
    error = failing(cloud, 'E_MIGRATION_TIMEOUT', own_action_timeout=20, own_action_fallback='fail')
    assert 'own_action_timeout' in error.msg and vnfc.host == SRC and not cloud.migrations
    cloud = make_cloud()
    vnfc = tagged(cloud, 'vnfc', 'notify')
    result = evacuate(cloud, own_action_timeout=20)
    assert entry(result, vnfc)['result'] == 'moved' and calls(cloud, 'live_migrate_server', vnfc)


def test_own_action_reply_on_a_cold_server_falls_back_to_cold():
    cloud = make_cloud()
    db = tagged(cloud, 'db', 'cold')
    result = evacuate(cloud, decisions={db.id: 'own_action'}, own_action_timeout=20)
    assert entry(result, db)['result'] == 'moved'
    assert calls(cloud, 'migrate_server', db) and not calls(cloud, 'live_migrate_server', db)


def test_the_plans_move_policy_holds_when_the_tag_is_gone():
    cloud = make_cloud()
    db = cloud.add_server('db', SRC)
    result = evacuate(cloud, moves=[{'instance': db.id, 'to': ['cmp2'], 'mode': 'cold', 'policy': 'cold'}])
    assert calls(cloud, 'migrate_server', db) and not calls(cloud, 'live_migrate_server', db)
    assert entry(result, db)['to'] == 'cmp2'


def test_the_current_tag_wins_over_the_plans_move_policy_with_a_warning():
    cloud = make_cloud()
    db = tagged(cloud, 'db', 'live')
    result = evacuate(cloud, moves=[{'instance': db.id, 'to': ['cmp2'], 'policy': 'cold'}])
    assert calls(cloud, 'live_migrate_server', db) and not calls(cloud, 'migrate_server', db)
    assert any('escalator:action' in warning and 'cold' in warning for warning in result['warnings'])


def test_the_batch_guard_uses_the_members_budget_tag():
    cloud = make_cloud(4)
    group = cloud.add_group('pair')
    cloud.add_server('a', SRC, group=group, metadata={'escalator:budget': '1'})
    cloud.add_server('b', 'cmp2', group=group, metadata={'escalator:budget': '1'})
    error = failing(cloud, 'E_PLAN', batch_hosts=[SRC, 'cmp2'], default_budget=1, budgets={'pair': 2})
    assert 'pair' in error.msg and 'budget 1' in error.msg and not cloud.migrations
    cloud = make_cloud(4)
    group = cloud.add_group('pair')
    cloud.add_server('a', SRC, group=group, metadata={'escalator:budget': '2'})
    cloud.add_server('b', 'cmp2', group=group, metadata={'escalator:budget': '2'})
    cloud.hosts['cmp2'].status = 'disabled'
    result = evacuate(cloud, batch_hosts=[SRC, 'cmp2'], default_budget=1)
    assert len(result['moved']) == 1
