# SPDX-License-Identifier: Apache-2.0
"""Escalator's Python API: zero-outage rolling upgrades of OpenStack compute nodes through
ansible-runner (the Ansible collection opnfv.escalator does the work).

    import escalator
    result = escalator.upgrade('2026-11-kernel', inventory='inventories/mycloud/hosts.yml')
    if not result.ok:
        print(result.exit_code.name, result.error_code, result.message)

See docs/api.md.
"""

from escalator.api import (
    Result, StatusReport, commit, list_campaigns, parse_extra_vars, plan, precheck, read_status, rollback,
    run_playbook, status, upgrade,
)
from escalator.control import pause
from escalator.errors import EscalatorAPIError, ExitCode, InputError
from escalator.events import (
    CampaignStatus, Event, EventParser, HostPhase, PlanReady, PlaybookStats, PlayStarted, TaskResult, TaskStarted,
)

__version__ = '0.1.0'
__all__ = [
    'CampaignStatus', 'EscalatorAPIError', 'Event', 'EventParser', 'ExitCode', 'HostPhase', 'InputError',
    'PlanReady', 'PlaybookStats', 'PlayStarted', 'Result', 'StatusReport', 'TaskResult', 'TaskStarted',
    'commit', 'list_campaigns', 'parse_extra_vars', 'pause', 'plan', 'precheck', 'read_status', 'rollback', 'run_playbook',
    'status', 'upgrade',
]
