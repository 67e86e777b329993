# SPDX-License-Identifier: Apache-2.0
"""The cost figures of a campaign run (bench/costs.py), the task-log callback and the CPU of a process tree
(bench/cpu.py), from recorded task logs, rusage samples and small real process trees (no lab, no playbook)."""
import datetime
import gzip
import json
import os
import subprocess
import sys
import time
import types

from bench import campaign_bench, costs, cpu, report
from bench.callback_plugins import bench_task_log
from bench.common import iso

T0 = 1_800_000_000.0


def start(host, uid, task, module, t, tags=(), role=None):
    return json.dumps({'e': 'start', 't': T0 + t, 'host': host, 'id': uid, 'task': task, 'module': module,
                       'role': role, 'tags': list(tags)})


def end(host, uid, t, status='ok', module=None):
    return json.dumps({'e': 'end', 't': T0 + t, 'host': host, 'id': uid, 'status': status,
                       'module': module})


def escalator_log():
    """A recorded shape of Escalator's task log: two hosts in one batch, the controller's own tasks."""
    lines = [start('localhost', 'p1', 'Plan the campaign', 'opnfv.escalator.campaign_plan', 0),
             end('localhost', 'p1', 4)]
    for host, lag in (('compute2', 0.0), ('compute3', 0.5)):
        steps = [('Ask Nova', 'compute_precheck', 5, 9, 'ok'),
                 ('Wait (precheck)', 'opnfv.escalator.compute_service_wait', 9, 10, 'ok'),   # before the change
                 ('Evacuate the host', 'opnfv.escalator.compute_evacuate', 20, 40 + 5 * lag, 'changed'),
                 ('Refresh the apt index', 'ansible.builtin.apt', 50, 51, 'ok'),
                 ('Install the requested versions', 'ansible.builtin.apt', 52, 59, 'changed'),
                 ('dnf on an apt host', 'ansible.builtin.dnf', 59, 59.1, 'skipped'),
                 ('Reboot the host', 'ansible.builtin.reboot', 62, 66, 'changed'),
                 ('Wait for nova-compute', 'opnfv.escalator.compute_service_wait', 70, 73, 'ok'),
                 ('Note a fact', 'ansible.builtin.set_fact', 73, 73.1, 'ok')]
        for n, (name, module, a, b, status) in enumerate(steps):
            uid = 'u%d' % n
            lines.append(start(host, uid, name, module.rsplit('.', 1)[-1], a + lag))
            lines.append(end(host, uid, b + lag, status=status, module=module))
    return lines


def baseline_log():
    """The baseline playbook's task log for two hosts, one after the other (tags as in the playbook)."""
    lines = []
    for host, offset in (('compute1', 0), ('compute2', 40)):
        steps = [('Find the compute service', 'command', 0, 1, ['bench_phase_disable']),
                 ('Disable', 'command', 1, 2, []),
                 ('host-evacuate-live', 'command', 2, 4, ['bench_phase_evacuate', 'bench_op_evacuation']),
                 ('Wait until empty', 'command', 4, 12, ['bench_op_evacuation']),
                 ('Upgrade the host', 'include_role', 12, 12.1, ['bench_phase_upgrade']),
                 ('Install the requested versions', 'apt', 14, 20, []),
                 ('Reboot the host', 'reboot', 24, 30, []),
                 ('Wait until nova-compute reports up', 'command', 32, 34,
                  ['bench_phase_wait_up', 'bench_op_nova_compute_back']),
                 ('Enable', 'command', 34, 36, [])]
        for n, (name, module, a, b, tags) in enumerate(steps):
            lines.append(start(host, 'b%d' % n, name, module, offset + a, tags=tags))
            lines.append(end(host, 'b%d' % n, offset + b, status='changed',
                             module='ansible.builtin.' + module))
    return lines


def test_task_log_pairs_starts_and_results_and_skips_torn_lines():
    lines = escalator_log()[:6] + ['{"e": "start", "t": 1', '',
                                   start('compute2', 'x', 'killed', 'command', 99)]
    tasks = costs.read_task_log(lines)
    assert [t['task'] for t in tasks][:2] == ['Plan the campaign', 'Ask Nova']
    assert tasks[1]['module'] == 'compute_precheck' and tasks[1]['start'] == T0 + 5 and tasks[1]['end'] == T0 + 9
    assert tasks[-1]['task'] == 'killed' and tasks[-1]['end'] is None and tasks[-1]['status'] is None
    # the same task (uuid) twice on a host: results paired first in, first out
    twice = costs.read_task_log([start('h', 'a', 'A', 'command', 0), start('h', 'a', 'A', 'command', 1),
                                 end('h', 'a', 2), end('h', 'a', 5, status='failed')])
    assert [(t['start'] - T0, t['end'] - T0, t['status']) for t in twice] == [(0, 2, 'ok'), (1, 5, 'failed')]


