# SPDX-License-Identifier: Apache-2.0
"""What the engine reads from Nova: servers, their migration records and what those records' statuses
mean, the reason of a failed move, and the SDK error helpers it decides by."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.connection import status_code
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception, sdk_call

# Nova's migration record statuses, as the engine reads them.
LIVE_DONE = ('completed',)
COLD_READY = ('finished',)
COLD_DONE = ('confirmed',)
FAILED_STATES = ('error', 'failed')
CANCELLED_STATES = ('cancelled',)
IN_PROGRESS = ('accepted', 'queued', 'preparing', 'running', 'post-migrating', 'pre-migrating', 'migrating',
               'confirming')


def error_message(exc):
    """What Nova said, without the SDK's wrapping."""
    for attr in ('details', 'message'):
        value = getattr(exc, attr, None)
        if value:
            return str(value)
    return str(exc)


def is_no_valid_host(text):
    """Whether Nova's answer is the scheduler's "No valid host" (worth asking again later)."""
    return 'no valid host' in (text or '').lower()


def get_server(conn, server_id):
    """The server, or None when it was deleted."""
    try:
        return conn.compute.get_server(server_id)
    except Exception as exc:  # pylint: disable=broad-except
        if status_code(exc) == 404:
            return None
        raise error_from_exception(exc, during='reading server %s' % server_id) from exc


def list_migrations(conn, server_id):
    return sdk_call('listing the migrations of server %s' % server_id,
                    lambda: list(conn.compute.migrations(server_id=server_id)))


def newest_migration(migrations, known_ids, source=None):
    """The newest record not among ``known_ids`` (those that existed before our request), or None."""
    fresh = [migration for migration in migrations if migration.id not in known_ids
             and (source is None or migration.source_compute == source)]
    return max(fresh, key=lambda migration: int(migration.id)) if fresh else None


def fault_suffix(server):
    """``": <the server's fault message>"``, or nothing."""
    fault = getattr(server, 'fault', None) or {}
    if isinstance(fault, dict) and fault.get('message'):
        return ': %s' % fault['message']
    return ''


def failure_reason(conn, server_id, action_names=('migrate', 'live-migration')):
    """Nova's reason for the server's last failed move, from its instance actions (admins see the
    tracebacks), or None. Asynchronous failures (a cold migration's "No valid host") only show there."""
    try:
        actions = list(conn.compute.server_actions(server_id))
    except Exception:  # pylint: disable=broad-except
        return None
    actions = [action for action in actions if action.action in action_names]
    if not actions:
        return None
    latest = max(actions, key=lambda action: str(action.start_time or ''))
    try:
        detail = conn.compute.get_server_action(latest.request_id, server_id)
    except Exception:  # pylint: disable=broad-except
        return latest.message
    for event in detail.events or []:
        if (event.get('result') or '').lower() == 'error':
            text = event.get('details') or event.get('traceback') or ''
            lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
            if lines:
                return lines[-1]
    return latest.message
