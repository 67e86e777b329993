# SPDX-License-Identifier: Apache-2.0
"""The compact stdout callback opnfv.escalator.campaign: stand-in results, and a real playbook run (issue 16)."""

from __future__ import annotations

import copy
import textwrap

import pytest

from ansible_collections.opnfv.escalator.plugins.callback import campaign
from ansible_collections.opnfv.escalator.plugins.module_utils import state
from ansible_collections.opnfv.escalator.tests.unit import pushgateway
from ansible_collections.opnfv.escalator.tests.unit.callback_standins import Host, Play, Task


class Result:
    """What a stdout callback receives from ansible-core 2.19: .host, .task, .result."""

    def __init__(self, host, task, data):
        self.host = Host(host)
        self.task = task
        self.result = data
        self.task_name = task.name


class Display:
    def __init__(self, verbosity=0):
        self.lines = []
        self.verbosity = verbosity

    def display(self, text, **kwargs):
        self.lines.extend(str(text).splitlines())

    def banner(self, text, **kwargs):
        self.lines.append('BANNER ' + text)

    def warning(self, text, **kwargs):
        self.lines.append('WARNING ' + text)

    def deprecated(self, *args, **kwargs):
        pass


def view(verbosity=0):
    plugin = campaign.CallbackModule()
    plugin._display = Display(verbosity)
    plugin.set_options()
    return plugin


def text(plugin):
    """The printed lines without their elapsed-time prefix."""
    return [line[line.index('] ') + 2:] if line.startswith('[') else line for line in plugin._display.lines]


def status(states, batch_states, run='r1', campaign_state='running'):
    hosts = {}
    for name, (host_state, batch) in states.items():
        record = state.new_host(batch)
        record.update(state=host_state, run=run)
        if host_state == 'done':
            record.update(started='2026-01-01T10:00:00.000Z', finished='2026-01-01T10:01:10.000Z')
        if host_state in ('failed', 'rolled_back'):
            record.update(error_code='E_UPGRADE', message='apt-get install failed')
        hosts[name] = record
    batches = [dict(index=index + 1, hosts=names, canary=index == 0, state=batch_state)
               for index, (names, batch_state) in enumerate(batch_states)]
    return {'format': state.STATUS_FORMAT,
            'campaign': dict(id='c1', state=campaign_state, run=run, runs=[run], started='2026-01-01T10:00:00.000Z',
                             updated=None, finished=None, alerts=0, message=None),
            'batches': batches, 'hosts': hosts}


def state_result(host, data_status, action='opnfv.escalator.campaign_state'):
    return Result(host, Task('Record', action=action), dict(changed=True, status=copy.deepcopy(data_status)))


