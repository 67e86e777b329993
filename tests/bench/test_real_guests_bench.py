# SPDX-License-Identifier: Apache-2.0
"""The benchmark's real-guest figures (bench/packets.py, bench/real_guests.py, the table in bench/report.py)."""
from bench import packets, real_guests, report, run as bench_run

T0 = 1_800_000_000.0


def record(sid, created, updated, kind='live-migration', status='completed'):
    return {'id': sid, 'server_id': sid, 'type': kind, 'status': status, 'source': 'compute1', 'dest': 'compute2',
            'created': T0 + created, 'updated': T0 + updated}


def probe_summary(downtimes, vnf_outage=0.0, lost=0):
    return {'mode': 'packets', 'lost_guests': lost,
            'vnfs': {'vnf-a': {'outage_seconds': vnf_outage}, 'vnf-b': {'outage_seconds': 0.0}},
            'outage_seconds_by_cause': {'guest': {'live_migration': sum(downtimes)}},
            'live_migrations': [{'downtime_seconds': d, 'open': False} for d in downtimes] + [
                {'downtime_seconds': None}, {'downtime_seconds': 9.0, 'open': True}]}


def test_percentiles_are_nearest_rank():
    assert packets.percentiles([]) is None
    assert packets.percentiles([None, 0.3]) == {'count': 1, 'median': 0.3, 'p95': 0.3, 'max': 0.3}
    figures = packets.percentiles([i / 100 for i in range(1, 21)])          # 0.01 .. 0.20
    assert figures == {'count': 20, 'median': 0.1, 'p95': 0.19, 'max': 0.2}


def test_packet_figures_only_with_the_packet_probe_and_only_finished_live_migrations():
    assert packets.packet_figures({'mode': 'api', 'vnfs': {}}, []) is None
    assert packets.packet_figures(None, []) is None
    figures = packets.packet_figures(probe_summary([0.2, 0.4, 0.3], vnf_outage=0.05, lost=1), [
        record('a', 0, 2.5), record('b', 10, 11.5), record('c', 20, 30, kind='migration'),
        record('d', 40, 41, status='error')])
    assert figures['downtime'] == {'count': 3, 'median': 0.3, 'p95': 0.4, 'max': 0.4}   # not the open, not unprobed
    assert figures['migration_s'] == {'count': 2, 'median': 1.5, 'p95': 2.5, 'max': 2.5}  # live and completed only
    assert figures['vnf_outage_s'] == {'vnf-a': 0.05, 'vnf-b': 0.0} and figures['lost_guests'] == 1
    assert figures['downtime_values'] == [0.2, 0.3, 0.4] and figures['migration_values'] == [1.5, 2.5]


def test_runs_pool_into_one_distribution_and_the_table_sits_beside_the_fake_driver():
    runs = [{'method': 'escalator', 'ok': True, 'packets': packets.packet_figures(probe_summary([0.2, 0.5]), [
        record('a', 0, 2)])},
            {'method': 'escalator', 'ok': True, 'packets': packets.packet_figures(probe_summary([0.3], 0.1), [
                record('b', 0, 4)])},
            {'method': 'escalator', 'ok': False, 'packets': packets.packet_figures(probe_summary([9.0]), [])}]
    pooled = real_guests.summarise(runs)['escalator']
    assert pooled['downtime'] == {'count': 3, 'median': 0.3, 'p95': 0.5, 'max': 0.5}     # the failed run left out
    assert pooled['migration_s']['max'] == 4 and pooled['vnf_outage_s'] == {'vnf-a': 0.1, 'vnf-b': 0.0}
    spread = {'median': 100.0, 'min': 100.0, 'max': 100.0, 'n': 1}
    real = {'summary': {'escalator': {'label': 'Escalator', 'runs': 2, 'ok_runs': 2, 'wall_s': spread}},
            'packets': {'escalator': pooled}}
    fake = {'summary': {'escalator': {'label': 'Escalator', 'runs': 1, 'ok_runs': 1, 'outage_per_pair_s': {},
                                      'wall_s': dict(spread, median=90.0)}}}
    table = report.real_guests_table(real, fake)
    assert 'Escalator, real guests' in table and 'Escalator, fake driver' in table
    assert '0.300 / 0.500 / 0.500 (3)' in table and '100.0' in table and '90.0' in table
    assert 'VNF outage vnf-a over the campaign' in table


def test_real_guests_is_a_section_only_on_demand():
    assert 'real_guests' not in bench_run.parse_args([]).sections
    assert bench_run.parse_args(['--only', 'real_guests']).sections == ['real_guests']
