# SPDX-License-Identifier: Apache-2.0
"""The lab's real-guest profile (lab/escalator_lab/guests.py, issue 17): the pure parts - the apt lines
the libvirt base is built with (derived from the machine's own apt configuration), the nspawn
arguments, the allocation ratios, nova.conf of each mode, libvirtd's per-host identity, the lab mode
setting, the tap enslaver's parsing, what going back to fake removes from a host's own layer.
The lab itself is exercised by `lab/lab guests real|fake` (docs/lab.md "Real guests")."""
import configparser
import json
import os
import shlex
import sys

import pytest

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'lab')
sys.path.insert(0, LAB)
sys.path.insert(0, os.path.join(LAB, 'files'))
from escalator_lab import common, controlplane, guests, hosts  # noqa: E402
import lab_tap_enslaver  # noqa: E402

MIRROR = 'http://mirror.example.invalid/debian'


def conf(text):
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string(text)
    return cp


def test_apt_sources_from_a_one_line_sources_list():
    text = ('# the machine\ndeb %s bookworm main\ndeb %s bookworm-updates main\n'
            'deb http://sec.example.invalid/debian-security bookworm-security main\n' % (MIRROR, MIRROR))
    assert guests.apt_sources([text]) == ('deb %s bookworm main\ndeb %s bookworm-backports main\n'
                                          % (MIRROR, MIRROR))


def test_apt_sources_from_deb822_and_the_machines_own_backports():
    deb822 = ('Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n'
              'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n'
              'Types: deb\nURIs: http://sec.example.invalid/debian-security\n'
              'Suites: bookworm-security\nComponents: main\n' % MIRROR)
    assert guests.apt_sources(['', deb822]).splitlines() == [
        'deb %s bookworm main' % MIRROR, 'deb %s bookworm-backports main' % MIRROR]
    own = 'deb [arch=amd64] http://bpo.example.invalid/debian bookworm-backports main contrib\n'
    assert guests.apt_sources([deb822, own]).splitlines()[1] == \
        'deb http://bpo.example.invalid/debian bookworm-backports main'


def test_apt_sources_never_guesses_a_mirror():
    with pytest.raises(common.LabError, match='no bookworm entry'):
        guests.apt_sources(['deb http://sec.example.invalid/debian-security bookworm-security main\n'])
    with pytest.raises(common.LabError):
        guests.apt_sources(['', '# deb %s bookworm main\n' % MIRROR])


def test_misc_minor():
    proc_misc = '127 vga_arbiter\n257 userfaultfd\n 58 network_throughput\n'
    assert guests.misc_minor(proc_misc) == 257
    assert guests.misc_minor(proc_misc, 'kvm') is None
    assert guests.misc_minor('') is None


def test_nspawn_args_bind_a_private_uffd_node_and_the_shared_instances():
    args = guests.nspawn_args('/state/hosts/compute2/userfaultfd', '/state/hosts/instances')
    assert '--capability=CAP_NET_ADMIN' in args and '--system-call-filter=@memlock' in args
    assert '--bind=/state/hosts/compute2/userfaultfd:/dev/userfaultfd' in args
    assert '--bind=/state/hosts/instances:/var/lib/nova/instances' in args
    assert not any('/dev/userfaultfd:' in a for a in args)      # never the machine's own node
    assert not any('userfaultfd' in a for a in guests.nspawn_args(None, '/x'))
    assert not any(a.startswith('--bind-ro=') for a in args)


def test_nspawn_args_give_the_host_its_own_sys_class_net():
    args = guests.nspawn_args(None, '/x', '/state/hosts/compute1/sys')
    assert '--bind-ro=/state/hosts/compute1/sys/class/net:/sys/class/net' in args
    # class/net's entries are relative links into devices/virtual/net: that part too
    assert '--bind-ro=/state/hosts/compute1/sys/devices/virtual/net:/sys/devices/virtual/net' in args


