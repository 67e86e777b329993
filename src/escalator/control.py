# SPDX-License-Identifier: Apache-2.0
"""Campaign control from the API and the CLI: ask a running campaign to pause, and tell a paused run.

    import escalator
    escalator.pause('2026-11-kernel', reason='NOC: incident 4711')   # the gate before the next batch pauses it
    result = escalator.upgrade('2026-11-kernel', ...)                  # the same call resumes it
    result.exit_code == escalator.ExitCode.PAUSED                      # paused again (window, alerts, request)

The gate itself is the collection's campaign_gate module (plugins/module_utils/control/); see
docs/campaign-control.md.
"""

from __future__ import annotations

import dataclasses

from escalator import locate
from escalator.errors import ExitCode, ExitCodeResult, InputError

PAUSED_HINT = 'the campaign is paused (hosts in flight were finished, nothing new started): run the same command ' \
              'again to resume it - in a maintenance window, or with --wait-for-window / escalator_wait_for_window'


@dataclasses.dataclass
class PauseResult(ExitCodeResult):
    """What ``pause`` did: ``request`` is the request written (reason, requested_by, run)."""

    campaign_id: str
    exit_code: ExitCode
    message: str
    request: dict | None = None


def _store(campaign_id, state_dir):
    from escalator import api   # pylint: disable=import-outside-toplevel  # api imports this module
    api.validate_campaign_id(campaign_id)
    state = locate.collection_module('state')
    try:
        return state, state.CampaignStore(campaign_id, api.resolve_state_dir(state_dir))
    except _escalator_error() as exc:
        raise InputError(exc.msg) from exc


def _escalator_error():
    return locate.collection_module('errors').EscalatorError


def pause(campaign_id, reason=None, requested_by=None, state_dir=None):
    """Ask the running campaign to pause before its next batch (the hosts in flight are finished). Refused
    (``USAGE``) when the campaign does not exist or is not running."""
    state, store = _store(campaign_id, state_dir)
    control = locate.collection_module('control.pause')
    try:
        request = control.request(store, reason=reason, requested_by=requested_by,
                                  now_text=state.format_ts(state.utcnow()))
    except _escalator_error() as exc:
        return PauseResult(campaign_id, ExitCode.USAGE, exc.msg)
    message = 'campaign %s will pause before its next batch (asked by %s%s); the hosts in flight are finished ' \
        'first' % (campaign_id, request['requested_by'], ': %s' % request['reason'] if request.get('reason') else '')
    if locate.collection_module('run_guard').holder(store.path) is None:
        # a killed run left the campaign 'running': the request waits for the next run, which pauses at once
        message += '. No run of it is live on this controller now: its next run will pause before its first batch'
    return PauseResult(campaign_id, ExitCode.OK, message, request)


def paused(campaign_id, state_dir=None):
    """The pause record (kind, reason, requested_by, batch, at...) when the campaign is paused, else None."""
    _state, store = _store(campaign_id, state_dir)
    return locate.collection_module('control.pause').paused_info(store.read_events())


def paused_outcome(campaign_id, state_dir, status):
    """(ExitCode.PAUSED, message) when a run that ended well left the campaign paused, else None."""
    if not status or (status.get('campaign') or {}).get('state') == 'done':
        return None
    try:
        record = paused(campaign_id, state_dir)
    except InputError:
        return None
    if not record:
        return None
    return ExitCode.PAUSED, 'paused before batch %s: %s' % (record.get('batch') or '?', record.get('reason'))


def progress_lines(state_dir, status, now=None):
    """Elapsed vs expected for the hosts in flight, and the ETA (expectations from the campaigns of
    ``state_dir``, else the documented defaults): lines for under the status table ([] when done)."""
    if not status or (status.get('campaign') or {}).get('state') == 'done':
        return []
    history = locate.collection_module('control.history')
    progress = locate.collection_module('control.progress')
    import datetime  # pylint: disable=import-outside-toplevel
    expectations = locate.collection_module('control.expectations')
    samples, _campaigns = history.from_state_dir(state_dir)
    expected, sources = history.expected_phases(samples)
    # each host in flight against its own expectation (its evacuation scales with its instances), as the gate
    rate, _source = expectations.evacuate_rate(samples, None, history.MIN_SAMPLES)
    campaign_id = (status.get('campaign') or {}).get('id')
    plan = None
    if campaign_id:
        try:
            plan = locate.collection_module('state').CampaignStore(campaign_id, state_dir).read_plan()
        except _escalator_error():
            plan = None
    by_host = expectations.for_hosts(expected, rate, expectations.instances_to_move(plan), list(status.get('hosts') or {}))
    return progress.lines(status, expected, history.describe(sources),
                          now or datetime.datetime.now(datetime.timezone.utc), by_host)
