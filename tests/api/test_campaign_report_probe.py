# SPDX-License-Identifier: Apache-2.0
"""scripts/campaign_report.py's figures from the lab probe's summary: the API probe's outage per VNF as before,
and with the packet probe (real guests) the outage per cause, the live-migration downtime and the lost guests."""
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_report():
    spec = importlib.util.spec_from_file_location('campaign_report', os.path.join(REPO, 'scripts', 'campaign_report.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_figures_of_both_probe_modes():
    report = load_report()
    api = {'vnfs': {'vnf-a': {'outage_seconds': 0.0}, 'vnf-b': {'outage_seconds': 1.5}}}
    assert report.probe_figures(api) == {'outage_seconds_per_vnf': {'vnf-a': 0.0, 'vnf-b': 1.5}}
    packets = dict(api, mode='packets', lost_guests=1,
                   outage_seconds_by_cause={'vnf': {'switchover': 0.04, 'unknown': 0.0},
                                            'guest': {'live_migration': 2.1, 'host_down': 0.0}},
                   live_migration_downtime={'count': 6, 'median': 0.29, 'p95': 0.37, 'max': 0.37})
    assert report.probe_figures(packets) == {
        'outage_seconds_per_vnf': {'vnf-a': 0.0, 'vnf-b': 1.5},
        'vnf_outage_seconds_by_cause': {'switchover': 0.04}, 'guest_outage_seconds_by_cause': {'live_migration': 2.1},
        'live_migration_downtime_s': {'count': 6, 'median': 0.29, 'p95': 0.37, 'max': 0.37}, 'lost_guests': 1}
