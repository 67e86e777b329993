# SPDX-License-Identifier: Apache-2.0
"""The backup and rollback roles normalise paths before they trust them (issue 11, B), run for real on
localhost (no lab): the backup role's validation, the rollback's manifest check and its removal of what the
upgrade added. ESCALATOR_TEST_COLLECTIONS_PATH runs them against another copy of the collection."""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run_play(tmp_path, tasks, variables, name='play'):
    play = [dict(name=name, hosts='localhost', gather_facts=False, vars=variables, tasks=tasks)]
    path = tmp_path / ('%s.yml' % name)
    path.write_text(json.dumps(play))
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_NOCOLOR='1',
               ANSIBLE_COLLECTIONS_PATH=os.environ.get('ESCALATOR_TEST_COLLECTIONS_PATH',
                                                       os.path.join(REPO, '.venv', 'collections')),
               ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_LOCALHOST_WARNING='False')
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e',
                           'ansible_python_interpreter=%s' % sys.executable, str(path)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)


def backup_validate(tmp_path, **variables):
    variables.setdefault('escalator_campaign_id', 'c1')
    tasks = [{'name': 'Validate', 'ansible.builtin.include_role': {'name': 'opnfv.escalator.backup',
                                                                   'tasks_from': 'validate.yml'}},
             {'name': 'Show', 'ansible.builtin.debug': {'msg': 'PATHS={{ __escalator_backup_all_paths | to_json }}'
                                                               ' DIR={{ __escalator_backup_dir }}'}}]
    return run_play(tmp_path, tasks, variables)


@pytest.mark.parametrize('path', ['/.', '/etc/..', '/../..', '/', '//', '/etc/../root', 'etc/nova', '/tmp/x',
                                  '/etcetera'])
def test_backup_refuses_a_path_that_is_or_leaves_for_the_root_or_an_unallowed_place(tmp_path, path):
    proc = backup_validate(tmp_path, escalator_backup_extra_paths=[path])
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert 'escalator_backup_paths' in proc.stdout and repr(path) in proc.stdout, proc.stdout[-3000:]


@pytest.mark.parametrize('host_dir', ['/.', '/var/..', 'relative'])
def test_backup_refuses_a_backup_dir_that_is_not_normalised_away_from_the_root(tmp_path, host_dir):
    proc = backup_validate(tmp_path, escalator_backup_host_dir=host_dir)
    assert proc.returncode != 0 and repr(host_dir) in proc.stdout, proc.stdout[-3000:]


def test_backup_uses_the_normalised_paths(tmp_path):
    proc = backup_validate(tmp_path, escalator_backup_extra_paths=['/etc//ceph/./', '/etc/ceph'],
                           escalator_backup_host_dir='/var/backups//escalator/')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '/etc/ceph\\"]' in proc.stdout and proc.stdout.count('/etc/ceph') == 1 and '//' not in proc.stdout
    assert 'DIR=/var/backups/escalator/c1/c1' in proc.stdout


# --------------------------------------------------------------------------------------------------
# rollback
# --------------------------------------------------------------------------------------------------

def make_backup(tmp_path, root, paths, files):
    """A format-1 backup of run c1 for localhost in tmp_path/backups: the archive holds `files` (path: content)."""
    run_dir = tmp_path / 'backups' / 'c1' / 'c1'
    run_dir.mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip('/'))
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    (run_dir / 'config.tar.gz').write_bytes(buffer.getvalue())
    entries = [dict(path=path, type='file', mode='0644', owner='root', group='root', size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(), target=None) for path, content in files.items()]
    manifest = dict(format=1, campaign_id='c1', run_id='c1', host='localhost', nova_host='localhost',
                    paths=paths, files=entries, packages={}, services={},
                    archive=dict(name='config.tar.gz', sha256=hashlib.sha256(buffer.getvalue()).hexdigest()))
    (run_dir / 'manifest.json').write_text(json.dumps(manifest))
    return dict(escalator_campaign_id='c1', escalator_backup_host_dir=str(tmp_path / 'backups'),
                escalator_backup_controller_dir=str(tmp_path / 'controller'),
                escalator_backup_allowed_roots=[str(root)])


