# SPDX-License-Identifier: Apache-2.0
"""A plan as the state store reads it: batches and the hosts the plan leaves out (docs/status.md)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, E_PLAN
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import StateError


def normalize_plan(plan):
    """Batches and plan-skipped hosts from a plan.

    Accepts the planner's format (``batches: [{batch, hosts, canary}]``,
    ``skipped: [{host, reason, detail}]``) or plain lists
    (``batches: [[host, ...], ...]``, ``skipped: [host, ...]``).
    Returns ``([{index, hosts, canary}], [{host, reason}])``.
    """
    if not isinstance(plan, dict):
        raise StateError('the plan must be a dictionary with "batches", got %s' % type(plan).__name__,
                         code=E_INVALID_INPUT)
    if plan.get('feasible') is False:
        reasons = '; '.join(str(r) for r in plan.get('reasons') or []) or 'no reason given'
        raise StateError('the plan is not feasible (%s): make a feasible plan before starting' % reasons,
                         code=E_PLAN)
    raw_batches = plan.get('batches')
    if raw_batches is None:
        raw_batches = []
    if not isinstance(raw_batches, list):
        raise StateError('plan "batches" must be a list', code=E_INVALID_INPUT)
    batches = []
    seen = {}
    for position, raw in enumerate(raw_batches, 1):
        if isinstance(raw, dict):
            hosts = raw.get('hosts')
            index = raw.get('batch', raw.get('index', position))
            canary = bool(raw.get('canary', False))
        else:
            hosts, index, canary = raw, position, False
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise StateError('plan batch %s: "hosts" must be a list of host names' % position, code=E_INVALID_INPUT)
        if isinstance(index, bool) or not isinstance(index, int):
            raise StateError('plan batch %s: the batch number must be an integer' % position, code=E_INVALID_INPUT)
        for host in hosts:
            if host in seen:
                raise StateError('host %s is in plan batches %s and %s' % (host, seen[host], index),
                                 code=E_INVALID_INPUT)
            seen[host] = index
        batches.append(dict(index=index, hosts=list(hosts), canary=canary))
    indexes = [b['index'] for b in batches]
    if len(set(indexes)) != len(indexes):
        raise StateError('plan batch numbers repeat: %s' % indexes, code=E_INVALID_INPUT)
    skipped = []
    for raw in plan.get('skipped') or []:
        if isinstance(raw, dict):
            host = raw.get('host')
            reason = '; '.join(str(p) for p in (raw.get('reason'), raw.get('detail')) if p)
        else:
            host, reason = raw, ''
        if not isinstance(host, str) or not host:
            raise StateError('plan "skipped" entries must name a host', code=E_INVALID_INPUT)
        if host in seen:
            raise StateError('host %s is both in plan batch %s and skipped' % (host, seen[host]),
                             code=E_INVALID_INPUT)
        skipped.append(dict(host=host, reason=reason or 'left out by the plan'))
    return batches, skipped
