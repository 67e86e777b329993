# SPDX-License-Identifier: Apache-2.0
"""Run a module's main() in-process, the way the module unit tests need it."""

from __future__ import annotations

from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.opnfv.escalator.plugins.module_utils import openstack as os_utils


class Exit(Exception):
    pass


class Fail(Exception):
    pass


def run_module(module, fake=None, check_mode=False, diff=False, **args):
    """Returns (outcome, result, warnings, connect): outcome 'exit' or 'fail'; `connect` is the mock that
    handed out `fake` as the connection (not patched when `fake` is None)."""
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    warnings = []

    def exit_json(self, **result):
        raise Exit(result)

    def fail_json(self, msg, **result):
        result['msg'] = msg
        raise Fail(result)

    connect = mock.patch.object(os_utils, 'connect', return_value=fake) if fake is not None else mock.MagicMock()
    with patch_module_args(args), connect as connect_mock, \
            mock.patch.object(basic.AnsibleModule, 'exit_json', exit_json), \
            mock.patch.object(basic.AnsibleModule, 'fail_json', fail_json), \
            mock.patch.object(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg)):
        try:
            module.main()
        except Exit as done:
            return 'exit', done.args[0], warnings, connect_mock
        except Fail as failed:
            return 'fail', failed.args[0], warnings, connect_mock
    raise AssertionError('the module neither exited nor failed')
