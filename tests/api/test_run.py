# SPDX-License-Identifier: Apache-2.0
"""The API and the CLI running ansible-runner for real, without a cloud: tiny playbooks in a temporary
project directory, and Escalator's own playbooks against a cloud that does not answer."""
import json
import os
import socket
import subprocess
import sys

import pytest

import escalator
from escalator import api, cli
from escalator.errors import ExitCode, InputError
from escalator.events import PlayStarted, TaskResult

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ESCALATOR = os.path.join(os.path.dirname(sys.executable), 'escalator')

PLAYBOOK = """\
- name: Tiny play
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say the campaign
      ansible.builtin.debug:
        msg: "campaign {{ escalator_campaign_id }}"
    - name: Maybe fail
      ansible.builtin.fail:
        msg: "{{ fail_message | default('boom') }}"
      when: do_fail | default(false) | bool
    - name: Maybe fail like a module with an error code
      ansible.builtin.command: /bin/false
      register: out
      failed_when: true
      when: error_code is defined
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment: ESCALATOR_HOME and the state dir in tmp_path, a localhost inventory, a project."""
    project = tmp_path / 'project'
    project.mkdir()
    for name in ('plan.yml', 'precheck.yml', 'upgrade_compute.yml', 'rollback_compute.yml'):
        (project / name).write_text(PLAYBOOK)
    inventory = tmp_path / 'hosts.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    for key in list(os.environ):
        if key.startswith('OS_'):
            monkeypatch.delenv(key)
    monkeypatch.setenv('ESCALATOR_HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('ESCALATOR_STATE_DIR', str(tmp_path / 'state'))
    monkeypatch.delenv('ESCALATOR_INVENTORY', raising=False)
    return dict(project=str(project), inventory=str(inventory), tmp=tmp_path)


def test_a_run_yields_typed_events_and_keeps_its_artifacts(env):
    events = []
    result = api.plan('c-ok', env['inventory'], {'foo': 1}, project_dir=env['project'], event_handler=events.append)
    assert result.ok and result.exit_code == ExitCode.OK and result.outcome == 'ok' and result.rc == 0
    assert isinstance(events[0], PlayStarted) and events[0].play == 'Tiny play'
    done = [e for e in events if isinstance(e, TaskResult)]
    assert [(e.task, e.result) for e in done] == [('Say the campaign', 'ok'), ('Maybe fail', 'skipped'),
                                                  ('Maybe fail like a module with an error code', 'skipped')]
    assert result.private_data_dir == str(env['tmp'] / 'home' / 'runs' / 'c-ok')
    assert os.path.isdir(os.path.join(result.artifacts, 'job_events'))
    summary = json.load(open(os.path.join(result.artifacts, 'escalator.json'), encoding='utf-8'))
    assert summary['outcome'] == 'ok' and 'foo' in summary['extra_var_names']
    assert 'campaign c-ok' in open(os.path.join(result.artifacts, 'stdout'), encoding='utf-8').read()


def test_a_failed_task_fails_the_run_with_its_message(env):
    result = api.plan('c-fail', env['inventory'], {'do_fail': True, 'fail_message': 'the reason'},
                      project_dir=env['project'])
    assert result.exit_code == ExitCode.FAILED and not result.ok
    assert result.message == 'the reason'
    assert result.failures[0]['task'] == 'Maybe fail'


def test_artifacts_are_rotated(env):
    for _ in range(3):
        result = api.plan('c-rot', env['inventory'], project_dir=env['project'], keep_artifacts=2)
        assert result.ok
    runs = os.listdir(os.path.join(result.private_data_dir, 'artifacts'))
    assert len(runs) == 2 and os.path.basename(result.artifacts) in runs


def test_secrets_are_never_written_to_the_private_data_dir(env, monkeypatch):
    monkeypatch.setenv('OS_AUTH_URL', 'http://127.0.0.1:9/v3')
    monkeypatch.setenv('OS_USERNAME', 'admin')
    monkeypatch.setenv('OS_PASSWORD', 'env-password-4711')
    monkeypatch.setenv('OS_APPLICATION_CREDENTIAL_SECRET', 'app-cred-4712')
    monkeypatch.setenv('SOME_API_TOKEN', 'token-4713')
    result = api.plan('c-secret', env['inventory'], {'vnfm_token': 'extravar-4714'}, project_dir=env['project'])
    assert result.ok, result.message
    assert any('SOME_API_TOKEN' in w for w in result.warnings)
    found = []
    for root, _dirs, files in os.walk(result.private_data_dir):
        for name in files:
            data = open(os.path.join(root, name), 'rb').read()
            found += [(name, s) for s in (b'env-password-4711', b'app-cred-4712', b'token-4713', b'extravar-4714')
                      if s in data]
    assert found == []
    assert not os.path.exists(os.path.join(result.private_data_dir, 'env'))
    # the credentials still reach ansible-playbook: through a clouds.yaml that is gone after the run
    command = json.load(open(os.path.join(result.artifacts, 'command'), encoding='utf-8'))
    assert command['env']['OS_CLOUD'] == api.ENV_CLOUD
    assert not os.path.exists(command['env']['OS_CLIENT_CONFIG_FILE'])
    assert 'OS_PASSWORD' not in command['env']


def test_temporary_clouds_yaml_carries_the_os_variables(tmp_path):
    env, warnings = api.build_environment(
        {'OS_AUTH_URL': 'http://k/v3', 'OS_PASSWORD': 'pw', 'OS_USERNAME': 'u', 'OS_REGION_NAME': 'r1',
         'PATH': '/bin'}, str(tmp_path), '/c', '/s')
    clouds = json.load(open(env['OS_CLIENT_CONFIG_FILE'], encoding='utf-8'))
    assert clouds['clouds'][api.ENV_CLOUD] == {'region_name': 'r1', 'auth': {'auth_url': 'http://k/v3',
                                                                              'password': 'pw', 'username': 'u'}}
    assert oct(os.stat(env['OS_CLIENT_CONFIG_FILE']).st_mode & 0o777) == '0o600'
    assert 'OS_PASSWORD' not in env and warnings == []
    assert env['ANSIBLE_COLLECTIONS_PATH'].split(os.pathsep)[0] == '/c' and env['ESCALATOR_STATE_DIR'] == '/s'
    assert 'opnfv.escalator.campaign_status' in env['ANSIBLE_CALLBACKS_ENABLED']
    # a named cloud wins: the OS_* secrets are dropped, not written anywhere
    env, warnings = api.build_environment({'OS_PASSWORD': 'pw', 'OS_CLOUD': 'mine'}, str(tmp_path / 'x'), '/c', '/s')
    assert 'OS_PASSWORD' not in env and env['OS_CLOUD'] == 'mine' and 'OS_PASSWORD' in warnings[0]


def test_bad_input_is_refused_before_running(env, monkeypatch):
    with pytest.raises(InputError, match='inventory .*/nope does not exist'):
        api.plan('c1', str(env['tmp'] / 'nope'), project_dir=env['project'])
    monkeypatch.setattr(api.locate, 'default_inventory', lambda environ=None: None)
    with pytest.raises(InputError, match='no inventory'):
        api.plan('c1', None, project_dir=env['project'])
    with pytest.raises(InputError, match='campaign_id'):
        api.plan('bad id!', env['inventory'], project_dir=env['project'])
    with pytest.raises(InputError, match='extravars must be a dict'):
        api.plan('c1', env['inventory'], ['x'], project_dir=env['project'])
    with pytest.raises(InputError, match='clouds.yaml .* does not exist'):
        api.plan('c1', env['inventory'], clouds_yaml=str(env['tmp'] / 'clouds.yaml'), project_dir=env['project'])
    with pytest.raises(InputError, match='rollback needs the hosts'):
        api.rollback('c1', [], env['inventory'], project_dir=env['project'])
    assert not os.path.exists(env['tmp'] / 'home')


def test_extra_vars_parsing(tmp_path):
    varfile = tmp_path / 'vars.yml'
    varfile.write_text('escalator_budgets:\n  vnf-a: 1\n')
    parsed = api.parse_extra_vars(['a=1', 'b=true', 'c=text', 'd=["x"]', '{"e": 2}', '@%s' % varfile])
    assert parsed == {'a': 1, 'b': True, 'c': 'text', 'd': ['x'], 'e': 2, 'escalator_budgets': {'vnf-a': 1}}
    for bad, why in (('novalue', 'KEY=VALUE'), ('1x=2', 'not a valid variable name'),
                     ('@%s' % (tmp_path / 'missing.yml'), 'cannot read'), ('{bad', 'not a JSON object')):
        with pytest.raises(InputError, match=why):
            api.parse_extra_vars([bad])


def test_status_of_an_unknown_campaign(env):
    report = api.read_status('never-started')
    assert not report.exists and report.table is None
    assert report.state_dir == str(env['tmp'] / 'state')


def _cli(*args, env_extra=None, stdin=None):
    proc = subprocess.run([ESCALATOR] + list(args), capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, **(env_extra or {})), stdin=stdin if stdin is not None
                          else subprocess.DEVNULL)
    return proc


