# SPDX-License-Identifier: Apache-2.0
"""Secrets never appear in results, events or artifacts, at any verbosity (issue 11, item 6).

- the verify role's process-environment check on a lab host whose nova-compute has a planted secret
  in its environment: at -vvv the secret is nowhere in the output, and the failure still names the
  variables that are wrong;
- a real `escalator plan` through ansible-runner at -vvv with a secret in every input that can carry
  one (cloud dict, VNFM token, alert webhook credentials, OS_PASSWORD): none is in any artifact, the
  campaign state or the run's output.
"""
import fcntl
import json
import os
import subprocess
import time
import uuid

import pytest
import yaml

import escalator

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
INVENTORY = os.path.join(REPO, 'inventories', 'lab', 'hosts.yml')
DROP_IN_DIR = '/etc/systemd/system/nova-compute.service.d'
DROP_IN = DROP_IN_DIR + '/zz-escalator-test-secret.conf'


def _planted(tag):
    return 'planted-%s-%s' % (tag, uuid.uuid4().hex)


@pytest.fixture
def held_lab(exclusive_lab):
    """The lab for this test alone (the tests' lock), and its own lock (the one `lab reset|fault|seed`
    take) so that no `lab` command changes the host meanwhile."""
    with open(os.path.join(exclusive_lab.state_dir, '.lock'), 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield exclusive_lab


def _env(lab):
    return dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
                ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.venv', 'collections'),
                ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_DEPRECATION_WARNINGS='False',
                ESCALATOR_LAB_INVENTORY=lab.inventory)


def _restart_compute(lab, host):
    lab.ssh(host, 'systemctl daemon-reload && systemctl restart nova-compute.service')


def test_verify_process_env_check_never_returns_the_environment(held_lab, tmp_path):
    lab = held_lab
    host = 'compute2' if 'compute2' in lab.hosts else lab.hosts[0]
    secret = _planted('os-password')
    version = lab.ssh(host, "dpkg-query -W -f '${Version}' lab-compute-agent").stdout.strip()
    assert lab.ssh(host, 'test -e %s' % DROP_IN, check=False).returncode == 1, 'a drop-in of an earlier run is left'
    lab.ssh(host, "mkdir -p %s && printf '[Service]\\nEnvironment=OS_PASSWORD=%s\\n' > %s"
            % (DROP_IN_DIR, secret, DROP_IN))
    try:
        _restart_compute(lab, host)
        pid = lab.ssh(host, 'systemctl show -p MainPID --value nova-compute').stdout.strip()
        assert secret in lab.ssh(host, 'tr "\\0" "\\n" < /proc/%s/environ' % pid).stdout, 'not planted'
        play = [dict(name='verify', hosts=host, gather_facts=False, tasks=[{
            'name': 'Role verify', 'ansible.builtin.include_role': {'name': 'opnfv.escalator.verify'},
            'vars': dict(escalator_campaign_id='itest-secrets', escalator_verify_services_active=False,
                         escalator_verify_nova=False, escalator_verify_expected_versions={},
                         escalator_verify_process_newer_than_packages=[], escalator_verify_canary=False,
                         escalator_verify_hook_tasks=[], escalator_verify_hook_commands=[],
                         escalator_verify_process_env={'ESCALATOR_AGENT_VERSION': version,   # right
                                                       'OS_PASSWORD': 'not-the-planted-one',  # wrong
                                                       'ESCALATOR_NOT_SET_ANYWHERE': 'x'})}])]  # unset
        path = tmp_path / 'verify.yml'
        path.write_text(json.dumps(play))
        proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-vvv', '-i', lab.inventory, str(path)],
                              capture_output=True, text=True, env=_env(lab), cwd=REPO, timeout=600, check=False)
        output = proc.stdout + proc.stderr
        assert secret not in output, 'the planted secret is in the output of the verify role'
        assert proc.returncode != 0, output[-4000:]
        assert 'Verification of %s failed (2 problem(s))' % host in output, output[-4000:]
        # the failure names the variables that are wrong, and never a value
        assert 'OS_PASSWORD differs from the expected value' in output, output[-4000:]
        assert 'ESCALATOR_NOT_SET_ANYWHERE is not set' in output, output[-4000:]
        assert 'not-the-planted-one' not in output
        assert 'ESCALATOR_AGENT_VERSION differs' not in output and 'ESCALATOR_AGENT_VERSION is not set' not in output
    finally:
        lab.ssh(host, 'rm -f %s; rmdir %s 2>/dev/null; true' % (DROP_IN, DROP_IN_DIR), check=False)
        _restart_compute(lab, host)
        lab.wait_compute(host, 'up', timeout=120, since=time.time())
    assert lab.ssh(host, 'systemctl show -p Environment --value nova-compute').stdout.strip() == \
        'ESCALATOR_AGENT_VERSION=%s' % version


def _admin_user_with_password(lab, password):
    """A temporary Keystone admin (admin role on the admin project) whose password is `password`."""
    conn = lab.conn
    user = conn.identity.create_user(name='escalator-itest-secrets-%s' % uuid.uuid4().hex[:8], password=password,
                                     domain_id='default', is_enabled=True)
    project = conn.identity.find_project('admin', domain_id='default', ignore_missing=False)
    role = conn.identity.find_role('admin', ignore_missing=False)
    conn.identity.assign_project_role_to_user(project, user, role)
    return user