def test_mandatory_operations_by_module_and_by_tag():
    ops = costs.operations(costs.read_task_log(escalator_log()))
    assert 'localhost' not in ops
    # evacuation 20; apt 1 + 7 (the skipped dnf task does not count); reboot 4; nova-compute back 3, the wait
    # during the precheck (before the software changed) is not this step
    assert ops['compute2'] == {'evacuation': 20.0, 'package_upgrade': 8.0, 'reboot': 4.0, 'nova_compute_back': 3.0}
    assert ops['compute3']['evacuation'] == 22.5
    base = costs.operations(costs.read_task_log(baseline_log()))
    assert base['compute1'] == {'evacuation': 10.0, 'package_upgrade': 6.0, 'reboot': 6.0, 'nova_compute_back': 2.0}


def test_lower_bound_is_the_longest_host_per_batch_summed():
    ops = {'a': {'evacuation': 20.0, 'reboot': 5.0}, 'b': {'evacuation': 30.0, 'reboot': 5.0},
           'c': {'evacuation': 0.0, 'reboot': 6.0}}
    assert costs.lower_bound([['a'], ['b', 'c']], ops) == (60.0, [25.0, 35.0])
    # serial: every host adds up
    assert costs.lower_bound([['a'], ['b'], ['c']], ops) == (66.0, [25.0, 35.0, 6.0])
    assert costs.lower_bound([['unknown']], ops) == (0.0, [0.0])


def test_task_counts_include_the_controller_and_skipped_tasks():
    tasks = costs.read_task_log(escalator_log())
    counts = costs.task_counts(tasks, ['compute2', 'compute3'])
    assert counts['total'] == 19 and counts['per_host'] == 9.5 and counts['skipped'] == 2
    assert counts['by_host'] == {'compute2': 9, 'compute3': 9, 'localhost': 1}
    top = {m: (n, s) for m, n, s in counts['top_modules']}
    assert top['apt'] == (4, 16.0) and top['compute_evacuate'] == (2, 42.5) and top['campaign_plan'] == (1, 4.0)
    assert costs.task_counts([], [])['per_host'] is None


def test_first_maintenance_and_turnarounds():
    assert costs.first_disabled_s({'b': [[T0 + 9.5, T0 + 20]], 'a': [[T0 + 31, T0 + 40]]}, T0) == 9.5
    assert costs.first_disabled_s({}, T0) is None
    phases = {'compute1': [['maintenance', T0, T0 + 2], ['evacuate', T0 + 2, T0 + 12], ['verify', T0 + 32, T0 + 36]],
              'compute2': [['precheck', T0 - 5, T0 + 40], ['maintenance', T0 + 40, T0 + 42],
                           ['verify', T0 + 70, T0 + 71]]}
    turns = costs.host_turns(phases)
    assert turns == {'compute1': [T0, T0 + 36], 'compute2': [T0 + 40, T0 + 71]}
    records = [{'source': 'compute1', 'created': T0 + 3}, {'source': 'compute2', 'created': T0 + 10}]
    out = costs.turnarounds(turns, records, {'compute1': {'evacuation': 10.0}, 'compute2': {'evacuation': 1.0}})
    assert out['empty_hosts'] == ['compute2'] and out['empty_host_s'] == 31.0
    assert out['per_host']['compute1'] == {'turnaround_s': 36.0, 'empty': False, 'without_evacuation_s': 26.0}
    assert out['without_evacuation_s'] == 28.0       # median of 26 and 30
    assert costs.turnarounds({'compute1': [T0, T0 + 36]}, records, {})['empty_host_s'] is None


def disabled(intervals):
    per_host = {h: round(sum(b - a for a, b in spans), 1) for h, spans in intervals.items()}
    return {'per_host_s': per_host, 'total_host_s': sum(per_host.values()), 'interval_s': 1.0, 'samples': 100,
            'errors': 0, 'intervals': intervals}


