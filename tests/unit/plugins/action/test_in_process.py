# SPDX-License-Identifier: Apache-2.0
"""plugins/plugin_utils/in_process.py: a controller module run inside the Ansible worker gives the same result as
the same module run as its own process, and no AnsiballZ process is started for it (a real ansible-playbook on
localhost with temporary directories: only read-only and temporary-directory modules)."""
import json
import os
import subprocess
import sys
import textwrap

from ansible_collections.opnfv.escalator.plugins.module_utils import backup_store

PLAYBOOK = textwrap.dedent('''\
    - name: Controller modules
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Read a campaign nobody ran
          opnfv.escalator.campaign_state_info:
            campaign_id: nobody
            state_dir: "{{ work }}/state"
          register: info

        - name: A failure with its error code
          opnfv.escalator.backup_store:
            controller_dir: "{{ work }}/backups"
            campaign_id: c1
            run_id: r1
            host: compute1
            manifest: {archive: {sha256: "00"}}
          register: store
          ignore_errors: true

        - name: The task's environment reaches the module (its clouds.yaml names an address nobody listens on)
          opnfv.escalator.compute_host_info:
            cloud: probe
          register: settings
          check_mode: true
          ignore_errors: true
          environment:
            OS_CLIENT_CONFIG_FILE: "{{ work }}/cfg/clouds.yaml"

        - name: Show them
          ansible.builtin.copy:
            content: "{{ {'info': info, 'store': store, 'settings': settings} | to_json }}"
            dest: "{{ work }}/results.json"
            mode: "0600"
    ''')


def collections_root():
    path = os.path.abspath(backup_store.__file__)
    for _level in range(5):                      # plugins/module_utils/backup_store.py -> collection -> opnfv -> root
        path = os.path.dirname(path)
    return os.path.dirname(path)


def run(tmp_path, in_process):
    work = tmp_path / ('in' if in_process else 'out')
    work.mkdir()
    (work / 'playbook.yml').write_text(PLAYBOOK)
    (work / "cfg").mkdir()
    clouds = ('clouds:\n  probe:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n'
              '      username: u\n      password: not-shown-anywhere\n      project_name: p\n'
              '      user_domain_name: Default\n      project_domain_name: Default\n')
    (work / "cfg" / "clouds.yaml").write_text(clouds)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_HOME=str(work / 'ansible-home'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False', ESCALATOR_IN_PROCESS='1' if in_process else '0')
    env.pop('ANSIBLE_CONFIG', None)
    completed = subprocess.run(
        [sys.executable, '-m', 'ansible.cli.playbook', '-i', 'localhost,', '-c', 'local', '-vvv',
         '-e', 'ansible_python_interpreter=%s' % sys.executable, '-e', 'work=%s' % work, str(work / 'playbook.yml')],
        cwd=str(work), env=env, capture_output=True, text=True, timeout=300, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    with open(work / 'results.json', encoding='utf-8') as handle:
        return json.load(handle), output


def comparable(result):
    """A task result without what differs between two runs by construction (paths of the run, timing)."""
    text = json.dumps(result, sort_keys=True).replace('/in/', '/X/').replace('/out/', '/X/')
    out = json.loads(text)
    out.pop('invocation', None)
    return out


def test_a_controller_module_in_the_worker_returns_what_its_own_process_returns(tmp_path):
    inside, log_inside = run(tmp_path, in_process=True)
    outside, log_outside = run(tmp_path, in_process=False)
    for task in ('info', 'store', 'settings'):
        assert comparable(inside[task]) == comparable(outside[task]), task
    # the module process (AnsiballZ) runs only when asked for
    for name in ('campaign_state_info', 'backup_store', 'compute_host_info'):
        assert 'AnsiballZ_%s' % name not in log_inside
        assert 'AnsiballZ_%s' % name in log_outside
    assert inside['store']['failed'] and inside['store']['error_code'] == 'E_BACKUP'
    assert inside['settings']['failed'] and '127.0.0.1:9' in inside['settings']['msg'], inside['settings']
    assert 'not-shown-anywhere' not in log_inside
