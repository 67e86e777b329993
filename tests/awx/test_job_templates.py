# SPDX-License-Identifier: Apache-2.0
"""The AWX objects as code (awx/controller/escalator.yml) against the playbooks, roles and modules they drive:
the playbooks exist and parse, every survey answer and extra variable is one the playbooks read, with a type,
choices and default consistent with the module option or role option it feeds; no job is ever sliced."""
import os
import re

import pytest
import yaml

from ansible_collections.opnfv.escalator.tests.awx.helpers import (
    load_yaml, module_options, path, playbook_tree, role_files, role_options, roles_of, run, tool,
)

# The cloud name in the clouds.yaml that AWX's OpenStack credential type injects (OS_CLIENT_CONFIG_FILE):
# awx/main/models/credential/injectors.py, _openstack_data() -> {'clouds': {'devstack': ...}}.
AWX_OPENSTACK_CLOUD = 'devstack'
SURVEY_TYPES = {'text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect'}
BOOL_STRINGS = {'true', 'false', 'yes', 'no'}
# playbooks that touch neither the cloud nor a host (pause_campaign.yml writes into the state directory)
NO_CLOUD_PLAYBOOKS = ('playbooks/pause_campaign.yml',)
JINJA_USE = re.compile(r'\{\{(.*?)\}\}', re.S)


def templates(controller):
    return controller['controller_templates']


def template_ids(controller_data=None):
    data = controller_data or load_yaml('awx', 'controller', 'escalator.yml')
    return [t['name'] for t in data['controller_templates']]


def survey(template):
    return (template.get('survey_spec') or {}).get('spec') or [] if template.get('survey_enabled') else []


def launched_files(template):
    files = playbook_tree(template['playbook'])
    for role in roles_of(files):
        files += role_files(role)
    return files


def uses(files, variable):
    """Every Jinja expression in these files that reads `variable` (as a whole word), with its file."""
    found = []
    for name in files:
        with open(name, encoding='utf-8') as f:
            text = f.read()
        for expression in JINJA_USE.findall(text):
            if re.search(r'(?<![\w.])%s\b' % re.escape(variable), expression):
                found.append((name, ' '.join(expression.split())))
        # `when:` conditions are bare Jinja
        for condition in re.findall(r'^\s*(?:-\s+)?(?:when|that|failed_when|changed_when):\s*(.+)$', text, re.M):
            if re.search(r'(?<![\w.])%s\b' % re.escape(variable), condition):
                found.append((name, condition.strip()))
    return found


def module_feeds(files, variable):
    """[(module, option, default in the playbook or None)] where `variable` is passed to an option of one of
    the collection's modules: `option: "{{ variable | default(X) }}"`."""
    feeds = []
    pattern = re.compile(r'^\{\{\s*%s\s*(?:\|\s*default\(\s*([^()]*?)\s*\))?\s*\}\}$' % re.escape(variable))

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.startswith('opnfv.escalator.') and isinstance(value, dict):
                    for option, arg in value.items():
                        match = pattern.match(arg.strip()) if isinstance(arg, str) else None
                        if match:
                            feeds.append((key.split('.')[-1], option, match.group(1)))
                walk(value)

    for name in files:
        if name.endswith(('.yml', '.yaml')):
            with open(name, encoding='utf-8') as f:
                walk(yaml.safe_load(f))
    return feeds


def documented_variables(template):
    """Variables the example inventory documents (set or commented out), and those the launched playbook's
    header comment documents (its own, e.g. escalator_dry_run)."""
    with open(path('inventories', 'example', 'group_vars', 'all.yml'), encoding='utf-8') as f:
        names = set(re.findall(r'^#?\s*(escalator_\w+):', f.read(), re.M))
    with open(path(template['playbook']), encoding='utf-8') as f:
        header = ''.join(line for line in f if line.startswith('#'))
    names.update(re.findall(r'\b(escalator_\w+)\b', header))
    return names | set(role_options())


# -- the templates ----------------------------------------------------------------------------------------

