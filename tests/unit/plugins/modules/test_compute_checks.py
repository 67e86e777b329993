# SPDX-License-Identifier: Apache-2.0
"""compute_precheck and compute_service_wait (and module_utils/compute_checks); the canary: test_canary_server.py."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.opnfv.escalator.plugins.module_utils import compute_checks
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.modules import compute_precheck, compute_service_wait
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

CONNECT = 'ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect'


@pytest.fixture
def lab():
    cloud = FakeCloud()
    for name in ('c1', 'c2', 'c3'):
        cloud.add_host(name, vcpus=4, memory_mb=4096, disk_gb=40)
    return cloud


def run_module(module, args, cloud, capsys):
    with patch_module_args(args), mock.patch(CONNECT, return_value=cloud), \
            mock.patch('time.sleep', cloud.sleep), mock.patch('time.monotonic', cloud.clock):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


# -- parse_time ------------------------------------------------------------------

def test_parse_time_accepts_epoch_iso_and_nova_format():
    assert compute_checks.parse_time(10) == 10.0
    assert compute_checks.parse_time('1767225600') == 1767225600.0
    assert compute_checks.parse_time('2026-01-01T00:00:00.000000') == 1767225600.0
    assert compute_checks.parse_time('2026-01-01T01:00:00+01:00') == 1767225600.0
    assert compute_checks.parse_time(None) is None
    with pytest.raises(EscalatorError, match='is not a time'):
        compute_checks.parse_time('yesterday')


# -- precheck ---------------------------------------------------------------------

def test_precheck_clean_host_has_no_problem(lab):
    lab.add_server('a', 'c1', vcpus=2, ram=1024, disk=10)
    result = compute_checks.precheck(lab, 'c1')
    assert result['problems'] == []
    assert result['capacity']['targets'] == ['c2', 'c3']
    assert result['capacity']['homeless'] == []


def test_precheck_reports_every_problem_at_once(lab):
    lab.hosts['c3'].state = 'down'
    broken = lab.add_server('broken', 'c1', status='ERROR')
    moving = lab.add_server('moving', 'c1')
    moving.task_state = 'migrating'
    lab.add_server('big', 'c1', vcpus=4, ram=4096, disk=10)
    lab.add_server('filler', 'c2', vcpus=3, ram=512, disk=1)
    problems = compute_checks.precheck(lab, 'c1')['problems']
    text = '\n'.join(problems)
    assert len(problems) == 4, text
    assert 'nova-compute on c3 is down' in text
    assert 'broken (%s) on c1 is in ERROR' % broken.id in text
    assert 'moving' in text and 'task_state migrating' in text
    assert 'do not fit' in text and 'big' in text


def test_precheck_refuses_an_instance_nova_cannot_move(lab):
    """Issue 12 item 7: a SUSPENDED instance was only a plan warning; its evacuation then failed mid-campaign."""
    lab.add_server('ok', 'c1')
    lab.add_server('off', 'c1', status='SHUTOFF')
    sleeping = lab.add_server('sleeping', 'c1', status='SUSPENDED')
    problems = compute_checks.precheck(lab, 'c1')['problems']
    assert len(problems) == 1, problems
    assert 'sleeping (%s) on c1 is SUSPENDED' % sleeping.id in problems[0]
    assert 'escalator_unhealthy_instances: skip_host' in problems[0]


def test_precheck_ignores_hosts_known_down_and_disabled_targets(lab):
    lab.hosts['c3'].state = 'down'
    lab.hosts['c2'].status = 'disabled'
    lab.add_server('a', 'c1')
    result = compute_checks.precheck(lab, 'c1', down_hosts=['c3'])
    assert len(result['problems']) == 1
    assert 'do not fit on the other enabled hosts (none)' in result['problems'][0]


def test_precheck_unknown_host(lab):
    with pytest.raises(EscalatorError, match="no nova-compute service on host 'nope'"):
        compute_checks.precheck(lab, 'nope')


def test_precheck_module_fail_on_problems(lab, capsys):
    lab.add_server('broken', 'c2', status='ERROR')
    ok = run_module(compute_precheck, dict(host='c1'), lab, capsys)
    assert ok['problems'] == [] and ok['changed'] is False
    result = run_module(compute_precheck, dict(host='c2', fail_on_problems=True), lab, capsys)
    assert result['failed'] and result['error_code'] == 'E_PRECHECK'
    assert 'broken' in result['msg']


def test_precheck_module_checks_several_hosts_from_one_reading_of_the_cloud(lab, capsys, monkeypatch):
    lab.add_server('broken', 'c2', status='ERROR')
    reads = []
    collect = compute_checks.host_info.collect
    monkeypatch.setattr(compute_checks.host_info, 'collect', lambda *a, **k: reads.append(1) or collect(*a, **k))
    result = run_module(compute_precheck, dict(hosts=['c1', 'c2']), lab, capsys)
    assert len(reads) == 1                                   # one reading for both hosts, not one each
    assert result['results']['c1']['problems'] == []
    assert len(result['results']['c2']['problems']) == 1 and 'broken' in result['results']['c2']['problems'][0]
    assert result['problems'] == result['results']['c2']['problems']
    missing = run_module(compute_precheck, dict(hosts=['c1', 'nope']), lab, capsys)
    assert missing['failed'] and missing['error_code'] == 'E_HOST_NOT_FOUND' and "'nope'" in missing['msg']
    both = run_module(compute_precheck, dict(host='c1', hosts=['c1']), lab, capsys)
    assert both['failed'] and 'mutually exclusive' in both['msg']


def test_precheck_module_rejects_unknown_check(lab, capsys):
    result = run_module(compute_precheck, dict(host='c1', checks=['services', 'bogus']), lab, capsys)
    assert result['failed'] and 'bogus' in result['msg']


# -- wait_service ---------------------------------------------------------------------

def test_wait_service_needs_a_heartbeat_after_since(lab):
    since = compute_checks.parse_time(lab.timestamp()) + 30      # heartbeats start 30 s later
    result = compute_checks.wait_service(lab, 'c1', since=since, timeout=120, delay=5,
                                         clock=lab.clock, sleep=lab.sleep)
    assert result['service']['state'] == 'up'
    assert 30 < result['waited'] <= 40
    assert result['hypervisor']['state'] == 'up'


def test_wait_service_times_out_with_what_is_wrong(lab):
    lab.hosts['c1'].state = 'down'
    with pytest.raises(EscalatorError) as err:
        compute_checks.wait_service(lab, 'c1', timeout=20, delay=5, clock=lab.clock, sleep=lab.sleep)
    assert err.value.code == 'E_SERVICE_DOWN'
    assert 'nova-compute is down' in err.value.msg and 'hypervisor c1 is down' in err.value.msg
    assert lab.clock() == 20


def test_service_wait_module(lab, capsys):
    result = run_module(compute_service_wait, dict(host='c2', since='2025-12-31T23:59:00'), lab, capsys)
    assert result['changed'] is False and result['service']['host'] == 'c2'
    lab.hosts['c2'].forced_down = True
    result = run_module(compute_service_wait, dict(host='c2', timeout=10, delay=5), lab, capsys)
    assert result['failed'] and result['error_code'] == 'E_SERVICE_DOWN' and 'forced down' in result['msg']
    result = run_module(compute_service_wait, dict(host='c2', since='soon'), lab, capsys)
    assert result['failed'] and 'is not a time' in result['msg']
