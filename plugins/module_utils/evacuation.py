# SPDX-License-Identifier: Apache-2.0
"""Empty a compute host: the migration engine behind ``compute_evacuate``.

Plain Python on an openstacksdk connection (or the unit tests' FakeCloud); every
wait takes injectable ``clock``/``sleep``. Public API:

* ``normalize_options(options) -> dict``               validate and fill defaults (E_INVALID_INPUT)
* ``plan_evacuation(conn, host, options) -> dict``     read-only preflight: what moves how and where
* ``evacuate(conn, host, options, clock, sleep, check_mode) -> dict``
  move everything off; raises ``EscalatorError`` whose details carry the same
  per-instance report as the success result.

Rules the engine keeps (they are what the operators trust it for):

* Nothing moves unless the preflight finds a destination for every instance it
  must move (enabled, up nova-compute, not the source, group policies counting
  earlier planned moves, Placement capacity).
* A migration is done only when the server's host changed AND its migration
  record says ``completed`` (live) / ``confirmed`` (cold, after we confirm the
  resize); the host field flips first. ``completed`` while the server still sits
  on the source is a failure, a server in ERROR is a failure, never ignored.
* On a failure no new migration starts (unless ``keep_going``); running ones are
  watched to their end, so every server is left on a host, in its old status, or
  clearly reported.
"""

from __future__ import annotations

import time

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_HOST_NOT_EMPTY, E_INVALID_INPUT, E_MIGRATION_FAILED, E_MIGRATION_TIMEOUT,
    E_NO_VALID_HOST, E_POLICY, E_SERVICE_DOWN, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception, sdk_call as _call

LIVE = 'live'
COLD = 'cold'
OWN_ACTION = 'own_action'
SKIP = 'skip'
FAIL = 'fail'

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

LIVE_DONE = ('completed',)
COLD_READY = ('finished',)
COLD_DONE = ('confirmed',)
FAILED_STATES = ('error', 'failed')
CANCELLED_STATES = ('cancelled',)
IN_PROGRESS = ('accepted', 'queued', 'preparing', 'running', 'post-migrating', 'pre-migrating', 'migrating',
               'confirming')

# How long a cancelled (aborted) live migration may take to roll back after the overall timeout.
ABORT_GRACE = 120
# How long Nova may take to create a migration record after accepting a request.
RECORD_GRACE = 60

DEFAULT_OPTIONS = dict(
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
)


def _invalid(msg, **details):
    return EscalatorError(msg, code=E_INVALID_INPUT, **details)


def _decision(value, instance_id):
    key = str(value).strip().lower()
    if key not in DECISION_ALIASES:
        raise _invalid('decisions[%s]: %r is not one of live, cold, own_action (or the Fenix names '
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
    raise _invalid('block_migration must be auto, true or false, not %r' % value)


def normalize_options(options=None):
    """The options with defaults filled in and values checked; raises E_INVALID_INPUT."""
    opts = dict(DEFAULT_OPTIONS)
    opts.update({key: value for key, value in (options or {}).items() if value is not None})
    unknown = sorted(set(opts) - set(DEFAULT_OPTIONS))
    if unknown:
        raise _invalid('unknown evacuation option(s): %s' % ', '.join(unknown))
    for key in ('max_concurrent', 'migration_timeout', 'timeout', 'own_action_timeout', 'scheduler_retries',
                'scheduler_retry_delay'):
        try:
            opts[key] = int(opts[key])
        except (TypeError, ValueError):
            raise _invalid('%s must be an integer, not %r' % (key, opts[key])) from None
        if opts[key] < (1 if key == 'max_concurrent' else 0):
            minimum = 'at least 1' if key == 'max_concurrent' else '>= 0'
            raise _invalid('%s must be %s, not %s' % (key, minimum, opts[key]))
    try:
        opts['poll_interval'] = float(opts['poll_interval'])
    except (TypeError, ValueError):
        raise _invalid('poll_interval must be a number, not %r' % opts['poll_interval']) from None
    if opts['poll_interval'] <= 0:
        raise _invalid('poll_interval must be positive')
    opts['block_migration'] = _block_migration(opts['block_migration'])
    if opts['on_timeout'] not in ('abort', 'force_complete', 'fail'):
        raise _invalid('on_timeout must be abort, force_complete or fail, not %r' % opts['on_timeout'])
    if opts['live_failure'] not in (COLD, FAIL):
        raise _invalid('live_failure must be cold or fail, not %r' % opts['live_failure'])
    if opts['own_action_fallback'] not in (LIVE, FAIL):
        raise _invalid('own_action_fallback must be live or fail, not %r' % opts['own_action_fallback'])

    policy = dict(DEFAULT_STATUS_POLICY)
    if not isinstance(opts['status_policy'], dict):
        raise _invalid('status_policy must be a dictionary status -> live|cold|skip|fail')
    for status, action in opts['status_policy'].items():
        action = str(action).strip().lower()
        if action not in POLICY_CHOICES:
            raise _invalid('status_policy[%s]: %r is not one of %s' % (status, action, ', '.join(POLICY_CHOICES)))
        status = str(status).strip().upper()
        if action == LIVE and status not in LIVE_STATUSES:
            raise _invalid('status_policy[%s]: Nova can live-migrate only %s instances'
                           % (status, ' and '.join(LIVE_STATUSES)))
        if action == COLD and status not in COLD_STATUSES:
            raise _invalid('status_policy[%s]: Nova can cold-migrate only %s instances'
                           % (status, ' and '.join(COLD_STATUSES)))
        policy[status] = action
    opts['status_policy'] = policy

    if not isinstance(opts['decisions'], dict):
        raise _invalid('decisions must be a dictionary instance id -> live|cold|own_action')
    opts['decisions'] = {str(key): _decision(value, key) for key, value in opts['decisions'].items()}
    for key in ('destinations', 'leave_alone'):
        value = opts[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) and item for item in value):
            raise _invalid('%s must be a list of names' % key)
        opts[key] = list(dict.fromkeys(value))
    for key in ('strict_destinations', 'require_disabled', 'verify_empty', 'keep_going'):
        opts[key] = bool(opts[key])
    if opts['strict_destinations'] and not opts['destinations']:
        raise _invalid('strict_destinations needs a list of destinations')
    return opts


