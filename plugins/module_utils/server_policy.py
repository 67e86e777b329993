# SPDX-License-Identifier: Apache-2.0
"""Per-server policy from Nova server metadata (docs/planner.md, "Server policies"): the keys, their values and how
they are read. The one home of this vocabulary for the planner and the evacuation; the plan checker reads the
metadata with code of its own on purpose (plan_check/policies.py).

* ``escalator:action`` on a server: how Escalator empties its host of it.
  ``live`` (live migration, the default without the key), ``cold`` (cold migration only, never a live attempt),
  ``stop`` (stopped cleanly, moved cold while stopped, left SHUTOFF at its destination), ``skip`` (never touched:
  the host holding it is left out of the campaign), ``notify`` (its VNFM moves it; Escalator never migrates it
  unless the VNF protocol's own_action fallback says so).
* ``escalator:budget`` on the members of a server group: the most members down at once (an integer >= 0, 0: one at
  a time by VNFM switchover, as ``budgets``); every member that carries it must carry the same value.
* ``escalator:on_slow_migration`` on a server: what the evacuation does with its live migration when it runs past
  its timeout (it does not converge): ``force_complete`` (Nova's force-complete: post-copy where nova-compute permits
  it, else the guest is paused until the copy converges), ``abort`` (Nova's abort: the guest stays running on the
  source and the host fails), ``abort_then_cold`` (abort, then a cold migration: a restart instead of a long freeze).
  Without it: compute_evacuate's ``on_timeout``.
* ``escalator:migration_timeout`` on a server: the seconds its live migration may run before that (an integer
  >= 1). Without it: compute_evacuate's ``migration_timeout``.
  Neither changes the plan (not in its fingerprint: they may be set mid-campaign); a bad value is refused by the
  planner, its checker and the evacuation alike, like a bad ``escalator:action``.

Precedence for a server: ``escalator:action`` over the group vars (status_policy, the VNFM's live/cold replies and
unmanaged_action); a VNFM's own_action reply still lets the VNFM act first. For a group: ``escalator:budget`` over
``budgets`` (by id or name) and ``default_budget``.
"""

from __future__ import annotations

ACTION_KEY = 'escalator:action'
BUDGET_KEY = 'escalator:budget'
KEYS = (ACTION_KEY, BUDGET_KEY)           # the keys the plan depends on (its fingerprint hashes them)
SLOW_KEY = 'escalator:on_slow_migration'
TIMEOUT_KEY = 'escalator:migration_timeout'
MIGRATION_KEYS = (SLOW_KEY, TIMEOUT_KEY)  # read by the evacuation only
KNOWN_KEYS = KEYS + MIGRATION_KEYS
PREFIX = 'escalator:'

LIVE = 'live'
COLD = 'cold'
STOP = 'stop'
SKIP = 'skip'
NOTIFY = 'notify'
ACTIONS = (LIVE, COLD, STOP, SKIP, NOTIFY)
# the actions that move the server with a migration Escalator requests, in the plan's moves
MOVING = (LIVE, COLD, STOP)

FORCE_COMPLETE = 'force_complete'
ABORT = 'abort'
ABORT_THEN_COLD = 'abort_then_cold'
SLOW_ACTIONS = (FORCE_COMPLETE, ABORT, ABORT_THEN_COLD)

HINT = ('set a valid value (openstack server set --property %s=cold <server>) or remove it (openstack server unset '
        '--property %s <server>)')


def _hint(key, example):
    return (HINT % (key, key)).replace('=cold', '=%s' % example)


def _label(instance):
    name = instance.get('name') or instance.get('id')
    return '%s (%s)' % (name, instance.get('id')) if name != instance.get('id') else str(name)


def metadata_of(instance):
    """The server's metadata as a dict (an instance without any: empty)."""
    metadata = instance.get('metadata')
    return metadata if isinstance(metadata, dict) else {}


