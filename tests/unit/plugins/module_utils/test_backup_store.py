# SPDX-License-Identifier: Apache-2.0
"""module_utils/backup_store: the controller's copy of a backup and its retention (temporary directories only)."""
import hashlib
import json
import os
import time

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import backup_store


def archive(directory, content=b'tar'):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'config.tar.gz'), 'wb') as handle:
        handle.write(content)
    return {'format': 1, 'archive': {'name': 'config.tar.gz', 'sha256': hashlib.sha256(content).hexdigest(),
                                     'size': len(content)}}


def old_copy(root, campaign, run, host, age):
    directory = os.path.join(root, campaign, run, host)
    os.makedirs(directory)
    path = os.path.join(directory, 'manifest.json')
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump({'format': 1}, handle)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return directory


def test_writes_the_manifest_last_once_the_archive_matches(tmp_path):
    root = str(tmp_path)
    manifest = archive(os.path.join(root, 'c1', 'r1', 'compute1'))
    result = backup_store.store(root, 'c1', 'r1', 'compute1', manifest, keep=3)
    assert result['changed'] and result['dir'] == os.path.join(root, 'c1', 'r1', 'compute1')
    with open(os.path.join(result['dir'], 'manifest.json'), encoding='utf-8') as handle:
        assert json.load(handle) == manifest
    assert oct(os.stat(result['dir']).st_mode & 0o777) == '0o700'
    again = backup_store.store(root, 'c1', 'r1', 'compute1', manifest, keep=3)
    assert not again['changed']


def test_refuses_an_archive_that_does_not_match(tmp_path):
    root = str(tmp_path)
    manifest = archive(os.path.join(root, 'c1', 'r1', 'compute1'))
    manifest['archive']['sha256'] = '0' * 64
    with pytest.raises(backup_store.StoreError) as caught:
        backup_store.store(root, 'c1', 'r1', 'compute1', manifest, keep=3)
    assert caught.value.code == 'E_BACKUP'
    assert not os.path.exists(os.path.join(root, 'c1', 'r1', 'compute1', 'manifest.json'))
    with pytest.raises(backup_store.StoreError, match='missing'):
        backup_store.store(root, 'c1', 'r2', 'compute1', manifest, keep=3)


def test_retention_keeps_the_newest_runs_of_this_host_and_the_current_one(tmp_path):
    root = str(tmp_path)
    oldest = old_copy(root, 'c0', 'r0', 'compute1', 300)
    older = old_copy(root, 'c0', 'r1', 'compute1', 200)
    newer = old_copy(root, 'c1', 'r0', 'compute1', 100)
    other_host = old_copy(root, 'c0', 'r0', 'compute2', 900)
    manifest = archive(os.path.join(root, 'c2', 'r9', 'compute1'))
    result = backup_store.store(root, 'c2', 'r9', 'compute1', manifest, keep=2)
    assert result['removed'] == [older, oldest]
    assert os.path.isdir(newer) and os.path.isdir(other_host) and not os.path.exists(older)
    # keep 0 keeps everything
    assert backup_store.store(root, 'c2', 'r9', 'compute1', manifest, keep=0)['removed'] == []


def test_retention_never_follows_a_link_nor_deletes_what_holds_no_manifest(tmp_path):
    root = str(tmp_path / 'backups')
    outside = tmp_path / 'precious'
    outside.mkdir()
    (outside / 'manifest.json').write_text('{}')
    os.makedirs(os.path.join(root, 'c0', 'r0'))
    os.symlink(str(outside), os.path.join(root, 'c0', 'r0', 'compute1'))
    junk = old_copy(root, 'c0', 'r1', 'compute1', 500)
    with open(os.path.join(junk, 'manifest.json'), 'w', encoding='utf-8') as handle:
        handle.write('not json')
    manifest = archive(os.path.join(root, 'c2', 'r9', 'compute1'))
    result = backup_store.store(root, 'c2', 'r9', 'compute1', manifest, keep=1)
    assert result['removed'] == []
    assert (outside / 'manifest.json').exists() and os.path.isdir(junk)


def test_check_mode_changes_nothing(tmp_path):
    root = str(tmp_path)
    old = old_copy(root, 'c0', 'r0', 'compute1', 100)
    result = backup_store.store(root, 'c1', 'r1', 'compute1', {'archive': {'sha256': None}}, keep=1,
                                check_mode=True)
    assert result['changed'] and result['removed'] == [old] and os.path.isdir(old)
    assert not os.path.exists(os.path.join(root, 'c1', 'r1', 'compute1', 'manifest.json'))


@pytest.mark.parametrize('field', ['campaign_id', 'run_id', 'host'])
def test_ids_that_would_escape_the_directory_are_refused(tmp_path, field):
    ids = dict(campaign_id='c1', run_id='r1', host='compute1')
    ids[field] = '../x'
    with pytest.raises(backup_store.StoreError) as caught:
        backup_store.store(str(tmp_path), manifest={'archive': {}}, keep=1, **ids)
    assert caught.value.code == 'E_INVALID_INPUT'
