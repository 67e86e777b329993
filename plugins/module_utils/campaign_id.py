# SPDX-License-Identifier: Apache-2.0
"""The campaign id rule and the "ours" marker: the one definition of each.

A campaign id names everything a campaign touches: the disabled reason of the
hosts it puts in maintenance (``escalator:<campaign_id>: <text>``), the backups,
the state directory and the cloud lock.  The playbooks (through the test plugin
``opnfv.escalator.campaign_id``), the roles, the modules, the state store and
the Python API all check it here, so they cannot drift apart.

A host is *ours* only when its disabled reason names *this* campaign: a host left
disabled by another Escalator campaign is someone else's like any other.

Standard library only.
"""

from __future__ import annotations

import re

MAX_LENGTH = 64
_ID = r'[A-Za-z0-9][A-Za-z0-9._-]{0,%d}' % (MAX_LENGTH - 1)
PATTERN = re.compile(r'^%s$' % _ID)
CHARACTERS = '1 to %d letters, digits, ".", "_" or "-", starting with a letter or digit' % MAX_LENGTH
RULE = CHARACTERS + ', for example 2026-11-kernel'
# A run id names a run in the state store and its backups on the hosts (a directory, like the campaign id's
# state directory): the same rule; in Jinja, ``escalator_run_id is opnfv.escalator.campaign_id``.
RUN_ID_PATTERN = PATTERN

MARKER = 'escalator'
_REASON_PATTERN = re.compile(r'^%s:(%s):(?:\s|$)' % (MARKER, _ID))


def is_valid(campaign_id):
    """Whether ``campaign_id`` follows the rule."""
    return isinstance(campaign_id, str) and PATTERN.match(campaign_id) is not None


def problem(campaign_id):
    """What is wrong with ``campaign_id`` (a sentence), or None when it is valid."""
    if is_valid(campaign_id):
        return None
    return 'campaign_id %r is not valid: use %s' % (campaign_id, RULE)


def parse_reason(disabled_reason):
    """The campaign id in an Escalator disabled reason, or ``None`` when the reason is not Escalator's."""
    if not disabled_reason or not isinstance(disabled_reason, str):
        return None
    match = _REASON_PATTERN.match(disabled_reason)
    return match.group(1) if match else None


def is_ours(disabled_reason, campaign_id):
    """Whether ``disabled_reason`` marks maintenance by exactly this campaign."""
    return campaign_id is not None and parse_reason(disabled_reason) == campaign_id
