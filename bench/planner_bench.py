# SPDX-License-Identifier: Apache-2.0
"""Planner at scale: synthetic clouds fed to plan_campaign, every plan verified by plan_check.

A synthetic cloud (deterministic for a seed):
  * H hosts in 3 availability zones, each 96 vCPU / 384 GiB RAM / 4 TB disk, 20 instances per host
    (flavours 1/2/4 vCPU with 2/4/8 GiB and 20/40/80 GB; 1 in 10 SHUTOFF), i.e. about 45 % full;
  * half of the instances in hard anti-affinity server groups of 2 to 8 members (members on distinct
    hosts), each with a budget in the options: 1, or 2 for groups of 6 or more members;
  * options: canary 1, max_batch_size 8, az_max_down 4.

Each size runs in a child process (python -m bench.planner_bench --child HOSTS --seed S), so its memory is
its own: planning time (wall and CPU), peak RSS and its growth while planning (VmHWM), the checker's time, batches
against the plan's lower bound (verified by the checker), moves per instance. A plan that the independent
checker (plan_check.check_plan) rejects fails the benchmark.
"""
import argparse
import json
import random
import resource
import subprocess
import sys
import time

from bench.common import REPO, BenchError, spread  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan  # noqa: E402
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign  # noqa: E402

FLAVOURS = ((1, 2048, 20), (2, 4096, 40), (4, 8192, 80))
CAPACITY = {'vcpus': 96, 'memory_mb': 393216, 'disk_gb': 4000}
ZONES = 3
OPTIONS = {'canary_hosts': 1, 'max_batch_size': 8, 'az_max_down': 4}
DEFAULT_SIZES = (100, 1000, 5000)


def budget_for(size):
    return 2 if size >= 6 else 1


def synthetic_cloud(hosts, per_host=20, seed=1, grouped_fraction=0.5):
    """(hosts, server_groups, options) in the planner's input format (docs/planner.md)."""
    rnd = random.Random(seed)
    host_list = []
    for h in range(hosts):
        name = 'h%05d' % h
        instances = []
        for i in range(per_host):
            vcpus, memory_mb, disk_gb = FLAVOURS[rnd.randrange(len(FLAVOURS))]
            instances.append({'id': '%s-i%02d' % (name, i), 'name': '%s-vm%02d' % (name, i), 'project_id': 'p%d' % (h % 7),
                              'status': 'SHUTOFF' if rnd.random() < 0.1 else 'ACTIVE', 'vcpus': vcpus,
                              'memory_mb': memory_mb, 'disk_gb': disk_gb, 'server_groups': []})
        used = {key: sum(inst[key] for inst in instances) for key in ('vcpus', 'memory_mb', 'disk_gb')}
        host_list.append({'name': name, 'zone': 'az%d' % (h % ZONES), 'aggregates': [], 'state': 'up',
                          'status': 'enabled', 'disabled_reason': None, 'capacity': dict(CAPACITY), 'used': used,
                          'instances': instances})
    # grouped slots: the first grouped_fraction of each host's instances; a group takes one slot on each of
    # `size` distinct hosts drawn from the hosts that still have free slots
    slots = {h: int(per_host * grouped_fraction) for h in range(hosts)}
    open_hosts = [h for h in range(hosts) if slots[h]]
    groups, budgets = [], {}
    while len(open_hosts) >= 2:
        size = min(rnd.randint(2, 8), len(open_hosts))
        members = []
        for h in rnd.sample(open_hosts, size):
            inst = host_list[h]['instances'][int(per_host * grouped_fraction) - slots[h]]
            slots[h] -= 1
            members.append(inst['id'])
        gid = 'g%06d' % len(groups)
        groups.append({'id': gid, 'name': 'grp-%06d' % len(groups), 'project_id': 'p0',
                       'policy': 'anti-affinity', 'members': members})
        budgets[gid] = budget_for(size)
        open_hosts = [h for h in open_hosts if slots[h]]
    options = dict(OPTIONS, budgets=budgets)
    return host_list, groups, options


def plan_figures(hosts, groups, options, plan, problems):
    """The figures of one plan (JSON-ready)."""
    summary = plan.get('summary') or {}
    moves = plan.get('moves_per_instance') or {}
    instances = sum(len(h['instances']) for h in hosts)
    counts = [moves.get(inst['id'], 0) for h in hosts for inst in h['instances']]
    bound = summary.get('lower_bound') or {}
    return {
        'hosts': len(hosts),
        'instances': instances,
        'server_groups': len(groups),
        'feasible': bool(plan.get('feasible')),
        'batches': len(plan.get('batches') or []),
        'lower_bound': bound,
        'batches_over_lower_bound': round(len(plan.get('batches') or []) / bound['batches'], 3)
        if bound.get('batches') else None,
        'moves': sum(counts),
        'moves_per_instance_max': max(counts) if counts else 0,
        'moves_per_instance_mean': round(sum(counts) / len(counts), 4) if counts else 0,
        'instances_moved_more_than_once': sum(1 for c in counts if c > 1),
        'check_problems': len(problems),
        'check_problem_examples': problems[:5],
    }


