# SPDX-License-Identifier: Apache-2.0
"""compute_evacuate against the lab's real Nova, run by `ansible` as a user would.

Evacuating the seed's busiest host (anti-affinity members, a standalone server, the SHUTOFF one, one server whose
live migration is force-completed by its own escalator:on_slow_migration policy);
`No valid host` seen by the preflight (nothing half-done); a stopped nova-compute as a clear error.
Every test restores what it changed (hosts re-enabled, nova-compute started, servers/groups it made deleted).
"""

import json
import os
import re
import subprocess
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REASON = 'escalator:itest-evacuate: evacuation test'
SLOW = 'escalator:on_slow_migration'
TIMEOUT = 'escalator:migration_timeout'

pytestmark = pytest.mark.lab


def run_module(lab, check=False, **args):
    """opnfv.escalator.compute_evacuate through `ansible localhost -m`; returns (failed, result)."""
    args.setdefault('cloud', lab.cloud_name)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.venv', 'collections'),
               OS_CLIENT_CONFIG_FILE=lab.clouds_yaml, ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_NOCOLOR='1')
    command = [os.path.join(REPO_ROOT, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'opnfv.escalator.compute_evacuate',
               '-a', json.dumps(args)] + (['--check'] if check else [])
    process = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=REPO_ROOT, check=False)
    marker = re.search(r'^localhost \| (SUCCESS|CHANGED|FAILED!) => ', process.stdout, re.M)
    assert marker, (process.returncode, process.stdout[-2000:], process.stderr[-2000:])
    return marker.group(1) == 'FAILED!', json.loads(process.stdout[marker.end():])


def service(cloud, host):
    return next(s for s in cloud.compute.services(binary='nova-compute', host=host) if s.host == host)


def servers(cloud):
    return {s.id: s for s in cloud.compute.servers(all_projects=True, details=True)}


def migrations_of(cloud, server_id):
    return list(cloud.compute.migrations(server_id=server_id))


def enabled_up_hosts(cloud):
    return sorted(s.host for s in cloud.compute.services(binary='nova-compute') if s.status == 'enabled' and s.state == 'up')


def busiest(lab, cloud):
    counts = {}
    for server in servers(cloud).values():
        counts[server.compute_host] = counts.get(server.compute_host, 0) + 1
    return max(lab.hosts, key=lambda host: (counts.get(host, 0), host == lab.hosts[0]))


@pytest.fixture
def disabled(cloud):
    """disable(host) with our reason; re-enabled at the end whatever happens."""
    done = []

    def disable(host):
        cloud.compute.disable_service(service(cloud, host), disabled_reason=REASON)
        done.append(host)
        return host

    yield disable
    for host in done:
        current = service(cloud, host)
        if current.status == 'disabled' and current.disabled_reason == REASON:
            cloud.compute.enable_service(current)


