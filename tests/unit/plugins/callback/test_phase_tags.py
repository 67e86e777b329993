# SPDX-License-Identifier: Apache-2.0
"""The playbooks' side of the campaign_status callback's contract: every task of a host's upgrade carries its phase
tag, no task only records a phase, a tag selection runs a host's phases all or none; and the playbooks' shared
pieces (the environment, the state modules' arguments, the planner's defaults) are defined once."""

from __future__ import annotations

import os
import re

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.opnfv.escalator.plugins.callback import campaign_status
from ansible_collections.opnfv.escalator.plugins.module_utils import state

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(campaign_status.__file__))))
PLAYBOOKS = os.path.join(COLLECTION, 'playbooks')
CAMPAIGN_PLAYBOOKS = ('upgrade_compute.yml', 'rollback_compute.yml', 'plan.yml', 'precheck.yml',
                      'awx_upgrade_compute.yml')
STATE_MODULES = ('opnfv.escalator.campaign_state', 'opnfv.escalator.campaign_state_info',
                 'opnfv.escalator.campaign_lock')
HOST_PHASES = ['maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify', 'release', 'rollback']
KEYWORDS = ('block', 'rescue', 'always')


def load(name):
    """A playbook or task file as Ansible loads it (YAML anchors resolved, strings trusted as templates)."""
    return DataLoader().load_from_file(os.path.join(PLAYBOOKS, name))


def tags_of(item):
    tags = item.get('tags') or []
    return [tags] if isinstance(tags, str) else list(tags)


def walk(tasks, inherited=(), section='block'):
    """(task, its tags with those of its blocks and imported task files, block/rescue/always) for each task."""
    for item in tasks or []:
        tags = list(inherited) + tags_of(item)
        if any(key in item for key in KEYWORDS):
            for key in KEYWORDS:
                yield from walk(item.get(key), tags, key if section == 'block' else section)
            continue
        imported = item.get('ansible.builtin.import_tasks') or item.get('import_tasks')
        if imported:
            yield from walk(load(imported), tags, section)
            continue
        yield item, tags, section


def play(playbook, name):
    return next(p for p in load(playbook) if p.get('name') == name)


def module_of(task):
    return next((key for key in task if key.startswith(('opnfv.escalator.', 'ansible.builtin.'))), None)


def test_every_task_of_a_host_s_upgrade_carries_its_phase_tag():
    """What the callback records comes from these tags: a task without one would run in the previous phase, one
    with two would be ambiguous, a rescue task without 'rollback' would not run under --tags."""
    upgrade = play('upgrade_compute.yml', 'Escalator | upgrade batch by batch')
    assert not tags_of(upgrade)
    first_seen = []
    for task, tags, section in walk(upgrade['tasks']):
        if tags == ['always']:
            assert section == 'block' and task.get('run_once'), task['name']   # the policy checks, once a batch
            continue
        phases = [tag for tag in tags if tag in HOST_PHASES]
        assert len(phases) == 1 and phases == tags, (task['name'], tags)
        assert (phases[0] == 'rollback') == (section == 'rescue'), (task['name'], section)
        if phases[0] not in first_seen:
            first_seen.append(phases[0])
    assert first_seen == HOST_PHASES
    recorded = [phase for phase in first_seen if phase in state.PHASE_STATES]
    assert tuple(recorded) == campaign_status.PHASE_TAGS


def test_rollback_empties_a_host_with_the_same_tagged_tasks():
    rollback = play('rollback_compute.yml', 'Escalator | roll the hosts back, one at a time, each emptied first')
    block = [(task['name'], tags, section) for task, tags, section in walk(rollback['tasks'])]
    assert [tags for _name, tags, section in block if section == 'block'][:3] == [
        ['maintenance'], ['notify'], ['evacuate']]
    restore = [tags for name, tags, _section in block if name == 'Restore the host from its backup']
    assert restore == [['rollback']]


@pytest.mark.parametrize('playbook', ['upgrade_compute.yml', 'rollback_compute.yml', 'tasks/drain.yml'])
def test_no_task_only_records_a_phase(playbook):
    """The callback records the phases; the campaign_state tasks left carry data of their own (the done record's
    VNFM answer, a failure's error code, the rollback, alerts, the start, the finish, the precheck refusal)."""
    data = load(playbook)
    tasks = data if playbook.startswith('tasks/') else [t for p in data for t in p.get('tasks') or []]
    records = [task['opnfv.escalator.campaign_state'] for task, _tags, _section in walk(tasks)
               if 'opnfv.escalator.campaign_state' in task]
    assert bool(records) == (playbook != 'tasks/drain.yml')
    for args in records:
        assert args['action'] != 'host' or args['state'] in ('done', 'failed', 'rolled_back'), args


