# SPDX-License-Identifier: Apache-2.0
"""The maintenance logic against the fake cloud: marker, decisions, state changes, undo."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import maintenance as m
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_API, E_FORBIDDEN, E_HOST_AMBIGUOUS, E_HOST_NOT_FOUND, E_INVALID_INPUT, E_NOT_OURS, E_SERVICE_DOWN,
    EscalatorError,
)
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import http_error

CAMPAIGN = 'upgrade-2026-01'
OURS = 'escalator:upgrade-2026-01: compute upgrade'


def calls(cloud, name):
    return [call for call in cloud.calls if call[0] == name]


def changes(cloud):
    return [call for call in cloud.calls if call[0] in ('disable_service', 'enable_service')]


@pytest.fixture
def two_hosts(cloud):
    cloud.add_host('compute1')
    cloud.add_host('compute2')
    cloud.add_server('vnf-a', 'compute1', vcpus=2, ram=2048, disk=20)
    cloud.add_server('vnf-b', 'compute1', project_id='p-other', status='SHUTOFF')
    cloud.add_server('elsewhere', 'compute2')
    return cloud


# -- the marker ---------------------------------------------------------------

class TestReason:
    def test_format(self):
        assert m.format_reason(CAMPAIGN, 'compute upgrade') == OURS
        assert m.format_reason(CAMPAIGN) == OURS

    def test_format_folds_whitespace_and_allows_empty_text(self):
        assert m.format_reason('c1', '  kernel\n upgrade\t') == 'escalator:c1: kernel upgrade'
        assert m.format_reason('c1', '') == 'escalator:c1:'
        assert m.format_reason('c1', None) == 'escalator:c1:'

    @pytest.mark.parametrize('campaign_id', ['', 'a:b', 'has space', 'x' * 65, '-leading', None, 123, 'é'])
    def test_bad_campaign_id(self, campaign_id):
        with pytest.raises(EscalatorError) as err:
            m.format_reason(campaign_id, 'x')
        assert err.value.code == E_INVALID_INPUT
        assert 'campaign_id' in err.value.msg

    def test_campaign_id_limits(self):
        assert m.parse_reason(m.format_reason('x' * 64)) == 'x' * 64
        assert m.parse_reason(m.format_reason('A.b_c-1')) == 'A.b_c-1'

    def test_nova_length_limit(self):
        prefix = len('escalator:c1: ')
        assert len(m.format_reason('c1', 'r' * (255 - prefix))) == 255
        with pytest.raises(EscalatorError) as err:
            m.format_reason('c1', 'r' * (256 - prefix))
        assert err.value.code == E_INVALID_INPUT
        assert '255' in err.value.msg

    @pytest.mark.parametrize('reason, campaign', [
        (OURS, CAMPAIGN),
        ('escalator:other: compute upgrade', 'other'),
        ('escalator:c1:', 'c1'),
        ('escalator:c1: ', 'c1'),
        ('escalator:c1:text', None),
        ('escalator:c1 text', None),
        ('escalator::x', None),
        ('Escalator:c1: x', None),
        (' escalator:c1: x', None),
        ('AUTO: Connection to libvirt lost: 1', None),
        ('hardware replacement', None),
        ('', None),
        (None, None),
        (42, None),
    ])
    def test_parse(self, reason, campaign):
        assert m.parse_reason(reason) == campaign

    def test_is_ours(self):
        assert m.is_ours(OURS, CAMPAIGN)
        assert not m.is_ours(OURS, 'upgrade-2026-02')
        assert not m.is_ours('escalator:upgrade-2026-01x: y', CAMPAIGN)
        assert not m.is_ours(None, CAMPAIGN)
        assert not m.is_ours(OURS, None)


# -- decisions ------------------------------------------------------------------

def svc(status='enabled', reason=None):
    return dict(host='compute1', status=status, disabled_reason=reason)


@pytest.mark.parametrize('service, state, force, expected', [
    (svc(), 'maintenance', False, ('disable', False)),
    (svc('disabled', OURS), 'maintenance', False, (None, False)),
    (svc('disabled', 'by hand'), 'maintenance', True, ('disable', True)),
    (svc('disabled', 'escalator:other: x'), 'maintenance', True, ('disable', True)),
    (svc(), 'active', False, (None, False)),
    (svc(), 'active', True, (None, False)),
    (svc('disabled', OURS), 'active', False, ('enable', False)),
    (svc('disabled', OURS), 'active', True, ('enable', False)),
    (svc('disabled', None), 'active', True, ('enable', True)),
    (svc('disabled', 'escalator:other: x'), 'active', True, ('enable', True)),
])
def test_decide(service, state, force, expected):
    action, forced, warning = m.decide(service, state, CAMPAIGN, OURS, force)
    assert (action, forced) == expected
    assert (warning is not None) == forced
    if forced:
        assert warning.startswith('FORCED')


@pytest.mark.parametrize('reason, owner', [
    ('by hand', "by someone else (reason: 'by hand')"),
    (None, 'no reason given'),
    ('escalator:other: x', "by Escalator campaign 'other'"),
])
@pytest.mark.parametrize('state', ['maintenance', 'active'])
def test_decide_not_ours(reason, owner, state):
    with pytest.raises(EscalatorError) as err:
        m.decide(svc('disabled', reason), state, CAMPAIGN, OURS, False)
    assert err.value.code == E_NOT_OURS
    assert owner in err.value.msg
    assert 'force' in err.value.msg
    assert err.value.details['disabled_reason'] == reason


# -- into maintenance -------------------------------------------------------------

class TestMaintenance:
    def test_disables_with_our_reason(self, two_hosts):
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        host = two_hosts.hosts['compute1']
        assert (host.status, host.disabled_reason) == ('disabled', OURS)
        assert result['changed'] is True
        assert result['action'] == 'disable'
        assert result['ours'] is True
        assert result['forced'] is False
        assert result['previous'] == dict(status='enabled', disabled_reason=None)
        assert result['diff'] == dict(before=dict(status='enabled', disabled_reason=None),
                                      after=dict(status='disabled', disabled_reason=OURS))
        assert result['service']['status'] == 'disabled'
        assert result['service']['disabled_reason'] == OURS
        assert set(result['service']) == {'id', 'host', 'binary', 'zone', 'status', 'state', 'disabled_reason',
                                          'forced_down', 'updated_at'}
        assert result['service']['id'] == host.service_id
        assert changes(two_hosts) == [('disable_service', host.service_id, OURS)]
        assert two_hosts.hosts['compute2'].status == 'enabled'

    def test_lists_the_instances_of_all_projects_with_compute_host(self, two_hosts):
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert sorted(i['name'] for i in result['instances']) == ['vnf-a', 'vnf-b']
        vnf_a = next(i for i in result['instances'] if i['name'] == 'vnf-a')
        assert (vnf_a['vcpus'], vnf_a['memory_mb'], vnf_a['disk_gb'], vnf_a['flavor']) == (2, 2048, 20, 'm1.tiny')
        assert vnf_a['status'] == 'ACTIVE' and vnf_a['task_state'] is None
        assert vnf_a['project_id'] == 'p-tenant'
        assert {i['project_id'] for i in result['instances']} == {'p-tenant', 'p-other'}
        query = calls(two_hosts, 'servers')[0][1]
        assert query.get('compute_host') == 'compute1' and query.get('all_projects') is True
        assert 'host' not in query

    def test_idempotent(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        before = len(changes(two_hosts))
        again = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert again['changed'] is False
        assert again['action'] is None
        assert again['ours'] is True
        assert len(changes(two_hosts)) == before
        assert again['diff']['before'] == again['diff']['after']

    def test_ours_with_other_text_is_still_ours(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, reason='first text')
        again = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, reason='other text')
        assert again['changed'] is False
        assert two_hosts.hosts['compute1'].disabled_reason == 'escalator:%s: first text' % CAMPAIGN

    def test_check_mode_changes_nothing(self, two_hosts):
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, check_mode=True)
        assert result['changed'] is True
        assert result['action'] == 'disable'
        assert result['ours'] is True
        assert result['service']['status'] == 'disabled'
        assert result['diff']['after'] == dict(status='disabled', disabled_reason=OURS)
        assert len(result['instances']) == 2
        assert changes(two_hosts) == []
        assert two_hosts.hosts['compute1'].status == 'enabled'

    @pytest.mark.parametrize('reason', ['hardware replacement', None, 'escalator:other-campaign: compute upgrade'])
    def test_never_touches_someone_elses(self, two_hosts, reason):
        two_hosts.hosts['compute1'].status = 'disabled'
        two_hosts.hosts['compute1'].disabled_reason = reason
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_NOT_OURS
        assert 'compute1' in err.value.msg
        assert changes(two_hosts) == []
        assert two_hosts.hosts['compute1'].disabled_reason == reason

    def test_force_takes_over_loudly(self, two_hosts):
        two_hosts.hosts['compute1'].status = 'disabled'
        two_hosts.hosts['compute1'].disabled_reason = 'hardware replacement'
        warnings = []
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, force=True, warn=warnings.append)
        assert result['changed'] is True and result['forced'] is True and result['ours'] is True
        assert result['previous'] == dict(status='disabled', disabled_reason='hardware replacement')
        assert two_hosts.hosts['compute1'].disabled_reason == OURS
        assert len(warnings) == 1 and 'hardware replacement' in warnings[0] and 'FORCED' in warnings[0]

    def test_force_on_an_enabled_host_is_not_forced(self, two_hosts):
        warnings = []
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, force=True, warn=warnings.append)
        assert result['forced'] is False and warnings == []

    def test_force_check_mode_warns_but_changes_nothing(self, two_hosts):
        two_hosts.hosts['compute1'].status = 'disabled'
        two_hosts.hosts['compute1'].disabled_reason = 'by hand'
        warnings = []
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, force=True, check_mode=True,
                                   warn=warnings.append)
        assert result['changed'] is True and result['forced'] is True
        assert warnings and changes(two_hosts) == []
        assert two_hosts.hosts['compute1'].disabled_reason == 'by hand'

    def test_custom_reason(self, two_hosts):
        result = m.set_maintenance(two_hosts, 'compute1', 'c7', reason='kernel 6.1 -> 6.12')
        assert result['disabled_reason'] == 'escalator:c7: kernel 6.1 -> 6.12'
        assert two_hosts.hosts['compute1'].disabled_reason == 'escalator:c7: kernel 6.1 -> 6.12'

    def test_too_long_reason_fails_before_any_call(self, two_hosts):
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, reason='x' * 250)
        assert err.value.code == E_INVALID_INPUT
        assert two_hosts.calls == []

    def test_without_instances(self, two_hosts):
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, list_instances=False)
        assert 'instances' not in result
        assert calls(two_hosts, 'servers') == []

    def test_bad_state(self, two_hosts):
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='disabled')
        assert err.value.code == E_INVALID_INPUT


# -- out of maintenance -------------------------------------------------------------

class TestActive:
    def test_enables_ours(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='active')
        host = two_hosts.hosts['compute1']
        assert (host.status, host.disabled_reason) == ('enabled', None)
        assert result['changed'] is True and result['action'] == 'enable' and result['ours'] is False
        assert result['previous'] == dict(status='disabled', disabled_reason=OURS)
        assert result['diff']['after'] == dict(status='enabled', disabled_reason=None)
        assert changes(two_hosts)[-1] == ('enable_service', host.service_id)

    def test_enabled_is_a_no_op(self, two_hosts):
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='active')
        assert result['changed'] is False and result['action'] is None
        assert changes(two_hosts) == []

    def test_check_mode(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='active', check_mode=True)
        assert result['changed'] is True and result['service']['status'] == 'enabled'
        assert two_hosts.hosts['compute1'].status == 'disabled'
        assert changes(two_hosts)[-1][0] == 'disable_service'

    @pytest.mark.parametrize('reason', ['hardware replacement', None, 'escalator:other-campaign: x'])
    def test_refuses_to_enable_someone_elses(self, two_hosts, reason):
        two_hosts.hosts['compute1'].status = 'disabled'
        two_hosts.hosts['compute1'].disabled_reason = reason
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='active')
        assert err.value.code == E_NOT_OURS
        assert 'only re-enables' in err.value.msg
        assert two_hosts.hosts['compute1'].status == 'disabled'
        assert changes(two_hosts) == []

    def test_force_enables_someone_elses(self, two_hosts):
        two_hosts.hosts['compute1'].status = 'disabled'
        two_hosts.hosts['compute1'].disabled_reason = 'by hand'
        warnings = []
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='active', force=True,
                                   warn=warnings.append)
        assert result['changed'] and result['forced']
        assert two_hosts.hosts['compute1'].status == 'enabled'
        assert 'by hand' in warnings[0]


# -- failures -------------------------------------------------------------------------

class TestFailures:
    def test_unknown_host_lists_the_known_ones(self, two_hosts):
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute9', CAMPAIGN)
        assert err.value.code == E_HOST_NOT_FOUND
        assert 'compute1, compute2' in err.value.msg
        assert err.value.details['known_hosts'] == ['compute1', 'compute2']
        assert changes(two_hosts) == []

    @pytest.mark.parametrize('given', ['Compute1', 'compute1.example.net'])
    def test_near_miss_suggests(self, cloud, given):
        cloud.add_host('compute1')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(cloud, given, CAMPAIGN)
        assert err.value.code == E_HOST_NOT_FOUND
        assert "did you mean 'compute1'" in err.value.msg

    def test_fqdn_service_short_name_given(self, cloud):
        cloud.add_host('compute1.example.net')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(cloud, 'compute1', CAMPAIGN)
        assert "did you mean 'compute1.example.net'" in err.value.msg

    def test_no_compute_hosts_at_all(self, cloud):
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(cloud, 'compute1', CAMPAIGN)
        assert err.value.code == E_HOST_NOT_FOUND and 'known compute hosts: none' in err.value.msg

    def test_ambiguous_host(self, two_hosts):
        two_hosts.duplicate_services['compute1'] = 2
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_HOST_AMBIGUOUS
        assert len(err.value.details['services']) == 2
        assert two_hosts.hosts['compute1'].service_id in err.value.msg
        assert 'zone nova' in err.value.msg
        assert changes(two_hosts) == []

    def test_forbidden_to_list_services(self, two_hosts):
        two_hosts.forbidden.add('services')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_FORBIDDEN
        assert 'admin' in err.value.msg

    def test_forbidden_to_disable(self, two_hosts):
        two_hosts.forbidden.add('disable_service')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_FORBIDDEN
        assert 'disabling nova-compute on compute1' in err.value.msg
        assert two_hosts.hosts['compute1'].status == 'enabled'

    @pytest.mark.parametrize('state', ['maintenance', 'active'])
    def test_service_down(self, two_hosts, state):
        two_hosts.hosts['compute1'].state = 'down'
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state=state)
        assert err.value.code == E_SERVICE_DOWN
        assert 'allow_down' in err.value.msg and 'compute1 is down' in err.value.msg
        assert changes(two_hosts) == []

    def test_service_down_even_when_already_ours(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        two_hosts.hosts['compute1'].state = 'down'
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_SERVICE_DOWN
        assert m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, allow_down=True)['changed'] is False

    def test_forced_down_counts_as_down(self, two_hosts):
        two_hosts.hosts['compute1'].forced_down = True
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_SERVICE_DOWN and 'forced down' in err.value.msg

    def test_allow_down(self, two_hosts):
        two_hosts.hosts['compute1'].state = 'down'
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, allow_down=True)
        assert result['changed'] and result['service']['state'] == 'down'
        assert two_hosts.hosts['compute1'].disabled_reason == OURS

    def test_not_ours_wins_over_down(self, two_hosts):
        host = two_hosts.hosts['compute1']
        host.state, host.status, host.disabled_reason = 'down', 'disabled', 'by hand'
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_NOT_OURS


# -- undoing our own change -----------------------------------------------------------

class TestUndo:
    def test_listing_fails_after_disable_puts_it_back(self, two_hosts):
        two_hosts.forbidden.add('servers')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_FORBIDDEN
        assert err.value.details['rolled_back'] is True
        assert 'put back as it was (enabled)' in err.value.msg
        assert str(err.value) == err.value.msg
        host = two_hosts.hosts['compute1']
        assert (host.status, host.disabled_reason) == ('enabled', None)
        assert [c[0] for c in changes(two_hosts)] == ['disable_service', 'enable_service']

    def test_listing_fails_after_enable_puts_our_maintenance_back(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, list_instances=False)
        two_hosts.forbidden.add('servers')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, state='active')
        assert err.value.details['rolled_back'] is True
        host = two_hosts.hosts['compute1']
        assert (host.status, host.disabled_reason) == ('disabled', OURS)

    def test_forced_takeover_undo_restores_the_previous_reason(self, two_hosts):
        host = two_hosts.hosts['compute1']
        host.status, host.disabled_reason = 'disabled', 'hardware replacement'
        two_hosts.forbidden.add('servers')
        with pytest.raises(EscalatorError):
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, force=True)
        assert (host.status, host.disabled_reason) == ('disabled', 'hardware replacement')

    def test_no_undo_when_nothing_was_changed(self, two_hosts):
        m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, list_instances=False)
        two_hosts.forbidden.add('servers')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert 'rolled_back' not in err.value.details
        assert len(changes(two_hosts)) == 1
        assert two_hosts.hosts['compute1'].disabled_reason == OURS

    def test_no_undo_in_check_mode(self, two_hosts):
        two_hosts.forbidden.add('servers')
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, check_mode=True)
        assert 'rolled_back' not in err.value.details
        assert changes(two_hosts) == []

    def test_failed_undo_is_reported(self, two_hosts):
        two_hosts.forbidden.update({'servers', 'enable_service'})
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.details['rolled_back'] is False
        assert 'FAILED too' in err.value.msg and 'undoing the change' in err.value.msg
        assert two_hosts.hosts['compute1'].status == 'disabled'

    def test_nova_reporting_something_else_is_undone(self, two_hosts, monkeypatch):
        real = two_hosts.compute.disable_service

        def racing(service, host=None, binary=None, disabled_reason=None):
            real(service, host=host, binary=binary, disabled_reason='someone else, at the same moment')
            return two_hosts.compute._service(two_hosts.hosts['compute1'])

        monkeypatch.setattr(two_hosts.compute, 'disable_service', racing)
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, list_instances=False)
        assert err.value.code == E_API
        assert 'another actor' in err.value.msg
        assert err.value.details['rolled_back'] is True
        assert two_hosts.hosts['compute1'].status == 'enabled'

    def test_legacy_microversion_returns_nothing_so_it_is_read_back(self, two_hosts, monkeypatch):
        real = two_hosts.compute.disable_service

        def legacy(service, host=None, binary=None, disabled_reason=None):
            real(service, host=host, binary=binary, disabled_reason=disabled_reason)

        monkeypatch.setattr(two_hosts.compute, 'disable_service', legacy)
        result = m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert result['service']['disabled_reason'] == OURS and result['ours']

    def test_server_error_on_disable(self, two_hosts, monkeypatch):
        def broken(*args, **kwargs):
            raise http_error(500, 'Unexpected API Error.', 'PUT', 'http://nova.fake/v2.1/os-services/x')

        monkeypatch.setattr(two_hosts.compute, 'disable_service', broken)
        with pytest.raises(EscalatorError) as err:
            m.set_maintenance(two_hosts, 'compute1', CAMPAIGN)
        assert err.value.code == E_API
        assert 'Unexpected API Error.' in err.value.msg and 'PUT' in err.value.msg


def test_services_are_changed_by_id_not_by_a_stale_object(two_hosts):
    """openstacksdk sends only what differs from a Service object: re-disabling a disabled service
    through that object sends no status and Nova answers 400 (seen on the lab). FakeCloud does the same."""
    host = two_hosts.hosts['compute1']
    host.status, host.disabled_reason = 'disabled', 'by hand'
    stale = next(iter(two_hosts.compute.services(host='compute1')))
    with pytest.raises(Exception) as err:
        two_hosts.compute.disable_service(stale, disabled_reason=OURS)
    assert getattr(err.value, 'status_code', None) == 400
    m.set_maintenance(two_hosts, 'compute1', CAMPAIGN, force=True)
    assert [c[1] for c in changes(two_hosts)][-1] == host.service_id
    assert all(isinstance(c[1], str) for c in changes(two_hosts))
