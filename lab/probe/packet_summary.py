# SPDX-License-Identifier: Apache-2.0
"""The packet probe's summary.json: today's fields (per VNF ``outage_seconds``, ``outages`` with a ``reason``,
``healthy_now``; ``samples``, ``errors``, ``unknown_seconds``, ...) from packets, plus

* per VNF and per guest: the outage intervals with their cause (causes.py) and evidence, the reply gap
  around each, probe counts, and for a guest every boot id change (``restarts``: it lost its state);
* ``live_migrations``: per live-migration record of a probed guest, its downtime = the longest reply gap
  of the guest within the migration (0.0: no gap longer than ``gap_floor``), and
  ``live_migration_downtime`` (count, median, p95, max);
* ``outage_seconds_by_cause`` per kind, ``lost_guests`` (guests whose boot id changed).
"""

import causes
import probe

DONE = ('completed', 'finished', 'confirmed', 'done')


def iso(epoch):
    return None if epoch is None else probe.iso(epoch)


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def _boot_owners(targets, snaps):
    """{boot id: server id} from what each guest's own address answered."""
    owners = {}
    for key, info in targets.items():
        snap = snaps.get(key)
        if info['kind'] != 'guest' or not snap:
            continue
        for change in snap['boots']:
            owners.setdefault(change['before'], info['server'])
            owners.setdefault(change['after'], info['server'])
        if snap['boot']:
            owners[snap['boot']] = info['server']
    return owners


def target_entry(key, info, snap, history, owners, slack, now):
    outages, total = [], 0.0
    for outage in snap['outages'] if snap else ():
        end = outage['end'] if outage['end'] is not None else outage['until']
        if info['kind'] == 'guest':
            cause, evidence = causes.guest(history, info['server'], outage['start'], end, slack, now)
        else:
            cause, evidence = causes.vnf(history, info['name'], outage['start'], end, slack, now,
                                         owners.get(outage['boot_before']), owners.get(outage['boot_after']))
        seconds = end - outage['start']
        total += seconds
        outages.append(dict(start=iso(outage['start']), end=iso(outage['end']), seconds=round(seconds, 3),
                            gap_seconds=None if outage['gap'] is None else round(outage['gap'], 3),
                            lost_probes=outage['lost'], cause=cause, evidence=evidence[:5],
                            reason='%s: %s' % (cause, '; '.join(evidence[:3]))))
    entry = dict(address=info['address'], outage_seconds=round(total, 3) if snap else None, outages=outages,
                 healthy_now=snap['last_ok'] if snap else None)
    if snap:
        entry.update(probes=dict(sent=snap['sent'], answered=snap['answered'], lost=snap['lost'],
                                 blips=snap['blips'], unsent=snap['unsent'], dropped_records=snap['dropped']),
                     unknown_seconds=round(snap['unknown_seconds'], 3), rtt_max_ms=_ms(snap['rtt_max']),
                     rtt_mean_ms=_ms(snap['rtt_mean']), boot=snap['boot'])
    return entry


def live_migrations(history, targets, snaps, slack, now):
    keyed = {info['server']: key for key, info in targets.items() if info['kind'] == 'guest'}
    names = history.names()
    result = []
    for m in history.live_migrations():
        snap = snaps.get(keyed.get(m['server']))
        entry = dict(migration=m['id'], server=m['server'], name=names.get(m['server']), status=m['status'],
                     source=m['source'], dest=m['dest'], created=iso(m['created']), updated=iso(m['updated']))
        if not snap or m['created'] is None:
            entry['downtime_seconds'] = None              # the guest was not probed
        else:
            start, end = m['created'], (m['updated'] or now) + slack
            gaps = [b - a for a, b in snap['gaps'] if a < end and b > start]
            open_run = [o for o in snap['outages'] if o['end'] is None and o['start'] < end]
            entry['downtime_seconds'] = None if open_run else round(max(gaps, default=0.0), 3)
            entry['open'] = bool(open_run)
        result.append(entry)
    return result


def build(targets, builder, history, pinger_stats, settings, started, now, final, errors):
    """targets: every {key: dict(kind, name, address, server)} probed so far; settings: the probe's options."""
    slack = settings['cause_slack']
    snaps = {key: builder.snapshot(key) for key in targets}
    owners = _boot_owners(targets, snaps)
    vnfs, guests = {}, {}
    by_cause = dict(vnf=dict.fromkeys(causes.CAUSES, 0.0), guest=dict.fromkeys(causes.CAUSES, 0.0))
    for key, info in sorted(targets.items()):
        snap = snaps[key]
        entry = target_entry(key, info, snap, history, owners, slack, now)
        for outage in entry['outages']:
            by_cause[info['kind']][outage['cause']] += outage['seconds']
        if info['kind'] == 'vnf':
            names = history.names()
            entry['service_ip'] = info['address']
            entry['served_by'] = [dict(at=iso(c['at']), before=names.get(owners.get(c['before']), c['before']),
                                       after=names.get(owners.get(c['after']), c['after']))
                                  for c in (snap['boots'] if snap else ())]
            vnfs[info['name']] = entry
        else:
            entry.update(id=info['server'], name=info['name'],
                         restarts=[dict(at=iso(c['at']), before=c['before'], after=c['after'])
                                   for c in (snap['boots'] if snap else ())])
            entry['lost'] = bool(entry['restarts'])
            guests[info['server']] = entry
    migrations = live_migrations(history, targets, snaps, slack, now)
    downtimes = [m['downtime_seconds'] for m in migrations
                 if m['downtime_seconds'] is not None and m['status'] in DONE]
    elapsed = max(1e-9, now - started)
    return dict(
        mode='packets', started=iso(started), last_sample=iso(now), final=final, samples=pinger_stats['rounds'],
        errors=errors, unknown_seconds=round(pinger_stats['stalled_seconds'], 3),
        samples_per_second=round(pinger_stats['rounds'] / elapsed, 2), interval=settings['probe_interval'],
        max_heartbeat_age=settings['max_heartbeat_age'], settings=settings, packets=pinger_stats,
        vnfs=vnfs, guests=guests,
        lost_guests=sum(1 for g in guests.values() if g['lost']),
        outage_seconds_by_cause={kind: {c: round(s, 3) for c, s in figures.items()} for kind, figures in by_cause.items()},
        live_migrations=migrations,
        live_migration_downtime=dict(
            count=len(downtimes),
            median=round(percentile(downtimes, 0.5), 3) if downtimes else None,
            p95=round(percentile(downtimes, 0.95), 3) if downtimes else None,
            max=round(max(downtimes), 3) if downtimes else None))
