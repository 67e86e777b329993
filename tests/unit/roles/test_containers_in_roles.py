# SPDX-License-Identifier: Apache-2.0
"""The roles' side of the containers method inside the host calls: the precheck, backup and verify roles have no
task of the method (a skipped task still costs a worker fork per host: every package campaign paid four), their
one call gets the containers option only with the method, and the problems they report from it read as they did
when compute_containers ran in tasks of its own (its failures, formatted the old way, are the expected strings)."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import health
from ansible_collections.opnfv.escalator.plugins.modules import compute_containers, compute_host_facts
from ansible_collections.opnfv.escalator.tests.unit.fake_podman import REGISTRY, FakeContainerHost
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(compute_host_facts.__file__)))),
                     'roles')
UNIT = 'container-nova_compute.service'
NOVA = dict(name='nova_compute', image=REGISTRY, tag='2.0', unit=UNIT)
PACKAGES = dict(escalator_upgrade_method='packages', escalator_upgrade_containers=[NOVA])
CONTAINERS = dict(escalator_upgrade_method='containers', escalator_upgrade_containers=[NOVA],
                  escalator_upgrade_container_engine='podman')


def load(role, name):
    return DataLoader().load_from_file(os.path.join(ROLES, role, 'tasks', name))


def tasks_of(role, name='main.yml', conditions=()):
    """(task, the `when`s of the imports and includes above it) for every task the role can run, in order."""
    for task in load(role, name):
        when = task.get('when')
        inherited = conditions + ((when,) if when else ())
        included = next((task[key] for key in ('ansible.builtin.import_tasks', 'ansible.builtin.include_tasks')
                         if key in task), None)
        if included is not None and '{{' not in included:
            yield from tasks_of(role, included, inherited)
        elif included is None:
            yield task, inherited


def render(value, variables):
    return Templar(loader=DataLoader(), variables=variables).template(value)


def trusted(value):
    if isinstance(value, dict):
        return dict((key, trusted(item)) for key, item in value.items())
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return trust_as_template(value) if isinstance(value, str) else value


@pytest.mark.parametrize('role', ['precheck', 'backup', 'verify'])
def test_no_task_of_the_role_is_there_for_the_containers_method_alone(role):
    for task, conditions in tasks_of(role):
        assert 'opnfv.escalator.compute_containers' not in task, task['name']
        for condition in conditions:
            text = ' '.join(condition) if isinstance(condition, list) else str(condition)
            assert 'escalator_upgrade_method' not in text and 'containers' not in text, (task['name'], condition)


def host_call(role, module='opnfv.escalator.compute_host_facts', name='main.yml'):
    return next(task[module] for task, _conditions in tasks_of(role, name) if module in task)


@pytest.mark.parametrize('role, module, name, expected', [
    ('precheck', 'opnfv.escalator.compute_host_facts', 'host.yml',
     dict(operation='pull', targets=[NOVA], engine='podman')),
    ('verify', 'opnfv.escalator.compute_host_facts', 'main.yml',
     dict(operation='verify', targets=[NOVA], health_timeout=60, engine='podman')),
    ('backup', 'opnfv.escalator.compute_backup', 'main.yml', dict(targets=[NOVA], engine='podman')),
])
def test_the_role_call_gets_the_containers_option_only_with_the_method(role, module, name, expected):
    argument = trusted(dict(containers=host_call(role, module, name)['containers']))
    verify = dict(escalator_verify_containers_timeout=60)
    for settings in (PACKAGES, dict(PACKAGES, escalator_upgrade_method='command')):
        variables = dict(settings, escalator_verify_containers=[], __escalator_backup_containers=False, **verify)
        assert render(argument, variables) == {}, settings
    variables = dict(CONTAINERS, escalator_verify_containers=[NOVA], __escalator_backup_containers=True, **verify)
    assert render(argument, variables) == dict(containers=expected)
    # without the upgrade role's engine setting, the module's default
    variables.pop('escalator_upgrade_container_engine')
    assert 'engine' not in render(argument, variables)['containers']


def test_the_backup_role_decides_the_method_once_and_fetches_in_one_task():
    fact = next(task['ansible.builtin.set_fact'] for task, _c in tasks_of('backup') if 'ansible.builtin.set_fact' in task)
    decided = trusted(dict(on=fact['__escalator_backup_containers']))
    assert render(decided, PACKAGES) == dict(on=False) and render(decided, CONTAINERS) == dict(on=True)
    fetches = [task for task, _c in tasks_of('backup') if 'ansible.builtin.fetch' in task]
    assert len(fetches) == 1
    files = trusted(dict(files=fetches[0]['loop']))
    assert render(files, dict(__escalator_backup_containers=False)) == dict(files=['config.tar.gz'])
    assert render(files, dict(__escalator_backup_containers=True)) == dict(files=['config.tar.gz', 'containers.json'])


# --- the problems the roles report, from the module's real answers --------------------------------------------

@pytest.fixture
def lab():
    fake = FakeContainerHost()
    fake.publish(REGISTRY, '1.0')
    fake.publish(REGISTRY, '2.0')
    fake.add_container('nova_compute', REGISTRY, '1.0', unit=UNIT)

    def run_command(self, args, check_rc=False, **kwargs):
        return fake.run(args)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name

    with mock.patch.multiple(basic.AnsibleModule, run_command=run_command, get_bin_path=get_bin_path), \
            mock.patch.object(health.time, 'sleep', lambda seconds: None):
        yield fake


def role_vars(role):
    return dict((key, trust_as_template(value) if isinstance(value, str) else value)
                for key, value in DataLoader().load_from_file(os.path.join(ROLES, role, 'vars', 'main.yml')).items())


@pytest.mark.parametrize('entry, registry_down', [
    (dict(NOVA, name='nova_compte'), False), (dict(NOVA, tag='9.9'), False), (NOVA, True),
    (dict(NOVA, digest='sha256:' + 'f' * 64), False), (dict(NOVA, tag=None), False),
])
def test_the_precheck_reports_a_pull_problem_as_before(lab, entry, registry_down):
    lab.registry_down = registry_down
    old = run_module(compute_containers, operation='pull', containers=[entry])[1]
    before = '%s (%s): %s (%s)' % ('containers', old['error_code'], old['msg'], old['hint'])
    answer = run_module(compute_host_facts, containers=dict(operation='pull', targets=[entry]))[1]
    variables = dict(role_vars('precheck'), __escalator_precheck_host=answer)
    assert render(trust_as_template('{{ __escalator_precheck_containers_problems }}'), variables) == [before]
    lab.registry_down = False
    variables['__escalator_precheck_host'] = run_module(compute_host_facts,
                                                        containers=dict(operation='pull', targets=[NOVA]))[1]
    assert render(trust_as_template('{{ __escalator_precheck_containers_problems }}'), variables) == []


def test_the_verify_reports_each_container_problem_as_before(lab):
    run_module(compute_containers, operation='upgrade', containers=[NOVA])
    variables = dict(role_vars('verify'), escalator_services=[], escalator_optional_services=[],
                     escalator_verify_services_active=False, escalator_verify_expected_versions={},
                     escalator_verify_process_service=UNIT, escalator_verify_process_env={},
                     escalator_verify_process_newer_than_packages=[])
    problems = trust_as_template('{{ __escalator_verify_problems }}')
    check = dict(operation='verify', targets=[NOVA], health_timeout=0)
    variables['__escalator_verify_host'] = run_module(compute_host_facts, containers=check)[1]
    assert render(problems, variables) == []
    lab.broken.add(lab.registry[REGISTRY + ':2.0']['Id'])
    gone = dict(NOVA, name='nova_libvirt')
    old = run_module(compute_containers, operation='verify', containers=[NOVA, gone], health_timeout=0, settle=0)[1]
    before = ['container (%s): %s' % (problem['code'], problem['msg']) for problem in old['problems']]
    assert [problem['code'] for problem in old['problems']] == ['E_CONTAINER_UNHEALTHY', 'E_CONTAINER_NOT_FOUND']
    variables['__escalator_verify_host'] = run_module(compute_host_facts, containers=dict(check, targets=[NOVA, gone]))[1]
    assert render(problems, variables) == before
