# SPDX-License-Identifier: Apache-2.0
"""PNG plots of the bench results: campaign timeline (hosts × time, phases coloured, both methods), planner
scaling, evacuation times."""
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

COLOURS = {'maintenance': '#9e9e9e', 'evacuate': '#1f77b4', 'backup': '#8c564b', 'upgrade': '#d62728',
           'verify': '#2ca02c'}
PHASE_LABELS = {'maintenance': 'maintenance (disable; Escalator: + VNFM notification)',
                'evacuate': 'evacuate', 'backup': 'backup (Escalator only)', 'upgrade': 'upgrade + reboot',
                'verify': 'verify (baseline: wait for nova-compute up) + enable'}


def representative(runs, method):
    """The successful run of `method` with the median wall time (else the first run)."""
    mine = [r for r in runs if r['method'] == method]
    good = sorted((r for r in mine if r['ok']), key=lambda r: r['wall_s'])
    if good:
        return good[(len(good) - 1) // 2]
    return mine[0] if mine else None


def campaign_timeline(campaign, path, stamp=''):
    runs = campaign['runs']
    chosen = [(m, representative(runs, m)) for m in ('escalator', 'baseline')]
    chosen = [(m, r) for m, r in chosen if r]
    xmax = max(r['wall_s'] for _m, r in chosen)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(11, 2.2 + 1.1 * len(chosen) * 2), sharex=True, squeeze=False)
    for ax, (method, run) in zip(axes[:, 0], chosen):
        hosts = sorted(run['timeline']['hosts'])
        for y, host in enumerate(hosts):
            for cls, start, end in run['timeline']['hosts'][host]:
                ax.broken_barh([(start, end - start)], (y - 0.35, 0.5), color=COLOURS.get(cls, '#cccccc'))
            for start, end in run['timeline']['disabled'].get(host, []):
                ax.plot([start, end], [y + 0.25, y + 0.25], color='black', linewidth=2, solid_capstyle='butt')
        for _sid, _kind, start, end in run['timeline']['migrations']:
            ax.plot([start, end], [-0.8, -0.8], color=COLOURS['evacuate'], alpha=0.35, linewidth=4)
        ax.set_yticks(list(range(len(hosts))) + [-0.8])
        ax.set_yticklabels(hosts + ['migrations'])
        ax.set_ylim(-1.3, len(hosts) - 0.4)
        ax.invert_yaxis()
        ax.set_xlim(0, xmax * 1.02)
        ax.axvline(run['wall_s'], color='black', linestyle=':', linewidth=1)
        bound = run['timeline'].get('lower_bound_s')
        if bound:
            # what the plan's batches would take doing nothing but the mandatory operations
            ax.axvline(bound, color='#d62728', linestyle='--', linewidth=1)
        ax.set_title('%s — %.0f s%s, %d migrations, overhead %.0f s (black line: service disabled)' % (
            campaign['summary'][method]['label'], run['wall_s'],
            ' (lower bound %.0f s, red dashes)' % bound if bound else '', run['migrations']['total'],
            run['overhead_s']), fontsize=10, loc='left')
        ax.grid(axis='x', alpha=0.3)
    axes[-1, 0].set_xlabel('seconds since the start of the run')
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    fig.legend(handles, [PHASE_LABELS[k] for k in COLOURS], loc='lower center', ncol=3, fontsize=8, frameon=False)
    fig.suptitle('Campaign timeline on the lab (%d hosts) %s' % (max(len(r['timeline']['hosts']) for _m, r in chosen),
                                                                 stamp), fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _log_axes(ax, title, xlabel, ylabel=None, log_y=False):
    """One panel of the planner plot: hosts on a log scale, legend and grid."""
    ax.set_xscale('log')
    if log_y:
        ax.set_yscale('log')
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which='both')


def planner_scaling(planner, path, stamp=''):
    hosts = [p['hosts'] for p in planner]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 4))
    for key, label in (('plan_wall_s', 'plan'), ('check_wall_s', 'independent check')):
        med = [p[key]['median'] for p in planner]
        err = [[m - p[key]['min'] for m, p in zip(med, planner)], [p[key]['max'] - m for m, p in zip(med, planner)]]
        ax1.errorbar(hosts, med, yerr=err, marker='o', capsize=3, label=label)
    _log_axes(ax1, 'planning time', 'hosts (20 instances each)', 'seconds', log_y=True)
    ax2.plot(hosts, [p['plan_rss_growth_mib']['median'] for p in planner], marker='o', label='RSS growth while planning')
    ax2.plot(hosts, [p['peak_rss_mib']['median'] for p in planner], marker='s', label='peak RSS of the process')
    _log_axes(ax2, 'memory', 'hosts', 'MiB')
    ax3.plot(hosts, [p['batches']['median'] for p in planner], marker='o', label='batches')
    ax3.plot(hosts, [p['lower_bound']['median'] for p in planner], marker='x', linestyle='--', label='lower bound')
    _log_axes(ax3, 'batches vs lower bound', 'hosts', log_y=True)
    fig.suptitle('Planner at scale (every plan verified by plan_check) %s' % stamp, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evacuation_times(evac, path, stamp=''):
    fig, ax = plt.subplots(figsize=(8, 4))
    sizes = evac['sizes']
    width = 0.8 / max(1, len(evac['methods']))
    for i, method in enumerate(evac['methods']):
        values = [(evac['table'].get(str(s), {}).get(method) or {}).get('wall_s', 0) for s in sizes]
        ax.bar([x + i * width for x in range(len(sizes))], values, width, label=method)
    ax.set_xticks([x + width * (len(evac['methods']) - 1) / 2 for x in range(len(sizes))])
    ax.set_xticklabels(['%d instance%s' % (s, '' if s == 1 else 's') for s in sizes])
    ax.set_ylabel('seconds until the host is empty')
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    ax.set_title('Evacuation of one host %s' % stamp, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(results, out_dir):
    stamp = '(%s, %s)' % (results['meta']['date'][:10], results['meta']['machine']['hostname'])
    written = []
    if results.get('campaign'):
        from bench.campaign_bench import by_size  # pylint: disable=import-outside-toplevel
        sizes = by_size(results['campaign'])
        for size, one in sorted(sizes.items()):
            # one lab size: campaign-timeline.png as before; several: one plot per size
            name = 'campaign-timeline.png' if len(sizes) == 1 else 'campaign-timeline-%dhosts.png' % size
            written.append(campaign_timeline(one, os.path.join(out_dir, name), stamp))
    if results.get('planner'):
        written.append(planner_scaling(results['planner'], os.path.join(out_dir, 'planner-scaling.png'), stamp))
    if results.get('evacuation'):
        written.append(evacuation_times(results['evacuation'], os.path.join(out_dir, 'evacuation.png'), stamp))
    return written
