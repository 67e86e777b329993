# SPDX-License-Identifier: Apache-2.0
"""The campaign plan's moves of one host, held against the cloud as it is now: a planned destination
stays when the scheduler's hard filters still let the instance go there (an up, enabled host other
than the source, its server groups counting where members are and the moves placed so far, room in
Placement); an instance whose planned destinations all fail, or that the plan does not know (it came
after the plan was made), is re-planned by the preflight and the report says why. A move of an
instance no longer on the host is left aside, said too."""

from __future__ import annotations


def _where(hosts):
    return {instance['id']: name for name, entry in hosts.items() for instance in entry.get('instances') or []}


def preferred_from_moves(moves):
    """Every destination the plan names for this host, in order: where a re-planned instance is sent
    first, so that it still goes where the plan sends its neighbours (upgraded hosts first)."""
    ordered = {}
    for to in moves.values():
        for name in to:
            ordered.setdefault(name, None)
    return list(ordered)


def ignored_moves(moves, hosts, host, instances):
    """The plan's moves that do not apply: their instance is no longer on ``host``."""
    here = {instance['id'] for instance in instances}
    where = _where(hosts)
    ignored = []
    for instance_id in moves:
        if instance_id in here:
            continue
        now = where.get(instance_id)
        ignored.append(dict(instance=instance_id, reason='no longer on %s (%s)' % (
            host, 'now on %s' % now if now else 'not on any compute host: deleted, or moved by someone else')))
    return ignored


def hold_move(placement, instance, need, to):
    """``(the planned destinations that still hold, in order; {dropped host: why})``."""
    valid, dropped = [], {}
    for name in to:
        why = placement.why_not(name, instance, need, listed=True)
        if why:
            dropped[name] = why
        else:
            valid.append(name)
    return valid, dropped


def why_replanned(to, dropped, host):
    """The sentence the report gives for an instance the preflight re-plans."""
    if to is None:
        return 'not in the plan (it came to %s after the plan was made)' % host
    if not to:
        return 'the plan gives it no destination'
    return 'the planned destination%s no longer hold%s: %s' % (
        's' if len(to) > 1 else '', '' if len(to) > 1 else 's',
        '; '.join('%s: %s' % (name, dropped[name]) for name in to))


def dropped_note(dropped):
    return 'planned destination%s dropped: %s' % ('s' if len(dropped) > 1 else '', '; '.join(
        '%s: %s' % (name, why) for name, why in dropped.items()))