# -- small SDK helpers --------------------------------------------------------

def _status_code(exc):
    return getattr(exc, 'status_code', None)


def _message(exc):
    for attr in ('details', 'message'):
        value = getattr(exc, attr, None)
        if value:
            return str(value)
    return str(exc)


def _is_no_valid_host(text):
    return 'no valid host' in (text or '').lower()


def _get_server(conn, server_id):
    """The server, or None when it was deleted."""
    try:
        return conn.compute.get_server(server_id)
    except Exception as exc:  # pylint: disable=broad-except
        if _status_code(exc) == 404:
            return None
        raise error_from_exception(exc, during='reading server %s' % server_id) from exc


def _migrations(conn, server_id):
    return _call('listing the migrations of server %s' % server_id,
                 lambda: list(conn.compute.migrations(server_id=server_id)))


def _newest(migrations, known_ids, source=None):
    fresh = [migration for migration in migrations if migration.id not in known_ids
             and (source is None or migration.source_compute == source)]
    return max(fresh, key=lambda migration: int(migration.id)) if fresh else None


def _fault(server):
    fault = getattr(server, 'fault', None) or {}
    if isinstance(fault, dict) and fault.get('message'):
        return ': %s' % fault['message']
    return ''


def failure_reason(conn, server_id, action_names=('migrate', 'live-migration')):
    """Nova's reason for the server's last failed move, from its instance actions (admins see the
    tracebacks), or None. Asynchronous failures (a cold migration's "No valid host") only show there."""
    try:
        actions = list(conn.compute.server_actions(server_id))
    except Exception:  # pylint: disable=broad-except
        return None
    actions = [action for action in actions if action.action in action_names]
    if not actions:
        return None
    latest = max(actions, key=lambda action: str(action.start_time or ''))
    try:
        detail = conn.compute.get_server_action(latest.request_id, server_id)
    except Exception:  # pylint: disable=broad-except
        return latest.message
    for event in detail.events or []:
        if (event.get('result') or '').lower() == 'error':
            text = event.get('details') or event.get('traceback') or ''
            lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
            if lines:
                return lines[-1]
    return latest.message


# -- the preflight ------------------------------------------------------------

def _report_entry(instance, source):
    return dict(id=instance['id'], name=instance['name'], project_id=instance['project_id'], **{'from': source},
                to=None, method=None, status_before=instance['status'], status_after=instance['status'],
                result=None, seconds=0.0, migration_id=None, error=None, candidates=[], attempts=[])


def _method_for(instance, opts):
    """(method, reason) for an instance: live | cold | own_action | skip | fail | left_alone | adopt."""
    status = (instance['status'] or '').upper()
    if instance['id'] in opts['leave_alone']:
        return 'left_alone', None
    if status in ('MIGRATING', 'RESIZE'):
        return 'adopt', None
    decision = opts['decisions'].get(instance['id'])
    if decision == OWN_ACTION:
        return OWN_ACTION, None
    if decision == LIVE:
        if status in LIVE_STATUSES:
            return LIVE, None
        if status in COLD_STATUSES:
            return COLD, None   # LIVE_MIGRATE for a stopped guest: a cold move costs it nothing
    if decision == COLD:
        if status in COLD_STATUSES:
            return COLD, None
        return FAIL, 'its VNFM chose a cold migration, which Nova refuses for a %s instance' % status
    if decision in (LIVE, COLD):
        return FAIL, 'its VNFM chose %s, which Nova refuses for a %s instance' % (decision, status)
    action = opts['status_policy'].get(status, FAIL)
    if action == FAIL:
        return FAIL, ('status_policy says fail for %s instances%s' % (
            status, '; resume it, or set status_policy.%s to skip' % status if status == 'SUSPENDED' else
            '; repair it (openstack server set --state / rebuild), or set status_policy.ERROR to skip'
            if status == 'ERROR' else ''))
    return action, None


def _fits(need, free):
    if free is None:
        return True, None
    for key, unit in (('vcpus', 'vCPU'), ('memory_mb', 'MB RAM'), ('disk_gb', 'GB disk')):
        if need[key] > free.get(key, 0):
            return False, 'not enough %s (free %s, needs %s)' % (unit, free.get(key, 0), need[key])
    return True, None


