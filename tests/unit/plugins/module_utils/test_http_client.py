# SPDX-License-Identifier: Apache-2.0
"""No credential leaves for another origin: the VNFM client and the alert webhook never follow a redirect.

Two real servers on 127.0.0.1: the first answers 302/307 pointing at the second; the second must receive
nothing.
"""

import json

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import state
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.delivery import SendError, auth_headers, http_request
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.notifier import notify
from ansible_collections.opnfv.escalator.tests.unit.plugins.modules.test_vnfm_notify import (
    SESSION, build, entry, params,
)


@pytest.fixture
def servers(http_server):
    """start(status=200, location=None): a server that records every request and answers ``status`` (with
    ``location``)."""
    def start(status=200, location=None):
        headers = {'Location': location} if location else {}
        return http_server(lambda _handler: (status, headers, b'{}'))
    return start


@pytest.mark.parametrize('code', [301, 302, 303, 307, 308])
def test_vnfm_client_does_not_follow_a_redirect_with_the_credentials(servers, code):
    other = servers()
    first = servers(code, other.url + '/steal?x=1')
    headers = auth_headers(dict(token='tok-secret', username='u', password='pw', headers={'X-API-Key': 'k1'}))
    with pytest.raises(SendError) as caught:
        http_request(first.url + '/maintenance', 'POST', dict(a=1), headers, timeout=3)
    assert other.requests == []
    assert len(first.requests) == 1
    assert caught.value.status == code
    assert 'redirect' in caught.value.msg and '127.0.0.1' in caught.value.msg and 'steal' in caught.value.msg
    assert 'x=1' not in caught.value.msg


@pytest.mark.parametrize('code', [302, 307])
def test_webhook_does_not_follow_a_redirect(servers, code):
    other = servers()
    first = servers(code, other.url + '/elsewhere')
    error = state.post_webhook(first.url + '/hook?token=abc', dict(kind='alert'), timeout=3)
    assert other.requests == []
    assert error is not None and 'redirect' in error and str(code) in error
    assert 'abc' not in error


def test_notification_redirected_is_unreachable_and_the_second_server_gets_nothing(cloud, servers):
    build(cloud)
    other = servers()
    first = servers(302, other.url + '/maintenance')
    with pytest.raises(Exception) as caught:
        notify(cloud, params(vnfm=[entry('vnf-a', first.url + '/maintenance', token='tok-secret')]))
    assert other.requests == []
    details = caught.value.details
    (record,) = [n for n in details['notifications'] if n['project_id'] == 'pa00000000000000000000000000000a']
    assert record['sent'] is False and 'redirect' in record['error']
    assert 'tok-secret' not in json.dumps(details)
    assert SESSION
