# SPDX-License-Identifier: Apache-2.0
"""The campaign settings of campaign control (windows, pause, alerts), as campaign_settings checks them.

One home per setting: their defaults are in the campaign_gate module's argument spec; this spec only lets the
settings check (campaign_settings.CAMPAIGN_SPEC includes it) know the names and types before anything is
touched.  The values are checked in full by the gate (windows: days, times, time zones; matchers; phases).
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.control.hang_policy import POLICIES

CONTROL_SPEC = {
    'escalator_windows': dict(type='list', elements='dict'),
    'escalator_wait_for_window': dict(type='bool'),
    'escalator_window_max_wait': dict(type='int', minimum=0),
    'escalator_expected_phase_seconds': dict(type='dict'),
    'escalator_hang_multiple': dict(type='float'),     # >= 0, checked by the gate (hang_policy.check)
    'escalator_hang_policy': dict(type='str', choices=list(POLICIES)),
    'escalator_alertmanager': dict(type='dict'),
    # playbooks/pause_campaign.yml
    'escalator_pause_reason': dict(type='str'),
    # playbooks/rollback_compute.yml: every host the campaign upgraded, in reverse order (instead of -l)
    'escalator_rollback_campaign': dict(type='bool'),
}
