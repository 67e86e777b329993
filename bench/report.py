# SPDX-License-Identifier: Apache-2.0
"""The bench's outputs: the side-by-side text table, latest.json, latest.md and the section of docs/benchmarks.md."""
import json
import os

from bench.common import REPO

BEGIN = '<!-- bench:begin (written by scripts/bench; do not edit by hand) -->'
END = '<!-- bench:end -->'
DOC = os.path.join(REPO, 'docs', 'benchmarks.md')


def _fmt(value, digits=1):
    if value is None:
        return '-'
    if isinstance(value, float):
        text = ('%.' + str(digits) + 'f') % value
        return text
    return str(value)


def med(stat, digits=1):
    """'median (min–max)' of a spread dict, or the plain value."""
    if stat is None:
        return '-'
    if not isinstance(stat, dict):
        return _fmt(stat, digits)
    if stat['n'] == 1 or stat['min'] == stat['max']:
        return _fmt(stat['median'], digits)
    return '%s (%s–%s)' % (_fmt(stat['median'], digits), _fmt(stat['min'], digits), _fmt(stat['max'], digits))


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |'  # noqa: E731
    return '\n'.join([line(header), '| ' + ' | '.join('-' * w for w in widths) + ' |'] + [line(r) for r in rows])


def ratio(a, b):
    if not a or not b or not isinstance(a, dict) or not isinstance(b, dict) or not b['median']:
        return '-'
    return '%.2f×' % (a['median'] / b['median'])


def _empty_summary():
    """A method that did not run (scripts/bench --methods escalator): every figure '-'."""
    return {'label': '(not run)', 'outage_per_pair_s': {}, 'ok_runs': 0, 'runs': 0}


def campaign_table(campaign):
    esc, base = campaign['summary']['escalator'], campaign['summary'].get('baseline') or _empty_summary()
    rows = []

    def row(label, key, digits=1):
        rows.append([label, med(esc.get(key), digits), med(base.get(key), digits), ratio(esc.get(key), base.get(key))])
    row('wall time (s)', 'wall_s')
    row("lower bound of the method's plan (s)", 'lower_bound_s')
    row('wall time / lower bound', 'wall_over_lower_bound', 2)
    row('controller CPU per host (CPU-s)', 'cpu_per_host_s', 2)
    row('task executions per host', 'tasks_per_host')
    row('first host in maintenance after (s)', 'first_maintenance_s')
    row("an empty host's turnaround (s)", 'empty_host_turnaround_s')
    row('host turnaround less its evacuation, median (s)', 'turnaround_without_evacuation_s')
    row('migrations, total', 'migrations_total', 0)
    row('  live', 'migrations_live', 0)
    row('  cold', 'migrations_cold', 0)
    row('  failed attempts (retried)', 'migration_errors', 0)
    row('migrations per instance, max', 'migrations_per_instance_max', 0)
    row('migrations per instance, mean', 'migrations_per_instance_mean', 2)
    for vnf in sorted(set(esc['outage_per_pair_s']) | set(base['outage_per_pair_s'])):
        rows.append(['VNF outage %s (s)' % vnf, med(esc['outage_per_pair_s'].get(vnf)),
                     med(base['outage_per_pair_s'].get(vnf)), ''])
    row('hosts disabled, sum over hosts (host·s)', 'disabled_total_host_s')
    row('hosts disabled, longest host (s)', 'disabled_max_host_s')
    row('mandatory operations (s)', 'mandatory_s')
    row('orchestration overhead (s)', 'overhead_s')
    row('overhead / wall time', 'overhead_fraction', 2)
    rows.append(['successful runs', '%d/%d' % (esc['ok_runs'], esc['runs']), '%d/%d' % (base['ok_runs'], base['runs']),
                 ''])
    hosts = (esc.get('hosts') or base.get('hosts') or {}).get('median')
    title = 'campaign, %d hosts (median (min–max))' % hosts if hosts else 'campaign (median (min–max))'
    return _table([title, esc['label'], base['label'], 'ratio'], rows)


def _dist(stat):
    """'median / p95 / max (count)' of bench.packets.percentiles, or '-'."""
    if not stat:
        return '-'
    return '%s / %s / %s (%d)' % (_fmt(stat['median'], 3), _fmt(stat['p95'], 3), _fmt(stat['max'], 3), stat['count'])


