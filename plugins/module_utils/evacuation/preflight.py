# SPDX-License-Identifier: Apache-2.0
"""The read-only preflight: what moves how and where. Nothing moves unless it finds a destination
for every instance that must move (enabled, up nova-compute, not the source, group policies counting
earlier planned moves, Placement capacity)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_NO_VALID_HOST, E_POLICY, E_SERVICE_DOWN, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import (
    ADOPT, COLD, COLD_STATUSES, FAIL, LEFT_ALONE, LIVE, LIVE_STATUSES, OWN_ACTION, SKIP, invalid, normalize_options,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.report import report_entry


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
    instances = hosts[host].get('instances') or []
    entries = [report_entry(instance, host) for instance in instances]
    result = dict(service=host_info.service_dict(service), instances=entries, plan={}, warnings=warnings,
                  hosts=hosts)
    if not instances:
        return result
    _check_source(service, host, opts, entries)
    _check_destinations(hosts, host, opts, entries)
    placement = _Placement(hosts, host, info['server_groups'], opts, _warn)
    movable, policy_errors = _classify(instances, entries, opts)
    stuck = _place(movable, placement, result['plan'], opts, _warn)
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


def _method_for(instance, opts):
    """(method, reason) for an instance: live | cold | own_action | skip | fail | left_alone | adopt."""
    status = (instance['status'] or '').upper()
    if instance['id'] in opts['leave_alone']:
        return LEFT_ALONE, None
    if status in ('MIGRATING', 'RESIZE'):
        return ADOPT, None
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


def _classify(instances, entries, opts):
    """Each instance's method into its report entry; returns ``(movable, policy_errors)``: the
    (instance, entry, method) to place, and the entries the policy forbids to move."""
    policy_errors = []
    movable = []
    for instance, entry in zip(instances, entries):
        method, reason = _method_for(instance, opts)
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
            movable.append((instance, entry, method))
    return movable, policy_errors


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


class _Placement:
    """The simulated cloud: the usable destinations in order of preference, their free capacity and
    where each server group member sits, updated by every planned move."""

    def __init__(self, hosts, source, server_groups, opts, warn):
        usable = {}
        self.unusable = {}
        for name, entry in hosts.items():
            if name == source:
                continue
            if entry['state'] != 'up':
                self.unusable[name] = 'nova-compute is down'
            elif entry['status'] != 'enabled':
                self.unusable[name] = 'nova-compute is disabled'
            elif opts['strict_destinations'] and name not in opts['destinations']:
                self.unusable[name] = 'not in destinations (strict_destinations)'
            else:
                usable[name] = entry
        for name in opts['destinations']:
            if name in self.unusable:
                warn('destination %s is not usable: %s' % (name, self.unusable[name]))
        self.preferred = [name for name in opts['destinations'] if name in usable]
        # The rest in the scheduler's default spirit: most free RAM first.
        others = sorted((name for name in usable if name not in self.preferred),
                        key=lambda name: (-((usable[name].get('free') or {}).get('memory_mb') or 0), name))
        self.order = self.preferred + others
        self.free = {name: (dict(usable[name]['free']) if usable[name].get('free') is not None else None)
                     for name in usable}
        self.groups = {group['id']: group for group in server_groups}
        self.where = {}
        for group in server_groups:
            self.where.update(group.get('member_hosts') or {})

    def feasible(self, instance, need):
        """``(hosts that can take it, in order; {host: why not} for the others)``."""
        reasons = dict(self.unusable)
        feasible = []
        for name in self.order:
            conflict = _group_conflict(instance, name, self.groups, self.where)
            fits, why = _fits(need, self.free[name])
            if conflict or not fits:
                reasons[name] = conflict or why
            else:
                feasible.append(name)
        return feasible, reasons

    def take(self, instance, target, need):
        if self.free[target] is not None:
            for key, value in need.items():
                self.free[target][key] -= value
        self.where[instance['id']] = target


def _weight(item):
    """Most constrained first: group members, then the biggest."""
    instance = item[0]
    return (0 if instance.get('server_groups') else 1, -instance['memory_mb'], -instance['vcpus'], instance['name'])


def _place(movable, placement, plan, opts, warn):
    """Plan every movable instance into ``plan`` and its report entry; returns the entries that have no
    destination (an own_action instance without one is only a warning: its VNFM moves it)."""
    stuck = []
    for instance, entry, method in sorted(movable, key=_weight):
        item = dict(method=method, candidates=[], planned=None, need=dict(
            vcpus=instance['vcpus'], memory_mb=instance['memory_mb'], disk_gb=instance['disk_gb']))
        plan[instance['id']] = item
        if method == ADOPT:
            continue
        feasible, reasons = placement.feasible(instance, item['need'])
        if not feasible:
            entry['error'] = 'no destination: %s' % ('; '.join('%s: %s' % (name, reasons[name]) for name in sorted(reasons))
                                                     or 'there is no other compute host')
            if method == OWN_ACTION:
                warn('%s (%s): its VNFM moves it itself; if it does not, Escalator could not move it: %s'
                     % (instance['name'], instance['id'], entry['error']))
                entry['error'] = None
                continue
            stuck.append(entry)
            continue
        target = feasible[0]
        item['planned'] = target
        item['candidates'] = [name for name in feasible if name in placement.preferred]
        if not opts['strict_destinations']:
            item['candidates'].append(None)
        entry['candidates'] = [name or 'scheduler' for name in item['candidates']]
        entry['to'] = target
        placement.take(instance, target, item['need'])
    return stuck


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
