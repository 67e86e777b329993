# SPDX-License-Identifier: Apache-2.0
"""The simulated cloud the preflight places instances in: the usable destinations in order of
preference, their free capacity (Placement) and where each server group member sits, updated by
every planned move. It knows the scheduler's hard filters the preflight checks (compute status,
hard group policies, capacity), not the others (aggregates, pinned zones, PCI, NUMA)."""

from __future__ import annotations

_RESOURCES = (('vcpus', 'vCPU'), ('memory_mb', 'MB RAM'), ('disk_gb', 'GB disk'))


def need_of(instance):
    """What an instance takes on its host."""
    return dict(vcpus=instance['vcpus'], memory_mb=instance['memory_mb'], disk_gb=instance['disk_gb'])


def _fits(need, free):
    """``None`` when ``need`` fits in ``free`` (unknown capacity fits), else why not."""
    if free is None:
        return None
    for key, unit in _RESOURCES:
        if need[key] > free.get(key, 0):
            return 'not enough %s (free %s, needs %s)' % (unit, free.get(key, 0), need[key])
    return None


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


class Placement:
    """The hosts an instance may go to, as the scheduler's hard filters see them, after the moves
    planned so far (``take``)."""

    def __init__(self, hosts, source, server_groups, opts, preferred, warn):
        """``preferred``: the hosts to try first, in order (destinations, or those the plan names)."""
        usable = {}
        self.source = source
        self.unusable = {}        # host -> why no instance may go there
        self.unlisted = set()     # usable, but not in destinations while strict_destinations
        for name, entry in hosts.items():
            if name == source:
                continue
            if entry['state'] != 'up':
                self.unusable[name] = 'nova-compute is down'
            elif entry['status'] != 'enabled':
                self.unusable[name] = 'nova-compute is disabled (in maintenance: %s)' % entry['disabled_reason'] \
                    if entry.get('disabled_reason') else 'nova-compute is disabled'
            else:
                usable[name] = entry
                if opts['strict_destinations'] and name not in opts['destinations']:
                    self.unlisted.add(name)
        for name in opts['destinations']:
            if name in self.unusable:
                warn('destination %s is not usable: %s' % (name, self.unusable[name]))
        self.preferred = [name for name in preferred if name in usable]
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

    def why_not(self, name, instance, need, listed=False):
        """Why ``instance`` cannot go to host ``name`` now (None: it can). ``listed``: ``name`` was
        named for it (a plan's move), so strict_destinations does not exclude it."""
        if name == self.source:
            return 'it is the host being emptied'
        if name in self.unusable:
            return self.unusable[name]
        if name not in self.free:
            return 'no nova-compute service of that name'
        if name in self.unlisted and not listed:
            return 'not in destinations (strict_destinations)'
        return _group_conflict(instance, name, self.groups, self.where) or _fits(need, self.free[name])

    def feasible(self, instance, need):
        """``(hosts that can take it, in order; {host: why not} for the others)``."""
        reasons = dict(self.unusable)
        feasible = []
        for name in self.order:
            why = self.why_not(name, instance, need)
            if why:
                reasons[name] = why
            else:
                feasible.append(name)
        return feasible, reasons

    def take(self, instance, target, need):
        if self.free[target] is not None:
            for key, value in need.items():
                self.free[target][key] -= value
        self.where[instance['id']] = target
