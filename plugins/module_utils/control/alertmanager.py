# SPDX-License-Identifier: Apache-2.0
"""A small client of Prometheus Alertmanager's HTTP API v2: firing alerts, silences.

Hostile-tested (tests/unit/plugins/module_utils/test_control_alertmanager.py):

* every request is bounded in time (``timeout``) and in size (``MAX_ANSWER``: a bigger answer is an error,
  never half-parsed);
* redirects are never followed (http_client): a credential (bearer token, basic auth) never leaves for
  another origin, and the message names the Location to configure instead;
* an answer that is not the JSON the API documents is an error that says so, not a crash;
* the URL shown in messages and results has no user info, path token or query (http_client.redact_url).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.parse

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_CONNECT, E_INVALID_INPUT, EscalatorError

MAX_ANSWER = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 10
# a matcher as Alertmanager writes them: name, operator, double-quoted value (\" and \\ escaped)
MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
OPERATORS = {'=': (False, True), '!=': (False, False), '=~': (True, True), '!~': (True, False)}


class AlertmanagerError(EscalatorError):
    def __init__(self, msg, code=E_CONNECT, **details):
        super().__init__(msg, code=code, **details)


def parse_matcher(text, where='matcher'):
    """``name="value"`` (or ``!=``, ``=~``, ``!~``) -> dict(name, value, isRegex, isEqual) (the API's form)."""
    match = MATCHER.match(text) if isinstance(text, str) else None
    if not match:
        raise AlertmanagerError('%s %r is not an Alertmanager matcher: write name="value" (or !=, =~, !~), e.g. '
                                'severity="critical"' % (where, text), code=E_INVALID_INPUT)
    name, operator, value = match.groups()
    value = re.sub(r'\\(.)', r'\1', value)
    is_regex, is_equal = OPERATORS[operator]
    if is_regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise AlertmanagerError('%s %r: bad regular expression (%s)' % (where, text, exc),
                                    code=E_INVALID_INPUT) from None
    return dict(name=name, value=value, isRegex=is_regex, isEqual=is_equal)


def matcher_text(matcher):
    operator = {(False, True): '=', (False, False): '!=', (True, True): '=~', (True, False): '!~'}[
        (bool(matcher['isRegex']), bool(matcher.get('isEqual', True)))]
    return '%s%s"%s"' % (matcher['name'], operator, matcher['value'].replace('\\', '\\\\').replace('"', '\\"'))


class Client:
    """One Alertmanager. ``url``: its base URL (http(s)://host:port[/prefix]); ``token``: a bearer token, or
    ``username``/``password`` for basic auth (both sent only to that origin: redirects are refused)."""

    def __init__(self, url, token=None, username=None, password=None, timeout=DEFAULT_TIMEOUT, validate_certs=True,
                 ca_cert=None, opener=None):
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ('http', 'https') or not parts.hostname:
            raise AlertmanagerError('the Alertmanager URL %r is not an http(s) URL with a host, e.g. '
                                    'http://alertmanager.example:9093' % (http_client.redact_url(str(url)),),
                                    code=E_INVALID_INPUT)
        if parts.username or parts.password or parts.query or parts.fragment:
            raise AlertmanagerError('the Alertmanager URL must not carry user info, a query or a fragment (%s): '
                                    'give the credential as token or username/password' % http_client.redact_url(url),
                                    code=E_INVALID_INPUT)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 300:
            raise AlertmanagerError('the Alertmanager timeout must be 1 to 300 seconds, got %r' % (timeout,),
                                    code=E_INVALID_INPUT)
        self.base = url.rstrip('/')
        self.shown = http_client.public_url(self.base)
        self.timeout = timeout
        self.headers = {'Accept': 'application/json', 'User-Agent': 'escalator-campaign-gate'}
        if token:
            self.headers['Authorization'] = 'Bearer %s' % token
        elif username:
            pair = ('%s:%s' % (username, password or '')).encode('utf-8')
            self.headers['Authorization'] = 'Basic %s' % base64.b64encode(pair).decode('ascii')
        context = http_client.tls_for(url, validate_certs, ca_cert)
        self.opener = opener or http_client.build_opener(context)

    def _call(self, method, path, body=None, query=None):
        url = self.base + path
        if query:
            url += '?' + urllib.parse.urlencode(query, doseq=True)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        try:
            # one byte more than allowed: an answer that fills it was cut, and is refused
            _status, text = http_client.request(url, method, data, headers, self.timeout, opener=self.opener,
                                                max_answer=MAX_ANSWER + 1)
        except http_client.HTTPClientError as exc:
            raise AlertmanagerError('Alertmanager %s: %s %s failed: %s' % (self.shown, method, path, exc.msg),
                                    status=exc.status) from None
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise AlertmanagerError('Alertmanager %s: %s %s failed: %s' % (self.shown, method, path, exc)) from None
        if len(text.encode('utf-8')) > MAX_ANSWER:
            raise AlertmanagerError('Alertmanager %s: the answer to %s %s is larger than %d bytes; refusing it'
                                    % (self.shown, method, path, MAX_ANSWER))
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise AlertmanagerError('Alertmanager %s: the answer to %s %s is not JSON (is this Alertmanager\'s API '
                                    'v2? the URL is its base, e.g. http://host:9093)'
                                    % (self.shown, method, path)) from None

    def firing(self, matchers):
        """The active alerts (not silenced, not inhibited) that match every one of ``matchers`` (API form):
        [dict(name, labels, startsAt, fingerprint)]."""
        query = dict(active='true', silenced='false', inhibited='false', unprocessed='true',
                     filter=[matcher_text(m) for m in matchers])
        answer = self._call('GET', '/api/v2/alerts', query=query)
        if not isinstance(answer, list):
            raise AlertmanagerError('Alertmanager %s: GET /api/v2/alerts did not answer a list' % self.shown)
        alerts = []
        for alert in answer:
            if not isinstance(alert, dict) or not isinstance(alert.get('labels'), dict):
                raise AlertmanagerError('Alertmanager %s: an alert without labels in GET /api/v2/alerts' % self.shown)
            state = (alert.get('status') or {}).get('state') if isinstance(alert.get('status'), dict) else None
            if state not in (None, 'active', 'unprocessed'):
                continue
            labels = {str(k): str(v) for k, v in alert['labels'].items()}
            alerts.append(dict(name=labels.get('alertname', '?'), labels=labels, startsAt=alert.get('startsAt'),
                               fingerprint=alert.get('fingerprint')))
        return alerts

    def create_silence(self, matchers, starts_at, ends_at, created_by, comment):
        """Create a silence; returns its id."""
        answer = self._call('POST', '/api/v2/silences', body=dict(
            matchers=matchers, startsAt=starts_at, endsAt=ends_at, createdBy=created_by, comment=comment))
        silence_id = answer.get('silenceID') if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not re.match(r'^[A-Za-z0-9-]{1,64}$', silence_id):
            raise AlertmanagerError('Alertmanager %s: POST /api/v2/silences answered no silence id' % self.shown)
        return silence_id

    def expire_silence(self, silence_id):
        """Expire a silence; True when it was active, False when it was already gone (expired, unknown)."""
        if not isinstance(silence_id, str) or not re.match(r'^[A-Za-z0-9-]{1,64}$', silence_id):
            raise AlertmanagerError('not a silence id: %r' % (silence_id,), code=E_INVALID_INPUT)
        try:
            self._call('DELETE', '/api/v2/silence/%s' % urllib.parse.quote(silence_id, safe=''))
        except AlertmanagerError as exc:
            # 404: unknown; 500 "silence ... already expired" from older versions
            if exc.details.get('status') in (404,) or 'already expired' in exc.msg:
                return False
            raise
        return True

    def silences(self, comment_prefix):
        """The active or pending silences whose comment starts with ``comment_prefix``: [dict(id, comment,
        matchers, endsAt)]."""
        answer = self._call('GET', '/api/v2/silences')
        if not isinstance(answer, list):
            raise AlertmanagerError('Alertmanager %s: GET /api/v2/silences did not answer a list' % self.shown)
        found = []
        for silence in answer:
            if not isinstance(silence, dict):
                continue
            state = (silence.get('status') or {}).get('state') if isinstance(silence.get('status'), dict) else None
            comment = silence.get('comment')
            if state in ('active', 'pending') and isinstance(comment, str) and comment.startswith(comment_prefix):
                found.append(dict(id=silence.get('id'), comment=comment, matchers=silence.get('matchers'),
                                  endsAt=silence.get('endsAt')))
        return found
