# SPDX-License-Identifier: Apache-2.0
"""The options of a notification session, checked completely before the cloud is asked anything:
the ``vnfm`` and ``admin_endpoints`` entries (their argument spec is here, the one home of their
defaults) and the module's other options."""

from __future__ import annotations

import difflib
import ipaddress
import re
import string
from urllib import parse as urlparse

from ansible_collections.opnfv.escalator.plugins.module_utils import http_client
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.listener import ANY_ADDRESSES
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import POLICIES

POLL_PLACEHOLDERS = ('session_id', 'project_id', 'state')


def endpoint_options(project=True):
    """The options of a ``vnfm`` entry (``project=True``) or an ``admin_endpoints`` entry, as an Ansible
    argument spec; vnfm_notify uses it and validate_entries() checks raw entries against it."""
    options = dict(
        url=dict(type='str', required=True),
        delivery=dict(type='str', default='fenix', choices=['fenix', 'aodh']),
        token=dict(type='str', no_log=True),
        token_header=dict(type='str', default='X-Auth-Token', no_log=False),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        headers=dict(type='dict', no_log=True),
        validate_certs=dict(type='bool', default=True),
        ca_cert=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path', no_log=False),
        insecure_http=dict(type='bool', default=False),
    )
    if project:
        options.update(
            project=dict(type='str', required=True),
            granularity=dict(type='str', default='project', choices=['project', 'instance']),
            instance_ids_format=dict(type='str', default='list', choices=['list', 'url']),
            reply_mode=dict(type='str', default='listener', choices=['listener', 'poll']),
            poll_url=dict(type='str'),
            reply_timeout=dict(type='int'),
            on_nack=dict(type='str', choices=list(POLICIES)),
            on_timeout=dict(type='str', choices=list(POLICIES)),
            on_unreachable=dict(type='str', choices=list(POLICIES)),
            default_action=dict(type='str', choices=['live', 'cold']),
        )
    return options


# Every optional endpoint option at its default: entries given to notify() directly, not through the
# module's argument spec, may leave options out.
DEFAULT_ENDPOINT = {name: rules.get('default') for name, rules in endpoint_options().items()
                    if not rules.get('required')}


def _invalid(option, msg, **details):
    return EscalatorError('%s: %s' % (option, msg), code=E_INVALID_INPUT, option=option, **details)


_TRUE = ('yes', 'on', '1', 'true', 'y', 't')
_FALSE = ('no', 'off', '0', 'false', 'n', 'f')


def _convert(option, kind, value):
    """A raw (YAML / templated) value as the module would take it, or E_INVALID_INPUT."""
    if kind in ('str', 'path'):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _invalid(option, 'must be a string, not %s' % type(value).__name__)
        return str(value)
    if kind == 'int':
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.match(r'^\s*-?\d+\s*$', value):
            return int(value)
        raise _invalid(option, 'must be an integer, not %r' % (value,))
    if kind == 'bool':
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise _invalid(option, 'must be true or false, not %r' % (value,))
    if kind == 'dict':
        if not isinstance(value, dict):
            raise _invalid(option, 'must be a mapping, not %s' % type(value).__name__)
        return value
    return value


