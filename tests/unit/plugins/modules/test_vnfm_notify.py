# SPDX-License-Identifier: Apache-2.0
"""vnfm_notify end to end on the fake cloud: real HTTP to fake VNFMs on 127.0.0.1 and real
replies to the module's callback listener."""

import json
import socket
import threading
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, E_VNFM, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.notifier import notify
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import ACTIONS
from ansible_collections.opnfv.escalator.plugins.modules import vnfm_notify
from ansible_collections.opnfv.escalator.tests.unit.plugins.module_utils.test_vnfm import (  # noqa: F401  pylint: disable=unused-import
    decode_notification, fake_vnfm,
)

SESSION = 'campaign-7'


def build(cloud):
    """compute1 holds vnf-a's active, vnf-b's active and a tenant server with no VNFM."""
    for name in ('compute1', 'compute2', 'compute3'):
        cloud.add_host(name)
    pa = cloud.add_project('vnf-a', 'pa00000000000000000000000000000a')
    pb = cloud.add_project('vnf-b', 'pb00000000000000000000000000000b')
    pt = cloud.add_project('tenant', 'pt00000000000000000000000000000t')
    ga = cloud.add_group('vnf-a-pair', project_id=pa)
    gb = cloud.add_group('vnf-b-pair', project_id=pb)
    servers = dict(
        a_active=cloud.add_server('vnf-a-active', 'compute1', project_id=pa, group=ga,
                                  metadata={'vnf': 'vnf-a', 'escalator_role': 'active'}),
        a_standby=cloud.add_server('vnf-a-standby', 'compute2', project_id=pa, group=ga,
                                   metadata={'vnf': 'vnf-a', 'escalator_role': 'standby'}),
        b_active=cloud.add_server('vnf-b-active', 'compute1', project_id=pb, group=gb),
        b_extra=cloud.add_server('vnf-b-extra', 'compute1', project_id=pb),
        b_standby=cloud.add_server('vnf-b-standby', 'compute3', project_id=pb, group=gb),
        web=cloud.add_server('tenant-web', 'compute1', project_id=pt),
    )
    return dict(pa=pa, pb=pb, pt=pt), {key: server.id for key, server in servers.items()}


def params(**overrides):
    """The module's parameters with their defaults, as AnsibleModule would hand them over."""
    result = dict(state='planned', host='compute1', instances=None, projects=None, session_id=SESSION, vnfm=[],
                  admin_endpoints=[], allowed_actions=list(ACTIONS), reply_timeout=10, wait_complete=False,
                  on_nack='fail', on_timeout='fail', on_unreachable='fail', default_action='live',
                  unmanaged_action='live', metadata={}, service_name='escalator', listen_address='127.0.0.1',
                  listen_port=0, reply_base_url=None, listen_tls_cert=None, listen_tls_key=None, send_timeout=5,
                  send_retries=0, poll_interval=0.2)
    result.update(overrides)
    return result


def entry(project, url, **extra):
    value = dict(project=project, url=url, delivery='fenix', granularity='project', instance_ids_format='list',
                 reply_mode='listener', poll_url=None, token=None, token_header='X-Auth-Token', username=None,
                 password=None, headers=None, validate_certs=True, ca_cert=None, client_cert=None, client_key=None,
                 reply_timeout=None, on_nack=None, on_timeout=None, on_unreachable=None, default_action=None)
    value.update(extra)
    return value


def closed_port_url():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return 'http://127.0.0.1:%d/maintenance' % port


# -- planned: the happy path ------------------------------------------------------------

