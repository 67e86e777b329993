# SPDX-License-Identifier: Apache-2.0
"""Maintenance windows and the gate before a batch, on an injected clock (no real waiting)."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, pause
from ansible_collections.opnfv.escalator.plugins.module_utils.control import windows as wins
from ansible_collections.opnfv.escalator.plugins.module_utils.control.alertmanager import AlertmanagerError
from ansible_collections.opnfv.escalator.plugins.module_utils.control.gate import Gate
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore

UTC = datetime.timezone.utc
PARIS = [{'days': 'mon-fri', 'start': '22:00', 'end': '05:00', 'timezone': 'Europe/Paris'}]


def at(text):
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


# -- parsing ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('window, words', [
    ({'days': ['mon', 'funday'], 'start': '22:00', 'end': '05:00'}, "unknown day 'funday'"),
    ({'days': 'mon-xyz', 'start': '22:00', 'end': '05:00'}, 'unknown day range'),
    ({'days': 'daily', 'start': '24:00', 'end': '05:00'}, "start '24:00' is not a time of day"),
    ({'days': 'daily', 'start': 1320, 'end': '05:00'}, 'quote it in YAML'),
    ({'days': 'daily', 'start': '22:00', 'end': '5pm'}, "end '5pm'"),
    ({'days': 'daily', 'start': '22:00', 'end': '05:00', 'timezone': 'Mars/Olympus'}, "unknown time zone 'Mars/Olympus'"),
    ({'days': [], 'start': '22:00', 'end': '05:00'}, 'days is empty'),
    ({'days': 'daily', 'start': '22:00'}, 'lacks end'),
    ({'days': 'daily', 'start': '22:00', 'end': '05:00', 'tz': 'UTC'}, "unknown key(s) tz"),
    ('daily 22-05', 'must be a dictionary'),
])
def test_bad_windows_are_refused_with_what_to_write(window, words):
    with pytest.raises(wins.WindowError) as caught:
        wins.parse_windows([window])
    assert caught.value.code == 'E_INVALID_INPUT'
    assert words in caught.value.msg
    assert 'escalator_windows[1]' in caught.value.msg


def test_day_forms():
    assert wins.parse_windows([{'days': 'sat,sun', 'start': '00:00', 'end': '00:00'}])[0].days == {5, 6}
    assert wins.parse_windows([{'days': ['Friday', 'mon'], 'start': '1:00', 'end': '2:00'}])[0].days == {0, 4}
    assert wins.parse_windows([{'days': 'fri-mon', 'start': '1:00', 'end': '2:00'}])[0].days == {4, 5, 6, 0}
    assert wins.parse_windows(None) == [] and wins.parse_windows([]) == []


# -- state at a moment -----------------------------------------------------------------------------------------

def test_night_window_crosses_midnight():
    windows = wins.parse_windows(PARIS)
    # Tuesday 2026-12-08 03:00 Paris: inside Monday's window, which closes at 05:00
    state = wins.state_at(windows, at('2026-12-08T03:00:00+01:00'))
    assert state['open'] and state['closes'] == at('2026-12-08T05:00:00+01:00')
    assert state['next_opens'] == at('2026-12-08T22:00:00+01:00')
    # Saturday 03:00: Friday's window still open; Saturday 23:00: closed (weekend), next opens Monday 22:00
    assert wins.state_at(windows, at('2026-12-12T03:00:00+01:00'))['open']
    closed = wins.state_at(windows, at('2026-12-12T23:00:00+01:00'))
    assert not closed['open'] and closed['next_opens'] == at('2026-12-14T22:00:00+01:00')


def test_overlapping_windows_merge_and_no_window_is_always_open():
    windows = wins.parse_windows([{'days': 'daily', 'start': '20:00', 'end': '23:00', 'timezone': 'UTC'},
                                  {'days': 'daily', 'start': '23:00', 'end': '02:00', 'timezone': 'UTC'}])
    assert wins.state_at(windows, at('2026-12-08T21:00:00+00:00'))['closes'] == at('2026-12-09T02:00:00+00:00')
    assert wins.state_at([], at('2026-12-08T21:00:00+00:00')) == dict(open=True, closes=None, next_opens=None)


def test_daylight_saving_night_keeps_local_hours():
    windows = wins.parse_windows([{'days': 'daily', 'start': '01:00', 'end': '04:00', 'timezone': 'Europe/Paris'}])
    # 2026-03-29: clocks go 02:00 -> 03:00 in Paris, the window lasts 2 h of real time
    state = wins.state_at(windows, at('2026-03-29T00:30:00+00:00'))
    assert state['open'] and state['closes'] == at('2026-03-29T04:00:00+02:00')


def test_next_fit_needs_a_long_enough_window():
    windows = wins.parse_windows([{'days': 'daily', 'start': '22:00', 'end': '22:10', 'timezone': 'UTC'}])
    assert wins.next_fit(windows, at('2026-12-08T12:00:00+00:00'), 300) == at('2026-12-08T22:00:00+00:00')
    assert wins.next_fit(windows, at('2026-12-08T12:00:00+00:00'), 3600) is None


# -- the gate --------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, start):
        self.moment = start
        self.slept = []

    def now(self):
        return self.moment

    def monotonic(self):
        return self.moment.timestamp()

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.moment += datetime.timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path):
    campaign = CampaignStore('c1', str(tmp_path))
    campaign.start(run_id='run-1', plan={'batches': [['h1'], ['h2', 'h3']]})
    return campaign


def gate(store, clock, **kwargs):
    return Gate(store, now=clock.now, clock=clock.monotonic, sleep=clock.sleep, **kwargs)


def finish_event(store):
    return [e for e in store.read_events() if e['action'] == 'finish'][-1]


def test_batch_that_does_not_fit_pauses_with_the_reason(store):
    clock = Clock(at('2026-12-08T04:50:00+01:00'))       # 10 min left, a batch needs ~20 min
    result = gate(store, clock, windows=wins.parse_windows(PARIS)).decide(2, ['h2', 'h3'])
    assert result['action'] == 'pause' and result['kind'] == 'window'
    assert result['reason'].startswith('window closes at 05:00 Europe/Paris; next batch needs ~20 min; next window '
                                       'for it opens 22:00 Europe/Paris')
    status = store.read_status()
    assert status['campaign']['state'] == 'incomplete'
    assert status['campaign']['message'].startswith('paused: window closes at 05:00')
    assert finish_event(store)['data']['paused']['kind'] == 'window'
    assert pause.paused_info(store.read_events())['batch'] == 2
    assert clock.slept == []


def test_batch_that_fits_goes(store):
    clock = Clock(at('2026-12-08T04:00:00+01:00'))
    result = gate(store, clock, windows=wins.parse_windows(PARIS)).decide(2, ['h2'])
    assert result['action'] == 'go' and result['window_closes'].startswith('2026-12-08T04:00:00')
    assert store.read_status()['campaign']['state'] == 'running'


def test_wait_for_window_sleeps_until_the_next_opening(store):
    clock = Clock(at('2026-12-08T04:50:00+01:00'))
    result = gate(store, clock, windows=wins.parse_windows(PARIS), wait_for_window=True).decide(2, ['h2'])
    assert result['action'] == 'go'
    assert clock.moment == at('2026-12-08T22:00:00+01:00')
    assert sum(clock.slept) == pytest.approx(17 * 3600 + 10 * 60)
    assert all(step <= 60 for step in clock.slept)      # pause requests are re-checked every minute
    actions = [e['action'] for e in store.read_events()]
    assert actions.count('gate_wait') == 1 and 'gate' in actions


def test_wait_for_window_is_bounded(store):
    clock = Clock(at('2026-12-08T04:50:00+01:00'))
    result = gate(store, clock, windows=wins.parse_windows(PARIS), wait_for_window=True,
                  window_max_wait=3600).decide(2, ['h2'])
    assert result['action'] == 'pause' and 'escalator_window_max_wait (3600s)' in result['reason']


def test_pause_request_during_a_wait_pauses_and_is_consumed(store):
    clock = Clock(at('2026-12-08T04:50:00+01:00'))
    original = clock.sleep

    def sleep(seconds):
        original(seconds)
        if len(clock.slept) == 3:
            pause.request(store, reason='NOC: incident 4711', requested_by='alice@noc')
    clock.sleep = sleep
    result = gate(store, clock, windows=wins.parse_windows(PARIS), wait_for_window=True).decide(2, ['h2'])
    assert result['action'] == 'pause' and result['kind'] == 'request'
    assert result['reason'] == 'pause requested by alice@noc: NOC: incident 4711'
    assert not os.path.exists(pause.request_path(store.path))
    assert finish_event(store)['data']['paused']['requested_by'] == 'alice@noc'


def test_pause_request_refused_when_not_running(store):
    store.finish()
    with pytest.raises(Exception) as caught:
        pause.request(store, reason='x')
    assert 'not running' in str(caught.value)


def test_a_resumed_campaign_is_not_paused_any_more(store):
    clock = Clock(at('2026-12-08T04:50:00+01:00'))
    gate(store, clock, windows=wins.parse_windows(PARIS)).decide(2, ['h2'])
    assert pause.paused_info(store.read_events())
    store.start(run_id='run-2')
    assert pause.paused_info(store.read_events()) is None


class Alerts:
    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = 0

    def firing(self, matchers):
        self.asked += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


FIRING = [dict(name='NodeDown', labels={'alertname': 'NodeDown', 'instance': 'compute9:9100'}, startsAt=None,
               fingerprint='f')]


def test_firing_alert_holds_the_batch_until_resolved(store):
    clock = Clock(at('2026-12-08T12:00:00+00:00'))
    alerts = Alerts([FIRING, FIRING, FIRING, []])
    result = gate(store, clock, alerts=dict(client=alerts, matchers=[], wait=600, poll=30)).decide(2, ['h2'])
    assert result['action'] == 'go' and result['waited_s'] == 90
    waits = [e for e in store.read_events() if e['action'] == 'gate_wait']
    assert len(waits) == 1 and 'NodeDown (compute9:9100)' in waits[0]['message']


def test_alert_firing_past_the_wait_pauses(store):
    clock = Clock(at('2026-12-08T12:00:00+00:00'))
    result = gate(store, clock, alerts=dict(client=Alerts([FIRING]), matchers=[], wait=120, poll=30)).decide(2, ['h2'])
    assert result['action'] == 'pause' and result['kind'] == 'alert'
    assert result['reason'] == '1 alert(s) firing for 120s: NodeDown (compute9:9100)'


def test_alertmanager_that_cannot_be_asked_pauses(store):
    clock = Clock(at('2026-12-08T12:00:00+00:00'))
    down = Alerts([AlertmanagerError('Alertmanager http://127.0.0.1:1: cannot connect')])
    result = gate(store, clock, alerts=dict(client=down, matchers=[], wait=120, poll=30)).decide(2, ['h2'])
    assert result['kind'] == 'alertmanager' and 'cannot connect' in result['reason']


def test_expected_durations_and_overrides():
    assert durations.host_seconds() == sum(durations.DEFAULT_PHASE_SECONDS.values())
    assert durations.batch_seconds(['a', 'b'], {'upgrade': 0}) == durations.host_seconds() - 600
    with pytest.raises(Exception, match='unknown phase'):
        durations.phase_seconds({'reboot': 1})
    with pytest.raises(Exception, match='>= 0'):
        durations.phase_seconds({'upgrade': -1})
    assert durations.minutes_text(14 * 60) == '~14 min' and durations.minutes_text(7500) == '~2 h 05 min'


def test_check_mode_records_nothing(store):
    clock = Clock(at('2026-12-08T04:50:00+01:00'))
    before = len(store.read_events())
    result = gate(store, clock, windows=wins.parse_windows(PARIS), wait_for_window=True,
                  check_mode=True).decide(2, ['h2'])
    assert result['action'] == 'pause' and len(store.read_events()) == before
    assert json.load(open(store.status_path))['campaign']['state'] == 'running'
