# SPDX-License-Identifier: Apache-2.0
"""The campaign lock: a Nova aggregate with a fixed name, as the fake cloud (and Nova) enforce it."""

from __future__ import annotations

import datetime

import pytest

from openstack import exceptions as sdk_exceptions

from ansible_collections.opnfv.escalator.plugins.module_utils import lock
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
NAME = lock.DEFAULT_LOCK_NAME


def take(cloud, campaign='c1', **kwargs):
    kwargs.setdefault('holder', 'stack@ctl1')
    kwargs.setdefault('now', NOW)
    kwargs.setdefault('clock', cloud.clock)
    kwargs.setdefault('sleep', cloud.sleep)
    return lock.acquire(cloud, campaign, **kwargs)


def the_lock(cloud):
    return [a for a in cloud.aggregates if a['name'] == NAME]


def test_nova_refuses_a_second_aggregate_of_the_same_name(cloud):
    cloud.compute.create_aggregate(name='x')
    with pytest.raises(sdk_exceptions.ConflictException) as err:
        cloud.compute.create_aggregate(name='x')
    assert err.value.status_code == 409


def test_acquire_creates_the_aggregate_with_its_metadata(cloud):
    result = take(cloud, run_id='run-1')
    assert result['changed'] and result['action'] == 'acquire' and not result['forced']
    [record] = the_lock(cloud)
    assert record['hosts'] == [] and record['zone'] is None
    assert record['metadata'] == dict(campaign_id='c1', holder='stack@ctl1', started='2026-01-01T12:00:00Z',
                                      run_id='run-1')
    assert result['lock'] == dict(name=NAME, id=record['id'], hosts=[], campaign_id='c1', holder='stack@ctl1',
                                  started='2026-01-01T12:00:00Z', run_id='run-1', controller=None, pid=None,
                                  pid_start=None)


def test_the_same_campaign_takes_its_own_lock_again(cloud):
    take(cloud, run_id='run-1')
    again = take(cloud, run_id='run-1', now=NOW + datetime.timedelta(hours=1))
    assert not again['changed'] and again['action'] is None
    resumed = take(cloud, run_id='run-2', holder='stack@ctl2')
    assert resumed['changed'] and resumed['action'] == 'reacquire'
    assert the_lock(cloud)[0]['metadata'] == dict(campaign_id='c1', holder='stack@ctl2',
                                                  started='2026-01-01T12:00:00Z', run_id='run-2')
    assert not take(cloud, holder='stack@ctl2')['changed']        # no run id: the recorded one stays
    assert len(the_lock(cloud)) == 1


def test_another_campaign_is_refused_and_told_who_holds_it(cloud):
    take(cloud, run_id='run-1')
    with pytest.raises(EscalatorError) as err:
        take(cloud, 'c2', now=NOW + datetime.timedelta(hours=2, minutes=5))
    assert err.value.code == 'E_LOCK'
    assert 'locked by campaign c1 (holder stack@ctl1, run run-1, since 2026-01-01T12:00:00Z, 2h05m ago)' \
        in err.value.msg
    # nothing says it runs: no "another campaign is running" - how to resume it or abandon it instead
    assert 'is running' not in err.value.msg and 'No live run of campaign c1 on this controller.' in err.value.msg
    assert 'To resume it: ansible-playbook upgrade-compute.yml -e escalator_campaign_id=c1 (or: escalator upgrade -c c1)' \
        in err.value.msg
    assert 'To abandon it and release the lock: escalator unlock -c c1 (or: ansible localhost -m ' \
        'opnfv.escalator.campaign_lock -a "campaign_id=c1 state=absent"' in err.value.msg
    assert err.value.details['lock']['campaign_id'] == 'c1'
    assert the_lock(cloud)[0]['metadata']['campaign_id'] == 'c1'


