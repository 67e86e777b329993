# SPDX-License-Identifier: Apache-2.0
"""Maintenance windows: when a campaign may start a batch.

A window is ``{days, start, end, timezone}``: it opens at ``start`` (wall-clock time in ``timezone``) on each
of ``days`` and closes at ``end`` - the same day, or the next one when ``end`` is not after ``start`` (a night
window 22:00-05:00 crosses midnight; start == end is a whole day).  ``days`` are the days a window *opens*:
``[mon, tue]``, ``mon-fri``, ``"sat,sun"`` or ``daily``.  Several windows may be given: the campaign may work
while any of them is open (overlapping or touching windows count as one).  No window at all: always open.

Wall-clock times are turned into instants with zoneinfo, so a window keeps its local hours across a daylight
saving change (the night of the change is an hour shorter or longer).
"""

from __future__ import annotations

import datetime
import re

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 (the controller needs 3.9+ for windows)
    zoneinfo = None

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_DAY_NAMES = {name: index for index, name in enumerate(DAYS)}
_DAY_NAMES.update({full: index for index, full in enumerate(
    ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'))})
_TIME = re.compile(r'^([01]?[0-9]|2[0-3]):([0-5][0-9])$')
_KEYS = ('days', 'start', 'end', 'timezone')
# how far ahead the next opening is looked for: every window opens at least once a week
_HORIZON_DAYS = 8


class WindowError(EscalatorError):
    def __init__(self, msg, **details):
        super().__init__(msg, code=E_INVALID_INPUT, **details)


def _parse_days(value, where):
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ('daily', 'every day', '*'):
            return frozenset(range(7))
        items = [part.strip() for part in text.split(',') if part.strip()]
    elif isinstance(value, (list, tuple)):
        items = [str(part).strip().lower() for part in value]
    else:
        raise WindowError('%s: days must be a list such as [mon, tue] or a text such as "mon-fri", got %r'
                          % (where, value))
    if not items:
        raise WindowError('%s: days is empty: name the days the window opens (mon..sun, mon-fri, daily)' % where)
    days = set()
    for item in items:
        if '-' in item:
            first, _sep, last = item.partition('-')
            if first.strip() not in _DAY_NAMES or last.strip() not in _DAY_NAMES:
                raise WindowError('%s: unknown day range %r: use names of %s, e.g. mon-fri'
                                  % (where, item, ', '.join(DAYS)))
            low, high = _DAY_NAMES[first.strip()], _DAY_NAMES[last.strip()]
            span = range(low, high + 1) if low <= high else list(range(low, 7)) + list(range(0, high + 1))
            days.update(span)
        elif item in ('daily', '*'):
            days.update(range(7))
        elif item in _DAY_NAMES:
            days.add(_DAY_NAMES[item])
        else:
            raise WindowError('%s: unknown day %r: use %s (or their full names), a range such as mon-fri, or daily'
                              % (where, item, ', '.join(DAYS)))
    return frozenset(days)


def _parse_time(value, key, where):
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    match = _TIME.match(text or '')
    if not match:
        raise WindowError('%s: %s %r is not a time of day: use HH:MM in 24-hour form, e.g. "22:00" '
                          '(quote it in YAML: an unquoted 22:00 is read as a number)' % (where, key, value))
    return datetime.time(int(match.group(1)), int(match.group(2)))


def _parse_zone(value, where):
    if zoneinfo is None:
        raise WindowError('%s: maintenance windows need Python 3.9 or later on the controller (zoneinfo)' % where)
    if not isinstance(value, str) or not value.strip():
        raise WindowError('%s: timezone is required: an IANA name such as Europe/Paris or UTC' % where)
    try:
        return zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise WindowError('%s: unknown time zone %r: use an IANA name such as Europe/Paris, America/New_York or UTC'
                          % (where, value)) from None


class Window:
    """One parsed window."""

    def __init__(self, days, start, end, zone, text):
        self.days, self.start, self.end, self.zone, self.text = days, start, end, zone, text

    def intervals(self, around, horizon_days=_HORIZON_DAYS):
        """The (opens, closes) instants (aware UTC) of the openings from the day before ``around`` (an aware
        datetime) to ``horizon_days`` after it."""
        local = around.astimezone(self.zone).date()
        found = []
        for offset in range(-1, horizon_days + 1):
            day = local + datetime.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            end_day = day if self.end > self.start else day + datetime.timedelta(days=1)
            opens = _instant(day, self.start, self.zone)
            closes = _instant(end_day, self.end, self.zone)
            if closes > opens:
                found.append((opens, closes))
        return found


def _instant(day, time_of_day, zone):
    """The UTC instant of a wall-clock time; a time skipped by a daylight saving change counts from the change."""
    local = datetime.datetime.combine(day, time_of_day, tzinfo=zone)
    utc = local.astimezone(datetime.timezone.utc)
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        # in the gap (e.g. 02:30 on a spring-forward night): that wall-clock time does not exist
        utc = datetime.datetime.combine(day, time_of_day, tzinfo=zone).replace(fold=1).astimezone(
            datetime.timezone.utc)
    return utc


def parse_windows(windows):
    """The windows of ``escalator_windows`` (a list of dicts; None or [] for none), checked: every problem
    raises WindowError (E_INVALID_INPUT) naming the window and what to write instead."""
    if windows in (None, '', []):
        return []
    if isinstance(windows, dict):
        windows = [windows]
    if not isinstance(windows, list):
        raise WindowError('escalator_windows must be a list of windows ({days, start, end, timezone}), got %s'
                          % type(windows).__name__)
    parsed = []
    for position, raw in enumerate(windows, 1):
        where = 'escalator_windows[%d]' % position
        if not isinstance(raw, dict):
            raise WindowError('%s must be a dictionary with days, start, end and timezone, got %r' % (where, raw))
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise WindowError('%s: unknown key(s) %s: a window has %s' % (where, ', '.join(unknown), ', '.join(_KEYS)))
        missing = [key for key in ('days', 'start', 'end') if raw.get(key) in (None, '')]
        if missing:
            raise WindowError('%s lacks %s: e.g. {days: mon-fri, start: "22:00", end: "05:00", timezone: UTC}'
                              % (where, ', '.join(missing)))
        days = _parse_days(raw['days'], where)
        start = _parse_time(raw['start'], 'start', where)
        end = _parse_time(raw['end'], 'end', where)
        zone = _parse_zone(raw.get('timezone', 'UTC'), where)
        text = '%s %s-%s %s' % (','.join(DAYS[d] for d in sorted(days)) if len(days) < 7 else 'daily',
                                start.strftime('%H:%M'), end.strftime('%H:%M'), raw.get('timezone', 'UTC'))
        parsed.append(Window(days, start, end, zone, text))
    return parsed


def _merged(windows, now):
    intervals = sorted(interval for window in windows for interval in window.intervals(now))
    merged = []
    for opens, closes in intervals:
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return merged


def state_at(windows, now):
    """Where ``now`` (an aware datetime) stands: dict(open, closes, next_opens).

    ``open``: a window is open (always true without windows); ``closes``: when the open window (merged with
    those it overlaps or touches) closes, None without windows; ``next_opens``: when the next window opens
    (after ``closes`` when one is open), None when none opens within a week.
    """
    if not windows:
        return dict(open=True, closes=None, next_opens=None)
    merged = _merged(windows, now)
    for opens, closes in merged:
        if opens <= now < closes:
            later = [o for o, _c in merged if o >= closes]
            return dict(open=True, closes=closes, next_opens=later[0] if later else None)
    later = [o for o, _c in merged if o > now]
    return dict(open=False, closes=None, next_opens=later[0] if later else None)


def local_text(moment, windows, now=None):
    """A moment as the operator reads it: HH:MM in the first window's time zone, with the day when it is not
    the day of ``now``: ``05:00 Europe/Paris`` or ``Mon 2026-12-07 22:00 UTC``."""
    if moment is None:
        return '-'
    zone = windows[0].zone if windows else datetime.timezone.utc
    local = moment.astimezone(zone)
    name = getattr(zone, 'key', None) or 'UTC'
    if now is not None and now.astimezone(zone).date() != local.date():
        return '%s %s' % (local.strftime('%a %Y-%m-%d %H:%M'), name)
    return '%s %s' % (local.strftime('%H:%M'), name)


def describe(windows):
    return '; '.join(window.text for window in windows) if windows else 'none (always open)'


def next_fit(windows, now, needed_s):
    """The earliest instant from ``now`` at which a batch of ``needed_s`` seconds fits in an open window (now
    itself when it fits already); None when no window within a week is long enough."""
    if not windows:
        return now
    needed = datetime.timedelta(seconds=needed_s)
    for opens, closes in _merged(windows, now):
        start = max(opens, now)
        if start + needed <= closes:
            return start
    return None
