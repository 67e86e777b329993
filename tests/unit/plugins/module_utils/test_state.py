# SPDX-License-Identifier: Apache-2.0
"""The campaign state store: files, state machine, resume hints, table, alerts, concurrency."""

from __future__ import annotations

import datetime
import fcntl
import http.server
import json
import multiprocessing
import os
import threading

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import state
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore, StateError, machine

PLAN = {
    'format': 'escalator-plan/1',
    'campaign_id': 'c1',
    'fingerprint': 'sha256:abc',
    'feasible': True,
    'batches': [
        {'batch': 1, 'canary': True, 'hosts': ['compute1']},
        {'batch': 2, 'canary': False, 'hosts': ['compute2', 'compute3']},
    ],
    'skipped': [{'host': 'compute9', 'reason': 'disabled by someone else', 'detail': 'operator: disk'}],
}


class Clock:
    """A fake UTC clock: each call is one second after the previous one."""

    def __init__(self):
        self.now = datetime.datetime(2026, 1, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)

    def __call__(self):
        self.now += datetime.timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    return CampaignStore('c1', str(tmp_path), now=clock)


@pytest.fixture
def started(store):
    store.start(run_id='run-1', plan=PLAN)
    return store


def events_of(store):
    with open(store.events_path, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle]


def walk(store, host, *steps):
    for step_state, phase in steps:
        store.update_host(host, state=step_state, phase=phase)


FULL = (('draining', 'maintenance'), ('draining', 'evacuate'), ('upgrading', 'backup'), ('upgrading', 'upgrade'),
        ('verifying', 'verify'), ('verifying', 'enable'), ('done', 'notify_complete'))


# -- ids, paths, timestamps ---------------------------------------------------

def test_timestamps_are_utc_with_milliseconds():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
    assert state.format_ts(moment) == '2026-01-02T03:04:05.678Z'
    assert state.parse_ts('2026-01-02T03:04:05.678Z') == moment.replace(microsecond=678000)
    assert state.parse_ts('garbage') is None


@pytest.mark.parametrize('bad', ['', '-x', 'a/b', '../etc', 'x' * 65, None, 'a b'])
def test_bad_campaign_ids_are_refused(tmp_path, bad):
    with pytest.raises(StateError) as err:
        CampaignStore(bad, str(tmp_path))
    assert err.value.code == 'E_INVALID_INPUT'


def test_state_dir_comes_from_the_environment_then_the_home(monkeypatch, tmp_path):
    monkeypatch.setenv('ESCALATOR_STATE_DIR', str(tmp_path / 'here'))
    assert state.default_state_dir() == str(tmp_path / 'here')
    assert CampaignStore('c1').path == str(tmp_path / 'here' / 'c1')
    monkeypatch.delenv('ESCALATOR_STATE_DIR')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert state.default_state_dir() == str(tmp_path / 'home' / '.escalator' / 'campaigns')
    assert CampaignStore('c1', str(tmp_path / 'explicit')).path == str(tmp_path / 'explicit' / 'c1')