ME = dict(controller='ctl1', pid=4242, pid_start=777)
STATUS = {'campaign': {'id': 'c1', 'state': 'failed', 'started': '2026-01-01T12:00:05Z',
                       'updated': '2026-01-01T12:30:00Z', 'finished': '2026-01-01T12:30:00Z', 'message': None},
          'batches': [], 'hosts': {
              'compute1': {'state': 'done', 'result': 'ok', 'updated': '2026-01-01T12:10:00Z'},
              'compute2': {'state': 'rolled_back', 'result': 'failed', 'error_code': 'E_MIGRATION_TIMEOUT',
                           'message': 'server vnf-a-2 still migrating after 600 s', 'updated': '2026-01-01T12:29:00Z'}}}


def test_the_lock_records_the_run_s_controller_process_and_its_start(cloud):
    result = take(cloud, run_id='run-1', process=ME)
    assert the_lock(cloud)[0]['metadata'] == dict(campaign_id='c1', holder='stack@ctl1', started='2026-01-01T12:00:00Z',
                                                  run_id='run-1', controller='ctl1', pid='4242', pid_start='777')
    assert (result['lock']['controller'], result['lock']['pid'], result['lock']['pid_start']) == ('ctl1', '4242', '777')
    # the same run again: nothing to change; a resume (another process) records itself
    assert not take(cloud, run_id='run-1', process=ME, alive=lambda pid, start: True)['changed']
    resumed = take(cloud, run_id='run-2', process=dict(ME, pid=5000, pid_start=900), alive=lambda pid, start: False)
    assert resumed['action'] == 'reacquire' and the_lock(cloud)[0]['metadata']['pid'] == '5000'


def test_a_second_run_on_the_same_controller_is_refused_while_the_recorded_one_lives(cloud):
    """Another state directory (or no run guard): only the lock can tell that the campaign runs here."""
    take(cloud, run_id='run-1', process=ME)
    asked = []

    def alive(pid, start):
        asked.append((pid, start))
        return True
    with pytest.raises(EscalatorError) as err:
        take(cloud, run_id='run-2', process=dict(ME, pid=5000, pid_start=900), alive=alive)
    assert err.value.code == 'E_LOCK' and asked == [(4242, '777')]
    assert err.value.msg.startswith('campaign c1 is being run right now by process 4242 on ctl1 (run run-1')
    assert the_lock(cloud)[0]['metadata']['pid'] == '4242'


def test_another_controller_resumes_a_campaign_whose_run_it_cannot_check(cloud):
    take(cloud, run_id='run-1', process=ME)
    warnings = []
    result = take(cloud, run_id='run-2', process=dict(controller='awx-pod-2', pid=7, pid_start=1),
                  alive=lambda pid, start: True, warn=warnings.append)
    assert result['action'] == 'reacquire' and the_lock(cloud)[0]['metadata']['controller'] == 'awx-pod-2'
    assert len(warnings) == 1 and 'process 4242 on controller ctl1, which cannot be checked from awx-pod-2' in warnings[0]


