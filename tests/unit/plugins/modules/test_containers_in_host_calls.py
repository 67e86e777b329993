# SPDX-License-Identifier: Apache-2.0
"""The containers method inside the host calls the roles already make (no task of its own): the precheck's pull and
the verify's check in compute_host_facts, containers.json in compute_backup - with the results, error codes,
messages and hints of compute_containers, which they are compared with; and without the option (a package
campaign) not one container engine command. Run in-process against the fake container host (tar for real)."""

from __future__ import annotations

import json
import shutil
import subprocess
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import health
from ansible_collections.opnfv.escalator.plugins.modules import compute_backup, compute_containers, compute_host_facts
from ansible_collections.opnfv.escalator.tests.unit import systemd_fakes
from ansible_collections.opnfv.escalator.tests.unit.fake_podman import REGISTRY, FakeContainerHost
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

UNIT = 'container-nova_compute.service'
NOVA = dict(name='nova_compute', image=REGISTRY, tag='2.0', unit=UNIT)
SHOW = systemd_fakes.show(systemd_fakes.NOVA_COMPUTE_RUNNING)
ENGINES = ('podman', 'docker')


class Lab(object):
    """The fake container host behind AnsibleModule.run_command, with dpkg-query and `systemctl show` answered and
    tar run for real (compute_backup); ``tools`` are the commands the host has."""

    def __init__(self):
        self.fake = FakeContainerHost()
        self.fake.publish(REGISTRY, '1.0')
        self.fake.publish(REGISTRY, '2.0')
        self.fake.add_container('nova_compute', REGISTRY, '1.0', unit=UNIT)
        self.tools = {'podman', 'docker', 'systemctl', 'dpkg-query', 'apt-get', 'tar'}
        self.calls = []

    def run(self, argv):
        self.calls.append(list(argv))
        tool = argv[0].rsplit('/', 1)[-1]
        if tool == 'tar':
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return done.returncode, done.stdout, done.stderr
        if tool == 'dpkg-query':
            return 0, 'lab-kernel|lab-kernel|1.0|all|ii \n', ''
        if tool == 'systemctl' and argv[1] == 'show':
            return 0, SHOW, ''
        return self.fake.run(argv)

    def engine_calls(self):
        return [call for call in self.calls if call[0].rsplit('/', 1)[-1] in ENGINES
                or call[0].rsplit('/', 1)[-1] == 'systemctl' and call[1] != 'show']


@pytest.fixture
def lab():
    made = Lab()

    def run_command(self, args, check_rc=False, **kwargs):
        return made.run(args)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name if name in made.tools else None

    with mock.patch.multiple(basic.AnsibleModule, run_command=run_command, get_bin_path=get_bin_path), \
            mock.patch.object(health.time, 'sleep', lambda seconds: None):
        yield made


def facts(containers, **args):
    return run_module(compute_host_facts, containers=containers, **args)


def failure_of(result):
    """A compute_containers failure as host_calls reports it."""
    return dict(code=result['error_code'], msg=result['msg'], hint=result.get('hint'))


# --- compute_host_facts: the precheck's pull ---------------------------------------------------------------

def test_the_pull_runs_in_the_host_facts_call_with_compute_containers_results(lab, tmp_path):
    outcome, result, _warnings, _connect = facts(dict(operation='pull', targets=[NOVA]), free_space=[str(tmp_path)])
    assert outcome == 'exit' and result['changed'] is True
    assert result['free_space'][str(tmp_path)]['error'] is None     # the host's other answers are there too
    pulled = result['containers']
    assert pulled['operation'] == 'pull' and pulled['problems'] == [] and pulled['changed'] is True
    assert lab.fake.resolve(REGISTRY + ':2.0') is not None and not lab.fake.stops()
    other = Lab()
    with mock.patch.object(basic.AnsibleModule, 'run_command', lambda self, args, **kwargs: other.run(args)):
        alone = run_module(compute_containers, operation='pull', containers=[NOVA])[1]
    assert pulled['images'] == alone['images'] and alone['changed'] is True
    # the images are on the host: a second precheck pulls the tag again (it may have moved) but changes nothing
    again = facts(dict(operation='pull', targets=[NOVA]))[1]
    assert again['changed'] is False and again['containers']['images'][REGISTRY + ':2.0']['pulled'] is False