def test_phase_changes_batches_host_endings_and_progress():
    plugin = view()
    plugin.v2_playbook_on_play_start(Play('Escalator | upgrade batch by batch'))
    start = status({'compute1': ('pending', 1), 'compute2': ('pending', 2), 'compute3': ('pending', 2)},
                   [(['compute1'], 'pending'), (['compute2', 'compute3'], 'pending')])
    plugin.v2_runner_on_ok(state_result('localhost', start))
    for tag in ('maintenance', 'maintenance', 'evacuate', 'backup', 'upgrade', 'verify', 'release'):
        plugin.v2_runner_on_start(Host('compute1'), Task('a task', tags=['always', tag]))
    plugin.v2_runner_on_start(Host('compute1'), Task('no phase'))
    done = status({'compute1': ('done', 1), 'compute2': ('pending', 2), 'compute3': ('pending', 2)},
                  [(['compute1'], 'done'), (['compute2', 'compute3'], 'pending')])
    plugin.v2_runner_on_ok(state_result('compute1', done))
    plugin.v2_runner_on_start(Host('compute1'), Task('alert if the VNFMs were not told', tags=['release']))
    plugin.v2_runner_on_start(Host('compute2'), Task('enter', tags=['maintenance']))
    plugin.v2_runner_on_start(Host('compute3'), Task('enter', tags=['maintenance']))
    plugin.v2_runner_on_failed(Result('compute2', Task('Upgrade the host', tags=['upgrade']),
                                      dict(failed=True, error_code='E_UPGRADE', msg='apt-get install failed')))
    plugin.v2_runner_on_start(Host('compute2'), Task('roll back', tags=['rollback']))
    end = status({'compute1': ('done', 1), 'compute2': ('rolled_back', 2), 'compute3': ('done', 2)},
                 [(['compute1'], 'done'), (['compute2', 'compute3'], 'failed')])
    plugin.v2_runner_on_ok(state_result('compute2', end))
    assert text(plugin) == [
        'PLAY [Escalator | upgrade batch by batch]',
        'campaign c1, run r1: 3 hosts in 2 batches',
        'batch 1/2 (canary): compute1',
        'compute1   maintenance',
        'compute1   evacuate',
        'compute1   backup',
        'compute1   upgrade',
        'compute1   verify',
        'compute1   release',
        'compute1   done in 0:01:10',
        'batch 1/2 done; hosts 1/3 done, 0 failed; batches 1/2 done',
        'batch 2/2: compute2, compute3',
        'compute2   maintenance',
        'compute3   maintenance',
        "compute2   FAILED in 'Upgrade the host': E_UPGRADE: apt-get install failed",
        'compute2   rollback',
        'compute2   ROLLED BACK - E_UPGRADE: apt-get install failed',
        'compute3   done in 0:01:10',
        'batch 2/2 failed; hosts 2/3 done, 1 failed; batches 1/2 done',
    ]
    assert all(line.startswith('[0:00:0') for line in plugin._display.lines[1:])


def test_a_resumed_run_says_what_is_already_done_and_ignores_earlier_runs_states():
    plugin = view()
    earlier = status({'compute1': ('done', 1), 'compute2': ('failed', 2)}, [(['compute1'], 'done'), (['compute2'], 'failed')],
                     run='r0', campaign_state='failed')
    plugin.v2_runner_on_ok(state_result('localhost', earlier, action='opnfv.escalator.campaign_state_info'))
    resumed = status({'compute1': ('done', 1), 'compute2': ('pending', 2)}, [(['compute1'], 'done'), (['compute2'], 'pending')],
                     run='r1')
    plugin.v2_runner_on_ok(state_result('localhost', resumed))
    assert text(plugin) == ['campaign c1, run r1: 2 hosts in 2 batches; 1 already done']


def test_failures_are_shown_with_their_message_not_ignored_ones_nor_no_log_content():
    plugin = view()
    task = Task('Check', action='ansible.builtin.assert')
    plugin.v2_runner_on_failed(Result('compute1', task, dict(failed=True, msg='ignored one')), ignore_errors=True)
    plugin.v2_runner_on_failed(Result('compute1', task, dict(failed=True, msg='password=hunter2', _ansible_no_log=True)))
    loop = dict(failed=True, msg='One or more items failed', results=[
        dict(failed=False, msg='fine'), dict(failed=True, msg='item two broke', error_code='E_ITEM')])
    plugin.v2_runner_on_failed(Result('compute2', task, loop))
    plugin.v2_runner_on_failed(Result('compute3', task, dict(failed=True, rc=1, stderr='no such file\nsecond line')))
    plugin.v2_runner_on_unreachable(Result('compute4', task, dict(unreachable=True, msg='Connection refused')))
    assert text(plugin) == [
        "compute1   FAILED in 'Check': output hidden (no_log)",
        "compute2   FAILED in 'Check': E_ITEM: item two broke",
        "compute3   FAILED in 'Check': no such file",
        ' ' * 21 + 'second line',
        "compute4   UNREACHABLE in 'Check': Connection refused",
    ]
    assert 'hunter2' not in '\n'.join(plugin._display.lines)


