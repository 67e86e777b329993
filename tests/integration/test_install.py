# SPDX-License-Identifier: Apache-2.0
"""Install from the built artifacts, outside the checkout (issue 16): the collection tarball and the Python wheel
(and its sdist) go into a fresh virtual environment (pip from the machine's configured index), nothing of the
checkout on sys.path; `escalator plan` then plans a campaign on the lab with them, and the installed collection's
playbook plans it too (`ansible-playbook opnfv.escalator.plan`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
PYTHON = shutil.which('python3.11') or shutil.which('python3')


def clean_env(**extra):
    """The environment of an operator's shell: no virtualenv, no PYTHONPATH, no collection path of the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'ANSIBLE_', 'VIRTUAL_ENV', 'ESCALATOR_',
                                                                     'OS_'))}
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep)
                                  if p and not os.path.realpath(p).startswith(os.path.realpath(REPO)))
    env.update(extra)
    return env


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(virtualenv, collections path, workdir): the artifacts built from the checkout and installed elsewhere."""
    work = tmp_path_factory.mktemp('install')
    home = work / 'home'          # a fresh account: nothing in ~/.ansible/collections or ~/.local
    home.mkdir()
    dist = work / 'dist'
    subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(dist), REPO],
                   check=True, capture_output=True, timeout=300)
    source = work / 'package'
    for name in ('pyproject.toml', 'MANIFEST.in', 'README.md', 'docs/api.md', 'src/escalator'):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(os.path.join(REPO, name)):
            shutil.copytree(os.path.join(REPO, name), target, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copy2(os.path.join(REPO, name), target)
    subprocess.run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(dist), str(source)],
                   check=True, capture_output=True, timeout=600)
    venv = work / 'venv'
    subprocess.run([PYTHON, '-m', 'venv', str(venv)], check=True, capture_output=True, timeout=300,
                   env=clean_env(HOME=str(home)))
    pip = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q']
    (wheel,) = dist.glob('escalator-*.whl')
    (sdist,) = dist.glob('escalator-*.tar.gz')
    (collection,) = dist.glob('opnfv-escalator-*.tar.gz')
    for command in (pip + [str(wheel)], pip + ['--no-deps', '--force-reinstall', str(sdist)]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=str(work),
                              env=clean_env(HOME=str(home)))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collections = work / 'collections'
    subprocess.run([str(venv / 'bin' / 'ansible-galaxy'), 'collection', 'install', '-p', str(collections),
                    str(collection)], check=True, capture_output=True, timeout=300, cwd=str(work),
                   env=clean_env(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(collections)))
    assert (collections / 'ansible_collections' / 'opnfv' / 'escalator' / 'MANIFEST.json').is_file()
    return venv, collections, work


def test_the_built_artifacts_installed_elsewhere_plan_a_campaign_on_the_lab(installed, seeded_lab, tmp_path):
    venv, collections, work = installed
    lab = seeded_lab
    inventory = tmp_path / 'inventory'
    shutil.copytree(os.path.dirname(lab.inventory), inventory, ignore=shutil.ignore_patterns('clouds.yaml'))
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(collections), OS_CLIENT_CONFIG_FILE=lab.clouds_yaml,
                    OS_CLOUD=lab.cloud_name, HOME=str(work / 'home'), PATH=str(venv / 'bin') + os.pathsep
                    + clean_env()['PATH'])
    where = subprocess.run([str(venv / 'bin' / 'python'), '-c', 'import escalator, escalator.locate as l, sys; '
                            'print(escalator.__file__); print(l.checkout_root()); print(l.collections_root()); '
                            'print(sys.path)'], capture_output=True, text=True, check=True, cwd=str(work), env=env)
    module_file, checkout, root, path = where.stdout.splitlines()
    assert module_file.startswith(str(venv)) and checkout == 'None' and root == str(collections), where.stdout
    assert REPO not in path, path
    assert (collections / 'ansible_collections' / 'opnfv' / 'escalator' / 'MANIFEST.json').is_file()

    planned = subprocess.run([str(venv / 'bin' / 'escalator'), 'plan', '-c', 'install-check', '-i', str(inventory),
                              '--json', '--state-dir', str(tmp_path / 'state')],
                             capture_output=True, text=True, timeout=900, cwd=str(work), env=env)
    assert planned.returncode == 0, planned.stdout[-4000:] + planned.stderr[-4000:]
    result = json.loads(planned.stdout.strip().splitlines()[-1])
    assert result['exit_code'] == 0 and result['plan']['feasible'], result
    assert sorted(h for batch in result['plan']['plan']['batches'] for h in batch['hosts']) == sorted(lab.hosts)
    assert REPO not in json.dumps(result.get('artifacts')), result.get('artifacts')

    # the installed collection's own playbook, by its FQCN, with the status callback enabled as docs/first-day.md says
    playbook = subprocess.run([str(venv / 'bin' / 'ansible-playbook'), '-i', str(inventory), 'opnfv.escalator.plan',
                               '-e', 'escalator_campaign_id=install-check-pb'],
                              capture_output=True, text=True, timeout=900, cwd=str(work),
                              env=dict(env, ANSIBLE_CALLBACKS_ENABLED='opnfv.escalator.campaign_status',
                                       ANSIBLE_STDOUT_CALLBACK='opnfv.escalator.campaign',
                                       ESCALATOR_STATE_DIR=str(tmp_path / 'state')))
    assert playbook.returncode == 0, playbook.stdout[-4000:] + playbook.stderr[-4000:]
    assert 'fingerprint: sha256:' in playbook.stdout and 'TASK [' not in playbook.stdout, playbook.stdout[-4000:]
    assert str(collections) in subprocess.run(
        [str(venv / 'bin' / 'ansible-doc'), '-t', 'callback', 'opnfv.escalator.campaign'], capture_output=True,
        text=True, check=True, cwd=str(work), env=env).stdout
