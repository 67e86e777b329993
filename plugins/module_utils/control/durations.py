# SPDX-License-Identifier: Apache-2.0
"""How long a batch is expected to take, for the window check before it starts.

The hosts of a batch run their phases in parallel, so a batch takes about as long as one host: the sum of the
expected durations of a host's phases.  Without history these are the documented defaults below (a host with
a few dozen instances and a kernel upgrade with reboot; measured on the lab: about 70 s a host, so they are
generous); ``escalator_expected_phase_seconds`` overrides any of them.

The evacuate phase scales with the instances to move (``expectations``): ``DEFAULT_EVACUATE_PER_INSTANCE``
seconds each, or what history says, unless ``evacuate`` is set (then it is fixed per host) or
``evacuate_per_instance`` is (the rate). ``DEFAULT_PHASE_SECONDS['evacuate']`` stays the expectation of a host
whose instances are not known (no plan).
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

# seconds a live migration of one instance is expected to take (the evacuate phase scales with them)
DEFAULT_EVACUATE_PER_INSTANCE = 30
PER_INSTANCE = 'evacuate_per_instance'      # its key in escalator_expected_phase_seconds


def _checked(overrides):
    for phase, seconds in (overrides or {}).items():
        if phase not in DEFAULT_PHASE_SECONDS and phase != PER_INSTANCE:
            raise EscalatorError('escalator_expected_phase_seconds: unknown phase %r (phases: %s; and %s, the '
                                 'seconds per instance to move)' % (phase, ', '.join(DEFAULT_PHASE_SECONDS),
                                                                    PER_INSTANCE), code=E_INVALID_INPUT)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise EscalatorError('escalator_expected_phase_seconds: %s must be a number of seconds >= 0, got %r'
                                 % (phase, seconds), code=E_INVALID_INPUT)
    return overrides or {}


def phase_seconds(overrides=None):
    """The expected seconds of each phase: the defaults, with ``overrides`` ({phase: seconds}) applied
    (``evacuate_per_instance`` is checked, and left to ``per_instance_seconds``)."""
    expected = dict(DEFAULT_PHASE_SECONDS)
    expected.update((phase, seconds) for phase, seconds in _checked(overrides).items() if phase != PER_INSTANCE)
    return expected


def per_instance_seconds(overrides=None):
    """The ``evacuate_per_instance`` setting, or None."""
    return _checked(overrides).get(PER_INSTANCE)


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