def _group_conflict(instance, host, groups, where):
    for group_id in instance.get('server_groups') or []:
        group = groups.get(group_id)
        if not group:
            continue
        others = {where.get(member) for member in group['members'] if member != instance['id']} - {None}
        if group['policy'] == 'anti-affinity' and host in others:
            mates = [member for member in group['members'] if member != instance['id'] and where.get(member) == host]
            return 'anti-affinity group %s: member %s is there' % (group['name'], ', '.join(mates))
        if group['policy'] == 'affinity' and others and host not in others:
            return 'affinity group %s: its other members are on %s' % (group['name'], ', '.join(sorted(others)))
    return None


def plan_evacuation(conn, host, options=None, opts=None, warn=None):
    """Read-only preflight. Returns ``{"service", "instances": [report entries], "plan": {id: task info},
    "warnings": [...]}``; raises E_HOST_NOT_FOUND/E_INVALID_INPUT/E_SERVICE_DOWN/E_POLICY/E_NO_VALID_HOST.

    Each movable instance gets ``candidates``: the destinations to try in order (``None`` = the
    scheduler) and ``planned``, the host the simulation put it on.
    """
    opts = opts or normalize_options(options)
    warnings = []

    def _warn(message):
        warnings.append(message)
        if warn:
            warn(message)

    service = host_info.find_compute_service(conn, host)
    info = host_info.collect(conn, warn=_warn)
    hosts = {entry['name']: entry for entry in info['hosts']}
    source = hosts[host]
    instances = source.get('instances') or []
    entries = [_report_entry(instance, host) for instance in instances]
    result = dict(service=host_info.service_dict(service), instances=entries, plan={}, warnings=warnings,
                  hosts=hosts)
    if not instances:
        return result

    if opts['require_disabled'] and service.status != 'disabled':
        raise _invalid('nova-compute on %s is enabled: the scheduler could put new instances back while it is '
                       'emptied; disable it first (opnfv.escalator.compute_maintenance state=maintenance), or set '
                       'require_disabled=false' % host, host=host, instances=entries)
    if service.state != 'up':
        raise EscalatorError(
            'nova-compute on %s is down (last heartbeat %s): Nova can migrate instances only from a host whose '
            'nova-compute runs; start it (systemctl start nova-compute on %s) and retry. Instances of a dead '
            'host can only be evacuated (rebuilt elsewhere), which this module does not do'
            % (host, service.updated_at, host), code=E_SERVICE_DOWN, host=host, instances=entries)

    unknown = [name for name in opts['destinations'] if name not in hosts]
    if unknown:
        raise _invalid('destinations: no nova-compute service on %s; known compute hosts: %s'
                       % (', '.join(unknown), ', '.join(sorted(hosts))), host=host, instances=entries)
    if host in opts['destinations']:
        raise _invalid('destinations: %s is the host being emptied' % host, host=host, instances=entries)

    usable = {}
    unusable = {}
    for name, entry in hosts.items():
        if name == host:
            continue
        if entry['state'] != 'up':
            unusable[name] = 'nova-compute is down'
        elif entry['status'] != 'enabled':
            unusable[name] = 'nova-compute is disabled'
        elif opts['strict_destinations'] and name not in opts['destinations']:
            unusable[name] = 'not in destinations (strict_destinations)'
        else:
            usable[name] = entry
    for name in opts['destinations']:
        if name in unusable:
            _warn('destination %s is not usable: %s' % (name, unusable[name]))
    preferred = [name for name in opts['destinations'] if name in usable]
    # The rest in the scheduler's default spirit: most free RAM first.
    others = sorted((name for name in usable if name not in preferred),
                    key=lambda name: (-((usable[name].get('free') or {}).get('memory_mb') or 0), name))
    order = preferred + others
    free = {name: (dict(usable[name]['free']) if usable[name].get('free') is not None else None) for name in usable}
    groups = {group['id']: group for group in info['server_groups']}
    where = {}
    for group in info['server_groups']:
        where.update(group.get('member_hosts') or {})

    policy_errors = []
    stuck = []
    movable = []
    for instance, entry in zip(instances, entries):
        method, reason = _method_for(instance, opts)
        entry['method'] = {'skip': 'skipped', 'adopt': None}.get(method, method)
        if method == 'left_alone':
            entry['result'] = 'left_alone'
        elif method == SKIP:
            entry['result'] = 'skipped'
        elif method == FAIL:
            entry['method'] = None
            entry['error'] = reason
            policy_errors.append(entry)
        else:
            movable.append((instance, entry, method))

    # Most constrained first: group members, then the biggest.
    def _weight(item):
        instance = item[0]
        return (0 if instance.get('server_groups') else 1, -instance['memory_mb'], -instance['vcpus'], instance['name'])

    for instance, entry, method in sorted(movable, key=_weight):
        plan = dict(method=method, candidates=[], planned=None, need=dict(
            vcpus=instance['vcpus'], memory_mb=instance['memory_mb'], disk_gb=instance['disk_gb']))
        result['plan'][instance['id']] = plan
        if method == 'adopt':
            continue
        reasons = dict(unusable)
        feasible = []
        for name in order:
            conflict = _group_conflict(instance, name, groups, where)
            fits, why = _fits(plan['need'], free[name])
            if conflict or not fits:
                reasons[name] = conflict or why
            else:
                feasible.append(name)
        if not feasible:
            entry['error'] = 'no destination: %s' % ('; '.join('%s: %s' % (name, reasons[name]) for name in sorted(reasons))
                                                     or 'there is no other compute host')
            if method == OWN_ACTION:
                _warn('%s (%s): its VNFM moves it itself; if it does not, Escalator could not move it: %s'
                      % (instance['name'], instance['id'], entry['error']))
                entry['error'] = None
                continue
            stuck.append(entry)
            continue
        target = feasible[0]
        plan['planned'] = target
        plan['candidates'] = [name for name in feasible if name in preferred]
        if not opts['strict_destinations']:
            plan['candidates'].append(None)
        entry['candidates'] = [name or 'scheduler' for name in plan['candidates']]
        entry['to'] = target
        if free[target] is not None:
            for key, value in plan['need'].items():
                free[target][key] -= value
        where[instance['id']] = target

    if policy_errors:
        listed = '; '.join('%s (%s, %s): %s' % (entry['name'], entry['id'], entry['status_before'], entry['error'])
                           for entry in policy_errors)
        raise EscalatorError(
            'cannot evacuate %s: %d instance(s) may not be moved under the chosen policy: %s; nothing was moved'
            % (host, len(policy_errors), listed),
            code=E_POLICY, host=host, instances=entries, stuck=[entry['id'] for entry in policy_errors])
    if stuck:
        listed = ' | '.join('%s (%s): %s' % (entry['name'], entry['id'], entry['error']) for entry in stuck)
        raise EscalatorError(
            'cannot evacuate %s: no valid destination for %d instance(s); nothing was moved: %s'
            % (host, len(stuck), listed),
            code=E_NO_VALID_HOST, host=host, instances=entries, stuck=[entry['id'] for entry in stuck])
    return result