def test_run_ids_are_time_and_random():
    moment = datetime.datetime(2026, 1, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
    first, second = state.new_run_id(moment), state.new_run_id(moment)
    assert first.startswith('20260101T100000Z-') and first != second
    with pytest.raises(StateError):
        state.validate_run_id('bad run id')


# -- start ----------------------------------------------------------------------

def test_start_writes_status_plan_and_events(started):
    status = started.read_status()
    assert status['format'] == 'escalator-status/1'
    campaign = status['campaign']
    assert campaign['id'] == 'c1' and campaign['state'] == 'running' and campaign['run'] == 'run-1'
    assert campaign['runs'] == ['run-1'] and campaign['finished'] is None
    assert campaign['started'] == '2026-01-01T10:00:01.000Z'
    assert campaign['plan_fingerprint'] == 'sha256:abc'
    assert [(b['index'], b['hosts'], b['canary'], b['state']) for b in status['batches']] == [
        (1, ['compute1'], True, 'pending'), (2, ['compute2', 'compute3'], False, 'pending')]
    assert status['hosts']['compute1']['state'] == 'pending'
    assert status['hosts']['compute2']['batch'] == 2
    skipped = status['hosts']['compute9']
    assert skipped['state'] == 'skipped' and skipped['batch'] is None
    assert skipped['message'] == 'disabled by someone else; operator: disk'
    assert started.read_plan() == PLAN
    events = events_of(started)
    assert [(e['object_type'], e['object_id'], e['action'], e['result']) for e in events] == [
        ('campaign', 'c1', 'start', 'started'), ('host', 'compute9', 'skipped', 'skipped')]
    assert list(events[0]) == ['ts', 'campaign', 'run', 'object_type', 'object_id', 'action', 'result',
                               'error_code', 'message', 'data']
    assert events[0]['data']['skip'] == ['compute9']
    assert not [name for name in os.listdir(started.path) if name.endswith('.tmp')]


def test_start_accepts_plain_lists_of_hosts(store):
    store.start(plan={'batches': [['a', 'b'], ['c']], 'skipped': ['d']})
    status = store.read_status()
    assert [(b['index'], b['hosts']) for b in status['batches']] == [(1, ['a', 'b']), (2, ['c'])]
    assert status['hosts']['d']['state'] == 'skipped'


@pytest.mark.parametrize('plan, code, words', [
    ({'feasible': False, 'reasons': ['group vnf-a: budget 0, no spare host'], 'batches': []}, 'E_PLAN',
     'group vnf-a: budget 0'),
    ({'batches': [['a'], ['a']]}, 'E_INVALID_INPUT', 'host a is in plan batches 1 and 2'),
    ({'batches': [['a']], 'skipped': ['a']}, 'E_INVALID_INPUT', 'both in plan batch 1 and skipped'),
    ({'batches': 'a,b'}, 'E_INVALID_INPUT', 'must be a list'),
    ({'batches': [{'batch': 1, 'hosts': 'a'}]}, 'E_INVALID_INPUT', 'list of host names'),
    ({'batches': [{'batch': 1, 'hosts': ['a']}, {'batch': 1, 'hosts': ['b']}]}, 'E_INVALID_INPUT', 'repeat'),
])
def test_bad_plans_are_refused_and_nothing_is_written(store, plan, code, words):
    with pytest.raises(StateError) as err:
        store.start(plan=plan)
    assert err.value.code == code
    assert words in err.value.msg
    assert store.read_status() is None


def test_every_start_without_run_id_is_a_new_run(started):
    answer = started.start()
    assert answer['changed'] and answer['run_id'] != 'run-1'
    campaign = started.read_status()['campaign']
    assert campaign['runs'] == ['run-1', answer['run_id']] and campaign['run'] == answer['run_id']
    assert events_of(started)[-1]['action'] == 'resume'


def test_start_again_with_the_same_run_and_plan_changes_nothing(started):
    before = open(started.events_path, encoding='utf-8').read()
    answer = started.start(run_id='run-1', plan=PLAN)
    assert not answer['changed'] and answer['events'] == []
    assert open(started.events_path, encoding='utf-8').read() == before


def test_start_in_check_mode_creates_nothing(tmp_path, clock):
    store = CampaignStore('c1', str(tmp_path / 'state'), now=clock)
    answer = store.start(plan=PLAN, check_mode=True)
    assert answer['changed'] and answer['status']['hosts']['compute1']['state'] == 'pending'
    assert [e['action'] for e in answer['events']] == ['start', 'skipped']
    assert not os.path.exists(str(tmp_path / 'state'))


# -- host state machine ---------------------------------------------------------------

def test_a_host_goes_through_the_campaign(started):
    walk(started, 'compute1', *FULL)
    record = started.read_status()['hosts']['compute1']
    assert record['state'] == 'done' and record['phase'] == 'notify_complete' and record['result'] == 'ok'
    assert record['started'] == '2026-01-01T10:00:02.000Z' and record['finished'] == '2026-01-01T10:00:08.000Z'
    assert record['run'] == 'run-1'
    assert [h['phase'] for h in record['history']] == [phase for _s, phase in FULL]
    assert state.host_duration(record) == 6.0
    host_events = [e for e in events_of(started) if e['object_id'] == 'compute1']
    assert [(e['action'], e['result'], e['data']['state']) for e in host_events] == [
        ('maintenance', 'started', 'draining'), ('evacuate', 'started', 'draining'), ('backup', 'started', 'upgrading'),
        ('upgrade', 'started', 'upgrading'), ('verify', 'started', 'verifying'), ('enable', 'started', 'verifying'),
        ('notify_complete', 'ok', 'done')]
    assert host_events[1]['data']['previous_phase'] == 'maintenance'
    assert started.read_status()['batches'][0]['state'] == 'done'


def test_a_done_host_is_never_drained_again_without_reset(started):
    walk(started, 'compute1', *FULL)
    with pytest.raises(StateError) as err:
        started.update_host('compute1', state='draining', phase='maintenance')
    assert err.value.code == 'E_STATE'
    assert 'host compute1 is done' in err.value.msg and 'reset=true' in err.value.msg
    assert started.read_status()['hosts']['compute1']['state'] == 'done'
    answer = started.update_host('compute1', state='draining', phase='maintenance', reset=True, run_id='run-2')
    assert [e['action'] for e in answer['events']] == ['reset', 'maintenance']
    assert answer['after']['state'] == 'draining' and answer['after']['finished'] is None


@pytest.mark.parametrize('start, target', [
    ('pending', 'done'), ('pending', 'verifying'), ('pending', 'rolled_back'), ('upgrading', 'draining'),
    ('verifying', 'upgrading'), ('skipped', 'draining'), ('done', 'failed'),
])
def test_transitions_the_state_machine_refuses(started, start, target):
    path = {'pending': [], 'upgrading': [('draining', None), ('upgrading', None)],
            'verifying': [('draining', None), ('upgrading', None), ('verifying', None)],
            'skipped': [('skipped', None)], 'done': [(s, None) for s in ('draining', 'upgrading', 'verifying', 'done')]}
    walk(started, 'compute2', *path[start])
    with pytest.raises(StateError) as err:
        started.update_host('compute2', state=target)
    assert '%s -> %s' % (start, target) in err.value.msg


def test_a_repeated_update_records_nothing(started):
    first = started.update_host('compute1', state='draining', phase='maintenance')
    again = started.update_host('compute1', state='draining', phase='maintenance')
    assert first['changed'] and not again['changed'] and again['events'] == []
    assert len([e for e in events_of(started) if e['object_id'] == 'compute1']) == 1


def test_a_rollback_keeps_the_failure_code_and_message(started):
    walk(started, 'compute2', ('draining', 'maintenance'), ('upgrading', 'upgrade'))
    started.update_host('compute2', state='failed', error_code='E_UPGRADE', message='dpkg exploded')
    answer = started.update_host('compute2', state='rolled_back', phase='rollback')
    record = answer['after']
    assert (record['state'], record['result'], record['error_code'], record['message']) == (
        'rolled_back', 'failed', 'E_UPGRADE', 'dpkg exploded')
    with pytest.raises(StateError):
        started.update_host('compute2', state='done')


def test_a_new_attempt_after_a_failure_clears_the_code(started):
    started.update_host('compute2', state='failed', phase='precheck', error_code='E_PRECHECK')
    answer = started.update_host('compute2', state='draining', phase='maintenance', run_id='run-2')
    assert answer['after']['error_code'] is None and answer['after']['run'] == 'run-2'


def test_an_unknown_host_is_added(started):
    answer = started.update_host('compute7', state='draining', phase='maintenance')
    assert answer['events'][0]['data']['added'] is True
    assert started.read_status()['hosts']['compute7']['batch'] is None


@pytest.mark.parametrize('kwargs, words', [
    (dict(state='exploded'), 'host state'), (dict(phase='dance'), 'phase'), (dict(result='meh'), 'result'),
])
def test_bad_values_are_refused(started, kwargs, words):
    with pytest.raises(StateError) as err:
        started.update_host('compute1', **kwargs)
    assert err.value.code == 'E_INVALID_INPUT' and words in err.value.msg


def test_nothing_is_recorded_before_the_start(store):
    with pytest.raises(StateError) as err:
        store.update_host('compute1', state='draining')
    assert 'has not been started' in err.value.msg and err.value.code == 'E_STATE'


def test_check_mode_returns_the_change_and_writes_nothing(started):
    before = (open(started.status_path, encoding='utf-8').read(), open(started.events_path, encoding='utf-8').read())
    answer = started.update_host('compute1', state='draining', phase='maintenance', check_mode=True)
    assert answer['changed'] and answer['after']['state'] == 'draining'
    assert (open(started.status_path, encoding='utf-8').read(), open(started.events_path, encoding='utf-8').read()) \
        == before


def test_history_is_bounded(started, monkeypatch):
    monkeypatch.setattr(machine, 'HISTORY_LIMIT', 5)     # the state machine's own reading of the limit
    for number in range(8):
        started.update_host('compute1', state='draining', message='try %d' % number)
    history = started.read_status()['hosts']['compute1']['history']
    assert [h['message'] for h in history] == ['try %d' % n for n in range(3, 8)]


# -- batches, finish ----------------------------------------------------------------------

def test_batch_state_follows_its_hosts(started):
    assert started.update_batch(2, state='running')['status']['batches'][1]['state'] == 'running'
    walk(started, 'compute2', *FULL)
    assert started.read_status()['batches'][1]['state'] == 'running'
    walk(started, 'compute3', ('draining', 'maintenance'))
    started.update_host('compute3', state='failed', error_code='E_MIGRATION_FAILED')
    assert started.read_status()['batches'][1]['state'] == 'failed'


def test_a_batch_notes_when_it_started_and_finished(started):
    walk(started, 'compute1', *FULL)
    status = started.read_status()
    host, batch = status['hosts']['compute1'], status['batches'][0]
    assert (batch['started'], batch['finished']) == (host['started'], host['finished'])
    assert status['batches'][1]['started'] is None


def test_skipping_a_batch_skips_its_pending_hosts(started):
    answer = started.update_batch(2, state='skipped', message='operator said so')
    status = answer['status']
    assert status['batches'][1]['state'] == 'skipped'
    assert {status['hosts'][h]['state'] for h in ('compute2', 'compute3')} == {'skipped'}
    assert [e['object_type'] for e in answer['events']] == ['batch', 'host', 'host']


def test_an_unknown_batch_is_refused(started):
    with pytest.raises(StateError) as err:
        started.update_batch(7, state='running')
    assert 'batches: 1, 2' in err.value.msg


def test_finish_derives_the_outcome(started):
    walk(started, 'compute1', *FULL)
    answer = started.finish()
    assert answer['status']['campaign']['state'] == 'incomplete'
    assert answer['events'][0]['data']['summary']['states']['pending'] == 2
    for host in ('compute2', 'compute3'):
        walk(started, host, *FULL)
    assert started.finish()['status']['campaign']['state'] == 'done'
    assert not started.finish()['changed']
    assert started.read_status()['campaign']['finished'] is not None


def test_a_failed_host_fails_the_campaign(started):
    started.update_host('compute1', state='failed', phase='precheck', error_code='E_PRECHECK')
    assert started.finish()['status']['campaign']['state'] == 'failed'
    answer = started.start(run_id='run-2')
    assert answer['status']['campaign']['state'] == 'running' and answer['status']['campaign']['finished'] is None


# -- resume -------------------------------------------------------------------------------------

def test_resume_points(started):
    walk(started, 'compute1', *FULL)
    walk(started, 'compute2', ('draining', 'maintenance'), ('draining', 'evacuate'))
    started.update_host('compute7', state='draining', phase='maintenance')
    walk(started, 'compute7', ('upgrading', 'upgrade'))
    started.update_host('compute7', state='failed', error_code='E_UPGRADE')
    status = started.read_status()
    assert state.hosts_to_skip(status) == ['compute1', 'compute9']
    point = state.host_resume_point(status, 'compute2')
    assert (point['resume'], point['from_phase'], point['host_changed']) == ('continue', 'evacuate', False)
    assert state.host_resume_point(status, 'compute3')['resume'] == 'start'
    failed = state.host_resume_point(status, 'compute7')
    assert (failed['resume'], failed['host_changed'], failed['error_code']) == ('rollback', True, 'E_UPGRADE')
    assert state.host_resume_point(status, 'nowhere')['resume'] == 'start'
    grouped = state.resume_plan(status)
    assert grouped['skip'] == ['compute1', 'compute9'] and grouped['continue'] == {'compute2': 'evacuate'}
    assert grouped['start'] == ['compute3'] and grouped['rollback'] == ['compute7']


def test_resume_points_after_failures_and_rollbacks(started):
    started.update_host('compute1', state='failed', phase='precheck', error_code='E_PRECHECK')
    walk(started, 'compute2', ('draining', 'maintenance'), ('upgrading', 'upgrade'), ('rolled_back', 'rollback'))
    walk(started, 'compute3', ('draining', 'maintenance'), ('draining', 'rollback'))
    status = started.read_status()
    assert state.host_resume_point(status, 'compute1')['resume'] == 'retry'
    assert state.host_resume_point(status, 'compute2')['resume'] == 'retry'
    assert state.host_resume_point(status, 'compute3')['resume'] == 'rollback'


def test_resuming_with_a_new_plan(started):
    walk(started, 'compute1', *FULL)
    new_plan = {'batches': [{'batch': 1, 'hosts': ['compute2', 'compute9']}, {'batch': 2, 'hosts': ['compute3']}],
                'fingerprint': 'sha256:def'}
    answer = started.start(run_id='run-2', plan=new_plan)
    actions = [e['action'] for e in answer['events']]
    assert actions[0] == 'resume' and 'replan' in actions
    status = answer['status']
    assert status['hosts']['compute1']['state'] == 'done' and status['hosts']['compute1']['batch'] is None
    assert status['hosts']['compute9']['state'] == 'pending' and status['hosts']['compute9']['batch'] == 1
    assert state.hosts_to_skip(status) == ['compute1']
    assert started.read_plan() == new_plan


# -- reading: table, summary, events ----------------------------------------------------------------

def test_table_and_summary(started, clock):
    walk(started, 'compute1', *FULL)
    walk(started, 'compute2', ('draining', 'maintenance'))
    started.update_host('compute2', state='failed', error_code='E_MIGRATION_FAILED',
                        message='server vnf-a-1 did not move: ' + 'x' * 100)
    status = started.read_status()
    table = state.render_table(status, now=clock.now)
    lines = table.splitlines()
    assert lines[0].startswith('Campaign c1: running (run run-1, 1 run) started 2026-01-01T10:00:01.000Z')
    assert lines[1].split() == ['BATCH', 'HOST', 'STATE', 'PHASE', 'RESULT', 'ERROR', 'DURATION', 'MESSAGE']
    assert lines[3].split()[:8] == ['1*', 'done', 'compute1', 'done', 'notify_complete', 'ok', '-', '0:00:06']
    assert lines[4].split()[:7] == ['2', 'failed', 'compute2', 'failed', 'maintenance', 'failed', 'E_MIGRATION_FAILED']
    assert lines[4].endswith('...') and len(lines[4]) < 200
    assert lines[5].split() == ['compute3', 'pending', '-', '-', '-', '-']
    assert lines[6].split()[:3] == ['-', 'compute9', 'skipped']
    assert 'hosts: 4 (pending 1, done 1, failed 1, skipped 1); batches: 1/2 done; failed: compute2; alerts: 1' \
        in lines[-1]
    assert lines[2].split() == ['-' * len(cell) for cell in lines[2].split()]
    assert lines[1].index('HOST') == lines[3].index('compute1') and lines[1].index('STATE') == lines[3].index('done', 12)
    info = state.summary(status, now=clock.now)
    assert info['states']['done'] == 1 and info['failed'] == 1 and info['failed_hosts'] == ['compute2']
    assert info['done'] == 1 and info['batches_done'] == 1 and info['alerts'] == 1
    started_at = datetime.datetime(2026, 1, 1, 10, 0, 1, tzinfo=datetime.timezone.utc)
    assert info['duration_s'] == (clock.now - started_at).total_seconds()


def test_a_done_campaign_with_skipped_hosts_says_so_in_its_header(started, clock):
    """Issue 12 item 5: 'done' alone hid that some hosts stay at the old version."""
    for host in ('compute1', 'compute2', 'compute3'):
        walk(started, host, *FULL)
    started.finish()
    title = state.render_table(started.read_status(), now=clock.now).splitlines()[0]
    assert title.startswith('Campaign c1: done')
    assert title.endswith('- 1 host(s) skipped, left at their old version: compute9'), title


def test_table_of_an_empty_campaign(store):
    store.start(run_id='r')
    assert '(no hosts)' in state.render_table(store.read_status())


def test_events_survive_a_torn_line(started):
    with open(started.events_path, 'ab') as handle:
        handle.write(b'{"ts": "2026-01-01T10:00:0')           # a crash in the middle of a write
    assert len(started.read_events()) == 2
    started.record_event('vnfm', 'vnfm-a', 'vnfm_reply', message='ok to migrate')
    events = started.read_events()
    assert [e['action'] for e in events] == ['start', 'skipped', 'vnfm_reply']
    assert events[-1]['object_type'] == 'vnfm' and events[-1]['run'] == 'run-1'


def test_events_can_be_followed_by_offset(started):
    seen = list(state.iter_events(started.events_path))
    offset = seen[-1][1]
    assert offset == os.path.getsize(started.events_path)
    started.record_event('campaign', None, 'note', message='hello')
    later = list(state.iter_events(started.events_path, offset))
    assert [e['message'] for e, _end in later] == ['hello'] and later[0][0]['object_id'] == 'c1'
    assert started.read_events(object_id='compute9', limit=1)[0]['action'] == 'skipped'


def test_events_before_the_start_have_no_run(store):
    store.record_event('host', 'compute1', 'task', result='ok')
    assert store.read_events()[0]['run'] is None and store.read_status() is None


def test_make_event_checks_its_fields():
    with pytest.raises(StateError):
        state.make_event('c1', None, 'planet', 'x', 'a', 'ok')
    with pytest.raises(StateError):
        state.make_event('c1', None, 'host', 'x', 'a', 'great')
    with pytest.raises(StateError):
        state.make_event('c1', None, 'host', 'x', '', 'ok')


def test_list_campaigns(tmp_path, clock):
    assert state.list_campaigns(str(tmp_path / 'none')) == []
    CampaignStore('old', str(tmp_path), now=clock).start(run_id='r1')
    CampaignStore('new', str(tmp_path), now=clock).start(run_id='r2')
    (tmp_path / 'not a campaign').mkdir()
    found = state.list_campaigns(str(tmp_path))
    assert [c['id'] for c in found] == ['new', 'old'] and found[0]['state'] == 'running'


def test_a_corrupt_status_is_reported(started):
    with open(started.status_path, 'w', encoding='utf-8') as handle:
        handle.write('{"format": ')
    with pytest.raises(StateError) as err:
        started.read_status()
    assert 'events.jsonl' in err.value.msg and err.value.code == 'E_STATE'
    with open(started.status_path, 'w', encoding='utf-8') as handle:
        json.dump({'format': 'something-else'}, handle)
    with pytest.raises(StateError) as err:
        started.read_status()
    assert 'not an Escalator status file' in err.value.msg


def test_a_held_lock_times_out_with_a_clear_error(started):
    ticks = []

    def fake_clock():
        return float(len(ticks))

    waiting = CampaignStore('c1', started.state_dir, lock_timeout=5, clock=fake_clock, sleep=ticks.append)
    fd = os.open(started.lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(StateError) as err:
            waiting.update_host('compute1', state='draining')
        assert 'locked by another process' in err.value.msg
        assert len(ticks) == 5
    finally:
        os.close(fd)
    assert waiting.update_host('compute1', state='draining')['changed']


# -- alerts and webhook ----------------------------------------------------------------------

class Hook(http.server.BaseHTTPRequestHandler):
    received = []
    answer = 200

    def do_POST(self):  # noqa: N802 - the http.server API
        length = int(self.headers['Content-Length'])
        Hook.received.append((self.path, self.headers['Content-Type'], json.loads(self.rfile.read(length))))
        self.send_response(Hook.answer)
        self.end_headers()

    def log_message(self, *args):  # silence
        pass


@pytest.fixture
def hook(monkeypatch):
    for name in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(name, raising=False)
    Hook.received = []
    Hook.answer = 200
    server = http.server.HTTPServer(('127.0.0.1', 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d/hooks/secret-token' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_failed_host_raises_an_alert_posted_to_the_webhook(started, hook):
    walk(started, 'compute1', ('draining', 'maintenance'))
    answer = started.update_host('compute1', state='failed', error_code='E_NO_VALID_HOST', message='no room',
                                 webhook=dict(url=hook))
    alert = answer['alerts'][0]
    assert alert['action'] == 'alert' and alert['result'] == 'failed' and alert['error_code'] == 'E_NO_VALID_HOST'
    assert alert['data']['kind'] == 'host_failed' and alert['data']['severity'] == 'critical'
    assert 'host compute1 failed at maintenance: no room' == alert['message']
    assert Hook.received == [('/hooks/secret-token', 'application/json', alert)]
    last_two = [(e['action'], e['result']) for e in events_of(started)][-2:]
    assert last_two == [('maintenance', 'failed'), ('alert', 'failed')]
    assert started.read_status()['campaign']['alerts'] == 1
    rolled = started.update_host('compute1', state='rolled_back', phase='rollback', webhook=dict(url=hook))
    assert rolled['alerts'][0]['data']['kind'] == 'rollback' and len(Hook.received) == 2
    assert rolled['alerts'][0]['message'] == 'host compute1 rolled back: no room'


def test_an_explicit_alert(started, hook):
    answer = started.alert('budget', 'group vnf-a would lose 2 members, budget 1', object_type='batch',
                           object_id=2, severity='critical', data=dict(group='vnf-a'), webhook=dict(url=hook))
    event = answer['events'][0]
    assert (event['object_type'], event['object_id'], event['data']) == (
        'batch', '2', dict(kind='budget', severity='critical', group='vnf-a'))
    assert Hook.received[0][2] == event
    assert started.read_status()['campaign']['alerts'] == 1


def test_a_failing_webhook_is_recorded_never_raised(started, hook):
    Hook.answer = 500
    answer = started.alert('budget', 'too many', webhook=dict(url=hook))
    failure = answer['events'][-1]
    assert failure['action'] == 'webhook' and failure['result'] == 'failed'
    assert 'HTTP 500' in failure['message'] and 'secret-token' not in failure['message']
    assert events_of(started)[-1] == failure


def test_an_unreachable_webhook_is_recorded(started):
    with_socket = __import__('socket').socket()
    with_socket.bind(('127.0.0.1', 0))
    port = with_socket.getsockname()[1]
    with_socket.close()                       # nothing listens there any more
    answer = started.alert('other', 'hello', webhook=dict(url='http://127.0.0.1:%d/x?token=abc' % port, timeout=2))
    assert answer['events'][-1]['action'] == 'webhook'
    assert 'token' not in answer['events'][-1]['message']
    assert state.post_webhook('ftp://example.invalid/x', {}) == 'webhook URL ftp://example.invalid/... is not http(s)'


def test_no_webhook_in_check_mode(started, hook):
    answer = started.alert('other', 'hello', check_mode=True, webhook=dict(url=hook))
    assert answer['alerts'] and Hook.received == []
    assert [e['action'] for e in events_of(started)] == ['start', 'skipped']


def test_redact_url():
    assert state.redact_url('https://hooks.example.com:8443/services/T0/B0/XYZ?x=1') == \
        'https://hooks.example.com:8443/...'


# -- concurrency ---------------------------------------------------------------------------------

def _worker(state_dir, worker, rounds):
    store = CampaignStore('c1', state_dir)
    host = 'host%d' % worker
    for number in range(rounds):
        store.update_host(host, state='draining', phase='evacuate', message='round %d' % number)
        store.record_event('instance', 'vm-%d-%d' % (worker, number), 'migrate', result='changed',
                           data=dict(padding='x' * 3000))


def test_several_processes_record_at_once_without_losing_or_tearing_anything(tmp_path):
    workers, rounds = 6, 20
    CampaignStore('c1', str(tmp_path)).start(run_id='r', plan={'batches': [['host%d' % n for n in range(workers)]]})
    context = multiprocessing.get_context('fork')
    processes = [context.Process(target=_worker, args=(str(tmp_path), n, rounds)) for n in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0] * workers
    store = CampaignStore('c1', str(tmp_path))
    with open(store.events_path, encoding='utf-8') as handle:
        lines = handle.read().splitlines()
    events = [json.loads(line) for line in lines]           # every line is whole JSON
    assert len(events) == 1 + workers * rounds * 2
    status = store.read_status()
    for worker in range(workers):
        record = status['hosts']['host%d' % worker]
        assert [h['message'] for h in record['history']] == ['round %d' % n for n in range(rounds)]
        migrations = [e for e in events if e['action'] == 'migrate' and e['object_id'].startswith('vm-%d-' % worker)]
        assert [e['object_id'] for e in migrations] == ['vm-%d-%d' % (worker, n) for n in range(rounds)]


def _damaged(status, where):
    """A started status damaged at ``where`` (format marker kept)."""
    damaged = json.loads(json.dumps(status))
    if where == 'no campaign':
        del damaged['campaign']
    elif where == 'campaign list':
        damaged['campaign'] = []
    elif where == 'hosts list':
        damaged['hosts'] = []
    elif where == 'host without state':
        del damaged['hosts']['compute1']['state']
    elif where == 'unknown host state':
        damaged['hosts']['compute1']['state'] = 'sleeping'
    elif where == 'batch without hosts':
        del damaged['batches'][0]['hosts']
    elif where == 'batches dict':
        damaged['batches'] = {}
    elif where == 'runs string':
        damaged['campaign']['runs'] = 'run-1'
    elif where == 'no run':
        del damaged['campaign']['run']
    return damaged


DAMAGES = ['no campaign', 'campaign list', 'hosts list', 'host without state', 'unknown host state',
           'batch without hosts', 'batches dict', 'runs string', 'no run']


@pytest.mark.parametrize('where', DAMAGES)
def test_a_status_file_with_the_right_marker_and_a_wrong_structure_is_e_state(started, where):
    started.update_host('compute1', state='draining', phase='evacuate')
    with open(started.status_path, encoding='utf-8') as handle:
        status = json.load(handle)
    with open(started.status_path, 'w', encoding='utf-8') as handle:
        json.dump(_damaged(status, where), handle)
    with pytest.raises(StateError) as err:
        started.read_status()
    assert err.value.code == 'E_STATE' and started.status_path in err.value.msg
    assert 'structure' in err.value.msg
    # the campaign list shows it without a state instead of crashing
    found = state.list_campaigns(started.state_dir)
    assert [c['state'] for c in found] == [None]
