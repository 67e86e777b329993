# SPDX-License-Identifier: Apache-2.0
"""Print a campaign's status table and its figures: duration, migrations per instance (from Nova's
migration records), and outage per VNF (from the lab probe's summary; with the packet probe also the guests'
outage per cause, each live migration's downtime and the guests lost).

usage: campaign_report.py --campaign-id ID --since ISO8601 [--state-dir DIR] [--probe summary.json] [--json FILE]
"""
import argparse
import collections
import datetime
import json
import os
import sys

import openstack

COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.venv', 'collections')
sys.path.insert(0, COLLECTIONS)
from ansible_collections.opnfv.escalator.plugins.module_utils import state  # noqa: E402  pylint: disable=wrong-import-position


def migrations_since(conn, since):
    per_instance = collections.Counter()
    kinds = collections.Counter()
    for migration in conn.compute.migrations(changes_since=since):
        if migration.status in ('completed', 'confirmed', 'finished'):
            per_instance[migration.server_id] += 1
            kinds[migration.migration_type] += 1
    return per_instance, kinds


def status_table(campaign_id, state_dir):
    """The campaign's status table; for a campaign that never started (refused by the lock, its plan or its
    precheck: no status.json) a line that says so and where it looked."""
    store = state.CampaignStore(campaign_id, state_dir=state_dir)
    status = store.read_status()
    text = state.render_table(status, campaign_id=campaign_id)
    if status is None:
        text += '\n(no %s)' % store.status_path
    return text


def probe_figures(probe):
    """The figures of the lab probe's summary.json: outage per VNF; in packet mode (real guests) also outage
    seconds per cause (VNFs, guests), live-migration downtime (count, median, p95, max) and lost guests."""
    figures = {'outage_seconds_per_vnf': {vnf: data.get('outage_seconds') for vnf, data in probe.get('vnfs', {}).items()}}
    if probe.get('mode') == 'packets':
        by_cause = probe.get('outage_seconds_by_cause') or {}
        figures.update({
            'vnf_outage_seconds_by_cause': {c: s for c, s in (by_cause.get('vnf') or {}).items() if s},
            'guest_outage_seconds_by_cause': {c: s for c, s in (by_cause.get('guest') or {}).items() if s},
            'live_migration_downtime_s': probe.get('live_migration_downtime'),
            'lost_guests': probe.get('lost_guests'),
        })
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--campaign-id', required=True)
    parser.add_argument('--since', required=True)
    parser.add_argument('--state-dir', help="default: $ESCALATOR_STATE_DIR, else the state store's default")
    parser.add_argument('--probe')
    parser.add_argument('--json')
    args = parser.parse_args()

    print(status_table(args.campaign_id, args.state_dir))
    conn = openstack.connect(cloud=os.environ.get('OS_CLOUD', 'escalator-lab'))
    per_instance, kinds = migrations_since(conn, args.since)
    servers = list(conn.compute.servers(all_projects=True))
    counts = [per_instance.get(server.id, 0) for server in servers]
    started = datetime.datetime.fromisoformat(args.since.replace('Z', '+00:00'))
    figures = {
        'campaign_id': args.campaign_id,
        'duration_seconds': round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1),
        'servers': len(servers),
        'migrations': dict(kinds),
        'migrations_per_instance_max': max(counts) if counts else 0,
        'migrations_per_instance_mean': round(sum(counts) / len(counts), 3) if counts else 0,
        'instances_moved_more_than_once': sum(1 for count in counts if count > 1),
    }
    if args.probe and os.path.exists(args.probe):
        with open(args.probe, encoding='utf-8') as handle:
            probe = json.load(handle)
        figures.update(probe_figures(probe))
    print('\nFigures')
    for key, value in figures.items():
        print('  %-32s %s' % (key, value))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump(figures, handle, indent=2)


if __name__ == '__main__':
    main()
