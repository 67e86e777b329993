# SPDX-License-Identifier: Apache-2.0
"""The plan's expectations (issue 14): per host and phase, per batch (its slowest host), for the campaign."""
from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, plan_expectations

PLAN = {'batches': [
    {'batch': 1, 'hosts': ['c4'], 'moves': []},
    {'batch': 2, 'hosts': ['c1', 'c2'], 'moves': [{'from': 'c1', 'to': ['c4']}, {'from': 'c2', 'to': ['c4']},
                                                  {'from': 'c2', 'to': ['c4']}]},
]}


def _others():
    return sum(s for p, s in durations.DEFAULT_PHASE_SECONDS.items() if p != 'evacuate')


def test_defaults_per_host_batch_and_campaign():
    section = plan_expectations.section(PLAN)
    per = durations.DEFAULT_EVACUATE_PER_INSTANCE
    assert section['source'] == 'defaults'
    assert section['hosts']['c4']['evacuate'] == per          # no instance to move: as for one
    assert section['hosts']['c2']['evacuate'] == 2 * per
    assert section['hosts']['c1']['upgrade'] == durations.DEFAULT_PHASE_SECONDS['upgrade']
    assert section['batches'] == [{'batch': 1, 'seconds': _others() + per},
                                  {'batch': 2, 'seconds': _others() + 2 * per}]     # its slowest host
    assert section['campaign_s'] == 2 * _others() + 3 * per
    assert section['evacuate_per_instance'] == per


def test_history_replaces_the_defaults_and_the_setting_wins():
    samples = {phase: [10.0, 20.0, 30.0] for phase in ('maintenance', 'notify', 'backup', 'upgrade', 'verify')}
    samples['evacuate'] = [5.0, 5.0, 5.0]
    samples['evacuate_per_instance'] = [4.0, 5.0, 6.0]
    section = plan_expectations.section(PLAN, samples, {'upgrade': 100})
    assert section['source'] == 'history and setting', section['source']
    assert section['hosts']['c2'] == dict(maintenance=20.0, notify=20.0, evacuate=10.0, backup=20.0, upgrade=100,
                                          verify=20.0, release=0)
    assert section['batches'][1]['seconds'] == 190.0 and section['campaign_s'] == 185.0 + 190.0
    assert section['phase_sources']['upgrade'] == 'setting' and section['evacuate_source'] == 'history (3 hosts)'


def test_an_infeasible_plan_expects_nothing():
    assert plan_expectations.section({'batches': []})['campaign_s'] == 0
