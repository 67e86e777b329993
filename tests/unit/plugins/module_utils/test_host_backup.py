# SPDX-License-Identifier: Apache-2.0
"""module_utils/host_backup: a host's backup taken in a temporary directory, with the real GNU tar and
fakes of dpkg-query and systemctl."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import host_backup, host_facts
from ansible_collections.opnfv.escalator.tests.unit import systemd_fakes

SHOW = systemd_fakes.show(systemd_fakes.NOVA_COMPUTE_RUNNING, systemd_fakes.LIBVIRTD_NOT_FOUND)

pytestmark = pytest.mark.skipif(not shutil.which('tar'), reason='needs GNU tar')


class Host(host_facts.Host):
    """dpkg-query and systemctl answered by fakes, tar run for real."""

    def __init__(self, units=SHOW):
        self.units = units
        super().__init__(self._run, lambda name: '/usr/bin/' + name, clock=lambda: 1795324290.0)

    def _run(self, argv):
        if argv[0] == 'tar':
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return done.returncode, done.stdout, done.stderr
        if argv[0] == 'dpkg-query':
            return 0, 'lab-kernel|lab-kernel|1.0|all|ii \nlab-compute-agent|lab-compute-agent|1.0|all|hi \n', ''
        if argv[0] == 'systemctl':
            return 0, self.units, ''
        raise AssertionError('unexpected command %r' % (argv,))


@pytest.fixture
def etc(tmp_path):
    conf = tmp_path / 'etc' / 'nova'
    conf.mkdir(parents=True)
    (conf / 'nova.conf').write_bytes(b'[DEFAULT]\nhost = compute4\n')
    os.chmod(str(conf / 'nova.conf'), 0o640)
    os.symlink('nova.conf', str(conf / 'link.conf'))
    return tmp_path / 'etc'


def take(tmp_path, etc, host=None, **kwargs):
    kwargs.setdefault('campaign_id', 'c1')
    kwargs.setdefault('run_id', 'r1')
    return host_backup.take(host or Host(), str(tmp_path / 'backups'), kwargs.pop('campaign_id'), kwargs.pop('run_id'),
                            'compute4', 'compute4.nova', [str(etc / 'nova'), str(etc / 'neutron')],
                            ['nova-compute'], ['libvirtd'], **kwargs)


def test_the_backup_archives_what_exists_and_writes_the_manifest_last(tmp_path, etc):
    result = take(tmp_path, etc)
    run = tmp_path / 'backups' / 'c1' / 'r1'
    assert result['changed'] and not result['existed'] and result['dir'] == str(run) and result['removed'] == []
    assert stat.S_IMODE(os.stat(str(run)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(run / 'manifest.json')).st_mode) == 0o600
    assert sorted(os.listdir(str(run))) == ['config.tar.gz', 'manifest.json']
    manifest = json.loads((run / 'manifest.json').read_text())
    assert manifest == result['manifest']
    assert manifest['format'] == 1 and manifest['run_id'] == 'r1' and manifest['nova_host'] == 'compute4.nova'
    assert manifest['timestamp'] == '2026-11-22T05:11:30Z' and manifest['epoch'] == 1795324290
    assert manifest['package_manager'] == 'apt'
    assert manifest['packages']['lab-compute-agent'] == {'version': '1.0', 'arch': 'all', 'hold': True}
    assert manifest['services'] == {'nova-compute': {'enabled': 'enabled', 'active': 'running'}}
    assert manifest['paths'] == {str(etc / 'nova'): 'directory', str(etc / 'neutron'): 'absent'}
    files = dict((entry['path'], entry) for entry in manifest['files'])
    assert files[str(etc / 'nova' / 'nova.conf')]['sha256'] == hashlib.sha256(b'[DEFAULT]\nhost = compute4\n').hexdigest()
    assert files[str(etc / 'nova' / 'nova.conf')]['mode'] == '0640'
    assert files[str(etc / 'nova' / 'link.conf')]['target'] == 'nova.conf'
    archive = (run / 'config.tar.gz').read_bytes()
    assert manifest['archive'] == dict(name='config.tar.gz', sha256=hashlib.sha256(archive).hexdigest(), size=len(archive))
    with tarfile.open(str(run / 'config.tar.gz')) as tar:
        names = tar.getnames()
        assert str(etc / 'nova' / 'nova.conf').lstrip('/') in names
        assert tar.getmember(str(etc / 'nova' / 'link.conf').lstrip('/')).issym()


def test_a_complete_backup_is_never_overwritten(tmp_path, etc):
    first = take(tmp_path, etc)
    (etc / 'nova' / 'nova.conf').write_bytes(b'changed by the upgrade\n')
    second = take(tmp_path, etc)
    assert not second['changed'] and second['existed'] and second['manifest'] == first['manifest']


def test_a_backup_whose_archive_does_not_match_is_refused(tmp_path, etc):
    take(tmp_path, etc)
    with open(str(tmp_path / 'backups' / 'c1' / 'r1' / 'config.tar.gz'), 'ab') as handle:
        handle.write(b'x')
    with pytest.raises(host_backup.BackupError, match='does not match the manifest.*It is not overwritten'):
        take(tmp_path, etc)
    os.remove(str(tmp_path / 'backups' / 'c1' / 'r1' / 'config.tar.gz'))
    with pytest.raises(host_backup.BackupError, match='archive is missing'):
        take(tmp_path, etc)


def test_a_missing_campaign_service_is_refused_before_anything_is_written(tmp_path, etc):
    host = Host(units=SHOW.replace('Id=nova-compute.service\nLoadState=loaded', 'Id=nova-compute.service\nLoadState=not-found'))
    with pytest.raises(host_backup.BackupError, match='escalator_services lists nova-compute') as failure:
        take(tmp_path, etc, host=host)
    assert failure.value.code == 'E_INVALID_INPUT'
    assert not (tmp_path / 'backups').exists()


def test_nothing_to_archive_is_an_empty_archive(tmp_path):
    result = host_backup.take(Host(), str(tmp_path / 'backups'), 'c1', 'r1', 'compute4', 'compute4',
                              [str(tmp_path / 'etc' / 'none')], ['nova-compute'])
    with tarfile.open(str(tmp_path / 'backups' / 'c1' / 'r1' / 'config.tar.gz')) as tar:
        assert tar.getnames() == []
    assert result['manifest']['paths'] == {str(tmp_path / 'etc' / 'none'): 'absent'}


def test_retention_keeps_the_newest_runs_and_the_current_one(tmp_path, etc):
    backups = tmp_path / 'backups'
    for name, stamp in (('old/r1', 100), ('old/r2', 200), ('other/r1', 300)):
        (backups / name).mkdir(parents=True)
        (backups / name / 'manifest.json').write_text('{}')
        os.utime(str(backups / name / 'manifest.json'), (stamp, stamp))
    (backups / 'old' / 'not-a-run').mkdir()
    result = take(tmp_path, etc, keep=2)
    assert result['removed'] == [str(backups / 'old' / 'r2'), str(backups / 'old' / 'r1')]
    assert sorted(os.listdir(str(backups / 'old'))) == ['not-a-run']
    assert (backups / 'other' / 'r1').exists() and (backups / 'c1' / 'r1' / 'manifest.json').exists()
    # the current run stays even when it is not among the newest
    os.utime(str(backups / 'c1' / 'r1' / 'manifest.json'), (50, 50))
    (backups / 'new' / 'r1').mkdir(parents=True)
    (backups / 'new' / 'r1' / 'manifest.json').write_text('{}')
    again = take(tmp_path, etc, keep=1)
    assert again['removed'] == [str(backups / 'other' / 'r1')] and again['changed']
    assert (backups / 'c1' / 'r1').exists() and (backups / 'new' / 'r1').exists()


def test_check_mode_writes_nothing(tmp_path, etc):
    backups = tmp_path / 'backups'
    (backups / 'old' / 'r1').mkdir(parents=True)
    (backups / 'old' / 'r1' / 'manifest.json').write_text('{}')
    result = take(tmp_path, etc, keep=1, check_mode=True)
    assert result['changed'] and result['removed'] == [str(backups / 'old' / 'r1')]
    assert result['manifest']['archive']['sha256'] is None
    assert os.listdir(str(backups)) == ['old'] and (backups / 'old' / 'r1').exists()


@pytest.mark.parametrize('root, campaign, run', [
    ('/var/backups/escalator', '../etc', 'r1'), ('/var/backups/escalator', 'c1', 'r/1'), ('/var/backups/escalator', 'c1', ''),
    ('relative', 'c1', 'r1'), ('/', 'c1', 'r1'), ('/var/../etc', 'c1', 'r1'),
])
def test_ids_and_root_that_would_leave_the_backup_directory_are_refused(root, campaign, run):
    with pytest.raises(host_backup.BackupError) as failure:
        host_backup.run_dir(root, campaign, run)
    assert failure.value.code == 'E_INVALID_INPUT'
