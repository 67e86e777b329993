# SPDX-License-Identifier: Apache-2.0
"""The words of the state store: file names, host, batch and campaign states, the allowed host transitions,
phases, event fields and limits, and ``StateError`` (formats documented in docs/status.md)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_STATE, EscalatorError

STATUS_FORMAT = 'escalator-status/1'
EVENTS_FILE = 'events.jsonl'
STATUS_FILE = 'status.json'
PLAN_FILE = 'plan.json'
LOCK_FILE = '.lock'

# Host states.
PENDING = 'pending'
DRAINING = 'draining'
UPGRADING = 'upgrading'
VERIFYING = 'verifying'
DONE = 'done'
FAILED = 'failed'
ROLLED_BACK = 'rolled_back'
SKIPPED = 'skipped'
HOST_STATES = (PENDING, DRAINING, UPGRADING, VERIFYING, DONE, FAILED, ROLLED_BACK, SKIPPED)
ACTIVE_STATES = frozenset((DRAINING, UPGRADING, VERIFYING))
FINAL_STATES = frozenset((DONE, SKIPPED))            # leaving them needs an explicit reset
FAILURE_STATES = frozenset((FAILED, ROLLED_BACK))

# Allowed host transitions (a state to itself is always allowed: a phase or message update).
TRANSITIONS = {
    PENDING: frozenset((DRAINING, UPGRADING, SKIPPED, FAILED)),
    DRAINING: frozenset((UPGRADING, VERIFYING, FAILED, ROLLED_BACK)),
    UPGRADING: frozenset((VERIFYING, FAILED, ROLLED_BACK)),
    VERIFYING: frozenset((DONE, FAILED, ROLLED_BACK)),
    FAILED: frozenset((ROLLED_BACK, PENDING, DRAINING, UPGRADING, VERIFYING)),
    ROLLED_BACK: frozenset((PENDING, DRAINING, FAILED)),
    DONE: frozenset(),
    SKIPPED: frozenset(),
}

# Phases: the step a host is at, in campaign order.
PHASES = ('precheck', 'maintenance', 'notify', 'evacuate', 'backup', 'upgrade', 'verify', 'enable',
          'notify_complete', 'rollback')
# The state of a host during each phase the campaign_status callback records when the host's first task of the
# phase starts (from the task's phase tag, docs/status.md). precheck, enable, notify_complete and rollback are not
# in it: a precheck changes no state, and the other phases end in a record with data of its own (done with the
# VNF managers' answer, failed or rolled_back with the error), which a campaign_state task writes.
PHASE_STATES = {'maintenance': DRAINING, 'notify': DRAINING, 'evacuate': DRAINING, 'backup': UPGRADING,
                'upgrade': UPGRADING, 'verify': VERIFYING}
# Phases after which the host itself has been changed (packages, services): before them, a failed
# host has nothing to roll back but its maintenance.
CHANGING_PHASES = frozenset(('upgrade', 'verify', 'enable', 'notify_complete', 'rollback'))

# Event fields.
OBJECT_TYPES = ('campaign', 'batch', 'host', 'instance', 'vnfm')
RESULTS = ('ok', 'changed', 'failed', 'skipped', 'started')
DEFAULT_RESULT = {PENDING: 'ok', DRAINING: 'started', UPGRADING: 'started', VERIFYING: 'started',
                  DONE: 'ok', FAILED: 'failed', ROLLED_BACK: 'failed', SKIPPED: 'skipped'}

# Campaign and batch states. A done campaign keeps its backups: its rollback window is open (every upgraded
# host can be rolled back, rollback_compute.yml with escalator_rollback_campaign) until it is committed. Rolled
# back: every host it upgraded was rolled back (running it again upgrades them anew). Committed: closed - its
# backups are deleted, nothing changes it any more, it cannot be rolled back (closing.py).
RUNNING = 'running'
INCOMPLETE = 'incomplete'
COMMITTED = 'committed'
CAMPAIGN_STATES = (RUNNING, DONE, FAILED, INCOMPLETE, ROLLED_BACK, COMMITTED)
CLOSED_STATES = frozenset((COMMITTED,))
BATCH_STATES = (PENDING, RUNNING, DONE, FAILED, SKIPPED)

SEVERITIES = ('critical', 'warning', 'info')
HISTORY_LIMIT = 200
MESSAGE_LIMIT = 2000
LOCK_TIMEOUT = 60.0


class StateError(EscalatorError):
    """A change the state store refuses, or a state directory it cannot use."""

    def __init__(self, msg, code=E_STATE, **details):
        super().__init__(msg, code=code, **details)


def truncate(text, limit=MESSAGE_LIMIT):
    """A message as recorded: a string of at most *limit* characters (None stays None)."""
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + '...'