# -- the run ------------------------------------------------------------------

class _Task:
    """One instance on its way off the host."""

    def __init__(self, entry, plan):
        self.entry = entry
        self.id = entry['id']
        self.method = plan['method']          # live | cold | own_action | adopt
        self.candidates = list(plan['candidates'])
        self.state = 'pending'                # pending | waiting | running | confirming | done
        self.kind = None                      # live | cold while running
        self.known = set()                    # migration ids that existed before our request
        self.migration = None
        self.dest = None
        self.started = None
        self.attempt_started = None
        self.deadline = None
        self.forced = False
        self.aborting = False
        self.fell_back = False
        self.expect = {(entry['status_before'] or '').upper()}   # the status a finished move must show
        self.not_before = None                # a retry waits until then (clock)
        self.scheduler_refusals = 0           # "No valid host" answers already retried


class _Evacuation:
    def __init__(self, conn, host, opts, clock, sleep, plan):
        self.conn = conn
        self.plan = plan
        self.host = host
        self.opts = opts
        self.clock = clock
        self.sleep = sleep
        self.stop_starting = False
        self.no_valid_host = False
        self.changed = False
        self.timed_out = False

    # -- bookkeeping --------------------------------------------------------
    def _attempt(self, task, dest, outcome, error=None, migration_id=None):
        task.entry['attempts'].append(dict(method=task.kind, destination=dest or 'scheduler', outcome=outcome,
                                           error=error, migration_id=migration_id))

    def _finish(self, task, result, error=None, server=None):
        task.state = 'done'
        task.entry['result'] = result
        if error:
            task.entry['error'] = error
        if server is not None:
            task.entry['status_after'] = server.status
            if server.compute_host != self.host:
                task.entry['to'] = server.compute_host
            elif result != 'moved':
                task.entry['to'] = None
        if task.started is not None:
            task.entry['seconds'] = round(self.clock() - task.started, 1)
        if result in ('failed', 'timeout') and not self.opts['keep_going']:
            self.stop_starting = True

    # -- starting -------------------------------------------------------------
    def start(self, task, kind=None):
        """Request a migration, trying the candidates in order. True when one was accepted."""
        server = _get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', 'the server was deleted during the evacuation')
            return False
        if server.compute_host != self.host:
            self._attempt(task, server.compute_host, 'moved by someone else before Escalator started it')
            self._finish(task, 'moved', None, server)
            return False
        status = (server.status or '').upper()
        kind = kind or (task.method if task.method in (LIVE, COLD) else self.opts['status_policy'].get(status, FAIL))
        if kind == LIVE and status not in LIVE_STATUSES and status in COLD_STATUSES:
            kind = COLD
        if kind not in (LIVE, COLD) or status not in (LIVE_STATUSES if kind == LIVE else COLD_STATUSES):
            self._finish(task, 'failed', 'cannot move a %s instance (policy: %s)' % (status, kind), server)
            return False
        task.kind = kind
        task.entry['method'] = kind
        if task.started is None:
            task.started = self.clock()
        refused_no_valid_host = False
        while task.candidates:
            dest = task.candidates.pop(0)
            task.known = {migration.id for migration in _migrations(self.conn, task.id)}
            try:
                if kind == LIVE:
                    self.conn.compute.live_migrate_server(task.id, host=dest, block_migration=self.opts['block_migration'])
                else:
                    self.conn.compute.migrate_server(task.id, host=dest)
            except Exception as exc:  # pylint: disable=broad-except
                code = _status_code(exc)
                text = _message(exc)
                if code == 403 or code is None:
                    raise error_from_exception(exc, during='migrating %s off %s' % (task.id, self.host)) from exc
                self._attempt(task, dest, 'refused', '%s (HTTP %s)' % (text, code))
                refused_no_valid_host = refused_no_valid_host or _is_no_valid_host(text)
                if code == 409:
                    self._finish(task, 'failed', 'Nova refused to %s-migrate it: %s' % (kind, text), server)
                    return False
                if dest is None:
                    return self._scheduler_refused(task, text, server)
                continue
            self.changed = True
            task.state = 'running'
            task.dest = dest
            task.migration = None
            task.forced = False
            task.aborting = False
            task.attempt_started = self.clock()
            task.deadline = task.attempt_started + self.opts['migration_timeout']
            return True
        if refused_no_valid_host and self._ask_again_later(task):
            return False
        self._finish(task, 'failed', 'every destination refused it (%s)' % '; '.join(
            '%s: %s' % (attempt['destination'], attempt['error']) for attempt in task.entry['attempts']), server)
        if self.opts['strict_destinations']:
            self.no_valid_host = True
            self.stop_starting = True
        return False

    def _scheduler_refused(self, task, text, server):
        if _is_no_valid_host(text):
            if self._ask_again_later(task):
                return False
            self.no_valid_host = True
            self.stop_starting = True
            self._finish(task, 'failed', 'No valid host: the scheduler found no destination (%s)' % text, server)
            return False
        if task.kind == LIVE and self.opts['live_failure'] == COLD and not task.fell_back and \
                (server.status or '').upper() in COLD_STATUSES:
            return self._fall_back_to_cold(task)
        self._finish(task, 'failed', 'Nova refused the %s migration: %s' % (task.kind, text), server)
        return False

    def _fall_back_to_cold(self, task):
        task.fell_back = True
        task.candidates = list(self.plan[task.id]['candidates']) or [None]
        self._attempt(task, None, 'fallback', 'live migration failed: cold-migrating instead (live_failure=cold)')
        return self.start(task, kind=COLD)

    # -- watching -------------------------------------------------------------
    def poll(self, task):
        if task.state == 'waiting':
            return self._poll_own_action(task)
        migrations = _migrations(self.conn, task.id)     # the record first, then the server: the host flips first
        server = _get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', 'the server was deleted during its migration')
            return
        if task.migration is None or task.migration not in {migration.id for migration in migrations}:
            found = _newest(migrations, task.known, None)
            task.migration = found.id if found is not None else None
        record = next((migration for migration in migrations if migration.id == task.migration), None)
        if record is not None:
            task.entry['migration_id'] = record.id
        task.entry['status_after'] = server.status
        status = (server.status or '').upper()
        if status == 'ERROR':
            self._attempt(task, task.dest, 'error', migration_id=task.migration)
            self._finish(task, 'failed', 'the server went to ERROR during its %s migration%s (migration %s: %s); '
                         'it is on %s: inspect it now (openstack server show %s)'
                         % (task.kind, _fault(server), task.migration, record.status if record else 'no record',
                            server.compute_host, task.id), server)
            return
        if record is None:
            if self.clock() - task.attempt_started > RECORD_GRACE and not server.task_state and \
                    server.compute_host == self.host:
                self._attempt(task, task.dest, 'lost')
                self._finish(task, 'failed', 'Nova accepted the %s migration but no migration record appeared and '
                             'the server is idle on %s' % (task.kind, self.host), server)
            else:
                self._check_timeout(task, None)
            return
        state = record.status
        if task.kind == LIVE:
            self._poll_live(task, record, state, server)
        else:
            self._poll_cold(task, record, state, server)

    def _done_moved(self, task, record, server):
        self._attempt(task, record.dest_compute or server.compute_host, 'moved', migration_id=record.id)
        self._finish(task, 'moved', None, server)
        task.entry['to'] = server.compute_host

    def _poll_live(self, task, record, state, server):
        status = (server.status or '').upper()
        if state in LIVE_DONE:
            if server.compute_host == self.host:
                self._attempt(task, task.dest, 'no_move', migration_id=record.id)
                self._finish(task, 'failed', 'Nova reports live migration %s completed but the server is still on %s'
                             % (record.id, self.host), server)
                task.entry['error_code'] = E_MIGRATION_FAILED
            elif status in task.expect and not server.task_state:
                self._done_moved(task, record, server)
            else:
                self._check_timeout(task, record)
            return
        if state in FAILED_STATES + CANCELLED_STATES:
            if server.task_state and server.compute_host == self.host:
                return self._check_timeout(task, record)   # Nova still rolling back
            if server.compute_host != self.host:
                self._attempt(task, task.dest, state, migration_id=record.id)
                self._finish(task, 'failed', 'live migration %s ended %s but the server now sits on %s (status %s): '
                             'check it' % (record.id, state, server.compute_host, server.status), server)
                return
            if task.aborting or state in CANCELLED_STATES:
                self._attempt(task, task.dest, 'cancelled', migration_id=record.id)
                self._finish(task, 'timeout' if task.aborting else 'failed',
                             ('live migration %s aborted after %ss (on_timeout=abort); the server is back on %s'
                              % (record.id, int(self.clock() - task.attempt_started), self.host)) if task.aborting
                             else 'live migration %s was cancelled by someone else' % record.id, server)
                return
            reason = failure_reason(self.conn, task.id) or 'migration %s: %s' % (record.id, state)
            self._attempt(task, task.dest, state, reason, record.id)
            if _is_no_valid_host(reason) and task.dest is None:
                self._scheduler_refused(task, reason, server)
                return
            self._retry(task, 'live migration %s failed: %s' % (record.id, reason), server, _is_no_valid_host(reason))
            return
        self._check_timeout(task, record)

    def _poll_cold(self, task, record, state, server):
        status = (server.status or '').upper()
        if task.state == 'confirming' and state not in COLD_DONE + FAILED_STATES:
            return self._check_timeout(task, record)
        if state in COLD_READY or (status == 'VERIFY_RESIZE' and task.state == 'running'):
            if server.compute_host == self.host:
                self._attempt(task, task.dest, 'no_move', migration_id=record.id)
                self._finish(task, 'failed', 'Nova reports cold migration %s %s but the server is still on %s'
                             % (record.id, state, self.host), server)
                return
            if status != 'VERIFY_RESIZE':
                return self._check_timeout(task, record)
            try:
                self.conn.compute.confirm_server_resize(task.id)
            except Exception as exc:  # pylint: disable=broad-except
                if _status_code(exc) in (400, 409):
                    return self._check_timeout(task, record)       # not ready yet: try again next round
                raise error_from_exception(exc, during='confirming the migration of %s' % task.id) from exc
            task.state = 'confirming'
            return
        if state in COLD_DONE:
            if server.compute_host == self.host:
                self._attempt(task, task.dest, 'no_move', migration_id=record.id)
                self._finish(task, 'failed', 'Nova reports cold migration %s confirmed but the server is still on %s'
                             % (record.id, self.host), server)
            elif status in task.expect and not server.task_state:
                self._done_moved(task, record, server)
            else:
                self._check_timeout(task, record)
            return
        if state in FAILED_STATES:
            if server.task_state:
                return self._check_timeout(task, record)
            if server.compute_host != self.host:
                self._attempt(task, task.dest, state, migration_id=record.id)
                self._finish(task, 'failed', 'cold migration %s ended %s with the server on %s (status %s): check it'
                             % (record.id, state, server.compute_host, server.status), server)
                return
            reason = failure_reason(self.conn, task.id) or 'migration %s: %s' % (record.id, state)
            self._attempt(task, task.dest, state, reason, record.id)
            if _is_no_valid_host(reason) and task.dest is None:
                self._scheduler_refused(task, reason, server)
                return
            self._retry(task, 'cold migration %s failed: %s' % (record.id, reason), server, _is_no_valid_host(reason))
            return
        self._check_timeout(task, record)

    def _ask_again_later(self, task):
        """After a "No valid host" for a move the preflight found valid: the same request again, later.

        Nova's scheduler can count an instance on the host it just left until the next instance sync
        from nova-compute (scheduler_instance_sync_interval, 120 s by default), so an anti-affinity
        partner that moved away a moment ago can still block its old host. True when requeued."""
        if task.scheduler_refusals >= self.opts['scheduler_retries'] or \
                (self.stop_starting and not self.opts['keep_going']):
            return False
        task.scheduler_refusals += 1
        delay = self.opts['scheduler_retry_delay']
        self._attempt(task, None, 'retry_later', 'No valid host for a move the preflight found valid: asking again '
                      'in %ss (retry %d of %d)' % (delay, task.scheduler_refusals, self.opts['scheduler_retries']))
        task.candidates = list(self.plan[task.id]['candidates']) or [None]
        task.state = 'pending'
        task.not_before = self.clock() + delay
        return True

    def _retry(self, task, error, server, no_valid_host=False):
        """After a failed attempt: the next candidate, the same ones later (after a "No valid host"), the cold
        fallback, or a failure."""
        if self.stop_starting and not self.opts['keep_going']:
            self._finish(task, 'failed', error, server)
            return
        if task.candidates:
            task.state = 'pending'
            self.start(task, kind=task.kind)
            return
        if no_valid_host and self._ask_again_later(task):
            return
        if task.kind == LIVE and self.opts['live_failure'] == COLD and not task.fell_back and \
                (server.status or '').upper() in COLD_STATUSES:
            self._fall_back_to_cold(task)
            return
        self._finish(task, 'failed', error, server)

    def _check_timeout(self, task, record):
        now = self.clock()
        if task.aborting or now < task.deadline:
            return
        seconds = int(now - task.attempt_started)
        mid = record.id if record is not None else None
        if task.kind == LIVE and not task.forced and record is not None and record.status in IN_PROGRESS:
            action = self.opts['on_timeout']
            if action == 'abort':
                if self._migration_action('abort', task, record):
                    task.aborting = True
                return
            if action == 'force_complete':
                if self._migration_action('force_complete', task, record):
                    task.forced = True
                    task.deadline = now + self.opts['migration_timeout']
                    self._attempt(task, task.dest, 'force_complete', 'over migration_timeout after %ss' % seconds, mid)
                return
        server = _get_server(self.conn, task.id)
        self._attempt(task, task.dest, 'timeout', migration_id=mid)
        self._finish(task, 'timeout', '%s migration %s did not finish within %ss%s (migration %s; the server is %s on '
                     '%s); Nova may still complete it' % (task.kind, mid, seconds, ' after force-complete' if task.forced
                                                          else '', record.status if record is not None else 'not found',
                                                          server.status if server else 'deleted',
                                                          server.compute_host if server else '-'), server)

    def _migration_action(self, action, task, record):
        try:
            if action == 'abort':
                self.conn.compute.abort_server_migration(record.id, task.id, ignore_missing=False)
            else:
                self.conn.compute.force_complete_server_migration(record.id, task.id)
        except Exception as exc:  # pylint: disable=broad-except
            if _status_code(exc) in (400, 404, 409):
                return False          # not in a state that allows it (yet / any more): look again next round
            raise error_from_exception(exc, during='%s of migration %s' % (action, record.id)) from exc
        return True

    def abort_all(self, tasks):
        for task in tasks:
            if task.state != 'running' or task.kind != LIVE or task.aborting:
                continue
            migrations = _migrations(self.conn, task.id)
            record = next((migration for migration in migrations if migration.id == task.migration), None)
            if record is not None and record.status in IN_PROGRESS and self._migration_action('abort', task, record):
                task.aborting = True

    def _poll_own_action(self, task):
        server = _get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', None)
            task.entry['error'] = None
            return
        task.entry['status_after'] = server.status
        if server.compute_host != self.host and not server.task_state:
            self._finish(task, 'moved', None, server)
            return
        if self.clock() < task.deadline:
            return
        if self.opts['own_action_fallback'] == FAIL:
            self._finish(task, 'timeout', 'its VNFM did not move it within own_action_timeout (%ss) and '
                         'own_action_fallback is fail' % self.opts['own_action_timeout'], server)
            return
        self._attempt(task, None, 'fallback', 'its VNFM did not move it within %ss: Escalator moves it'
                      % self.opts['own_action_timeout'])
        task.state = 'pending'
        task.started = None
        if not task.candidates:
            task.candidates = [None] if not self.opts['strict_destinations'] else list(self.opts['destinations'])


