# SPDX-License-Identifier: Apache-2.0
"""The gate before each batch: go, wait, or pause the campaign - and say why.

In this order, again after every wait (a wait can take hours: whatever changed meanwhile counts):

1. a pause request (``escalator pause``): pause at once;
2. the maintenance windows: the batch must fit in what is left of the open window (its expected duration,
   ``durations``); otherwise pause ("window closes at 05:00 Europe/Paris; next batch needs ~14 min"), or with
   ``wait_for_window`` sleep until the next opening where it fits (bounded by ``window_max_wait``);
3. Alertmanager: while alerts matching the configured matchers fire, wait (re-asking every ``alert_poll``
   seconds) up to ``alert_wait`` seconds, then pause naming them. An Alertmanager that cannot be asked pauses
   too: the gate cannot tell the cloud is quiet.

Pausing ends the campaign (state store ``finish``: ``incomplete`` - or ``failed`` when a host failed - with
the message ``paused: <reason>`` and ``data.paused``); the hosts of earlier batches are finished by then,
since the gate runs between batches. Every wait and the pause are events of the campaign's log.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, expectations, pause
from ansible_collections.opnfv.escalator.plugins.module_utils.control import windows as wins
from ansible_collections.opnfv.escalator.plugins.module_utils.control.alertmanager import AlertmanagerError

GO = 'go'
PAUSE = 'pause'
WINDOW_POLL = 60.0      # a wait for a window re-checks pause requests this often
ALERT_LIST_LIMIT = 5


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Gate:
    """One gate. ``store``: the campaign's state.CampaignStore; ``alerts``: None, or dict(client, matchers,
    wait, poll) (matchers in the API's form); ``host_phase_seconds``: {host: {phase: seconds}} (each host's own
    expectations, ``expectations.for_hosts``; a batch then takes as long as its slowest host), else
    ``phase_seconds`` for every host; ``now``/``clock``/``sleep`` injectable (tests)."""

    def __init__(self, store, windows=None, wait_for_window=False, window_max_wait=7 * 86400, phase_seconds=None,
                 alerts=None, now=_utcnow, clock=time.monotonic, sleep=time.sleep, check_mode=False,
                 host_phase_seconds=None):
        self.store = store
        self.windows = windows or []
        self.wait_for_window = wait_for_window
        self.window_max_wait = window_max_wait
        self.phase_seconds = phase_seconds
        self.host_phase_seconds = host_phase_seconds
        self.alerts = alerts
        self.now, self.clock, self.sleep = now, clock, sleep
        self.check_mode = check_mode
        self._waits = set()

    def _event(self, action, result, message, data):
        if not self.check_mode:
            self.store.record_event('campaign', None, action, result, message=message, data=data)

    def _wait_once(self, kind, message, data):
        """Record the start of a wait once per kind (a wait re-checks often; the log says it once)."""
        if kind not in self._waits:
            self._waits.add(kind)
            self._event('gate_wait', 'started', message, dict(data, kind=kind))

    def decide(self, batch, hosts):
        """Go or pause before batch ``batch`` (its index) of ``hosts``: dict(action, kind, reason, ...)."""
        if self.host_phase_seconds and hosts:
            expected = expectations.batch_seconds({h: self.host_phase_seconds.get(h) or durations.phase_seconds(
                self.phase_seconds) for h in hosts})
        else:
            expected = durations.batch_seconds(hosts, self.phase_seconds)
        started = self.clock()
        alert_since = None
        base = dict(batch=batch, hosts=list(hosts), expected_batch_s=expected, windows=wins.describe(self.windows))
        while True:
            request = pause.pending(self.store.path)
            if request:
                reason = 'pause requested by %s%s' % (request.get('requested_by') or 'unknown',
                                                      ': %s' % request['reason'] if request.get('reason') else '')
                return self._pause(base, 'request', reason, started, request=request)
            now = self.now()
            window = wins.state_at(self.windows, now)
            fits = window['open'] and (window['closes'] is None
                                       or now + datetime.timedelta(seconds=expected) <= window['closes'])
            if not fits:
                reason = self._window_reason(window, now, expected)
                if not self.wait_for_window or self.check_mode:
                    return self._pause(base, 'window', reason + '; run the same command in the window to resume '
                                       '(or pass --wait-for-window)', started, window=window)
                target = wins.next_fit(self.windows, now, expected)
                if target is None:
                    too_short = 'no maintenance window within a week is long enough for the next batch (%s; ' \
                        'windows: %s)' % (durations.minutes_text(expected), wins.describe(self.windows))
                    return self._pause(base, 'window', too_short, started)
                waited = self.clock() - started
                if waited + (target - now).total_seconds() > self.window_max_wait:
                    return self._pause(base, 'window', '%s; the batch fits from %s, later than '
                                       'escalator_window_max_wait (%ds) allows' % (
                                           reason, wins.local_text(target, self.windows, now),
                                           self.window_max_wait), started)
                self._wait_once('window', 'waiting for the maintenance window: %s; the next batch fits from %s'
                                % (reason, wins.local_text(target, self.windows, now)),
                                dict(base, until=target.isoformat()))
                self.sleep(max(1.0, min(WINDOW_POLL, (target - now).total_seconds())))
                continue
            if self.alerts:
                try:
                    firing = self.alerts['client'].firing(self.alerts['matchers'])
                except AlertmanagerError as exc:
                    return self._pause(base, 'alertmanager', 'cannot ask Alertmanager whether alerts fire (%s)'
                                       % exc.msg, started)
                if firing:
                    names = _alert_names(firing)
                    if alert_since is None:
                        alert_since = self.clock()
                    held = self.clock() - alert_since
                    if held >= self.alerts['wait'] or self.check_mode:
                        return self._pause(base, 'alert', '%d alert(s) firing%s: %s' % (
                            len(firing), ' for %ds' % held if held else '', names), started, alerts=firing)
                    self._wait_once('alert', 'waiting for %d firing alert(s) to resolve (at most %ds): %s'
                                    % (len(firing), self.alerts['wait'], names),
                                    dict(base, alerts=[a['labels'] for a in firing[:ALERT_LIST_LIMIT]]))
                    self.sleep(self.alerts['poll'])
                    continue
            waited = round(self.clock() - started, 1)
            result = dict(base, action=GO, kind=None, reason=None, waited_s=waited,
                          window_closes=window['closes'].isoformat() if window['closes'] else None)
            if self._waits:
                self._event('gate', 'ok', 'batch %s goes after waiting %ds (%s)' % (
                    batch, waited, ', '.join(sorted(self._waits))), dict(base, waited_s=waited))
            return result

    def _window_reason(self, window, now, expected):
        needs = durations.minutes_text(expected)
        if window['open']:
            text = 'window closes at %s; next batch needs %s' % (wins.local_text(window['closes'], self.windows, now),
                                                                 needs)
        else:
            text = 'outside the maintenance windows (%s)' % wins.describe(self.windows)
        upcoming = wins.next_fit(self.windows, now, expected)
        if upcoming is not None and upcoming > now:
            text += '; next window for it opens %s' % wins.local_text(upcoming, self.windows, now)
        return text

    def _pause(self, base, kind, reason, started, request=None, window=None, alerts=None):
        waited = round(self.clock() - started, 1)
        record = dict(kind=kind, reason=reason, batch=base['batch'], expected_batch_s=base['expected_batch_s'],
                      at=self.now().isoformat(), requested_by=(request or {}).get('requested_by'),
                      request_reason=(request or {}).get('reason'), waited_s=waited)
        if alerts:
            record['alerts'] = [a['labels'] for a in alerts[:ALERT_LIST_LIMIT]]
        if not self.check_mode:
            # finish: incomplete (failed if a host failed), with the reason; the close play's own finish then
            # changes nothing (same state, no new message)
            self.store.finish(message='paused: %s' % reason, data=dict(paused=record))
            if request:
                pause.consume(self.store.path)
        return dict(base, action=PAUSE, kind=kind, reason=reason, waited_s=waited, paused=record,
                    window_closes=(window or {}).get('closes').isoformat() if (window or {}).get('closes') else None)


def _alert_names(firing):
    names = []
    for alert in firing[:ALERT_LIST_LIMIT]:
        labels = alert['labels']
        where = labels.get('instance') or labels.get('host') or labels.get('hostname')
        names.append('%s%s' % (alert['name'], ' (%s)' % where if where else ''))
    if len(firing) > ALERT_LIST_LIMIT:
        names.append('%d more' % (len(firing) - ALERT_LIST_LIMIT))
    return ', '.join(names)