def test_evacuate_busy_host(seeded_lab, cloud):
    host = busiest(seeded_lab, cloud)
    before = servers(cloud)
    on_host = {sid: s for sid, s in before.items() if s.compute_host == host}
    assert len(on_host) >= 4 and any(s.status == 'SHUTOFF' for s in on_host.values())
    groups = [g for g in cloud.compute.server_groups(all_projects=True) if g.policy == 'anti-affinity']
    members = {m for g in groups for m in g.member_ids}
    assert members & set(on_host), 'the seed should put an anti-affinity member on %s' % host
    records_before = {sid: len(migrations_of(cloud, sid)) for sid in on_host}
    # one slow migration handled per instance: a 2 s timeout of its own is always over before the lab driver's ~5 s
    # live migration ends (the request, the conductor and pre-live-migration take most of it), so Escalator sends
    # Nova's force-complete (2.22), which the lab driver (nova's FakeLiveMigrateDriver) honours at once
    forced = next(sid for sid, s in sorted(on_host.items()) if s.status == 'ACTIVE')
    cloud.compute.set_server_metadata(forced, **{SLOW: 'force_complete', TIMEOUT: '2'})

    cloud.compute.disable_service(service(cloud, host), disabled_reason=REASON)
    try:
        started = time.monotonic()
        failed, result = run_module(seeded_lab, host=host, max_concurrent=2, migration_timeout=300, timeout=900,
                                    poll_interval=1)
        seconds = time.monotonic() - started
        assert not failed, result
        assert result['changed'] is True and result['remaining'] == [] and result['failed_instances'] == []
        after = servers(cloud)
        assert set(after) == set(before), 'an instance was lost or created'
        for sid, old in on_host.items():
            new = after[sid]
            assert new.compute_host != host, (old.name, new.compute_host)
            assert new.status == old.status, (old.name, old.status, new.status)
            entry = next(item for item in result['instances'] if item['id'] == sid)
            assert entry['result'] == 'moved' and entry['to'] == new.compute_host
            assert entry['method'] == ('cold' if old.status == 'SHUTOFF' else 'live')
            records = migrations_of(cloud, sid)
            assert len(records) == records_before[sid] + 1, [(m.id, m.status) for m in records]
            newest = max(records, key=lambda m: int(m.id))
            assert newest.status == ('confirmed' if old.status == 'SHUTOFF' else 'completed')
            assert newest.id == entry['migration_id']
            slow = entry['slow_migration']
            if sid == forced:
                assert (slow['policy'], slow['policy_from'], slow['timeout'], slow['timeout_from']) == (
                    'force_complete', 'server', 2, 'server'), slow
                assert [sent['action'] for sent in slow['sent']] == ['force_complete'], (slow, entry['attempts'])
                assert slow['sent'][0]['migration_id'] == newest.id and slow['live_seconds'] > 2
            elif entry['method'] == 'live':
                assert (slow['policy'], slow['policy_from'], slow['sent']) == ('abort', 'option', []), slow
            else:
                assert slow is None, slow
        print('force-completed %s after %.1fs, migration over in %.1fs' % (
            on_host[forced].name, result_slow(result, forced)['sent'][0]['after'],
            result_slow(result, forced)['live_seconds']))
        for group in groups:
            hosts = [after[m].compute_host for m in group.member_ids if m in after]
            assert len(hosts) == len(set(hosts)), 'anti-affinity broken in %s' % group.name
        print('evacuated %d instances off %s in %.1fs' % (len(on_host), host, seconds))
        failed, again = run_module(seeded_lab, host=host)
        assert not failed and again['changed'] is False
    finally:
        cloud.compute.enable_service(service(cloud, host))
        cloud.compute.delete_server_metadata(forced, [SLOW, TIMEOUT])


def result_slow(result, sid):
    return next(item for item in result['instances'] if item['id'] == sid)['slow_migration']


def test_no_valid_host_is_refused_before_anything_moves(seeded_lab, cloud, disabled):
    host = busiest(seeded_lab, cloud)
    hosts = enabled_up_hosts(cloud)
    assert host in hosts
    image = cloud.image.find_image('lab-image')
    flavor = cloud.compute.find_flavor('m1.tiny')
    group = cloud.compute.create_server_group(name='itest-evacuate-full', policy='anti-affinity')
    made = []
    try:
        for index in range(len(hosts)):      # one by one: parallel anti-affinity boots race
            server = cloud.compute.create_server(name='itest-evac-full-%d' % index, flavor_id=flavor.id,
                                                 image_id=image.id, networks='none', scheduler_hints={'group': group.id})
            made.append(server.id)
            cloud.compute.wait_for_server(server, wait=180)
        placed = {servers(cloud)[sid].compute_host for sid in made}
        assert placed == set(hosts)
        disabled(host)
        before = servers(cloud)
        records = {sid: len(migrations_of(cloud, sid)) for sid, s in before.items() if s.compute_host == host}
        failed, result = run_module(seeded_lab, host=host)
        assert failed and result['error_code'] == 'E_NO_VALID_HOST', result
        stuck = [sid for sid in made if before[sid].compute_host == host]
        assert result['stuck'] == stuck and 'nothing was moved' in result['msg']
        assert 'anti-affinity group itest-evacuate-full' in result['msg']
        after = servers(cloud)
        for sid, count in records.items():
            assert after[sid].compute_host == host and after[sid].status == before[sid].status
            assert after[sid].status not in ('MIGRATING', 'ERROR') and not after[sid].task_state
            assert len(migrations_of(cloud, sid)) == count, 'a migration was started'
        failed, planned = run_module(seeded_lab, check=True, host=host)
        assert failed and planned['error_code'] == 'E_NO_VALID_HOST'
    finally:
        for sid in made:
            cloud.compute.delete_server(sid, ignore_missing=True)
        deadline = time.monotonic() + 120
        while set(made) & set(servers(cloud)) and time.monotonic() < deadline:
            time.sleep(1)
        cloud.compute.delete_server_group(group, ignore_missing=True)


def test_stopped_nova_compute_is_a_clear_error(seeded_lab, cloud, disabled):
    host = busiest(seeded_lab, cloud)
    before = {sid: s.status for sid, s in servers(cloud).items() if s.compute_host == host}
    assert before
    disabled(host)
    seeded_lab.stop_compute(host)
    try:
        seeded_lab.wait_compute(host, 'down', timeout=90)
        failed, result = run_module(seeded_lab, host=host)
        assert failed and result['error_code'] == 'E_SERVICE_DOWN', result
        assert 'nova-compute on %s is down' % host in result['msg']
        assert sorted(result['remaining']) == sorted(before)
        after = servers(cloud)
        assert {sid: after[sid].status for sid in before} == before
    finally:
        seeded_lab.start_compute(host, wait=True)


