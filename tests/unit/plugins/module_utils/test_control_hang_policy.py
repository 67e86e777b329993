# SPDX-License-Identifier: Apache-2.0
"""The hang policy (alert or fail) and each host's expectations: the evacuate phase scales with its instances
(issue 14: hangs handled per policy; false E_HANG on 8 hosts, where the last hosts carry many more instances)."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_settings
from ansible_collections.opnfv.escalator.plugins.module_utils.control import expectations, hang_policy, history, progress
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore
from ansible_collections.opnfv.escalator.plugins.modules import campaign_gate
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module
from ansible_collections.opnfv.escalator.tests.unit.fake_clock import Clock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PHASE_STATES = {'maintenance': 'draining', 'notify': 'draining', 'evacuate': 'draining', 'backup': 'upgrading',
                'upgrade': 'upgrading', 'verify': 'verifying'}


def plan(hosts_moves):
    """A plan of one batch per host, with ``moves`` instances moved away from each."""
    return {'batches': [{'batch': i + 1, 'hosts': [host], 'moves': [
        {'instance': '%s-%d' % (host, n), 'from': host, 'to': ['x'], 'mode': 'live'} for n in range(moves)]}
        for i, (host, moves) in enumerate(hosts_moves)]}


@pytest.fixture
def earlier(tmp_path):
    """An earlier campaign: 3 hosts with 1, 2 and 4 instances, each evacuated at 10 s an instance."""
    clock = Clock()
    store = CampaignStore('earlier', str(tmp_path), now=clock)
    store.start(run_id='run-1', plan=plan([('h1', 1), ('h2', 2), ('h3', 4)]))
    for host, moves in (('h1', 1), ('h2', 2), ('h3', 4)):
        for phase in history.PHASES:
            store.update_host(host, state=PHASE_STATES[phase], phase=phase)
            clock.advance(10 * moves if phase == 'evacuate' else 5)
        store.update_host(host, state='done', phase='notify_complete', result='ok')
    store.finish()
    return str(tmp_path)


def test_the_evacuate_expectation_scales_with_the_instances_to_move(earlier):
    samples, _n = history.from_state_dir(earlier)
    assert sorted(samples[expectations.SAMPLES_KEY]) == [10.0, 10.0, 10.0]
    expected, _sources = history.expected_phases(samples)
    assert expected['evacuate'] == 20.0                      # one median for every host: the old expectation
    rate, source = expectations.evacuate_rate(samples, None, history.MIN_SAMPLES)
    assert (rate, source) == (10.0, 'history (3 hosts)')
    by_host = expectations.for_hosts(expected, rate, {'n1': 12, 'n2': 0}, ['n1', 'n2', 'unknown'])
    assert [by_host[h]['evacuate'] for h in ('n1', 'n2', 'unknown')] == [120.0, 10.0, 20.0]
    # a host with 12 instances, evacuating for 100 s: no hang for its own expectation (0.8x), a false one for
    # the median of the others (5x) - what flagged the last hosts of the 8-host lab
    clock = Clock()
    store = CampaignStore('now', earlier, now=clock)
    store.start(run_id='run-1', plan=plan([('n1', 12)]))
    store.update_host('n1', state='draining', phase='evacuate')
    clock.advance(100)
    status = store.read_status()
    assert [r['host'] for r in progress.hangs(status, expected, 3.0, clock())] == ['n1']
    assert progress.hangs(status, expected, 3.0, clock(), by_host) == []


def test_the_rate_comes_from_a_setting_history_or_the_default():
    assert expectations.evacuate_rate({}, {'evacuate': 900}) == (None, 'setting (per host)')
    assert expectations.evacuate_rate({}, {'evacuate_per_instance': 45}) == (45, 'setting')
    assert expectations.evacuate_rate({expectations.SAMPLES_KEY: [1.0, 2.0]}, None) == (30, 'default')
    assert expectations.instances_to_move(None) == {}
    assert expectations.instances_to_move(plan([('a', 2), ('b', 0)])) == {'a': 2, 'b': 0}
    fixed = expectations.for_hosts({'evacuate': 900, 'upgrade': 10}, None, {'a': 50}, ['a'])
    assert fixed == {'a': {'evacuate': 900, 'upgrade': 10}}


@pytest.mark.parametrize('multiple, policy, words', [
    (-2.0, 'alert', 'hang_multiple must be positive'),
    (0, 'fail', 'escalator_hang_policy fail needs escalator_hang_multiple >= 1'),
    (0.5, 'fail', 'below 1 it would fail hosts on time'),
    (3.0, 'panic', "escalator_hang_policy must be alert or fail, got 'panic'"),
])
def test_bad_multiples_and_policies_are_clear_errors(multiple, policy, words):
    with pytest.raises(EscalatorError) as caught:
        hang_policy.check(multiple, policy)
    assert caught.value.code == 'E_INVALID_INPUT' and words in caught.value.msg


def test_the_settings_check_refuses_an_unknown_policy_before_anything_is_touched():
    hosts = {'c1': dict(address='c1', port=22, settings={})}
    problems = campaign_settings.check(dict(escalator_hang_policy='panic'), hosts)
    assert any('escalator_hang_policy' in p and 'alert, fail' in p for p in problems), problems


def test_limits_only_with_the_fail_policy():
    by_host = {'c1': dict(maintenance=2, notify=3, evacuate=10.2, backup=5, upgrade=20, verify=8, release=0)}
    assert hang_policy.limits(by_host, 3.0, 'alert') == {}
    assert hang_policy.limits(by_host, 2.0, 'fail') == {'c1': dict(drain=31, backup=10, upgrade=40, verify=16)}


@pytest.fixture
def state_dir(tmp_path):
    CampaignStore('c1', str(tmp_path)).start(run_id='run-1', plan=plan([('h1', 1), ('h2', 8)]))
    return str(tmp_path)


def test_the_gate_returns_each_hosts_expectations_and_limits(state_dir):
    outcome, result = run_module(campaign_gate, campaign_id='c1', state_dir=state_dir, batch=2, hosts=['h2'],
                                 hang_multiple=2.0, hang_policy='fail')[:2]
    assert outcome == 'exit' and result['action'] == 'go', result
    assert result['expected_hosts']['h2']['evacuate'] == 240            # 8 instances x the default 30 s
    assert result['expected_batch_s'] == 1185 - 300 + 240               # the batch's slowest host
    assert result['hang_policy'] == 'fail' and result['evacuate_per_instance'] == 30
    assert result['hang_limits'] == {'h2': dict(drain=2 * (15 + 60 + 240), backup=120, upgrade=1200,
                                                verify=2 * (120 + 30))}
    outcome, result = run_module(campaign_gate, campaign_id='c1', state_dir=state_dir, batch=2, hosts=['h2'],
                                 hang_multiple=0.0, hang_policy='fail')[:2]
    assert outcome == 'fail' and result['error_code'] == 'E_INVALID_INPUT', result
    outcome, result = run_module(campaign_gate, campaign_id='c1', state_dir=state_dir, batch=2, hosts=['h2'])[:2]
    assert result['hang_policy'] == 'alert' and result['hang_limits'] == {}


def _walk(tasks, found):
    for task in tasks or []:
        found.append(task)
        for key in ('block', 'rescue', 'always'):
            _walk(task.get(key), found)
    return found


def test_the_upgrade_play_bounds_each_phase_by_its_limit_and_records_a_timeout_as_e_hang():
    with open(os.path.join(ROOT, 'playbooks', 'upgrade_compute.yml'), encoding='utf-8') as handle:
        plays = yaml.safe_load(handle)
    batch_play = next(p for p in plays if p['name'] == 'Escalator | upgrade batch by batch')
    tasks = _walk(batch_play['tasks'], [])
    timeouts = {t['name']: t.get('timeout') for t in tasks if 'timeout' in t}
    for block in hang_policy.LIMITED:
        assert any(block in str(value) and 'hang_limits' in str(value) or
                   "__escalator_hang_limits.%s" % block in str(value) for value in timeouts.values()), \
            (block, timeouts)
    rescue = next(t for t in tasks if t.get('rescue'))['rescue']
    assert 'timedout' in yaml.safe_dump(rescue) and 'E_HANG' in yaml.safe_dump(rescue)
