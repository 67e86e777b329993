# SPDX-License-Identifier: Apache-2.0
"""The lab's containerised profile (lab/escalator_lab/containers.py): the pure parts - what a host's
container, unit and image entrypoint look like, the dpkg status a host keeps across profiles, what
`lab status` reads from podman's storage, what going back removes from a host's own layer.
The lab itself is exercised by `lab/lab containers on|off` (docs/lab.md)."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'lab'))
from escalator_lab import containers  # noqa: E402


def stanza(pkg, ver, status='install ok installed'):
    return 'Package: %s\nStatus: %s\nVersion: %s\n\n' % (pkg, status, ver)


def packages(status_text):
    return {s[0][9:]: s[2][9:] for s in containers._stanzas(status_text)}


def test_create_command_is_the_contract():
    image = '10.213.0.1:5050/escalator-lab/nova-compute:1.0'
    cmd = containers.create_command(image)
    assert cmd[:4] == ['podman', 'create', '--name', 'nova_compute'] and cmd[-1] == image
    assert cmd.count(image) == 1      # recreating on another image = replace this one argument
    for volume in ('/etc/nova:/etc/nova:ro', '/var/lib/nova:/var/lib/nova',
                   '/opt/escalator-lab/venv:/opt/escalator-lab/venv:ro',
                   '/etc/escalator-lab:/etc/escalator-lab:ro'):
        assert cmd[cmd.index(volume) - 1] == '-v'
    assert cmd[cmd.index('--network') + 1] == 'host'
    assert containers.IMAGE == '10.213.0.1:5050/escalator-lab/nova-compute'


def test_unit_starts_whatever_container_has_the_name():
    unit = containers.unit_text()
    assert 'ExecStart=/usr/bin/podman start -a nova_compute\n' in unit
    assert 'ExecStop=/usr/bin/podman stop -t 10 nova_compute\n' in unit
    assert 'Restart=on-failure\n' in unit and 'WantedBy=multi-user.target\n' in unit
    assert '--new' not in unit and 'podman run' not in unit and 'podman rm' not in unit
    assert containers.UNIT == 'container-nova_compute.service'


def test_images_share_layers_and_have_a_healthcheck():
    one, two = containers.containerfile('1.0'), containers.containerfile('2.0')
    assert one.startswith('FROM %s\n' % containers.BASE_IMAGE)
    assert two.startswith('FROM localhost/escalator-lab/nova-compute:1.0\n')
    for text, ver in ((one, '1.0'), (two, '2.0')):
        assert 'ENV ESCALATOR_AGENT_VERSION=%s\n' % ver in text
        assert '\nHEALTHCHECK ' in text and 'CMD ["/usr/local/bin/lab-healthcheck"]' in text


@pytest.mark.parametrize('ver,broken,rc', [('1.0', False, 0), ('1.0', True, 0), ('2.0', False, 0),
                                           ('2.0', True, 1)])
def test_entrypoint_refuses_an_upgrade_on_a_broken_host(tmp_path, ver, broken, rc):
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'python').write_text('#!/bin/sh\necho started "$@"\n')
    (venv / 'bin' / 'python').chmod(0o755)
    marker = tmp_path / 'break-upgrade'
    if broken:
        marker.write_text('x')
    script = containers.entrypoint(ver).replace(containers.HOST_MOUNT_VENV, str(venv)).replace(
        '/etc/escalator-lab/break-upgrade', str(marker))
    p = subprocess.run(['sh', '-c', script], capture_output=True, text=True)
    assert p.returncode == rc
    assert ('started' in p.stdout) == (rc == 0)
    assert ('break-upgrade' in p.stderr) == (rc == 1)


def test_rebase_dpkg_status_adds_and_drops_the_other_lower_packages():
    base = stanza('bash', '5.2') + stanza('lab-compute-agent', '1.0') + stanza('lab-kernel', '1.0')
    base_ct = base + stanza('conmon', '2.1') + stanza('podman', '4.3')
    host = stanza('bash', '5.2') + stanza('lab-compute-agent', '2.0') + stanza('lab-kernel', '2.0')
    on = containers.rebase_dpkg_status(host, base_ct)
    assert packages(on) == {'bash': '5.2', 'conmon': '2.1', 'podman': '4.3',
                            'lab-compute-agent': '2.0', 'lab-kernel': '2.0'}   # the host's lab versions
    off = containers.rebase_dpkg_status(on, base)
    assert packages(off) == packages(host)
    assert containers.rebase_dpkg_status(base, base) == base          # nothing to do: same text


def test_storage_summary_names_the_containers_image():
    ctrs = json.dumps([{'id': 'c1', 'names': ['other'], 'image': 'i1'},
                       {'id': 'c2', 'names': ['nova_compute'], 'image': 'i2'}])
    imgs = json.dumps([{'id': 'i1', 'names': ['x:1']},
                       {'id': 'i2', 'names': ['10.213.0.1:5050/escalator-lab/nova-compute:2.0'],
                        'digest': 'sha256:abc'}])
    assert containers.storage_summary(ctrs, imgs) == {
        'image': '10.213.0.1:5050/escalator-lab/nova-compute:2.0', 'tags': ['2.0'],
        'digest': 'sha256:abc', 'image_id': 'i2'}
    assert containers.storage_summary(json.dumps([]), imgs) is None
    assert containers.storage_summary(None, None) is None
    # pulled by digest only: no tag, the image id stands for it
    assert containers.storage_summary(ctrs, json.dumps([{'id': 'i2', 'digest': 'sha256:abc'}]))[
        'image'] == 'i2'


def test_clean_upper_removes_only_what_the_profile_added(tmp_path):
    base, upper = tmp_path / 'base', tmp_path / 'upper'
    (base / 'etc/systemd/system/multi-user.target.wants').mkdir(parents=True)
    (base / 'var/lib').mkdir(parents=True)
    for d in ('etc/cni/net.d', 'var/lib/cni/networks', 'etc/systemd/system/multi-user.target.wants',
              'var/lib/nova'):
        (upper / d).mkdir(parents=True)
    (upper / 'etc/cni/net.d/87-podman.conflist').write_text('{}')
    (upper / 'var/lib/nova/compute_id').write_text('uuid')
    containers.clean_upper(str(upper), str(base))
    assert not (upper / 'etc/cni').exists() and not (upper / 'var/lib/cni').exists()
    assert not (upper / 'etc/systemd').exists()          # only empty directories were left there
    assert (upper / 'var/lib/nova/compute_id').read_text() == 'uuid'
    # a directory of the base with content of the host's own stays
    (upper / 'etc/systemd/system').mkdir(parents=True)
    (upper / 'etc/systemd/system/own.service').write_text('')
    containers.clean_upper(str(upper), str(base))
    assert (upper / 'etc/systemd/system/own.service').exists()


def test_rebase_dpkg_status_takes_the_lower_s_versions_but_the_lab_s_packages():
    """Back from the real-guest base (backports: systemd 254) to the lab's base (systemd 252): the host's status must
    say 252, what its files now are; a kept 254 broke every later apt run (Unmet dependencies: systemd-dev)."""
    base = stanza('systemd', '252.39') + stanza('lab-kernel', '1.0')
    libvirt = stanza('libvirt0', '11.3') + stanza('systemd', '254.26~bpo12') + stanza('lab-kernel', '1.0')
    host = stanza('systemd', '254.26~bpo12') + stanza('libvirt0', '11.3') + stanza('lab-kernel', '2.0')
    assert packages(containers.rebase_dpkg_status(host, base)) == {'systemd': '252.39', 'lab-kernel': '2.0'}
    assert packages(containers.rebase_dpkg_status(base, libvirt)) == {'libvirt0': '11.3', 'systemd': '254.26~bpo12',
                                                                      'lab-kernel': '1.0'}
