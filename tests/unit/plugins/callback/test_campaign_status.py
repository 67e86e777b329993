# SPDX-License-Identifier: Apache-2.0
"""The campaign_status callback: unit tests with stand-in results, and a real playbook run on localhost."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from ansible_collections.opnfv.escalator.plugins.callback import campaign_status
from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore
from ansible_collections.opnfv.escalator.tests.unit.callback_standins import Host, Play, Task


class Result:
    """What a callback receives: ._host, ._task, ._result (as before ansible-core 2.19)."""

    def __init__(self, host, task, data):
        self._host = Host(host)
        self._task = task
        self._result = data


class Display:
    def __init__(self):
        self.lines = []
        self.warnings = []
        self.verbosity = 0

    def display(self, text, **kwargs):
        self.lines.append(text)

    def banner(self, text, **kwargs):
        self.lines.append('BANNER ' + text)

    def warning(self, text, **kwargs):
        self.warnings.append(text)


@pytest.fixture
def callback(tmp_path):
    plugin = campaign_status.CallbackModule(display=Display())
    plugin._plugin_options = dict(campaign_id='c1', state_dir=str(tmp_path), run_id=None, webhook_url=None,
                                  print_table=True)
    plugin.v2_playbook_on_play_start(Play())
    return plugin


@pytest.fixture
def store(tmp_path):
    store = CampaignStore('c1', str(tmp_path))
    store.start(run_id='run-1', plan={'batches': [['compute1', 'compute2']]})
    return store


def task_events(store):
    return [e for e in store.read_events() if e['action'] == 'task']


def test_every_result_becomes_an_event(callback, store):
    task = Task('Upgrade packages', 'ansible.builtin.apt')
    for host in ('compute1', 'compute2', 'compute3'):
        callback.v2_runner_on_start(Host(host), task)
    callback.v2_runner_on_ok(Result('compute1', task, {'changed': True}))
    callback.v2_runner_on_ok(Result('compute2', task, {'changed': False}))
    callback.v2_runner_on_failed(Result('compute3', task, {'msg': 'E: broken packages', 'error_code': 'E_UPGRADE'}))
    callback.v2_runner_on_skipped(Result('compute1', Task('Maybe'), {'skip_reason': 'Conditional result was False'}))
    events = task_events(store)
    assert [(e['object_id'], e['result'], e['error_code'], e['message']) for e in events] == [
        ('compute1', 'changed', None, None), ('compute2', 'ok', None, None),
        ('compute3', 'failed', 'E_UPGRADE', 'E: broken packages'),
        ('compute1', 'skipped', None, 'Conditional result was False')]
    assert all(e['run'] == 'run-1' and e['object_type'] == 'host' for e in events)
    assert events[0]['data']['task'] == 'Upgrade packages' and events[0]['data']['module'] == 'ansible.builtin.apt'
    assert events[0]['data']['status'] == 'changed' and events[0]['data']['play'] == 'upgrade'
    assert isinstance(events[0]['data']['duration_s'], float) and events[3]['data']['duration_s'] is None
    # a failed task is an event only: the playbook's rescue decides what the host's state is
    assert 'compute3' not in store.read_status()['hosts']


def test_no_log_results_are_never_written(callback, store):
    data = {'censored': "the output has been hidden due to the fact that 'no_log: true' was specified for this result",
            '_ansible_no_log': True, 'changed': False}
    callback.v2_runner_on_failed(Result('compute1', Task('Log in'), data), ignore_errors=True)
    [event] = task_events(store)
    assert event['message'] == 'output hidden (no_log)'
    assert event['data']['no_log'] is True and event['data']['ignored'] is True
    assert 'censored' not in json.dumps(event)


def test_an_unreachable_host_is_marked_failed_and_alerted(callback, store):
    data = {'msg': 'ssh: connection refused', 'unreachable': True}
    callback.v2_runner_on_unreachable(Result('compute2', Task('Upgrade'), data))
    record = store.read_status()['hosts']['compute2']
    assert (record['state'], record['error_code']) == ('failed', 'E_UNREACHABLE')
    assert record['message'] == "unreachable during 'Upgrade': ssh: connection refused"
    actions = [(e['action'], e['error_code']) for e in store.read_events()][-3:]
    assert actions == [('task', 'E_UNREACHABLE'), ('failed', 'E_UNREACHABLE'), ('alert', 'E_UNREACHABLE')]


def test_an_unreachable_done_host_stays_done(callback, store):
    for step in ('draining', 'upgrading', 'verifying', 'done'):
        store.update_host('compute1', state=step)
    callback.v2_runner_on_unreachable(Result('compute1', Task('Facts'), {'msg': 'down'}))
    assert store.read_status()['hosts']['compute1']['state'] == 'done'
    assert task_events(store)[-1]['error_code'] == 'E_UNREACHABLE'


def test_campaign_state_results_are_followed_not_logged(callback, tmp_path):
    other = tmp_path / 'elsewhere'
    CampaignStore('c1', str(other)).start(run_id='run-7')
    callback.v2_runner_on_ok(Result('localhost', Task('Record', 'opnfv.escalator.campaign_state'), {
        'changed': True, 'campaign_id': 'c1', 'run_id': 'run-7', 'path': str(other / 'c1')}))
    callback.v2_runner_on_ok(Result('compute1', Task('Work'), {'changed': False}))
    events = [e for e in CampaignStore('c1', str(other)).read_events() if e['action'] == 'task']
    assert [(e['object_id'], e['run']) for e in events] == [('compute1', 'run-7')]
    assert not os.path.exists(str(tmp_path / 'c1' / 'events.jsonl'))


def test_the_state_dir_read_by_campaign_state_info_is_followed_with_this_run(tmp_path):
    """The inventory's escalator_state_dir is invisible to the play variables: the callback takes it from
    campaign_state_info, so a failure before the campaign is recorded (the lock, the plan) lands there."""
    plugin = campaign_status.CallbackModule(display=Display())
    plugin._plugin_options = dict(campaign_id='c1', state_dir=str(tmp_path / 'default'), run_id='run-new',
                                  webhook_url=None, print_table=True)
    plugin.v2_playbook_on_play_start(Play())
    inventory_dir = tmp_path / 'inventory'
    CampaignStore('c1', str(inventory_dir)).start(run_id='run-old')
    info = CampaignStore('c1', str(inventory_dir))
    plugin.v2_runner_on_ok(Result('localhost', Task('Read', 'opnfv.escalator.campaign_state_info'), {
        'changed': False, 'campaign_id': 'c1', 'path': info.path, 'exists': True,
        'status': info.read_status()}))
    plugin.v2_runner_on_failed(Result('localhost', Task('Lock', 'opnfv.escalator.campaign_lock'), {
        'msg': 'held by campaign c0', 'error_code': 'E_LOCK'}))
    [event] = task_events(info)
    assert (event['object_id'], event['error_code'], event['run']) == ('localhost', 'E_LOCK', 'run-new')
    assert not os.path.exists(str(tmp_path / 'default' / 'c1'))


def test_the_run_lock_is_held_from_the_first_campaign_result_and_a_second_run_is_warned(tmp_path):
    def plugin():
        callback = campaign_status.CallbackModule(display=Display())
        callback._plugin_options = dict(campaign_id='c1', state_dir=str(tmp_path), run_id=None, webhook_url=None,
                                        print_table=True)
        callback.v2_playbook_on_play_start(Play())
        return callback

    first, second = plugin(), plugin()
    read = {'changed': False, 'campaign_id': 'c1', 'path': str(tmp_path / 'c1'), 'exists': False, 'status': None}
    assert run_guard.holder(str(tmp_path / 'c1')) is None
    first.v2_runner_on_ok(Result('localhost', Task('Read', 'opnfv.escalator.campaign_state_info'), dict(read)))
    info = run_guard.holder(str(tmp_path / 'c1'))
    assert info['pid'] == os.getpid() and info['ours']
    second.v2_runner_on_ok(Result('localhost', Task('Read', 'opnfv.escalator.campaign_state_info'), dict(read)))
    assert any('campaign c1 is being run right now by process %d' % os.getpid() in w for w in second._display.warnings)
    assert not first._display.warnings
    first._run_locks[str(tmp_path / 'c1')].close()     # what the end of the first ansible-playbook does
    assert run_guard.holder(str(tmp_path / 'c1')) is None


def test_no_warning_when_campaign_lock_s_guard_holds_the_run_lock_for_this_very_run(tmp_path):
    """The callback enabled after all (or seeing the campaign late): the guard campaign_lock started holds the
    run lock for this ansible-playbook; that is this run, not another one."""
    guard = run_guard.take(str(tmp_path / 'c1'), owner=dict(pid=os.getpid(), start=run_guard.start_time(os.getpid())))
    try:
        plugin = campaign_status.CallbackModule(display=Display())
        plugin._plugin_options = dict(campaign_id='c1', state_dir=str(tmp_path), run_id=None, webhook_url=None,
                                      print_table=True)
        plugin.v2_playbook_on_play_start(Play())
        read = {'changed': False, 'campaign_id': 'c1', 'path': str(tmp_path / 'c1'), 'exists': False, 'status': None}
        plugin.v2_runner_on_ok(Result('localhost', Task('Read', 'opnfv.escalator.campaign_state_info'), read))
        assert not plugin._display.warnings and run_guard.holder(str(tmp_path / 'c1'))['ours']
    finally:
        guard.close()


def test_nothing_without_a_campaign(tmp_path):
    plugin = campaign_status.CallbackModule(display=Display())
    plugin._plugin_options = dict(campaign_id=None, state_dir=str(tmp_path), run_id=None, webhook_url=None,
                                  print_table=True)
    plugin.v2_playbook_on_play_start(Play())
    plugin.v2_runner_on_ok(Result('compute1', Task('Work'), {}))
    plugin.v2_playbook_on_stats(None)
    assert os.listdir(str(tmp_path)) == [] and plugin._display.lines == []


def test_a_bad_campaign_id_warns_once(tmp_path):
    plugin = campaign_status.CallbackModule(display=Display())
    plugin._plugin_options = dict(campaign_id='../x', state_dir=str(tmp_path), run_id=None, webhook_url=None,
                                  print_table=True)
    plugin.v2_runner_on_ok(Result('compute1', Task('Work'), {}))
    plugin.v2_runner_on_ok(Result('compute2', Task('Work'), {}))
    assert len(plugin._display.warnings) == 1 and 'nothing is recorded' in plugin._display.warnings[0]


def test_the_table_is_printed_at_the_end(callback, store):
    callback.v2_playbook_on_stats(None)
    lines = callback._display.lines
    assert lines[0] == 'BANNER CAMPAIGN STATUS c1'
    assert lines[1].startswith('Campaign c1: running (run run-1')
    assert lines[2].startswith('status: ')
    callback._plugin_options['print_table'] = False
    callback.v2_playbook_on_stats(None)
    assert len(lines) == 3


# -- phases from task tags ----------------------------------------------------------------------------

def host_records(store, host):
    """(action, result, state, phase, error_code) of the host's state records, the reset events included."""
    return [(e['action'], e['result'], e['data'].get('state'), e['data'].get('phase'), e['error_code'])
            for e in store.read_events() if e['object_id'] == host and e['action'] != 'task']


