# SPDX-License-Identifier: Apache-2.0
"""How long a batch is expected to take, for the window check before it starts.

The hosts of a batch run their phases in parallel, so a batch takes about as long as one host: the sum of the
expected durations of a host's phases.  Without history these are the documented defaults below (a host with
a few dozen instances and a kernel upgrade with reboot; measured on the lab: about 70 s a host, so they are
generous); ``escalator_expected_phase_seconds`` overrides any of them.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

# seconds per phase, in campaign order (docs/campaign-control.md lists them)
DEFAULT_PHASE_SECONDS = {
    'maintenance': 15,      # disable nova-compute
    'notify': 60,           # VNF managers' answers (their reply timeout bounds it)
    'evacuate': 300,        # live migrations of the host's instances
    'backup': 60,
    'upgrade': 600,         # packages and a reboot
    'verify': 120,          # services back, canary VM
    'release': 30,          # enable, tell the VNF managers, record
}


def phase_seconds(overrides=None):
    """The expected seconds of each phase: the defaults, with ``overrides`` ({phase: seconds}) applied."""
    expected = dict(DEFAULT_PHASE_SECONDS)
    for phase, seconds in (overrides or {}).items():
        if phase not in expected:
            raise EscalatorError('escalator_expected_phase_seconds: unknown phase %r (phases: %s)'
                                 % (phase, ', '.join(DEFAULT_PHASE_SECONDS)), code=E_INVALID_INPUT)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise EscalatorError('escalator_expected_phase_seconds: %s must be a number of seconds >= 0, got %r'
                                 % (phase, seconds), code=E_INVALID_INPUT)
        expected[phase] = seconds
    return expected


def host_seconds(overrides=None):
    return float(sum(phase_seconds(overrides).values()))


def batch_seconds(hosts, overrides=None):
    """Expected seconds of a batch of ``hosts`` (they run in parallel): one host's; 0 for an empty batch."""
    return host_seconds(overrides) if hosts else 0.0


def minutes_text(seconds):
    """``~14 min`` (at least 1), or ``~2 h 05 min``."""
    minutes = max(1, int(round(seconds / 60.0)))
    if minutes < 120:
        return '~%d min' % minutes
    return '~%d h %02d min' % divmod(minutes, 60)