def _files(*roots):
    for root in roots:
        for directory, _dirs, names in os.walk(root):
            for name in names:
                yield os.path.join(directory, name)


@pytest.fixture(scope='module')
def plan_run(lab, tmp_path_factory):
    """One real `escalator plan` at -vvv with a planted secret in every input that can carry one: escalator_cloud
    as a dict (a temporary Keystone admin whose password is planted), a VNFM token and a VNFM basic-auth password,
    the alert webhook's password, OS_PASSWORD and OS_TOKEN in the environment."""
    tmp_path = tmp_path_factory.mktemp('secrets-plan')
    secrets = {name: _planted(name) for name in ('cloud-password', 'vnfm-token', 'vnfm-password', 'webhook',
                                                  'os-password', 'os-token')}
    with lab.exclusive():
        with open(lab.clouds_yaml, encoding='utf-8') as handle:
            admin = yaml.safe_load(handle)['clouds'][lab.cloud_name]
        user = _admin_user_with_password(lab, secrets['cloud-password'])
        try:
            cloud = dict(admin, auth=dict(admin['auth'], username=user.name, password=secrets['cloud-password']))
            extravars = {
                'escalator_cloud': cloud,
                'escalator_vnfm': [
                    {'project': 'vnf-a', 'url': 'http://127.0.0.1:9310/maintenance', 'token': secrets['vnfm-token'],
                     'on_timeout': 'proceed', 'on_unreachable': 'proceed'},
                    {'project': 'vnf-b', 'url': 'http://127.0.0.1:9310/maintenance', 'username': 'vnfm',
                     'password': secrets['vnfm-password'], 'on_timeout': 'proceed', 'on_unreachable': 'proceed'}],
                'escalator_alert_webhook': 'http://alert-user:%s@127.0.0.1:9/hook' % secrets['webhook'],
            }
            vars_file = tmp_path / 'input' / 'vars.json'      # an input, outside everything that is grepped
            vars_file.parent.mkdir()
            vars_file.write_text(json.dumps(extravars))
            environ = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
            environ.update(OS_PASSWORD=secrets['os-password'], OS_TOKEN=secrets['os-token'],
                           ESCALATOR_HOME=str(tmp_path / 'home'), ANSIBLE_DEPRECATION_WARNINGS='False',
                           ANSIBLE_DISPLAY_ARGS_TO_STDOUT='True')   # asks for task arguments in the output
            state_dir, pdd = tmp_path / 'campaigns', tmp_path / 'runner'
            t0 = time.monotonic()
            proc = subprocess.run(
                [os.path.join(VENV_BIN, 'escalator'), 'plan', '-c', 'itest-secrets-plan', '-i', INVENTORY,
                 '-e', '@%s' % vars_file, '--state-dir', str(state_dir), '--private-data-dir', str(pdd),
                 '--plain', '-vvv'],
                capture_output=True, text=True, env=environ, timeout=300, stdin=subprocess.DEVNULL,
                check=False, cwd=str(tmp_path))
            seconds = time.monotonic() - t0
        finally:
            lab.conn.identity.delete_user(user)
    print('plan at -vvv: %.1fs' % seconds)
    return dict(proc=proc, secrets=dict(secrets, lab_admin_password=admin['auth']['password']),
                state_dir=state_dir, pdd=pdd, home=tmp_path / 'home')


def _leaks(run):
    """['<secret name> in <where>'] over every file of the runner's directory, the state dir, ESCALATOR_HOME,
    and the CLI's output."""
    found = []
    for path in _files(run['pdd'], run['state_dir'], run['home']):
        with open(path, 'rb') as handle:
            data = handle.read()
        found += ['%s in %s' % (name, path) for name, value in run['secrets'].items() if value.encode() in data]
    output = run['proc'].stdout + run['proc'].stderr
    found += ['%s in the output of escalator plan' % name for name, value in run['secrets'].items() if value in output]
    return found


def test_plan_at_vvv_writes_no_planted_secret_anywhere(plan_run):
    """Every artifact of a real plan at -vvv, the campaign state and the CLI output: no planted secret."""
    proc = plan_run['proc']
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert 'itest-secrets-plan: ok' in proc.stdout, output[-3000:]
    artifacts = [p for p in _files(plan_run['pdd']) if '/artifacts/' in p]
    names = {os.path.basename(p) for p in artifacts}
    assert {'stdout', 'command'} <= names and any('/job_events/' in p for p in artifacts), sorted(names)
    state = [os.path.basename(p) for p in _files(plan_run['state_dir'])]
    assert 'events.jsonl' in state, state
    assert not _leaks(plan_run), '\n'.join(_leaks(plan_run))
    # the run was at -vvv, and the caller's ANSIBLE_DISPLAY_ARGS_TO_STDOUT=True was overridden (with it, the
    # templated arguments of 'Plan the campaign', cloud dict included, are in its runner_on_ok event)
    command = json.loads(open(next(p for p in artifacts if p.endswith('/command')), encoding='utf-8').read())
    assert '-vvv' in command['command'] and command['env']['ANSIBLE_DISPLAY_ARGS_TO_STDOUT'] == 'False'
    assert 'OS_PASSWORD' not in command['env'] and 'OS_TOKEN' not in command['env']