def peak_rss_kib():
    """This process's peak RSS (VmHWM, KiB). Not ru_maxrss: Linux carries that over exec from the parent, so a
    child of a big process would report the parent's size."""
    try:
        with open('/proc/self/status', encoding='ascii') as handle:
            for line in handle:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(hosts, seed=1, per_host=20):
    """Plan and check one synthetic cloud in this process; the figures with timings and memory."""
    t0 = time.perf_counter()
    cloud, groups, options = synthetic_cloud(hosts, per_host=per_host, seed=seed)
    generate_s = time.perf_counter() - t0
    rss0 = peak_rss_kib()
    w0, c0 = time.perf_counter(), time.process_time()
    plan = plan_campaign(cloud, groups, options)
    plan_wall, plan_cpu = time.perf_counter() - w0, time.process_time() - c0
    rss1 = peak_rss_kib()
    w0 = time.perf_counter()
    problems = check_plan(cloud, groups, options, plan)
    check_wall = time.perf_counter() - w0
    out = plan_figures(cloud, groups, options, plan, problems)
    out.update(seed=seed, generate_s=round(generate_s, 3), plan_wall_s=round(plan_wall, 3),
               plan_cpu_s=round(plan_cpu, 3), check_wall_s=round(check_wall, 3),
               peak_rss_mib=round(rss1 / 1024, 1), plan_rss_growth_mib=round((rss1 - rss0) / 1024, 1))
    return out


def run_child(hosts, seed, per_host=20, timeout=900):
    proc = subprocess.run([sys.executable, '-m', 'bench.planner_bench', '--child', str(hosts), '--seed', str(seed),
                           '--per-host', str(per_host)], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise BenchError('planner bench for %d hosts failed (rc %d): %s' % (hosts, proc.returncode,
                                                                            proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(sizes=DEFAULT_SIZES, repeat=3, per_host=20, log=print):
    """Every size `repeat` times (seeds 1..repeat); raises BenchError if any plan is infeasible or rejected."""
    results = []
    for hosts in sizes:
        runs = []
        for seed in range(1, repeat + 1):
            one = run_child(hosts, seed, per_host)
            log('planner: %5d hosts seed %d: plan %.2fs (+%.0f MiB), check %.2fs, %d batches (bound %d), '
                'max %d moves/instance, checker: %s' % (
                    hosts, seed, one['plan_wall_s'], one['plan_rss_growth_mib'], one['check_wall_s'], one['batches'],
                    one['lower_bound'].get('batches', 0), one['moves_per_instance_max'],
                    'ok' if not one['check_problems'] else '%d PROBLEMS' % one['check_problems']))
            runs.append(one)
        bad = [r for r in runs if r['check_problems'] or not r['feasible']]
        if bad:
            raise BenchError('planner bench: %d hosts: the plan is %s: %s' % (
                hosts, 'infeasible' if not bad[0]['feasible'] else 'rejected by plan_check',
                '; '.join(bad[0]['check_problem_examples']) or 'see the plan reasons'))
        results.append(summarise(hosts, runs))
    return results


def summarise(hosts, runs):
    first = runs[0]
    return {
        'hosts': hosts,
        'instances': first['instances'],
        'server_groups': first['server_groups'],
        'repeat': len(runs),
        'plan_wall_s': spread([r['plan_wall_s'] for r in runs]),
        'plan_cpu_s': spread([r['plan_cpu_s'] for r in runs]),
        'check_wall_s': spread([r['check_wall_s'] for r in runs]),
        'plan_rss_growth_mib': spread([r['plan_rss_growth_mib'] for r in runs]),
        'peak_rss_mib': spread([r['peak_rss_mib'] for r in runs]),
        'batches': spread([r['batches'] for r in runs]),
        'lower_bound': spread([r['lower_bound'].get('batches') for r in runs]),
        'batches_over_lower_bound': spread([r['batches_over_lower_bound'] for r in runs]),
        'moves_per_instance_max': max(r['moves_per_instance_max'] for r in runs),
        'moves_per_instance_mean': spread([r['moves_per_instance_mean'] for r in runs]),
        'instances_moved_more_than_once': spread([r['instances_moved_more_than_once'] for r in runs]),
        'checker': 'every plan valid (%d checked)' % len(runs),
        'runs': runs,
    }


def lower_bound_explained(options=None):
    options = options or OPTIONS
    return ('max(1 + ceil((hosts - 1) / max_batch_size %d), max over zones ceil(hosts in zone / az_max_down %d), '
            'max over groups ceil(members / budget))' % (options['max_batch_size'], options['az_max_down']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--child', type=int, help='measure one size in this process and print JSON')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--per-host', type=int, default=20)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, seed=args.seed, per_host=args.per_host)))
        return 0
    print(json.dumps(run(), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
