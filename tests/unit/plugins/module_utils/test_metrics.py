# SPDX-License-Identifier: Apache-2.0
"""module_utils/metrics: the campaign's metrics, a textfile, and pushes to a real Pushgateway on loopback, a dead one
and a hostile one (issue 16)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import metrics, state
from ansible_collections.opnfv.escalator.tests.unit import pushgateway


def sample_status():
    status = state.new_status('c1', 'r1', state.parse_ts('2026-01-01T10:00:00.000Z'))
    status['batches'] = [dict(index=1, hosts=['compute1'], canary=True, state='done'),
                         dict(index=2, hosts=['compute2', 'compute3'], canary=False, state='running')]
    done = state.new_host(1)
    done.update(state='done', phase='notify_complete', started='2026-01-01T10:00:10.000Z',
                finished='2026-01-01T10:01:10.000Z', run='r1', history=[
                    dict(ts='2026-01-01T10:00:10.000Z', phase='maintenance', state='draining'),
                    dict(ts='2026-01-01T10:00:20.000Z', phase='evacuate', state='draining'),
                    dict(ts='2026-01-01T10:00:50.000Z', phase='upgrade', state='upgrading'),
                    dict(ts='2026-01-01T10:01:10.000Z', phase='notify_complete', state='done')])
    failed = state.new_host(2)
    failed.update(state='rolled_back', error_code='E_UPGRADE', run='r1', history=[
        dict(ts='2026-01-01T10:01:20.000Z', phase='maintenance', state='draining'),
        dict(ts='2026-01-01T10:01:30.000Z', phase='rollback', state='rolled_back')])
    busy = state.new_host(2)
    busy.update(state='draining', phase='evacuate', run='r1', history=[
        dict(ts='2026-01-01T10:01:20.000Z', phase='evacuate', state='draining')])
    status['hosts'] = {'compute1': done, 'compute2': failed, 'compute3': busy}
    return status


def parse(text):
    """{(name, frozenset(labels)): value} of a text exposition, checking each line's shape."""
    samples = {}
    for line in text.splitlines():
        if line.startswith('#'):
            assert re.match(r'^# (HELP|TYPE) escalator_[a-z_]+ ', line), line
            continue
        match = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        assert match, line
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', match.group(2) or ''))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def test_the_campaign_s_metrics_from_its_status_and_this_run_s_results():
    counters = metrics.RunCounters()
    counters.observe('opnfv.escalator.compute_evacuate', 'changed', dict(instances=[
        dict(method='live', result='moved'), dict(method='live', result='moved'), dict(method='cold', result='failed'),
        dict(method=None, result='left_alone'), dict(method='live', result='planned')]))
    counters.observe('opnfv.escalator.vnfm_notify', 'ok', dict(state='PLANNED_MAINTENANCE', projects={
        'p1': dict(outcome='acked'), 'p2': dict(outcome='timed_out')}))
    counters.observe('opnfv.escalator.vnfm_notify', 'ok', dict(state='MAINTENANCE_COMPLETE', projects={
        'p1': dict(outcome='acked')}))
    counters.observe('opnfv.escalator.compute_evacuate', 'failed', dict(error_code='E_EVACUATE', instances=[]))
    counters.observe('ansible.builtin.command', 'failed', dict(msg='x'))
    counters.observe('ansible.builtin.command', 'failed', dict(msg='x'), ignored=True)
    counters.observe('ansible.builtin.ping', 'unreachable', dict(msg='x'))
    now = state.parse_ts('2026-01-01T10:02:00.000Z').timestamp()
    text = metrics.render(metrics.campaign_metrics(sample_status(), counters, now=now), 'c1')
    samples = parse(text)

    def value(name, **labels):
        return samples.get((name, frozenset(dict(labels, campaign='c1').items())))

    assert value('escalator_campaign_info', run='r1', state='running') == 1
    assert value('escalator_campaign_state', state='running') == 1 and value('escalator_campaign_state', state='done') == 0
    assert [value('escalator_hosts', state=s) for s in ('pending', 'draining', 'done', 'rolled_back', 'failed')] == \
        [0, 1, 1, 1, 0]
    assert (value('escalator_batches'), value('escalator_batches_done'), value('escalator_batch_current')) == (2, 1, 2)
    assert value('escalator_hosts_failed', error_code='E_UPGRADE') == 1
    assert value('escalator_phase_duration_seconds_sum', phase='evacuate') == 30
    assert value('escalator_phase_duration_seconds_count', phase='evacuate') == 1     # compute3's is not over
    assert value('escalator_phase_duration_seconds_sum', phase='maintenance') == 20    # 10 + 10
    assert value('escalator_phase_duration_seconds_count', phase='maintenance') == 2
    assert value('escalator_campaign_elapsed_seconds') == 120
    assert value('escalator_campaign_expected_seconds') == 240                         # 1 batch of 2 in 120 s
    assert value('escalator_campaign_started_timestamp_seconds') == now - 120
    assert value('escalator_migrations_total', method='live', result='moved') == 2
    assert value('escalator_migrations_total', method='cold', result='failed') == 1
    assert value('escalator_migrations_total', method='none', result='left_alone') == 1
    assert not [key for key in samples if key[0] == 'escalator_migrations_total' and ('result', 'planned') in key[1]]
    assert value('escalator_vnfm_replies_total', state='PLANNED_MAINTENANCE', outcome='timed_out') == 1
    assert value('escalator_vnfm_replies_total', state='MAINTENANCE_COMPLETE', outcome='acked') == 1
    assert value('escalator_task_failures_total', error_code='E_EVACUATE') == 1
    assert value('escalator_task_failures_total', error_code='none') == 1               # the ignored one not counted
    assert value('escalator_task_failures_total', error_code='E_UNREACHABLE') == 1
    assert value('escalator_metrics_updated_timestamp_seconds') == now