def is_loopback(host):
    if not host:
        return False
    if host.lower() == 'localhost' or host.lower().endswith('.localhost'):
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def check_url(option, url, insecure_http=False, insecure_option=None):
    """Refuse a URL that is not http(s)://host[:port]/..., whose port is not a number in 1-65535, or
    that is plain http to an address other than the loopback without the explicit opt-in."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid(option, 'give an http:// or https:// URL')
    try:
        parts = urlparse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(option, '%s is not a valid URL: the port must be a number in 1-65535 (%s)'
                       % (http_client.redact_url(url), exc)) from None
    if parts.scheme not in ('http', 'https'):
        raise _invalid(option, '%s must be an http:// or https:// URL' % http_client.redact_url(url))
    if not parts.hostname:
        raise _invalid(option, '%s has no host' % http_client.redact_url(url))
    if port == 0:
        raise _invalid(option, '%s: the port must be a number in 1-65535' % http_client.redact_url(url))
    if parts.scheme == 'http' and not insecure_http and not is_loopback(parts.hostname):
        raise _invalid(option, '%s is plain http to %s: the notification and its credentials would cross the '
                               'network in clear; use https, or set %s: true to accept that'
                       % (http_client.redact_url(url), parts.hostname, insecure_option or 'insecure_http'))
    return parts


def check_poll_url(option, url):
    try:
        fields = [field for _text, field, _spec, _conv in string.Formatter().parse(url) if field is not None]
    except ValueError as exc:
        raise _invalid(option, 'is not a valid template (%s); placeholders are %s'
                       % (exc, ', '.join('{%s}' % name for name in POLL_PLACEHOLDERS))) from None
    for field in fields:
        if field not in POLL_PLACEHOLDERS:
            raise _invalid(option, 'unknown placeholder {%s}; the placeholders are %s'
                           % (field, ', '.join('{%s}' % name for name in POLL_PLACEHOLDERS)))


def _normalize(option, entry, spec):
    if not isinstance(entry, dict):
        raise _invalid(option, 'each entry must be a mapping, not %s' % type(entry).__name__)
    unknown = sorted(str(key) for key in entry if key not in spec)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(spec), n=1)
        raise _invalid('%s.%s' % (option, unknown[0]), 'unknown option%s; the options are %s'
                       % ((' (did you mean %s?)' % hint[0]) if hint else '', ', '.join(sorted(spec))))
    result = {}
    for name, rules in spec.items():
        value = entry.get(name)
        where = '%s.%s' % (option, name)
        if value is None:
            if rules.get('required'):
                raise _invalid(where, 'is required')
            result[name] = rules.get('default')
            continue
        value = _convert(where, rules['type'], value)
        if rules.get('choices') and value not in rules['choices']:
            raise _invalid(where, '%r is not one of %s' % (value, ', '.join(rules['choices'])))
        result[name] = value
    return result


def _check_endpoint(option, entry, project=True):
    insecure = '%s.insecure_http' % option
    check_url('%s.url' % option, entry['url'], entry.get('insecure_http'), insecure)
    header = entry.get('token_header') or 'X-Auth-Token'
    if not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", header):
        raise _invalid('%s.token_header' % option, '%r is not an HTTP header name' % header)
    for name, value in (entry.get('headers') or {}).items():
        if not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", str(name)) or re.search(r'[\r\n]', str(value)):
            raise _invalid('%s.headers' % option, 'header %r is not a valid HTTP header (name, one-line value)'
                           % str(name))
    if (entry.get('username') is None) != (entry.get('password') is None):
        raise _invalid('%s.username' % option, 'give both username and password for basic auth')
    if entry.get('client_key') and not entry.get('client_cert'):
        raise _invalid('%s.client_key' % option, 'client_key needs client_cert')
    if not project:
        return
    if not str(entry['project']).strip():
        raise _invalid('%s.project' % option, 'is empty: give the project\'s Keystone name or ID')
    if entry.get('reply_timeout') is not None and entry['reply_timeout'] < 1:
        raise _invalid('%s.reply_timeout' % option, 'must be at least 1 second, not %s' % entry['reply_timeout'])
    if entry.get('reply_mode') == 'poll':
        if not entry.get('poll_url'):
            raise _invalid('%s.poll_url' % option, 'reply_mode poll needs poll_url')
        if entry.get('instance_ids_format') == 'url':
            raise _invalid('%s.instance_ids_format' % option,
                           'instance_ids_format url needs the listener (reply_mode listener)')
    if entry.get('poll_url'):
        check_poll_url('%s.poll_url' % option, entry['poll_url'])
        check_url('%s.poll_url' % option, entry['poll_url'].format(session_id='s', project_id='p', state='S'),
                  entry.get('insecure_http'), insecure)


def validate_entries(entries, admin_endpoints=None):
    """Check VNFM entries (the ``vnfm`` option / ``escalator_vnfm``) and admin endpoints completely,
    without the cloud: known options only, types, choices, URLs (scheme, host, port), plain http only to
    the loopback or with ``insecure_http: true``, poll_url placeholders, auth form, one entry per project.

    Returns ``(vnfm_entries, admin_entries)`` with every option filled in (defaults). Raises
    EscalatorError(E_INVALID_INPUT) whose ``msg`` starts with and whose ``details['option']`` is the
    option at fault, for example ``vnfm[0].url``. Whether each project exists needs Keystone: notify()
    checks that before sending anything.
    """
    result = []
    for name, values, project in (('vnfm', entries, True), ('admin_endpoints', admin_endpoints, False)):
        values = [] if values is None else values
        if not isinstance(values, (list, tuple)):
            raise _invalid(name, 'must be a list of entries, not %s' % type(values).__name__)
        spec = endpoint_options(project)
        normalized = []
        seen = {}
        for index, entry in enumerate(values):
            option = '%s[%d]' % (name, index)
            full = _normalize(option, entry, spec)
            _check_endpoint(option, full, project)
            if project:
                if full['project'] in seen:
                    raise _invalid('%s.project' % option, 'the same project %r as vnfm[%d]: one entry per project'
                                   % (full['project'], seen[full['project']]))
                seen[full['project']] = index
            normalized.append(full)
        result.append(normalized)
    return result[0], result[1]


def validate_params(params):
    """The module's other options (E_INVALID_INPUT naming the option): bounds, and a reply_base_url that
    matches what the listener binds (scheme and TLS, port, no loopback URL when binding every address)."""
    session = params.get('session_id')
    if not isinstance(session, str) or not session.strip():
        raise _invalid('session_id', 'is empty: give the campaign id')
    for name, low in (('reply_timeout', 1), ('send_timeout', 1), ('send_retries', 0)):
        value = params.get(name)
        if value is not None and value < low:
            raise _invalid(name, 'must be at least %d, not %s' % (low, value))
    interval = params.get('poll_interval')
    if interval is not None and not interval > 0:
        raise _invalid('poll_interval', 'must be more than 0 seconds, not %s' % interval)
    port = params.get('listen_port') or 0
    if not 0 <= port <= 65535:
        raise _invalid('listen_port', '%s is not a port (1-65535, or 0 for any free port)' % port)
    cert, key = params.get('listen_tls_cert'), params.get('listen_tls_key')
    if bool(cert) != bool(key):
        raise _invalid('listen_tls_cert', 'give listen_tls_cert and listen_tls_key together')
    base = params.get('reply_base_url')
    if not base:
        return
    try:
        parts = urlparse.urlsplit(base)
        base_port = parts.port
    except ValueError as exc:
        raise _invalid('reply_base_url', '%s: the port must be a number in 1-65535 (%s)'
                       % (http_client.redact_url(base), exc)) from None
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise _invalid('reply_base_url', '%s must be http(s)://host[:port]' % http_client.redact_url(base))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _invalid('reply_base_url', 'must have no user, query or fragment')
    if (parts.scheme == 'https') != bool(cert):
        raise _invalid('reply_base_url', 'is %s but the listener %s: %s' % (
            parts.scheme, 'has a certificate (listen_tls_cert), so it speaks https only' if cert
            else 'has no certificate (listen_tls_cert), so it speaks plain http', 'make them agree'))
    base_port = base_port or (443 if parts.scheme == 'https' else 80)
    if not port:
        raise _invalid('listen_port', 'is 0 (any free port), so no reply_base_url can name it: set listen_port '
                                      'to the port of reply_base_url (%d)' % base_port)
    if base_port != port:
        raise _invalid('listen_port', 'the listener binds port %d but reply_base_url names port %d: they must be '
                                      'equal' % (port, base_port))
    if (params.get('listen_address') or '0.0.0.0') in ANY_ADDRESSES and is_loopback(parts.hostname):
        raise _invalid('reply_base_url', '%s is a loopback address but the listener binds every address for '
                                         'VNFMs elsewhere: give the address they reach'
                       % http_client.redact_url(base))