def render(expression, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def phases_run(run_tags, skip_tags):
    check = play('upgrade_compute.yml', 'Escalator | plan, confirm and lock the campaign')
    guard = next(t for t in check['tasks'] if 'all or none' in t['name'])
    # ansible_run_tags and ansible_skip_tags are tuples, as ansible-playbook's command-line arguments are
    variables = dict(guard['vars'], ansible_run_tags=tuple(run_tags), ansible_skip_tags=tuple(skip_tags))
    return render(guard['vars']['__escalator_phases_run'], variables)


@pytest.mark.parametrize('run_tags, skip_tags, selected', [
    (['all'], [], 8),
    (['plan'], [], 0),
    (['precheck'], [], 0),
    (['plan', 'precheck'], [], 0),
    (['all'], ['precheck'], 8),
    (['tagged'], [], 8),
    (HOST_PHASES, [], 8),
    (['all'], ['notify'], 7),          # refused: a host upgraded without its VNF managers told
    (['all'], ['rollback'], 7),        # refused: a failed host left as it is, unrecorded
    (['backup', 'upgrade'], [], 2),    # refused: software changed on a host still holding instances
    (['all'], ['all'], 0),
])
def test_a_tag_selection_runs_a_host_s_phases_all_or_none(run_tags, skip_tags, selected):
    assert len(phases_run(run_tags, skip_tags)) == selected


@pytest.mark.parametrize('run_tags, skip_tags, whole', [
    (('all',), (), True),
    (('all',), ('precheck',), False),
    (('rollback',), (), False),
])
def test_rollback_compute_runs_whole(run_tags, skip_tags, whole):
    check = play('rollback_compute.yml', 'Escalator | lock the cloud and plan how to empty the hosts to roll back')
    guard = next(t for t in check['tasks'] if 'runs whole' in t['name'])
    condition = guard['ansible.builtin.assert']['that'][1]
    assert render('{{ %s }}' % condition, dict(ansible_run_tags=run_tags, ansible_skip_tags=skip_tags)) is whole


def test_the_tag_guard_knows_every_host_phase():
    check = play('upgrade_compute.yml', 'Escalator | plan, confirm and lock the campaign')
    guard = next(t for t in check['tasks'] if 'all or none' in t['name'])
    assert guard['vars']['__escalator_phases'] == HOST_PHASES
    assert 'CALLBACKS_ENABLED' in guard['ansible.builtin.assert']['that'][0]


def plays():
    for name in CAMPAIGN_PLAYBOOKS:
        for entry in load(name):
            if 'hosts' in entry:
                yield name, entry


def test_one_definition_of_the_environment():
    for name, entry in plays():
        text = repr(entry)
        assert 'OS_CLIENT_CONFIG_FILE' not in text, (name, entry['name'])
        # a play that runs one of the collection's modules (a Jinja test such as opnfv.escalator.campaign_id is no module)
        uses_modules = any((module_of(task) or '').startswith('opnfv.escalator.')
                           for task, _tags, _section in walk(entry.get('tasks')))
        if uses_modules and 'Refuse --limit' not in text:
            assert entry.get('environment') == '{{ __escalator_environment }}', (name, entry['name'])
        if '__escalator_' in text:
            assert entry.get('vars_files') == 'vars/controller.yml', (name, entry['name'])
    controller = load('vars/controller.yml')
    assert set(controller['__escalator_environment']) == {'OS_CLIENT_CONFIG_FILE'}


def test_the_state_modules_take_the_campaign_from_module_defaults():
    for name, entry in plays():
        tasks = list(walk(entry.get('tasks')))
        used = {module_of(task) for task, _tags, _section in tasks} & set(STATE_MODULES)
        for task, _tags, _section in tasks:
            args = task.get(module_of(task))
            if module_of(task) in STATE_MODULES and isinstance(args, dict):
                assert not {'campaign_id', 'state_dir', 'run_id'} & set(args), (name, task['name'])
        for module in used:
            assert {'campaign_id', 'state_dir'} <= set(entry['module_defaults'][module]), (name, entry['name'], module)


def test_the_planner_options_default_to_the_module_s_argument_spec():
    """default(omit): the campaign_plan module's argument spec is the one home of the planner's defaults."""
    found = 0
    for name, entry in plays():
        for task, _tags, _section in walk(entry.get('tasks')):
            for option, value in (task.get('opnfv.escalator.campaign_plan') or {}).items():
                match = re.match(r'^\{\{\s*escalator_\w+\s*\|\s*default\((.*)\)\s*\}\}$', str(value))
                if match:
                    found += 1
                    assert match.group(1) == 'omit', (name, option, value)
    assert found >= 20


@pytest.mark.parametrize('callbacks, run_tags, expected', [
    ('opnfv.escalator.campaign_status', ('backup', 'upgrade'), 'The tags select backup, upgrade of a host'),
    ('ansible.posix.profile_tasks', ('all',), 'ANSIBLE_CALLBACKS_ENABLED=opnfv.escalator.campaign_status'),
])
def test_the_guard_says_what_is_wrong(monkeypatch, callbacks, run_tags, expected):
    monkeypatch.setenv('ANSIBLE_CALLBACKS_ENABLED', callbacks)
    check = play('upgrade_compute.yml', 'Escalator | plan, confirm and lock the campaign')
    guard = next(t for t in check['tasks'] if 'all or none' in t['name'])
    variables = dict(guard['vars'], ansible_run_tags=run_tags, ansible_skip_tags=(),
                     __escalator_phases_run=phases_run(run_tags, ()))
    assert expected in render(guard['ansible.builtin.assert']['fail_msg'], variables)
