# SPDX-License-Identifier: Apache-2.0
"""canary_server and its core module_utils/canary.py: the canary boots where Nova's scheduler puts it (our disabled
hosts are excluded by Nova itself), then a forced live migration brings it onto the upgraded, still disabled host."""

from __future__ import annotations

import json
import os
import uuid
from unittest import mock

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from openstack.compute.v2 import flavor as _flavor
from openstack.compute.v2 import server as _server
from openstack.image.v2 import image as _image

from ansible_collections.opnfv.escalator.plugins.module_utils import canary as core
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.modules import canary_server
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

CONNECT = 'ansible_collections.opnfv.escalator.plugins.module_utils.openstack.connect'
ROLE = os.path.join(os.path.dirname(os.path.abspath(canary_server.__file__)), '..', '..', 'roles', 'verify')


class BootingCompute:
    """Server boots on top of a FakeCloud, as Nova does them: the API accepts the request, the scheduler picks an
    enabled, up host with room (Nova's placement pre-filter drops disabled hosts, a forced ``zone:host`` too), and a
    boot with no such host ends in ERROR with NoValidHost as the server's fault; ACTIVE after 3 fake seconds."""

    def __init__(self, cloud, compute):
        self.cloud = cloud
        self.inner = compute
        self.booting = {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def find_flavor(self, name_or_id, ignore_missing=True):
        if name_or_id == 'm1.tiny':
            return _flavor.Flavor.existing(id='f1', name='m1.tiny', vcpus=1, ram=512, disk=1)
        return None

    def create_server(self, name, flavor_id, image_id, networks, availability_zone=None):
        self.cloud.calls.append(('create_server', name, availability_zone, networks))
        zone, _sep, forced = (availability_zone or '').partition(':')
        hosts = [h for h in self.cloud.hosts.values() if h.state == 'up' and h.status == 'enabled'
                 and zone in ('', h.zone) and forced in ('', h.name)]
        server = self.cloud.add_server(name, hosts[0].name if hosts else None, project_id=self.cloud.project_id)
        server.status = 'BUILD'
        if not hosts:
            server.status = 'ERROR'
            server.fault = dict(code=500, message='No valid host was found. ')
        if self.cloud.canary_fault:
            self.cloud.faults[server.id] = self.cloud.canary_fault
        self.booting[server.id] = self.cloud.now + 3
        return _server.Server.existing(id=server.id, name=name, status=server.status)

    def get_server(self, server):
        sid = server if isinstance(server, str) else server.id
        record = self.cloud.servers.get(sid)
        if record is not None and record.status == 'BUILD' and self.cloud.now >= self.booting[sid]:
            record.status = self.cloud.boot_outcome
        return self.inner.get_server(sid)

    def delete_server(self, server, ignore_missing=True):
        self.cloud.calls.append(('delete_server', server))
        self.cloud.servers.pop(server, None)


class Images:
    def find_image(self, name_or_id, ignore_missing=True):
        return _image.Image.existing(id='i1', name=name_or_id) if name_or_id == 'cirros' else None


@pytest.fixture
def cloud():
    """c1, c2, c3; c2 is the host being upgraded: disabled by the campaign."""
    fake = FakeCloud()
    for name in ('c1', 'c2', 'c3'):
        fake.add_host(name, vcpus=4, memory_mb=4096, disk_gb=40)
    fake.hosts['c2'].status = 'disabled'
    fake.hosts['c2'].disabled_reason = 'escalator:c1: upgrade'
    fake.boot_outcome = 'ACTIVE'
    fake.canary_fault = None
    fake.compute = BootingCompute(fake, fake.compute)
    fake.image = Images()
    return fake


def run_canary(cloud, host='c2', **kwargs):
    return core.canary(cloud, host, 'm1.tiny', 'cirros', 'canary-x', clock=cloud.clock, sleep=cloud.sleep, **kwargs)


def failure(cloud, **kwargs):
    with pytest.raises(EscalatorError) as err:
        run_canary(cloud, **kwargs)
    assert not cloud.servers, 'the canary was left behind'
    assert err.value.details['canary']['deleted'] is True
    return err.value


def run_module(args, cloud, capsys):
    with patch_module_args(args), mock.patch(CONNECT, return_value=cloud), \
            mock.patch('time.sleep', cloud.sleep), mock.patch('time.monotonic', cloud.clock):
        with pytest.raises(SystemExit):
            canary_server.main()
    return json.loads(capsys.readouterr().out)


def test_boots_on_an_enabled_host_then_is_forced_onto_the_disabled_one(cloud):
    result = run_canary(cloud)
    assert result['booted_on'] in ('c1', 'c3') and result['on_host'] == 'c2' and result['migrated'] is True
    assert result['deleted'] and result['status'] == 'ACTIVE' and not cloud.servers
    assert ('create_server', 'canary-x', None, 'none') in cloud.calls        # where the scheduler puts it
    assert ('live_migrate_forced', result['id'], 'c2') in cloud.calls
    assert result['active_after'] == 4.0 and result['migration_seconds'] > 0 and result['seconds'] >= 10


def test_target_refuses_the_migration(cloud):
    cloud.hosts['c2'].state = 'down'         # what the conductor checks of a forced destination
    error = failure(cloud)
    assert error.code == 'E_CANARY' and 'unavailable' in error.msg and 'journalctl -u nova-compute' in error.msg
    assert error.details['canary']['booted_on'] in ('c1', 'c3')


def test_migration_ends_in_error(cloud):
    cloud.canary_fault = 'error'             # the server stays on its source, the migration record says error
    error = failure(cloud)
    assert error.code == 'E_CANARY' and 'migration error' in error.msg and 'c2' in error.msg


def test_migration_that_never_ends(cloud):
    cloud.canary_fault = 'stuck'
    error = failure(cloud, timeout=40)
    assert error.code == 'E_CANARY' and 'not ACTIVE on c2 after 40s' in error.msg


def test_no_room_anywhere_else_says_nothing_of_the_target(cloud):
    cloud.hosts['c1'].status = cloud.hosts['c3'].status = 'disabled'
    error = failure(cloud)
    assert error.code == 'E_CANARY_BOOT' and 'No valid host' in error.msg
    assert not [call for call in cloud.calls if call[0] == 'live_migrate_server']


def test_boot_that_never_ends(cloud):
    cloud.boot_outcome = 'BUILD'
    error = failure(cloud, timeout=30)
    assert error.code == 'E_CANARY_BOOT' and 'not ACTIVE after 30s' in error.msg


def test_an_enabled_target_may_get_it_at_boot(cloud):
    result = run_canary(cloud, host='c1')     # not in maintenance: the scheduler may choose it
    assert result['booted_on'] == result['on_host'] == 'c1' and result['migrated'] is False and result['deleted']


def test_unknown_flavor_boots_nothing(cloud):
    with pytest.raises(EscalatorError, match="flavor: 'm9.huge' not found"):
        core.canary(cloud, 'c2', 'm9.huge', 'cirros', 'canary-x', clock=cloud.clock, sleep=cloud.sleep)
    assert not [call for call in cloud.calls if call[0] == 'create_server']


def test_module_result_failure_and_check_mode(cloud, capsys):
    args = dict(host='c2', flavor='m1.tiny', image='cirros', name='canary-' + uuid.uuid4().hex[:6])
    result = run_module(args, cloud, capsys)
    assert result['changed'] is False and result['canary']['on_host'] == 'c2' and result['canary']['deleted']
    cloud.hosts['c2'].state = 'down'
    result = run_module(args, cloud, capsys)
    assert result['failed'] and result['error_code'] == 'E_CANARY' and result['canary']['deleted']
    result = run_module(dict(args, _ansible_check_mode=True), cloud, capsys)
    assert result['canary']['id'] is None
    assert len([call for call in cloud.calls if call[0] == 'create_server']) == 2


def verify_tasks():
    tasks = []
    for name in ('main.yml', 'optional.yml'):
        with open(os.path.join(ROLE, 'tasks', name), encoding='utf-8') as handle:
            tasks.extend(yaml.safe_load(handle))
    return tasks


def test_the_verify_role_sees_a_failed_canary():
    """`failed_when: false` sets the registered result's `failed` to false: the role's problem list (vars/main.yml
    tests them with `is failed`) never saw the canary, nor Nova's wait, fail. A string "true" from -e must switch the
    canary on (| bool)."""
    tasks = verify_tasks()
    with open(os.path.join(ROLE, 'vars', 'main.yml'), encoding='utf-8') as handle:
        problems = handle.read()
    for register in ('__escalator_verify_host', '__escalator_verify_nova_wait', '__escalator_verify_nova_since',
                     '__escalator_verify_canary'):
        assert register in problems
        task = next(t for t in tasks if t.get('register') == register)
        assert 'failed_when' not in task and task.get('ignore_errors') is True, task['name']
    task = next(t for t in tasks if 'opnfv.escalator.canary_server' in t)
    assert task['when'].replace(' ', '') == 'escalator_verify_canary|bool'
