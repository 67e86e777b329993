# SPDX-License-Identifier: Apache-2.0
"""The read-only preflight: what moves how and where. Nothing moves unless it finds a destination
for every instance that must move (enabled, up nova-compute, not the source, group policies counting
earlier planned moves, Placement capacity), and unless the host's batch keeps every server group
within its budget (budget.py). Given the campaign plan's moves, it keeps those that still hold and
re-plans only the others, saying why (plan_moves.py)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_NO_VALID_HOST, E_POLICY, E_SERVICE_DOWN, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation import budget, plan_moves
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import (
    ADOPT, COLD, COLD_STATUSES, FAIL, LEFT_ALONE, LIVE, LIVE_STATUSES, OWN_ACTION, SKIP, invalid, normalize_options,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.placement import Placement, need_of
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.report import report_entry, slow_report
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.server_tags import slow_policy, tagged_method


def plan_evacuation(conn, host, options=None, opts=None, warn=None):
    """Read-only preflight. Returns ``{"service", "instances": [report entries], "plan": {id: task info},
    "replanned": [...], "ignored_moves": [...], "warnings": [...]}``; raises E_HOST_NOT_FOUND,
    E_INVALID_INPUT, E_SERVICE_DOWN, E_PLAN (the batch breaks a budget), E_POLICY, E_NO_VALID_HOST.

    Each movable instance gets ``candidates``: the destinations to try in order (``None`` = the
    scheduler) and ``planned``, the host the simulation put it on. With the plan's ``moves``, an
    instance keeps its planned destinations that still hold and only the others are re-planned.
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
    instances = hosts[host].get('instances') or []
    entries = [report_entry(instance, host) for instance in instances]
    result = dict(service=host_info.service_dict(service), instances=entries, plan={}, warnings=warnings,
                  hosts=hosts, replanned=[], ignored_moves=[])
    if opts['moves'] is not None:
        result['ignored_moves'] = plan_moves.ignored_moves(opts['moves'], hosts, host, instances)
        for move in result['ignored_moves']:
            _warn("the plan's move of %s is left aside: it is %s" % (move['instance'], move['reason']))
    budget.check_batch(hosts, info['server_groups'], host, opts, entries)
    if not instances:
        return result
    _check_source(service, host, opts, entries)
    _check_destinations(hosts, host, opts, entries)
    preferred = opts['destinations'] or plan_moves.preferred_from_moves(opts['moves'] or {})
    placement = Placement(hosts, host, info['server_groups'], opts, preferred, _warn)
    movable, policy_errors = _classify(instances, entries, opts, _warn)
    stuck = _place(movable, placement, result, opts, _warn)
    _refuse(host, entries, policy_errors, stuck)
    return result


def _check_source(service, host, opts, entries):
    if opts['require_disabled'] and service.status != 'disabled':
        raise invalid('nova-compute on %s is enabled: the scheduler could put new instances back while it is '
                      'emptied; disable it first (opnfv.escalator.compute_maintenance state=maintenance), or set '
                      'require_disabled=false' % host, host=host, instances=entries)
    if service.state != 'up':
        raise EscalatorError(
            'nova-compute on %s is down (last heartbeat %s): Nova can migrate instances only from a host whose '
            'nova-compute runs; start it (systemctl start nova-compute on %s) and retry. Instances of a dead '
            'host can only be evacuated (rebuilt elsewhere), which this module does not do'
            % (host, service.updated_at, host), code=E_SERVICE_DOWN, host=host, instances=entries)


def _check_destinations(hosts, host, opts, entries):
    unknown = [name for name in opts['destinations'] if name not in hosts]
    if unknown:
        raise invalid('destinations: no nova-compute service on %s; known compute hosts: %s'
                      % (', '.join(unknown), ', '.join(sorted(hosts))), host=host, instances=entries)
    if host in opts['destinations']:
        raise invalid('destinations: %s is the host being emptied' % host, host=host, instances=entries)


def _method_for(instance, opts, warn):
    """(method, reason, then) for an instance: live | cold | stop | own_action | skip | fail | left_alone | adopt;
    ``then``: how an own_action instance whose server policy says so is moved after the wait (None: as usual)."""
    status = (instance['status'] or '').upper()
    if instance['id'] in opts['leave_alone']:
        return LEFT_ALONE, None, None
    if status in ('MIGRATING', 'RESIZE'):
        return ADOPT, None, None
    tagged = tagged_method(instance, opts, status, warn)    # escalator:action, over the decisions and status_policy
    if tagged is not None:
        return tagged
    return _untagged_method(instance, opts, status) + (None,)


def _untagged_method(instance, opts, status):
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