def _error_code(entries, no_valid_host, timed_out):
    if no_valid_host:
        return E_NO_VALID_HOST
    if any(entry.get('error_code') == E_MIGRATION_FAILED or entry['result'] == 'failed' for entry in entries):
        return E_MIGRATION_FAILED
    if timed_out or any(entry['result'] == 'timeout' for entry in entries):
        return E_MIGRATION_TIMEOUT
    return E_HOST_NOT_EMPTY


def _summary(entries, host, remaining, started, clock, changed):
    for entry in entries:
        entry.pop('error_code', None)
    return dict(changed=changed, host=host, instances=entries,
                moved=[entry['id'] for entry in entries if entry['result'] == 'moved'],
                failed_instances=[entry['id'] for entry in entries if entry['result'] in ('failed', 'timeout')],
                remaining=remaining, duration=round(clock() - started, 1))


def confirm_leftovers(conn, host, check_mode=False, warn=None):
    """Confirm the cold migrations off ``host`` that an earlier, interrupted run left in VERIFY_RESIZE
    (the source keeps their resources, and confirming needs the source's nova-compute).
    A user's own resize (migration_type resize) is only reported."""
    confirmed = []
    records = _call('listing the unconfirmed migrations from %s' % host,
                    lambda: list(conn.compute.migrations(source_compute=host, status='finished')))
    for record in records:
        if record.migration_type == 'resize':
            if warn:
                warn('server %s has an unconfirmed resize from %s (migration %s): its owner must confirm or '
                     'revert it' % (record.server_id, host, record.id))
            continue
        if record.migration_type not in (None, 'migration'):
            continue
        server = _get_server(conn, record.server_id)
        if server is None or (server.status or '').upper() != 'VERIFY_RESIZE':
            continue
        if not check_mode:
            _call('confirming the migration of %s' % record.server_id, conn.compute.confirm_server_resize,
                  record.server_id)
        confirmed.append(record.server_id)
    return confirmed