# A host's tasks in upgrade_compute.yml, in order, with the tags they inherit (drain.yml, the phase blocks).
UPGRADE_TASKS = [
    Task('Stop the campaign once too many hosts have failed', 'opnfv.escalator.campaign_state_info', ['always']),
    Task('Put the host in maintenance', 'opnfv.escalator.compute_maintenance', ['maintenance']),
    Task('Tell the VNF managers of the affected projects', 'opnfv.escalator.vnfm_notify', ['notify']),
    Task('Evacuate the host', 'opnfv.escalator.compute_evacuate', ['evacuate']),
    Task('Back up the host', 'ansible.builtin.include_role', ['backup']),
    Task('backup : Archive', 'ansible.builtin.command', ['backup']),
    Task('Note that the software is about to change', 'ansible.builtin.set_fact', ['upgrade']),
    Task('upgrade : Install', 'ansible.builtin.apt', ['upgrade']),
    Task('verify : Services', 'ansible.builtin.service_facts', ['verify']),
    Task('Leave maintenance', 'opnfv.escalator.compute_maintenance', ['release']),
]


def run_tasks(callback, host, tasks):
    for task in tasks:
        callback.v2_runner_on_start(Host(host), task)
        callback.v2_runner_on_ok(Result(host, task, {'changed': False}))


