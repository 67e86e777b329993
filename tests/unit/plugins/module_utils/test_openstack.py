# SPDX-License-Identifier: Apache-2.0
"""SDK and keystoneauth exceptions become EscalatorErrors with the right code."""

from __future__ import annotations

import pytest
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_API, E_AUTH, E_CONNECT
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