def real_guests_table(real, fake=None):
    """The campaigns on real guests beside the same campaign on the fake driver (4 hosts): per-migration downtime and
    duration, per-VNF outage over the campaign, lost guests (bench/real_guests.py)."""
    methods = [m for m in ('escalator', 'baseline') if m in real['summary'] and real['summary'][m].get('runs')]
    fake_esc = ((fake or {}).get('summary') or {}).get('escalator') or _empty_summary()
    header = ['real guests, 4 hosts'] + ['%s, real guests' % real['summary'][m]['label'] for m in methods] + [
        '%s, fake driver' % fake_esc['label']]
    packets = real.get('packets', {})
    rows = []

    def row(label, real_value, fake_value='-'):
        rows.append([label] + [real_value(m) for m in methods] + [fake_value])
    row('wall time (s)', lambda m: med(real['summary'][m].get('wall_s')), med(fake_esc.get('wall_s')))
    row('live migrations', lambda m: med(real['summary'][m].get('migrations_live'), 0),
        med(fake_esc.get('migrations_live'), 0))
    row('live migration, Nova record (s): median / p95 / max (n)',
        lambda m: _dist((packets.get(m) or {}).get('migration_s')))
    row('downtime per live migration, from packets (s): median / p95 / max (n)',
        lambda m: _dist((packets.get(m) or {}).get('downtime')), 'no packets (fake driver)')
    for vnf in sorted({v for m in methods for v in (packets.get(m) or {}).get('vnf_outage_s', {})}):
        row('VNF outage %s over the campaign, from packets (s), worst run' % vnf,
            lambda m, vnf=vnf: _fmt((packets.get(m) or {}).get('vnf_outage_s', {}).get(vnf), 3),
            '%s (API states)' % med((fake_esc.get('outage_per_pair_s') or {}).get(vnf)))
    row('guests that restarted (lost their state)', lambda m: _fmt((packets.get(m) or {}).get('lost_guests'), 0))
    row('controller CPU per host (CPU-s)', lambda m: med(real['summary'][m].get('cpu_per_host_s'), 2),
        med(fake_esc.get('cpu_per_host_s'), 2))
    row('successful runs', lambda m: '%d/%d' % (real['summary'][m]['ok_runs'], real['summary'][m]['runs']),
        '%d/%d' % (fake_esc['ok_runs'], fake_esc['runs']))
    return _table(header, rows)


def scale_table(campaign):
    """One line per lab size: how each method's time grows with the hosts (the baseline's with hosts, Escalator's
    with batches)."""
    from bench.campaign_bench import by_size  # pylint: disable=import-outside-toplevel
    rows = []
    for size, one in sorted(by_size(campaign).items()):
        esc, base = one['summary']['escalator'], one['summary'].get('baseline') or {}
        batches = [r.get('batches') for r in one['runs'] if r['method'] == 'escalator' and r.get('batches')]
        rows.append([str(size), ','.join(str(b) for b in batches[0]) if batches else '-',
                     med(esc.get('wall_s')), med(base.get('wall_s')), ratio(esc.get('wall_s'), base.get('wall_s')),
                     med(esc.get('wall_over_lower_bound'), 2), med(esc.get('cpu_per_host_s'), 2),
                     med(base.get('cpu_per_host_s'), 2), med(esc.get('tasks_per_host')),
                     med(esc.get('first_maintenance_s')), med(esc.get('outage_total_s'))])
    return _table(['hosts', 'Escalator batches', 'Escalator (s)', 'serial h-e-l (s)', 'ratio', 'Escalator / lower bound',
                   'Escalator CPU-s/host', 'serial CPU-s/host', 'Escalator tasks/host', 'first maintenance (s)',
                   'VNF outage (s)'], rows)


def planner_table(planner):
    rows = []
    for item in planner:
        rows.append(['%d' % item['hosts'], '%d' % item['instances'], med(item['plan_wall_s'], 2),
                     med(item['plan_rss_growth_mib'], 0), med(item['check_wall_s'], 2),
                     '%s / %s' % (med(item['batches'], 0), med(item['lower_bound'], 0)),
                     med(item['batches_over_lower_bound'], 3), str(item['moves_per_instance_max']),
                     med(item['moves_per_instance_mean'], 4), med(item['instances_moved_more_than_once'], 0),
                     item['checker']])
    return _table(['hosts', 'instances', 'plan (s)', 'plan memory (MiB)', 'check (s)', 'batches / lower bound',
                   'ratio', 'moves/instance max', 'mean', 'moved twice', 'independent checker'], rows)


