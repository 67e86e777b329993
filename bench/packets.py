# SPDX-License-Identifier: Apache-2.0
"""A campaign run's figures from the packet probe (real guests, issue 17), added to the run's result as ``packets``:
  downtime            per finished live migration of a probed guest, its longest reply gap (count, median, p95, max)
  vnf_outage_s        per VNF, the seconds its service address did not answer, over the whole campaign
  migration_s         per finished live migration, Nova's record created -> updated (count, median, p95, max)
  guest_outage_s      guests' outage seconds per cause (live_migration, cold_migration, host_down, switchover, unknown)
  lost_guests         guests whose boot id changed (restarted: their state lost); a cold move restarts its guest
``downtime_values`` and ``migration_values`` keep the single figures, for pooling over runs.
"""
import math

from bench import labkit


def percentiles(values):
    """{count, median, p95, max} of numbers (nearest rank), or None without any."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None

    def rank(fraction):
        return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]
    return {'count': len(ordered), 'median': round(rank(0.5), 3), 'p95': round(rank(0.95), 3),
            'max': round(ordered[-1], 3)}


def packet_figures(summary, records):
    """A run's packet figures (see the module's docstring) from the probe's summary and Nova's migration records;
    None when the probe did not measure packets (fake guests)."""
    if (summary or {}).get('mode') != 'packets':
        return None
    live = [r for r in records if r['type'] == labkit.LIVE_TYPE and r['status'] in labkit.DONE_STATES
            and r['created'] and r['updated']]
    downtimes = [m['downtime_seconds'] for m in summary.get('live_migrations', [])
                 if m.get('downtime_seconds') is not None and not m.get('open')]
    durations = [round(r['updated'] - r['created'], 3) for r in live]
    return {
        'downtime': percentiles(downtimes),
        'downtime_values': sorted(downtimes),
        'migration_values': sorted(durations),
        'vnf_outage_s': {vnf: data.get('outage_seconds') for vnf, data in sorted(summary.get('vnfs', {}).items())},
        'migration_s': percentiles(durations),
        'guest_outage_s': (summary.get('outage_seconds_by_cause') or {}).get('guest', {}),
        'lost_guests': summary.get('lost_guests', 0),
    }
