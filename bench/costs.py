# SPDX-License-Identifier: Apache-2.0
"""What one campaign run costs, per method, from the bench's task log (bench/callback_plugins/bench_task_log.py)
and the bench's own measures - plain functions over recorded data, so they are tested without a lab:

  task executions   task starts (v2_runner_on_start) on every host, the controller's (localhost) included,
                    divided by the campaign's hosts; per host and per module in the JSON
  mandatory operations per host
                    the durations (start -> result of the task, as the controller saw them) of the four
                    operations any method must wait for: evacuation, package upgrade, reboot, nova-compute back
                    (OPERATIONS: which tasks are which)
  lower bound of the plan
                    per batch, the longest of its hosts' mandatory operations (their sum on that host), summed over
                    the batches; Escalator's batches are its plan's, the baseline's one host each
  first host in maintenance
                    the first moment the bench's service poller saw a nova-compute service disabled
  host turnaround   from the start of a host's maintenance (Escalator: its `maintenance` phase; baseline: its
                    first task) to its end (Escalator: the host recorded done; baseline: its last task's result);
                    an empty host is one no migration left during its turn
"""
import collections
import json
import statistics

# operation -> how its tasks are recognised: a bench_op_<operation> tag (the baseline playbook tags its own
# steps), else the module's last name. Only tasks that ran (not skipped) count.
OPERATIONS = {
    'evacuation': {'compute_evacuate'},
    'package_upgrade': {'apt', 'dnf', 'dnf5', 'yum', 'package'},
    'reboot': {'reboot'},
    'nova_compute_back': {'compute_service_wait'},
}
OP_TAG = 'bench_op_'
# nova-compute is "back" only after the host's software changed: an earlier wait (a precheck) is not this step
AFTER_CHANGE = {'nova_compute_back': ('package_upgrade', 'reboot')}
TOP_MODULES = 15


def read_task_log(lines):
    """The task log's lines -> a list of tasks {host, id, task, module, role, tags, start, end, status}, in start
    order; a start without a result keeps end and status None. Lines that are not JSON are skipped (a run killed
    mid-write)."""
    tasks = []
    open_starts = collections.defaultdict(collections.deque)   # (host, id) -> tasks started, not ended
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        key = (item.get('host'), item.get('id'))
        if item.get('e') == 'start':
            task = {'host': item.get('host'), 'id': item.get('id'), 'task': item.get('task'),
                    'module': item.get('module'), 'role': item.get('role'), 'tags': item.get('tags') or [],
                    'start': item.get('t'), 'end': None, 'status': None}
            tasks.append(task)
            open_starts[key].append(task)
        elif item.get('e') == 'end' and open_starts[key]:
            task = open_starts[key].popleft()
            task['end'] = item.get('t')
            task['status'] = item.get('status')
            task['module'] = item.get('module') or task['module']
    return tasks


def _short(module):
    return str(module or '').rsplit('.', 1)[-1]


def operation_of(task):
    """The mandatory operation a task performs, or None."""
    for tag in task['tags']:
        if tag.startswith(OP_TAG) and tag[len(OP_TAG):] in OPERATIONS:
            return tag[len(OP_TAG):]
    name = _short(task['module'])
    for operation, modules in OPERATIONS.items():
        if name in modules:
            return operation
    return None


def operations(tasks):
    """{host: {operation: seconds}} - every operation of OPERATIONS present (0.0 when the host had none)."""
    out = {}
    for host in sorted({t['host'] for t in tasks}):
        mine = [t for t in tasks if t['host'] == host and t['end'] is not None and t['status'] != 'skipped']
        ops = {op: 0.0 for op in OPERATIONS}
        changed_at = {}
        for task in mine:
            op = operation_of(task)
            if op in ('package_upgrade', 'reboot'):
                changed_at[op] = max(changed_at.get(op, 0.0), task['end'])
        for task in mine:
            op = operation_of(task)
            if op is None:
                continue
            if op in AFTER_CHANGE:
                after = [changed_at[o] for o in AFTER_CHANGE[op] if o in changed_at]
                if after and task['start'] < max(after):
                    continue
            ops[op] += task['end'] - task['start']
        if any(operation_of(t) for t in mine):
            out[host] = {op: round(s, 2) for op, s in ops.items()}
    return out


