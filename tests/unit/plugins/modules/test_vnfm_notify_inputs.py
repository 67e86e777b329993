# SPDX-License-Identifier: Apache-2.0
"""vnfm_notify: every bad input is refused with a clear error naming it, before anything is sent;
the listener's advertised address is coherent with what is bound; validate_entries() (no cloud)."""

import os
import urllib.parse

import pytest
import yaml

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_HOST_NOT_FOUND, E_INVALID_INPUT, E_VNFM, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.notifier import notify
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.options import validate_entries
from ansible_collections.opnfv.escalator.tests.unit.plugins.module_utils.test_vnfm import (  # noqa: F401  pylint: disable=unused-import
    fake_vnfm,
)
from ansible_collections.opnfv.escalator.tests.unit.plugins.modules.test_vnfm_notify import (
    build, closed_port_url, entry, params,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def refused(cloud, code=E_INVALID_INPUT, **overrides):
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(**overrides))
    assert caught.value.code == code, caught.value.msg
    return caught.value


# -- item 3: a VNFM entry that names no project ----------------------------------------------------

def test_an_entry_for_no_real_project_is_refused_before_anything_is_sent(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    error = refused(cloud, vnfm=[entry('vnf-A', a.url)])
    assert "'vnf-A'" in error.msg and 'vnf-a' in error.msg and 'did you mean' in error.msg
    assert error.details.get('option') == 'vnfm[0].project'
    assert a.received == []


def test_an_entry_for_no_real_project_is_refused_for_complete_too(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    refused(cloud, state='complete', vnfm=[entry('vnf-a', a.url), entry('no-such-project', a.url)])
    assert a.received == []


# -- item 4: the listener's address ---------------------------------------------------------------

@pytest.mark.parametrize('overrides, words', [
    (dict(reply_base_url='https://escalator.example:8443', listen_port=8443), 'listen_tls_cert'),
    (dict(reply_base_url='http://escalator.example:8000', listen_port=9000), 'listen_port'),
    (dict(reply_base_url='http://escalator.example:8000'), 'listen_port'),
    (dict(reply_base_url='http://escalator.example'), 'listen_port'),
    (dict(reply_base_url='ftp://escalator.example:8000', listen_port=8000), 'reply_base_url'),
    (dict(reply_base_url='http://escalator.example:80x', listen_port=80), 'reply_base_url'),
    (dict(reply_base_url='http://127.0.0.1:8000', listen_port=8000, listen_address='0.0.0.0'), 'loopback'),
    (dict(reply_base_url='http://[::1]:8000', listen_port=8000, listen_address='::'), 'loopback'),
    (dict(listen_port=70000), 'listen_port'),
    (dict(listen_port=-1), 'listen_port'),
])
def test_an_incoherent_listener_address_is_refused(cloud, fake_vnfm, overrides, words):
    build(cloud)
    a = fake_vnfm()
    error = refused(cloud, vnfm=[entry('vnf-a', a.url)], **overrides)
    assert words in error.msg
    assert a.received == []


def test_a_coherent_public_url_is_used(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    port = int(urllib.parse.urlsplit(closed_port_url()).port)
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url)], listen_port=port,
                                  reply_base_url='http://127.0.0.1:%d' % port))
    assert result['listener']['url'] == 'http://127.0.0.1:%d' % port
    assert result['projects']['pa00000000000000000000000000000a']['outcome'] == 'acked'


def test_the_default_reply_url_binding_all_addresses_is_the_address_that_routes_to_the_vnfm(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url)], listen_address='0.0.0.0'))
    (_event, payload), = a.payloads
    assert urllib.parse.urlsplit(payload['reply_url']).hostname == '127.0.0.1'
    assert result['projects']['pa00000000000000000000000000000a']['outcome'] == 'acked'