def test_cli_help_documents_commands_and_exit_codes():
    proc = _cli('--help')
    assert proc.returncode == 0
    for text in ('plan', 'precheck', 'upgrade', 'status', 'rollback', 'exit codes:', 'E_LOCK', 'E_PRECHECK',
                 'E_AUTH', '--yes' if False else 'escalator upgrade'):
        assert text in proc.stdout
    proc = _cli('upgrade', '--help')
    assert proc.returncode == 0 and '--yes' in proc.stdout and '--json' in proc.stdout


def test_cli_missing_inventory_and_bad_extra_vars_exit_2(env):
    proc = _cli('plan', '-c', 'c1', '-i', str(env['tmp'] / 'missing'))
    assert proc.returncode == 2 and 'inventory' in proc.stderr and 'does not exist' in proc.stderr
    proc = _cli('plan', '-c', 'c1', '-i', env['inventory'], '-e', 'oops')
    assert proc.returncode == 2 and 'KEY=VALUE' in proc.stderr
    proc = _cli('plan', '-i', env['inventory'])
    assert proc.returncode == 2 and '--campaign-id' in proc.stderr


def test_cli_upgrade_without_yes_and_without_a_terminal_refuses(env):
    proc = _cli('upgrade', '-c', 'c1', '-i', env['inventory'], '--project-dir', env['project'])
    assert proc.returncode == 2 and '--yes' in proc.stderr
    assert not os.path.exists(env['tmp'] / 'home' / 'runs')