def escalator_status():
    def history(offset):
        return [{'ts': iso(datetime.datetime.fromtimestamp(T0 + offset + t, datetime.timezone.utc)), 'phase': p}
                for p, t in (('maintenance', 12), ('evacuate', 18), ('backup', 45), ('upgrade', 48),
                             ('verify', 68), ('notify_complete', 80))]
    return {'batches': [{'index': 1, 'hosts': ['compute2', 'compute3']}],
            'hosts': {'compute2': {'history': history(0)}, 'compute3': {'history': history(0.5)}}}


def test_measure_puts_every_cost_figure_in_the_run_for_both_methods():
    usage = {'user_s': 30.0, 'sys_s': 6.0, 'cpu_s': 36.0, 'command_s': 35.0, 'leftover_s': 1.0, 'leftovers': 2,
             'subreaper': True, 'rc': 0}
    records = [{'id': 1, 'server_id': 'a', 'type': 'live-migration', 'status': 'completed', 'source': 'compute2',
                'dest': 'compute1', 'created': T0 + 21, 'updated': T0 + 30}]
    run = campaign_bench.measure('escalator', T0, T0 + 90, records, ['a', 'b'],
                                 disabled({'compute2': [[T0 + 13.2, T0 + 80]], 'compute3': [[T0 + 13.9, T0 + 80]]}),
                                 {'vnf-a': 0.0}, 0.0, 0, costs.read_task_log(escalator_log()), usage,
                                 status=escalator_status())
    cost = run['costs']
    assert cost['hosts'] == 2 and cost['batches'] == [['compute2', 'compute3']]
    # one batch: its longest host, compute3 (evacuation 22.5 + packages 8 + reboot 4 + nova-compute 3)
    assert cost['lower_bound_s'] == 37.5 and cost['lower_bound_per_batch_s'] == [37.5]
    assert cost['wall_over_lower_bound'] == 2.4
    assert cost['cpu_per_host_s'] == 18.0 and cost['tasks']['per_host'] == 9.5
    assert cost['first_maintenance_s'] == 13.2
    assert cost['turnaround']['empty_hosts'] == ['compute3'] and cost['turnaround']['empty_host_s'] == 68.0
    assert run['timeline']['lower_bound_s'] == 37.5
    json.dumps(run)

    base = campaign_bench.measure('baseline', T0, T0 + 80, [], ['a'], disabled({'compute1': [[T0 + 1.5, T0 + 36]]}),
                                  {'vnf-a': 0.0}, 0.0, 0, costs.read_task_log(baseline_log()), None)
    assert base['costs']['batches'] == [['compute1'], ['compute2']]
    assert base['costs']['lower_bound_s'] == 48.0 and base['costs']['cpu_per_host_s'] is None
    assert [s[0] for s in base['timeline']['hosts']['compute2']] == ['maintenance', 'evacuate', 'upgrade', 'verify']
    assert base['timeline']['hosts']['compute2'][-1][2] == 76.0       # its last result ends its turn
    assert base['costs']['turnaround']['per_host']['compute1']['turnaround_s'] == 36.0

    summary = campaign_bench.summarise([dict(run, ok=True), dict(base, ok=True)])
    assert summary['escalator']['cpu_per_host_s']['median'] == 18.0
    assert summary['baseline']['lower_bound_s']['median'] == 48.0
    table = report.campaign_table({'summary': summary})
    for label in ('lower bound of the method', 'wall time / lower bound', 'controller CPU per host',
                  'task executions per host', 'first host in maintenance', "an empty host's turnaround",
                  'host turnaround less its evacuation'):
        assert label in table, label
    assert 'campaign, 2 hosts' in table
    # runs recorded before the costs existed still summarise and render
    old = dict(run, ok=True)
    del old['costs']
    assert campaign_bench.summarise([old])['escalator']['cpu_per_host_s'] is None


def test_usage_from_a_recorded_rusage_sample():
    sample = types.SimpleNamespace(ru_utime=12.3456, ru_stime=2.5)
    assert cpu.usage_dict(sample) == {'user_s': 12.346, 'sys_s': 2.5, 'cpu_s': 14.846}


BURN = 'import time\nt = time.process_time()\nwhile time.process_time() - t < %s:\n    pass\n'
TREE = '''
import os, subprocess, sys, time
subprocess.run([sys.executable, "-c", %r], check=True)          # a child the command reaps
if os.fork() == 0:                                              # a detached grandchild (like ssh ControlPersist)
    os.setsid()
    if os.fork() == 0:
        exec(%r)
        time.sleep(300)
    os._exit(0)
os.wait()
time.sleep(1.0)
exec(%r)
sys.exit(3)
'''


