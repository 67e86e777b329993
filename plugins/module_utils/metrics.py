# SPDX-License-Identifier: Apache-2.0
"""A campaign's metrics in the Prometheus text format, pushed to a Pushgateway and/or written as a node_exporter
textfile (docs/metrics.md names every metric).

The campaign_status callback feeds it: the status document (hosts by state, batches, phase durations from the
hosts' histories, elapsed time) and the task results it sees in this run (migrations by method and result, VNF
manager replies by outcome, failures by error code). Pure Python, standard library only; nothing here raises into
the campaign: an export that fails is a sentence for a warning.

A dead or hostile Pushgateway costs the campaign at most ``timeout`` seconds a push and ``MAX_PUSH_FAILURES``
pushes in all (then pushing stops for the run; the textfile goes on). Credentials in the URL's user info become a
basic-auth header and are never shown: messages name the gateway by scheme, host and port only.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import urllib.parse

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.state import (
    ACTIVE_STATES, CAMPAIGN_STATES, DONE, FAILURE_STATES, HOST_STATES, PHASES, SKIPPED, parse_ts, write_file_atomic,
)

JOB = 'escalator'
DEFAULT_TIMEOUT = 2.0
MAX_PUSH_FAILURES = 3
EVACUATE_MODULES = ('compute_evacuate',)
VNFM_MODULES = ('vnfm_notify',)
GATE_MODULES = ('campaign_gate',)
_LABEL_ESCAPES = str.maketrans({'\\': '\\\\', '"': '\\"', '\n': '\\n'})


def _epoch(text):
    moment = parse_ts(text) if text else None
    return moment.timestamp() if moment is not None else None


def _labels(labels):
    if not labels:
        return ''
    return '{%s}' % ','.join('%s="%s"' % (key, str(value).translate(_LABEL_ESCAPES))
                             for key, value in sorted(labels.items()))


def _number(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    return repr(round(float(value), 3))


class Family:
    """One metric family: name, help, type and its samples."""

    def __init__(self, name, kind, text):
        self.name, self.kind, self.text = name, kind, text
        self.samples = []

    def add(self, value, suffix='', **labels):
        self.samples.append((self.name + suffix, labels, value))
        return self

    def render(self, common):
        lines = ['# HELP %s %s' % (self.name, self.text), '# TYPE %s %s' % (self.name, self.kind)]
        for name, labels, value in self.samples:
            lines.append('%s%s %s' % (name, _labels(dict(common, **labels)), _number(value)))
        return lines


class RunCounters:
    """What this run's task results tell that the status does not: migrations, VNF manager replies, failures."""

    def __init__(self):
        self.migrations = {}        # (method, result) -> count
        self.vnfm_replies = {}      # (state, outcome) -> count
        self.failures = {}          # error code -> count
        self.expected_batch_s = None    # what the campaign gate expects a batch to take (its window check)

    @staticmethod
    def _bump(counts, key):
        counts[key] = counts.get(key, 0) + 1

    def observe(self, module, status, data, ignored=False):
        """Count one task result (``module`` its resolved name, ``status`` ok/changed/failed/unreachable/skipped,
        ``data`` its result dict)."""
        if not isinstance(data, dict) or data.get('_ansible_no_log'):
            data = {}
        short = module.rsplit('.', 1)[-1] if isinstance(module, str) else ''
        if status in ('failed', 'unreachable') and not ignored:
            code = data.get('error_code') if isinstance(data.get('error_code'), str) else None
            self._bump(self.failures, code or ('E_UNREACHABLE' if status == 'unreachable' else 'none'))
        if short in EVACUATE_MODULES and status != 'skipped':
            for instance in data.get('instances') or []:
                if isinstance(instance, dict) and instance.get('result') not in (None, 'planned'):
                    self._bump(self.migrations, (instance.get('method') or 'none', instance['result']))
        if short in GATE_MODULES and status in ('ok', 'changed'):
            expected = data.get('expected_batch_s')
            if isinstance(expected, (int, float)) and not isinstance(expected, bool) and expected > 0:
                self.expected_batch_s = float(expected)
        if short in VNFM_MODULES and status != 'skipped':
            for project in (data.get('projects') or {}).values():
                if isinstance(project, dict) and project.get('outcome') not in (None, 'not_sent'):
                    self._bump(self.vnfm_replies, (data.get('state') or 'unknown', project['outcome']))


def _phase_durations(status):
    """{phase: [seconds, ...]} of the phases hosts went through to the next one (their history's timestamps; the
    phase a host is in now, or ended in, counts up to its end)."""
    durations = {}
    for record in (status.get('hosts') or {}).values():
        history = [entry for entry in record.get('history') or [] if isinstance(entry, dict) and entry.get('phase')]
        for entry, following in zip(history, history[1:] + [None]):
            if following is not None:
                end = _epoch(following.get('ts'))
            elif record.get('finished') and record.get('state') not in ACTIVE_STATES:
                end = _epoch(record['finished'])
            else:
                continue
            start = _epoch(entry.get('ts'))
            if start is not None and end is not None and end >= start and entry['phase'] in PHASES:
                durations.setdefault(entry['phase'], []).append(end - start)
    return durations


