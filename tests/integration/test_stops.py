# SPDX-License-Identifier: Apache-2.0
"""The rows of docs/status.md "Every way a campaign stops" that test_campaign.py does not walk (issue 12).

One campaign, one lab reset, its stops chained (the suite's time budget): the precheck refuses it, the canary's VNF
manager refuses (NACK), the next host loses its link mid-upgrade, its software half-changed; after each stop the
test checks what the cloud looks like and what `escalator status` says, then runs the ONE documented command that
continues - always the same one - and the last run finishes: every host at the target version or explicitly
skipped, none left disabled, no lock, no instance moved more often than the plan said.

To keep it cheap the campaign upgrades two hosts (a canary, then one more); the other two are left out with
escalator_exclude_hosts (skipped, and destinations for the whole campaign).
"""
import importlib.util
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

pytestmark = pytest.mark.lab


def _whole_campaign_helpers():
    """test_campaign.py's helpers (Campaign, the snapshots): pytest imports test files with importlib, so a
    sibling test module is not importable by name."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_campaign.py')
    spec = importlib.util.spec_from_file_location('escalator_lab_campaign_helpers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_helpers = _whole_campaign_helpers()
PLAYBOOKS, VENV_BIN, Campaign, _now = _helpers.PLAYBOOKS, _helpers.VENV_BIN, _helpers.Campaign, _helpers._now
agent_version, compute_services, servers_snapshot = (_helpers.agent_version, _helpers.compute_services,
                                                     _helpers.servers_snapshot)

LOCK_AGGREGATE = 'escalator-campaign-lock'
VNFM_CONTROL = 'http://127.0.0.1:9310/control'
BATCH_SIZE = ('-e', 'escalator_max_batch_size=2')   # pinned: a change of the default must not change the scenario


def cloud_lock(conn):
    """The campaign lock's metadata, or None when nobody holds it."""
    for aggregate in conn.compute.aggregates():
        if aggregate.name == LOCK_AGGREGATE:
            return dict(aggregate.metadata or {})
    return None


def vnfm_mode(mode):
    request = urllib.request.Request(VNFM_CONTROL, data=json.dumps(dict(mode=mode)).encode(), method='POST',
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())['mode'] == mode


def escalator_status(campaign):
    """`escalator status -c ID` as an operator reads it: (table, the --json document)."""
    base = [os.path.join(VENV_BIN, 'escalator'), 'status', '-c', campaign.id, '--state-dir', campaign.state_dir]
    table = subprocess.run(base, env=campaign.env, capture_output=True, text=True, timeout=120, check=True).stdout
    document = subprocess.run(base + ['--json'], env=campaign.env, capture_output=True, text=True, timeout=120,
                              check=True).stdout
    return table, json.loads(document)


def planned_moves(campaign):
    with open(os.path.join(campaign.state_dir, campaign.id, 'plan.json'), encoding='utf-8') as handle:
        plan = json.load(handle)
    return plan, plan['moves_per_instance']


def nova_moves(conn, since):
    counts = {}
    for migration in conn.compute.migrations(changes_since=since):
        if migration.status in ('completed', 'confirmed', 'finished'):
            counts[migration.server_id] = counts.get(migration.server_id, 0) + 1
    return counts


def installed_version(lab, host, package):
    """The version dpkg records as installed on a lab host, read from the host's root file system on this machine
    (no SSH: this is polled while the host is being upgraded)."""
    path = os.path.join(lab.state_dir, 'hosts', host, 'root', 'var', 'lib', 'dpkg', 'status')
    try:
        with open(path, encoding='utf-8') as handle:
            records = handle.read().split('\n\n')
    except OSError:
        return None
    for record in records:
        fields = dict(line.split(': ', 1) for line in record.splitlines() if ': ' in line and line[0] != ' ')
        if fields.get('Package') == package and fields.get('Status', '').endswith(' installed'):
            return fields.get('Version')
    return None


