# SPDX-License-Identifier: Apache-2.0
"""Whole campaigns on the lab, Escalator against the operator's serial host-evacuate-live, interleaved.

Every repetition starts from `lab reset` (hosts at 1.0, the seeded workloads). Around each run the bench
starts the outage probe (and, for Escalator, the sample VNFM) and polls the compute services itself.
Measured the same way for both methods (docs/benchmarks.md):
  wall time          the playbook's run, from its start to its exit
  migrations         Nova's migration records created during the run (live / cold), per instance max and mean
                     over every server of the cloud
  outage             per VNF pair, from the probe's summary
  disabled time      per host, from the bench's own polling of the nova-compute services (1 s)
  mandatory time     union of the migrations' intervals (record created_at -> updated_at) and of the hosts'
                     upgrade steps (package upgrade + restart + reboot)
  overhead           wall time - mandatory time
  costs              (bench/costs.py) the plan's lower bound and the ratio to it, controller CPU-seconds per host
                     (bench/cpu.py: the ansible-playbook process tree), task executions per host, first host in
                     maintenance, hosts' turnaround (an empty host's), from the bench's task log
                     (bench/callback_plugins/bench_task_log.py, loaded into both methods' ansible-playbook)
"""
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time

from bench import costs, cpu, labkit, packets as packet_probe
from bench.common import REPO, VENV_BIN, BenchError, covered, iso, merge_intervals, parse_ts, spread, utcnow

PLAYBOOKS = os.path.join(REPO, 'playbooks')
BASELINE = os.path.join(REPO, 'bench', 'baseline', 'serial-host-evacuate-live.yml')
CALLBACKS = os.path.join(REPO, 'bench', 'callback_plugins')
TASK_LOG_CALLBACK = 'bench_task_log'
METHODS = ('escalator', 'baseline')
LABELS = {'escalator': 'Escalator (planner, automatic batches, VNFM)',
          'baseline': 'serial nova host-evacuate-live'}
# the phases of both methods, in the colour classes of the timeline plot
ESCALATOR_PHASES = {'maintenance': 'maintenance', 'evacuate': 'evacuate', 'backup': 'backup',
                    'upgrade': 'upgrade', 'verify': 'verify'}
BASELINE_PHASES = {'disable': 'maintenance', 'evacuate': 'evacuate', 'upgrade': 'upgrade', 'wait_up': 'verify'}
# the baseline playbook tags the first task of each phase bench_phase_<phase>; its host's last result ends it
PHASE_TAG = 'bench_phase_'
TIMEOUT = 1800


def escalator_command(campaign_id, max_batch_size='auto'):
    return [os.path.join(VENV_BIN, 'ansible-playbook'), 'upgrade-compute.yml', '-e',
            'escalator_campaign_id=%s' % campaign_id, '-e', 'escalator_confirm=false',
            '-e', 'escalator_max_batch_size=%s' % max_batch_size]


def baseline_command(run_id):
    return [os.path.join(VENV_BIN, 'ansible-playbook'), BASELINE, '-e', 'bench_run=%s' % run_id]


def escalator_phases(status):
    """{host: [[class, start, end], ...]} from a campaign's status.json (the hosts' phase history)."""
    out = {}
    for host, record in sorted((status.get('hosts') or {}).items()):
        marks = [(parse_ts(h['ts']), h.get('phase')) for h in record.get('history') or []]
        marks.sort(key=lambda m: m[0])
        spans = []
        for (start, phase), (end, _next) in zip(marks, marks[1:]):
            if phase in ESCALATOR_PHASES:
                spans.append([ESCALATOR_PHASES[phase], start, end])
        out[host] = spans
    return out


def escalator_batches(status):
    """The plan's batches (lists of hosts) from a campaign's status.json."""
    return [list(b.get('hosts') or []) for b in status.get('batches') or []]


def baseline_phases(tasks):
    """{host: [[class, start, end], ...]} from the bench's task log of the baseline playbook: a phase starts with
    the first task tagged bench_phase_<phase>, the host's turn ends with its last task's result."""
    out = {}
    for host in sorted({t['host'] for t in tasks}):
        mine = [t for t in tasks if t['host'] == host]
        marks = {}
        for task in mine:
            for tag in task['tags']:
                phase = tag[len(PHASE_TAG):] if tag.startswith(PHASE_TAG) else None
                if phase in BASELINE_PHASES and phase not in marks:
                    marks[phase] = task['start']
        ends = [t['end'] for t in mine if t['end'] is not None]
        items = sorted((ts, phase) for phase, ts in marks.items())
        if ends:
            items.append((max(ends), 'done'))
        out[host] = [[BASELINE_PHASES[phase], start, end] for (start, phase), (end, _n) in zip(items, items[1:])]
    return out


