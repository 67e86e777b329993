# SPDX-License-Identifier: Apache-2.0
"""The benchmark: planner at scale (no lab), evacuation and whole campaigns on the lab, Escalator side by side
with the operator's serial `nova host-evacuate-live`. Prints a table, writes latest.json, latest.md and PNG
plots to --out (default docs/bench/) and the results section of docs/benchmarks.md.

Run it with scripts/bench (set-up, `lab up`, and the lab lock around this); this module itself takes no lock:
the caller must hold <lab state dir>/.test-lock for the lab sections.

  python -m bench.run [--only planner,evacuation,campaign] [--repeat N] [--quick] [--out DIR]
"""
import argparse
import json
import os
import sys
import time

from bench import plots, report
from bench.common import REPO, BenchError, iso, machine_facts, utcnow

SECTIONS = ('planner', 'evacuation', 'campaign', 'real_guests')
# real_guests (switching the lab to libvirt + QEMU hosts, minutes) runs only when asked for with --only
DEFAULT_SECTIONS = ('planner', 'evacuation', 'campaign')
DEFAULT_OUT = os.path.join(REPO, 'docs', 'bench')
QUICK_OUT = os.path.join(REPO, '.cache', 'bench-quick')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='scripts/bench', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--only', action='append', default=[],
                        help='sections to run: planner, evacuation, campaign, real_guests (comma-separated or repeated; '
                             'default all but real_guests; with --quick: planner and evacuation)')
    parser.add_argument('--repeat', type=int, default=1, help='campaign repetitions per method and lab size (default 1)')
    parser.add_argument('--hosts', default=None,
                        help='lab sizes for the campaigns, comma-separated (default 4,8,16; with --quick the lab as it '
                             'is; `lab up --hosts N` before each, the lab is put back to its size at the end)')
    parser.add_argument('--methods', default='escalator,baseline',
                        help='campaign methods, comma-separated (default escalator,baseline; one alone is for a quick look)')
    parser.add_argument('--planner-repeat', type=int, default=3, help='seeds per planner size (default 3)')
    parser.add_argument('--planner-sizes', default=None, help='host counts, comma-separated (default 100,1000,5000)')
    parser.add_argument('--evacuation-sizes', default=None, help='instances on the host (default 1,4,16)')
    parser.add_argument('--concurrency', default=None, help="Escalator's max_concurrent values (default 1,2,4)")
    parser.add_argument('--quick', action='store_true',
                        help='the tiny case: planner 20 and 50 hosts once, evacuation of 1 instance at max_concurrent 1 '
                             'and with host-evacuate-live, one campaign each only if asked with --only campaign; '
                             'output to .cache/bench-quick unless --out')
    parser.add_argument('--out', default=None, help='output directory (default docs/bench, or .cache/bench-quick)')
    parser.add_argument('--render-only', action='store_true',
                        help='run nothing: rewrite the table, latest.md, the plots and the docs section from latest.json')
    parser.add_argument('--no-docs', action='store_true', help='do not rewrite the results section of docs/benchmarks.md')
    args = parser.parse_args(argv)
    only = [s.strip() for item in args.only for s in item.split(',') if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error('unknown section(s) %s (choose from %s)' % (', '.join(unknown), ', '.join(SECTIONS)))
    if args.repeat < 1 or args.planner_repeat < 1:
        parser.error('--repeat and --planner-repeat must be at least 1')
    args.sections = [s for s in SECTIONS if s in only] if only else \
        (['planner', 'evacuation'] if args.quick else list(DEFAULT_SECTIONS))

    def ints(text, default):
        return tuple(int(x) for x in text.split(',')) if text else default
    args.planner_sizes = ints(args.planner_sizes, (20, 50) if args.quick else (100, 1000, 5000))
    args.evacuation_sizes = ints(args.evacuation_sizes, (1,) if args.quick else (1, 4, 16))
    args.concurrency = ints(args.concurrency, (1,) if args.quick else (1, 2, 4))
    args.hosts = ints(args.hosts, () if args.quick else (4, 8, 16))
    if any(n < 2 for n in args.hosts):
        parser.error('--hosts takes lab sizes of at least 2')
    if args.quick:
        args.planner_repeat = 1 if args.planner_repeat == 3 else args.planner_repeat
        args.repeat = 1 if args.repeat == 2 else args.repeat
    args.out = os.path.abspath(args.out or (QUICK_OUT if args.quick else DEFAULT_OUT))
    return args


def log(message):
    print('[bench %s] %s' % (utcnow().strftime('%H:%M:%S'), message), flush=True)


def load_previous(out_dir):
    try:
        with open(os.path.join(out_dir, 'latest.json'), encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def run(args):
    started = time.monotonic()
    results = {'meta': {}}
    section_s = {}
    env = conn = work_dir = None
    if any(s in args.sections for s in ('evacuation', 'campaign', 'real_guests')):
        from bench import labkit  # pylint: disable=import-outside-toplevel
        env = labkit.lab_env()
        conn = labkit.connect(env)
        work_dir = os.path.join(env['ESCALATOR_LAB_DIR'], 'bench', utcnow().strftime('%Y%m%dT%H%M%SZ'))
        os.makedirs(work_dir, exist_ok=True)
        log('lab artefacts (playbook logs, probe, state): %s' % work_dir)
    if 'planner' in args.sections:
        from bench import planner_bench  # pylint: disable=import-outside-toplevel
        t0 = time.monotonic()
        results['planner'] = planner_bench.run(args.planner_sizes, repeat=args.planner_repeat,
                                               log=lambda m: log(m))  # pylint: disable=unnecessary-lambda
        section_s['planner'] = time.monotonic() - t0
    # the campaigns first: the evacuation section then starts from their last run without a reset of its own
    if 'campaign' in args.sections:
        from bench import campaign_bench  # pylint: disable=import-outside-toplevel
        t0 = time.monotonic()
        results['campaign'] = campaign_bench.run_sizes(env, conn, work_dir, args.hosts, repeat=args.repeat, log=log,
                                                       methods=tuple(m for m in args.methods.split(',') if m),
                                                       reset_after='evacuation' not in args.sections)
        section_s['campaign'] = time.monotonic() - t0
    if 'real_guests' in args.sections:
        from bench import real_guests  # pylint: disable=import-outside-toplevel
        t0 = time.monotonic()
        results['real_guests'] = real_guests.run(env, conn, work_dir, repeat=args.repeat, log=log,
                                                 methods=tuple(m for m in args.methods.split(',') if m))
        section_s['real_guests'] = time.monotonic() - t0
    if 'evacuation' in args.sections:
        from bench import evacuation_bench  # pylint: disable=import-outside-toplevel
        t0 = time.monotonic()
        results['evacuation'] = evacuation_bench.run(env, conn, sizes=args.evacuation_sizes,
                                                     concurrency=args.concurrency, log=log,
                                                     reset_first='campaign' not in args.sections)
        section_s['evacuation'] = time.monotonic() - t0
    now = utcnow()
    results['meta'] = {
        'date': iso(now),
        'machine': machine_facts(),
        'command': 'scripts/bench ' + ' '.join(sys.argv[1:]),
        'sections': list(args.sections),
        'quick': args.quick,
        'duration_s': round(time.monotonic() - started, 1),
        'section_s': {k: round(v, 1) for k, v in section_s.items()},
        'section_dates': {s: iso(now) for s in args.sections},
        'lab_artefacts': work_dir,
    }
    # sections not run this time keep their previous results (with their dates and durations)
    previous = load_previous(args.out)
    if previous.get('meta', {}).get('quick') == args.quick:
        for section in SECTIONS:
            if section not in results and section in previous:
                results[section] = previous[section]
                results['meta']['section_dates'][section] = previous['meta'].get('section_dates', {}).get(
                    section, previous['meta'].get('date'))
                if section in previous['meta'].get('section_s', {}):
                    results['meta']['section_s'][section] = previous['meta']['section_s'][section]
    if set(DEFAULT_SECTIONS) <= set(args.sections):
        results['meta']['full_run'] = {'date': results['meta']['date'], 'duration_s': results['meta']['duration_s']}
    elif previous.get('meta', {}).get('full_run') and previous['meta'].get('quick') == args.quick:
        results['meta']['full_run'] = previous['meta']['full_run']
    return results


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.render_only:
            results = load_previous(args.out)
            if not results:
                raise BenchError('no results in %s to render' % os.path.join(args.out, 'latest.json'))
            if results.get('campaign'):
                from bench import campaign_bench  # pylint: disable=import-outside-toplevel
                for campaign in campaign_bench.by_size(results['campaign']).values():
                    campaign['summary'] = campaign_bench.summarise(campaign['runs'])
        else:
            results = run(args)
    except BenchError as exc:
        log('FAILED: %s' % exc)
        return 1
    doc = None if (args.no_docs or args.quick or args.out != DEFAULT_OUT) else report.DOC
    text = report.write(results, args.out, doc=doc)
    written = plots.write_all(results, args.out)
    print()
    print(text)
    log('wrote %s and %s' % (os.path.join(args.out, 'latest.json'), ', '.join(written)))
    from bench import campaign_bench  # pylint: disable=import-outside-toplevel
    failed = [r for c in campaign_bench.by_size(results.get('campaign')).values() for r in c['runs'] if not r['ok']] + \
        [r for r in (results.get('evacuation') or {}).get('runs', []) if not r['ok']]
    if failed:
        log('%d run(s) failed: see the table and latest.json' % len(failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
