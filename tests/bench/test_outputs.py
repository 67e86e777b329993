# SPDX-License-Identifier: Apache-2.0
"""The campaign figures, the table, latest.json, the docs section and the plots, from recorded data (no lab)."""
import json
import os
import time
import types

from bench import campaign_bench, costs, labkit, plots, report, run as bench_run
from bench.common import covered, merge_intervals, spread

T0 = 1_800_000_000.0


def iso(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(T0 + seconds)) + '.%03dZ' % int(round((seconds % 1) * 1000))


def escalator_status():
    hosts = {}
    for n, offset in (('compute1', 0), ('compute2', 60)):
        marks = [('maintenance', 0), ('evacuate', 5), ('backup', 20), ('upgrade', 30), ('verify', 50),
                 ('notify_complete', 58)]
        hosts[n] = {'state': 'done', 'history': [{'ts': iso(offset + t), 'phase': p} for p, t in marks]}
    return {'hosts': hosts}


def baseline_tasks():
    """The baseline's task log (bench/callback_plugins/bench_task_log.py): the first task of each phase tagged."""
    lines = []
    for n, offset in (('compute1', 0), ('compute2', 40)):
        for i, (phase, t) in enumerate((('disable', 0), ('evacuate', 2), ('upgrade', 12), ('wait_up', 32),
                                        (None, 34))):
            tags = ['bench_phase_%s' % phase] if phase else []
            lines.append(json.dumps({'e': 'start', 'host': n, 'id': 'u%d' % i, 'task': phase or 'Enable',
                                     'module': 'command', 'tags': tags, 't': T0 + offset + t}))
            lines.append(json.dumps({'e': 'end', 'host': n, 'id': 'u%d' % i, 'status': 'ok',
                                     't': T0 + offset + t + (2 if phase is None else 0.5)}))
    return costs.read_task_log(lines)


def records(pairs, kind='live-migration'):
    return [{'id': i, 'server_id': sid, 'type': kind, 'status': 'completed', 'source': 'compute1', 'dest': 'compute2',
             'created': T0 + a, 'updated': T0 + b} for i, (sid, a, b) in enumerate(pairs)]


def disabled(per_host):
    return {'per_host_s': per_host, 'total_host_s': sum(per_host.values()), 'interval_s': 1.0, 'samples': 100,
            'errors': 0, 'intervals': {h: [[T0, T0 + s]] for h, s in per_host.items()}}


def test_intervals_and_spread():
    assert merge_intervals([[5, 7], [0, 2], [1, 3], [7, 8]]) == [[0, 3], [5, 8]]
    assert covered([[0, 10], [5, 15]], 2, 12) == 10
    assert spread([3, 1, 2]) == {'median': 2, 'min': 1, 'max': 3, 'n': 3}
    assert spread([None]) is None


def test_phases_of_both_methods():
    esc = campaign_bench.escalator_phases(escalator_status())
    assert [s[0] for s in esc['compute1']] == ['maintenance', 'evacuate', 'backup', 'upgrade', 'verify']
    assert esc['compute2'][3] == ['upgrade', T0 + 90, T0 + 110]
    base = campaign_bench.baseline_phases(baseline_tasks())
    assert [s[0] for s in base['compute2']] == ['maintenance', 'evacuate', 'upgrade', 'verify']
    assert base['compute1'][2] == ['upgrade', T0 + 12, T0 + 32]


def make_run(method, wall, moves, outage=0.0):
    phases = campaign_bench.escalator_phases(escalator_status()) if method == 'escalator' else \
        campaign_bench.baseline_phases(baseline_tasks())
    recs = records(moves)
    return campaign_bench.figures(method, T0, T0 + wall, phases, recs, ['a', 'b', 'c'],
                                  disabled({'compute1': 50.0, 'compute2': 45.0}),
                                  {'vnf-a': 0.0, 'vnf-b': outage}, 0.0, 0)


