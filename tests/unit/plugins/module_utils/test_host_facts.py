# SPDX-License-Identifier: Apache-2.0
"""module_utils/host_facts: what the roles ask a compute host, answered by fakes of its tools and files
under a temporary root."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils import host_facts
from ansible_collections.opnfv.escalator.tests.unit import systemd_fakes

DPKG_LINES = '\n'.join([
    'lab-kernel|lab-kernel|1.0|all|ii ',
    'lab-compute-agent|lab-compute-agent|2.0|all|hi ',
    'libc6|libc6:amd64|2.36-9|amd64|ii ',
    'half|half|3.0|amd64|iU ',
    'broken|broken|1.1|amd64|iiR',
    'gone|gone|0.9|amd64|rc ',
    'held-gone|held-gone|0.1|amd64|hn ',
    'torn|line',
]) + '\n'


class FakeHost(host_facts.Host):
    """Answers commands from `answers` ({argv prefix tuple: (rc, stdout, stderr)}, longest prefix wins) and
    records them; `tools` are the commands `which` finds."""

    def __init__(self, tmp_path, tools=('dpkg-query', 'apt-get', 'apt-cache', 'dpkg', 'systemctl'), answers=None,
                 clock=lambda: 1795324290.0, monotonic=lambda: 1000.0):
        self.answers = dict(answers or {})
        self.calls = []
        self.tools = set(tools)
        super().__init__(self._run, lambda name: '/usr/bin/' + name if name in self.tools else None,
                         root=str(tmp_path), clock=clock, monotonic=monotonic)

    def _run(self, argv):
        self.calls.append(list(argv))
        for size in range(len(argv), 0, -1):
            if tuple(argv[:size]) in self.answers:
                return self.answers[tuple(argv[:size])]
        return 0, '', ''


def rpm_host(tmp_path, **kwargs):
    return FakeHost(tmp_path, tools=('rpm', 'dnf', 'systemctl') + tuple(kwargs.pop('extra_tools', ())), **kwargs)


def put(tmp_path, relative, content=b''):
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# -- package manager and packages ------------------------------------------------------------------

@pytest.mark.parametrize('tools, expected', [
    (('dpkg-query', 'apt-get'), ('apt', 'deb')),
    (('rpm', 'dnf'), ('dnf', 'rpm')),
    (('rpm', 'dnf5'), ('dnf5', 'rpm')),
    (('rpm', 'yum'), ('yum', 'rpm')),
    (('zypper',), ('unknown', None)),
])
def test_package_manager_like_ansibles_pkg_mgr(tmp_path, tools, expected):
    assert FakeHost(tmp_path, tools=tools).package_manager() == expected


def test_every_installed_deb_package_with_holds_and_the_ones_caught_half_way(tmp_path):
    host = FakeHost(tmp_path, answers={('dpkg-query', '-W'): (0, DPKG_LINES, '')})
    found = host_facts.packages(host)
    assert found['packages'] == {
        'lab-kernel': {'version': '1.0', 'arch': 'all', 'hold': False},
        'lab-compute-agent': {'version': '2.0', 'arch': 'all', 'hold': True},
        'libc6:amd64': {'version': '2.36-9', 'arch': 'amd64', 'hold': False},
    }
    assert found['held'] == ['held-gone', 'lab-compute-agent']
    assert found['unfinished'] == {'half': {'version': '3.0', 'status': 'iU'}, 'broken': {'version': '1.1', 'status': 'iiR'}}
    assert host.calls == [['dpkg-query', '-W', '-f=' + host_facts.DEB_FORMAT]]


def test_named_packages_answer_by_plain_or_multiarch_name_and_null_when_not_installed(tmp_path):
    host = FakeHost(tmp_path, answers={('dpkg-query', '-W'): (1, DPKG_LINES, 'dpkg-query: no packages found matching nope')})
    found = host_facts.packages(host, ['libc6', 'libc6:amd64', 'half', 'nope', 'lab-kernel'])
    assert found['versions'] == {'libc6': '2.36-9', 'libc6:amd64': '2.36-9', 'half': None, 'nope': None,
                                 'lab-kernel': '1.0'}
    assert host.calls[0][3:] == ['libc6', 'libc6:amd64', 'half', 'nope', 'lab-kernel']


def test_rpm_packages_have_their_epoch(tmp_path):
    host = rpm_host(tmp_path, answers={('rpm', '-qa'): (0, 'openstack-nova-compute|openstack-nova-compute|1:29.2.0-1.el9|noarch|ii \n', '')})
    assert host_facts.packages(host)['packages'] == {
        'openstack-nova-compute': {'version': '1:29.2.0-1.el9', 'arch': 'noarch', 'hold': False}}


def test_a_package_database_that_cannot_be_read_is_an_error(tmp_path):
    host = FakeHost(tmp_path, answers={('dpkg-query',): (2, '', 'dpkg-query: error: parsing file')})
    with pytest.raises(host_facts.HostFactsError, match='cannot list the installed packages.*parsing file'):
        host_facts.packages(host)
    with pytest.raises(host_facts.HostFactsError, match='neither dpkg nor rpm'):
        host_facts.packages(FakeHost(tmp_path, tools=()))


def test_dnf_versionlock_entries_are_held(tmp_path):
    host = rpm_host(tmp_path, answers={
        ('rpm', '-qa'): (0, '', ''),
        ('dnf', '-q', 'versionlock', 'list'): (0, 'lab-kernel-0:1.0-1.el9.*\nopenstack-nova-compute-1:29.2.0-1.el9.*\n', '')})
    assert host_facts.gather(host, dict(held=True))['held'] == ['lab-kernel', 'openstack-nova-compute']
    no_plugin = rpm_host(tmp_path, answers={('dnf', '-q', 'versionlock'): (1, '', 'No such command: versionlock')})
    assert host_facts.gather(no_plugin, dict(held=True))['held'] == []


def test_install_times_from_dpkg_file_lists_or_rpm(tmp_path):
    listed = put(tmp_path, 'var/lib/dpkg/info/lab-compute-agent.list')
    os.utime(listed, (1700000000, 1700000000))
    multiarch = put(tmp_path, 'var/lib/dpkg/info/libfoo:amd64.list')
    os.utime(multiarch, (1700000500, 1700000500))
    host = FakeHost(tmp_path)
    assert host_facts.install_times(host, ['lab-compute-agent', 'libfoo', 'nope']) == {
        'lab-compute-agent': 1700000000, 'libfoo': 1700000500, 'nope': None}
    rpm = rpm_host(tmp_path, answers={('rpm', '-q', '--qf', '%{INSTALLTIME}\n', 'nova'): (0, '1700000001\n1700000009\n', ''),
                                      ('rpm', '-q', '--qf', '%{INSTALLTIME}\n', 'nope'): (1, 'package nope is not installed\n', '')})
    assert host_facts.install_times(rpm, ['nova', 'nope']) == {'nova': 1700000009, 'nope': None}


# -- services and the running process ----------------------------------------------------------------

SHOW = systemd_fakes.show(systemd_fakes.NOVA_COMPUTE_RUNNING, systemd_fakes.LIBVIRTD_NOT_FOUND,
                          systemd_fakes.OVN_CONTROLLER_FAILED)


def test_services_in_one_systemctl_show_in_service_facts_words(tmp_path):
    host = FakeHost(tmp_path, answers={('systemctl', 'show'): (0, SHOW, '')})
    units = host_facts.services(host, ['nova-compute', 'libvirtd', 'ovn-controller.service'])
    assert units['nova-compute'] == dict(exists=True, state='running', status='enabled', active_state='active',
                                         sub_state='running', unit_file_state='enabled', main_pid=412, started=1795324000)
    assert units['libvirtd']['exists'] is False and units['libvirtd']['status'] == 'not-found'
    assert units['ovn-controller.service']['state'] == 'stopped' and units['ovn-controller.service']['status'] == 'failed'
    assert host.calls == [['systemctl', 'show', '--timestamp=unix', '-p', host_facts.SYSTEMCTL_PROPERTIES,
                           'nova-compute.service', 'libvirtd.service', 'ovn-controller.service']]


def test_old_systemd_start_time_from_the_monotonic_clock(tmp_path):
    old = SHOW.replace('ExecMainStartTimestamp=@1795324000', 'ExecMainStartTimestampMonotonic=400000000')
    host = FakeHost(tmp_path, answers={('systemctl', 'show', '--timestamp=unix'): (1, '', "Unknown option '--timestamp=unix'"),
                                       ('systemctl', 'show', '-p'): (0, old, '')},
                    clock=lambda: 1795324290.0, monotonic=lambda: 1000.0)
    assert host_facts.services(host, ['nova-compute'])['nova-compute']['started'] == 1795324290 - 1000 + 400
    assert 'ExecMainStartTimestampMonotonic' in host.calls[1][3]


def test_no_systemd_means_no_service(tmp_path):
    host = FakeHost(tmp_path, tools=('dpkg-query', 'apt-get'))
    assert host_facts.services(host, ['nova-compute'])['nova-compute']['exists'] is False


def test_process_environment_verdicts_never_values(tmp_path):
    put(tmp_path, 'proc/412/environ', b'ESCALATOR_AGENT_VERSION=2.0\0OS_PASSWORD=secret\0BROKEN\0')
    host = FakeHost(tmp_path, answers={('systemctl', 'show'): (0, SHOW, '')})
    digests = {'ESCALATOR_AGENT_VERSION': hashlib.sha256(b'2.0').hexdigest(),
               'OS_PASSWORD': hashlib.sha256(b'other').hexdigest(), 'MISSING': 'x'}
    result = host_facts.gather(host, dict(process=dict(service='nova-compute', env=digests)))
    assert result['process'] == dict(service='nova-compute', main_pid=412, started=1795324000, error=None,
                                     env={'ESCALATOR_AGENT_VERSION': 'ok', 'OS_PASSWORD': 'different', 'MISSING': 'unset'})
    assert 'secret' not in repr(result)


def test_a_process_whose_environment_cannot_be_read_says_why(tmp_path):
    host = FakeHost(tmp_path, answers={('systemctl', 'show'): (0, SHOW, '')})
    result = host_facts.gather(host, dict(process=dict(service='nova-compute', env={'A': 'x'})))
    assert result['process']['error'].startswith('cannot read the environment of pid 412')


# -- reboot, disk, package database, sources ---------------------------------------------------------

def test_reboot_required_by_debian_and_by_whom(tmp_path):
    host = FakeHost(tmp_path)
    assert host_facts.reboot_required(host) == dict(required=False, flag=False, packages=[], needs_restarting=None)
    put(tmp_path, 'run/reboot-required')
    put(tmp_path, 'run/reboot-required.pkgs', b'lab-kernel\nlab-kernel\nlinux-image\n')
    assert host_facts.reboot_required(host) == dict(required=True, flag=True, packages=['lab-kernel', 'linux-image'],
                                                    needs_restarting=None)


def test_reboot_required_by_needs_restarting(tmp_path):
    host = rpm_host(tmp_path, extra_tools=('needs-restarting',), answers={('needs-restarting', '-r'): (1, 'Reboot is required', '')})
    assert host_facts.reboot_required(host)['required'] is True
    quiet = rpm_host(tmp_path, extra_tools=('needs-restarting',))
    assert host_facts.reboot_required(quiet) == dict(required=False, flag=False, packages=[], needs_restarting=0)


def test_free_space_or_why_not(tmp_path):
    space = host_facts.free_space(FakeHost(tmp_path), [str(tmp_path), str(tmp_path / 'nope')])
    st = os.statvfs(str(tmp_path))
    assert space[str(tmp_path)] == dict(free_mb=st.f_bavail * st.f_frsize // 2 ** 20, error=None)
    assert space[str(tmp_path / 'nope')] == dict(free_mb=None, error='No such file or directory')


def test_a_dpkg_lock_held_by_another_process_is_named(tmp_path):
    lock = put(tmp_path, 'var/lib/dpkg/lock')
    put(tmp_path, 'var/lib/dpkg/lock-frontend')
    host = FakeHost(tmp_path)
    assert host_facts.dpkg_lock_holder(host) is None
    holder = subprocess.Popen([sys.executable, '-c', 'import fcntl, sys, time\n'
                               'f = open(sys.argv[1], "a"); fcntl.lockf(f, fcntl.LOCK_EX); print("held", flush=True)\n'
                               'time.sleep(30)', str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        assert host_facts.dpkg_lock_holder(host) == '/var/lib/dpkg/lock'
        assert host_facts.refresh_sources(host, lock='/var/lib/dpkg/lock')['ok'] is None
    finally:
        holder.kill()
        holder.wait()
    with open(str(lock), 'a') as handle:    # released again
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_package_health_is_dpkgs_audit_and_lock(tmp_path):
    host = FakeHost(tmp_path, answers={('dpkg', '--audit'): (0, 'The following packages are only half configured:\n half\n', '')})
    assert host_facts.package_health(host) == dict(checked=True, lock=None,
                                                   audit='The following packages are only half configured:\n half')
    assert host_facts.package_health(rpm_host(tmp_path)) == dict(checked=False, lock=None, audit='')


def test_refresh_sources(tmp_path):
    host = FakeHost(tmp_path, answers={('apt-get', 'update'): (100, '', 'E: Failed to fetch http://repo/dists/x  404\n')})
    assert host_facts.refresh_sources(host) == dict(
        ok=False, cmd=['apt-get', 'update', '-q', '-o', 'APT::Update::Error-Mode=any'], rc=100,
        stderr='E: Failed to fetch http://repo/dists/x  404')
    assert host_facts.refresh_sources(rpm_host(tmp_path))['cmd'] == ['dnf', '-q', 'makecache']
    assert host_facts.refresh_sources(rpm_host(tmp_path))['ok'] is True


def test_offered_versions(tmp_path):
    madison = (' lab-kernel |        2.0 | file:/srv/lab-repo ./ Packages\n'
               ' lab-kernel |        1.0 | file:/srv/lab-repo ./ Packages\n')
    host = FakeHost(tmp_path, answers={('apt-cache', 'madison'): (0, madison, '')})
    assert host_facts.offered_versions(host, ['lab-kernel', 'nope']) == {'lab-kernel': ['2.0', '1.0'], 'nope': []}
    assert host.calls == [['apt-cache', 'madison', 'lab-kernel', 'nope']]
    dnf = rpm_host(tmp_path, answers={
        ('dnf', '-q', 'list', '--showduplicates', 'nova'): (0, 'Installed Packages\nnova.noarch  0:29.1-1  @appstream\n'
                                                               'Available Packages\nnova.noarch  29.2-1  appstream\n', ''),
        ('dnf', '-q', 'list', '--showduplicates', 'nope'): (1, '', 'Error: No matching Packages to list')})
    assert host_facts.offered_versions(dnf, ['nova', 'nope']) == {'nova': ['29.1-1', '29.2-1'], 'nope': []}


# -- paths and backups ---------------------------------------------------------------------------------

def test_describe_paths_recursively_without_following_links(tmp_path):
    conf = tmp_path / 'etc' / 'nova'
    put(tmp_path, 'etc/nova/nova.conf', b'[DEFAULT]\n')
    put(tmp_path, 'etc/nova/.hidden', b'x')
    os.chmod(str(conf / 'nova.conf'), 0o640)
    (conf / 'sub').mkdir()
    os.symlink('/elsewhere', str(conf / 'link'))
    os.symlink(str(conf), str(tmp_path / 'etc' / 'alias'))
    described = host_facts.describe_paths([str(conf), str(tmp_path / 'etc' / 'alias'), str(tmp_path / 'etc' / 'neutron')])
    assert described['paths'] == {str(conf): 'directory', str(tmp_path / 'etc' / 'alias'): 'link',
                                  str(tmp_path / 'etc' / 'neutron'): 'absent'}
    by_path = dict((entry['path'], entry) for entry in described['files'])
    assert [entry['path'] for entry in described['files']] == sorted(by_path)
    assert set(by_path) == {str(conf), str(conf / 'nova.conf'), str(conf / '.hidden'), str(conf / 'sub'),
                            str(conf / 'link'), str(tmp_path / 'etc' / 'alias')}
    nova_conf = by_path[str(conf / 'nova.conf')]
    assert nova_conf['type'] == 'file' and nova_conf['mode'] == '0640' and nova_conf['size'] == 10
    assert nova_conf['sha256'] == hashlib.sha256(b'[DEFAULT]\n').hexdigest() and nova_conf['target'] is None
    assert by_path[str(conf / 'link')]['type'] == 'link' and by_path[str(conf / 'link')]['target'] == '/elsewhere'
    assert by_path[str(conf / 'sub')]['sha256'] is None and by_path[str(conf / 'sub')]['size'] == 0


def test_a_backup_of_one_run(tmp_path):
    run = tmp_path / 'c1' / 'r1'
    assert host_facts.backup(str(run)) == dict(dir=str(run), manifest=None, manifest_exists=False, manifest_error=None,
                                               archive=dict(exists=False, sha256=None, size=None))
    put(tmp_path, 'c1/r1/config.tar.gz', b'tar')
    put(tmp_path, 'c1/r1/manifest.json', b'{"format": 1}')
    found = host_facts.backup(str(run))
    assert found['manifest'] == {'format': 1} and found['manifest_exists']
    assert found['archive'] == dict(exists=True, sha256=hashlib.sha256(b'tar').hexdigest(), size=3)
    put(tmp_path, 'c1/r1/manifest.json', b'{"format": ')
    broken = host_facts.backup(str(run))
    assert broken['manifest'] is None and broken['manifest_exists'] and broken['manifest_error']


def test_backup_runs_newest_first_only_with_a_manifest(tmp_path):
    for name, stamp in (('c1/r1', 100), ('c1/r2', 300), ('c2/r1', 200)):
        os.utime(str(put(tmp_path, name + '/manifest.json', b'{}')), (stamp, stamp))
    (tmp_path / 'c2' / 'incomplete').mkdir()
    put(tmp_path, 'c2/deeper/x/manifest.json')
    assert [run['dir'] for run in host_facts.backup_runs(str(tmp_path))] == [
        str(tmp_path / 'c1' / 'r2'), str(tmp_path / 'c2' / 'r1'), str(tmp_path / 'c1' / 'r1')]
    assert host_facts.backup_runs(str(tmp_path / 'nope')) == []


# -- one call ---------------------------------------------------------------------------------------------

def test_gather_answers_only_what_is_asked(tmp_path):
    host = FakeHost(tmp_path, answers={('dpkg-query', '-W'): (0, DPKG_LINES, '')})
    result = host_facts.gather(host, {})
    assert result == dict(package_manager='apt', package_format='deb',
                          now=dict(epoch=1795324290, iso='2026-11-22T05:11:30Z'))
    assert host.calls == []
    result = host_facts.gather(host, dict(packages=['lab-kernel'], held=True, reboot=True))
    assert result['versions'] == {'lab-kernel': '1.0'} and result['held'] == ['held-gone', 'lab-compute-agent']
    assert set(result) == {'package_manager', 'package_format', 'now', 'packages', 'unfinished', 'versions', 'held',
                           'reboot'}


def test_gather_the_precheck_in_one_call(tmp_path):
    host = FakeHost(tmp_path, answers={('dpkg', '--audit'): (0, '', ''),
                                       ('apt-cache', 'madison'): (0, ' lab-kernel | 2.0 | file:/repo Packages\n', '')})
    result = host_facts.gather(host, dict(free_space=[str(tmp_path)], package_health=True, refresh_sources=True,
                                          offered=['lab-kernel'], reboot=True))
    assert result['package_health'] == dict(checked=True, lock=None, audit='')
    assert result['sources']['ok'] is True and result['offered'] == {'lab-kernel': ['2.0']}
    assert result['free_space'][str(tmp_path)]['error'] is None and result['reboot']['required'] is False
    assert [call[0] for call in host.calls] == ['dpkg', 'apt-get', 'apt-cache']
