# SPDX-License-Identifier: Apache-2.0
"""Putting a nova-compute host into maintenance and taking it out, idempotently.

"Maintenance" is a disabled nova-compute service whose disabled reason marks it
as Escalator's and names the campaign that owns it::

    escalator:<campaign_id>: <free text>

This file writes that marker (``format_reason``); ``campaign_id.py`` holds the
campaign id rule and reads the marker (``parse_reason``, ``is_ours``), for the
planner too. Escalator only ever re-enables a host that carries its own
campaign's marker, unless told to ``force``.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_id as campaign_ids
from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import MARKER, is_ours, parse_reason
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_API, E_INVALID_INPUT, E_NOT_OURS, E_SERVICE_DOWN, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import error_from_exception

DEFAULT_REASON = 'compute upgrade'
MAX_REASON_LENGTH = 255          # Nova's limit on a service's disabled_reason

MAINTENANCE = 'maintenance'
ACTIVE = 'active'


# -- the "ours" marker --------------------------------------------------------

def validate_campaign_id(campaign_id):
    if not campaign_ids.is_valid(campaign_id):
        raise EscalatorError(
            '%s (it is written into the service\'s disabled reason)' % campaign_ids.problem(campaign_id),
            code=E_INVALID_INPUT, campaign_id=campaign_id)
    return campaign_id


def format_reason(campaign_id, reason=DEFAULT_REASON):
    """The disabled reason that marks a host as in maintenance by ``campaign_id``.

    Raises E_INVALID_INPUT for a bad campaign id or when the whole reason exceeds
    Nova's 255 characters.
    """
    validate_campaign_id(campaign_id)
    reason = ' '.join((reason or '').split())  # one line: Nova shows it in tables
    text = '%s:%s: %s' % (MARKER, campaign_id, reason) if reason else '%s:%s:' % (MARKER, campaign_id)
    if len(text) > MAX_REASON_LENGTH:
        raise EscalatorError(
            'the disabled reason %r is %d characters long; Nova allows %d: shorten reason'
            % (text, len(text), MAX_REASON_LENGTH), code=E_INVALID_INPUT, disabled_reason=text)
    return text


# -- the state change ---------------------------------------------------------

def _snapshot(service):
    return dict(status=service['status'], disabled_reason=service['disabled_reason'])


def _owner_text(disabled_reason):
    campaign = parse_reason(disabled_reason)
    if campaign:
        return 'by Escalator campaign %r' % campaign
    if disabled_reason:
        return 'by someone else (reason: %r)' % disabled_reason
    return 'by someone else (no reason given)'


def decide(service, state, campaign_id, new_reason, force):
    """What to do with a service dict: ``(action, forced, warning)``.

    ``action`` is ``None`` (nothing to do), ``'disable'`` or ``'enable'``. Raises
    E_NOT_OURS when the host is disabled by someone else and ``force`` is off.
    """
    status, reason = service['status'], service['disabled_reason']
    ours = status == 'disabled' and is_ours(reason, campaign_id)
    if status != 'disabled':
        return ('disable', False, None) if state == MAINTENANCE else (None, False, None)
    if ours:
        return (None, False, None) if state == MAINTENANCE else ('enable', False, None)
    owner = _owner_text(reason)
    if not force:
        if state == MAINTENANCE:
            todo = 'leave it to its owner, or set force=true to take the maintenance over'
        else:
            todo = 'Escalator only re-enables hosts it disabled itself; ask its owner, or set force=true'
        raise EscalatorError(
            'host %s is disabled %s, not by campaign %r: %s' % (service['host'], owner, campaign_id, todo),
            code=E_NOT_OURS, host=service['host'], disabled_reason=reason, owner_campaign=parse_reason(reason),
            service=service)
    if state == MAINTENANCE:
        warning = ('FORCED: host %s was disabled %s; campaign %r takes the maintenance over and replaces the '
                   'reason with %r' % (service['host'], owner, campaign_id, new_reason))
    else:
        warning = ('FORCED: host %s was disabled %s; enabling it anyway for campaign %r'
                   % (service['host'], owner, campaign_id))
    return ('disable' if state == MAINTENANCE else 'enable', True, warning)


def _apply(conn, service, action, reason, host):
    """Disable or enable the service; returns the service as Nova has it afterwards.

    The service is passed by id, never as the Service object read before: openstacksdk only sends
    the attributes that differ from that object's, so re-disabling an already disabled service
    (a forced takeover, an undo) would send no ``status`` and Nova answers 400.
    """
    try:
        if action == 'disable':
            updated = conn.compute.disable_service(service.id, host=host, binary=host_info.COMPUTE_BINARY,
                                                   disabled_reason=reason)
        else:
            updated = conn.compute.enable_service(service.id, host=host, binary=host_info.COMPUTE_BINARY)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='%s nova-compute on %s' % (
            'disabling' if action == 'disable' else 'enabling', host)) from exc
    # Below microversion 2.53 the SDK returns nothing: read the service back.
    return updated if updated is not None and updated.status else host_info.find_compute_service(conn, host)


def _verify(after, action, reason, host):
    expected = ('disabled', reason) if action == 'disable' else ('enabled', None)
    got = (after['status'], after['disabled_reason'] if action == 'disable' else None)
    if got != expected:
        raise EscalatorError(
            'Nova accepted %s nova-compute on %s but reports status %r with reason %r afterwards; '
            'another actor may be changing this service' % (
                'disabling' if action == 'disable' else 'enabling', host, after['status'],
                after['disabled_reason']), code=E_API, host=host, service=after)


def _undo(conn, service, previous, host):
    """Put the service back as it was before this call; returns an error message or None."""
    try:
        if previous['status'] == 'disabled':
            conn.compute.disable_service(service.id, host=host, binary=host_info.COMPUTE_BINARY,
                                         disabled_reason=previous['disabled_reason'])
        else:
            conn.compute.enable_service(service.id, host=host, binary=host_info.COMPUTE_BINARY)
    except Exception as exc:  # pylint: disable=broad-except
        try:
            return error_from_exception(exc, during='undoing the change').msg
        except Exception:  # pylint: disable=broad-except
            return str(exc)
    return None


def _refuse_down(host, before, action):
    """E_SERVICE_DOWN when nova-compute on ``host`` is down or forced down: Nova can move nothing off it."""
    if before['state'] != 'up' or before['forced_down']:
        raise EscalatorError(
            'nova-compute on %s is %s%s (last heartbeat %s): Nova cannot move instances off it or back onto '
            'it; bring the service up, or set allow_down=true to %s anyway' % (
                host, before['state'], ', forced down' if before['forced_down'] else '', before['updated_at'],
                'change its status' if action else 'accept it'),
            code=E_SERVICE_DOWN, host=host, service=before)


def _put_back(conn, service, previous, host, exc):
    """After a failure that followed our change: the service as it was, and ``exc`` saying whether it is."""
    undo_error = _undo(conn, service, previous, host)
    exc.details['rolled_back'] = undo_error is None
    if undo_error:
        exc.msg = '%s; and putting %s back as it was (%s) FAILED too: %s' % (exc.msg, host, previous, undo_error)
    else:
        exc.msg = '%s; %s was put back as it was (%s)' % (exc.msg, host, previous['status'])
    exc.args = (exc.msg,)


def set_maintenance(conn, host, campaign_id, state=MAINTENANCE, reason=DEFAULT_REASON, force=False,
                    allow_down=False, list_instances=True, check_mode=False, warn=None):
    """Put ``host`` into maintenance for ``campaign_id`` (state ``maintenance``) or take it out
    (state ``active``).

    Returns a dict: changed, host, campaign_id, state, disabled_reason (the marker
    this campaign uses), service (after), previous (status / disabled_reason before),
    ours (the host is in maintenance by this campaign afterwards), forced, action
    (``disable``, ``enable`` or ``None``), instances (when ``list_instances``),
    diff (before / after).

    Failures (EscalatorError): E_INVALID_INPUT, E_HOST_NOT_FOUND, E_HOST_AMBIGUOUS,
    E_NOT_OURS, E_SERVICE_DOWN, E_FORBIDDEN / E_API from Nova. A failure after this
    call changed the service puts the service back as it was (``rolled_back``).
    """
    if state not in (MAINTENANCE, ACTIVE):
        raise EscalatorError('state must be %r or %r, not %r' % (MAINTENANCE, ACTIVE, state), code=E_INVALID_INPUT)
    new_reason = format_reason(campaign_id, reason)
    service = host_info.find_compute_service(conn, host)
    before = host_info.service_dict(service)
    previous = _snapshot(before)

    action, forced, warning = decide(before, state, campaign_id, new_reason, force)
    if not allow_down:
        _refuse_down(host, before, action)
    if warning and warn:
        warn(warning)

    after = dict(before)
    if action == 'disable':
        after.update(status='disabled', disabled_reason=new_reason)
    elif action == 'enable':
        after.update(status='enabled', disabled_reason=None)

    result = dict(
        changed=action is not None, host=host, campaign_id=campaign_id, state=state,
        disabled_reason=new_reason, action=action, previous=previous, forced=forced,
        diff=dict(before=previous, after=_snapshot(after)),
    )

    if action and not check_mode:
        updated = _apply(conn, service, action, new_reason, host)
        after = host_info.service_dict(updated)
    try:
        if action and not check_mode:
            _verify(after, action, new_reason, host)
        if list_instances:
            result['instances'] = host_info.list_instances(conn, host)
    except EscalatorError as exc:
        if action and not check_mode:
            _put_back(conn, service, previous, host, exc)
        raise

    result['service'] = after
    result['ours'] = after['status'] == 'disabled' and is_ours(after['disabled_reason'], campaign_id)
    return result