def evacuation_table(evac):
    methods = evac['methods']
    rows = []
    for size in evac['sizes']:
        cells = evac['table'].get(str(size), {})
        row = [str(size)]
        for method in methods:
            cell = cells.get(method)
            row.append('-' if not cell else '%s%s' % (_fmt(cell['wall_s']), '' if cell['ok'] else ' FAILED'))
        base = cells.get('host-evacuate-live')
        best = [cells[m]['wall_s'] for m in methods if m != 'host-evacuate-live' and m in cells]
        row.append('%.2f×' % (min(best) / base['wall_s']) if base and best and base['wall_s'] else '-')
        rows.append(row)
    return _table(['instances on the host'] + ['%s (s)' % m for m in methods] + ['best Escalator / h-e-l'], rows)


def render(results):
    """The whole text report."""
    meta = results['meta']
    parts = ['Escalator benchmarks — %s on %s (%d CPUs, %s, %.0f GiB, kernel %s, Python %s)' % (
        meta['date'], meta['machine']['hostname'], meta['machine']['cpu_count'], meta['machine']['cpu_model'],
        meta['machine']['memory_gib'], meta['machine']['kernel'], meta['machine']['python'])]
    if results.get('campaign'):
        from bench.campaign_bench import by_size  # pylint: disable=import-outside-toplevel
        sizes = by_size(results['campaign'])
        if len(sizes) > 1:
            parts += ['', 'Campaigns by lab size (medians; every run from `lab reset`, same workloads per host)',
                      scale_table(results['campaign'])]
        for _size, one in sorted(sizes.items()):
            parts += ['', 'Campaign on the lab (%d repetitions each, interleaved; every run from `lab reset`)'
                      % one['repeat'], campaign_table(one)]
    if results.get('real_guests'):
        from bench.campaign_bench import by_size  # pylint: disable=import-outside-toplevel
        parts += ['', 'Campaign on real guests (libvirt + QEMU in pure emulation, real live migration; the probe '
                  'measures packets every 10 ms), beside the fake driver', real_guests_table(
                      results['real_guests'], by_size(results.get('campaign')).get(4))]
    if results.get('planner'):
        parts += ['', 'Planner at scale (synthetic clouds, 20 instances per host; median (min–max) of %d seeds)'
                  % results['planner'][0]['repeat'], planner_table(results['planner'])]
    if results.get('evacuation'):
        parts += ['', 'Evacuation of one host (%s, %s); wall time until the host is empty' % (
            results['evacuation']['source_host'], results['evacuation']['flavor']),
            evacuation_table(results['evacuation'])]
    parts += ['', 'bench duration: %.0f s for this run; per section (its latest run): %s' % (
        meta['duration_s'], ', '.join('%s %.0f s' % (k, v) for k, v in meta['section_s'].items()))]
    full = meta.get('full_run')
    if full and full.get('date') != meta['date']:
        parts.append('last full run (every section): %s, %.0f s; sections dated %s' % (
            full['date'], full['duration_s'], ', '.join('%s %s' % (k, v) for k, v in sorted(
                meta.get('section_dates', {}).items()))))
    return '\n'.join(parts) + '\n'


def write(results, out_dir, doc=None):
    """latest.json and latest.md in out_dir; the marked section of `doc` (docs/benchmarks.md) when given."""
    os.makedirs(out_dir, exist_ok=True)
    text = render(results)
    with open(os.path.join(out_dir, 'latest.json'), 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
        handle.write('\n')
    with open(os.path.join(out_dir, 'latest.md'), 'w', encoding='utf-8') as handle:
        handle.write('```\n' + text + '```\n')
    if doc and os.path.exists(doc):
        update_doc(doc, text, results)
    return text


def update_doc(doc, text, results):
    with open(doc, encoding='utf-8') as handle:
        content = handle.read()
    if BEGIN not in content or END not in content:
        return False
    head, rest = content.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    meta = results['meta']
    block = '%s\nLatest run: %s on `%s` (%d CPUs: %s; %.0f GiB; kernel %s; %s; Python %s; commit %s).\n\n```\n%s```\n%s' % (
        BEGIN, meta['date'], meta['machine']['hostname'], meta['machine']['cpu_count'], meta['machine']['cpu_model'],
        meta['machine']['memory_gib'], meta['machine']['kernel'], meta['machine']['os'], meta['machine']['python'],
        meta['machine'].get('git_commit'), text, END)
    with open(doc, 'w', encoding='utf-8') as handle:
        handle.write(head + block + tail)
    return True
