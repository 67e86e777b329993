# SPDX-License-Identifier: Apache-2.0
"""The roles precheck, backup, upgrade, verify and rollback on real lab hosts.

Destructive tests change ONE host, the last one of the lab (compute4 in the default 4-host lab;
ESCALATOR_MOLECULE_HOST overrides it) and put it back to 1.0. While they change it they hold the
lab's own lock (the one `lab reset|fault|seed` take), so a concurrent `lab reset` waits instead of
interfering (the autouse fixture lab_lock); they never call `lab` themselves while holding it.
"""
import fcntl
import json
import os
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
PACKAGES = [dict(name='lab-compute-agent', version='2.0'), dict(name='lab-kernel', version='2.0')]

pytestmark = pytest.mark.lab


@pytest.fixture(scope='module')
def host(lab):
    return os.environ.get('ESCALATOR_MOLECULE_HOST') or lab.hosts[-1]


@pytest.fixture(autouse=True)
def lab_lock(lab):
    """Hold the lab's test lock (other pytest sessions, benchmarks) and then the lab's own lock (the one
    `lab reset|fault|seed` take) for the whole test: the host is ours meanwhile. The test lock first, the order
    of every holder of both (a benchmark holds the test lock and runs `lab`). Never call `lab` from inside a test
    of this file (it would wait for the lab's lock)."""
    with lab.exclusive(), open(os.path.join(lab.state_dir, '.lock'), 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def env(lab):
    e = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
             ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.venv', 'collections'),
             ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_DEPRECATION_WARNINGS='False',
             ESCALATOR_LAB_INVENTORY=lab.inventory)
    return e


def playbook(lab, tmp_path, host, tasks, extra=None, name='play'):
    """Run a one-play playbook on `host`; returns the CompletedProcess."""
    path = tmp_path / ('%s.yml' % name)
    play = [dict(name=name, hosts=host, gather_facts=False, vars=dict(extra or {}), tasks=tasks)]
    path.write_text(json.dumps(play))
    return subprocess.run(['ansible-playbook', '-i', lab.inventory, str(path)], capture_output=True,
                          text=True, env=env(lab), cwd=REPO, timeout=1200, check=False)


def role(name, **variables):
    return {'name': 'Role ' + name, 'ansible.builtin.include_role': {'name': 'opnfv.escalator.' + name},
            'vars': variables}


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc


def packages(lab, host):
    out = lab.ssh(host, "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' 'lab-*'").stdout
    return {line.split()[0]: (line.split()[1], line.split()[2]) for line in out.splitlines() if line.strip()}


def test_rollback_without_backup_is_refused(lab, host, tmp_path):
    proc = playbook(lab, tmp_path, host, [role('rollback')],
                    dict(escalator_campaign_id='itest-none', escalator_run_id='never-backed-up',
                         escalator_backup_controller_dir=str(tmp_path / 'nothing')))
    assert proc.returncode != 0
    assert 'No backup of run never-backed-up' in proc.stdout and 'Nothing was changed' in proc.stdout


def test_rollback_refuses_a_tampered_backup(lab, host, tmp_path):
    common = dict(escalator_campaign_id='itest-tamper', escalator_backup_controller_dir=str(tmp_path / 'b'))
    ok(playbook(lab, tmp_path, host, [role('backup')], common, 'backup'))
    try:
        lab.ssh(host, 'echo x >> /var/backups/escalator/itest-tamper/itest-tamper/config.tar.gz')
        proc = playbook(lab, tmp_path, host, [role('rollback')], common, 'rollback')
        assert proc.returncode != 0 and 'cannot be trusted' in proc.stdout
    finally:
        lab.ssh(host, 'rm -rf /var/backups/escalator/itest-tamper')


@pytest.mark.parametrize('role_name, variables, message', [
    ('upgrade', dict(escalator_upgrade_method='magic'), 'escalator_upgrade_method'),
    ('upgrade', dict(escalator_upgrade_method='containers'), 'method containers needs escalator_upgrade_containers'),
    ('upgrade', dict(escalator_upgrade_packages='lab-kernel'), 'escalator_upgrade_packages'),
    ('upgrade', dict(escalator_upgrade_method='command'), 'Nothing to upgrade'),
    ('backup', dict(escalator_backup_keep='many'), 'escalator_backup_keep'),
    ('backup', dict(escalator_backup_extra_paths=['etc/relative']), 'absolute'),
    ('verify', dict(escalator_verify_canary='perhaps'), 'escalator_verify_canary'),
    ('precheck', dict(escalator_precheck_nova_status='sometimes'), 'escalator_precheck_nova_status'),
    ('rollback', dict(escalator_rollback_reboot='later'), 'escalator_rollback_reboot'),
    ('backup', dict(escalator_campaign_id='bad id!'), 'must be'),
])
def test_bad_input_is_refused(lab, host, tmp_path, role_name, variables, message):
    base = dict(escalator_campaign_id='itest-input', escalator_backup_controller_dir=str(tmp_path / 'b'))
    base.update(variables)
    proc = playbook(lab, tmp_path, host, [role(role_name)], base, 'bad')
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout[-3000:]
    lab.ssh(host, 'rm -rf /var/backups/escalator/itest-input')


def test_upgrade_without_backup_is_refused(lab, host, tmp_path):
    proc = playbook(lab, tmp_path, host, [role('upgrade')],
                    dict(escalator_campaign_id='itest-nobackup', escalator_upgrade_packages=PACKAGES))
    assert proc.returncode != 0 and 'run the opnfv.escalator.backup role first' in proc.stdout
    assert packages(lab, host)['lab-kernel'][0] == '1.0'