def test_the_expected_time_comes_from_the_campaign_gate_when_it_ran():
    counters = metrics.RunCounters()
    counters.observe('opnfv.escalator.campaign_gate', 'ok', dict(expected_batch_s=300, expected_phases={}))
    now = state.parse_ts('2026-01-01T10:02:00.000Z').timestamp()
    samples = parse(metrics.render(metrics.campaign_metrics(sample_status(), counters, now=now), 'c1'))
    assert samples[('escalator_campaign_expected_seconds', frozenset({('campaign', 'c1')}))] == 120 + 300
    assert samples[('escalator_batch_expected_seconds', frozenset({('campaign', 'c1')}))] == 300


def test_every_metric_is_documented():
    with open(metrics.__file__.replace('plugins/module_utils/metrics.py', 'docs/metrics.md'), encoding='utf-8') as doc:
        documented = set(re.findall(r'`(escalator_[a-z_]+)`', doc.read()))
    counters = metrics.RunCounters()
    counters.expected_batch_s = 60.0
    text = metrics.render(metrics.campaign_metrics(sample_status(), counters, now=time.time()), 'c1')
    names = set(re.findall(r'^# TYPE (escalator_[a-z_]+) ', text, re.M))
    assert names and names <= documented, names - documented


def test_a_finished_campaign_has_an_end_and_no_expected_time(tmp_path):
    status = sample_status()
    status['campaign'].update(state='failed', finished='2026-01-01T10:01:40.000Z')
    exporter = metrics.Exporter(textfile=str(tmp_path / 'escalator.prom'))
    assert exporter.export(status, 'c1') == []
    samples = parse((tmp_path / 'escalator.prom').read_text(encoding='utf-8'))
    assert samples[('escalator_campaign_elapsed_seconds', frozenset({('campaign', 'c1')}))] == 100
    assert ('escalator_campaign_finished_timestamp_seconds', frozenset({('campaign', 'c1')})) in samples
    assert not [key for key in samples if key[0] == 'escalator_campaign_expected_seconds']
    assert (tmp_path / 'escalator.prom').stat().st_mode & 0o777 == 0o644
    assert exporter.export(status, 'c1') == [] and len(list(tmp_path.iterdir())) == 1     # replaced, no leftovers
    broken = metrics.Exporter(textfile=str(tmp_path / 'no-such-dir' / 'x.prom'))
    assert 'cannot write the metrics textfile' in broken.export(status, 'c1')[0]


