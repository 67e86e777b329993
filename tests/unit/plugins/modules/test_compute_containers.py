# SPDX-License-Identifier: Apache-2.0
"""Module compute_containers, run in-process with podman and systemctl answered by the fake container host."""

from __future__ import annotations

from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import health
from ansible_collections.opnfv.escalator.plugins.modules import compute_containers
from ansible_collections.opnfv.escalator.tests.unit.fake_podman import REGISTRY, FakeContainerHost
from ansible_collections.opnfv.escalator.tests.unit.module_runner import run_module

UNIT = 'container-nova_compute.service'
NOVA = dict(name='nova_compute', image=REGISTRY, tag='2.0', unit=UNIT)


@pytest.fixture
def lab():
    fake = FakeContainerHost()
    fake.publish(REGISTRY, '1.0')
    fake.publish(REGISTRY, '2.0')
    fake.add_container('nova_compute', REGISTRY, '1.0', unit=UNIT)

    def run_command(self, args, check_rc=False, **kwargs):
        return fake.run(args)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name

    with mock.patch.multiple(basic.AnsibleModule, run_command=run_command, get_bin_path=get_bin_path), \
            mock.patch.object(health.time, 'sleep', lambda seconds: None):
        yield fake


def test_upgrade_recreates_on_the_pinned_digest_with_a_diff_and_a_second_run_changes_nothing(lab):
    outcome, result, _warnings, _connect = run_module(compute_containers, diff=True, operation='upgrade',
                                                      containers=[NOVA])
    assert outcome == 'exit' and result['changed'] is True
    assert result['diff']['after'].startswith('nova_compute: %s@sha256:' % REGISTRY)
    assert lab.containers['nova_compute']['Image'] == lab.registry[REGISTRY + ':2.0']['Id']
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='upgrade', containers=[NOVA])
    assert outcome == 'exit' and result['changed'] is False and 'diff' not in result


def test_check_mode_changes_nothing(lab):
    outcome, result, _warnings, _connect = run_module(compute_containers, check_mode=True, operation='upgrade',
                                                      containers=[NOVA])
    assert outcome == 'exit' and result['changed'] is True and not lab.stops()
    assert lab.containers['nova_compute']['ImageName'] == REGISTRY + ':1.0'


@pytest.mark.parametrize('entry, code', [
    (dict(NOVA, name='nova_compte'), 'E_CONTAINER_NOT_FOUND'),
    (dict(NOVA, tag='9.9'), 'E_IMAGE_NOT_FOUND'),
    (dict(NOVA, digest='sha256:' + 'f' * 64), 'E_IMAGE_DIGEST'),
    (dict(NOVA, tag=None), 'E_INVALID_INPUT'),
])
def test_bad_input_fails_with_a_stable_code_and_a_hint(lab, entry, code):
    for operation in ('pull', 'upgrade'):
        outcome, result, _warnings, _connect = run_module(compute_containers, operation=operation, containers=[entry])
        assert outcome == 'fail' and result['error_code'] == code and result['hint'], result
    assert not lab.stops()


def test_the_registry_down_is_told_apart(lab):
    lab.registry_down = True
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='pull', containers=[NOVA])
    assert outcome == 'fail' and result['error_code'] == 'E_REGISTRY' and 'connection refused' in result['msg']


def test_backup_rollback_and_verify_round_trip(lab, tmp_path):
    ids = dict(backup_dir=str(tmp_path), campaign_id='c1', run_id='c1', host='compute4')
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='backup', containers=[NOVA], **ids)
    assert outcome == 'exit' and result['changed'] and (tmp_path / 'containers.json').exists()
    run_module(compute_containers, operation='upgrade', containers=[NOVA])
    lab.broken.add(lab.registry[REGISTRY + ':2.0']['Id'])
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='verify', containers=[NOVA],
                                                      health_timeout=0)
    assert outcome == 'fail' and result['error_code'] == 'E_CONTAINER_UNHEALTHY' and result['problems']
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='rollback', **ids)
    assert outcome == 'exit' and result['changed'] and result['targets'][0]['digest'].startswith('sha256:')
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='verify',
                                                      containers=result['targets'])
    assert outcome == 'exit' and result['problems'] == []
    outcome, result, _warnings, _connect = run_module(compute_containers, operation='rollback', backup_dir=str(tmp_path))
    assert outcome == 'fail' and result['error_code'] == 'E_INVALID_INPUT' and 'campaign_id' in result['msg']
