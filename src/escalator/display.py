# SPDX-License-Identifier: Apache-2.0
"""How the CLI shows a run while it goes: a live rich table on a terminal, plain lines otherwise,
JSON lines with --json-events."""

from __future__ import annotations

import json
import sys

from escalator.events import CampaignStatus, HostPhase, PlanReady, PlayStarted, TaskResult, TaskStarted

STATE_STYLES = {'done': 'green', 'failed': 'bold red', 'rolled_back': 'red', 'draining': 'yellow',
                'upgrading': 'cyan', 'verifying': 'blue', 'pending': 'dim', 'skipped': 'dim'}


class _StreamDisplay:
    """A display writing to a stream (stdout by default); a context manager like LiveDisplay."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, event):
        return None


class PlainDisplay(_StreamDisplay):
    """One line per play, host phase change and failure (for logs and pipes)."""

    def _line(self, event, text):
        self.stream.write('%s %s\n' % (event.timestamp[11:19], text))
        self.stream.flush()

    def __call__(self, event):
        if isinstance(event, PlayStarted):
            self._line(event, '== %s' % event.play)
        elif isinstance(event, HostPhase):
            self._line(event, '%-12s %-10s %-16s%s' % (event.host, event.state, event.phase or '-',
                                                       (' %s %s' % (event.error_code or '', event.message or ''))
                                                       if event.state in ('failed', 'rolled_back') else ''))
        elif isinstance(event, TaskResult) and event.failed:
            self._line(event, '%-12s FAILED %r%s: %s' % (event.host, event.task,
                                                         ' (%s)' % event.error_code if event.error_code else '',
                                                         event.message))
        elif isinstance(event, PlanReady):
            self.stream.write(event.table.rstrip() + '\n')
            if event.fingerprint:
                self.stream.write('fingerprint: %s\n' % event.fingerprint)
            self.stream.flush()


class JsonLinesDisplay(_StreamDisplay):
    """Every typed event as one JSON object per line."""

    def __call__(self, event):
        self.stream.write(json.dumps(event.to_dict(), default=str, sort_keys=True) + '\n')
        self.stream.flush()


class NullDisplay(_StreamDisplay):
    """Shows nothing (--json: only the final document)."""


class LiveDisplay:
    """A status table refreshed on every event, with the current task and the last failures (rich)."""

    def __init__(self, title, console=None):
        from rich.console import Console  # pylint: disable=import-outside-toplevel
        self.console = console or Console()
        self.title = title
        self.status = None
        self.task = ''
        self.play = ''
        self.lines = []
        self.live = None

    def __enter__(self):
        from rich.live import Live  # pylint: disable=import-outside-toplevel
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)
        return False

    def _render(self):
        from rich.console import Group  # pylint: disable=import-outside-toplevel
        from rich.table import Table  # pylint: disable=import-outside-toplevel
        from rich.text import Text  # pylint: disable=import-outside-toplevel
        parts = []
        if self.status:
            campaign = self.status.get('campaign', {})
            table = Table(title='%s: campaign %s - %s' % (self.title, campaign.get('id'), campaign.get('state')),
                          title_justify='left')
            for column in ('batch', 'host', 'state', 'phase', 'result', 'error', 'message'):
                table.add_column(column)
            hosts = self.status.get('hosts', {})
            listed = set()
            for batch in self.status.get('batches', []):
                for position, name in enumerate(batch.get('hosts', [])):
                    listed.add(name)
                    self._row(table, ('%s%s %s' % (batch.get('index'), '*' if batch.get('canary') else '',
                                                   batch.get('state'))) if position == 0 else '', name,
                              hosts.get(name, {}))
            for name in sorted(set(hosts) - listed):
                self._row(table, '-', name, hosts[name])
            parts.append(table)
        parts.append(Text('%s | %s' % (self.play or self.title, self.task or 'starting'), style='dim'))
        for line in self.lines[-6:]:
            parts.append(Text(line))
        return Group(*parts)

    @staticmethod
    def _row(table, label, name, record):
        state = record.get('state', 'pending')
        table.add_row(label, name, '[%s]%s[/]' % (STATE_STYLES.get(state, 'white'), state), record.get('phase') or '-',
                      record.get('result') or '-', record.get('error_code') or '-',
                      (record.get('message') or '')[:60])

    def __call__(self, event):
        if isinstance(event, PlayStarted):
            self.play = event.play
        elif isinstance(event, TaskStarted):
            self.task = event.task
        elif isinstance(event, CampaignStatus):
            self.status = event.status
        elif isinstance(event, HostPhase) and event.state in ('failed', 'rolled_back'):
            self.lines.append('%s %s: %s %s' % (event.host, event.state, event.error_code or '', event.message or ''))
        elif isinstance(event, TaskResult) and event.failed:
            self.lines.append('%s FAILED %r%s: %s' % (event.host, event.task,
                                                      ' (%s)' % event.error_code if event.error_code else '',
                                                      (event.message or '')[:300]))
        elif isinstance(event, PlanReady):
            self.lines.append('plan: %s, fingerprint %s' % ('feasible' if event.feasible else 'NOT feasible',
                                                            event.fingerprint))
        if self.live is not None:
            self.live.update(self._render())