def test_debug_messages_are_shown_once_and_the_closing_status_table_is_left_to_campaign_status():
    plugin = view()
    plan = ['BATCH  HOSTS', '1*     compute1']
    plugin.v2_runner_on_ok(Result('localhost', Task('Show the plan', action='ansible.builtin.debug'), dict(msg=plan)))
    table = state.render_table(status({'compute1': ('done', 1)}, [(['compute1'], 'done')]))
    plugin.v2_runner_on_ok(Result('localhost', Task('Show the status table', action='ansible.builtin.debug'),
                                  dict(msg=table.splitlines())))
    plugin.v2_runner_on_ok(Result('localhost', Task('quiet', action='ansible.builtin.set_fact'), dict(x=1)))
    plugin.v2_runner_on_ok(Result('localhost', Task('Run', action='ansible.builtin.command'), dict(changed=True)))
    plugin.v2_runner_on_skipped(Result('localhost', Task('Skip', action='ansible.builtin.command'), dict(skipped=True)))
    assert plugin._display.lines == plan


def test_verbose_is_the_default_callback():
    plugin = view(verbosity=1)
    plugin.v2_playbook_on_play_start(type('P', (), dict(get_name=lambda self: 'a play', check_mode=False))())
    assert any('PLAY [a play]' in line for line in plugin._display.lines)


def test_the_view_phases_are_the_playbooks_phase_tags_in_campaign_order():
    assert campaign.VIEW_PHASES == ('precheck', 'maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify',
                                    'release', 'enable', 'notify_complete', 'rollback')
    assert campaign.view_phase_of(Task('t', tags=['always', 'upgrade', 'rollback'])) == 'rollback'
    assert campaign.view_phase_of(Task('t', tags=['plan'])) is None


PLAYBOOK = textwrap.dedent('''\
    - name: Start the campaign
      hosts: localhost
      gather_facts: false
      vars:
        escalator_campaign_id: cv-real
        escalator_state_dir: "{{ state_dir }}"
      tasks:
        - name: Record the start
          opnfv.escalator.campaign_state:
            campaign_id: cv-real
            state_dir: "{{ escalator_state_dir }}"
            run_id: run-real
            action: start
            plan: {batches: [[compute1], [compute2]]}
        - name: Show the plan
          ansible.builtin.debug:
            msg: ["PLAN LINE 1", "PLAN LINE 2"]

    - name: Work on the hosts
      hosts: computes
      serial: 1
      gather_facts: false
      vars:
        escalator_campaign_id: cv-real
        escalator_state_dir: "{{ state_dir }}"
      tasks:
        - name: Read the campaign
          opnfv.escalator.campaign_state_info:
            campaign_id: cv-real
            state_dir: "{{ escalator_state_dir }}"
          delegate_to: localhost
          run_once: true
        - name: Maintenance
          tags: maintenance
          block:
            - name: Enter maintenance
              ansible.builtin.command: "true"
        - name: Upgrade
          tags: upgrade
          block:
            - name: Upgrade the host
              ansible.builtin.command: "{{ 'false' if inventory_hostname == 'compute2' else 'true' }}"
        - name: Verify
          tags: verify
          block:
            - name: Record done
              opnfv.escalator.campaign_state:
                campaign_id: cv-real
                state_dir: "{{ escalator_state_dir }}"
                run_id: run-real
                action: host
                host: "{{ inventory_hostname }}"
                state: done
                phase: verify
              delegate_to: localhost
    ''')


@pytest.fixture
def run_playbook(ansible_playbook):
    """The playbook above with both callbacks: run(workdir, *ansible-playbook arguments, inventory_vars='')."""
    def run(workdir, *extra, inventory_vars=''):
        return ansible_playbook(workdir, PLAYBOOK, *extra, inventory_vars=inventory_vars,
                                ANSIBLE_CALLBACKS_ENABLED='opnfv.escalator.campaign_status',
                                ANSIBLE_STDOUT_CALLBACK='opnfv.escalator.campaign')
    return run


