# SPDX-License-Identifier: Apache-2.0
"""The host-side modules compute_host_facts and compute_backup, run in-process with the host's commands
answered by fakes (tar runs for real, in a temporary directory)."""

from __future__ import annotations

import json
import shutil
import subprocess
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.opnfv.escalator.plugins.modules import compute_backup, compute_host_facts
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

SHOW = ('Id=nova-compute.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n'
        'MainPID=412\nExecMainStartTimestamp=@1795324000\n')


def fake_commands(answers, tools=('dpkg-query', 'apt-get', 'apt-cache', 'dpkg', 'systemctl', 'tar')):
    calls = []

    def run_command(self, args, check_rc=False, **kwargs):
        calls.append(list(args))
        if args[0] == 'tar':
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            return done.returncode, done.stdout, done.stderr
        for size in range(len(args), 0, -1):
            if tuple(args[:size]) in answers:
                return answers[tuple(args[:size])]
        return 0, '', ''

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name if name in tools else None

    patches = mock.patch.multiple(basic.AnsibleModule, run_command=run_command, get_bin_path=get_bin_path)
    return patches, calls


def test_host_facts_answers_what_is_asked_and_changes_nothing(tmp_path):
    patches, calls = fake_commands({('dpkg-query', '-W'): (0, 'lab-kernel|lab-kernel|2.0|all|ii \n', ''),
                                    ('systemctl', 'show'): (0, SHOW, '')})
    with patches:
        outcome, result, _warnings, _connect = run_module(compute_host_facts, check_mode=True,
                                                          packages=['lab-kernel', 'nope'], services=['nova-compute'],
                                                          free_space=[str(tmp_path)])
    assert outcome == 'exit' and result['changed'] is False
    assert result['package_manager'] == 'apt' and result['versions'] == {'lab-kernel': '2.0', 'nope': None}
    assert result['services']['nova-compute']['main_pid'] == 412
    assert result['free_space'][str(tmp_path)]['error'] is None
    assert 'reboot' not in result and 'offered' not in result
    assert [call[0] for call in calls] == ['dpkg-query', 'systemctl']


def test_host_facts_fails_with_the_reason_when_the_package_database_cannot_be_read():
    patches, _calls = fake_commands({('dpkg-query',): (2, '', 'dpkg-query: error: parsing file /var/lib/dpkg/status')})
    with patches:
        outcome, result, _warnings, _connect = run_module(compute_host_facts, packages=['*'])
    assert outcome == 'fail' and 'cannot list the installed packages' in result['msg'] and result['rc'] == 2


@pytest.mark.skipif(not shutil.which('tar'), reason='needs GNU tar')
def test_backup_module_sets_the_manifest_fact_and_a_second_run_changes_nothing(tmp_path):
    conf = tmp_path / 'etc' / 'nova'
    conf.mkdir(parents=True)
    (conf / 'nova.conf').write_text('[DEFAULT]\n')
    patches, _calls = fake_commands({('dpkg-query', '-W'): (0, 'lab-kernel|lab-kernel|1.0|all|ii \n', ''),
                                     ('systemctl', 'show'): (0, SHOW, '')})
    args = dict(root=str(tmp_path / 'backups'), campaign_id='c1', run_id='c1', host='compute4', paths=[str(conf)],
                services=['nova-compute'], keep=3)
    with patches:
        outcome, first, _warnings, _connect = run_module(compute_backup, **args)
        again = run_module(compute_backup, **args)[1]
    assert outcome == 'exit' and first['changed'] and not first['existed']
    manifest = json.loads((tmp_path / 'backups' / 'c1' / 'c1' / 'manifest.json').read_text())
    assert first['ansible_facts'] == {'escalator_backup_manifest': manifest} and manifest['nova_host'] == 'compute4'
    assert again['changed'] is False and again['existed'] and again['manifest'] == manifest


def test_backup_module_refuses_a_service_the_host_does_not_have_with_its_code(tmp_path):
    patches, _calls = fake_commands({('systemctl', 'show'): (0, SHOW.replace('LoadState=loaded', 'LoadState=not-found'), '')})
    with patches:
        outcome, result, _warnings, _connect = run_module(
            compute_backup, root=str(tmp_path / 'backups'), campaign_id='c1', run_id='c1', host='compute4',
            services=['nova-compute'])
    assert outcome == 'fail' and result['error_code'] == 'E_INVALID_INPUT'
    assert 'escalator_services lists nova-compute' in result['msg']
    assert not (tmp_path / 'backups').exists()