def test_check_mode_pulls_nothing_and_says_it_would(lab):
    outcome, result, _warnings, _connect = facts(dict(operation='pull', targets=[NOVA]), check_mode=True)
    assert outcome == 'exit' and result['changed'] is True and result['containers']['problems'] == []
    assert not [call for call in lab.calls if call[1:2] == ['pull']]


@pytest.mark.parametrize('entry, fault, code', [
    (dict(NOVA, name='nova_compte'), None, 'E_CONTAINER_NOT_FOUND'),
    (dict(NOVA, tag='9.9'), None, 'E_IMAGE_NOT_FOUND'),
    (dict(NOVA, digest='sha256:' + 'f' * 64), None, 'E_IMAGE_DIGEST'),
    (dict(NOVA, tag=None), None, 'E_INVALID_INPUT'),
    (NOVA, 'registry_down', 'E_REGISTRY'),
    (NOVA, 'no_engine', 'E_INVALID_INPUT'),
])
def test_a_pull_problem_is_compute_containers_failure_as_data_and_nothing_stops(lab, entry, fault, code):
    if fault == 'registry_down':
        lab.fake.registry_down = True
    if fault == 'no_engine':
        lab.tools.discard('podman')
    outcome, alone, _warnings, _connect = run_module(compute_containers, operation='pull', containers=[entry])
    assert outcome == 'fail' and alone['error_code'] == code and alone['hint']
    outcome, result, _warnings, _connect = facts(dict(operation='pull', targets=[entry]), reboot=True)
    assert outcome == 'exit' and result['changed'] is False and 'reboot' in result
    assert result['containers']['problems'] == [failure_of(alone)]
    assert not lab.fake.stops()


# --- compute_host_facts: the verify's check ----------------------------------------------------------------

def test_the_verify_runs_in_the_host_facts_call_with_compute_containers_problems(lab):
    check = dict(operation='verify', targets=[NOVA], health_timeout=0)
    outcome, result, _warnings, _connect = facts(check, services=[UNIT])
    assert outcome == 'exit' and result['changed'] is False and UNIT in result['services']
    wrong = result['containers']['problems']
    assert [problem['code'] for problem in wrong] == ['E_IMAGE_DIGEST'] and 'is not on the host' in wrong[0]['msg']
    assert run_module(compute_containers, operation='upgrade', containers=[NOVA])[0] == 'exit'
    result = facts(check)[1]
    assert result['containers']['problems'] == [] and result['containers']['containers'][0]['name'] == 'nova_compute'
    lab.fake.broken.add(lab.fake.registry[REGISTRY + ':2.0']['Id'])
    outcome, alone, _warnings, _connect = run_module(compute_containers, operation='verify', containers=[NOVA],
                                                     health_timeout=0, settle=0)
    assert outcome == 'fail' and alone['error_code'] == 'E_CONTAINER_UNHEALTHY'
    unhealthy = facts(check)[1]['containers']['problems']
    assert unhealthy == [dict(problem, hint=None) for problem in alone['problems']]
    assert not [call for call in lab.calls if call[1:2] == ['pull']][1:]   # the verify asks no registry


def test_the_verify_of_backed_up_digests_the_rollback_passes(lab, tmp_path):
    ids = dict(backup_dir=str(tmp_path), campaign_id='c1', run_id='c1', host='compute4')
    run_module(compute_containers, operation='backup', containers=[NOVA], **ids)
    run_module(compute_containers, operation='upgrade', containers=[NOVA])
    targets = run_module(compute_containers, operation='rollback', **ids)[1]['targets']
    result = facts(dict(operation='verify', targets=targets, health_timeout=0))[1]
    assert targets[0]['digest'].startswith('sha256:') and result['containers']['problems'] == []
    result = facts(dict(operation='verify', targets=[dict(targets[0], digest='sha256:' + '0' * 64)],
                        health_timeout=0))[1]
    assert [problem['code'] for problem in result['containers']['problems']] == ['E_IMAGE_DIGEST']


def test_without_the_option_no_container_engine_is_asked(lab, tmp_path):
    outcome, result, _warnings, _connect = run_module(compute_host_facts, services=['nova-compute'], reboot=True,
                                                      free_space=[str(tmp_path)])
    assert outcome == 'exit' and result['changed'] is False and 'containers' not in result
    assert lab.engine_calls() == [] and lab.calls


# --- compute_backup: containers.json in the backup's call --------------------------------------------------