def run_and_cut_link(campaign, command, lab, victim, log_path):
    """The same command; the victim's link is cut as soon as its upgrade has installed the first new package (its
    software half-upgraded, the package manager still at work). Returns (rc, log)."""
    with open(log_path, 'w', encoding='utf-8') as out:
        proc = subprocess.Popen(campaign.command(*command), cwd=PLAYBOOKS, env=campaign.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    cut = False
    try:
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline and proc.poll() is None:
            if not cut and installed_version(lab, victim, 'lab-compute-agent') == '2.0':
                lab.link_down(victim)
                cut = True
            time.sleep(0.1)
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert cut, 'the link of %s was never cut: %s' % (victim, log_path.read_text()[-4000:])
    return rc, log_path.read_text()


def test_precheck_refusal_vnfm_nack_and_unreachable_host_each_resume_with_the_same_command(seeded_lab, tmp_path):
    lab, conn = seeded_lab, seeded_lab.conn
    before = servers_snapshot(conn)
    # the seeded layout: the first host holds both VNF actives, the last one no VNF instance; each host between
    # holds a VNF standby, so each has a VNF manager to refuse it
    excluded, hosts = [lab.hosts[0], lab.hosts[-1]], lab.hosts[1:-1]
    assert all(any(s.metadata.get('vnf') for s in lab.servers_on(h)) for h in hosts), 'the seeded layout changed'
    same_command = BATCH_SIZE + ('-e', json.dumps(dict(escalator_exclude_hosts=excluded)))
    campaign = Campaign(lab, tmp_path, 'e2e-stops')
    pending_reboot, victim = hosts[-1], None
    since = _now()
    campaign.start_helpers()
    try:
        # -- run 1: the precheck refuses the campaign (a reboot of unknown origin pending on one host) ------------
        lab.ssh(pending_reboot, 'touch /run/reboot-required')
        try:
            rc, log = campaign.run(*same_command)
        finally:
            lab.ssh(pending_reboot, 'rm -f /run/reboot-required')
        assert rc != 0, log[-6000:]
        assert 'a reboot is already pending on %s' % pending_reboot in log, log[-6000:]
        status = campaign.status()
        assert status['campaign']['state'] == 'failed', status['campaign']
        assert 'refused by the precheck (%s' % pending_reboot in status['campaign']['message'], status['campaign']
        assert {name: host['state'] for name, host in status['hosts'].items()} == \
            dict({h: 'pending' for h in hosts}, **{h: 'skipped' for h in excluded}), status['hosts']
        assert cloud_lock(conn) is None, 'a precheck refusal must release the lock this run took'
        services = compute_services(conn)
        assert all(s.status == 'enabled' and not s.disabled_reason for s in services.values()), services
        assert {host: agent_version(lab, host) for host in lab.hosts} == {host: '1.0' for host in lab.hosts}
        table, document = escalator_status(campaign)
        assert 'refused by the precheck' in table and document['status']['campaign']['state'] == 'failed', table
        plan, planned = planned_moves(campaign)
        assert [batch['hosts'] for batch in plan['batches']] in ([hosts[:1], hosts[1:]], [hosts[1:], hosts[:1]]), plan
        canary, victim = plan['batches'][0]['hosts'][0], plan['batches'][1]['hosts'][0]

        # -- run 2: the canary's VNF manager refuses (NACK): it fails before its software is touched -------------
        vnfm_mode('nack')
        try:
            rc, log = campaign.run(*same_command)
        finally:
            vnfm_mode('ack')
        assert rc != 0, log[-6000:]
        status = campaign.status()
        assert status['campaign']['state'] == 'failed', status['campaign']
        host = status['hosts'][canary]
        assert (host['state'], host['error_code']) == ('failed', 'E_VNFM'), host
        assert 'refused' in host['message'] and 'vnf-' in host['message'], host
        assert status['hosts'][victim]['state'] == 'pending', status['hosts'][victim]
        assert (cloud_lock(conn) or {}).get('campaign_id') == campaign.id, 'the lock of a resumable campaign is kept'
        services = compute_services(conn)
        assert all(s.status == 'enabled' and not s.disabled_reason for s in services.values()), services
        assert {host: agent_version(lab, host) for host in lab.hosts} == {host: '1.0' for host in lab.hosts}
        assert not nova_moves(conn, since), 'an instance moved although its VNF manager refused'
        table, document = escalator_status(campaign)
        assert 'E_VNFM' in table and document['status']['campaign']['state'] == 'failed', table

        # -- run 3: the canary is upgraded; the next host loses its link during its upgrade ----------------------
        rc, log = run_and_cut_link(campaign, same_command, lab, victim, campaign.run_dir / 'cut.log')
        assert rc != 0, log[-6000:]
        status = campaign.status()
        assert status['campaign']['state'] == 'failed', status['campaign']
        assert status['hosts'][canary]['state'] == 'done', status['hosts'][canary]
        host = status['hosts'][victim]
        assert (host['state'], host['error_code']) == ('failed', 'E_UNREACHABLE'), host
        assert (cloud_lock(conn) or {}).get('campaign_id') == campaign.id, 'the lock of a resumable campaign is kept'
        services = compute_services(conn)
        assert services[victim].status == 'disabled', services[victim]
        assert (services[victim].disabled_reason or '').startswith('escalator:%s:' % campaign.id), services[victim]
        assert not lab.servers_on(victim), 'the host lost its link after it was emptied'
        assert all(services[h].status == 'enabled' and not services[h].disabled_reason
                   for h in lab.hosts if h != victim), services
        assert {host: agent_version(lab, host) for host in excluded + [canary]} == \
            dict({h: '1.0' for h in excluded}, **{canary: '2.0'})
        table, document = escalator_status(campaign)
        assert 'E_UNREACHABLE' in table and document['status']['campaign']['state'] == 'failed', table

        # -- the operator brings the host back: its new packages are in, the reboot they asked for is not done;
        # run 4, the same command, finishes the campaign --------------------------------------------------------
        lab.link_up(victim, wait=True)
        back = lab.host_status(victim)
        assert back['packages']['lab-compute-agent'] == '2.0' and back['reboot_required'], back
        rc, log = campaign.run(*same_command)
    finally:
        campaign.stop_helpers()
        lab.ssh(pending_reboot, 'rm -f /run/reboot-required', check=False)
        if victim:
            lab.link_up(victim)
    assert rc == 0, log[-6000:]
    status = campaign.status()
    assert status['campaign']['state'] == 'done', status['campaign']
    assert {name: host['state'] for name, host in status['hosts'].items()} == \
        dict({h: 'done' for h in hosts}, **{h: 'skipped' for h in excluded}), status['hosts']
    assert {host: agent_version(lab, host) for host in lab.hosts} == \
        dict({h: '2.0' for h in hosts}, **{h: '1.0' for h in excluded})
    for name in hosts:      # really finished: rebooted, running the new agent
        host = lab.host_status(name)
        assert not host['reboot_required'] and host['nova_compute']['running_version'] == '2.0', host
    services = compute_services(conn)
    assert all(s.status == 'enabled' and s.state == 'up' and not s.disabled_reason for s in services.values()), services
    assert cloud_lock(conn) is None, 'the lock is left behind'
    moves = nova_moves(conn, since)
    assert moves, 'nothing moved: the check below proves nothing'
    assert all(count <= planned.get(server, 0) for server, count in moves.items()), (moves, planned)
    assert servers_snapshot(conn) == before
    table, document = escalator_status(campaign)
    assert document['status']['campaign']['state'] == 'done' and 'E_UNREACHABLE' not in table, table