def test_figures_define_overhead_as_wall_minus_mandatory():
    run = make_run('escalator', 130, [('a', 6, 12), ('b', 10, 16), ('c', 66, 72)])
    # mandatory = migrations [6,16] + [66,72] + upgrades [30,50] + [90,110] = 10 + 6 + 20 + 20
    assert run['mandatory_s'] == 56.0
    assert run['overhead_s'] == 74.0
    assert run['migrations']['total'] == 3 and run['migrations']['live'] == 3 and run['migrations']['cold'] == 0
    assert run['migrations']['per_instance_max'] == 1 and run['migrations']['per_instance_mean'] == 1.0
    assert run['disabled_max_host_s'] == 50.0
    assert run['timeline']['hosts']['compute1'][0] == ['maintenance', 0.0, 5.0]
    json.dumps(run)


def results():
    runs = [make_run('escalator', 130, [('a', 6, 12), ('b', 10, 16)]),
            make_run('baseline', 80, [('a', 3, 9), ('a', 43, 49), ('c', 44, 50)], outage=1.5),
            make_run('escalator', 120, [('a', 6, 12), ('b', 10, 16)]),
            make_run('baseline', 90, [('a', 3, 9), ('b', 43, 49)], outage=0.5)]
    campaign = {'repeat': 2, 'order': [r['method'] for r in runs], 'max_batch_size': 2,
                'summary': campaign_bench.summarise(runs), 'runs': runs}
    planner = [{'hosts': h, 'instances': 20 * h, 'server_groups': h, 'repeat': 2,
                'plan_wall_s': spread([h / 1000, h / 900]), 'plan_cpu_s': spread([h / 1000]),
                'check_wall_s': spread([h / 1200]), 'plan_rss_growth_mib': spread([h / 40]),
                'peak_rss_mib': spread([30 + h / 30]), 'batches': spread([h // 8 + 2]),
                'lower_bound': spread([h // 8 + 1]), 'batches_over_lower_bound': spread([1.01]),
                'moves_per_instance_max': 2, 'moves_per_instance_mean': spread([1.001]),
                'instances_moved_more_than_once': spread([20]), 'checker': 'every plan valid (2 checked)', 'runs': []}
               for h in (100, 1000)]
    evac = {'source_host': 'compute4', 'flavor': 'm1.tiny', 'sizes': [1, 4],
            'methods': ['escalator max_concurrent=1', 'host-evacuate-live'],
            'table': {'1': {'escalator max_concurrent=1': {'wall_s': 7.0, 'migrations': 1, 'ok': True, 'per_instance_s': 7},
                            'host-evacuate-live': {'wall_s': 6.8, 'migrations': 1, 'ok': True, 'per_instance_s': 6.8}},
                      '4': {'escalator max_concurrent=1': {'wall_s': 24.0, 'migrations': 4, 'ok': True, 'per_instance_s': 6},
                            'host-evacuate-live': {'wall_s': 25.0, 'migrations': 4, 'ok': False, 'per_instance_s': 6.2}}},
            'runs': []}
    meta = {'date': '2026-11-22T08:00:00.000Z', 'machine': {'hostname': 'box', 'cpu_count': 2, 'cpu_model': 'CPU',
                                                            'memory_gib': 24.0, 'kernel': '6.1', 'os': 'Debian 12',
                                                            'python': '3.11.2', 'git_commit': 'abc'},
            'duration_s': 1700.0, 'section_s': {'planner': 20.0, 'evacuation': 600.0, 'campaign': 1080.0}}
    return {'meta': meta, 'campaign': campaign, 'planner': planner, 'evacuation': evac}


def test_summary_takes_median_and_spread_per_method():
    summary = results()['campaign']['summary']
    assert summary['escalator']['wall_s'] == {'median': 125.0, 'min': 120.0, 'max': 130.0, 'n': 2}
    assert summary['baseline']['migrations_per_instance_max'] == {'median': 1.5, 'min': 1, 'max': 2, 'n': 2}
    assert summary['baseline']['outage_per_pair_s']['vnf-b'] == {'median': 1.0, 'min': 0.5, 'max': 1.5, 'n': 2}
    assert summary['escalator']['ok_runs'] == 2


def test_table_json_doc_and_plots(tmp_path):
    data = results()
    doc = tmp_path / 'benchmarks.md'
    doc.write_text('# Benchmarks\n\nintro\n\n%s\nOLD-SECTION\n%s\n\nafter\n' % (report.BEGIN, report.END))
    text = report.write(data, str(tmp_path / 'out'), doc=str(doc))
    assert 'wall time (s)' in text and '125.0 (120.0–130.0)' in text and '85.0 (80.0–90.0)' in text
    assert '1.47×' in text                       # 125 / 85
    assert 'VNF outage vnf-b (s)' in text
    assert '| 1000  |' in text and 'every plan valid (2 checked)' in text
    assert '25.0 FAILED' in text
    assert 'bench duration: 1700 s' in text
    saved = json.loads((tmp_path / 'out' / 'latest.json').read_text())
    assert saved['campaign']['summary']['escalator']['wall_s']['median'] == 125.0
    content = doc.read_text()
    assert 'OLD-SECTION' not in content and 'intro' in content and 'after' in content
    assert 'Latest run: 2026-11-22T08:00:00.000Z on `box`' in content and 'wall time (s)' in content
    written = plots.write_all(data, str(tmp_path / 'out'))
    assert sorted(os.path.basename(p) for p in written) == ['campaign-timeline.png', 'evacuation.png',
                                                           'planner-scaling.png']
    for path in written:
        with open(path, 'rb') as handle:
            assert handle.read(8) == b'\x89PNG\r\n\x1a\n'
        assert os.path.getsize(path) > 10_000


def test_several_lab_sizes_get_a_scale_table_and_a_timeline_each(tmp_path):
    data = results()
    small = data['campaign']
    for run in small['runs']:
        run['batches'] = [1, 1] if run['method'] == 'escalator' else [1, 1]
    large = json.loads(json.dumps(small))
    for run in large['runs']:
        run['wall_s'] *= 2
    large['summary'] = campaign_bench.summarise(large['runs'])
    data['campaign'] = {'hosts': [2, 4], 'sizes': {'2': small, '4': large}}
    text = report.write(data, str(tmp_path / 'out'))
    assert 'Campaigns by lab size' in text
    scale = text.split('Campaigns by lab size', 1)[1].split('\n\n', 1)[0]
    assert '| 250.0' in scale and '| 1,1' in scale   # Escalator's wall time on the larger lab, the batch sizes
    assert text.count('Campaign on the lab (2 repetitions') == 2
    written = plots.write_all(data, str(tmp_path / 'out'))
    assert {'campaign-timeline-2hosts.png', 'campaign-timeline-4hosts.png'} <= {os.path.basename(p) for p in written}
    assert set(campaign_bench.by_size(data['campaign'])) == {2, 4}
    assert list(campaign_bench.by_size(small).values()) == [small]     # results of one size, as older runs wrote them


def test_migration_figures_count_kinds_and_moves_per_instance():
    recs = records([('a', 0, 5), ('a', 10, 15), ('b', 0, 5)]) + records([('c', 0, 9)], kind='migration')
    recs.append(dict(recs[0], status='error', id=99))
    out = labkit.migration_figures(recs, ['a', 'b', 'c', 'd'])
    assert out == {'total': 4, 'live': 3, 'cold': 1, 'errors': 1, 'per_instance_max': 2, 'per_instance_mean': 1.0,
                   'instances': 4, 'instances_moved_more_than_once': 1}


def test_service_poller_records_disabled_intervals():
    states = iter(['enabled', 'disabled', 'disabled', 'enabled'] + ['enabled'] * 1000)

    class Compute:
        @staticmethod
        def services(binary):
            assert binary == 'nova-compute'
            return [types.SimpleNamespace(host='compute1', status=next(states))]
    poller = labkit.ServicePoller(types.SimpleNamespace(compute=Compute()), interval=0.01).start()
    time.sleep(0.3)
    out = poller.stop()
    assert list(out['intervals']) == ['compute1'] and len(out['intervals']['compute1']) == 1
    assert out['samples'] >= 4 and out['errors'] == 0


def test_nova_cli_env_from_clouds_yaml(tmp_path):
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text('clouds:\n  lab:\n    auth:\n      auth_url: http://10.213.0.1:5000/v3\n      username: admin\n'
                      '      password: secret\n      project_name: admin\n      user_domain_name: Default\n'
                      '      project_domain_name: Default\n    region_name: RegionOne\n')
    env = labkit.nova_cli_env({'OS_CLIENT_CONFIG_FILE': str(clouds), 'OS_CLOUD': 'lab'},
                              base={'PATH': '/usr/bin', 'OS_CLOUD': 'lab', 'HOME': '/root'})
    assert env['OS_AUTH_URL'] == 'http://10.213.0.1:5000/v3' and env['OS_USERNAME'] == 'admin'
    assert env['OS_PASSWORD'] == 'secret' and env['OS_USER_DOMAIN_NAME'] == 'Default'
    assert env['OS_REGION_NAME'] == 'RegionOne' and env['OS_COMPUTE_API_VERSION'] == '2.latest'
    assert 'OS_CLOUD' not in env and env['HOME'] == '/root'


def test_cli_options():
    args = bench_run.parse_args(['--quick'])
    assert args.sections == ['planner', 'evacuation'] and args.repeat == 1 and args.out == bench_run.QUICK_OUT
    assert args.evacuation_sizes == (1,) and args.concurrency == (1,)
    args = bench_run.parse_args(['--only', 'planner,campaign', '--repeat', '3'])
    assert args.sections == ['planner', 'campaign'] and args.repeat == 3 and args.out == bench_run.DEFAULT_OUT
    assert args.planner_sizes == (100, 1000, 5000) and args.evacuation_sizes == (1, 4, 16)


def test_planner_only_run_writes_outputs(tmp_path, capsys):
    rc = bench_run.main(['--quick', '--only', 'planner', '--planner-sizes', '10,16', '--out', str(tmp_path)])
    assert rc == 0
    saved = json.loads((tmp_path / 'latest.json').read_text())
    assert [p['hosts'] for p in saved['planner']] == [10, 16]
    assert saved['meta']['machine']['cpu_count'] >= 1 and saved['meta']['quick'] is True
    assert (tmp_path / 'planner-scaling.png').exists() and (tmp_path / 'latest.md').exists()
    assert 'Planner at scale' in capsys.readouterr().out


def test_a_partial_run_keeps_the_other_sections_and_the_full_run(tmp_path):
    data = results()
    data['meta'].update(quick=False, section_dates={'planner': 'D0', 'evacuation': 'D0', 'campaign': 'D0'},
                        full_run={'date': 'D0', 'duration_s': 1700.0})
    (tmp_path / 'latest.json').write_text(json.dumps(data))
    rc = bench_run.main(['--only', 'planner', '--planner-sizes', '10', '--planner-repeat', '1', '--out', str(tmp_path)])
    assert rc == 0
    saved = json.loads((tmp_path / 'latest.json').read_text())
    assert [p['hosts'] for p in saved['planner']] == [10]
    assert saved['campaign'] == data['campaign'] and saved['evacuation'] == data['evacuation']
    assert saved['meta']['section_dates']['campaign'] == 'D0' and saved['meta']['section_dates']['planner'] != 'D0'
    assert saved['meta']['full_run'] == {'date': 'D0', 'duration_s': 1700.0}
    assert saved['meta']['section_s']['campaign'] == 1080.0
    text = (tmp_path / 'latest.md').read_text()
    assert 'last full run (every section): D0, 1700 s' in text
    assert (tmp_path / 'campaign-timeline.png').exists()
