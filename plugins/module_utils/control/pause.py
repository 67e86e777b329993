# SPDX-License-Identifier: Apache-2.0
"""Pause requests, and how a paused campaign is recognised.

``escalator pause -c ID`` (or ``request()`` from a pipeline, or the pause_campaign playbook from an AWX job)
writes ``pause-request.json`` into the campaign's state directory.  The gate before the next batch sees it,
consumes it and ends the campaign ``incomplete`` with the message ``paused: ...`` and a ``finish`` event whose
``data.paused`` says why, who asked and when (docs/campaign-control.md).  The hosts of the batch in flight
are finished first: the gate runs between batches only.  Running the same command again resumes the campaign.

A paused campaign is, in the state store's terms, an incomplete one whose last ``finish`` event carries
``data.paused`` and no run started after it (``paused_info``).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, E_STATE, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.state.files import write_file_atomic

REQUEST_FILE = 'pause-request.json'
REASON_LIMIT = 500


def request_path(campaign_dir):
    return os.path.join(campaign_dir, REQUEST_FILE)


def default_requester():
    """``user@host`` of the caller (who asked for the pause)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = 'uid%d' % os.getuid()
    return '%s@%s' % (user, socket.gethostname())


def _write_atomic(path, document):
    """``document`` as JSON at ``path``, atomically, readable by its owner only."""
    write_file_atomic(path, json.dumps(document, indent=2) + '\n', mode=0o600)


def request(store, reason=None, requested_by=None, now_text=None):
    """Ask the running campaign of ``store`` (a state.CampaignStore) to pause before its next batch.

    Refused (E_STATE) when the campaign was never started or is not running: there is no next batch to hold.
    A second request replaces the first (the last reason wins). Returns the request written.
    """
    status = store.read_status()
    if status is None:
        raise EscalatorError('campaign %s has not been started (no %s): nothing to pause'
                             % (store.campaign_id, store.status_path), code=E_STATE)
    state = status['campaign']['state']
    if state != 'running':
        raise EscalatorError('campaign %s is %s, not running: nothing to pause (a new run resumes it; pause it '
                             'once it runs)' % (store.campaign_id, state), code=E_STATE, state=state)
    if reason is not None and not isinstance(reason, str):
        raise EscalatorError('the pause reason must be a text', code=E_INVALID_INPUT)
    reason = (reason or '').strip()[:REASON_LIMIT] or None
    document = dict(reason=reason, requested_by=(requested_by or default_requester())[:200],
                    requested_at=now_text, run=status['campaign']['run'])
    with store.locked():
        _write_atomic(request_path(store.path), document)
    message = 'pause requested by %s%s' % (document['requested_by'], ': %s' % reason if reason else '')
    store.record_event('campaign', None, 'pause_request', 'ok', message=message,
                       data=dict(requested_by=document['requested_by'], reason=reason))
    return document


def pending(campaign_dir):
    """The pause request waiting in ``campaign_dir``, or None. A request that cannot be read still pauses (the
    safe reading of "someone asked for something")."""
    try:
        with open(request_path(campaign_dir), 'r', encoding='utf-8') as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return dict(reason='unreadable pause request (%s)' % exc, requested_by='unknown', requested_at=None, run=None)
    if not isinstance(document, dict):
        return dict(reason='unreadable pause request', requested_by='unknown', requested_at=None, run=None)
    return document


def consume(campaign_dir):
    """Remove the pause request (the gate acted on it)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(request_path(campaign_dir))


def paused_info(events):
    """``data.paused`` of the campaign's last ``finish`` event when the campaign is paused (no run started
    after it), else None. ``events``: the campaign's events, oldest first."""
    for event in reversed(events):
        if event.get('object_type') != 'campaign':
            continue
        if event.get('action') in ('start', 'resume'):
            return None
        if event.get('action') == 'finish':
            paused = (event.get('data') or {}).get('paused')
            return paused if isinstance(paused, dict) else None
    return None
