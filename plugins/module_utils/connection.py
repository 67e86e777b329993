# SPDX-License-Identifier: Apache-2.0
"""Connecting to OpenStack with openstacksdk, and what its errors mean: plain Python, no Ansible.

Every engine in module_utils (evacuation, maintenance, host_info, the lock, the VNFM look-ups) and the Python API
import this; only the module base (``openstack.OpenStackModule``) imports Ansible.

* ``connect(params)``: a connection from the openstack.cloud-style options (``cloud_config``)
* ``error_from_exception(exc, during)``: an openstacksdk / keystoneauth exception as an ``EscalatorError`` with a
  stable code (E_AUTH, E_FORBIDDEN, E_CONNECT, E_API) and a hint; ``sdk_call`` runs one call that way
* ``status_code(exc)``: the HTTP status of an SDK exception, or None
* ``cloud_secrets(value)``: the secret values inside a ``cloud`` option given as a dict
"""

from __future__ import annotations

import re
import traceback

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_API, E_AUTH, E_CONNECT, E_FORBIDDEN, EscalatorError,
)

SDK_IMPORT_ERROR = None
try:
    import openstack
    from openstack import exceptions as sdk_exceptions
except ImportError:  # pragma: no cover - reported by the module at run time
    openstack = None
    sdk_exceptions = None
    SDK_IMPORT_ERROR = traceback.format_exc()

try:
    from keystoneauth1 import exceptions as ksa_exceptions
except ImportError:  # pragma: no cover - installed with openstacksdk
    ksa_exceptions = None


# Keys of a `cloud` dict whose values are secrets (password, token, application_credential_secret,
# api_key, private keys...), and the password in a URL's user part (scheme://user:password@host).
SECRET_KEY = re.compile(r'pass|secret|token|key|totp|credential', re.IGNORECASE)
URL_PASSWORD = re.compile(r'://[^/@:\s]*:([^/@\s]+)@')


def cloud_secrets(value, secret=False):
    """The secret values in a `cloud` option given as a dict (recursively, `auth` included).

    A value is secret when any key on its path looks like one (SECRET_KEY); a URL's password is
    secret wherever it is. A cloud given by name has none.
    """
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= cloud_secrets(item, secret or bool(SECRET_KEY.search(str(key))))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= cloud_secrets(item, secret)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        if secret and text:
            found.add(text)
        found.update(match for match in URL_PASSWORD.findall(text) if match)
    return found


def sdk_list(during, func, *args, **kwargs):
    """Run one SDK listing to the end (the SDK pages lazily, so errors surface while iterating)."""
    return sdk_call(during, lambda: list(func(*args, **kwargs)))


def status_code(exc):
    """The HTTP status of an SDK or keystoneauth exception (``status_code``, else its response's), or None."""
    return getattr(exc, 'status_code', None) or getattr(getattr(exc, 'response', None), 'status_code', None)


def cloud_config(params):
    """Keyword arguments for openstack.connect() from the module parameters."""
    cloud = params.get('cloud')
    if isinstance(cloud, dict):
        config = dict(cloud)
    else:
        config = dict(
            cloud=cloud,
            auth=params.get('auth'),
            auth_type=params.get('auth_type'),
            region_name=params.get('region_name'),
            interface=params.get('interface'),
            verify=params.get('validate_certs'),
            cacert=params.get('ca_cert'),
            cert=params.get('client_cert'),
            key=params.get('client_key'),
            api_timeout=params.get('api_timeout'),
        )
    # Unset options must not override what clouds.yaml or OS_* variables say;
    # TLS verification stays on unless the configuration turns it off.
    return {key: value for key, value in config.items() if value is not None}


def connect(params, sdk=None):
    """Open (and authenticate) a connection; failures become EscalatorError."""
    sdk = sdk or openstack
    try:
        conn = sdk.connect(**cloud_config(params))
        conn.authorize()
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='authenticating') from exc
    return conn


def _hint_for_status(status):
    return {
        401: 'check the credentials (auth, cloud) and that the user exists in that domain',
        403: 'these credentials are not allowed to do this; compute services, migrations and '
             'all-projects listings need the admin role',
        404: 'the object does not exist (any more)',
        409: 'the object is busy or in a state that does not allow it; retry later',
    }.get(status)


def error_from_exception(exc, during=None):
    """Turn an openstacksdk / keystoneauth exception into an EscalatorError.

    The message keeps the server's own words and names the request that failed.
    """
    if isinstance(exc, EscalatorError):
        return exc
    prefix = ('%s: ' % during) if during else ''
    if sdk_exceptions is not None and isinstance(exc, sdk_exceptions.HttpException):
        status = getattr(exc, 'status_code', None)
        method = getattr(exc, 'method', None)
        url = getattr(exc, 'url', None)
        server_message = exc.details or exc.message or str(exc)
        request = ' '.join(part for part in (method, url) if part)
        msg = '%s%s%s' % (prefix, server_message, (' (%s %s)' % (status, request)) if request else
                          (' (HTTP %s)' % status if status else ''))
        hint = _hint_for_status(status)
        if hint:
            msg += ': ' + hint
        code = {401: E_AUTH, 403: E_FORBIDDEN}.get(status, E_API)
        return EscalatorError(msg, code=code, status_code=status, request_method=method,
                              request_url=url, request_id=getattr(exc, 'request_id', None))
    if ksa_exceptions is not None:
        if isinstance(exc, ksa_exceptions.SSLError):
            return EscalatorError('%sTLS verification failed: %s; give the CA with ca_cert rather than '
                                  'turning validate_certs off' % (prefix, exc), code=E_CONNECT)
        if isinstance(exc, (ksa_exceptions.ConnectFailure, ksa_exceptions.ConnectTimeout,
                            ksa_exceptions.EndpointNotFound, ksa_exceptions.DiscoveryFailure)):
            return EscalatorError('%scannot reach the OpenStack API: %s' % (prefix, exc), code=E_CONNECT)
        if isinstance(exc, ksa_exceptions.Unauthorized):
            return EscalatorError('%scredentials rejected: %s' % (prefix, exc), code=E_AUTH)
        if isinstance(exc, (ksa_exceptions.MissingRequiredOptions, ksa_exceptions.AuthPluginException)):
            return EscalatorError('%sincomplete credentials: %s' % (prefix, exc), code=E_AUTH)
        if isinstance(exc, ksa_exceptions.ClientException):
            return EscalatorError('%s%s' % (prefix, exc), code=E_API)
    if sdk_exceptions is not None and isinstance(exc, sdk_exceptions.ConfigException):
        return EscalatorError('%scloud configuration: %s (is the cloud named in clouds.yaml, or '
                              'OS_CLIENT_CONFIG_FILE set?)' % (prefix, exc), code=E_AUTH)
    if sdk_exceptions is not None and isinstance(exc, sdk_exceptions.SDKException):
        # Connection.authorize() re-raises keystoneauth's errors (refused connection, 401) as a bare
        # SDKException: classify the original one.
        cause = exc.__cause__ or exc.__context__
        if ksa_exceptions is not None and isinstance(cause, ksa_exceptions.ClientException):
            return error_from_exception(cause, during=during)
        return EscalatorError('%s%s' % (prefix, exc), code=E_API)
    raise exc


def sdk_call(during, func, *args, **kwargs):
    """Run one SDK call; its errors become EscalatorError naming the step (`during`)."""
    try:
        return func(*args, **kwargs)
    except EscalatorError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during=during) from exc
