# SPDX-License-Identifier: Apache-2.0
"""The packet probe's cause attributor: which event explains an outage the packets showed.

Packets say THAT a target was out, and when; the cloud's states (history.History) only name WHY. The window
searched is the outage widened by ``slack`` seconds on both sides (the API is polled about once a second, and
Nova records a migration's end a little after the guest resumed). In order:

* ``live_migration``: a live-migration record of the server covers the window, or it was MIGRATING;
* ``cold_migration``: a cold migration / resize record, or status RESIZE / VERIFY_RESIZE;
* ``host_down``: an evacuation record, or the server's host was down (nova-compute down or stale, host
  unreachable) during the window;
* ``switchover`` (a VNF's service address only): the VNF's active member changed in the window, or the
  echo's boot id after the gap is another guest's than before;
* ``unknown``: nothing explains it (an outage the lab did not plan).

A VNF outage without a switchover is attributed like a guest outage of the member that served it (known
from the echo's boot id) or else of its active member.
"""

LIVE = 'live_migration'
COLD = 'cold_migration'
HOST_DOWN = 'host_down'
SWITCHOVER = 'switchover'
UNKNOWN = 'unknown'
CAUSES = (LIVE, COLD, HOST_DOWN, SWITCHOVER, UNKNOWN)
MIGRATION_CAUSE = {'live-migration': LIVE, 'migration': COLD, 'resize': COLD, 'evacuation': HOST_DOWN}


def guest(history, server_id, start, end, slack, now):
    """(cause, [evidence]) of an outage of a server's own address over [start, end]."""
    a, b = start - slack, end + slack
    migrations = history.migrations_of(server_id, a, b, now)
    for cause in (LIVE, COLD, HOST_DOWN):
        found = [m for m in migrations if MIGRATION_CAUSE.get(m['type'], COLD) == cause]
        if found:
            return cause, ['%s %s %s -> %s (%s)' % (m['type'], m['id'], m.get('source'), m.get('dest'), m['status'])
                           for m in found]
    states = history.server_states(server_id, a, b)
    statuses = [s.get('status') for s in states]
    if 'MIGRATING' in statuses:
        return LIVE, ['server was MIGRATING']
    if 'RESIZE' in statuses or 'VERIFY_RESIZE' in statuses:
        return COLD, ['server was %s' % ('RESIZE' if 'RESIZE' in statuses else 'VERIFY_RESIZE')]
    for host in sorted({s.get('host') for s in states if s.get('host')}):
        downs = history.host_downs(host, a, b)
        if downs:
            return HOST_DOWN, ['%s: %s' % (host, why) for why in sorted(set(downs))]
    return UNKNOWN, sorted({'server was %s on %s' % (s.get('status'), s.get('host')) for s in states})


def vnf(history, name, start, end, slack, now, served_before=None, served_after=None):
    """(cause, [evidence]) of an outage of a VNF's service address; served_*: server ids known from boot ids."""
    a, b = start - slack, end + slack
    names = history.names()
    if served_before and served_after and served_before != served_after:
        return SWITCHOVER, ['served by %s, then by %s' % (names.get(served_before, served_before),
                                                          names.get(served_after, served_after))]
    actives_then = set()
    changed = []
    for member in history.vnf_members(name):
        roles = [s.get('role') for s in history.server_states(member, a, b)]
        if 'active' in roles:
            actives_then.add(member)
        if len(set(roles)) > 1:
            changed.append('%s: %s' % (names.get(member, member), ' -> '.join(r or '-' for r in _squeeze(roles))))
    if changed and any('active' in c for c in changed):
        return SWITCHOVER, sorted(changed)
    candidates = [served_before or served_after] if (served_before or served_after) else sorted(actives_then)
    evidence = []
    for member in candidates:
        cause, found = guest(history, member, start, end, slack, now)
        if cause != UNKNOWN:
            return cause, ['%s: %s' % (names.get(member, member), e) for e in found]
        evidence += ['%s: %s' % (names.get(member, member), e) for e in found]
    return UNKNOWN, evidence or ['no active member known']


def _squeeze(values):
    result = []
    for value in values:
        if not result or result[-1] != value:
            result.append(value)
    return result
