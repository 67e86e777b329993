# SPDX-License-Identifier: Apache-2.0
"""The base of Escalator's OpenStack modules: connection options, secret masking, error handling.

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

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

# The connection and the SDK error mapping are plain Python in connection.py (the unit tests patch connect here,
# where the module base looks it up). sdk_call is here only for the evacuation package, until it imports it from
# connection.py like every other engine.
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import (
    SDK_IMPORT_ERROR, cloud_secrets, connect, error_from_exception,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import sdk_call  # noqa: F401 pylint: disable=unused-import
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError


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
