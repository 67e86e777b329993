# SPDX-License-Identifier: Apache-2.0
"""The event log (events.jsonl): one event's fields, its line, and reading the file back (docs/status.md)."""

from __future__ import annotations

import json

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    OBJECT_TYPES, RESULTS, StateError, truncate)
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts, utcnow


def make_event(campaign_id, run_id, object_type, object_id, action, result, error_code=None, message=None,
               data=None, now=None):
    """One event, with the fields (and key order) of events.jsonl."""
    if object_type not in OBJECT_TYPES:
        raise StateError('object_type %r is not one of %s' % (object_type, ', '.join(OBJECT_TYPES)),
                         code=E_INVALID_INPUT)
    if result not in RESULTS:
        raise StateError('result %r is not one of %s' % (result, ', '.join(RESULTS)), code=E_INVALID_INPUT)
    if not action or not isinstance(action, str):
        raise StateError('an event needs an action (a short name such as "evacuate")', code=E_INVALID_INPUT)
    return {
        'ts': format_ts(now or utcnow()),
        'campaign': campaign_id,
        'run': run_id,
        'object_type': object_type,
        'object_id': None if object_id is None else str(object_id),
        'action': action,
        'result': result,
        'error_code': error_code or None,
        'message': truncate(message),
        'data': dict(data or {}),
    }


def encode_event(event):
    """The events.jsonl line for an event (compact JSON, no newline inside, '\\n' at the end)."""
    return json.dumps(event, separators=(',', ':'), ensure_ascii=False, default=str) + '\n'


def iter_events(path, offset=0):
    """Yield ``(event, end_offset)`` for each whole line of an events file from ``offset``.

    A line that is not JSON (torn by a crash) is skipped; a last line without its
    newline is not returned yet (it may still be being written).  Pass the last
    ``end_offset`` back to follow the file.
    """
    try:
        handle = open(path, 'rb')
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        position = offset
        for raw in handle:
            if not raw.endswith(b'\n'):
                break
            position += len(raw)
            try:
                event = json.loads(raw.decode('utf-8'))
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event, position


def read_events(path, offset=0, object_id=None, limit=None):
    """The events of a file (optionally of one object, optionally only the last ``limit``)."""
    events = [event for event, _end in iter_events(path, offset)
              if object_id is None or event.get('object_id') == object_id]
    return events[-limit:] if limit else events
