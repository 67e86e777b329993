# SPDX-License-Identifier: Apache-2.0
"""How a server's ``escalator:action`` (module_utils/server_policy.py) decides its way off the host, before the
VNFM's replies and status_policy (docs/planner.md, "Server policies"): live, cold, stop (stopped, moved cold, left
SHUTOFF), notify (its VNFM moves it: the own_action wait, then own_action_fallback), skip (refused: its host should
not be in the campaign). The tag on the server now wins; without one, the plan's move says (``policy``), so a
campaign keeps what the operator reviewed when a tag is removed mid-campaign. And what its live migration gets when
it does not converge: ``escalator:on_slow_migration`` / ``escalator:migration_timeout`` over on_timeout /
migration_timeout (``slow_policy``)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import server_policy as sp
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import (
    COLD, COLD_STATUSES, FAIL, LIVE, LIVE_STATUSES, OWN_ACTION, STOP,
)

# Nova stops only ACTIVE guests (among the statuses a host being emptied holds)
STOP_STATUSES = ('ACTIVE',)


def _moving(action, status):
    """(method, reason) of a server whose tag says live, cold or stop, in ``status``."""
    if action == LIVE and status in LIVE_STATUSES:
        return LIVE, None
    if status in COLD_STATUSES and action in (LIVE, COLD):
        return COLD, None     # live on a SHUTOFF server: nothing runs, a cold move costs it nothing
    if action == STOP and status in STOP_STATUSES:
        return STOP, None
    if action == STOP and status in COLD_STATUSES:
        return COLD, None     # already stopped: moved cold, stays SHUTOFF
    return FAIL, ('it carries %s=%s, which Nova cannot do for a %s server (it %s only %s servers)' % (
        sp.ACTION_KEY, action, status, {LIVE: 'live-migrates', COLD: 'cold-migrates', STOP: 'stops'}[action],
        ' and '.join({LIVE: LIVE_STATUSES, COLD: COLD_STATUSES, STOP: STOP_STATUSES}[action])))


def tagged_method(instance, opts, status, warn):
    """``(method, reason, then)`` for a server with a tag (or a plan's move policy), else None.
    ``then``: after an own_action wait (a VNFM's own_action reply), how Escalator moves it itself."""
    action, problem = sp.action_of(instance)
    if problem:
        return FAIL, problem, None
    planned = opts['move_policies'].get(instance['id'])
    if action is None:
        action = planned
    elif planned and planned != action:
        warn('%s (%s) carries %s=%s now, the plan said %s: the server\'s tag wins'
             % (instance['name'], instance['id'], sp.ACTION_KEY, action, planned))
    if action is None:
        return None
    if action == sp.SKIP:
        return FAIL, ('it carries %s=skip: its owner wants it untouched, so its host must stay out of the campaign; '
                      'plan the campaign again (the planner skips the host holding it) or remove the tag'
                      % sp.ACTION_KEY), None
    if action == sp.NOTIFY:
        return OWN_ACTION, None, None
    method, reason = _moving(action, status)
    if method != FAIL and opts['decisions'].get(instance['id']) == OWN_ACTION:
        return OWN_ACTION, None, method      # the VNFM acts first; its fallback keeps the server's policy
    return method, reason, None


def slow_policy(instance, opts):
    """``(policy, problem)``: what its live migration gets when it does not converge, and the seconds that means,
    each with where it came from: ``{"policy", "policy_from", "timeout", "timeout_from"}`` (``*_from``: ``server``,
    its escalator:on_slow_migration / escalator:migration_timeout, or ``option``, on_timeout / migration_timeout).
    A bad value is a problem sentence naming the server and the fix (refused before anything moves)."""
    problems = sp.migration_problems(instance)
    if problems:
        return None, '; '.join(problems)
    choice = sp.slow_migration_of(instance)[0]
    seconds = sp.migration_timeout_of(instance)[0]
    return dict(policy=choice or opts['on_timeout'], policy_from='server' if choice else 'option',
                timeout=seconds or opts['migration_timeout'], timeout_from='server' if seconds else 'option'), None
