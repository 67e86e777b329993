# SPDX-License-Identifier: Apache-2.0
"""The execution environment: the collection's EE metadata, execution-environment.yml, and an offline
`ansible-builder create` (through awx/build-ee-context.sh) whose build context holds what the image needs."""
import json
import os
import re
import tarfile

import pytest
import yaml

from ansible_collections.opnfv.escalator.tests.awx.helpers import ansible_env, load_yaml, path, run, tool

# Any attempt to reach the network through a proxy-aware client fails at once: the build context must be
# made from local files only (PyPI and Galaxy are only needed by the image build itself).
OFFLINE = dict(http_proxy='http://127.0.0.1:9', https_proxy='http://127.0.0.1:9', HTTP_PROXY='http://127.0.0.1:9',
               HTTPS_PROXY='http://127.0.0.1:9', no_proxy='', NO_PROXY='', PIP_NO_INDEX='1')


def requirement_names(text):
    names = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            names.append(re.split(r'[\s<>=!~;\[]', line, maxsplit=1)[0].lower())
    return names


def test_collection_ee_metadata_names_existing_files():
    meta = load_yaml('meta', 'execution-environment.yml')
    assert meta['version'] == 1
    deps = meta['dependencies']
    assert set(deps) == {'python', 'system'}
    for key in ('python', 'system'):
        assert os.path.isfile(path(deps[key])), '%s: %s does not exist at the collection root' % (key, deps[key])
    with open(path(deps['python']), encoding='utf-8') as f:
        assert 'openstacksdk' in requirement_names(f.read())
    with open(path(deps['system']), encoding='utf-8') as f:
        system = [line for line in f.read().splitlines() if line.strip() and not line.startswith('#')]
    # bindep lines: a package, then platform selectors in brackets
    for line in system:
        assert re.fullmatch(r'[A-Za-z0-9.+_-]+(\s+\[[^\]]+\])?', line.strip()), line
    assert any(line.startswith('openssh-client') for line in system)


def test_ee_definition_is_valid_v3_and_pins_ansible_core():
    from ansible_builder.ee_schema import validate_schema
    from ansible.release import __version__ as core_version

    definition = load_yaml('execution-environment.yml')
    validate_schema(definition)  # raises DefinitionError when invalid
    assert definition['version'] == 3
    deps = definition['dependencies']
    core_pin = deps['ansible_core']['package_pip']
    assert core_pin.startswith('ansible-core')
    major_minor = '.'.join(core_version.split('.')[:2])  # what this project tests with
    assert '>=%s' % major_minor in core_pin.replace(' ', ''), core_pin
    assert deps['ansible_runner']['package_pip'].startswith('ansible-runner')
    assert deps['python_interpreter']['python_path'].endswith('python3.11')


def test_ee_galaxy_requirements_only_install_the_shipped_tarball():
    definition = load_yaml('execution-environment.yml')
    galaxy = load_yaml(definition['dependencies']['galaxy'])
    assert not galaxy.get('roles')
    collections = galaxy['collections']
    assert len(collections) == 1
    entry = collections[0]
    assert entry['type'] == 'file', 'the collection must come from the local tarball, not from a Galaxy server'
    # the tarball reaches /build/<dest>/<basename> through additional_build_files
    sources = {'/build/%s/%s' % (f['dest'], os.path.basename(f['src'])): f['src']
               for f in definition['additional_build_files']}
    assert entry['name'] in sources, '%s is not put into the build context by additional_build_files' % entry['name']
    with open(path('awx', 'build-ee-context.sh'), encoding='utf-8') as f:
        assert sources[entry['name']] in f.read(), 'awx/build-ee-context.sh does not write %s' % sources[entry['name']]


def test_ee_state_dir_matches_the_job_templates(controller):
    definition = load_yaml('execution-environment.yml')
    env = dict(re.findall(r'^ENV (\w+)=(\S+)$', '\n'.join(definition['additional_build_steps']['append_final']), re.M))
    assert env['ANSIBLE_CALLBACKS_ENABLED'] == 'opnfv.escalator.campaign_status'
    state_dir = env['ESCALATOR_STATE_DIR']
    for template in controller['controller_templates']:
        wanted = template.get('extra_vars', {}).get('escalator_state_dir')
        assert wanted in (None, state_dir), template['name']
    # the container group mounts persistent storage above it
    pod = yaml.safe_load(controller['controller_instance_groups'][0]['pod_spec_override'])
    mounts = [m['mountPath'] for c in pod['spec']['containers'] for m in c.get('volumeMounts', [])]
    assert any(state_dir == m or state_dir.startswith(m.rstrip('/') + '/') for m in mounts), (state_dir, mounts)


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp('ee') / 'context'
    result = run([path('awx', 'build-ee-context.sh'), '-c', str(out)], env=ansible_env(**OFFLINE), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_builder_create_offline_makes_a_complete_context(context):
    containerfile = (context / 'Containerfile').read_text()
    assert 'FROM $EE_BASE_IMAGE AS base' in containerfile
    assert 'ENV ANSIBLE_CALLBACKS_ENABLED=opnfv.escalator.campaign_status' in containerfile
    assert re.search(r'ARG ANSIBLE_INSTALL_REFS="ansible-core[^"]*ansible-runner', containerfile)
    # the galaxy requirements are the shipped ones
    assert yaml.safe_load((context / '_build' / 'requirements.yml').read_text()) == load_yaml('awx', 'ee', 'requirements.yml')
    for script in ('introspect.py', 'assemble', 'install-from-bindep'):
        assert (context / '_build' / 'scripts' / script).is_file()


def test_context_holds_the_collection_with_what_the_ee_needs(context):
    tarball = context / '_build' / 'collections' / 'opnfv-escalator.tar.gz'
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile('MANIFEST.json'))
    info = manifest['collection_info']
    galaxy = load_yaml('galaxy.yml')
    assert (info['namespace'], info['name'], info['version']) == (galaxy['namespace'], galaxy['name'], galaxy['version'])
    # what introspection reads, what AWX launches, what the job templates run
    needed = {'meta/execution-environment.yml', 'requirements.txt', 'bindep.txt', 'meta/runtime.yml',
              'playbooks/awx_upgrade_compute.yml', 'playbooks/upgrade_compute.yml', 'plugins/callback/campaign_status.py'}
    assert needed <= names, 'galaxy.yml build_ignore drops %s' % sorted(needed - names)
    assert not any(n.endswith('.tar.gz') for n in names), 'a collection tarball inside the collection tarball'


def test_introspection_finds_the_collection_requirements(context, tmp_path):
    """What ansible-builder's builder stage does: install the collection, read its EE metadata."""
    coll = tmp_path / 'collections'
    result = run([tool('ansible-galaxy'), 'collection', 'install', '--force', '-p', str(coll),
                  str(context / '_build' / 'collections' / 'opnfv-escalator.tar.gz')],
                 env=ansible_env(ANSIBLE_COLLECTIONS_PATH=str(coll), **OFFLINE))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run([tool('python'), str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect', str(coll)])
    assert result.returncode == 0, result.stdout + result.stderr
    found = yaml.safe_load(result.stdout)
    assert 'openstacksdk' in requirement_names('\n'.join(found['python']))
    assert any(line.startswith('openssh-clients [platform:rpm]') for line in found['system'])
