# SPDX-License-Identifier: Apache-2.0
"""Expected durations from earlier campaigns' events, elapsed vs expected, the ETA, and hang alerts."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.control import history, progress
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore
from ansible_collections.opnfv.escalator.tests.unit.fake_clock import Clock

UTC = datetime.timezone.utc


def upgrade_host(store, clock, host, seconds, end='done'):
    """Walk a host through the phases the callback and the playbook record, ``seconds[phase]`` each."""
    for phase in history.PHASES:
        state = {'maintenance': 'draining', 'notify': 'draining', 'evacuate': 'draining', 'backup': 'upgrading',
                 'upgrade': 'upgrading', 'verify': 'verifying'}[phase]
        store.update_host(host, state=state, phase=phase)
        clock.advance(seconds[phase])
    if end == 'done':
        store.update_host(host, state='done', phase='notify_complete', result='ok')
    else:
        store.update_host(host, state='failed', error_code='E_TASK')


SECONDS = dict(maintenance=2, notify=3, evacuate=20, backup=10, upgrade=15, verify=9)


@pytest.fixture
def earlier(tmp_path):
    clock = Clock()
    store = CampaignStore('earlier', str(tmp_path), now=clock)
    store.start(run_id='run-1', plan={'batches': [['h1'], ['h2'], ['h3'], ['h4']]})
    for host in ('h1', 'h2', 'h3'):
        upgrade_host(store, clock, host, SECONDS)
    upgrade_host(store, clock, 'h4', dict(SECONDS, upgrade=5000), end='failed')     # a failure says nothing
    store.finish()
    return str(tmp_path)


def test_expectations_come_from_earlier_campaigns(earlier):
    samples, campaigns = history.from_state_dir(earlier)
    assert campaigns == 1 and samples['upgrade'] == [15.0, 15.0, 15.0]
    expected, sources = history.expected_phases(samples)
    assert {phase: expected[phase] for phase in history.PHASES} == SECONDS and expected['release'] == 0
    assert sources['upgrade'] == 'history (3 hosts)' and history.describe(sources) == 'history (3 hosts)'
    # a setting wins; too few samples fall back to the documented defaults
    expected, sources = history.expected_phases(samples, {'upgrade': 900})
    assert expected['upgrade'] == 900 and history.describe(sources) == 'history and setting'
    expected, sources = history.expected_phases({'upgrade': [1.0, 2.0]})
    assert expected['upgrade'] == 600 and history.describe(sources) == 'defaults'


def test_elapsed_vs_expected_eta_and_hang_alert(earlier):
    samples, _n = history.from_state_dir(earlier)
    expected, sources = history.expected_phases(samples)
    clock = Clock()
    store = CampaignStore('now', earlier, now=clock)
    store.start(run_id='run-1', plan={'batches': [['n1'], ['n2'], ['n3']]})
    store.update_host('n1', state='draining', phase='maintenance')
    clock.advance(2)
    store.update_host('n1', state='upgrading', phase='upgrade')
    clock.advance(40)                                    # 40 s at upgrade, expected 15
    status = store.read_status()
    rows = progress.active(status, expected, clock())
    assert rows == [dict(host='n1', phase='upgrade', elapsed_s=40.0, expected_s=15.0, ratio=pytest.approx(40 / 15))]
    text = progress.lines(status, expected, history.describe(sources), clock())
    assert text[0] == 'expected: ~1 min a host, batch (hosts in parallel) from history (3 hosts)'
    assert text[1] == 'n1: upgrade for 0:00:40, expected 0:00:15 (2.7x)'
    # in flight: 59 s a host - 42 s spent = 17 s; two batches not started: 2 x 59 s
    assert progress.eta_seconds(status, expected, clock()) == pytest.approx(17 + 2 * 59)
    assert text[2].startswith('ETA 2026-12-08 22:02 UTC')
    alerted = set()
    assert progress.check_hangs(store, expected, 3.0, ['n1'], alerted, clock()) is True
    assert alerted == set()                              # 2.7x is not past 3x
    clock.advance(10)
    progress.check_hangs(store, expected, 3.0, ['n1'], alerted, clock())
    progress.check_hangs(store, expected, 3.0, ['n1'], alerted, clock())     # raised once, not twice
    hangs = [e for e in store.read_events() if e['action'] == 'alert' and e['data'].get('kind') == 'hang']
    assert len(hangs) == 1 and hangs[0]['object_id'] == 'n1' and hangs[0]['error_code'] == 'E_HANG'
    assert hangs[0]['message'].startswith('n1 has been at upgrade for 0:00:50, 3.3x its expected 0:00:15')
    assert progress.hangs(store.read_status(), expected, 0, clock()) == []   # 0: no detection


def test_a_killed_runs_hang_watcher_stops_when_a_resumed_run_holds_the_lock(monkeypatch):
    """kill -9 then resume: the run lock is held again, by the resumed run. The killed run's watcher must stop
    there (the resumed run's gate starts its own): two watchers raised each hang alert twice (lab, issue 14)."""
    killed = dict(pid=100, pid_start='1')
    resumed = dict(pid=200, pid_start='2')
    holders = iter([killed, killed, killed, resumed, resumed, resumed, None])     # its start, then each poll
    monkeypatch.setattr(progress.run_guard, 'holder', lambda path, proc='/proc': next(holders))
    checks = []
    monkeypatch.setattr(progress, 'check_hangs', lambda *args, **kwargs: checks.append(args) or True)
    monkeypatch.setattr(progress.time, 'sleep', lambda seconds: None)

    class Store:
        path = '/nonexistent'
    progress._watch(Store(), {}, 3, ['compute1'], None, 5, '/proc', None, 'alert')  # pylint: disable=protected-access
    assert len(checks) == 2          # under the killed run only