def test_planned_notifies_each_project_and_returns_their_decisions(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(action='OWN_ACTION')
    b = fake_vnfm(actions={ids['b_active']: 'LIVE_MIGRATE', ids['b_extra']: 'MIGRATE'})
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url, token='secret-a'), entry(projects['pb'], b.url)]))

    assert result['decisions'] == {ids['a_active']: 'own_action', ids['b_active']: 'live', ids['b_extra']: 'cold',
                                   ids['web']: 'live'}
    assert result['changed'] is True
    assert result['state'] == 'PLANNED_MAINTENANCE'
    # instances are listed with compute_host (Nova ignores `host` for all-projects listings)
    listings = [call[1] for call in cloud.calls if call[0] == 'servers']
    assert listings == [dict(all_projects=True, compute_host='compute1')]

    pa = result['projects'][projects['pa']]
    assert pa['project'] == 'vnf-a'
    assert pa['outcome'] == 'acked' and pa['policy'] == 'accepted'
    assert pa['reply'] == dict(state='ACK_PLANNED_MAINTENANCE', ack=True,
                               instance_actions={ids['a_active']: 'OWN_ACTION'})
    assert pa['seconds'] is not None and pa['defaulted'] == []
    assert result['projects'][projects['pt']] == dict(
        project=projects['pt'], outcome='no_vnfm', policy='default', vnfm=None, delivery=None, granularity=None,
        instances=[ids['web']], reply=None, replies={}, seconds=None, decisions={ids['web']: 'live'}, defaulted=[],
        error=None)

    # what the VNFM received: the oslo envelope, the exact Fenix payload, its token header
    (received,) = a.received
    assert received['headers']['X-Auth-Token'] == 'secret-a'
    body = received['body']
    assert body['event_type'] == 'maintenance.scheduled' and body['priority'] == 'INFO'
    payload = body['payload']
    assert list(payload) == ['service', 'project_id', 'session_id', 'state', 'instance_ids', 'allowed_actions',
                             'reply_url', 'actions_at', 'reply_at', 'metadata']
    assert payload['project_id'] == projects['pa'] and payload['session_id'] == SESSION
    assert payload['instance_ids'] == [ids['a_active']]
    assert payload['allowed_actions'] == ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION']
    assert payload['metadata'] == {'escalator_host': 'compute1'}
    assert payload['reply_url'].startswith('http://127.0.0.1:%d/v1/maintenance/%s/%s?token='
                                           % (int(result['listener']['url'].rsplit(':', 1)[1]), SESSION,
                                              projects['pa']))
    assert payload['actions_at'] == payload['reply_at']
    # the tokens never appear in the result
    token = payload['reply_url'].split('token=')[1]
    assert token not in json.dumps(result)
    assert result['notifications'][0]['body']['payload']['reply_url'].endswith('token=********')
    assert b.payloads[0][1]['reply_url'].split('token=')[1] != token       # one token per project
    assert result['rejected_replies'] == []


def test_ack_that_leaves_an_instance_out_gives_it_the_default_action(cloud, fake_vnfm):
    projects, ids = build(cloud)
    b = fake_vnfm(actions={ids['b_active']: 'OWN_ACTION'})
    b.behaviour = 'ack'
    original = b.instance_ids
    b.instance_ids = lambda payload: [i for i in original(payload) if i == ids['b_active']]
    result = notify(cloud, params(vnfm=[entry('vnf-b', b.url, default_action='cold')]))
    assert result['decisions'][ids['b_active']] == 'own_action'
    assert result['decisions'][ids['b_extra']] == 'cold'
    assert result['projects'][projects['pb']]['defaulted'] == [ids['b_extra']]


# -- policies ------------------------------------------------------------------------------

def test_nack_fails_by_default_with_per_project_details(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(behaviour='nack')
    b = fake_vnfm()
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(vnfm=[entry('vnf-a', a.url), entry('vnf-b', b.url)]))
    error = caught.value
    assert error.code == E_VNFM
    assert 'project vnf-a (%s): the VNFM refused (NACK_PLANNED_MAINTENANCE)' % projects['pa'] in error.msg
    assert error.details['projects'][projects['pa']]['outcome'] == 'nacked'
    assert error.details['projects'][projects['pa']]['policy'] == 'fail'
    assert error.details['projects'][projects['pb']]['outcome'] == 'acked'
    assert ids['a_active'] not in error.details['decisions']