def test_a_plan_edited_by_hand_to_break_a_budget_is_refused_before_anything_moves(exclusive_lab, cloud, tmp_path):
    """The campaign playbook's drain hands compute_evacuate the plan's moves, its batch and the plan's budgets: a
    stored plan edited by hand to put two members of an anti-affinity group (budget 1) into one batch is refused
    (E_PLAN) on the resume, before anything moves, and the hosts leave maintenance (issue 15). Nothing moves, so
    no lab reset is needed: any placement keeps the members of a pair on two hosts."""
    campaign_id = 'itest-edited-plan'
    env = dict(os.environ, PATH=os.path.join(REPO_ROOT, '.venv', 'bin') + os.pathsep + os.environ.get('PATH', ''),
               ESCALATOR_STATE_DIR=str(tmp_path / 'campaigns'), ANSIBLE_FORCE_COLOR='0',
               OS_CLIENT_CONFIG_FILE=exclusive_lab.clouds_yaml, OS_CLOUD=exclusive_lab.cloud_name)

    def campaign(*extra):
        command = [os.path.join(REPO_ROOT, '.venv', 'bin', 'ansible-playbook'), 'upgrade-compute.yml',
                   '-e', 'escalator_campaign_id=%s' % campaign_id, '-e', 'escalator_confirm=false'] + list(extra)
        done = subprocess.run(command, cwd=os.path.join(REPO_ROOT, 'playbooks'), env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        return done.returncode, done.stdout + done.stderr

    try:
        started = time.monotonic()
        rc, log = campaign('--tags', 'plan')          # plan, lock and record the campaign; no host is touched
        assert rc == 0, log[-4000:]
        print('planned in %.0fs' % (time.monotonic() - started))
        path = tmp_path / 'campaigns' / campaign_id / 'plan.json'
        plan = json.loads(path.read_text(encoding='utf-8'))
        where = {sid: s.compute_host for sid, s in servers(cloud).items()}
        batch_of = {host: batch['batch'] for batch in plan['batches'] for host in batch['hosts']}
        pairs = [(group.name, where[a], where[b]) for group in cloud.compute.server_groups(all_projects=True)
                 if group.policy == 'anti-affinity' for a in group.member_ids for b in group.member_ids
                 if a < b and where.get(a) in batch_of and where.get(b) in batch_of and where[a] != where[b]]
        assert pairs, 'the seed should put the members of an anti-affinity pair on two planned hosts'
        name, first, second = pairs[0]
        assert batch_of[first] != batch_of[second], 'the plan itself breaks the budget of %s' % name
        # by hand: both hosts in one batch, run first
        joined = [batch for batch in plan['batches'] if first in batch['hosts'] or second in batch['hosts']]
        merged = dict(joined[0], hosts=sorted(h for batch in joined for h in batch['hosts']),
                      moves=[move for batch in joined for move in batch['moves']])
        plan['batches'] = [merged] + [batch for batch in plan['batches'] if batch not in joined]
        for number, batch in enumerate(plan['batches'], 1):
            batch['batch'] = number
        path.write_text(json.dumps(plan), encoding='utf-8')
        before = servers(cloud)
        records = len(list(cloud.compute.migrations()))

        started = time.monotonic()
        rc, log = campaign('-e', 'escalator_precheck=false')
        print('refused in %.0fs' % (time.monotonic() - started))
        assert rc != 0, log[-6000:]
        assert 'E_PLAN' in log and 'group %s (anti-affinity, budget 1) has 2 members on %s, %s' % (
            name, min(first, second), max(first, second)) in log, log[-6000:]
        after = servers(cloud)
        assert {sid: (s.compute_host, s.status) for sid, s in after.items()} == \
            {sid: (s.compute_host, s.status) for sid, s in before.items()}, 'an instance moved'
        assert len(list(cloud.compute.migrations())) == records, 'a migration was started'
        for host in (first, second):
            assert service(cloud, host).status == 'enabled', 'the refused host %s stayed in maintenance' % host
    finally:
        for current in cloud.compute.services(binary='nova-compute'):
            if current.status == 'disabled' and campaign_id in (current.disabled_reason or ''):
                cloud.compute.enable_service(current)
        for aggregate in cloud.compute.aggregates():
            if aggregate.name == 'escalator-campaign-lock' and \
                    (aggregate.metadata or {}).get('campaign_id') == campaign_id:
                cloud.compute.delete_aggregate(aggregate)