def _classify(instances, entries, opts, warn):
    """Each instance's method into its report entry; returns ``(movable, policy_errors)``: the
    (instance, entry, method, then, slow) to place (slow: what its live migration gets when it does not converge,
    server_tags.slow_policy), and the entries the policy forbids to move."""
    policy_errors = []
    movable = []
    for instance, entry in zip(instances, entries):
        method, reason, then = _method_for(instance, opts, warn)
        slow = None
        if method not in (LEFT_ALONE, SKIP, FAIL):
            slow, problem = slow_policy(instance, opts)
            if problem:
                method, reason = FAIL, problem
        entry['method'] = {SKIP: 'skipped', ADOPT: None}.get(method, method)
        if method == LEFT_ALONE:
            entry['result'] = LEFT_ALONE
        elif method == SKIP:
            entry['result'] = 'skipped'
        elif method == FAIL:
            entry['method'] = None
            entry['error'] = reason
            policy_errors.append(entry)
        else:
            movable.append((instance, entry, method, then, slow))
    return movable, policy_errors


def _weight(item):
    """Most constrained first: group members, then the biggest."""
    instance = item[0]
    return (0 if instance.get('server_groups') else 1, -instance['memory_mb'], -instance['vcpus'], instance['name'])


def _place(movable, placement, result, opts, warn):
    """Plan every movable instance into ``result["plan"]`` and its report entry; returns the entries that
    have no destination (an own_action instance without one is only a warning: its VNFM moves it).
    The plan's moves go first, as they were planned together; the instances they do not place follow."""
    moves = opts['moves']
    ordered = sorted(movable, key=_weight)
    if moves is not None:
        ordered = [item for item in ordered if item[0]['id'] in moves] + \
            [item for item in ordered if item[0]['id'] not in moves]
    placer = _Placer(placement, result, opts, warn)
    for instance, entry, method, then, slow in ordered:
        placer.place(instance, entry, method, then, slow)
    return placer.stuck


class _Placer:
    """Places the instances one by one into the simulated cloud and the preflight's result."""

    def __init__(self, placement, result, opts, warn):
        self.placement = placement
        self.result = result
        self.opts = opts
        self.warn = warn
        self.stuck = []

    def place(self, instance, entry, method, then=None, slow=None):
        item = dict(method=method, candidates=[], planned=None, need=need_of(instance), then=then, slow=slow)
        self.result['plan'][instance['id']] = item
        if method == LIVE:
            entry['slow_migration'] = slow_report(slow)
        if method == ADOPT:
            return
        moves = self.opts['moves']
        # a server its VNFM moves (escalator:action=notify) has no move in the plan on purpose: not "re-planned"
        in_plan = moves is not None and (method != OWN_ACTION or instance['id'] in moves)
        if in_plan and self._keep_move(instance, entry, item):
            return
        feasible, reasons = self.placement.feasible(instance, item['need'])
        if feasible:
            candidates = [name for name in feasible if name in self.placement.preferred]
            if entry['plan'] == 'replanned' and feasible[0] not in candidates:
                # a re-planned instance goes where the re-plan put it, counted with the plan's moves, rather
                # than where the scheduler, blind to the moves still in flight, might send it
                candidates.insert(0, feasible[0])
            self._take(instance, entry, item, candidates, feasible[0])
            return
        entry['error'] = 'no destination: %s' % ('; '.join('%s: %s' % (name, reasons[name]) for name in sorted(reasons))
                                                 or 'there is no other compute host')
        if method == OWN_ACTION:
            self.warn('%s (%s): its VNFM moves it itself; if it does not, Escalator could not move it: %s'
                      % (instance['name'], instance['id'], entry['error']))
            entry['error'] = None
            return
        self.stuck.append(entry)

    def _take(self, instance, entry, item, candidates, target):
        item['planned'] = target
        item['candidates'] = list(candidates)
        if not self.opts['strict_destinations']:
            item['candidates'].append(None)
        entry['candidates'] = [name or 'scheduler' for name in item['candidates']]
        entry['to'] = target
        self.placement.take(instance, target, item['need'])

    def _keep_move(self, instance, entry, item):
        """Place ``instance`` along its planned move when one of its destinations still holds (True);
        otherwise record why it is re-planned (False: it is placed as without a plan)."""
        to = self.opts['moves'].get(instance['id'])
        valid, dropped = plan_moves.hold_move(self.placement, instance, item['need'], to or [])
        if valid:
            entry['plan'] = 'kept'
            if dropped:
                entry['plan_note'] = plan_moves.dropped_note(dropped)
            self._take(instance, entry, item, valid, valid[0])
            return True
        reason = plan_moves.why_replanned(to, dropped, entry['from'])
        entry['plan'] = 'replanned'
        entry['plan_note'] = reason
        self.result['replanned'].append(dict(instance=instance['id'], name=instance['name'], planned=list(to or []),
                                             reason=reason))
        self.warn('%s (%s) is re-planned: %s' % (instance['name'], instance['id'], reason))
        return False


def _refuse(host, entries, policy_errors, stuck):
    """Nothing moves when one instance may not (E_POLICY) or cannot (E_NO_VALID_HOST) be moved."""
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
