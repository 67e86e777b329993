# SPDX-License-Identifier: Apache-2.0
"""The lab itself: a real control plane and real hosts that behave like compute nodes."""
import os
import subprocess
import time

import pytest

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SEEDED = {  # name: (project, host position, status, metadata)
    'vnf-a-active': ('vnf-a', 0, 'ACTIVE', {'escalator_role': 'active', 'vnf': 'vnf-a'}),
    'vnf-a-standby': ('vnf-a', 1, 'ACTIVE', {'escalator_role': 'standby', 'vnf': 'vnf-a'}),
    'vnf-b-active': ('vnf-b', 0, 'ACTIVE', {'escalator_role': 'active', 'vnf': 'vnf-b'}),
    'vnf-b-standby': ('vnf-b', 2, 'ACTIVE', {'escalator_role': 'standby', 'vnf': 'vnf-b'}),
    'tenant-web-1': ('tenant', 0, 'ACTIVE', {}),
    'tenant-db-1': ('tenant', 1, 'ACTIVE', {}),
    'tenant-batch-1': ('tenant', 3, 'ACTIVE', {}),
    'tenant-stopped': ('tenant', 0, 'SHUTOFF', {}),
}


def _spare(lab):
    """The last host: the seeded layout keeps at most one server there."""
    return lab.hosts[-1]


def test_status_reports_control_plane_hosts_and_servers(seeded_lab):
    lab = seeded_lab
    st = lab.status()
    unhealthy = [s['service'] for s in st['control_plane'] if not s['healthy']]
    assert not unhealthy, unhealthy
    assert st['api_error'] is None
    assert len(st['hosts']) == len(lab.hosts) >= 2
    for h in st['hosts']:
        assert (h['power'], h['link'], h['ssh']) == ('on', 'up', True), h
    text = lab.run('status').stdout
    for word in ['CONTROL PLANE', 'HOSTS', 'SERVERS', 'nova-conductor'] + lab.hosts:
        assert word in text


def test_every_host_runs_its_own_nova_compute(seeded_lab, cloud):
    lab = seeded_lab
    services = {s.host: s for s in cloud.compute.services(binary='nova-compute')}
    for host in lab.hosts:
        assert services[host].state == 'up' and services[host].status == 'enabled'
        # the process runs INSIDE the host (its own systemd), from the packaged unit
        out = lab.ssh(host, 'systemctl show -p MainPID --value nova-compute.service && '
                      'hostname').stdout.split()
        assert int(out[0]) > 0 and out[1] == host
        hs = lab.host_status(host)
        assert hs['nova_compute']['running_version'] == hs['packages']['lab-compute-agent']


def test_host_capacity_is_real(exclusive_lab, cloud):
    lab = exclusive_lab
    for host in lab.hosts:
        rp = next(iter(cloud.placement.resource_providers(name=host)))
        inv = {i.resource_class: i for i in cloud.placement.resource_provider_inventories(rp)}
        assert inv['VCPU'].total == 16 and inv['VCPU'].allocation_ratio == 1.0
        assert inv['MEMORY_MB'].total == 32768 and inv['MEMORY_MB'].reserved == 0
        assert inv['DISK_GB'].total == 200


def test_seeded_workloads(seeded_lab, cloud):
    projects = {p.id: p.name for p in cloud.identity.projects()}
    servers = {s.name: s for s in cloud.compute.servers(all_projects=True, details=True)}
    assert set(servers) == set(SEEDED)
    hosts = seeded_lab.hosts
    for name, (project, pos, status, meta) in SEEDED.items():
        s = servers[name]
        assert projects[s.project_id] == project
        assert s.status == status and s.metadata == meta, (name, s.status, s.metadata)
    first = [s for s in servers.values() if s.compute_host == hosts[0]]
    assert len(first) >= 4
    assert any(s.status == 'SHUTOFF' for s in first)
    assert any(s.metadata.get('escalator_role') for s in first)
    groups = {g.name: g for g in cloud.compute.server_groups(all_projects=True)}
    for g in ('vnf-a-pair', 'vnf-b-pair'):
        assert groups[g].policy == 'anti-affinity'
        members = [s for s in servers.values() if s.id in groups[g].member_ids]
        assert len(members) == 2
        assert members[0].compute_host != members[1].compute_host


def test_lab_up_twice_is_a_noop_that_still_writes_this_checkouts_inventory(seeded_lab):
    # a checkout other than the one that brought the lab up (a CI clone) needs its inventory and clouds.yaml
    lab = seeded_lab
    repo_inventory = os.path.join(REPO, 'inventories', 'lab')
    for name in ('hosts.yml', 'clouds.yaml'):
        os.unlink(os.path.join(repo_inventory, name))
    out = lab.run('up').stdout
    assert 'nothing to do' in out
    with open(os.path.join(repo_inventory, 'hosts.yml'), encoding='utf-8') as handle:
        inventory = handle.read()
    assert all('%s:' % host in inventory for host in lab.hosts)
    assert os.path.exists(os.path.join(repo_inventory, 'clouds.yaml'))


