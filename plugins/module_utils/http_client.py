# SPDX-License-Identifier: Apache-2.0
"""The one HTTP client of Escalator's outgoing notifications (VNFM notifications, polls, alert webhooks).

* Redirects are never followed: a 3xx is a delivery error naming the Location. Following one would send
  the credentials (X-Auth-Token, Basic, API keys) to another origin, and turn a POST into a GET that
  looks delivered.
* One TLS set-up (verified by default, optional CA bundle and client certificate).
* One URL redactor for messages and results (no user info, no query, which often carries a token).
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.parse
import urllib.request

MAX_ANSWER = 1024 * 1024


class HTTPClientError(Exception):
    """A request that did not get a 2xx answer: transport failure (status None), 3xx or an HTTP error."""

    def __init__(self, msg, status=None, location=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.location = location


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # pylint: disable=too-many-arguments
        return None         # urllib then raises HTTPError with the 3xx status


def _netloc(parts):
    """host[:port] of a split URL, without user info (IPv6 in brackets); raises ValueError for a bad port."""
    host = parts.hostname or ''
    port = parts.port
    if ':' in host:
        host = '[%s]' % host
    return '%s:%d' % (host, port) if port else host


def redact_url(url):
    """scheme://host[:port]/... : the path and query of a webhook or VNFM URL often carry a token."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = _netloc(parts)
    except (TypeError, ValueError):
        return '<invalid url>'
    return '%s://%s/...' % (parts.scheme, netloc)


def public_url(url):
    """A URL without user info or query (what results show)."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = _netloc(parts)
    except (TypeError, ValueError):
        return '<invalid url>'
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, '', ''))


def ssl_context(validate_certs=True, ca_cert=None, client_cert=None, client_key=None):
    """TLS for talking to a receiver: verified by default, with an optional CA bundle and client cert."""
    context = ssl.create_default_context(cafile=ca_cert)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context


def tls_for(url, validate_certs=True, ca_cert=None, client_cert=None, client_key=None):
    """The TLS set-up for a request to ``url``: ``ssl_context(...)`` for https, None for plain http. Raises OSError
    or ssl.SSLError when the CA bundle or the client certificate cannot be loaded."""
    if urllib.parse.urlsplit(str(url)).scheme != 'https':
        return None
    return ssl_context(validate_certs, ca_cert, client_cert, client_key)


def build_opener(context=None):
    """An opener that follows no redirect (and honours the usual *_proxy variables, like curl)."""
    handlers = [_NoRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def request(url, method='POST', data=None, headers=None, timeout=10, context=None, opener=None,
            max_answer=MAX_ANSWER):
    """One request; returns ``(status, text)`` for a 2xx answer, raises HTTPClientError otherwise."""
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    opener = opener or build_opener(context)
    try:
        with opener.open(req, timeout=timeout) as response:
            status = response.status
            text = response.read(max_answer).decode('utf-8', 'replace')
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            location = exc.headers.get('Location') if exc.headers else None
            target = public_url(urllib.parse.urljoin(url, location)) if location else 'no Location'
            raise HTTPClientError('HTTP %s redirect to %s refused: redirects are not followed (credentials must '
                                  'not leave for another origin); configure the final URL'
                                  % (exc.code, target), status=exc.code, location=location) from None
        try:
            text = exc.read(2000).decode('utf-8', 'replace')
        except Exception:  # pylint: disable=broad-except
            text = ''
        raise HTTPClientError('HTTP %s %s%s' % (exc.code, exc.reason, (': ' + text.strip()[:300])
                                                if text.strip() else ''), status=exc.code) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            raise HTTPClientError('TLS verification failed: %s; give the CA with ca_cert' % reason) from None
        raise HTTPClientError('cannot connect: %s' % reason) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise HTTPClientError('cannot connect: %s' % exc) from None
    if not 200 <= status < 300:
        raise HTTPClientError('HTTP %s' % status, status=status)
    return status, text