def test_nack_with_proceed_uses_the_default_action(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(behaviour='nack')
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url, on_nack='proceed', default_action='cold')]))
    assert result['decisions'][ids['a_active']] == 'cold'
    assert result['projects'][projects['pa']]['outcome'] == 'nacked'
    assert result['projects'][projects['pa']]['policy'] == 'proceed'


def test_no_reply_times_out_and_fails(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm(behaviour='never')
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(reply_timeout=1, vnfm=[entry('vnf-a', a.url)]))
    assert caught.value.code == E_VNFM
    assert 'no reply within 1s' in caught.value.msg
    assert caught.value.details['projects'][projects['pa']]['outcome'] == 'timed_out'


def test_late_reply_after_the_project_timeout_is_a_timeout(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(delay=2.5)
    b = fake_vnfm(action='LIVE_MIGRATE')
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url, reply_timeout=1, on_timeout='proceed'),
                                        entry('vnf-b', b.url)]))
    assert result['projects'][projects['pa']]['outcome'] == 'timed_out'
    assert result['projects'][projects['pa']]['policy'] == 'proceed'
    assert result['decisions'][ids['a_active']] == 'live'
    assert result['projects'][projects['pb']]['outcome'] == 'acked'


def test_a_late_reply_within_the_timeout_is_waited_for(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(delay=1.0, action='OWN_ACTION')
    result = notify(cloud, params(reply_timeout=10, vnfm=[entry('vnf-a', a.url)]))
    assert result['projects'][projects['pa']]['outcome'] == 'acked'
    assert result['projects'][projects['pa']]['seconds'] >= 1.0
    assert result['decisions'][ids['a_active']] == 'own_action'


def test_unreachable_vnfm_fails_or_proceeds(cloud, fake_vnfm):
    projects, ids = build(cloud)
    url = closed_port_url()
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(vnfm=[entry('vnf-a', url)]))
    assert caught.value.code == E_VNFM
    record = caught.value.details['projects'][projects['pa']]
    assert record['outcome'] == 'unreachable' and 'cannot connect' in record['error']

    result = notify(cloud, params(vnfm=[entry('vnf-a', url, on_unreachable='proceed')]))
    assert result['projects'][projects['pa']]['outcome'] == 'unreachable'
    assert result['decisions'][ids['a_active']] == 'live'
    assert result['notifications'][0]['sent'] is False


