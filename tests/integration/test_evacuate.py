# SPDX-License-Identifier: Apache-2.0
"""compute_evacuate against the lab's real Nova, run by `ansible` as a user would.

Evacuating the seed's busiest host (anti-affinity members, a standalone server, the SHUTOFF one);
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

    cloud.compute.disable_service(service(cloud, host), disabled_reason=REASON)
    try:
        started = time.monotonic()
        failed, result = run_module(seeded_lab, host=host, max_concurrent=2, migration_timeout=300, timeout=900)
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
        for group in groups:
            hosts = [after[m].compute_host for m in group.member_ids if m in after]
            assert len(hosts) == len(set(hosts)), 'anti-affinity broken in %s' % group.name
        print('evacuated %d instances off %s in %.1fs' % (len(on_host), host, seconds))
        failed, again = run_module(seeded_lab, host=host)
        assert not failed and again['changed'] is False
    finally:
        cloud.compute.enable_service(service(cloud, host))


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
