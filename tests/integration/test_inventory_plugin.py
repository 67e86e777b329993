# SPDX-License-Identifier: Apache-2.0
"""The nova_computes inventory plugin against the lab: it lists what `lab up` writes in inventories/lab/hosts.yml.

Read-only (three Nova listings through `ansible-inventory --list`); the lab is held for the test so that no other
session's test disables or breaks a host meanwhile.
"""

import json
import os
import subprocess

import pytest
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.lab


def plain(value):
    """A host variable as ansible-inventory --list prints it, without its trust marker.

    ansible-core 2.19 marks the strings a plugin got from elsewhere (here Nova) as not templates:
    ``{"__ansible_unsafe": "10.213.0.11"}``, with the decoding profile in ``_meta`` (what AWX reads).
    """
    if isinstance(value, dict) and set(value) == {'__ansible_unsafe'}:
        return value['__ansible_unsafe']
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def ansible_inventory(config_dir, text):
    """`ansible-inventory --list` on a nova_computes.yml holding ``text``; returns (data, stderr)."""
    path = os.path.join(config_dir, 'nova_computes.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.venv', 'collections'),
               ANSIBLE_INVENTORY_UNPARSED_FAILED='True', ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_NOCOLOR='1')
    # the configuration file alone must say which cloud and which clouds.yaml (the session's cloud fixture
    # exports OS_CLIENT_CONFIG_FILE)
    for name in ('OS_CLIENT_CONFIG_FILE', 'OS_CLOUD'):
        env.pop(name, None)
    process = subprocess.run([os.path.join(REPO_ROOT, '.venv', 'bin', 'ansible-inventory'), '-i', path, '--list'],
                             capture_output=True, text=True, timeout=300, env=env, cwd=config_dir, check=False)
    assert process.returncode == 0, 'ansible-inventory failed (rc=%d): %s %s' % (
        process.returncode, process.stdout[-2000:], process.stderr[-3000:])
    return json.loads(process.stdout), process.stderr


def test_the_plugin_lists_the_lab_inventory(exclusive_lab, cloud, tmp_path):
    lab = exclusive_lab
    with open(lab.inventory, encoding='utf-8') as handle:
        written = yaml.safe_load(handle)['all']['children']['compute']['hosts']
    data, stderr = ansible_inventory(str(tmp_path), '\n'.join([
        'plugin: opnfv.escalator.nova_computes',
        'cloud: %s' % lab.cloud_name,
        'clouds_yaml: %s' % lab.clouds_yaml,
        'keyed_groups:',
        '  - key: nova_hypervisor_type',
        '    prefix: hypervisor',
        '']))
    # what Nova says is data, never a template
    assert data['_meta']['hostvars']['compute1']['ansible_host'] == {'__ansible_unsafe': lab.host_ips['compute1']}
    hostvars = plain(data['_meta']['hostvars'])

    # the hosts and addresses `lab up` wrote by hand, and the ones the lab reports
    assert sorted(hostvars) == sorted(written) == sorted(lab.hosts)
    assert {name: hostvars[name]['ansible_host'] for name in hostvars} == {
        name: written[name]['ansible_host'] for name in written} == lab.host_ips
    assert sorted(data['compute']['hosts']) == sorted(written)

    # zone groups as Nova says them; no aggregate group (the lab's hosts are in none; the campaign lock has no hosts)
    services = {service.host: service for service in cloud.compute.services(binary='nova-compute')}
    for name in written:
        zone = services[name].availability_zone
        assert name in data['nova_az_' + zone]['hosts']
        assert hostvars[name]['nova_availability_zone'] == zone
        assert hostvars[name]['nova_service_id'] == services[name].id
        assert hostvars[name]['nova_hypervisor_hostname'] == name
    assert not [group for group in data if group.startswith('nova_aggregate_')]
    # constructed on real data: the lab's driver reports hypervisor type "fake"
    assert sorted(data['hypervisor_fake']['hosts']) == sorted(written)
    assert 'nova_computes:' not in stderr, stderr
