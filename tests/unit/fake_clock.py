# SPDX-License-Identifier: Apache-2.0
"""A fake UTC clock for the core's injectable clocks (``now=``), shared by the unit tests."""

from __future__ import annotations

import datetime

T0 = datetime.datetime(2026, 12, 8, 22, 0, tzinfo=datetime.timezone.utc)


class Clock:
    """``clock()`` is the fake now: ``tick`` seconds after the previous call (0: it stands still);
    ``advance(seconds)`` moves it on."""

    def __init__(self, start=T0, tick=0):
        self.moment = start
        self.tick = datetime.timedelta(seconds=tick)

    def __call__(self):
        self.moment += self.tick
        return self.moment

    def advance(self, seconds):
        self.moment += datetime.timedelta(seconds=seconds)
