# SPDX-License-Identifier: Apache-2.0
"""The options of an evacuation: the move kinds and per-status policies, the defaults, and
``normalize_options`` (validate and fill in; E_INVALID_INPUT naming the option)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.server_policy import MOVING

LIVE = 'live'
COLD = 'cold'
OWN_ACTION = 'own_action'
STOP = 'stop'                 # escalator:action=stop: stopped cleanly, moved cold, left SHUTOFF (server_tags.py)
SKIP = 'skip'
FAIL = 'fail'
LEFT_ALONE = 'left_alone'     # in leave_alone: not touched
ADOPT = 'adopt'               # already migrating off the host (an interrupted run): watched, not requested

# Statuses Nova accepts for each kind of move (compute/api.py check_instance_state).
LIVE_STATUSES = ('ACTIVE', 'PAUSED')
COLD_STATUSES = ('ACTIVE', 'SHUTOFF')

DEFAULT_STATUS_POLICY = {
    'ACTIVE': LIVE,
    'PAUSED': LIVE,       # Nova live-migrates paused guests; they stay PAUSED
    'SHUTOFF': COLD,      # nothing runs: a cold migration costs no outage
    'SUSPENDED': FAIL,    # Nova can move a suspended guest neither live nor cold: resume it or skip it
    'ERROR': FAIL,        # broken guests need a human (reset-state, rebuild or skip)
}
POLICY_CHOICES = (LIVE, COLD, SKIP, FAIL)

# The VNFM's per-instance answers (Fenix/OPNFV Doctor names accepted too).
DECISION_ALIASES = {
    'live': LIVE, 'live_migrate': LIVE,
    'cold': COLD, 'migrate': COLD,
    'own_action': OWN_ACTION,
}

DEFAULT_OPTIONS = dict(
    moves=None,               # None: no plan given (the preflight places every instance itself)
    destinations=[],
    strict_destinations=False,
    block_migration='auto',
    max_concurrent=2,
    migration_timeout=600,
    timeout=3600,
    poll_interval=2.0,
    on_timeout='abort',
    status_policy={},
    live_failure=FAIL,
    decisions={},
    own_action_timeout=600,
    own_action_fallback=LIVE,
    leave_alone=[],
    require_disabled=True,
    verify_empty=True,
    keep_going=False,
    scheduler_retries=8,
    scheduler_retry_delay=15,
    batch_hosts=[],
    default_budget=None,
    budgets={},
)


def invalid(msg, **details):
    """E_INVALID_INPUT with the details given (the report so far, the host...)."""
    return EscalatorError(msg, code=E_INVALID_INPUT, **details)


def _decision(value, instance_id):
    key = str(value).strip().lower()
    if key not in DECISION_ALIASES:
        raise invalid('decisions[%s]: %r is not one of live, cold, own_action (or the Fenix names '
                      'LIVE_MIGRATE, MIGRATE, OWN_ACTION)' % (instance_id, value))
    return DECISION_ALIASES[key]


def _block_migration(value):
    if value in (None, 'auto'):
        return 'auto'
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('auto',):
        return 'auto'
    if text in ('true', 'yes', '1', 'on'):
        return True
    if text in ('false', 'no', '0', 'off'):
        return False
    raise invalid('block_migration must be auto, true or false, not %r' % value)


def _status_policy(value):
    """DEFAULT_STATUS_POLICY overridden by ``value`` (status -> live|cold|skip|fail), each override
    checked against what Nova can do for that status."""
    policy = dict(DEFAULT_STATUS_POLICY)
    if not isinstance(value, dict):
        raise invalid('status_policy must be a dictionary status -> live|cold|skip|fail')
    for status, action in value.items():
        action = str(action).strip().lower()
        if action not in POLICY_CHOICES:
            raise invalid('status_policy[%s]: %r is not one of %s' % (status, action, ', '.join(POLICY_CHOICES)))
        status = str(status).strip().upper()
        if action == LIVE and status not in LIVE_STATUSES:
            raise invalid('status_policy[%s]: Nova can live-migrate only %s instances'
                          % (status, ' and '.join(LIVE_STATUSES)))
        if action == COLD and status not in COLD_STATUSES:
            raise invalid('status_policy[%s]: Nova can cold-migrate only %s instances'
                          % (status, ' and '.join(COLD_STATUSES)))
        policy[status] = action
    return policy


def normalize_options(options=None):
    """The options with defaults filled in and values checked; raises E_INVALID_INPUT."""
    opts = dict(DEFAULT_OPTIONS)
    opts.update({key: value for key, value in (options or {}).items() if value is not None})
    unknown = sorted(set(opts) - set(DEFAULT_OPTIONS))
    if unknown:
        raise invalid('unknown evacuation option(s): %s' % ', '.join(unknown))
    for key in ('max_concurrent', 'migration_timeout', 'timeout', 'own_action_timeout', 'scheduler_retries',
                'scheduler_retry_delay'):
        try:
            opts[key] = int(opts[key])
        except (TypeError, ValueError):
            raise invalid('%s must be an integer, not %r' % (key, opts[key])) from None
        if opts[key] < (1 if key == 'max_concurrent' else 0):
            minimum = 'at least 1' if key == 'max_concurrent' else '>= 0'
            raise invalid('%s must be %s, not %s' % (key, minimum, opts[key]))
    try:
        opts['poll_interval'] = float(opts['poll_interval'])
    except (TypeError, ValueError):
        raise invalid('poll_interval must be a number, not %r' % opts['poll_interval']) from None
    if opts['poll_interval'] <= 0:
        raise invalid('poll_interval must be positive')
    opts['block_migration'] = _block_migration(opts['block_migration'])
    if opts['on_timeout'] not in ('abort', 'force_complete', 'fail'):
        raise invalid('on_timeout must be abort, force_complete or fail, not %r' % opts['on_timeout'])
    if opts['live_failure'] not in (COLD, FAIL):
        raise invalid('live_failure must be cold or fail, not %r' % opts['live_failure'])
    if opts['own_action_fallback'] not in (LIVE, FAIL):
        raise invalid('own_action_fallback must be live or fail, not %r' % opts['own_action_fallback'])

    opts['status_policy'] = _status_policy(opts['status_policy'])
    if not isinstance(opts['decisions'], dict):
        raise invalid('decisions must be a dictionary instance id -> live|cold|own_action')
    opts['decisions'] = {str(key): _decision(value, key) for key, value in opts['decisions'].items()}
    for key in ('destinations', 'leave_alone'):
        value = opts[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) and item for item in value):
            raise invalid('%s must be a list of names' % key)
        opts[key] = list(dict.fromkeys(value))
    for key in ('strict_destinations', 'require_disabled', 'verify_empty', 'keep_going'):
        opts[key] = bool(opts[key])
    opts['moves'], opts['move_policies'] = _moves(opts['moves'])
    if opts['strict_destinations'] and not opts['destinations'] and not opts['moves']:
        raise invalid('strict_destinations needs a list of destinations, or the plan\'s moves')
    _batch(opts)
    return opts


def _moves(value):
    """The plan's moves of the host as ``{instance id: [destinations in order]}`` (None: no plan) and the server
    policies they carry, ``{instance id: live|cold|stop}``. Each move is a mapping with ``instance`` and ``to`` as
    campaign_plan stores it (``plan.batches[].moves[]``), and ``policy`` when the server carried escalator:action;
    its other keys (name, from, mode...) are the plan's notes and are not needed here."""
    if value is None:
        return None, {}
    if not isinstance(value, (list, tuple)):
        raise invalid('moves must be a list of {instance, to} (the plan\'s moves of this host)')
    moves = {}
    policies = {}
    for position, move in enumerate(value):
        if not isinstance(move, dict) or not isinstance(move.get('instance'), str) or not move['instance']:
            raise invalid('moves[%d]: a move is a mapping with an instance id and its destinations (to), not %r'
                          % (position, move))
        to = move.get('to')
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, (list, tuple)) or not all(isinstance(item, str) and item for item in to):
            raise invalid('moves[%d] (%s): to must be a list of host names' % (position, move['instance']))
        if move['instance'] in moves:
            raise invalid('moves[%d]: instance %s has two moves' % (position, move['instance']))
        moves[move['instance']] = list(dict.fromkeys(to))
        if move.get('policy') is not None:
            if move['policy'] not in MOVING:
                raise invalid('moves[%d] (%s): policy must be one of %s, not %r'
                              % (position, move['instance'], ', '.join(MOVING), move['policy']))
            policies[move['instance']] = move['policy']
    return moves, policies


def _batch(opts):
    """batch_hosts (the hosts in maintenance together with this one) and the budgets they are checked by."""
    value = opts['batch_hosts']
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) and item for item in value):
        raise invalid('batch_hosts must be a list of names')
    opts['batch_hosts'] = list(dict.fromkeys(value))
    budgets = opts['budgets']
    if not isinstance(budgets, dict):
        raise invalid('budgets must be a dictionary server group id or name -> budget')
    opts['budgets'] = {str(key): _budget_value('budgets[%s]' % key, budget) for key, budget in budgets.items()}
    if opts['default_budget'] is not None:
        opts['default_budget'] = _budget_value('default_budget', opts['default_budget'])
    elif opts['batch_hosts']:
        raise invalid('batch_hosts needs default_budget (the plan\'s options.default_budget): the budget of '
                      'anti-affinity groups without an entry in budgets')


def _budget_value(name, value):
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise invalid('%s must be an integer >= 0, not %r' % (name, value)) from None
    if value < 0:
        raise invalid('%s must be >= 0, not %s' % (name, value))
    return value