def evacuate(conn, host, options=None, clock=time.monotonic, sleep=time.sleep, check_mode=False, warn=None):
    """Empty ``host``. Returns the result dict (see compute_evacuate's RETURN); raises EscalatorError
    whose details hold the same report when anything could not be moved."""
    opts = normalize_options(options)
    started = clock()
    warnings = []

    def _warn(message):
        warnings.append(message)
        if warn:
            warn(message)

    try:
        preflight = plan_evacuation(conn, host, opts=opts, warn=_warn)
    except EscalatorError as exc:
        entries = exc.details.get('instances')
        if entries is not None:
            exc.details.update(_summary(entries, host, [entry['id'] for entry in entries], started, clock, False))
            exc.details['warnings'] = warnings
        raise
    entries = preflight['instances']
    leftovers = confirm_leftovers(conn, host, check_mode, _warn)

    if check_mode:
        for entry in entries:
            if entry['result'] is None:
                entry['result'] = 'planned'
        result = _summary(entries, host, [entry['id'] for entry in entries], started, clock,
                          any(entry['result'] == 'planned' for entry in entries) or bool(leftovers))
        result.update(confirmed=leftovers, warnings=warnings)
        return result

    run = _Evacuation(conn, host, opts, clock, sleep, preflight['plan'])
    tasks = []
    for entry in entries:
        if entry['result'] is not None:
            continue
        task = _Task(entry, preflight['plan'][entry['id']])
        tasks.append(task)
        if task.method == OWN_ACTION:
            task.state = 'waiting'
            task.started = clock()
            task.deadline = task.started + opts['own_action_timeout']
            entry['method'] = OWN_ACTION
        elif task.method == 'adopt':
            _adopt(run, task)
    deadline = started + opts['timeout']

    while True:
        for task in tasks:
            if task.state in ('running', 'confirming', 'waiting'):
                run.poll(task)
        if clock() >= deadline:
            _overall_timeout(run, tasks, deadline, clock, sleep)
            break
        if not run.stop_starting:
            active = sum(1 for task in tasks if task.state in ('running', 'confirming'))
            for task in tasks:
                if active >= opts['max_concurrent'] or run.stop_starting:
                    break
                if task.state == 'pending' and (task.not_before is None or clock() >= task.not_before):
                    if run.start(task):
                        active += 1
        if not any(task.state in ('running', 'confirming', 'waiting') for task in tasks) and \
                (run.stop_starting or not any(task.state == 'pending' for task in tasks)):
            break
        sleep(opts['poll_interval'])

    for task in tasks:
        if task.state == 'pending':
            task.state = 'done'
            task.entry['result'] = 'not_started'
            task.entry['error'] = task.entry['error'] or 'not started: the evacuation stopped after a failure'
    remaining_servers = host_info.list_servers(conn, host)
    remaining = [server.id for server in remaining_servers]
    exempt = {entry['id'] for entry in entries if entry['result'] in ('left_alone', 'skipped')}
    unexpected = [server for server in remaining_servers if server.id not in exempt]
    result = _summary(entries, host, remaining, started, clock, run.changed or bool(leftovers))
    result.update(confirmed=leftovers, warnings=warnings)
    failed = [entry for entry in entries if entry['result'] in ('failed', 'timeout', 'not_started')]
    if failed or run.no_valid_host or (opts['verify_empty'] and unexpected):
        code = _error_code(entries, run.no_valid_host, run.timed_out) if failed or run.no_valid_host else E_HOST_NOT_EMPTY
        parts = ['%s (%s): %s: %s' % (entry['name'], entry['id'], entry['result'], entry['error']) for entry in failed]
        strangers = [server for server in unexpected if server.id not in {entry['id'] for entry in entries}]
        if strangers:
            parts.append('instance(s) that arrived during the evacuation: %s' % ', '.join(
                '%s (%s)' % (server.name, server.id) for server in strangers))
        msg = ('evacuation of %s incomplete: %d moved, %d not; %d instance(s) still on it%s. %s'
               % (host, len(result['moved']), len(failed), len(remaining),
                  ' (%d left alone or skipped on purpose)' % len(exempt & set(remaining)) if exempt & set(remaining) else '',
                  ' | '.join(parts)))
        if code == E_NO_VALID_HOST:
            msg += '. Make room (enable or add hosts) or relax the server group policy, then run again'
        elif code == E_HOST_NOT_EMPTY:
            msg += '. Is nova-compute on %s enabled (new instances scheduled there)? Run again after disabling it' % host
        error = EscalatorError(msg, code=code, **result)
        raise error
    return result