def test_a_real_playbook_prints_the_compact_view_and_the_default_one_with_v(tmp_path, run_playbook):
    completed = run_playbook(tmp_path)
    output = completed.stdout
    assert completed.returncode == 2, output + completed.stderr
    lines = [line[line.index('] ') + 2:] if line.startswith('[') else line for line in output.splitlines()]
    expected = ['campaign cv-real, run run-real: 2 hosts in 2 batches', 'PLAN LINE 1', 'PLAN LINE 2', 'PLAY [Work on the hosts]',
                'batch 1/2: compute1', 'compute1   maintenance', 'compute1   upgrade', 'compute1   verify',
                'compute1   done',
                'batch 1/2 done; hosts 1/2 done, 0 failed; batches 1/2 done',
                'batch 2/2: compute2', 'compute2   maintenance', 'compute2   upgrade']
    positions = [next((i for i, line in enumerate(lines) if line.startswith(want)), None) for want in expected]
    assert None not in positions and positions == sorted(positions), (expected, output)
    assert any(line.startswith("compute2   FAILED in 'Upgrade the host': non-zero return code") for line in lines), output
    assert 'TASK [' not in output and 'ok: [' not in output
    assert 'PLAY RECAP' in output and 'CAMPAIGN STATUS cv-real' in output
    assert output.index('PLAY RECAP') < output.index('CAMPAIGN STATUS cv-real')
    assert output.count('PLAY [Work on the hosts]') == 1, output       # one header, although a play per serial batch
    assert len(output.splitlines()) < 40, output

    (tmp_path / 'again').mkdir()
    verbose = run_playbook(tmp_path / 'again', '-v')
    assert 'TASK [Enter maintenance]' in verbose.stdout and 'changed: [compute1]' in verbose.stdout, verbose.stdout


@pytest.mark.skipif(not pushgateway.available(), reason='prometheus-pushgateway is not installed (scripts/setup)')
def test_the_status_callback_pushes_the_campaign_s_metrics_and_writes_the_textfile(tmp_path, run_playbook):
    """The Pushgateway URL (with basic auth) from the inventory's vars, the textfile from an extra var: after the
    run both hold the campaign's last state; the credentials appear nowhere in the output or the state files."""
    textfile = tmp_path / 'escalator.prom'
    with pushgateway.running(tmp_path) as gateway:
        completed = run_playbook(tmp_path, '-e', 'escalator_metrics_textfile=%s' % textfile,
                                 inventory_vars='escalator_metrics_pushgateway_url=%s\n' % gateway.url_with_credentials)
        assert completed.returncode == 2, completed.stdout + completed.stderr
        assert gateway.value('cv-real', 'escalator_campaign_state', state='incomplete') == 1
        assert gateway.value('cv-real', 'escalator_hosts', state='done') == 1
        assert gateway.value('cv-real', 'escalator_hosts', state='upgrading') == 1
        assert gateway.value('cv-real', 'escalator_batches_done') == 1
        assert gateway.value('cv-real', 'escalator_task_failures_total', error_code='none') == 1
        assert gateway.value('cv-real', 'escalator_phase_duration_seconds_count', phase='maintenance') == 2
        assert gateway.value('cv-real', 'escalator_campaign_finished_timestamp_seconds') is not None
    prom = textfile.read_text(encoding='utf-8')
    assert 'escalator_hosts{campaign="cv-real",state="done"} 1' in prom
    assert 'escalator_campaign_state{campaign="cv-real",state="incomplete"} 1' in prom
    leaked = [str(path) for path in tmp_path.rglob('*') if path.is_file() and path.name != 'inventory.ini'
              and pushgateway.PASSWORD in path.read_text(encoding='utf-8', errors='replace')]
    assert not leaked and pushgateway.PASSWORD not in completed.stdout + completed.stderr
    assert 'WARNING' not in completed.stdout + completed.stderr, completed.stdout + completed.stderr


def test_a_dead_pushgateway_is_a_warning_and_the_campaign_goes_on(tmp_path, run_playbook):
    completed = run_playbook(tmp_path, '-e', 'escalator_metrics_pushgateway_url=http://u:dead-s3cret@127.0.0.1:%d'
                             % pushgateway.free_port())
    output = completed.stdout + completed.stderr
    assert completed.returncode == 2, output                     # compute2's own failure, nothing more
    assert 'compute1   done' in output
    assert 'cannot push the metrics to the Pushgateway http://127.0.0.1:' in output
    assert 'no more pushes in this run' in output and 'dead-s3cret' not in output