def test_a_host_s_phases_are_recorded_from_its_task_tags(callback, store):
    """The records the playbooks' 'Record draining/evacuating/backing up/upgrading/verifying' tasks wrote, and a
    notify record, each when the host starts the phase's first task; a phase is recorded once."""
    run_tasks(callback, 'compute1', UPGRADE_TASKS)
    assert host_records(store, 'compute1') == [
        ('maintenance', 'started', 'draining', 'maintenance', None),
        ('notify', 'started', 'draining', 'notify', None),
        ('evacuate', 'started', 'draining', 'evacuate', None),
        ('backup', 'started', 'upgrading', 'backup', None),
        ('upgrade', 'started', 'upgrading', 'upgrade', None),
        ('verify', 'started', 'verifying', 'verify', None)]
    record = store.read_status()['hosts']['compute1']
    assert (record['state'], record['phase'], record['run']) == ('verifying', 'verify', 'run-1')
    assert record['started'] == record['history'][0]['ts']
    assert [h['phase'] for h in record['history']] == ['maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify']
    # every phase starts at the moment of its first task: the record precedes that task's result
    events = store.read_events()
    first_backup = next(i for i, e in enumerate(events) if e['action'] == 'task' and e['data']['task'] == 'Back up the host')
    assert events[first_backup - 1]['action'] == 'backup'
    # then the playbook's own record (campaign_state) of the end: done, from verifying
    store.update_host('compute1', state='done', phase='notify_complete', result='ok', run_id='run-1')
    assert store.read_status()['batches'][0]['state'] == 'running'
    assert not callback._display.warnings


