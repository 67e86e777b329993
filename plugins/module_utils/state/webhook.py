# SPDX-License-Identifier: Apache-2.0
"""Alerts to a webhook: one JSON POST through the shared HTTP client (http_client), never raising."""

from __future__ import annotations

import json
import ssl
import urllib.parse

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client

WEBHOOK_TIMEOUT = 10


def post_webhook(url, payload, timeout=WEBHOOK_TIMEOUT, validate_certs=True, opener=None):
    """POST ``payload`` as JSON; return None on a 2xx answer, else a sentence saying what went wrong.

    Never raises. TLS certificates are verified unless ``validate_certs`` is false.
    """
    scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else ''
    if scheme not in ('http', 'https'):
        return 'webhook URL %s is not http(s)' % http_client.redact_url(str(url))
    body = json.dumps(payload, default=str).encode('utf-8')
    headers = {'Content-Type': 'application/json', 'User-Agent': 'escalator-campaign-state'}
    try:
        # the shared client follows no redirect (a 3xx is a failure naming the Location) and honours *_proxy
        context = http_client.tls_for(url, validate_certs)
        http_client.request(url, 'POST', body, headers, timeout, context, opener=opener, max_answer=65536)
    except http_client.HTTPClientError as exc:
        if exc.status is not None:
            return 'webhook %s answered %s' % (http_client.redact_url(url), exc.msg)
        return 'webhook %s failed: %s' % (http_client.redact_url(url), exc.msg)
    except (OSError, ValueError, ssl.SSLError) as exc:
        return 'webhook %s failed: %s' % (http_client.redact_url(url), exc)
    return None