def test_templates_exist(controller):
    assert templates(controller), 'no job template'
    assert any(t['playbook'] == 'playbooks/awx_upgrade_compute.yml' for t in templates(controller))


@pytest.mark.parametrize('name', template_ids())
def test_never_sliced_never_simultaneous(controller, name):
    template = next(t for t in templates(controller) if t['name'] == name)
    assert template.get('job_slice_count') == 1, 'each slice would run the plan on its own: keep one slice'
    assert not template.get('ask_job_slice_count_on_launch', False)
    assert template.get('allow_simultaneous') is False
    assert not template.get('become_enabled', False), 'become for localhost tasks too; the inventory sets it per host'


@pytest.mark.parametrize('name', template_ids())
def test_references_resolve(controller, name):
    template = next(t for t in templates(controller) if t['name'] == name)
    names = {key: {o['name'] for o in controller.get(key, [])}
             for key in ('controller_projects', 'controller_inventories', 'controller_credentials',
                         'controller_execution_environments', 'controller_instance_groups', 'controller_notifications')}
    assert template['project'] in names['controller_projects']
    assert template['inventory'] in names['controller_inventories']
    assert template['execution_environment'] in names['controller_execution_environments']
    assert set(template['credentials']) <= names['controller_credentials']
    assert set(template.get('instance_groups', [])) <= names['controller_instance_groups']
    for key in ('notification_templates_error', 'notification_templates_success', 'notification_templates_started'):
        assert set(template.get(key, [])) <= names['controller_notifications']
    if template['playbook'] in NO_CLOUD_PLAYBOOKS:
        assert template['credentials'] == [], 'a job that needs no cloud gets no credential'
        return
    credential_types = {c['name']: c['credential_type'] for c in controller['controller_credentials']}
    assert 'OpenStack' in {credential_types[c] for c in template['credentials']}, 'no OpenStack credential'
    assert template['extra_vars']['escalator_cloud'] == AWX_OPENSTACK_CLOUD


def test_inventory_source_is_in_the_project(controller):
    for source in controller['controller_inventory_sources']:
        assert source['source'] == 'scm'
        inventory = load_yaml(source['source_path'])
        assert 'compute' in inventory['all']['children'], 'precheck.yml and rollback_compute.yml target group compute'


@pytest.mark.parametrize('name', template_ids())
def test_playbook_passes_syntax_check(controller, name, tmp_path):
    template = next(t for t in templates(controller) if t['name'] == name)
    assert os.path.isfile(path(template['playbook']))
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text('all:\n  children:\n    compute:\n      hosts:\n        cmp-1: {}\n')
    variants = [[]]
    for question in survey(template):
        if question['type'] == 'multiplechoice':  # an answer can change what is imported (dry run)
            variants += [['-e', '%s=%s' % (question['variable'], choice)] for choice in question['choices']]
    for extra in variants:
        result = run([tool('ansible-playbook'), '--syntax-check', '-i', str(inventory), path(template['playbook'])] + extra,
                     cwd=path('playbooks'))
        assert result.returncode == 0, (extra, result.stdout + result.stderr)


# -- every variable the templates set is read, with a consistent type ---------------------------------------

def survey_cases():
    data = load_yaml('awx', 'controller', 'escalator.yml')
    return [pytest.param(t['name'], q['variable'], id='%s:%s' % (t['playbook'], q['variable']))
            for t in data['controller_templates'] for q in survey(t)]


def extra_var_cases():
    data = load_yaml('awx', 'controller', 'escalator.yml')
    return [pytest.param(t['name'], var, id='%s:%s' % (t['playbook'], var))
            for t in data['controller_templates'] for var in t.get('extra_vars', {})]


@pytest.mark.parametrize('name, variable', extra_var_cases())
def test_extra_vars_are_read_by_the_playbook(controller, name, variable):
    template = next(t for t in templates(controller) if t['name'] == name)
    assert uses(launched_files(template), variable), '%s: nothing that %s runs reads %s' % (name, template['playbook'], variable)
    assert variable in documented_variables(template), '%s is documented nowhere' % variable