def baseline_batches(phases):
    """One host per batch, in the order the hosts started."""
    return [[h] for h, spans in sorted(phases.items(), key=lambda item: min([s[1] for s in item[1]] or [0]))
            if spans]


def figures(method, start, end, phases, records, instance_ids, disabled, outage, unknown, rc, run_costs=None):
    """One run's figures (JSON-ready); times relative to the run's start where they are intervals. `run_costs`:
    bench.costs.run_costs of the run (kept under 'costs'; its lower bound is drawn on the timeline)."""
    migrations = labkit.migration_figures(records, instance_ids)
    upgrade = [[a, b] for spans in phases.values() for cls, a, b in spans if cls == 'upgrade']
    migrating = labkit.migration_intervals(records)
    mandatory = covered(migrating + upgrade, start, end)
    wall = end - start
    return {
        'method': method,
        'rc': rc,
        'ok': rc == 0,
        'started': iso(datetime.datetime.fromtimestamp(start, datetime.timezone.utc)),
        'wall_s': round(wall, 1),
        'migrations': migrations,
        'outage_s': outage,
        'outage_total_s': round(sum(v or 0 for v in outage.values()), 1),
        'probe_unknown_s': unknown,
        'disabled': {k: disabled[k] for k in ('per_host_s', 'total_host_s', 'interval_s', 'samples', 'errors')},
        'disabled_max_host_s': max(disabled['per_host_s'].values()) if disabled['per_host_s'] else 0,
        'migrating_s': round(covered(migrating, start, end), 1),
        'upgrading_s': round(covered(upgrade, start, end), 1),
        'mandatory_s': round(mandatory, 1),
        'overhead_s': round(wall - mandatory, 1),
        'overhead_fraction': round((wall - mandatory) / wall, 3) if wall else None,
        'timeline': {
            'hosts': {host: [[cls, round(a - start, 2), round(b - start, 2)] for cls, a, b in spans]
                      for host, spans in phases.items()},
            'disabled': {host: [[round(a - start, 2), round(b - start, 2)] for a, b in spans]
                         for host, spans in disabled['intervals'].items()},
            'migrations': [[r['server_id'], r['type'], round(r['created'] - start, 2), round(r['updated'] - start, 2)]
                           for r in records if r['created'] and r['updated']],
            'mandatory': [[round(a - start, 2), round(b - start, 2)]
                          for a, b in merge_intervals(migrating + upgrade)],
            'lower_bound_s': (run_costs or {}).get('lower_bound_s'),
        },
        'costs': run_costs,
    }


def measure(method, start, end, records, instance_ids, disabled, outage, unknown, rc, tasks, cpu_usage, status=None):
    """Every figure of one run from what was recorded: Nova's migration records, the service poller's result,
    the probe's outage, the bench's task log (bench.costs.read_task_log), the CPU usage of the playbook's
    process tree (bench.cpu) and, for Escalator, its campaign's status.json."""
    if method == 'escalator':
        phases = escalator_phases(status or {})
        batches = escalator_batches(status or {})
    else:
        phases = baseline_phases(tasks)
        batches = baseline_batches(phases)
    hosts = sorted(h for h, spans in phases.items() if spans)
    run_costs = costs.run_costs(batches, phases, tasks, records, disabled['intervals'], start, end - start,
                                cpu_usage, hosts)
    result = figures(method, start, end, phases, records, instance_ids, disabled, outage, unknown, rc,
                     run_costs=run_costs)
    result['batches'] = [len(b) for b in batches]
    return result


def check_upgraded():
    """Hosts at 2.0 and every nova-compute enabled; a list of what is not."""
    status = json.loads(labkit.lab('status', '--json', timeout=120))
    problems = []
    for host in status['hosts']:
        if set((host.get('packages') or {}).values()) != {'2.0'}:
            problems.append('%s packages %s' % (host['host'], host.get('packages')))
        if (host.get('nova_compute') or {}).get('status') != 'enabled':
            problems.append('%s nova-compute %s' % (host['host'], (host.get('nova_compute') or {}).get('status')))
    return problems