def campaign_metrics(status, counters=None, now=None):
    """The metric families of a campaign (``status``: its status document) and of this run (``counters``)."""
    now = now if now is not None else time.time()
    campaign = status.get('campaign') or {}
    hosts = status.get('hosts') or {}
    batches = status.get('batches') or []
    families = []

    info = Family('escalator_campaign_info', 'gauge', 'The campaign and its current run (always 1).')
    families.append(info.add(1, run=campaign.get('run') or '', state=campaign.get('state') or ''))
    state = Family('escalator_campaign_state', 'gauge', 'The campaign state: 1 for the current one, 0 for the others.')
    for name in CAMPAIGN_STATES:
        state.add(1 if campaign.get('state') == name else 0, state=name)
    families.append(state)
    by_state = Family('escalator_hosts', 'gauge', 'Hosts of the campaign by state.')
    for name in HOST_STATES:
        by_state.add(sum(1 for record in hosts.values() if record.get('state') == name), state=name)
    families.append(by_state)
    families.append(Family('escalator_batches', 'gauge', 'Batches in the plan.').add(len(batches)))
    families.append(Family('escalator_batches_done', 'gauge', 'Batches done or skipped.').add(
        sum(1 for batch in batches if batch.get('state') in (DONE, SKIPPED))))
    running = [batch.get('index') for batch in batches if batch.get('state') == 'running']
    families.append(Family('escalator_batch_current', 'gauge', 'Index of the batch being upgraded (0: none).').add(
        running[0] if running else 0))
    families.append(Family('escalator_alerts', 'gauge', 'Alerts the campaign raised.').add(campaign.get('alerts') or 0))

    failed = Family('escalator_hosts_failed', 'gauge', 'Hosts failed or rolled back, by error code.')
    codes = {}
    for record in hosts.values():
        if record.get('state') in FAILURE_STATES:
            code = record.get('error_code') or 'none'
            codes[code] = codes.get(code, 0) + 1
    for code, count in sorted(codes.items()):
        failed.add(count, error_code=code)
    families.append(failed)

    phases = Family('escalator_phase_duration_seconds', 'summary', 'Time hosts spent in each phase.')
    for phase, values in sorted(_phase_durations(status).items()):
        phases.add(round(sum(values), 3), '_sum', phase=phase).add(len(values), '_count', phase=phase)
    families.append(phases)

    started, finished = _epoch(campaign.get('started')), _epoch(campaign.get('finished'))
    if started is not None:
        families.append(Family('escalator_campaign_started_timestamp_seconds', 'gauge',
                               'When the campaign started (Unix time).').add(started))
        end = finished if finished is not None and campaign.get('state') != 'running' else now
        elapsed = max(0.0, end - started)
        families.append(Family('escalator_campaign_elapsed_seconds', 'gauge',
                               'Seconds since the campaign started (to its end once it ended).').add(elapsed))
        done = sum(1 for batch in batches if batch.get('state') in (DONE, SKIPPED))
        per_batch = (counters or RunCounters()).expected_batch_s
        if campaign.get('state') == 'running' and per_batch and done < len(batches):
            # the campaign gate's expectation of a batch (expected phase durations, or this cloud's history)
            expected = elapsed + per_batch * (len(batches) - done)
        elif campaign.get('state') == 'running' and 0 < done < len(batches):
            expected = elapsed * len(batches) / done
        else:
            expected = None
        if expected is not None:
            families.append(Family('escalator_campaign_expected_seconds', 'gauge',
                                   'Expected length of the campaign: the campaign gate\'s expected batch duration for '
                                   'the batches left, else extrapolated from the batches done.').add(expected))
    if finished is not None and campaign.get('state') != 'running':
        families.append(Family('escalator_campaign_finished_timestamp_seconds', 'gauge',
                               'When the campaign ended (Unix time).').add(finished))

    counters = counters or RunCounters()
    if counters.expected_batch_s:
        families.append(Family('escalator_batch_expected_seconds', 'gauge',
                               'How long the campaign gate expects a batch to take.').add(counters.expected_batch_s))
    migrations = Family('escalator_migrations_total', 'counter',
                        'Instances the evacuations of this run dealt with, by method and result.')
    for (method, result), count in sorted(counters.migrations.items()):
        migrations.add(count, method=method, result=result)
    families.append(migrations)
    replies = Family('escalator_vnfm_replies_total', 'counter',
                     'VNF manager answers in this run, by maintenance state announced and outcome.')
    for (announced, outcome), count in sorted(counters.vnfm_replies.items()):
        replies.add(count, state=announced, outcome=outcome)
    families.append(replies)
    failures = Family('escalator_task_failures_total', 'counter', 'Failed tasks in this run, by error code.')
    for code, count in sorted(counters.failures.items()):
        failures.add(count, error_code=code)
    families.append(failures)
    families.append(Family('escalator_metrics_updated_timestamp_seconds', 'gauge',
                           'When these metrics were exported (Unix time).').add(now))
    return families