def test_vnfm_refusing_the_notification_is_unreachable_without_retries(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm(behaviour='http500')
    result = notify(cloud, params(send_retries=1, vnfm=[entry('vnf-a', a.url, on_unreachable='proceed')]))
    record = result['projects'][projects['pa']]
    assert record['outcome'] == 'unreachable' and 'HTTP 500' in record['error']
    assert result['notifications'][0]['attempts'] == 2 and len(a.received) == 2


def test_the_back_off_between_send_attempts_sleeps_through_the_injected_sleep(cloud, fake_vnfm):
    _projects, _ids = build(cloud)
    a = fake_vnfm(behaviour='http500')
    slept = []
    started = time.monotonic()
    result = notify(cloud, params(send_retries=2, vnfm=[entry('vnf-a', a.url, on_unreachable='proceed')]),
                    sleep=slept.append)
    assert slept == [2.0, 4.0]                      # the growing pause, through the sleep given to notify()
    assert time.monotonic() - started < 2.0         # not on the wall clock
    assert result['notifications'][0]['attempts'] == 3 and len(a.received) == 3


def test_garbage_reply_is_rejected_logged_and_times_out(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm(behaviour='garbage')
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(reply_timeout=1, vnfm=[entry('vnf-a', a.url)]))
    details = caught.value.details
    assert details['projects'][projects['pa']]['outcome'] == 'timed_out'
    assert [r['status'] for r in details['rejected_replies']] == [400]
    assert a.replies[0][2] == 400 and 'not valid JSON' in a.replies[0][3]['error']['message']


def test_reply_with_a_disallowed_action_is_refused_and_the_project_times_out(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm(action='OWN_ACTION')
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(reply_timeout=1, allowed_actions=['LIVE_MIGRATE', 'MIGRATE'],
                             vnfm=[entry('vnf-a', a.url)]))
    assert caught.value.details['rejected_replies'][0]['status'] == 422
    assert a.payloads[0][1]['allowed_actions'] == ['LIVE_MIGRATE', 'MIGRATE']


def test_unmanaged_fail_refuses_before_sending_anything(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(unmanaged_action='fail', vnfm=[entry('vnf-a', a.url)]))
    assert caught.value.code == E_VNFM
    assert 'no VNFM is configured' in caught.value.msg
    assert a.received == []


# -- delivery shapes and modes ----------------------------------------------------------------

def test_tacker_style_aodh_alarm_one_notification_per_instance_single_action(cloud, fake_vnfm):
    projects, ids = build(cloud)
    b = fake_vnfm(behaviour='single', action='MIGRATE')
    result = notify(cloud, params(vnfm=[entry('vnf-b', b.url, delivery='aodh', granularity='instance')]))
    assert len(b.received) == 2
    for received in b.received:
        assert received['body']['reason_data']['event']['event_type'] == 'maintenance.scheduled'
    notified = sorted(payload['instance_ids'][0] for _event, payload in b.payloads)
    assert notified == sorted([ids['b_active'], ids['b_extra']])
    for _event, payload in b.payloads:
        assert '/v1/maintenance/%s/%s/%s?token=' % (SESSION, projects['pb'], payload['instance_ids'][0]) in \
            payload['reply_url']
    record = result['projects'][projects['pb']]
    assert record['outcome'] == 'acked' and record['granularity'] == 'instance'
    assert sorted(record['replies']) == sorted([ids['b_active'], ids['b_extra']])
    assert result['decisions'][ids['b_active']] == 'cold' and result['decisions'][ids['b_extra']] == 'cold'


def test_instance_ids_as_url_is_served_by_the_listener(cloud, fake_vnfm):
    projects, ids = build(cloud)
    b = fake_vnfm(action='LIVE_MIGRATE')
    result = notify(cloud, params(vnfm=[entry('vnf-b', b.url, instance_ids_format='url')]))
    payload = b.payloads[0][1]
    assert isinstance(payload['instance_ids'], str) and payload['instance_ids'] == payload['reply_url']
    assert result['projects'][projects['pb']]['outcome'] == 'acked'
    assert result['decisions'][ids['b_extra']] == 'live'


def test_polling_mode_reads_the_reply_from_the_vnfm(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(behaviour='never')
    poll = a.url.replace('/maintenance', '/poll/{session_id}/{project_id}')
    a.poll_reply = None

    def answer_later():
        time.sleep(0.5)
        a.poll_reply = dict(session_id=SESSION, state='ACK_PLANNED_MAINTENANCE',
                            instance_actions={ids['a_active']: 'OWN_ACTION'})

    threading.Thread(target=answer_later, daemon=True).start()
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url, reply_mode='poll', poll_url=poll)]))
    assert result['listener'] is None
    assert result['projects'][projects['pa']]['outcome'] == 'acked'
    assert result['decisions'][ids['a_active']] == 'own_action'
    assert a.polls[0] == '/poll/%s/%s' % (SESSION, projects['pa'])
    assert len(a.polls) >= 2
    assert a.payloads[0][1]['reply_url'].endswith('/poll/%s/%s' % (SESSION, projects['pa']))


def test_polled_reply_for_another_session_is_refused(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm(behaviour='never')
    a.poll_reply = dict(session_id='other', state='ACK_PLANNED_MAINTENANCE')
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(reply_timeout=1, vnfm=[entry('vnf-a', a.url, reply_mode='poll', poll_url=a.url + '/reply')]))
    assert caught.value.details['projects'][projects['pa']]['outcome'] == 'timed_out'
    assert '409' in caught.value.details['projects'][projects['pa']]['error']