def backup(tmp_path, **args):
    conf = tmp_path / 'etc' / 'nova'
    conf.mkdir(parents=True, exist_ok=True)
    (conf / 'nova.conf').write_text('[DEFAULT]\n')
    return run_module(compute_backup, root=str(tmp_path / 'backups'), campaign_id='c1', run_id='c1', host='compute4',
                      paths=[str(conf)], services=['nova-compute'], **args)


needs_tar = pytest.mark.skipif(not shutil.which('tar'), reason='needs GNU tar')


@needs_tar
def test_the_backup_records_the_containers_before_its_manifest_in_the_same_call(lab, tmp_path):
    outcome, result, _warnings, _connect = backup(tmp_path, containers=dict(engine='podman', targets=[NOVA]))
    assert outcome == 'exit' and result['changed'] is True, result
    run = tmp_path / 'backups' / 'c1' / 'c1'
    written = json.loads((run / 'containers.json').read_text())
    assert result['containers'] == dict(existed=False, path=str(run / 'containers.json'), containers=[dict(
        name='nova_compute', image_id=lab.fake.containers['nova_compute']['Image'], repository=REGISTRY,
        digest=written['containers'][0]['digest'], running=True)])
    assert (run / 'manifest.json').exists()
    tar = next(index for index, call in enumerate(lab.calls) if call[0] == 'tar')
    assert all(index < tar for index, call in enumerate(lab.calls) if call[0].endswith('podman'))
    # the same record as compute_containers' backup (its timestamp aside), which the rollback reads
    alone_dir = tmp_path / 'alone'
    run_module(compute_containers, operation='backup', containers=[NOVA], backup_dir=str(alone_dir),
               campaign_id='c1', run_id='c1', host='compute4')
    alone = json.loads((alone_dir / 'containers.json').read_text())
    assert dict(written, timestamp=None) == dict(alone, timestamp=None)
    outcome, rolled, _warnings, _connect = run_module(compute_containers, operation='rollback', backup_dir=str(run),
                                                      campaign_id='c1', run_id='c1', host='compute4')
    assert outcome == 'exit' and rolled['changed'] is False     # nothing was upgraded: already on its image
    # a second run keeps the backup and the record as they are
    again = backup(tmp_path, containers=dict(engine='podman', targets=[NOVA]))[1]
    assert again['changed'] is False and again['existed'] and again['containers']['existed'] is True
    assert json.loads((run / 'containers.json').read_text()) == written


@needs_tar
def test_the_backup_in_check_mode_writes_nothing(lab, tmp_path):
    outcome, result, _warnings, _connect = backup(tmp_path, check_mode=True,
                                                  containers=dict(engine='podman', targets=[NOVA]))
    assert outcome == 'exit' and result['changed'] is True and result['containers']['containers']
    assert not (tmp_path / 'backups').exists()


@pytest.mark.parametrize('entry, code', [
    (dict(NOVA, name='nova_compte'), 'E_CONTAINER_NOT_FOUND'),
    (dict(NOVA, image=REGISTRY + ':2.0'), 'E_INVALID_INPUT'),
])
@needs_tar
def test_a_container_problem_fails_the_backup_with_its_code_and_no_manifest(lab, tmp_path, entry, code):
    alone = run_module(compute_containers, operation='backup', containers=[entry], backup_dir=str(tmp_path / 'alone'),
                       campaign_id='c1', run_id='c1', host='compute4')[1]
    outcome, result, _warnings, _connect = backup(tmp_path, containers=dict(targets=[entry]))
    assert outcome == 'fail' and failure_of(result) == failure_of(alone) and result['error_code'] == code
    assert not (tmp_path / 'backups' / 'c1' / 'c1' / 'manifest.json').exists()


@needs_tar
def test_a_complete_backup_without_the_record_is_refused(lab, tmp_path):
    assert backup(tmp_path)[0] == 'exit'
    outcome, result, _warnings, _connect = backup(tmp_path, containers=dict(targets=[NOVA]))
    assert outcome == 'fail' and result['error_code'] == 'E_INVALID_INPUT' and 'without the containers method' in \
        result['msg'] and result['hint']


@needs_tar
def test_a_backup_without_the_option_asks_no_container_engine(lab, tmp_path):
    outcome, result, _warnings, _connect = backup(tmp_path)
    assert outcome == 'exit' and 'containers' not in result and lab.engine_calls() == []
    assert not (tmp_path / 'backups' / 'c1' / 'c1' / 'containers.json').exists()