def test_guest_args_only_for_a_real_guest_host(tmp_path, monkeypatch):
    monkeypatch.setattr(hosts, 'HOSTS_DIR', str(tmp_path))
    assert hosts.guest_args(1) == []
    (tmp_path / 'compute1').mkdir()
    (tmp_path / 'compute1' / 'guests').write_text('real\n')
    args = hosts.guest_args(1)
    assert '--capability=CAP_NET_ADMIN' in args and not any('userfaultfd' in a for a in args)
    (tmp_path / 'compute1' / 'userfaultfd').write_text('')
    assert '--bind=%s/compute1/userfaultfd:/dev/userfaultfd' % tmp_path in hosts.guest_args(1)
    assert hosts.guest_args(2) == []


def test_allocation_ratios_offer_the_lab_capacity():
    ratios = guests.allocation_ratios(common.DEFAULT_CAPACITY,
                                      {'vcpus': 2, 'memory_mb': 24105, 'disk_gb': 251})
    assert ratios['vcpus'] == 8.0
    assert round(24105 * ratios['memory_mb']) in range(32766, 32771)
    assert round(251 * ratios['disk_gb']) == 200


def test_compute_conf_fake_is_the_lab_driver():
    c = conf(controlplane.compute_conf('compute1', '10.213.0.11'))
    assert c['DEFAULT']['compute_driver'] == 'labdriver.LabDriver'
    assert c['DEFAULT']['cpu_allocation_ratio'] == '1.0'
    assert not c.has_section('libvirt') and not c.has_section('nova_sys_admin')
    assert not c.has_section('database')


def test_compute_conf_real_is_libvirt_with_the_contract_settings():
    ratios = {'vcpus': 8.0, 'memory_mb': 1.3594, 'disk_gb': 0.8}
    c = conf(controlplane.compute_conf('compute2', '10.213.0.12', 'real', ratios))
    d = c['DEFAULT']
    assert d['compute_driver'] == 'libvirt.LibvirtDriver' and d['host'] == 'compute2'
    assert (d['cpu_allocation_ratio'], d['ram_allocation_ratio'], d['disk_allocation_ratio']) == \
        ('8.0', '1.3594', '0.8')
    assert d['instances_path'] == '/var/lib/nova/instances'
    assert d['vif_plugging_timeout'] == '0' and d['vif_plugging_is_fatal'] == 'false'
    assert c['compute']['live_migration_wait_for_vif_plug'] == 'false'
    lv = c['libvirt']
    assert lv['virt_type'] == 'qemu' and lv['cpu_mode'] == 'custom' and lv['cpu_models'] == 'qemu64'
    assert lv['live_migration_scheme'] == 'tcp'
    assert lv['live_migration_inbound_addr'] == '10.213.0.12'
    assert lv['live_migration_permit_post_copy'] == 'true'
    assert c['image_cache']['remove_unused_base_images'] == 'false'
    assert not c.has_section('database') and not c.has_section('labdriver')
    for ctx in ('nova_sys_admin', 'privsep_osbrick'):
        cmd = shlex.split(c[ctx]['helper_command'])
        # no sudo; the venv's python (its scripts' shebangs name the build path); nova's config
        assert cmd[:2] == ['/opt/escalator-lab/venv/bin/python',
                           '/opt/escalator-lab/venv/bin/privsep-helper']
        assert cmd[cmd.index('--config-file') + 1] == '/etc/nova/nova.conf'


def test_libvirtd_conf_has_the_hosts_node_uuid():
    text = guests.libvirtd_conf('auth_tcp = "none"\n', 'compute3')
    assert text.startswith('auth_tcp = "none"\n')
    assert 'host_uuid = "%s"\n' % hosts.node_uuid('compute3') in text
    assert hosts.node_uuid('compute3') != hosts.node_uuid('compute4')
    assert 'auth_tcp = "none"' in guests.LIBVIRTD_CONF
    assert 'cgroup_controllers = [ ]' in guests.QEMU_CONF


def test_nova_dropin_and_units():
    assert 'Environment=PYTHONPATH=%s\n' % guests.PYLIBVIRT in guests.nova_dropin()
    assert 'After=libvirtd.socket' in guests.nova_dropin()
    unit = guests.enslaver_unit()
    assert 'ExecStart=/usr/bin/python3 /usr/local/sbin/lab-tap-enslaver' in unit
    assert 'Restart=always' in unit and 'WantedBy=multi-user.target' in unit
    assert 'libvirt-guests.service' in guests.MASKED