def render(families, campaign_id, with_campaign_label=True):
    """The text exposition format; every sample carries ``campaign`` (the Pushgateway adds it from the grouping
    key itself, a textfile needs it in the labels)."""
    common = {'campaign': campaign_id} if with_campaign_label else {}
    lines = []
    for family in families:
        lines.extend(family.render(common))
    return '\n'.join(lines) + '\n'


def split_credentials(url):
    """(the URL without user info, an Authorization header value or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    token = base64.b64encode(('%s:%s' % (urllib.parse.unquote(parts.username),
                                         urllib.parse.unquote(parts.password or ''))).encode('utf-8')).decode('ascii')
    host = parts.hostname or ''
    netloc = ('[%s]' % host if ':' in host else host) + (':%d' % parts.port if parts.port else '')
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), 'Basic ' + token


def group_url(base, campaign_id):
    """The Pushgateway URL of the campaign's group: <base>/metrics/job/escalator/campaign/<id>."""
    return '%s/metrics/job/%s/campaign/%s' % (base.rstrip('/'), JOB, urllib.parse.quote(campaign_id, safe=''))


def _bounded(call, timeout):
    """Run ``call`` for at most ``timeout`` seconds in all (a server that answers byte by byte cannot hold the
    campaign longer); returns its exception, a timeout error, or None."""
    outcome = {}

    def target():
        try:
            call()
        except Exception as exc:  # pylint: disable=broad-except
            outcome['error'] = exc
        outcome['done'] = True

    worker = threading.Thread(target=target, name='escalator-metrics-push', daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome.get('done'):
        return TimeoutError('no answer within %.1f s' % timeout)
    return outcome.get('error')


class Exporter:
    """Exports a campaign's metrics where configured; ``export`` never raises and returns the problems as
    sentences (for a warning), and stops pushing after MAX_PUSH_FAILURES failed pushes."""

    def __init__(self, pushgateway_url=None, textfile=None, timeout=DEFAULT_TIMEOUT, opener=None):
        self.pushgateway_url = pushgateway_url or None
        self.textfile = textfile or None
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.opener = opener
        self.push_failures = 0
        self.pushes = 0
        self.counters = RunCounters()

    @property
    def enabled(self):
        return bool(self.pushgateway_url or self.textfile)

    def gateway(self):
        """The gateway as messages name it (scheme, host, port)."""
        return http_client.redact_url(self.pushgateway_url) if self.pushgateway_url else None

    def export(self, status, campaign_id, now=None):
        problems = []
        if not self.enabled or not isinstance(status, dict):
            return problems
        try:
            families = campaign_metrics(status, self.counters, now)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            return ['cannot compute the metrics of campaign %s: %s' % (campaign_id, exc)]
        if self.textfile:
            try:
                write_file_atomic(self.textfile, render(families, campaign_id), mode=0o644)
            except OSError as exc:
                problems.append('cannot write the metrics textfile %s: %s' % (self.textfile, exc))
        if self.pushgateway_url and self.push_failures < MAX_PUSH_FAILURES:
            problem = self.push(render(families, campaign_id), campaign_id)
            if problem:
                self.push_failures += 1
                if self.push_failures >= MAX_PUSH_FAILURES:
                    problem += '; no more pushes in this run (%d failed)' % self.push_failures
                problems.append(problem)
        return problems

    def push(self, text, campaign_id):
        """PUT the metrics to the campaign's group (replacing what an earlier push left); None or a sentence."""
        scheme = urllib.parse.urlsplit(self.pushgateway_url).scheme
        if scheme not in ('http', 'https'):
            return 'Pushgateway URL %s is not http(s)' % self.gateway()
        url, authorization = split_credentials(self.pushgateway_url)
        headers = {'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'User-Agent': 'escalator-metrics'}
        if authorization:
            headers['Authorization'] = authorization
        context = http_client.tls_for(url)

        def call():
            http_client.request(group_url(url, campaign_id), 'PUT', text.encode('utf-8'), headers, self.timeout,
                                context, opener=self.opener, max_answer=4096)

        error = _bounded(call, self.timeout)
        self.pushes += 1
        if error is None:
            return None
        message = getattr(error, 'msg', None) or str(error)
        # an answer could quote the request; never let user info through
        message = re.sub(r'//[^/@\s]*@', '//', message)
        return 'cannot push the metrics to the Pushgateway %s: %s' % (self.gateway(), message)