def test_the_refusal_says_whether_the_holder_runs_why_it_stopped_and_how_to_resume_or_abandon_it(cloud):
    take(cloud, run_id='run-1', process=ME)
    later = NOW + datetime.timedelta(hours=1)
    with pytest.raises(EscalatorError) as err:
        take(cloud, 'c2', now=later, process=dict(ME, pid=5000), alive=lambda pid, start: False,
             inspect=lambda held: dict(status=STATUS, status_path='/s/c1'))
    text = err.value.msg
    assert text.startswith('the cloud is locked by campaign c1 (holder stack@ctl1, run run-1, since '
                           '2026-01-01T12:00:00Z, 1h00m ago). No live run of campaign c1 on this controller. '
                           'It stopped failed at 2026-01-01T12:30:00Z. Last error: host compute2 rolled_back: '
                           'E_MIGRATION_TIMEOUT server vnf-a-2 still migrating after 600 s. To resume it: ')
    assert err.value.details['live'] is False
    # its run is live here
    with pytest.raises(EscalatorError) as err:
        take(cloud, 'c2', now=later, process=dict(ME, pid=5000), alive=lambda pid, start: (pid, start) == (4242, '777'),
             inspect=lambda held: dict(status=dict(STATUS, campaign=dict(STATUS['campaign'], state='running')),
                                       status_path='/s/c1'))
    assert 'A run of campaign c1 is live right now on this controller (ctl1, ansible-playbook process 4242): ' \
        'wait for it to finish.' in err.value.msg and 'stopped' not in err.value.msg
    # its status says running, nothing runs it: killed
    with pytest.raises(EscalatorError) as err:
        take(cloud, 'c2', now=later, process=dict(ME, pid=5000), alive=lambda pid, start: False,
             inspect=lambda held: dict(status=dict(STATUS, campaign=dict(STATUS['campaign'], state='running',
                                                                         finished=None))))
    assert 'Its status says running, last updated 2026-01-01T12:30:00Z: its run stopped without finishing' \
        in err.value.msg
    # refused before its start (E_PLAN, precheck): no status; another controller: cannot tell
    with pytest.raises(EscalatorError) as err:
        take(cloud, 'c2', now=later, process=dict(controller='ctl9', pid=1, pid_start=1), alive=lambda p, s: True,
             inspect=lambda held: dict(status=None, status_path='/s/c1'))
    assert 'No live run of campaign c1 on this controller (its last run was on controller ctl1, process 4242: ' \
        'whether that still runs cannot be told from here).' in err.value.msg
    assert 'It has no status in /s/c1: it stopped before its start (plan refused, precheck failed' in err.value.msg
    # its run guard is held (same state dir): live, whatever the lock says
    with pytest.raises(EscalatorError) as err:
        take(cloud, 'c2', now=later, inspect=lambda held: dict(live=True, status=STATUS))
    assert 'A run of campaign c1 is live right now' in err.value.msg


def test_last_error():
    assert lock.last_error(None) is None
    assert lock.last_error({'campaign': {'message': 'plan refused: E_PLAN no room'}, 'hosts': {}}) == \
        'plan refused: E_PLAN no room'
    assert lock.last_error({'campaign': {}, 'hosts': {'a': {'state': 'done', 'result': 'ok'}}}) is None


def test_force_takes_the_lock_over_loudly(cloud):
    take(cloud, run_id='run-1')
    warnings = []
    result = take(cloud, 'c2', run_id='run-9', force=True, warn=warnings.append)
    assert result['action'] == 'takeover' and result['forced'] and result['previous']['campaign_id'] == 'c1'
    assert the_lock(cloud)[0]['metadata']['campaign_id'] == 'c2'
    assert warnings and 'FORCED' in warnings[0] and 'campaign c1' in warnings[0]


def test_check_mode_changes_nothing(cloud):
    result = take(cloud, check_mode=True)
    assert result['changed'] and result['action'] == 'acquire' and result['lock']['id'] is None
    assert the_lock(cloud) == []
    take(cloud, run_id='run-1')
    assert take(cloud, run_id='run-2', check_mode=True)['action'] == 'reacquire'
    assert the_lock(cloud)[0]['metadata']['run_id'] == 'run-1'
    result = lock.release(cloud, 'c1', check_mode=True)
    assert result['changed'] and result['action'] == 'release' and len(the_lock(cloud)) == 1


def test_release_only_our_own_lock(cloud):
    assert lock.release(cloud, 'c1') == dict(changed=False, action=None, lock=None, previous=None, forced=False)
    take(cloud)
    with pytest.raises(EscalatorError) as err:
        lock.release(cloud, 'c2', now=NOW)
    assert err.value.code == 'E_LOCK' and 'not held by campaign c2 but by campaign c1' in err.value.msg
    assert len(the_lock(cloud)) == 1
    result = lock.release(cloud, 'c1')
    assert result['changed'] and result['previous']['campaign_id'] == 'c1' and the_lock(cloud) == []