def rollback_configs(tmp_path, variables):
    tasks = [{'name': 'Validate', 'ansible.builtin.include_role': {'name': 'opnfv.escalator.rollback',
                                                                   'tasks_from': 'validate.yml'}},
             {'name': 'Configs', 'ansible.builtin.include_role': {'name': 'opnfv.escalator.rollback',
                                                                  'tasks_from': 'configs.yml'}}]
    return run_play(tmp_path, tasks, variables)


@pytest.fixture
def conf(tmp_path):
    root = tmp_path / 'root'
    (root / 'conf').mkdir(parents=True)
    (root / 'conf' / 'a').write_bytes(b'changed by the upgrade\n')
    (root / 'conf' / 'added').write_bytes(b'added by the upgrade\n')
    (tmp_path / 'victim').write_text('must stay\n')
    return root


def test_rollback_restores_and_removes_what_was_added_under_the_backed_up_directory(tmp_path, conf):
    variables = make_backup(tmp_path, conf, {str(conf / 'conf'): 'directory'},
                            {str(conf / 'conf' / 'a'): b'original\n'})
    proc = rollback_configs(tmp_path, variables)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (conf / 'conf' / 'a').read_bytes() == b'original\n' and not (conf / 'conf' / 'added').exists()


def rollback_validate_only(tmp_path, variables):
    """Only validate.yml: whatever the manifest says, nothing can be removed (safe even on a regressed role)."""
    tasks = [{'name': 'Validate', 'ansible.builtin.include_role': {'name': 'opnfv.escalator.rollback',
                                                                   'tasks_from': 'validate.yml'}}]
    return run_play(tmp_path, tasks, variables)


# SAFETY: these paths are only ever given to validate.yml, never to configs.yml (which removes): the old
# rollback removed "/" itself when a manifest named "/" or "/." (run as root, it deleted /etc of the machine
# running the test). Tests that go as far as configs.yml use paths that normalise inside tmp_path only.
@pytest.mark.parametrize('saved', ['{root}/conf/../..', '{root}/conf/..', '{root}/../victim', '/.', '/',
                                   '{root}/./conf', '{root}//conf', '{root}/conf/'])
def test_rollback_refuses_a_manifest_path_that_is_not_normalised(tmp_path, conf, saved):
    saved = saved.format(root=conf)
    variables = make_backup(tmp_path, conf, {str(conf / 'conf'): 'directory', saved: 'absent'},
                            {str(conf / 'conf' / 'a'): b'original\n'})
    proc = rollback_validate_only(tmp_path, variables)
    assert proc.returncode != 0 and 'cannot be trusted' in proc.stdout, proc.stdout[-4000:]


def test_rollback_refuses_a_manifest_path_outside_the_allowed_roots(tmp_path, conf):
    variables = make_backup(tmp_path, conf, {str(tmp_path / 'victim'): 'absent'}, {})
    proc = rollback_validate_only(tmp_path, variables)
    assert proc.returncode != 0 and 'outside the allowed roots' in proc.stdout, proc.stdout[-4000:]
    assert (tmp_path / 'victim').exists()


def test_rollback_checks_again_before_removing(tmp_path, conf):
    """configs.yml on its own (a manifest that did not go through validate.yml) removes nothing outside."""
    variables = make_backup(tmp_path, conf, {str(conf / 'conf'): 'directory'}, {str(conf / 'conf' / 'a'): b'x\n'})
    manifest = json.loads((tmp_path / 'backups' / 'c1' / 'c1' / 'manifest.json').read_text())
    manifest['paths'][str(conf / 'conf') + '/../../victim'] = 'absent'
    tasks = [{'name': 'Set', 'ansible.builtin.set_fact': {
        '__escalator_rollback_manifest': manifest, '__escalator_rollback_changed': False,
        '__escalator_rollback_dir': str(tmp_path / 'backups' / 'c1' / 'c1'),
        '__escalator_rollback_checked': {'roots': [str(conf)], 'problems': []}}},
        {'name': 'Configs', 'ansible.builtin.include_role': {'name': 'opnfv.escalator.rollback',
                                                             'tasks_from': 'configs.yml'}}]
    proc = run_play(tmp_path, tasks, variables)
    assert proc.returncode != 0 and 'Refusing to remove' in proc.stdout, proc.stdout[-4000:]
    assert (tmp_path / 'victim').exists() and (conf / 'conf' / 'added').exists()