def test_guests_mode_setting(tmp_path, monkeypatch):
    cfg = tmp_path / 'config.json'
    monkeypatch.setattr(common, 'CONFIG', str(cfg))
    assert common.guests_mode() == 'fake'
    cfg.write_text(json.dumps({'hosts': 4, 'guests': 'real'}))
    assert common.guests_mode() == 'real' and common.settings()['hosts'] == 4
    cfg.write_text(json.dumps({'guests': 'bogus'}))
    assert common.guests_mode() == 'fake'


@pytest.mark.parametrize('line,name', [
    ('17: tapa1b2c3d4-e5: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT '
     'group default qlen 1000\\    link/ether fe:16:3e:00:00:0a brd ff:ff:ff:ff:ff:ff', 'tapa1b2c3d4-e5'),
    ('17: tapa1b2c3d4-e5: <BROADCAST,MULTICAST,UP> mtu 1450 qdisc fq_codel master brvnf state UP', None),
    ('17: tapa1b2c3d4-e5: <BROADCAST> mtu 1450 master other state DOWN', 'tapa1b2c3d4-e5'),
    ('Deleted 17: tapa1b2c3d4-e5: <BROADCAST,MULTICAST> mtu 1450 qdisc noop state DOWN', None),
    ('2: eth0@if63: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP', None),
    ('5: brvnf: <BROADCAST,MULTICAST,UP> mtu 1450', None),
    ('', None),
    ('    link/ether fe:16:3e:00:00:0a brd ff:ff:ff:ff:ff:ff', None),
])
def test_tap_enslaver_picks_new_taps_outside_the_bridge(line, name):
    assert lab_tap_enslaver.tap_to_enslave(line) == name


def test_tap_names():
    text = ('1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\\    link/loopback 00:00:00:00:00:00\n'
            '2: eth0@if63: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n'
            '5: brvnf: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450\n'
            '9: tap16bba445-86: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 master brvnf\n'
            '10: tapf215bb68-86: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1450\n')
    assert guests.tap_names(text) == ['tap16bba445-86', 'tapf215bb68-86']
    assert guests.tap_names('') == []


def test_clean_upper_removes_only_what_the_profile_added(tmp_path, monkeypatch):
    base, upper = tmp_path / 'base', tmp_path / 'upper'
    for d in ('etc/nova', 'var/lib/nova/instances', 'root/.ssh'):
        (base / d).mkdir(parents=True)
    monkeypatch.setattr(guests, 'BASE', str(base))
    for f in ('etc/libvirt/libvirtd.conf', 'var/lib/libvirt/qemu/save/x', 'root/.ssh/id_ed25519',
              'root/.ssh/authorized_keys', 'etc/nova/nova.conf', 'var/lib/nova/compute_id',
              'var/lib/nova/instances/.placeholder'):
        (upper / f).parent.mkdir(parents=True, exist_ok=True)
        (upper / f).write_text('x')
    guests.clean_upper(str(upper))
    left = sorted(str(p.relative_to(upper)) for p in upper.rglob('*') if p.is_file())
    assert left == ['etc/nova/nova.conf', 'root/.ssh/authorized_keys', 'var/lib/nova/compute_id']
    assert not (upper / 'etc/libvirt').exists()
    assert (upper / 'var/lib/nova/instances').is_dir()      # a fake host's own, empty
    assert not list((upper / 'var/lib/nova/instances').iterdir())


def test_cli_guests_commands():
    from escalator_lab import cli
    p = cli.build_parser()
    a = p.parse_args(['guests', 'real'])
    assert a.fn is cli.cmd_guests and a.mode == 'real'
    assert p.parse_args(['up', '--guests', 'fake']).guests == 'fake'
    assert p.parse_args(['up']).guests is None          # as before
    with pytest.raises(SystemExit):
        p.parse_args(['guests', 'kvm'])
