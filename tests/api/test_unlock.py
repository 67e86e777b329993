# SPDX-License-Identifier: Apache-2.0
"""escalator unlock / api.unlock: abandon a stopped campaign by releasing the cloud's lock it holds (no lab:
the fake cloud)."""
import socket

from ansible_collections.opnfv.escalator.plugins.module_utils import lock, run_guard
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

from escalator import api, cli
from escalator.errors import ExitCode


def held_by(fake):
    return (lock.lock_info(fake) or {}).get('campaign_id')


def test_unlock_releases_the_lock_of_a_stopped_campaign(tmp_path):
    fake = FakeCloud()
    lock.acquire(fake, 'c1', run_id='r1', process=dict(controller='ctl-gone', pid=1, pid_start=1))
    result = api.unlock('c1', conn=fake, state_dir=str(tmp_path))
    assert result.ok and result.released and held_by(fake) is None
    assert result.previous['campaign_id'] == 'c1' and 'escalator upgrade -c c1` resumes it' in result.message
    again = api.unlock('c1', conn=fake, state_dir=str(tmp_path))
    assert again.ok and not again.released and 'is not held' in again.message


def test_unlock_refuses_another_campaign_s_lock_and_a_live_run(tmp_path):
    fake = FakeCloud()
    lock.acquire(fake, 'c1', run_id='r1')
    result = api.unlock('c2', conn=fake, state_dir=str(tmp_path))
    assert result.exit_code == ExitCode.LOCKED and result.error_code == 'E_LOCK' and held_by(fake) == 'c1'
    # a run of it is live here: recorded in the lock ...
    lock.acquire(fake, 'c1', run_id='r2', process=dict(controller=socket.gethostname(), pid=run_guard.os.getpid(),
                                                        pid_start=run_guard.start_time(run_guard.os.getpid())))
    result = api.unlock('c1', conn=fake, state_dir=str(tmp_path))
    assert result.exit_code == ExitCode.LOCKED and 'is being run right now by process' in result.message
    assert held_by(fake) == 'c1'
    # ... or holding its run lock
    handle = run_guard.take(str(tmp_path / 'c1'), run_id='r2')
    try:
        result = api.unlock('c1', conn=FakeCloud(), state_dir=str(tmp_path))
    finally:
        handle.close()
    assert result.exit_code == ExitCode.LOCKED and 'not released: campaign c1 is being run right now' in result.message


def test_cli_unlock(monkeypatch, capsys):
    calls = []

    def fake_unlock(campaign_id, **options):
        calls.append((campaign_id, options))
        return api.UnlockResult(campaign_id, ExitCode.LOCKED, False, 'not released: busy', error_code='E_LOCK')
    monkeypatch.setattr(api, 'unlock', fake_unlock)
    assert cli.main(['unlock', '-c', 'c1', '--cloud', 'lab']) == 4
    assert calls == [('c1', dict(cloud='lab', clouds_yaml=None, state_dir=None))]
    assert 'unlock c1: not released: busy' in capsys.readouterr().err