def test_the_first_phase_of_a_run_starts_a_new_attempt(callback, store):
    """A resumed host (failed, caught half-way) or one rollback_compute.yml empties after it was done is reset,
    as the playbooks' reset: true did; a pending host just begins."""
    store.update_host('compute1', state='failed', error_code='E_MIGRATION', message='stuck', run_id='run-0')
    for step in ('draining', 'upgrading', 'verifying', 'done'):
        store.update_host('compute2', state=step)
    run_tasks(callback, 'compute1', UPGRADE_TASKS[1:3])
    run_tasks(callback, 'compute2', UPGRADE_TASKS[1:2])
    assert host_records(store, 'compute1')[-3:] == [
        ('reset', 'changed', 'draining', None, None),
        ('maintenance', 'started', 'draining', 'maintenance', None),
        ('notify', 'started', 'draining', 'notify', None)]
    assert host_records(store, 'compute2')[-2:] == [
        ('reset', 'changed', 'draining', None, None), ('maintenance', 'started', 'draining', 'maintenance', None)]
    other = CampaignStore('c2', str(store.state_dir))
    other.start(run_id='run-1', plan={'batches': [['compute1']]})
    callback._plugin_options['campaign_id'] = 'c2'
    run_tasks(callback, 'compute1', UPGRADE_TASKS[1:2])
    assert host_records(other, 'compute1') == [('maintenance', 'started', 'draining', 'maintenance', None)]


def test_no_phase_is_recorded_in_check_mode_for_unknown_hosts_or_a_campaign_never_started(tmp_path, callback, store):
    run_tasks(callback, 'compute1', [Task('Put the host in maintenance', tags=['maintenance'], check_mode=True)])
    run_tasks(callback, 'localhost', [Task('Evacuate', tags=['evacuate'])])
    run_tasks(callback, 'compute9', [Task('Evacuate', tags=['evacuate'])])
    assert host_records(store, 'compute1') == [] and set(store.read_status()['hosts']) == {'compute1', 'compute2'}
    callback._plugin_options['campaign_id'] = 'never-started'
    run_tasks(callback, 'compute1', [Task('Put the host in maintenance', tags=['maintenance'])])
    assert not os.path.exists(str(tmp_path / 'never-started' / 'status.json'))
    assert not callback._display.warnings


def test_the_run_that_took_the_campaign_lock_records_the_phases(callback, store):
    """rollback_compute.yml starts no campaign run: its records carry the run id it took the lock with."""
    lock = Task('Take the lock', 'opnfv.escalator.campaign_lock')

    def taken(campaign_id, run_id, **more):
        return Result('compute1', lock, dict(more, lock=dict(campaign_id=campaign_id, run_id=run_id)))

    callback.v2_runner_on_ok(taken('other', 'run-x', changed=True, action='acquire'))
    callback.v2_runner_on_failed(taken('c1', 'run-y', msg='held', error_code='E_LOCK'))
    callback.v2_runner_on_ok(taken('c1', 'run-rb', changed=True, action='acquire'))
    run_tasks(callback, 'compute1', UPGRADE_TASKS[1:2])
    record = store.read_status()['hosts']['compute1']
    assert record['run'] == 'run-rb'
    assert task_events(store)[-1]['run'] == 'run-rb'


