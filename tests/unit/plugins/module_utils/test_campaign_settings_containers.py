# SPDX-License-Identifier: Apache-2.0
"""The settings check accepts the containers method and refuses its bad input before the campaign (issue 18)."""

import os

import pytest
import yaml

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_settings as cs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
NOVA = dict(name='nova_compute', image='10.213.0.1:5000/escalator-lab/nova-compute', tag='2.0',
            unit='container-nova_compute.service')
HOSTS = dict(compute1=dict(address='10.213.0.11', port=22, settings={}))


@pytest.fixture(scope='module')
def role_specs():
    specs = {}
    for role in ('backup', 'precheck', 'rollback', 'upgrade', 'verify'):
        with open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
            specs[role] = yaml.safe_load(handle)
    return specs


def test_the_containers_method_passes_with_a_digest_and_the_engine(role_specs):
    pinned = dict(NOVA, digest='sha256:' + 'a' * 64)
    settings = dict(escalator_upgrade_method='containers', escalator_upgrade_containers=[NOVA, dict(pinned, name='x')],
                    escalator_upgrade_container_engine='docker', escalator_upgrade_container_health_timeout=60,
                    escalator_verify_containers_timeout=30, escalator_rollback_containers=True)
    assert cs.check(settings, HOSTS, role_specs) == []


def test_bad_containers_are_refused_before_the_campaign(role_specs):
    settings = dict(escalator_upgrade_method='containers',
                    escalator_upgrade_containers=[dict(name='nova_compute', image=NOVA['image'] + ':2.0')],
                    escalator_upgrade_container_engine='lxc')
    text = ' '.join(cs.check(settings, HOSTS, role_specs))
    assert 'without tag or digest' in text and 'give a tag, a digest' in text
    assert 'escalator_upgrade_container_engine must be one of: podman, docker' in text
    hosts = dict(compute1=dict(HOSTS['compute1'], settings=dict(escalator_upgrade_containers=[])))
    assert any('escalator_upgrade_containers is empty' in problem and 'compute1' in problem
               for problem in cs.check(dict(escalator_upgrade_method='containers'), hosts, role_specs))