@pytest.mark.parametrize('name, variable', survey_cases())
def test_survey_answer_feeds_the_playbook_consistently(controller, name, variable):
    template = next(t for t in templates(controller) if t['name'] == name)
    question = next(q for q in survey(template) if q['variable'] == variable)
    assert question['type'] in SURVEY_TYPES
    assert question.get('question_name') and question.get('question_description')
    files = launched_files(template)
    found = uses(files, variable)
    assert found, '%s: nothing that %s runs reads %s' % (name, template['playbook'], variable)
    assert variable in documented_variables(template), '%s is documented nowhere' % variable

    feeds = module_feeds(files, variable)
    for module, option, default in feeds:
        spec = module_options(module)[option]
        if question['type'] == 'integer':
            # a raw option takes an integer among its values (campaign_plan's max_batch_size: auto or a number)
            assert spec['type'] in ('int', 'raw'), (module, option, spec['type'])
        elif question['type'] in ('text', 'textarea', 'password'):
            assert spec['type'] in ('str', 'path', 'raw'), (module, option, spec['type'])
        elif question['type'] == 'multiplechoice' and 'choices' in spec:
            assert set(question['choices']) <= set(map(str, spec['choices'])), (module, option, spec['choices'])
        if default is not None and question.get('default') not in (None, ''):
            # the survey proposes what the playbook would do without it: the playbook's default, or with
            # default(omit) the module's
            if default != 'omit':
                assert yaml.safe_load(default) == question['default'], (module, option, default, question['default'])
            if 'default' in spec:
                assert spec['default'] == question['default'], (module, option, spec['default'])
    for role, spec in role_options().get(variable, []):
        if question['type'] == 'integer':
            assert spec['type'] == 'int', (role, spec)
        elif question['type'] == 'multiplechoice' and 'choices' in spec:
            assert set(question['choices']) <= set(map(str, spec['choices'])), (role, spec)

    if question['type'] == 'integer':
        # an integer answer feeds module ints, or the playbook reads it as a number
        assert feeds or any(re.search(r'%s\s*(\|\s*default\([^)]*\)\s*)?\|\s*int\b' % variable, e) for _f, e in found), found
        assert question['min'] <= question['default'] <= question['max']
        assert question['min'] >= 0
    if question['type'] == 'multiplechoice' and not feeds:
        # a choice read as a boolean: every choice must be one
        expressions = [e for _f, e in found]
        assert all(re.search(r'%s\s*(\|\s*default\([^)]*\)\s*)?\|\s*bool\b' % variable, e) for e in expressions), expressions
        assert set(question['choices']) <= BOOL_STRINGS
        assert question['default'] in question['choices']
    if question['type'] == 'text':
        assert question.get('max', 1024) >= question.get('min', 0)

    # the example inventory's value, when it sets one, is the survey's default
    example = load_yaml('inventories', 'example', 'group_vars', 'all.yml')
    if variable in example and question.get('default') not in (None, ''):
        assert example[variable] == question['default'], (variable, example[variable], question['default'])


def test_campaign_id_question_allows_what_the_playbook_accepts(controller):
    for template in templates(controller):
        for question in survey(template):
            if question['variable'] == 'escalator_campaign_id':
                assert question['required'] is True
                assert question['min'] >= 1 and question['max'] <= 63  # the playbooks' pattern: 1..63 characters


def test_upgrade_template_asks_for_the_four_campaign_knobs(controller):
    template = next(t for t in templates(controller) if t['playbook'] == 'playbooks/awx_upgrade_compute.yml')
    variables = {q['variable'] for q in survey(template)}
    assert {'escalator_campaign_id', 'escalator_max_batch_size', 'escalator_canary_hosts',
            'escalator_max_failed_hosts', 'escalator_dry_run'} <= variables
    dry_run = next(q for q in survey(template) if q['variable'] == 'escalator_dry_run')
    assert dry_run['default'] == 'true', 'a launch with the defaults must only plan'
