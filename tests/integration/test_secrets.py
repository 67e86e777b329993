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