def test_a_phase_the_state_machine_refuses_is_a_warning_once(callback, store):
    run_tasks(callback, 'compute1', UPGRADE_TASKS[1:2])
    for step in ('upgrading', 'verifying', 'done'):
        store.update_host('compute1', state=step)
    run_tasks(callback, 'compute1', UPGRADE_TASKS[4:6] + [Task('Again', tags=['upgrade'])])
    assert store.read_status()['hosts']['compute1']['state'] == 'done'
    assert len(callback._display.warnings) == 2, callback._display.warnings
    assert 'cannot record that compute1 starts backup' in callback._display.warnings[0]
    assert 'refusing done -> upgrading' in callback._display.warnings[0]


def test_phase_of_a_task():
    assert campaign_status.phase_of(Task('x', tags=['always'])) is None
    assert campaign_status.phase_of(Task('x', tags=['precheck'])) is None       # records nothing
    assert campaign_status.phase_of(Task('x', tags=['rollback', 'always'])) is None
    assert campaign_status.phase_of(Task('x', tags=['release'])) is None
    assert campaign_status.phase_of(Task('x', tags=['verify', 'backup'])) == 'verify'
    # an imported role's argument validation runs under any tag selection: it starts no phase
    assert campaign_status.phase_of(Task('x', tags=['always', 'backup'])) is None
    assert campaign_status.phase_of(Task('x', tags='{{ templated }}')) is None
    assert campaign_status.PHASE_TAGS == ('maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify')


def test_task_event_fields():
    result, code, message, data = campaign_status.task_event(
        'compute1', 'Wait', 'ansible.builtin.wait_for', 'failed', {'msg': 'x' * 1000}, 1.5, delegated_to='localhost')
    assert (result, code, len(message), data['delegated_to'], data['duration_s']) == ('failed', None, 500, 'localhost', 1.5)


# -- a real playbook ------------------------------------------------------------------------------

PLAYBOOK = textwrap.dedent('''\
    - name: Start the campaign
      hosts: localhost
      gather_facts: false
      vars:
        escalator_campaign_id: cb-real
        escalator_state_dir: "{{ state_dir }}"
      tasks:
        - name: Record the start
          opnfv.escalator.campaign_state:
            campaign_id: "{{ escalator_campaign_id }}"
            state_dir: "{{ escalator_state_dir }}"
            run_id: run-real
            action: start
            plan: {batches: [[compute1, compute2]]}

    - name: Work on the hosts
      hosts: computes
      gather_facts: false
      vars:
        escalator_campaign_id: cb-real
        escalator_state_dir: "{{ state_dir }}"
      tasks:
        - name: Change something
          ansible.builtin.command: "true"
        - name: Keep a secret
          ansible.builtin.fail:
            msg: "password=hunter2"
          no_log: true
          ignore_errors: true
        - name: Maintenance
          tags: maintenance
          block:
            - name: Enter maintenance
              ansible.builtin.command: "true"
        - name: Evacuate
          tags: evacuate
          block:
            - name: Include the evacuation
              ansible.builtin.include_tasks: evacuate.yml
    ''')

# a dynamically included file: its tasks inherit the tags of the block around the include
EVACUATE = textwrap.dedent('''\
    - name: Move the instances
      ansible.builtin.command: "true"
    ''')