def test_complete_without_a_listener_advertises_no_reply_url(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm(behaviour='never')
    notify(cloud, params(state='complete', vnfm=[entry('vnf-a', a.url)]))
    (_event, payload), = a.payloads
    assert payload['reply_url'] is None


# -- item 5: every bad input named ------------------------------------------------------------------

@pytest.mark.parametrize('overrides, option', [
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1:9/x', reply_mode='poll',
                      poll_url='http://127.0.0.1:9/{session_id}/{sesion}')]), 'poll_url'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1:9/x', reply_mode='poll', poll_url='http://127.0.0.1:9/{0}')]),
     'poll_url'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1:abc/x')]), 'url'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1:99999/x')]), 'url'),
    (dict(vnfm=[entry('vnf-a', 'http:///x')]), 'url'),
    (dict(reply_timeout=-1), 'reply_timeout'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1:9/x', reply_timeout=-5)]), 'reply_timeout'),
    (dict(send_retries=-1), 'send_retries'),
    (dict(send_timeout=0), 'send_timeout'),
    (dict(poll_interval=0), 'poll_interval'),
    (dict(session_id=''), 'session_id'),
    (dict(session_id='  '), 'session_id'),
    (dict(admin_endpoints=[dict(url='http://127.0.0.1:x/')]), 'admin_endpoints'),
])
def test_bad_input_is_refused_naming_the_option(cloud, overrides, option):
    build(cloud)
    error = refused(cloud, **overrides)
    assert option in error.msg
    assert option in error.details.get('option', '')


def test_an_unknown_host_is_e_host_not_found_naming_the_known_hosts(cloud):
    build(cloud)
    error = refused(cloud, code=E_HOST_NOT_FOUND, host='compute9')
    assert 'compute9' in error.msg and 'compute1' in error.msg


def test_e_vnfm_names_the_project_and_the_wording_fits_the_state(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm(behaviour='nack')
    planned = refused(cloud, code=E_VNFM, vnfm=[entry('vnf-a', a.url)])
    assert 'vnf-a' in planned.msg and 'must not be taken down' in planned.msg
    complete = refused(cloud, code=E_VNFM, state='complete', wait_complete=True, vnfm=[entry('vnf-a', a.url)])
    assert 'vnf-a' in complete.msg
    assert 'must not be taken down' not in complete.msg


# -- item 6: validate_entries, and the example inventory ---------------------------------------------

def example_entries():
    """The commented VNFM entry of inventories/example/group_vars/all.yml, as YAML."""
    with open(os.path.join(ROOT, 'inventories', 'example', 'group_vars', 'all.yml'), encoding='utf-8') as handle:
        lines = handle.read().splitlines()
    start = lines.index('escalator_vnfm: []') + 1
    block = []
    for line in lines[start:]:
        if not line.startswith('#   ') and not line.startswith('#     '):
            break
        block.append(line[2:])
    assert block, 'no example entry under escalator_vnfm'
    return yaml.safe_load('\n'.join(block))


def test_the_example_inventory_entry_passes_the_real_validation():
    entries = example_entries()
    assert entries and entries[0]['project'] == 'vnf-a'
    validate_entries(entries)


@pytest.mark.parametrize('entries, option, words', [
    ([dict(project='a', url='https://v/x', auth=dict(token='t'))], 'vnfm[0].auth', 'unknown option'),
    ([dict(project='a', url='https://v/x', default_action='LIVE_MIGRATE')], 'vnfm[0].default_action', 'live'),
    ([dict(url='https://v/x')], 'vnfm[0].project', 'required'),
    ([dict(project='a', url='http://vnfm.example.net/x')], 'vnfm[0].url', 'insecure_http'),
    ([dict(project='a', url='https://v/x', delivery='kafka')], 'vnfm[0].delivery', 'fenix'),
    ([dict(project='a', url='https://v/x', reply_timeout='soon')], 'vnfm[0].reply_timeout', 'integer'),
    ([dict(project='a', url='https://v/x'), dict(project='a', url='https://w/x')], 'vnfm[1].project', 'same'),
    ('not a list', 'vnfm', 'list'),
    ([dict(project='a', url='https://v/x', reply_mode='poll', poll_url='https://v/{nope}')],
     'vnfm[0].poll_url', 'nope'),
])
def test_validate_entries_names_what_is_wrong(entries, option, words):
    with pytest.raises(EscalatorError) as caught:
        validate_entries(entries)
    assert caught.value.code == E_INVALID_INPUT
    assert caught.value.details['option'] == option
    assert option in caught.value.msg and words in caught.value.msg


def test_validate_entries_accepts_loopback_http_and_explicit_insecure_http():
    validate_entries([dict(project='a', url='http://127.0.0.1:9310/maintenance'),
                      dict(project='b', url='http://vnfm.example.net/x', insecure_http=True),
                      dict(project='c', url='https://vnfm.example.net/x', token='t', on_timeout='proceed')],
                     admin_endpoints=[dict(url='https://billing.example.net/hook')])
    with pytest.raises(EscalatorError) as caught:
        validate_entries([], admin_endpoints=[dict(url='http://billing.example.net/hook')])
    assert caught.value.details['option'] == 'admin_endpoints[0].url'