def failed_tasks(output):
    """Each failed task of a molecule run: its TASK line and its `fatal:` result, with the playbook it ran in."""
    found, task, playbook_line = [], '', ''
    for line in output.splitlines():
        if 'ansible-playbook' in line or ' ➜ ' in line:
            playbook_line = line.strip()
        elif 'TASK [' in line:
            task = line.strip()
        elif 'fatal:' in line or 'FAILED!' in line or 'ERROR!' in line:
            found.append('%s\n%s\n%s' % (playbook_line, task, line.strip()))
    return '\n\n'.join(found)


# `upgrade` is left out: `rollback`'s prepare upgrades the same way (with its reboot), reads upgrade.json and upgrades
# again to see nothing change, so the suite pays for one package upgrade and reboot instead of two
@pytest.mark.parametrize('scenario', ['precheck', 'backup', 'verify', 'rollback'])
def test_molecule_scenario(lab, host, scenario):
    """`molecule test -s SCENARIO` from the repo root (the scenarios put the host back)."""
    t0 = time.monotonic()
    # the host is ours: lab_lock (autouse) holds the lab's lock
    proc = subprocess.run(['molecule', 'test', '-s', scenario], capture_output=True, text=True, check=False,
                          env=dict(env(lab), ESCALATOR_MOLECULE_HOST=host, NO_COLOR='1', ANSIBLE_NOCOLOR='1',
                                   COLUMNS='1000'), cwd=REPO, timeout=1800)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, 'failed tasks:\n%s\n\n%s' % (failed_tasks(output)[-6000:], output[-6000:])
    # a prepare skipped because of an earlier run's saved state would test that run's leftovers
    assert 'already prepared' not in output, output[:3000]
    print('molecule %s: %.1fs' % (scenario, time.monotonic() - t0))


def server_events(conn, server_id):
    """{action: {event: (host, result)}} from Nova's instance actions, which outlive a deleted server (its migration
    records do not)."""
    actions = {}
    for action in conn.compute.server_actions(server_id):
        full = conn.compute.get_server_action(action.request_id, server_id)
        actions[action.action] = {event['event']: (event.get('host'), event.get('result')) for event in full.events}
    return actions


def test_verify_canary_comes_onto_the_disabled_host_and_a_failed_one_fails_the_role(lab, host, tmp_path):
    """The verify role's canary on a host the campaign still keeps disabled (Nova schedules nothing there): booted on
    an enabled host, live-migrated onto the host (forced), then gone. With the host's nova-compute stopped, Nova
    refuses the migration: the canary fails, and with it the role; the canary is gone too."""
    conn, campaign, t0 = lab.conn, 'itest-canary', time.monotonic()
    name = 'escalator-canary-%s-%s' % (campaign, host)
    variables = dict(escalator_campaign_id=campaign, escalator_verify_expected_versions={},
                     escalator_verify_canary=True, escalator_verify_canary_image='lab-image',
                     escalator_verify_canary_network='none', escalator_verify_canary_timeout=120)
    result_file = tmp_path / 'canary.json'
    keep = {'name': 'Keep the canary result', 'delegate_to': 'localhost', 'become': False,
            'ansible.builtin.copy': {'content': '{{ escalator_verify_canary_result | to_json }}',
                                     'dest': str(result_file), 'mode': '0600'}}
    service = lab.compute_service(host)
    assert service.status == 'enabled', '%s is disabled (%s): run `lab reset` first' % (host, service.disabled_reason)
    conn.compute.disable_service(service, disabled_reason='escalator:%s: canary test' % campaign)
    try:
        ok(playbook(lab, tmp_path, host, [role('verify', **variables), keep], name='canary'))
        canary = json.loads(result_file.read_text())
        assert canary['booted_on'] != host and canary['on_host'] == host and canary['migrated'], canary
        assert canary['deleted'] and conn.compute.find_server(canary['id'], ignore_missing=True) is None, canary
        # Nova's own record: built elsewhere, live-migrated onto the host, deleted there
        events = server_events(conn, canary['id'])
        assert events['create']['compute__do_build_and_run_instance'] == (canary['booted_on'], 'Success'), events
        assert events['live-migration']['compute_post_live_migration_at_destination'] == (host, 'Success'), events
        assert events['delete']['compute_terminate_instance'] == (host, 'Success'), events
        assert lab.compute_service(host).status == 'disabled', 'the canary must not release the host'

        lab.ssh(host, 'systemctl stop nova-compute.service')
        lab.wait_compute(host, 'down', timeout=60)
        proc = playbook(lab, tmp_path, host, [role('verify', **dict(
            variables, escalator_verify_nova=False, escalator_verify_services_active=False))], name='canary-down')
        assert proc.returncode != 0, proc.stdout[-3000:]
        assert '(1 problem(s))' in proc.stdout and 'canary server (E_CANARY)' in proc.stdout, proc.stdout[-3000:]
        assert not list(conn.compute.servers(all_projects=True, name=name)), 'the failed canary was left behind'
    finally:
        lab.ssh(host, 'systemctl start nova-compute.service')
        lab.wait_compute(host, 'up', timeout=90, since=time.time())
        conn.compute.enable_service(lab.compute_service(host))
    print('canary test: %.1fs (canary on %s: %.1fs)' % (time.monotonic() - t0, host, canary['seconds']))