def playbook_env(method, env, state_dir, task_log, control_dir, base=None):
    """The environment of one method's ansible-playbook: the lab's cloud (the nova CLI's OS_* variables for the
    baseline), the bench's task log callback, private ssh control sockets."""
    base = dict(os.environ if base is None else base)
    if method == 'escalator':
        child_env = dict(base, OS_CLIENT_CONFIG_FILE=env['OS_CLIENT_CONFIG_FILE'], OS_CLOUD=env['OS_CLOUD'])
    else:
        child_env = labkit.nova_cli_env(env, base=base)
        # the hand-run flow records no campaign: only the task log, not Escalator's status callback (enabled by
        # playbooks/ansible.cfg); an empty list is not allowed (ansible-core: "a non-empty plugin name is required")
        child_env['ANSIBLE_CALLBACKS_ENABLED'] = TASK_LOG_CALLBACK
    child_env.update(ESCALATOR_STATE_DIR=state_dir, ANSIBLE_FORCE_COLOR='0', ANSIBLE_DEPRECATION_WARNINGS='False',
                     PATH=VENV_BIN + os.pathsep + child_env.get('PATH', ''), BENCH_TASK_LOG=task_log,
                     ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    return child_env


def run_once(method, index, env, conn, work_dir, log=print, max_batch_size='auto'):
    """Reset the lab, run one campaign of `method`, return its figures."""
    t_reset = time.monotonic()
    labkit.lab('reset', timeout=900)
    log('campaign %s #%d: lab reset in %.0fs' % (method, index, time.monotonic() - t_reset))
    run_id = 'bench-%s-%d-%s' % (method, index, utcnow().strftime('%H%M%S'))
    run_dir = os.path.join(work_dir, run_id)
    os.makedirs(run_dir, exist_ok=True)
    helpers = labkit.Helpers(env, run_dir, vnfm=(method == 'escalator'))
    state_dir = os.path.join(run_dir, 'campaigns')
    task_log = os.path.join(run_dir, 'tasks.jsonl')
    cmd = escalator_command(run_id, max_batch_size) if method == 'escalator' else baseline_command(run_id)
    # private ssh control sockets: the run opens (and pays for) its own connections to the hosts, and bench.cpu
    # ends them with the run (a short directory: a socket path has at most 108 bytes)
    control_dir = tempfile.mkdtemp(prefix='bench-cp-')
    child_env = playbook_env(method, env, state_dir, task_log, control_dir)
    helpers.start()
    poller = labkit.ServicePoller(conn).start()
    since = iso(utcnow())
    start = time.time()
    try:
        with open(os.path.join(run_dir, 'playbook.log'), 'w', encoding='utf-8') as out:
            rc, cpu_usage = cpu.run(cmd, os.path.join(run_dir, 'cpu.json'), TIMEOUT, cwd=PLAYBOOKS, env=child_env,
                                    stdout=out, stderr=subprocess.STDOUT)
        end = time.time()
    finally:
        disabled = poller.stop()
        helpers.stop()
        shutil.rmtree(control_dir, ignore_errors=True)
    outage, unknown = helpers.outage()
    records = [r for r in labkit.migrations_since(conn, since) if (r['created'] or 0) >= start - 1]
    packets = packet_probe.packet_figures(helpers.summary(), records)
    instance_ids = [s.id for s in conn.compute.servers(all_projects=True)]
    status = None
    if method == 'escalator':
        try:
            with open(os.path.join(state_dir, run_id, 'status.json'), encoding='utf-8') as handle:
                status = json.load(handle)
        except (OSError, ValueError):
            status = None
    try:
        with open(task_log, encoding='utf-8') as handle:
            tasks = costs.read_task_log(handle)
    except OSError:
        tasks = []
    result = measure(method, start, end, records, instance_ids, disabled, outage, unknown, rc, tasks, cpu_usage,
                     status=status)
    problems = check_upgraded() if rc == 0 else ['playbook rc %d (see %s)' % (rc, run_dir)]
    result.update(run_id=run_id, run_dir=run_dir, problems=problems, ok=not problems)
    if packets:
        result['packets'] = packets
        log('campaign %s #%d on real guests: live-migration downtime %s, migration %s s, VNF outage %s, lost guests '
            '%d' % (method, index, packets['downtime'], packets['migration_s'], packets['vnf_outage_s'],
                    packets['lost_guests']))
    cost = result['costs']
    log('campaign %s #%d: %s in %.0fs (lower bound %s s), %d migrations (%d live, %d cold), max %d/instance, '
        'outage %s, disabled %.0f host-s, overhead %.0fs, %s CPU-s/host, %s tasks/host%s' % (
            method, index, 'ok' if not problems else 'FAILED', result['wall_s'], cost['lower_bound_s'],
            result['migrations']['total'], result['migrations']['live'], result['migrations']['cold'],
            result['migrations']['per_instance_max'], outage, result['disabled']['total_host_s'],
            result['overhead_s'], cost['cpu_per_host_s'], cost['tasks']['per_host'],
            '' if not problems else ': ' + '; '.join(problems)))
    return result


def summarise(runs):
    """Median and min-max per method over the repetitions (only successful runs count)."""
    out = {}
    for method in METHODS:
        mine = [r for r in runs if r['method'] == method]
        good = [r for r in mine if r['ok']]
        out[method] = {
            'label': LABELS[method],
            'runs': len(mine),
            'ok_runs': len(good),
            'wall_s': spread([r['wall_s'] for r in good]),
            'migrations_total': spread([r['migrations']['total'] for r in good]),
            'migrations_live': spread([r['migrations']['live'] for r in good]),
            'migrations_cold': spread([r['migrations']['cold'] for r in good]),
            'migration_errors': spread([r['migrations']['errors'] for r in good]),
            'migrations_per_instance_max': spread([r['migrations']['per_instance_max'] for r in good]),
            'migrations_per_instance_mean': spread([r['migrations']['per_instance_mean'] for r in good]),
            'outage_total_s': spread([r['outage_total_s'] for r in good]),
            'outage_max_pair_s': spread([max(r['outage_s'].values() or [0]) for r in good]),
            'outage_per_pair_s': {vnf: spread([r['outage_s'].get(vnf) for r in good])
                                  for vnf in sorted({v for r in good for v in r['outage_s']})},
            'disabled_total_host_s': spread([r['disabled']['total_host_s'] for r in good]),
            'disabled_max_host_s': spread([r['disabled_max_host_s'] for r in good]),
            'mandatory_s': spread([r['mandatory_s'] for r in good]),
            'overhead_s': spread([r['overhead_s'] for r in good]),
            'overhead_fraction': spread([r['overhead_fraction'] for r in good]),
            'hosts': spread([_cost(r, 'hosts') for r in good]),
            'lower_bound_s': spread([_cost(r, 'lower_bound_s') for r in good]),
            'wall_over_lower_bound': spread([_cost(r, 'wall_over_lower_bound') for r in good]),
            'cpu_s': spread([_cost(r, 'cpu_s') for r in good]),
            'cpu_per_host_s': spread([_cost(r, 'cpu_per_host_s') for r in good]),
            'tasks_per_host': spread([_cost(r, 'tasks', 'per_host') for r in good]),
            'first_maintenance_s': spread([_cost(r, 'first_maintenance_s') for r in good]),
            'empty_host_turnaround_s': spread([_cost(r, 'turnaround', 'empty_host_s') for r in good]),
            'turnaround_without_evacuation_s': spread([_cost(r, 'turnaround', 'without_evacuation_s')
                                                       for r in good]),
        }
    return out


def _cost(run, *keys):
    """run['costs'][key][...] or None (runs recorded before the costs were measured have none)."""
    value = run.get('costs')
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def lab_size(conn):
    """The lab's number of compute hosts (its nova-compute services)."""
    return len(list(conn.compute.services(binary='nova-compute')))


def run_sizes(env, conn, work_dir, sizes, repeat=2, log=print, reset_after=True, methods=METHODS):
    """The campaigns on each lab size in turn (`lab up --hosts N` first), the lab put back to its size at the end:
    {'hosts': [...], 'sizes': {'N': run(...)}}. No sizes: the lab as it is."""
    original = lab_size(conn)
    sizes = list(sizes) or [original]
    out = {'hosts': sizes, 'sizes': {}}
    try:
        for size in sizes:
            if size != lab_size(conn):
                t_up = time.monotonic()
                labkit.lab('up', '--hosts', str(size), timeout=1800)
                log('lab up --hosts %d in %.0fs' % (size, time.monotonic() - t_up))
            out['sizes'][str(size)] = run(env, conn, work_dir, repeat=repeat, log=log, reset_after=False,
                                          methods=methods)
    finally:
        resized = lab_size(conn) != original
        if resized:
            # shrinking deletes the servers of the removed hosts: the reset seeds the workloads again
            labkit.lab('up', '--hosts', str(original), timeout=1800)
        if reset_after or resized:
            labkit.lab('reset', timeout=900)
    return out


def by_size(campaign):
    """{size: one lab size's campaign results} of the campaign section, old single-size results included."""
    if not campaign:
        return {}
    if 'sizes' in campaign:
        return {int(k): v for k, v in campaign['sizes'].items()}
    hosts = (campaign.get('summary', {}).get('escalator', {}).get('hosts') or {}).get('median') or 0
    return {int(hosts): campaign}


def run(env, conn, work_dir, repeat=2, log=print, max_batch_size='auto', reset_after=True, methods=METHODS):
    """`repeat` runs of each method, interleaved, each from `lab reset`; the lab reset at the end unless the
    caller goes on with a reset of its own."""
    runs = []
    for index in range(1, repeat + 1):
        for method in methods:
            runs.append(run_once(method, index, env, conn, work_dir, log=log, max_batch_size=max_batch_size))
    if reset_after:
        labkit.lab('reset', timeout=900)
    if not any(r['ok'] for r in runs):
        raise BenchError('no campaign run succeeded: %s' % '; '.join(p for r in runs for p in r['problems']))
    return {'repeat': repeat, 'order': [r['method'] for r in runs], 'max_batch_size': max_batch_size,
            'summary': summarise(runs), 'runs': runs}
