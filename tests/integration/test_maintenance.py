# SPDX-License-Identifier: Apache-2.0
"""compute_maintenance against the lab's real Nova, run by `ansible` as a user would.

Maintenance on/off and idempotence, check mode, the ours-only rule (a host disabled by hand or
by another campaign is never touched unless forced), and a stopped nova-compute as a clear error.
"""

import json
import time

import pytest

CAMPAIGN = 'itest-maintenance'
OURS = 'escalator:%s: compute upgrade' % CAMPAIGN

pytestmark = pytest.mark.lab


def service(cloud, host):
    found = [s for s in cloud.compute.services(binary='nova-compute', host=host) if s.host == host]
    assert len(found) == 1
    return found[0]


def servers_on(cloud, host):
    return {s.id for s in cloud.compute.servers(all_projects=True, details=True) if s.compute_host == host}


def test_maintenance_on_and_off(seeded_lab, cloud, ansible_module):
    host = seeded_lab.hosts[0]     # the seed's busiest host
    failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN)
    assert not failed, result
    assert result['changed'] is True and result['ours'] is True
    svc = service(cloud, host)
    assert (svc.status, svc.disabled_reason) == ('disabled', OURS)
    assert result['service']['id'] == svc.id and result['service']['disabled_reason'] == OURS
    # the instances are the real ones, from all projects (compute_host filter, not host=)
    assert {i['id'] for i in result['instances']} == servers_on(cloud, host)
    assert len(result['instances']) >= 4
    assert {'ACTIVE', 'SHUTOFF'} <= {i['status'] for i in result['instances']}
    assert all(i['vcpus'] > 0 and i['memory_mb'] > 0 for i in result['instances'])

    # resume-safe: the same call again changes nothing
    failed, again, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN)
    assert not failed and again['changed'] is False and again['ours'] is True

    # the scheduler really avoids the host now
    hosts_info = ansible_module(seeded_lab, 'compute_host_info', hosts=[host])[1]['hosts'][0]
    assert hosts_info['status'] == 'disabled' and hosts_info['escalator_campaign'] == CAMPAIGN

    # check mode says it would enable it, and does not
    failed, dry, *ignored = ansible_module(seeded_lab, 'compute_maintenance', check=True, host=host, campaign_id=CAMPAIGN,
                                           state='active')
    assert not failed and dry['changed'] is True and dry['action'] == 'enable'
    assert service(cloud, host).status == 'disabled'

    failed, back, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                            state='active', list_instances=False)
    assert not failed and back['changed'] is True and back['ours'] is False
    svc = service(cloud, host)
    assert (svc.status, svc.disabled_reason) == ('enabled', None)

    failed, again, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                             state='active')
    assert not failed and again['changed'] is False


def test_only_ours_is_touched(seeded_lab, cloud, ansible_module):
    host = seeded_lab.hosts[1]
    svc_id = service(cloud, host).id     # by id: openstacksdk sends only what differs from a Service object
    cloud.compute.disable_service(svc_id, host, 'nova-compute', disabled_reason='RMA ticket 4711')

    for state in ('maintenance', 'active'):
        failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                                  state=state)
        assert failed and result['error_code'] == 'E_NOT_OURS', result
        assert 'RMA ticket 4711' in result['msg']
        assert service(cloud, host).disabled_reason == 'RMA ticket 4711'

    # another campaign's maintenance is not ours either
    cloud.compute.disable_service(svc_id, host, 'nova-compute', disabled_reason='escalator:other-campaign: upgrade')
    failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                              state='active')
    assert failed and result['error_code'] == 'E_NOT_OURS' and result['owner_campaign'] == 'other-campaign'
    assert service(cloud, host).status == 'disabled'

    # force takes it over, loudly
    failed, result, stderr = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                            force=True)
    assert not failed and result['forced'] is True and result['changed'] is True
    assert 'FORCED' in stderr + json.dumps(result.get('warnings', []))
    assert service(cloud, host).disabled_reason == OURS


def test_stopped_nova_compute_is_a_clear_error(seeded_lab, cloud, ansible_module):
    host = seeded_lab.hosts[2]     # not the spare host the lab's own tests restart
    seeded_lab.stop_compute(host)
    try:
        seeded_lab.wait_compute(host, 'down', timeout=60)
        failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN)
        assert failed and result['error_code'] == 'E_SERVICE_DOWN', result
        assert host in result['msg'] and 'allow_down' in result['msg']
        assert result['service']['state'] == 'down'
        assert service(cloud, host).status == 'enabled'

        failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                                  allow_down=True)
        assert not failed and result['changed'], result
        assert result['previous'] == dict(status='enabled', disabled_reason=None)
        assert service(cloud, host).disabled_reason == OURS

        # not re-enabled while its nova-compute is down
        failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                                  state='active')
        assert failed and result['error_code'] == 'E_SERVICE_DOWN'
        assert service(cloud, host).status == 'disabled'
    finally:
        t0 = time.time()
        seeded_lab.start_compute(host, wait=True)
        seeded_lab.wait_compute(host, 'up', timeout=90, since=t0)
    failed, result, *ignored = ansible_module(seeded_lab, 'compute_maintenance', host=host, campaign_id=CAMPAIGN,
                                              state='active')
    assert not failed and result['changed'] is True
    assert service(cloud, host).status == 'enabled'


def test_unknown_host_names_the_known_ones(lab, ansible_module):
    failed, result, *ignored = ansible_module(lab, 'compute_maintenance', host='no-such-host', campaign_id=CAMPAIGN)
    assert failed and result['error_code'] == 'E_HOST_NOT_FOUND'
    assert set(lab.hosts) <= set(result['known_hosts'])