def test_cpu_of_a_process_tree_counts_reaped_and_detached_descendants(tmp_path):
    script = TREE % (BURN % 0.4, BURN % 0.5, BURN % 0.3)
    started = time.monotonic()
    rc, usage = cpu.run([sys.executable, '-c', script], str(tmp_path / 'cpu.json'), timeout=120)
    assert rc == 3 and usage['rc'] == 3 and usage['subreaper'] is True
    # 0.3 + 0.4 + 0.5 CPU-s burnt, plus three interpreters' start-up
    assert usage['cpu_s'] >= 1.2 and abs(usage['cpu_s'] - usage['user_s'] - usage['sys_s']) < 0.002
    # the detached one was ended with the run (not left sleeping 300 s) and counted
    assert usage['leftovers'] == 1 and usage['leftover_s'] >= 0.5
    assert time.monotonic() - started < 60


def test_cpu_run_stops_a_command_that_overruns(tmp_path):
    rc, usage = cpu.run([sys.executable, '-c', 'import time; time.sleep(300)'], str(tmp_path / 'cpu.json'),
                        timeout=1)
    assert rc == -1 and usage is not None and usage['rc'] != 0


class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


def test_the_task_log_callback_writes_what_costs_reads(tmp_path, monkeypatch):
    path = tmp_path / 'tasks.jsonl'
    monkeypatch.setenv('BENCH_TASK_LOG', str(path))
    callback = bench_task_log.CallbackModule()
    role = types.SimpleNamespace(get_name=lambda: 'opnfv.escalator.upgrade')
    task = types.SimpleNamespace(_uuid='t-1', action='reboot', resolved_action='ansible.builtin.reboot', _role=role,
                                 tags=['always', 'bench_op_reboot'], get_name=lambda: 'Reboot the host')
    host = FakeHost('compute1')
    callback.v2_runner_on_start(host, task)
    callback.v2_runner_on_start(FakeHost('compute2'), task)
    callback.v2_runner_on_ok(types.SimpleNamespace(host=host, task=task, result={'changed': True}))
    callback.v2_runner_on_skipped(types.SimpleNamespace(host=FakeHost('compute2'), task=task, result={}))
    callback.v2_playbook_on_stats(None)
    tasks = costs.read_task_log(path.read_text().splitlines())
    assert [(t['host'], t['status'], t['module'], t['role'], t['tags']) for t in tasks] == [
        ('compute1', 'changed', 'ansible.builtin.reboot', 'opnfv.escalator.upgrade', ['bench_op_reboot']),
        ('compute2', 'skipped', 'ansible.builtin.reboot', 'opnfv.escalator.upgrade', ['bench_op_reboot'])]
    assert costs.operations(tasks)['compute1']['reboot'] >= 0
    # without BENCH_TASK_LOG it writes nothing
    monkeypatch.delenv('BENCH_TASK_LOG')
    quiet = bench_task_log.CallbackModule()
    quiet.v2_runner_on_start(host, task)
    assert len(path.read_text().splitlines()) == 4


def test_the_callback_loads_without_being_enabled():
    # ansible-core loads a callback from ANSIBLE_CALLBACK_PLUGINS without callbacks_enabled only when it says so
    assert bench_task_log.CallbackModule.CALLBACK_NEEDS_ENABLED is False
    assert bench_task_log.CallbackModule.CALLBACK_TYPE == 'aggregate'
    assert os.path.dirname(bench_task_log.__file__) == campaign_bench.CALLBACKS


PROBE_CALLBACKS = '''
import json, os
from ansible import constants as C
from ansible.plugins.loader import callback_loader, init_plugin_loader
init_plugin_loader()
# the choice TaskQueueManager.load_callbacks makes (ansible-core 2.19), without running anything
enabled = list(C.CALLBACKS_ENABLED or [])
plugins = {p.ansible_name: p for p in callback_loader.all(class_only=True)}
for name in enabled:
    plugin = callback_loader.get(name, class_only=True)    # raises on an empty name
    plugins.setdefault(plugin.ansible_name, plugin)
active = []
for plugin in plugins.values():
    if getattr(plugin, 'CALLBACK_TYPE', '') == 'stdout':
        continue
    names = getattr(plugin, '_redirected_names', []) or [os.path.splitext(os.path.basename(plugin._original_path))[0]]
    if getattr(plugin, 'CALLBACK_NEEDS_ENABLED', False) and names[0] not in enabled:
        continue
    active.append(plugin.ansible_name)
print(json.dumps(sorted(active)))
'''