def _adopt(run, task):
    """An instance already migrating off the host (an earlier run was interrupted): watch that migration."""
    record = next((migration for migration in sorted(_migrations(run.conn, task.id), key=lambda m: -int(m.id))
                   if migration.source_compute == run.host and migration.status in IN_PROGRESS + COLD_READY), None)
    if record is None:
        task.state = 'done'
        task.entry['result'] = 'failed'
        task.entry['error'] = ('it is %s but no migration from %s is in progress: someone else is acting on it; '
                               'retry when it is settled' % (task.entry['status_before'], run.host))
        run.stop_starting = run.stop_starting or not run.opts['keep_going']
        return
    task.kind = LIVE if record.migration_type == 'live-migration' else COLD
    task.entry['method'] = task.kind
    task.expect = set(LIVE_STATUSES if task.kind == LIVE else COLD_STATUSES)
    task.known = set()
    task.migration = record.id
    task.dest = record.dest_compute
    task.state = 'running'
    task.started = task.attempt_started = run.clock()
    task.deadline = task.started + run.opts['migration_timeout']
    task.entry['attempts'].append(dict(method=task.kind, destination=record.dest_compute, outcome='adopted',
                                       error='migration %s was already in progress' % record.id,
                                       migration_id=record.id))
    run.changed = True