def test_cli_json_document(env):
    proc = _cli('plan', '-c', 'c-json', '-i', env['inventory'], '--project-dir', env['project'], '--json')
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc['ok'] is True and doc['exit_code'] == 0 and doc['outcome'] == 'ok' and doc['action'] == 'plan'
    assert set(doc) >= {'campaign_id', 'rc', 'error_code', 'message', 'status', 'artifacts', 'failures', 'plan'}
    proc = _cli('plan', '-c', 'c-json', '-i', env['inventory'], '--project-dir', env['project'], '--json-events',
                '-e', 'do_fail=true')
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]['kind'] == 'play' and lines[-1]['outcome'] == 'failed'
    assert any(e.get('kind') == 'task' and e['result'] == 'failed' for e in lines[:-1])


def test_cli_plain_progress(env):
    proc = _cli('plan', '-c', 'c-plain', '-i', env['inventory'], '--project-dir', env['project'], '-e',
                'do_fail=true', '-e', 'fail_message=broken on purpose')
    assert proc.returncode == 1
    assert "FAILED 'Maybe fail': broken on purpose" in proc.stdout
    assert 'failed (exit 1)' in proc.stderr and 'artifacts:' in proc.stderr


def test_cli_status_json_of_an_unknown_campaign_exits_2(env):
    proc = _cli('status', '-c', 'never', '--json')
    assert proc.returncode == 2 and json.loads(proc.stdout)['status'] is None
    proc = _cli('status', '--json')
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def _unused_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_cloud(tmp_path):
    path = tmp_path / 'clouds.yaml'
    path.write_text('clouds:\n  dead:\n    auth:\n      auth_url: http://127.0.0.1:%d/v3\n      username: admin\n'
                    '      password: dead-cloud-secret\n      project_name: admin\n      user_domain_name: Default\n'
                    '      project_domain_name: Default\n    identity_api_version: 3\n' % _unused_port())
    return str(path)


def test_unreachable_cloud_plan_exits_5_with_a_clear_message(env, dead_cloud):
    """Escalator's real plan.yml (the checkout's playbooks) against a cloud nobody listens for."""
    result = escalator.plan('c-dead', env['inventory'], cloud='dead', clouds_yaml=dead_cloud)
    assert result.exit_code == ExitCode.CLOUD, result.to_dict()
    assert result.error_code == 'E_CONNECT' and 'Unable to establish connection' in result.message
    assert result.hint.startswith('cannot reach the OpenStack API')


def test_unreachable_cloud_cli_upgrade_exits_5(env, dead_cloud):
    proc = _cli('upgrade', '-c', 'c-dead', '-i', env['inventory'], '--cloud', 'dead', '--clouds-yaml', dead_cloud,
                '--yes', '--json')
    assert proc.returncode == 5, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc['outcome'] == 'cloud_error' and doc['error_code'] == 'E_CONNECT'
    assert 'cannot reach the OpenStack API' in proc.stderr and 'cloud_error (exit 5) [E_CONNECT]' in proc.stderr
    assert 'dead-cloud-secret' not in proc.stdout + proc.stderr


@pytest.mark.parametrize('extra, expected', [
    (['-e', 'escalator_max_batch_size=abc'], "escalator_max_batch_size"),
    (['-e', 'escalator_max_batch_sise=2'], 'unknown setting escalator_max_batch_sise (did you mean '
                                           'escalator_max_batch_size?)'),
    (['-e', '{"escalator_hosts": []}'], 'escalator_hosts is empty'),
])
def test_bad_settings_exit_2_before_the_cloud_is_asked(env, dead_cloud, extra, expected):
    """Escalator's real plan.yml: its first play checks every setting (issue 11, item 13), so a bad one is bad input
    (exit 2, E_INVALID_INPUT) and nothing reaches the cloud (which would be exit 5 here)."""
    proc = _cli('plan', '-c', 'c-bad', '-i', env['inventory'], '--cloud', 'dead', '--clouds-yaml', dead_cloud,
                '--json', *extra)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc['error_code'] == 'E_INVALID_INPUT' and expected in doc['message'], doc['message']


def test_an_inventory_that_does_not_parse_exits_2(env, dead_cloud):
    broken = env['tmp'] / 'broken.yml'
    broken.write_text('all:\n  hosts:\n    compute1: {ansible_host: [\n')
    proc = _cli('plan', '-c', 'c-bad', '-i', str(broken), '--cloud', 'dead', '--clouds-yaml', dead_cloud, '--json')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'the inventory has no hosts' in json.loads(proc.stdout)['message']