def test_a_real_playbook_with_the_callback_enabled(tmp_path, ansible_playbook):
    fake_ssh = tmp_path / 'fake-ssh'
    fake_ssh.write_text('#!/bin/sh\necho "ssh: connect to host compute2: Connection refused" >&2\nexit 255\n')
    fake_ssh.chmod(0o755)
    (tmp_path / 'evacuate.yml').write_text(EVACUATE)
    state_dir = tmp_path / 'state'
    computes = {'compute1': 'ansible_connection=local',
                'compute2': 'ansible_connection=ssh ansible_host=127.0.0.1 ansible_ssh_executable=%s' % fake_ssh}
    completed = ansible_playbook(tmp_path, PLAYBOOK, computes=computes,
                                 ANSIBLE_CALLBACKS_ENABLED='opnfv.escalator.campaign_status')
    output = completed.stdout + completed.stderr
    assert completed.returncode == 4, output                   # 4: a host was unreachable
    store = CampaignStore('cb-real', str(state_dir))
    with open(store.events_path, encoding='utf-8') as handle:
        events = [json.loads(line) for line in handle]
    tasks = [(e['object_id'], e['data']['task'], e['result'], e['error_code']) for e in events if e['action'] == 'task']
    assert sorted(tasks) == [
        ('compute1', 'Change something', 'changed', None),
        ('compute1', 'Enter maintenance', 'changed', None),
        ('compute1', 'Include the evacuation', 'ok', None),
        ('compute1', 'Keep a secret', 'failed', None),
        ('compute1', 'Move the instances', 'changed', None),
        ('compute2', 'Change something', 'failed', 'E_UNREACHABLE'),
    ]
    assert all(e['run'] == 'run-real' for e in events)
    assert 'hunter2' not in open(store.events_path, encoding='utf-8').read()
    status = store.read_status()
    assert status['hosts']['compute1']['state'] == 'draining'
    # the phases, from the tags of the block around a task and around an include
    assert [h['phase'] for h in status['hosts']['compute1']['history']] == ['maintenance', 'evacuate']
    phases = [e['action'] for e in events if e['object_id'] == 'compute1' and e['action'] != 'task']
    assert phases == ['maintenance', 'evacuate']
    evacuate = next(i for i, e in enumerate(events) if e['action'] == 'evacuate')
    assert events[evacuate + 1]['data']['task'] == 'Include the evacuation'
    unreachable = status['hosts']['compute2']
    assert (unreachable['state'], unreachable['error_code']) == ('failed', 'E_UNREACHABLE')
    assert [e['action'] for e in events if e['object_id'] == 'compute2'][-1] == 'alert'
    assert 'CAMPAIGN STATUS cb-real' in completed.stdout
    assert 'hosts: 2 (draining 1, failed 1); batches: 0/1 done; failed: compute2; alerts: 1' in completed.stdout


def test_a_run_that_ends_without_closing_the_campaign_is_not_left_running(callback, store):
    """Issue 12 item 1: an unreachable host stops the play before 'Record the end of the campaign'; the status must
    not say 'running' after ansible-playbook has exited."""
    callback._plugin_options['run_id'] = 'run-1'
    callback.v2_runner_on_unreachable(Result('compute2', Task('Upgrade'), {'msg': 'no route', 'unreachable': True}))
    callback.v2_playbook_on_stats(None)
    campaign = store.read_status()['campaign']
    assert campaign['state'] == 'failed', campaign
    assert 'run the same command again to resume' in (campaign.get('message') or '')
    assert callback._display.lines[1].startswith('Campaign c1: failed')


def test_another_run_s_campaign_is_not_closed(callback, store):
    callback._plugin_options['run_id'] = 'run-0'   # not the run the campaign records: it is someone else's
    callback.v2_playbook_on_stats(None)
    assert store.read_status()['campaign']['state'] == 'running'


def test_an_evacuation_s_event_records_how_each_instance_moved_and_its_slow_migration_policy():
    """Issue 17 point 6: the choice per instance (force-complete, abort...) reaches the campaign's events.jsonl, not
    only the module's result; nothing else of the report (candidates, attempts) is copied."""
    slow = dict(action='force_complete', action_from='server', timeout=10, timeout_from='server', live_seconds=12.5,
                sent=[dict(action='force_complete', at='2026-12-03T19:00:00Z', after=10.1, why='timeout',
                           migration_id=7)])
    instances = [dict(id='i1', name='web', project_id='p', method='live', result='moved', seconds=13.0,
                      to='compute2', candidates=['compute2', 'compute3'], attempts=[{'x': 1}], slow_migration=slow,
                      **{'from': 'compute1'}),
                 dict(id='i2', name='db', project_id='p', method='cold', result='moved', seconds=4.0, to='compute3',
                      slow_migration=None, **{'from': 'compute1'})]
    _result, _code, _message, data = campaign_status.task_event(
        'compute1', 'Evacuate the host', 'opnfv.escalator.compute_evacuate', 'changed', dict(instances=instances), 20.0)
    assert data['instances'] == [
        {'id': 'i1', 'name': 'web', 'method': 'live', 'result': 'moved', 'from': 'compute1', 'to': 'compute2',
         'seconds': 13.0, 'slow_migration': slow},
        {'id': 'i2', 'name': 'db', 'method': 'cold', 'result': 'moved', 'from': 'compute1', 'to': 'compute3',
         'seconds': 4.0}]
    # any other module's "instances" is not an evacuation report
    _result, _code, _message, data = campaign_status.task_event(
        'compute1', 'Facts', 'opnfv.escalator.compute_host_facts', 'ok', dict(instances=instances), 1.0)
    assert 'instances' not in data