def test_traffic_stays_on_loopback_and_bridge(exclusive_lab):
    lab = exclusive_lab
    out = subprocess.run(['ss', '-Hltn'], capture_output=True, text=True, check=True).stdout
    lab_ports = {'5000', '5050', '5672', '8774', '8778', '9292', '9696', '13306', '25672', '4369'}  # 5050: registry
    for line in out.splitlines():
        local = line.split()[3]
        addr, port = local.rsplit(':', 1)
        if port in lab_ports:
            assert addr in ('127.0.0.1', '10.213.0.1', '[::1]'), line
    host = lab.hosts[0]
    routes = lab.ssh(host, 'ip route show default').stdout
    assert 'via 10.213.0.254' in routes
    blackhole = subprocess.run(['ip', 'route', 'show', 'type', 'blackhole'],
                               capture_output=True, text=True, check=False).stdout
    assert '10.213.0.0/16' in blackhole


def _restart_seen(lab, host, action, timeout=90):
    """Run `action`, return (seconds until Nova shows down, seconds until up again)."""
    t0 = time.time()
    action()
    down = lab.wait_compute(host, 'down', timeout=timeout)
    up = lab.wait_compute(host, 'up', timeout=timeout, since=t0)
    return down, down + up


def test_service_restart_is_seen_down_then_up(seeded_lab):
    lab = seeded_lab
    host = _spare(lab)
    before = {s.id: s.status for s in lab.servers_on(host)}
    pid0 = lab.host_status(host)['nova_compute']['pid']
    down, up = _restart_seen(lab, host, lambda: lab.ssh(host, 'systemctl restart nova-compute'))
    assert down < 30 and up < 60
    assert lab.host_status(host)['nova_compute']['pid'] != pid0
    # guests survive a nova-compute restart (the lab driver re-adopts them)
    time.sleep(2)
    assert {s.id: s.status for s in lab.servers_on(host)} == before


def test_reboot_is_seen_down_then_up(seeded_lab):
    lab = seeded_lab
    host = _spare(lab)
    boot0 = lab.ssh(host, 'cat /proc/sys/kernel/random/boot_id').stdout.strip()
    down, up = _restart_seen(lab, host, lambda: lab.ssh(host, 'systemctl reboot', check=False))
    assert up < 90
    boot1 = lab.ssh(host, 'cat /proc/sys/kernel/random/boot_id').stdout.strip()
    assert boot1 != boot0


def test_package_upgrade_restarts_nova_compute(seeded_lab):
    lab = seeded_lab
    host = _spare(lab)
    t0 = time.time()
    lab.ssh(host, 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q '
                  'lab-compute-agent=2.0 lab-kernel=2.0', timeout=180)
    lab.wait_compute(host, 'up', since=t0)
    hs = lab.host_status(host)
    assert hs['packages'] == {'lab-compute-agent': '2.0', 'lab-kernel': '2.0'}
    assert hs['nova_compute']['running_version'] == '2.0'
    assert hs['reboot_required'] is True
    assert 'version = 2.0' in lab.ssh(host, 'cat /etc/nova/nova-compute-agent.conf').stdout


def test_break_upgrade_makes_the_upgrade_fail(seeded_lab):
    lab = seeded_lab
    host = _spare(lab)
    lab.break_upgrade(host)
    p = lab.ssh(host, 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y '
                      '-q lab-compute-agent=2.0', check=False, timeout=180)
    assert p.returncode != 0
    assert 'half-configured' in lab.host_status(host)['packages']['lab-compute-agent']
    # a rollback (downgrade) still works while the fault is set
    lab.ssh(host, 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades '
                  'lab-compute-agent=1.0', timeout=180)
    lab.fix_upgrade(host)
    lab.ssh(host, 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q lab-compute-agent=2.0',
            timeout=180)
    assert lab.host_status(host)['packages']['lab-compute-agent'] == '2.0'


def test_live_migration_between_two_hosts(seeded_lab, cloud):
    lab = seeded_lab
    src, dst = lab.hosts[-1], lab.hosts[-2]
    server = lab.servers_on(src)[0]
    cloud.compute.live_migrate_server(server, host=dst, block_migration='auto')
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        s = cloud.compute.get_server(server.id)
        migs = sorted(cloud.compute.migrations(instance_uuid=server.id),
                      key=lambda m: m.created_at)
        if migs and migs[-1].status in ('error', 'failed'):
            pytest.fail('live migration %s' % migs[-1].status)
        if (s.compute_host == dst and migs and migs[-1].status == 'completed'
                and s.status == 'ACTIVE' and not s.task_state):
            break
        time.sleep(0.5)
    else:
        pytest.fail('live migration did not complete: %s on %s' % (s.status, s.compute_host))
    assert migs[-1].migration_type == 'live-migration'


@pytest.mark.parametrize('fault', ['crash', 'power', 'link', 'compute'])
def test_fault_is_seen_and_recovered(seeded_lab, fault):
    lab = seeded_lab
    host = _spare(lab)
    inject, recover = {
        'crash': (lab.crash, None),                      # boots again by itself
        'power': (lab.power_off, lab.power_on),
        'link': (lab.link_down, lab.link_up),
        'compute': (lab.stop_compute, lab.start_compute),
    }[fault]
    t0 = time.time()
    inject(host)
    lab.wait_compute(host, 'down', timeout=30)
    hs = lab.host_status(host)
    if fault == 'power':
        assert hs['power'] == 'off' and not hs['ssh']
    if fault == 'link':
        assert hs['link'] == 'down'
        assert lab.ssh(host, 'true', check=False, timeout=30).returncode == 255
    if recover:
        recover(host)
    lab.wait_compute(host, 'up', timeout=120, since=t0)
    assert lab.ssh(host, 'systemctl is-active nova-compute').stdout.strip() == 'active'
