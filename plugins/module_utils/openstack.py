# SPDX-License-Identifier: Apache-2.0
"""Connection to OpenStack for Escalator's modules, on openstacksdk directly.

The authentication options have the names and meanings of the openstack.cloud
collection's (cloud, auth, auth_type, region_name, interface, validate_certs,
ca_cert, client_cert, client_key, api_timeout, wait, timeout) so playbooks and
module_defaults written for it work unchanged, but nothing here depends on
openstack.cloud.

A module is a small adapter::

    def run(module, conn):          # the logic lives in module_utils, tested without Ansible
        return dict(changed=False, ...)

    def main():
        OpenStackModule(argument_spec=dict(...)).run(run)
"""

from __future__ import annotations

import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

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


def openstack_argument_spec(**extra):
    """The common connection options, merged with a module's own options."""
    spec = dict(
        cloud=dict(type='raw'),
        auth=dict(type='dict', no_log=True),
        auth_type=dict(type='str'),
        region_name=dict(type='str'),
        interface=dict(type='str', default='public', choices=['public', 'internal', 'admin'],
                       aliases=['endpoint_type']),
        validate_certs=dict(type='bool', aliases=['verify']),
        ca_cert=dict(type='path', aliases=['cacert']),
        client_cert=dict(type='path', aliases=['cert']),
        client_key=dict(type='path', no_log=False, aliases=['key']),
        api_timeout=dict(type='int'),
        wait=dict(type='bool', default=True),
        timeout=dict(type='int', default=600),
    )
    spec.update(extra)
    return spec


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


class SecretMaskingModule(AnsibleModule):
    """AnsibleModule that knows the secrets inside its dict options before anything is logged or returned.

    Such options (a dict `cloud`, every escalator_* setting handed to campaign_settings) cannot be no_log: every
    plain value in them (a cloud name, "proceed") would then be masked everywhere. So the secret values inside them
    (cloud_secrets: keys that look like secrets, passwords in URLs) are added to no_log_values as soon as the
    parameters are loaded: before the argument validation (whose failure returns the invocation), the
    syslog/journal line of the invocation and every result, where Ansible replaces them with ********.
    ``secret_options`` names the options to search (default: ``cloud`` when it is a dict).
    """

    def __init__(self, *args, secret_options=('cloud',), **kwargs):
        self._secret_options = tuple(secret_options)
        super().__init__(*args, **kwargs)

    def _load_params(self):
        super()._load_params()
        params = self.params if isinstance(self.params, dict) else {}
        for name in self._secret_options:
            if isinstance(params.get(name), (dict, list)):
                self.no_log_values.update(cloud_secrets(params[name]))


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


class OpenStackModule:
    """An AnsibleModule with Escalator's connection options and error handling."""

    def __init__(self, argument_spec, supports_check_mode=True, **kwargs):
        self.ansible = SecretMaskingModule(argument_spec=openstack_argument_spec(**argument_spec),
                                           supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.ansible.params
        self._conn = None

    @property
    def check_mode(self):
        return self.ansible.check_mode

    @property
    def conn(self):
        if self._conn is None:
            self._conn = connect(self.params)
        return self._conn

    def run(self, action):
        """Call action(module, conn) and exit with its result dict, or fail cleanly."""
        if SDK_IMPORT_ERROR:
            self.ansible.fail_json(msg=missing_required_lib('openstacksdk'), exception=SDK_IMPORT_ERROR)
        try:
            result = action(self, self.conn)
        except EscalatorError as exc:
            self.ansible.fail_json(**exc.to_result())
        except Exception as exc:  # pylint: disable=broad-except
            try:
                error = error_from_exception(exc)
            except Exception:  # pylint: disable=broad-except
                self.ansible.fail_json(msg='unexpected error: %s' % exc, exception=traceback.format_exc())
            self.ansible.fail_json(**error.to_result())
        # Warnings go through AnsibleModule.warn: passing `warnings` to exit_json is deprecated.
        for warning in result.pop('warnings', None) or []:
            self.ansible.warn(warning)
        self.ansible.exit_json(**result)