def tagged(instance):
    """The Escalator keys the server carries, {key: raw value} (empty: none); what the fingerprint hashes."""
    metadata = metadata_of(instance)
    return {key: metadata[key] for key in KEYS if key in metadata}


def action_of(instance):
    """``(action or None, problem or None)``: the server's ``escalator:action``, lower-cased; a problem sentence
    (naming the server, with a hint) when the value is not one of ACTIONS."""
    value = metadata_of(instance).get(ACTION_KEY)
    if value is None:
        return None, None
    action = str(value).strip().lower()
    if action in ACTIONS:
        return action, None
    return None, ('server %s: %s=%r is not one of %s; %s' % (
        _label(instance), ACTION_KEY, value, ', '.join(ACTIONS), HINT % (ACTION_KEY, ACTION_KEY)))


def budget_of(instance):
    """``(budget or None, problem or None)``: the server's ``escalator:budget`` as an int >= 0."""
    value = metadata_of(instance).get(BUDGET_KEY)
    if value is None:
        return None, None
    text = str(value).strip()
    if text.isdigit():
        return int(text), None
    return None, ('server %s: %s=%r is not an integer >= 0 (the most members of its server group down at once); %s'
                  % (_label(instance), BUDGET_KEY, value, _hint(BUDGET_KEY, 1)))


def slow_migration_of(instance):
    """``(choice or None, problem or None)``: the server's ``escalator:on_slow_migration``, lower-cased."""
    value = metadata_of(instance).get(SLOW_KEY)
    if value is None:
        return None, None
    choice = str(value).strip().lower()
    if choice in SLOW_ACTIONS:
        return choice, None
    return None, ('server %s: %s=%r is not one of %s (what to do with its live migration when it does not '
                  'converge); %s' % (_label(instance), SLOW_KEY, value, ', '.join(SLOW_ACTIONS),
                                     _hint(SLOW_KEY, FORCE_COMPLETE)))


def migration_timeout_of(instance):
    """``(seconds or None, problem or None)``: the server's ``escalator:migration_timeout`` as an int >= 1."""
    value = metadata_of(instance).get(TIMEOUT_KEY)
    if value is None:
        return None, None
    text = str(value).strip()
    if text.isdigit() and int(text) >= 1:
        return int(text), None
    return None, ('server %s: %s=%r is not an integer >= 1 (the seconds its live migration may run before '
                  '%s applies); %s' % (_label(instance), TIMEOUT_KEY, value, SLOW_KEY, _hint(TIMEOUT_KEY, 300)))


def migration_problems(instance):
    """The problem sentences of the server's migration keys (empty: none, or good values)."""
    return [problem for problem in (slow_migration_of(instance)[1], migration_timeout_of(instance)[1]) if problem]


def unknown_keys(instance):
    """The ``escalator:`` keys of the server that Escalator does not know (a typo would be ignored otherwise)."""
    return sorted(key for key in metadata_of(instance) if key.startswith(PREFIX) and key not in KNOWN_KEYS)


def group_budget(group, instances):
    """``(budget or None, [servers carrying it], problem or None)`` of one server group from its members'
    ``escalator:budget``; ``instances``: {id: instance dict} of the members known. A value that is not an integer is
    left to ``budget_of``'s caller; members that disagree are one problem naming them (and no budget)."""
    values = {}
    for member in group.get('members') or []:
        instance = instances.get(member)
        if instance is None:
            continue
        budget = budget_of(instance)[0]
        if budget is not None:
            values.setdefault(budget, []).append(_label(instance))
    if not values:
        return None, [], None
    if len(values) > 1:
        return None, [], ('server group %s: its members disagree on %s (%s): set the same value on every member '
                          'that carries it' % (group.get('name') or group.get('id'), BUDGET_KEY, '; '.join(
                              '%s on %s' % (budget, ', '.join(sorted(names)))
                              for budget, names in sorted(values.items()))))
    budget, names = next(iter(values.items()))
    return budget, sorted(names), None
