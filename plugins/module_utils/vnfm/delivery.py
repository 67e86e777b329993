# SPDX-License-Identifier: Apache-2.0
"""Sending to a VNFM endpoint: its credentials and TLS, one JSON request over ``http_client`` (no
redirects), and the delivery of notifications with retries and a back-off through an injectable sleep."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import ssl
import time

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import now_iso

MAX_BODY = 1024 * 1024             # what is read of a VNFM's answer
MAX_SENDERS = 16                   # notifications sent at once

SendError = http_client.HTTPClientError


def auth_headers(endpoint):
    """HTTP headers for a VNFM endpoint's credentials (token, basic, extra headers)."""
    headers = {}
    for name, value in (endpoint.get('headers') or {}).items():
        headers[str(name)] = str(value)
    if endpoint.get('token'):
        headers[endpoint.get('token_header') or 'X-Auth-Token'] = endpoint['token']
    if endpoint.get('username') is not None and endpoint.get('password') is not None:
        pair = ('%s:%s' % (endpoint['username'], endpoint['password'])).encode('utf-8')
        headers['Authorization'] = 'Basic ' + base64.b64encode(pair).decode('ascii')
    return headers


def tls_context(endpoint, url):
    """The TLS set-up of ``endpoint`` for ``url`` (None for plain http); raises OSError or ssl.SSLError
    when its CA bundle or client certificate cannot be loaded."""
    return http_client.tls_for(url, endpoint.get('validate_certs', True), endpoint.get('ca_cert'),
                               endpoint.get('client_cert'), endpoint.get('client_key'))


def http_request(url, method='POST', body=None, headers=None, timeout=10, context=None):
    """One HTTP request with a JSON body; returns (status, text). Raises SendError for transport failures,
    for any status >= 300 and for a redirect, which is never followed (the credentials stay with the
    configured origin)."""
    data = None if body is None else json.dumps(body).encode('utf-8')
    all_headers = {'Content-Type': 'application/json', 'Accept': 'application/json',
                   'User-Agent': 'escalator-vnfm-notify'}
    all_headers.update(headers or {})
    return http_client.request(url, method, data, all_headers, timeout, context, max_answer=MAX_BODY)


def send(endpoint, body, record, retries=0, timeout=10, sleep=time.sleep):
    """POST one notification to ``endpoint``; ``record`` gets the outcome (sent, status_code, error,
    attempts, sent_at). A transport failure, a 5xx, 408 or 429 is tried again ``retries`` times after a
    growing pause; any other 4xx is final. True when the endpoint took it."""
    try:
        context = tls_context(endpoint, endpoint['url'])
    except (OSError, ssl.SSLError) as exc:
        record.update(sent=False, error='TLS configuration: %s' % exc, attempts=0)
        return False
    for attempt in range(1, retries + 2):
        record['attempts'] = attempt
        try:
            status, _text = http_request(endpoint['url'], 'POST', body, auth_headers(endpoint), timeout, context)
            record.update(sent=True, status_code=status, error=None, sent_at=now_iso())
            return True
        except SendError as exc:
            record.update(sent=False, status_code=exc.status, error=exc.msg)
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
                return False        # the VNFM refuses this notification; repeating will not help
            if attempt <= retries:
                sleep(min(2.0 * attempt, 5.0))
    return False


def send_all(jobs, retries=0, timeout=10, sleep=time.sleep):
    """jobs: list of (endpoint, body, record), sent in parallel (see ``send``); returns when all are done."""
    if not jobs:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_SENDERS, len(jobs))) as pool:
        futures = [pool.submit(send, endpoint, body, record, retries, timeout, sleep)
                   for endpoint, body, record in jobs]
        for future in futures:
            future.result()