def _overall_timeout(run, tasks, deadline, clock, sleep):
    """Past the overall timeout: start nothing more; abort in-flight live migrations only if on_timeout=abort."""
    run.stop_starting = True
    run.timed_out = True
    if run.opts['on_timeout'] == 'abort':
        run.abort_all(tasks)
        grace = deadline + ABORT_GRACE
        while any(task.aborting and task.state == 'running' for task in tasks) and clock() < grace:
            sleep(run.opts['poll_interval'])
            for task in tasks:
                if task.aborting and task.state == 'running':
                    run.poll(task)
    for task in tasks:
        if task.state in ('running', 'confirming', 'waiting'):
            server = _get_server(run.conn, task.id)
            run._finish(task, 'timeout', 'overall timeout (%ss) reached while %s%s' % (  # pylint: disable=protected-access
                run.opts['timeout'], {'waiting': 'waiting for its VNFM to move it'}.get(
                    task.state, '%s-migrating (migration %s); Nova may still complete it' % (task.kind, task.migration)),
                ' (abort did not finish)' if task.aborting else ''), server)
        elif task.state == 'pending':
            task.state = 'done'
            task.entry['result'] = 'not_started'
            task.entry['error'] = 'not started: overall timeout (%ss) reached' % run.opts['timeout']