def test_both_methods_load_the_task_log_and_only_escalator_its_status_callback(tmp_path):
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text('clouds:\n  lab:\n    auth:\n      auth_url: http://10.213.0.1:5000/v3\n      username: admin\n'
                      '      password: secret\n      project_name: admin\n')
    lab_env = {'OS_CLIENT_CONFIG_FILE': str(clouds), 'OS_CLOUD': 'lab'}
    seen = {}
    for method in campaign_bench.METHODS:
        env = campaign_bench.playbook_env(method, lab_env, str(tmp_path / 'state'), str(tmp_path / 'tasks.jsonl'),
                                          str(tmp_path / 'cp'))
        assert env['BENCH_TASK_LOG'] == str(tmp_path / 'tasks.jsonl') and env['ANSIBLE_SSH_CONTROL_PATH_DIR']
        # ansible-core's own configuration and loader, as ansible-playbook reads them in playbooks/ (no play runs)
        proc = subprocess.run([sys.executable, '-c', PROBE_CALLBACKS], cwd=campaign_bench.PLAYBOOKS, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        seen[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    # the task log once in each (not twice: a duplicate would count every task twice)
    assert seen == {'escalator': ['bench_task_log', 'opnfv.escalator.campaign_status'], 'baseline': ['bench_task_log']}
    assert env['OS_AUTH_URL'] == 'http://10.213.0.1:5000/v3' and 'OS_CLOUD' not in env


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')


def recorded(name):
    with gzip.open(os.path.join(DATA, name), 'rt', encoding='utf-8') as handle:
        return handle.read()


def test_cost_figures_from_task_logs_recorded_on_the_lab():
    """Both methods' task logs of one quick bench run on the lab (tests/bench/data/README.md): every host has its
    four operations found, and the figures are those the bench reported for that run."""
    esc_tasks = costs.read_task_log(recorded('lab-escalator.tasks.jsonl.gz').splitlines())
    status = json.loads(recorded('lab-escalator.status.json.gz'))
    with open(os.path.join(DATA, 'lab-escalator.cpu.json'), encoding='utf-8') as handle:
        esc_cpu = json.load(handle)
    phases = campaign_bench.escalator_phases(status)
    hosts = sorted(phases)
    esc = costs.run_costs(campaign_bench.escalator_batches(status), phases, esc_tasks, [], {}, 0, 472.7, esc_cpu,
                          hosts)
    assert esc['batches'] == [['compute4'], ['compute2', 'compute3'], ['compute1']]
    assert esc['operations_found'] == {op: 4 for op in costs.OPERATIONS}
    assert esc['lower_bound_per_batch_s'] == [29.31, 49.2, 57.15] and esc['lower_bound_s'] == 135.7
    assert esc['operations']['compute1'] == {'evacuation': 39.06, 'package_upgrade': 9.9, 'reboot': 4.28,
                                             'nova_compute_back': 3.91}
    assert esc['tasks']['total'] == 689 and esc['tasks']['per_host'] == 172.2
    assert esc['tasks']['by_host']['localhost'] == 18
    assert esc['cpu_per_host_s'] == 27.34 and esc['cpu']['leftover_s'] > 0      # the ssh masters were counted

    base_tasks = costs.read_task_log(recorded('lab-baseline.tasks.jsonl.gz').splitlines())
    with open(os.path.join(DATA, 'lab-baseline.cpu.json'), encoding='utf-8') as handle:
        base_cpu = json.load(handle)
    phases = campaign_bench.baseline_phases(base_tasks)
    assert [s[0] for s in phases['compute1']] == ['maintenance', 'evacuate', 'upgrade', 'verify']
    base = costs.run_costs(campaign_bench.baseline_batches(phases), phases, base_tasks, [], {}, 0, 313.4, base_cpu,
                           sorted(phases))
    assert base['batches'] == [['compute1'], ['compute2'], ['compute3'], ['compute4']]
    assert base['operations_found'] == {op: 4 for op in costs.OPERATIONS}
    assert base['lower_bound_s'] == 222.2 and base['wall_over_lower_bound'] == 1.41
    assert base['tasks']['per_host'] == 59.0 and base['cpu_per_host_s'] == 17.77
    assert base['turnaround']['per_host']['compute2']['turnaround_s'] == 70.7
