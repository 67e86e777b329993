# SPDX-License-Identifier: Apache-2.0
"""The status as a fixed-width table (campaign_state's and the status callback's ``table``, ``escalator status``)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.state.status import new_host
from ansible_collections.opnfv.escalator.plugins.module_utils.state.summary import format_duration, host_duration, summary
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import ACTIVE_STATES, DONE, RUNNING, SKIPPED
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import utcnow


def _rows_table(header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        lines.append('  '.join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    return lines, widths


def render_table(status, now=None, message_width=60, campaign_id=None):
    """The status as fixed-width text: a header line, one row per host grouped by batch, a summary line.
    A campaign never started (``status`` None: refused by the lock, its plan or its precheck before its start)
    or without plan or hosts yet renders as such."""
    if not status:
        return 'Campaign %s: never started (no status recorded: it stopped before its start, e.g. refused by the ' \
            'campaign lock, its plan or its precheck)' % (campaign_id or '?')
    campaign = dict(dict(id=campaign_id or '?', state=None, run=None, runs=[], started=None, finished=None),
                    **{key: value for key, value in (status.get('campaign') or {}).items() if value is not None})
    status = dict(status, campaign=campaign, batches=status.get('batches') or [], hosts=status.get('hosts') or {})
    if now is None and campaign.get('state') == RUNNING:
        now = utcnow()
    hosts = status['hosts']
    header = ['BATCH', 'HOST', 'STATE', 'PHASE', 'RESULT', 'ERROR', 'DURATION', 'MESSAGE']
    rows = []

    def row(label, name):
        record = hosts.get(name) or new_host()
        active_now = now if record['state'] in ACTIVE_STATES else None
        message = (record.get('message') or '').replace('\n', ' ')
        if len(message) > message_width:
            message = message[:message_width - 3] + '...'
        rows.append([label, name, record['state'], record.get('phase') or '-', record.get('result') or '-',
                     record.get('error_code') or '-', format_duration(host_duration(record, active_now)), message])

    listed = set()
    for batch in status['batches']:
        label = '%s%s %s' % (batch['index'], '*' if batch.get('canary') else '', batch['state'])
        for position, name in enumerate(batch['hosts']):
            row(label if position == 0 else '', name)
            listed.add(name)
    for name in sorted(set(hosts) - listed):
        row('-', name)
    info = summary(status, now)
    title = 'Campaign %s: %s (run %s, %d run%s) started %s%s, duration %s' % (
        campaign['id'], campaign['state'], campaign['run'], info['runs'], '' if info['runs'] == 1 else 's',
        campaign['started'], (', finished %s' % campaign['finished']) if campaign.get('finished') else '',
        format_duration(info['duration_s']))
    skipped = sorted(name for name, record in hosts.items() if (record or {}).get('state') == SKIPPED)
    if campaign.get('state') == DONE and skipped:
        # "done" alone would hide that these hosts were never upgraded
        title += ' - %d host(s) skipped, left at their old version: %s' % (len(skipped), ', '.join(skipped))
    counts = ', '.join('%s %d' % (state, count) for state, count in info['states'].items() if count)
    footer = 'hosts: %d (%s); batches: %d/%d done%s%s' % (
        info['hosts'], counts or 'none', info['batches_done'], info['batches'],
        ('; failed: %s' % ', '.join(info['failed_hosts'])) if info['failed_hosts'] else '',
        ('; alerts: %d' % info['alerts']) if info['alerts'] else '')
    if campaign.get('message'):
        footer += '\n' + campaign['message']
    if not rows:
        return '\n'.join([title, '(no hosts)', footer])
    lines, widths = _rows_table(header, rows)
    rule = '  '.join('-' * w for w in widths)
    return '\n'.join([title, lines[0], rule] + lines[1:] + [footer])
