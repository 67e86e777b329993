# SPDX-License-Identifier: Apache-2.0
"""The planner benchmark end to end on tiny synthetic clouds (no lab, no timing asserts)."""
import copy
import json

import pytest

from bench import planner_bench
from bench.common import BenchError
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign


def test_synthetic_cloud_has_the_documented_shape():
    hosts, groups, options = planner_bench.synthetic_cloud(30, per_host=20, seed=3)
    assert len(hosts) == 30
    assert all(len(h['instances']) == 20 for h in hosts)
    where = {i['id']: h['name'] for h in hosts for i in h['instances']}
    assert len(where) == 600
    for group in groups:
        assert group['policy'] == 'anti-affinity'
        assert 2 <= len(group['members']) <= 8
        assert len({where[m] for m in group['members']}) == len(group['members']), 'members share a host'
        assert options['budgets'][group['id']] == planner_bench.budget_for(len(group['members']))
    grouped = sum(len(g['members']) for g in groups)
    assert 0.4 * 600 <= grouped <= 0.5 * 600
    for host in hosts:
        assert host['used']['vcpus'] == sum(i['vcpus'] for i in host['instances'])
        assert host['used']['vcpus'] <= host['capacity']['vcpus']
    assert planner_bench.synthetic_cloud(30, seed=3) == (hosts, groups, options), 'not deterministic'


def test_measure_plans_and_checks_a_tiny_cloud():
    out = planner_bench.measure(12, seed=1, per_host=20)
    assert out['feasible'] and out['check_problems'] == 0
    assert out['instances'] == 240
    assert out['batches'] >= out['lower_bound']['batches'] >= 1
    assert out['moves_per_instance_max'] >= 1
    assert out['moves'] >= out['instances']
    for key in ('plan_wall_s', 'plan_cpu_s', 'check_wall_s', 'peak_rss_mib', 'plan_rss_growth_mib'):
        assert out[key] >= 0
    json.dumps(out)


def test_run_in_child_processes_summarises_every_seed():
    results = planner_bench.run((10, 16), repeat=2, per_host=20, log=lambda _m: None)
    assert [r['hosts'] for r in results] == [10, 16]
    for item in results:
        assert item['repeat'] == 2 and len(item['runs']) == 2
        assert {r['seed'] for r in item['runs']} == {1, 2}
        assert item['plan_wall_s']['n'] == 2
        assert item['plan_wall_s']['min'] <= item['plan_wall_s']['median'] <= item['plan_wall_s']['max']
        assert item['checker'] == 'every plan valid (2 checked)'
        assert item['batches']['min'] >= item['lower_bound']['min']


def _tiny():
    hosts, groups, options = planner_bench.synthetic_cloud(10, per_host=20, seed=2)
    return hosts, groups, options, plan_campaign(hosts, groups, options)


def test_the_checker_catches_a_plan_that_breaks_anti_affinity():
    hosts, groups, options, plan = _tiny()
    assert check_plan(hosts, groups, options, plan) == []
    broken = copy.deepcopy(plan)
    group = groups[0]
    where = {i['id']: h['name'] for h in hosts for i in h['instances']}
    # send a member to the host of another member of its group
    member, other = group['members'][0], group['members'][1]
    for batch in broken['batches']:
        for move in batch['moves']:
            if move['instance'] == member:
                move['to'] = [where[other]] + move['to'][1:]
    problems = check_plan(hosts, groups, options, broken)
    assert problems, 'a member sent next to its partner must be caught'
    assert planner_bench.plan_figures(hosts, groups, options, broken, problems)['check_problems'] == len(problems)


def test_the_checker_catches_a_host_planned_twice_and_the_bench_fails(monkeypatch):
    hosts, groups, options, plan = _tiny()
    broken = copy.deepcopy(plan)
    broken['batches'][-1]['hosts'].append(broken['batches'][0]['hosts'][0])
    problems = check_plan(hosts, groups, options, broken)
    assert any('is in batch' in p for p in problems), problems

    def child(hosts_count, seed, per_host=20):
        out = planner_bench.plan_figures(hosts, groups, options, broken, problems)
        out.update(seed=seed, plan_wall_s=0.1, plan_cpu_s=0.1, check_wall_s=0.1, peak_rss_mib=1.0,
                   plan_rss_growth_mib=0.5, generate_s=0.0)
        return out
    monkeypatch.setattr(planner_bench, 'run_child', child)
    with pytest.raises(BenchError, match='rejected by plan_check'):
        planner_bench.run((10,), repeat=1, log=lambda _m: None)
