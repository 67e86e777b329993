# SPDX-License-Identifier: Apache-2.0
"""The batch guard: the hosts that go into maintenance together (the plan's batch) must not hold more
members of a server group than its budget allows, counted on the cloud as it is now. The plan was
checked when it was made (plan_check); this catches a plan edited by hand since, or a cloud where
members moved onto one batch's hosts after the plan was made, before anything of the batch moves.

The rule is docs/planner.md's, written here apart from the planner and its checker on purpose: a
group's budget is its members' ``escalator:budget`` (server metadata, read by server_policy.py), else
``budgets[id]``, else ``budgets[name]``, else ``default_budget`` for a hard anti-affinity group, else
none; a budget ``b >= 1`` with ``d`` members on hosts whose nova-compute is down allows ``b - d``
members on the batch's hosts, a budget 0 (VNFM switchover) allows one."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import server_policy
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_PLAN, EscalatorError


def _budget(group, default_budget, budgets, instances, found):
    tagged, dummy, problem = server_policy.group_budget(group, instances)
    if problem:
        found.append(problem)
    if tagged is not None:
        return tagged
    if group['id'] in budgets:
        return budgets[group['id']]
    if group.get('name') in budgets:
        return budgets[group['name']]
    return default_budget if group['policy'] == 'anti-affinity' else None


def over_budget(hosts, server_groups, batch, default_budget, budgets):
    """One sentence per group that the ``batch``'s hosts hold more members of than its budget allows."""
    batch = set(batch)
    found = []
    instances = {instance['id']: instance for entry in hosts.values() for instance in entry.get('instances') or []}
    for group in server_groups:
        budget = _budget(group, default_budget, budgets, instances, found)
        if budget is None:
            continue
        member_hosts = group.get('member_hosts') or {}
        down = sum(1 for name in member_hosts.values() if name in hosts and hosts[name]['state'] != 'up')
        limit = 1 if budget == 0 else budget - down
        on_batch = [name for name in member_hosts.values() if name in batch]
        if len(on_batch) > limit:
            found.append('group %s (%s, budget %s%s) has %d members on %s, which go into maintenance together; '
                         'it may lose %d at a time' % (
                             group.get('name') or group['id'], group['policy'], budget,
                             ', %d member(s) already on down hosts' % down if down and budget else '',
                             len(on_batch), ', '.join(sorted(set(on_batch))), max(limit, 0)))
    return found


def check_batch(hosts, server_groups, host, opts, entries):
    """Raise E_PLAN, before anything moves, when the batch of ``host`` breaks a budget."""
    if not opts['batch_hosts']:
        return
    found = over_budget(hosts, server_groups, opts['batch_hosts'], opts['default_budget'], opts['budgets'])
    if found:
        raise EscalatorError(
            'cannot evacuate %s: its batch (%s) breaks server group budgets: %s; nothing was moved. Was the plan '
            'edited (the campaign\'s plan.json), or did instances move since it was made? Restore the plan, or plan '
            'a new campaign and review it'
            % (host, ', '.join(opts['batch_hosts']), '; '.join(found)),
            code=E_PLAN, host=host, instances=entries, budget_violations=found)