def test_instances_option_announces_only_those(cloud, fake_vnfm):
    projects, ids = build(cloud)
    b = fake_vnfm()
    result = notify(cloud, params(host=None, instances=[ids['b_extra']], vnfm=[entry('vnf-b', b.url)]))
    assert b.payloads[0][1]['instance_ids'] == [ids['b_extra']]
    assert result['decisions'] == {ids['b_extra']: 'own_action'}
    assert list(result['projects']) == [projects['pb']]


# -- check mode, complete, in_maintenance -------------------------------------------------------

def test_check_mode_builds_payloads_and_sends_nothing(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm()
    result = notify(cloud, params(vnfm=[entry('vnf-a', a.url)]), check_mode=True)
    assert a.received == []
    assert result['changed'] is True
    assert result['decisions'] == {}
    assert result['listener'] is None
    assert result['projects'][projects['pa']]['outcome'] == 'not_sent'
    (notification,) = result['notifications']
    assert notification['sent'] is False
    assert notification['body']['payload']['state'] == 'PLANNED_MAINTENANCE'
    assert notification['body']['payload']['reply_url'].endswith('?token=********')


def test_complete_tells_every_configured_vnfm_and_the_admin_endpoints(cloud, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm()
    b = fake_vnfm()
    admin = fake_vnfm()
    result = notify(cloud, params(state='complete', vnfm=[entry('vnf-a', a.url), entry('vnf-b', b.url)],
                                  admin_endpoints=[dict(url=admin.url, delivery='aodh', token=None,
                                                        token_header='X-Auth-Token')]))
    assert result['state'] == 'MAINTENANCE_COMPLETE'
    assert result['decisions'] == {}
    assert result['listener'] is None
    event, payload = a.payloads[0]
    assert event == 'maintenance.scheduled' and payload['state'] == 'MAINTENANCE_COMPLETE'
    assert payload['allowed_actions'] == []
    assert sorted(payload['instance_ids']) == sorted([ids['a_active'], ids['a_standby']])
    assert result['projects'][projects['pa']]['outcome'] == 'notified'
    assert result['projects'][projects['pb']]['outcome'] == 'notified'
    assert admin.payloads == [('maintenance.host', dict(service='escalator', project_id='admin-project',
                                                        host='compute1', state='MAINTENANCE_COMPLETE',
                                                        session_id=SESSION))]


def test_complete_can_wait_for_the_acks_and_is_limited_to_projects(cloud, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm()
    b = fake_vnfm()
    result = notify(cloud, params(state='complete', wait_complete=True, projects=['vnf-a'],
                                  vnfm=[entry('vnf-a', a.url), entry('vnf-b', b.url)]))
    assert b.received == []
    assert result['projects'][projects['pa']]['outcome'] == 'acked'
    assert result['projects'][projects['pa']]['reply']['state'] == 'ACK_MAINTENANCE_COMPLETE'


def test_in_maintenance_sends_only_the_admin_notification(cloud, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    admin = fake_vnfm()
    result = notify(cloud, params(state='in_maintenance', vnfm=[entry('vnf-a', a.url)],
                                  admin_endpoints=[dict(url=admin.url, delivery='fenix')]))
    assert a.received == []
    assert admin.received[0]['body']['event_type'] == 'maintenance.host'
    assert admin.received[0]['body']['payload']['state'] == 'IN_MAINTENANCE'
    assert result['changed'] is True


def test_unreachable_admin_endpoint_is_a_warning(cloud):
    build(cloud)
    warnings = []
    result = notify(cloud, params(state='in_maintenance', admin_endpoints=[dict(url=closed_port_url())]),
                    warn=warnings.append)
    assert result['changed'] is False
    assert 'warnings' not in result
    assert 'admin notification maintenance.host IN_MAINTENANCE' in warnings[0]


@pytest.mark.parametrize('overrides, words', [
    (dict(host=None), 'give host or instances'),
    (dict(vnfm=[entry('vnf-a', 'ftp://x')]), 'must be an http'),
    (dict(vnfm=[entry('vnf-a', 'http://x')]), 'insecure_http'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1/x', reply_mode='poll')]), 'needs poll_url'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1/x', username='u')]), 'both username and password'),
    (dict(vnfm=[entry('vnf-a', 'http://127.0.0.1/x'), entry('pa00000000000000000000000000000a', 'http://[::1]/y')]),
     'same project'),
    (dict(state='in_maintenance', host=None), 'give host'),
])
def test_bad_input_is_refused(cloud, overrides, words):
    build(cloud)
    with pytest.raises(EscalatorError) as caught:
        notify(cloud, params(**overrides))
    assert caught.value.code == E_INVALID_INPUT
    assert words in caught.value.msg


# -- the Ansible module ------------------------------------------------------------------------------

def run_module(monkeypatch, cloud, capsys, check_mode=False, **args):
    monkeypatch.setattr('ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect',
                        lambda params, sdk=None: cloud)
    args.setdefault('session_id', SESSION)
    args.setdefault('listen_address', '127.0.0.1')
    if check_mode:
        args['_ansible_check_mode'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vnfm_notify.main()
    return json.loads(capsys.readouterr().out)


def test_module_returns_decisions_and_hides_secrets(monkeypatch, cloud, capsys, fake_vnfm):
    projects, ids = build(cloud)
    a = fake_vnfm(action='OWN_ACTION')
    result = run_module(monkeypatch, cloud, capsys, host='compute1', reply_timeout=10,
                        vnfm=[dict(project='vnf-a', url=a.url, token='very-secret-token', password='pw-1234',
                                   username='vnfm')])
    assert 'failed' not in result, result
    assert result['decisions'][ids['a_active']] == 'own_action'
    assert result['decisions'][ids['web']] == 'live'
    assert result['projects'][projects['pa']]['outcome'] == 'acked'
    assert 'very-secret-token' not in json.dumps(result) and 'pw-1234' not in json.dumps(result)
    assert a.received[0]['headers']['X-Auth-Token'] == 'very-secret-token'
    assert a.received[0]['headers']['Authorization'].startswith('Basic ')


def test_module_failure_carries_e_vnfm_and_details(monkeypatch, cloud, capsys, fake_vnfm):
    projects, _ids = build(cloud)
    a = fake_vnfm(behaviour='nack')
    result = run_module(monkeypatch, cloud, capsys, campaign_id=SESSION, host='compute1',
                        vnfm=[dict(project='vnf-a', url=a.url)])
    assert result['failed'] is True
    assert result['error_code'] == E_VNFM
    assert result['projects'][projects['pa']]['outcome'] == 'nacked'


def test_module_reports_warnings_through_module_warn(monkeypatch, cloud, capsys):
    build(cloud)
    warned = []
    monkeypatch.setattr('ansible.module_utils.basic.AnsibleModule.warn', lambda self, msg: warned.append(msg))
    result = run_module(monkeypatch, cloud, capsys, host='compute1', state='in_maintenance', send_retries=0,
                        admin_endpoints=[dict(url=closed_port_url())])
    assert 'failed' not in result, result
    assert len(warned) == 1 and 'admin notification maintenance.host IN_MAINTENANCE' in warned[0]
    assert 'deprecations' not in result, result      # no `warnings` key handed to exit_json


def test_module_check_mode_sends_nothing(monkeypatch, cloud, capsys, fake_vnfm):
    build(cloud)
    a = fake_vnfm()
    result = run_module(monkeypatch, cloud, capsys, check_mode=True, host='compute1',
                        vnfm=[dict(project='vnf-a', url=a.url)])
    assert result['changed'] is True and result['decisions'] == {}
    assert a.received == []


def test_module_requires_tls_cert_and_key_together(monkeypatch, cloud, capsys):
    build(cloud)
    result = run_module(monkeypatch, cloud, capsys, host='compute1', listen_tls_cert='/tmp/x.pem')
    assert result['failed'] is True
    assert 'listen_tls_cert' in result['msg'] and 'listen_tls_key' in result['msg']