def test_label_values_are_escaped():
    family = metrics.Family('escalator_x', 'gauge', 'x').add(1, message='a "quoted"\\ \nline')
    assert family.render({})[-1] == 'escalator_x{message="a \\"quoted\\"\\\\ \\nline"} 1'


def test_credentials_become_a_header_and_are_never_shown():
    url, header = metrics.split_credentials('https://user%40corp:p%3Ass@gw.example:9091/prefix')
    assert url == 'https://gw.example:9091/prefix' and header == 'Basic dXNlckBjb3JwOnA6c3M='
    assert metrics.split_credentials('http://gw:9091') == ('http://gw:9091', None)
    assert metrics.group_url('http://gw:9091/', 'lab/1') == 'http://gw:9091/metrics/job/escalator/campaign/lab%2F1'


def test_a_dead_gateway_costs_a_bounded_time_and_three_pushes_at_most():
    with socket.socket() as probe:          # a port nothing listens on: refused at once
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    exporter = metrics.Exporter('http://user:topsecret@127.0.0.1:%d' % port, timeout=1)
    problems = []
    started = time.monotonic()
    for _attempt in range(10):
        problems += exporter.export(sample_status(), 'c1')
    assert time.monotonic() - started < 3.5
    assert exporter.pushes == 3 and len(problems) == 3, problems
    assert 'cannot push the metrics to the Pushgateway http://127.0.0.1:%d/...' % port in problems[0]
    assert 'no more pushes in this run' in problems[-1]
    assert not any('topsecret' in p or 'user' in p for p in problems)


def test_a_gateway_that_never_answers_holds_a_push_no_longer_than_the_timeout():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    accepted = []

    def hold():
        while True:
            try:
                connection, _address = listener.accept()
            except OSError:
                return
            accepted.append(connection)
            connection.send(b'HTTP/1.1 200 OK\r\n')        # then nothing: a drip that never ends

    threading.Thread(target=hold, daemon=True).start()
    exporter = metrics.Exporter('http://127.0.0.1:%d' % listener.getsockname()[1], timeout=0.5)
    try:
        started = time.monotonic()
        problems = exporter.export(sample_status(), 'c1')
        elapsed = time.monotonic() - started
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
    assert elapsed < 1.5, elapsed
    assert problems and 'cannot push the metrics' in problems[0]


@pytest.mark.skipif(not pushgateway.available(), reason='prometheus-pushgateway is not installed (scripts/setup)')
def test_a_real_pushgateway_holds_the_pushed_metrics_with_basic_auth(tmp_path):
    with pushgateway.running(tmp_path) as gateway:
        refused = metrics.Exporter(gateway.base, timeout=2)
        problems = refused.export(sample_status(), 'c1')
        assert problems and '401' in problems[0], problems
        exporter = metrics.Exporter(gateway.url_with_credentials, timeout=2)
        assert exporter.export(sample_status(), 'c1') == []
        assert gateway.value('c1', 'escalator_hosts', state='done') == 1
        assert gateway.value('c1', 'escalator_phase_duration_seconds_sum', phase='evacuate') == 30
        status = sample_status()
        status['hosts']['compute3'].update(state='done')
        assert exporter.export(status, 'c1') == []              # PUT: the group is replaced, not added to
        assert gateway.value('c1', 'escalator_hosts', state='done') == 2
        assert gateway.value('c1', 'escalator_hosts', state='draining') == 0
