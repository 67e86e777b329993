# SPDX-License-Identifier: Apache-2.0
"""SDK and keystoneauth exceptions become EscalatorErrors with the right code."""

from __future__ import annotations

import pytest
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_API, E_AUTH, E_CONNECT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception


def reraised_by_the_sdk(original):
    """What openstacksdk's Connection.authorize() does: a bare SDKException raised while handling."""
    try:
        try:
            raise original
        except ksa_exceptions.ClientException as exc:
            raise sdk_exceptions.SDKException(str(exc))  # pylint: disable=raise-missing-from  # as the SDK does
    except sdk_exceptions.SDKException as wrapped:
        return wrapped


@pytest.mark.parametrize('original, code, words', [
    (ksa_exceptions.ConnectFailure('Unable to establish connection to http://127.0.0.1:9/v3/auth/tokens'),
     E_CONNECT, 'cannot reach the OpenStack API'),
    (ksa_exceptions.Unauthorized('The request you have made requires authentication. (HTTP 401)'),
     E_AUTH, 'credentials rejected'),
])
def test_keystoneauth_errors_wrapped_by_the_sdk_keep_their_meaning(original, code, words):
    error = error_from_exception(reraised_by_the_sdk(original), during='authenticating')
    assert error.code == code
    assert error.msg.startswith('authenticating: ') and words in error.msg


def test_other_sdk_errors_are_api_errors():
    error = error_from_exception(sdk_exceptions.SDKException('something else'))
    assert error.code == E_API and 'something else' in error.msg


# --------------------------------------------------------------------------------------------------
# secrets of a `cloud` given as a dict never leave the module (results, invocation, log)
# --------------------------------------------------------------------------------------------------

PLANTED = dict(password='PLANTED-PW-1', token='PLANTED-TOKEN-2', secret='PLANTED-APPCRED-3',
               api_key='PLANTED-APIKEY-4', url_pw='PLANTED-URLPW-5')


def dict_cloud():
    return {
        'auth': {'auth_url': 'http://127.0.0.1:9/v3', 'username': 'admin', 'password': PLANTED['password'],
                 'project_name': 'admin', 'user_domain_name': 'Default', 'project_domain_name': 'Default',
                 'token': PLANTED['token'], 'application_credential_secret': PLANTED['secret'],
                 'nested': [{'my_api_key': PLANTED['api_key']}]},
        'region_name': 'RegionOne',
        'transport_url': 'rabbit://nova:%s@rabbit:5672/' % PLANTED['url_pw'],
    }


def run_real_module(monkeypatch, capsys, args, fail_with=None):
    """A module's main() with Ansible's real exit_json/fail_json: returns (stdout JSON, logged messages)."""
    import json

    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.opnfv.escalator.plugins.module_utils import openstack as os_utils
    from ansible_collections.opnfv.escalator.plugins.modules import compute_host_info

    logged = []
    monkeypatch.setattr(basic.AnsibleModule, 'log', lambda self, msg, log_args=None: logged.append((msg, log_args)))

    def connect(params, sdk=None):
        raise fail_with or EscalatorError('authenticating: cannot reach the OpenStack API', code=E_CONNECT)

    monkeypatch.setattr(os_utils, 'connect', connect)
    with patch_module_args(args), pytest.raises(SystemExit):
        compute_host_info.main()
    return json.loads(capsys.readouterr().out), repr(logged)


def assert_no_planted(text):
    leaked = [value for value in PLANTED.values() if value in text]
    assert not leaked, 'secrets leaked: %s in %s' % (leaked, text[:3000])


def test_a_dict_cloud_s_secrets_are_masked_in_the_result_and_the_log(monkeypatch, capsys):
    import json
    error = EscalatorError('authenticating with %s failed' % PLANTED['password'], code=E_AUTH,
                           request_url='http://x/?token=%s' % PLANTED['token'])
    result, logged = run_real_module(monkeypatch, capsys, dict(cloud=dict_cloud()), fail_with=error)
    assert result['failed'] and result['error_code'] == E_AUTH
    assert_no_planted(json.dumps(result))
    assert_no_planted(logged)
    # what is not secret stays readable
    cloud = result['invocation']['module_args']['cloud']
    assert cloud['auth']['username'] == 'admin' and cloud['region_name'] == 'RegionOne'


def test_a_dict_cloud_s_secrets_are_masked_when_the_arguments_are_refused(monkeypatch, capsys):
    import json
    result, logged = run_real_module(monkeypatch, capsys, dict(cloud=dict_cloud(), no_such_option=1))
    assert result['failed'] and 'no_such_option' in result['msg']
    assert_no_planted(json.dumps(result))
    assert_no_planted(logged)


def test_a_named_cloud_is_not_masked(monkeypatch, capsys):
    result = run_real_module(monkeypatch, capsys, dict(cloud='lab'))[0]
    assert result['invocation']['module_args']['cloud'] == 'lab'


def test_cloud_secrets_finds_every_secret_looking_value():
    from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import cloud_secrets
    assert cloud_secrets(dict_cloud()) == set(PLANTED.values())
    assert cloud_secrets('lab') == set() and cloud_secrets(None) == set()