def test_force_breaks_a_stale_lock(cloud):
    take(cloud)
    warnings = []
    result = lock.release(cloud, 'c2', force=True, warn=warnings.append)
    assert result['forced'] and the_lock(cloud) == [] and 'FORCED' in warnings[0]


def test_a_real_aggregate_with_that_name_is_never_touched(cloud):
    cloud.add_host('compute1')
    cloud.add_aggregate(NAME, ['compute1'])
    for call in (lambda: take(cloud), lambda: take(cloud, force=True), lambda: lock.release(cloud, 'c1', force=True)):
        with pytest.raises(EscalatorError) as err:
            call()
        assert err.value.code == 'E_LOCK' and 'has hosts (compute1)' in err.value.msg
    assert the_lock(cloud)[0]['hosts'] == ['compute1']


def test_losing_the_race_to_create_it(cloud):
    create = cloud.compute.create_aggregate

    def other_controller_first(**attrs):
        cloud.add_aggregate(NAME, [], metadata=dict(campaign_id='c2', holder='ops@ctl9', started='2026-01-01T11:59:59Z',
                                                    run_id='r9'))
        return create(**attrs)

    cloud.compute.create_aggregate = other_controller_first
    with pytest.raises(EscalatorError) as err:
        take(cloud)
    assert 'locked by campaign c2 (holder ops@ctl9' in err.value.msg
    assert len(the_lock(cloud)) == 1


def test_a_lock_being_made_gets_its_metadata_in_time(cloud):
    record = cloud.add_aggregate(NAME, [])
    cloud.call_at(2.0, lambda c: record['metadata'].update(campaign_id='c2', holder='ops@ctl9',
                                                           started='2026-01-01T11:59:59Z', run_id='r9'))
    with pytest.raises(EscalatorError) as err:
        take(cloud)
    assert 'locked by campaign c2' in err.value.msg and cloud.now < lock.SETTLE_TIMEOUT


def test_a_half_made_lock_is_reported_and_can_be_broken(cloud):
    cloud.add_aggregate(NAME, [])
    with pytest.raises(EscalatorError) as err:
        take(cloud)
    assert 'nobody known' in err.value.msg and cloud.now >= lock.SETTLE_TIMEOUT
    assert lock.release(cloud, 'c1', force=True, warn=lambda text: None)['forced']
    assert take(cloud)['action'] == 'acquire'


def test_a_lock_whose_metadata_cannot_be_written_is_deleted(cloud):
    cloud.forbidden.add('set_aggregate_metadata')
    with pytest.raises(EscalatorError) as err:
        take(cloud)
    assert err.value.code == 'E_FORBIDDEN' and 'writing the metadata of lock aggregate' in err.value.msg
    assert the_lock(cloud) == []


def test_not_admin(cloud):
    cloud.forbidden.add('aggregates')
    with pytest.raises(EscalatorError) as err:
        take(cloud)
    assert err.value.code == 'E_FORBIDDEN' and 'listing aggregates' in err.value.msg


def test_the_lock_is_read_only_by_lock_info(cloud):
    assert lock.lock_info(cloud) is None
    take(cloud, run_id='r1')
    assert lock.lock_info(cloud)['run_id'] == 'r1'


@pytest.mark.parametrize('campaign, name', [('', NAME), ('c1', ''), ('c1', ' padded'), ('x' * 300, NAME)])
def test_bad_input(cloud, campaign, name):
    with pytest.raises(EscalatorError) as err:
        lock.acquire(cloud, campaign, name=name)
    assert err.value.code == 'E_INVALID_INPUT'


def test_default_holder_names_user_and_host():
    user, host = lock.default_holder().split('@')
    assert user and host


def test_holder_text_without_a_start_time():
    assert lock.holder_text(dict(name=NAME, campaign_id='c1', holder=None, run_id=None, started=None)) == \
        'campaign c1 (holder unknown, run -, since unknown)'
