# SPDX-License-Identifier: Apache-2.0
"""Closing a campaign's rollback window: commit it, or roll every host it upgraded back.

A campaign whose hosts are all upgraded is ``done``, and keeps its backups (on the hosts and on the controller):
until it is closed, ``rollback_compute.yml`` with ``escalator_rollback_campaign`` rolls every host it upgraded
back, in the reverse order of their upgrade (``rollback_order``), and the campaign ends ``rolled_back``.
``commit_campaign.yml`` closes the window: it checks every host (at the target versions, healthy), deletes the
campaign's backups and records the campaign ``committed`` (``apply_commit``). A committed campaign is never
changed again: no run, host record or rollback (``check_open``).
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.state.events import make_event
from ansible_collections.opnfv.escalator.plugins.module_utils.state.summary import summary
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    CLOSED_STATES, COMMITTED, DONE, FAILED, INCOMPLETE, ROLLED_BACK, RUNNING, StateError)
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts

NOT_COMMITTABLE = {
    RUNNING: 'it is running: let it finish (or pause it) first',
    FAILED: 'a host failed: resume it (escalator upgrade) or roll it back (escalator rollback --campaign) first',
    INCOMPLETE: 'not every host is upgraded: resume it (escalator upgrade) first',
    ROLLED_BACK: 'it was rolled back: upgrade its hosts again (escalator upgrade) before committing',
}


def check_open(status, what='changed'):
    """Refuse (E_STATE) any change to a committed campaign."""
    campaign = status['campaign']
    if campaign['state'] in CLOSED_STATES:
        raise StateError('campaign %s is committed (%s): it cannot be %s - its backups are deleted and its rollback '
                         'window is closed; use a new campaign id for a new upgrade' % (
                             campaign['id'], campaign.get('committed') or campaign.get('finished') or '-', what),
                         state=campaign['state'])


def rollback_order(status):
    """The hosts the campaign upgraded (done), the last upgraded first: the order a campaign rollback takes."""
    done = [(record.get('finished') or '', name) for name, record in (status.get('hosts') or {}).items()
            if record.get('state') == DONE]
    return [name for _finished, name in sorted(done, reverse=True)]


def apply_commit(status, run_id, now, message=None, data=None):
    """Record the campaign committed (in place); returns the events ([] when it already is). Only a done campaign
    can be: every other state is refused with what to do first (E_STATE)."""
    campaign = status['campaign']
    if campaign['state'] == COMMITTED:
        return []
    if campaign['state'] != DONE:
        raise StateError('campaign %s is %s, not done: it cannot be committed; %s' % (
            campaign['id'], campaign['state'], NOT_COMMITTABLE.get(campaign['state'], 'finish it first')),
            state=campaign['state'])
    stamp = format_ts(now)
    campaign.update(state=COMMITTED, updated=stamp, committed=stamp,
                    message=message or 'committed: every host at the target version and healthy, backups deleted')
    event_data = dict(state=COMMITTED, previous_state=DONE, summary=summary(status, now=now))
    event_data.update(data or {})
    return [make_event(campaign['id'], run_id, 'campaign', campaign['id'], 'commit', 'ok',
                       message=campaign['message'], data=event_data, now=now)]