def lower_bound(batches, ops):
    """(seconds, [per batch]) - per batch the longest sum of its hosts' mandatory operations, summed."""
    per_batch = [round(max([sum(ops.get(h, {}).values()) for h in batch] or [0.0]), 2) for batch in batches]
    return round(sum(per_batch), 1), per_batch


def task_counts(tasks, hosts):
    """Task executions: total, per campaign host (the controller's own tasks included), by host, top modules."""
    by_host = collections.Counter(t['host'] for t in tasks)
    by_module = collections.Counter(_short(t['module']) for t in tasks)
    seconds = collections.defaultdict(float)
    for task in tasks:
        if task['end'] is not None:
            seconds[_short(task['module'])] += task['end'] - task['start']
    return {
        'total': len(tasks),
        'per_host': round(len(tasks) / len(hosts), 1) if hosts else None,
        'by_host': dict(sorted(by_host.items())),
        'skipped': sum(1 for t in tasks if t['status'] == 'skipped'),
        'top_modules': [[m, n, round(seconds[m], 1)] for m, n in by_module.most_common(TOP_MODULES)],
    }


def first_disabled_s(intervals, start):
    """Seconds from `start` to the first moment a service was seen disabled ({host: [[a, b], ...]}), or None."""
    firsts = [a for spans in intervals.values() for a, _b in spans if a is not None]
    return round(min(firsts) - start, 1) if firsts else None


def host_turns(phases):
    """{host: [start, end]} of each host's turn, from its phase spans ([[class, start, end], ...]): from its
    first `maintenance` span (else its first span) to the end of its last span."""
    out = {}
    for host, spans in phases.items():
        if not spans:
            continue
        starts = [a for cls, a, _b in spans if cls == 'maintenance'] or [spans[0][1]]
        out[host] = [min(starts), max(b for _cls, _a, b in spans)]
    return out


def turnarounds(turns, records, ops):
    """Per host: turnaround, whether it was empty (no migration from it created during its turn), turnaround
    less its evacuation; and the medians {empty_host_s, without_evacuation_s} (None when there is none)."""
    per_host = {}
    for host, (start, end) in sorted(turns.items()):
        moved = [r for r in records if r.get('source') == host and r.get('created') is not None
                 and start - 1 <= r['created'] <= end]
        evacuation = (ops.get(host) or {}).get('evacuation')
        per_host[host] = {'turnaround_s': round(end - start, 1), 'empty': not moved,
                          'without_evacuation_s': round(end - start - evacuation, 1) if evacuation is not None
                          else None}
    empty = [h['turnaround_s'] for h in per_host.values() if h['empty']]
    without = [h['without_evacuation_s'] for h in per_host.values() if h['without_evacuation_s'] is not None]
    return {'per_host': per_host, 'empty_hosts': sorted(h for h, v in per_host.items() if v['empty']),
            'empty_host_s': round(statistics.median(empty), 1) if empty else None,
            'without_evacuation_s': round(statistics.median(without), 1) if without else None}


def run_costs(method_batches, phases, tasks, records, disabled_intervals, start, wall, cpu, hosts):
    """Every cost figure of one run (JSON-ready). `method_batches`: the plan's batches (lists of hosts);
    `cpu`: bench.cpu's usage dict or None; `hosts`: the campaign's hosts."""
    ops = operations([t for t in tasks if t['host'] in hosts])
    bound, per_batch = lower_bound(method_batches, ops)
    found = {op: sum(1 for h in ops.values() if h[op] > 0) for op in OPERATIONS}
    cpu_s = (cpu or {}).get('cpu_s')
    return {
        'hosts': len(hosts),
        'batches': [list(b) for b in method_batches],
        'operations': ops,
        'operations_found': found,
        'lower_bound_s': bound if ops else None,
        'lower_bound_per_batch_s': per_batch,
        'wall_over_lower_bound': round(wall / bound, 2) if ops and bound else None,
        'cpu': cpu,
        'cpu_s': cpu_s,
        'cpu_per_host_s': round(cpu_s / len(hosts), 2) if cpu_s is not None and hosts else None,
        'tasks': task_counts(tasks, hosts),
        'first_maintenance_s': first_disabled_s(disabled_intervals, start),
        'turnaround': turnarounds(host_turns(phases), records, ops),
    }
