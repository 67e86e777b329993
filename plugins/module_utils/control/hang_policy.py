# SPDX-License-Identifier: Apache-2.0
"""What a hang does: ``escalator_hang_policy`` ``alert`` (the default) or ``fail``, and the limits ``fail`` puts on
a host's phases.

A phase hangs when it runs longer than ``escalator_hang_multiple`` times its expectation (``expectations``). The
watcher started by the gate raises an ``alert`` event (``E_HANG``) then, whatever the policy. With ``fail`` the
host is also failed, which rolls it back through the batch play's rescue, like any failure.

How the hang is interrupted: each phase block of upgrade_compute.yml gets an Ansible task ``timeout`` of
``multiple x`` its expectation (``limits``, returned by the gate for each host of its batch). Ansible interrupts a
task that runs past its timeout (SIGALRM in the task's worker) and fails it with ``timedout`` in its result; the
rescue records the failure as ``E_HANG`` and rolls back. This is the simplest robust design: the worker that runs
the hanging task is the one interrupted, by Ansible itself, for that host only, through the same rescue path as
every failure - no process of ours has to find, signal or kill another (the watcher only reads the state store),
and nothing is left running on the controller. A hang is one task that does not return (a VNF manager that never
answers, a reboot that never comes back, a migration that never ends): bounding every task of a phase by the
phase's limit interrupts it at most that long after it started. The drain's three phases (maintenance, notify,
evacuate) are one task each in tasks/drain.yml, which rollback_compute.yml shares: they share one limit, the sum of
theirs. The release phase has none: a host back in service is never failed (the rescue would not touch it).
"""

from __future__ import annotations

import math

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

ALERT = 'alert'
FAIL = 'fail'
POLICIES = (ALERT, FAIL)
# the phase blocks of upgrade_compute.yml that get a limit, and the phases each covers
LIMITED = {'drain': ('maintenance', 'notify', 'evacuate'), 'backup': ('backup',), 'upgrade': ('upgrade',),
           'verify': ('verify', 'release')}


def check(multiple, policy):
    """Refuse a multiple or a policy that cannot work (E_INVALID_INPUT, naming the setting)."""
    if policy not in POLICIES:
        raise EscalatorError('escalator_hang_policy must be %s, got %r' % (' or '.join(POLICIES), policy),
                             code=E_INVALID_INPUT)
    if isinstance(multiple, bool) or not isinstance(multiple, (int, float)) or multiple < 0:
        raise EscalatorError('hang_multiple must be positive (a phase hangs after that many times its expected '
                             'duration) or 0 to detect no hang, got %s' % (multiple,), code=E_INVALID_INPUT)
    if policy == FAIL and multiple < 1:
        raise EscalatorError('escalator_hang_policy fail needs escalator_hang_multiple >= 1 (got %s): it fails a '
                             'host whose phase runs that many times longer than expected; %s' % (
                                 multiple, 'set one, or use the policy alert' if not multiple else
                                 'below 1 it would fail hosts on time'), code=E_INVALID_INPUT)


def limits(by_host, multiple, policy):
    """{host: {block: seconds}}: the task timeout of each limited phase block of each host ({} unless ``fail``)."""
    if policy != FAIL or not multiple:
        return {}
    return {host: {block: max(1, int(math.ceil(multiple * sum(phases.get(p) or 0 for p in covered))))
                   for block, covered in LIMITED.items()}
            for host, phases in by_host.items()}


def describe(multiple, policy):
    """How a hang is handled, for messages."""
    if policy == FAIL:
        return 'escalator_hang_multiple %s, escalator_hang_policy fail: its task is interrupted at the limit and the ' \
            'host failed and rolled back' % multiple
    return 'escalator_hang_multiple %s' % multiple
