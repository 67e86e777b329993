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

Precedence for a server: ``escalator:action`` over the group vars (status_policy, the VNFM's live/cold replies and
unmanaged_action); a VNFM's own_action reply still lets the VNFM act first. For a group: ``escalator:budget`` over
``budgets`` (by id or name) and ``default_budget``.
"""

from __future__ import annotations

ACTION_KEY = 'escalator:action'
BUDGET_KEY = 'escalator:budget'
KEYS = (ACTION_KEY, BUDGET_KEY)
PREFIX = 'escalator:'

LIVE = 'live'
COLD = 'cold'
STOP = 'stop'
SKIP = 'skip'
NOTIFY = 'notify'
ACTIONS = (LIVE, COLD, STOP, SKIP, NOTIFY)
# the actions that move the server with a migration Escalator requests, in the plan's moves
MOVING = (LIVE, COLD, STOP)

HINT = ('set a valid value (openstack server set --property %s=cold <server>) or remove it (openstack server unset '
        '--property %s <server>)')


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
                  % (_label(instance), BUDGET_KEY, value, (HINT % (BUDGET_KEY, BUDGET_KEY)).replace('=cold', '=1')))


def unknown_keys(instance):
    """The ``escalator:`` keys of the server that Escalator does not know (a typo would be ignored otherwise)."""
    return sorted(key for key in metadata_of(instance) if key.startswith(PREFIX) and key not in KEYS)


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
