# SPDX-License-Identifier: Apache-2.0
"""The campaign section on real guests (issue 17; opt-in: `scripts/bench --only real_guests`).

The lab is switched to real guests (`lab guests real`: libvirt + QEMU hosts, the seeded servers real guests on one
L2 segment, docs/lab.md "Real guests"), the campaigns of bench/campaign_bench.py run there as they do on the fake
driver, and the lab is switched back at the end. The probe then measures
from packets (lab/probe, docs/benchmarks.md "Packet probe"): each run adds ``packets`` (bench/packets.py).
"""
from bench import campaign_bench, labkit
from bench.common import BenchError
from bench.packets import percentiles

SIZE = 4


def run(env, conn, work_dir, repeat=1, log=print, methods=campaign_bench.METHODS):
    """The campaigns on real guests, at the lab's default size; the lab back on fake guests at the end."""
    if campaign_bench.lab_size(conn) != SIZE:
        raise BenchError('the real-guest campaigns run on the default lab of %d hosts' % SIZE)
    labkit.lab('guests', 'real', timeout=1800)
    try:
        result = campaign_bench.run(env, conn, work_dir, repeat=repeat, log=log, methods=methods, reset_after=False)
    finally:
        labkit.lab('guests', 'fake', timeout=1800)
        labkit.lab('reset', timeout=900)
    result['packets'] = summarise(result['runs'])
    return result


def summarise(runs):
    """Per method, the packet figures pooled over its successful runs."""
    out = {}
    for method in sorted({r['method'] for r in runs}):
        good = [r for r in runs if r['method'] == method and r['ok'] and r.get('packets')]
        if not good:
            continue
        out[method] = {
            'runs': len(good),
            'downtime': percentiles([d for r in good for d in r['packets']['downtime_values']]),
            'migration_s': percentiles([d for r in good for d in r['packets']['migration_values']]),
            'vnf_outage_s': {vnf: max(r['packets']['vnf_outage_s'].get(vnf) or 0 for r in good)
                             for vnf in sorted({v for r in good for v in r['packets']['vnf_outage_s']})},
            'lost_guests': max(r['packets']['lost_guests'] for r in good),
        }
    return out
