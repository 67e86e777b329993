# SPDX-License-Identifier: Apache-2.0
"""Exit codes of the CLI and how error codes of the collection map onto them.

The collection's modules fail with a stable ``error_code`` (``plugins/module_utils/errors.py``);
a run's outcome is derived from the error codes of its failed tasks.
"""

from __future__ import annotations

import dataclasses
import enum


class ExitCode(enum.IntEnum):
    """What `escalator` exits with (also ``Result.exit_code`` of the API)."""

    OK = 0            # the playbook succeeded: campaign done, plan feasible, precheck clean
    FAILED = 1        # a host failed (and was rolled back / left as it was); the campaign stopped
    USAGE = 2         # bad input: options, missing inventory or clouds.yaml, bad campaign id, not confirmed
    PRECHECK = 3      # the precheck refused the campaign (E_PRECHECK): nothing was touched
    LOCKED = 4        # another campaign holds the cloud's lock (E_LOCK)
    CLOUD = 5         # the cloud cannot be reached or refused the credentials (E_CONNECT, E_AUTH, E_FORBIDDEN)
    PLAN = 6          # no valid plan, or the cloud changed since the plan was reviewed (E_PLAN)
    UNREACHABLE = 7   # a compute host could not be reached over SSH (E_UNREACHABLE)
    INTERRUPTED = 8   # the run was cancelled (Ctrl-C); run the same command again to resume
    PAUSED = 9        # the campaign paused (window, pause request, alerts); run the same command again to resume
    INTERNAL = 10     # anything else: ansible-playbook failed without an Escalator error (see the artifacts)


class ExitCodeResult:
    """What every result of the API that carries an ``exit_code`` (a dataclass) answers: ``ok``, and ``to_dict()``
    with the exit code as a number; a result adds its own keys in ``_extra_dict``."""

    @property
    def ok(self):
        return self.exit_code == ExitCode.OK

    def _extra_dict(self):
        return {}

    def to_dict(self):
        data = dataclasses.asdict(self)
        data['exit_code'] = int(self.exit_code)
        data.update(self._extra_dict())
        data['ok'] = self.ok
        return data


EXIT_CODE_HELP = (
    (ExitCode.OK, 'success: the campaign is done / the plan is feasible / the precheck found nothing'),
    (ExitCode.FAILED, 'a host failed (rolled back if its software was touched); the campaign stopped'),
    (ExitCode.USAGE, 'bad input (options, inventory, clouds.yaml, campaign id) or the upgrade was not confirmed'),
    (ExitCode.PRECHECK, 'blocked by the precheck (E_PRECHECK); nothing was changed'),
    (ExitCode.LOCKED, 'the cloud lock is held by another campaign, or another run of this one is live (E_LOCK); '
                      'the message names the holder and how to resume or abandon it'),
    (ExitCode.CLOUD, 'cloud unreachable or credentials rejected (E_CONNECT, E_AUTH, E_FORBIDDEN)'),
    (ExitCode.PLAN, 'no valid plan, or the cloud changed since the plan was reviewed (E_PLAN)'),
    (ExitCode.UNREACHABLE, 'a compute host could not be reached over SSH (E_UNREACHABLE)'),
    (ExitCode.INTERRUPTED, 'interrupted; run the same command again to resume'),
    (ExitCode.PAUSED, 'paused before a batch (maintenance window, escalator pause, firing alerts); the reason is '
                      'shown; run the same command again to resume'),
    (ExitCode.INTERNAL, 'unexpected failure without an Escalator error code (see the artifacts)'),
)

CLOUD_CODES = frozenset(('E_CONNECT', 'E_AUTH', 'E_FORBIDDEN'))
CODE_TO_EXIT = {
    'E_LOCK': ExitCode.LOCKED,
    'E_PRECHECK': ExitCode.PRECHECK,
    'E_PLAN': ExitCode.PLAN,
    'E_UNREACHABLE': ExitCode.UNREACHABLE,
    'E_INVALID_INPUT': ExitCode.USAGE,
}
for _code in CLOUD_CODES:
    CODE_TO_EXIT[_code] = ExitCode.CLOUD
# the order in which a run's error codes decide its outcome (the first present wins)
PRIORITY = (ExitCode.CLOUD, ExitCode.LOCKED, ExitCode.USAGE, ExitCode.PLAN, ExitCode.PRECHECK, ExitCode.UNREACHABLE,
            ExitCode.FAILED)


def exit_code_for(error_code):
    """The exit code of one error code (``FAILED`` for a host-level error such as E_MIGRATION_FAILED)."""
    if not error_code:
        return ExitCode.FAILED
    return CODE_TO_EXIT.get(error_code, ExitCode.FAILED)


def decide(error_codes):
    """The exit code of a failed run from the error codes of its failures (any order)."""
    found = {exit_code_for(code) for code in error_codes} or {ExitCode.FAILED}
    for candidate in PRIORITY:
        if candidate in found:
            return candidate
    return ExitCode.FAILED


class EscalatorAPIError(Exception):
    """An error of the API itself (before or around the ansible run), with the exit code it maps to."""

    exit_code = ExitCode.INTERNAL
    error_code = 'E_INTERNAL'

    def __init__(self, msg):
        super().__init__(msg)
        self.msg = msg


class InputError(EscalatorAPIError, ValueError):
    """Bad input: a missing inventory or clouds.yaml, a bad campaign id, bad extra vars."""

    exit_code = ExitCode.USAGE
    error_code = 'E_INVALID_INPUT'
