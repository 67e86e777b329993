# SPDX-License-Identifier: Apache-2.0
"""Every timestamp Escalator records: ISO-8601 in UTC with a ``Z``, by one formatter (docs/status.md).

Milliseconds by default (events, status, alerts: their order within a second matters); whole seconds where the
source has no more (package install times, who holds a lock since when).
"""

from __future__ import annotations

import datetime


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def format_ts(moment=None, seconds=False):
    """``2026-01-01T10:00:00.123Z`` (``2026-01-01T10:00:00Z`` with *seconds*); *moment* an aware datetime or an
    epoch number, default now."""
    if moment is None:
        moment = utcnow()
    elif isinstance(moment, (int, float)):
        moment = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
    moment = moment.astimezone(datetime.timezone.utc)
    if seconds:
        return moment.strftime('%Y-%m-%dT%H:%M:%SZ')
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (moment.microsecond // 1000)


def parse_ts(text):
    """A timestamp written by ``format_ts`` (or any ISO-8601 one) as an aware datetime, or None."""
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except (TypeError, ValueError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def seconds_between(start, end):
    """Seconds from timestamp *start* to timestamp *end* (never negative), or None when either is missing."""
    first, last = parse_ts(start), parse_ts(end)
    if first is None or last is None:
        return None
    return max(0.0, (last - first).total_seconds())
