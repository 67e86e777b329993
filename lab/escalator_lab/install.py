"""Everything `lab up` installs or builds once and keeps as a cache:
Debian packages, the OpenStack venv, the debootstrap root, the local apt repo, the host base."""
import hashlib
import os
import shutil
import subprocess
import tempfile

from .common import (BASE, DEBOOTSTRAP, FILES, HOST_MOUNT_REPO, HOST_MOUNT_VENV, LAB_SRC, LOGS,
                     PIP_CACHE, REPO, LabError, log, read, run, write, VENV)

APT_PACKAGES = ['mariadb-server', 'rabbitmq-server', 'debootstrap', 'systemd-container',
                'dpkg-dev', 'python3-venv', 'iproute2', 'openssh-client', 'util-linux']
HOST_PACKAGES = ['python3', 'python3-apt', 'openssh-server', 'iproute2', 'systemd',
                 'systemd-sysv', 'dbus', 'procps', 'iputils-ping']
PKG_VERSIONS = ('1.0', '2.0')
MASKED_TIMERS = ['apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer',
                 'e2scrub_all.timer', 'fstrim.timer']
BREAK_MARKER = '/etc/escalator-lab/break-upgrade'
SYSTEM_PY = '/usr/bin/python3'


# --- Debian packages on the machine ---------------------------------------------------
def missing_apt_packages(packages=None):
    missing = []
    for pkg in packages or APT_PACKAGES:
        p = subprocess.run(['dpkg-query', '-W', '-f=${Status}', pkg], capture_output=True,
                           text=True)
        if p.returncode != 0 or 'install ok installed' not in p.stdout:
            missing.append(pkg)
    return missing


def ensure_apt_packages(packages=None):
    """Install the lab's Debian packages (or `packages`) that are missing."""
    missing = missing_apt_packages(packages)
    if not missing:
        return
    log('apt: installing %s', ' '.join(missing))
    logfile = os.path.join(LOGS, 'apt.log')
    run(['apt-get', 'update', '-q'], check=False, logfile=logfile)
    # Never let a package start its system-wide daemon (MariaDB, RabbitMQ): the lab runs
    # its own instances.  Only add the policy if the machine has none.
    policy = '/usr/sbin/policy-rc.d'
    added = not os.path.exists(policy)
    if added:
        write(policy, '#!/bin/sh\n# escalator lab: temporary, while installing\nexit 101\n', 0o755)
    try:
        run(['apt-get', 'install', '-y', '-q', '--no-install-recommends'] + missing,
            env={'DEBIAN_FRONTEND': 'noninteractive'}, logfile=logfile)
    finally:
        if added:
            os.unlink(policy)
    still = missing_apt_packages(missing)
    if still:
        raise LabError('apt did not install %s (see %s)' % (still, logfile))


# --- OpenStack venv (Debian's python, so the hosts can run it bind-mounted) ----------------
def _constraints_hash():
    return hashlib.sha256(read(os.path.join(LAB_SRC, 'constraints.txt'), '').encode()
                          + read(os.path.join(FILES, 'labdriver.py'), '').encode()).hexdigest()


def venv_ready():
    return read(os.path.join(VENV, '.escalator-lab-stamp'), '').strip() == _constraints_hash()


def ensure_venv():
    if venv_ready():
        return
    if not os.path.exists(SYSTEM_PY):
        raise LabError('%s is missing (Debian python3 is needed for the venv)' % SYSTEM_PY)
    log('venv: installing OpenStack into %s (constraints %s)', VENV,
        os.path.join(LAB_SRC, 'constraints.txt'))
    logfile = os.path.join(LOGS, 'pip.log')
    if not os.path.exists(os.path.join(VENV, 'bin', 'python')):
        run([SYSTEM_PY, '-m', 'venv', VENV], logfile=logfile)
    pip = [os.path.join(VENV, 'bin', 'python'), '-m', 'pip', '--cache-dir', PIP_CACHE,
           '--disable-pip-version-check', '-q']
    run(pip + ['install', '-U', 'pip', 'setuptools', 'wheel'], logfile=logfile)
    cons = os.path.join(LAB_SRC, 'constraints.txt')
    run(pip + ['install', '-c', cons, 'nova', 'keystone', 'openstack-placement', 'glance',
               'openstacksdk', 'PyMySQL', 'gunicorn'], logfile=logfile)
    # Nova 34 loads compute_driver as 'nova.virt.' + name: the lab driver lives in the venv.
    site = run([os.path.join(VENV, 'bin', 'python'), '-c',
                'import nova.virt, os; print(os.path.dirname(nova.virt.__file__))'],
               capture=True).strip()
    shutil.copy(os.path.join(FILES, 'labdriver.py'), os.path.join(site, 'labdriver.py'))
    write(os.path.join(VENV, '.escalator-lab-stamp'), _constraints_hash() + '\n')


# --- local apt repository: lab-compute-agent and lab-kernel, 1.0 and 2.0 -----------------
def _guard_upgrade(pkg, ver):
    return '''\
# lab fault "break-upgrade": any UPGRADE of a lab package fails while the marker exists
# (downgrades = rollbacks still work), like a broken maintainer script on a real host.
if [ "$1" = configure ] && [ -e {marker} ] && [ -n "$2" ] && dpkg --compare-versions "{ver}" gt "$2"; then
    echo "{pkg} {ver}: postinst failed (lab fault injected by 'lab fault HOST break-upgrade')" >&2
    exit 1
fi
'''.format(marker=BREAK_MARKER, pkg=pkg, ver=ver)


def _package_files(pkg, ver):
    """{path: (mode, content)} of one package, DEBIAN/ included."""
    files = {}
    control = ('Package: {p}\nVersion: {v}\nArchitecture: all\nMaintainer: Escalator lab '
               '<lab@example.invalid>\nPriority: optional\nSection: misc\n').format(p=pkg, v=ver)
    files['usr/share/%s/VERSION' % pkg] = (0o644, ver + '\n')
    if pkg == 'lab-compute-agent':
        control += ('Description: escalator lab: nova-compute service unit and config {v}\n'
                    ' Carries the nova-compute systemd unit (running the control plane venv\n'
                    ' bind-mounted at {venv}) and /etc/nova/nova-compute-agent.conf.\n'
                    ).format(v=ver, venv=HOST_MOUNT_VENV)
        files['lib/systemd/system/nova-compute.service'] = (0o644, '''\
[Unit]
Description=OpenStack Nova Compute (escalator lab, lab-compute-agent {v})
After=network.target
ConditionPathExists={venv}/bin/python

[Service]
Type=simple
Environment=ESCALATOR_AGENT_VERSION={v}
# the venv is bind-mounted read-only; its scripts' shebangs name the build path
ExecStart={venv}/bin/python {venv}/bin/nova-compute --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-compute-agent.conf --config-dir /etc/nova/nova.conf.d
Restart=on-failure
RestartSec=2
TimeoutStopSec=20

[Install]
WantedBy=multi-user.target
'''.format(v=ver, venv=HOST_MOUNT_VENV))
        files['etc/nova/nova-compute-agent.conf'] = (0o644, '''\
# Shipped by lab-compute-agent {v} (a dpkg conffile).  nova-compute reads it after
# /etc/nova/nova.conf; back it up / restore it like any package config.
[lab_agent]
version = {v}
'''.format(v=ver))
        files['etc/nova/nova.conf.d/.keep'] = (0o644, '')
        files['DEBIAN/conffiles'] = (0o644, '/etc/nova/nova-compute-agent.conf\n')
        files['DEBIAN/postinst'] = (0o755, '''#!/bin/sh
set -e
{guard}
if [ "$1" = configure ]; then
    # first install: enable (works offline in a chroot too)
    if [ -z "$2" ]; then systemctl enable nova-compute.service >/dev/null 2>&1 || true; fi
    # like dh_installsystemd: reload and restart the service when systemd runs
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        if systemctl is-enabled --quiet nova-compute.service; then
            systemctl restart nova-compute.service
        fi
    fi
fi
exit 0
'''.format(guard=_guard_upgrade(pkg, ver)))
        files['DEBIAN/prerm'] = (0o755, '''#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop nova-compute.service || true
fi
exit 0
''')
    else:
        control += ('Description: escalator lab: a "kernel" {v} whose install needs a reboot\n'
                    ' Its postinst writes /run/reboot-required(.pkgs) like a real kernel.\n'
                    ).format(v=ver)
        files['boot/lab-kernel-%s' % ver] = (0o644, 'lab kernel %s\n' % ver)
        files['DEBIAN/postinst'] = (0o755, '''#!/bin/sh
set -e
{guard}
if [ "$1" = configure ]; then
    echo "*** System restart required ***" > /run/reboot-required
    grep -qx {p} /run/reboot-required.pkgs 2>/dev/null || echo {p} >> /run/reboot-required.pkgs
fi
exit 0
'''.format(guard=_guard_upgrade(pkg, ver), p=pkg))
    files['DEBIAN/control'] = (0o644, control)
    return files


def _repo_hash():
    h = hashlib.sha256()
    for pkg in ('lab-compute-agent', 'lab-kernel'):
        for ver in PKG_VERSIONS:
            for path, (mode, content) in sorted(_package_files(pkg, ver).items()):
                h.update(('%s %o\n%s\n' % (path, mode, content)).encode())
    return h.hexdigest()[:16]


def ensure_repo():
    stamp = _repo_hash()
    if read(os.path.join(REPO, '.stamp'), '').strip() == stamp:
        return stamp
    log('repo: building the local apt repository %s', REPO)
    tmp = REPO + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with tempfile.TemporaryDirectory() as build:
        for pkg in ('lab-compute-agent', 'lab-kernel'):
            for ver in PKG_VERSIONS:
                root = os.path.join(build, '%s_%s' % (pkg, ver))
                for path, (mode, content) in _package_files(pkg, ver).items():
                    full = os.path.join(root, path)
                    os.makedirs(os.path.dirname(full), exist_ok=True)
                    with open(full, 'w') as f:
                        f.write(content)
                    os.chmod(full, mode)
                run(['dpkg-deb', '--root-owner-group', '-Zgzip', '--build', root,
                     os.path.join(tmp, '%s_%s_all.deb' % (pkg, ver))], capture=True)
    out = run(['dpkg-scanpackages', '--multiversion', '.', '/dev/null'], capture=True, cwd=tmp)
    write(os.path.join(tmp, 'Packages'), out)
    run(['gzip', '-9kf', os.path.join(tmp, 'Packages')])
    write(os.path.join(tmp, '.stamp'), stamp + '\n')
    shutil.rmtree(REPO, ignore_errors=True)
    os.rename(tmp, REPO)
    return stamp


# --- host root: debootstrap (pristine, slow, cached) -> base (customised) -------------------
def _mirror():
    for path in ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']:
        text = read(path, '')
        for line in text.splitlines():
            line = line.strip()
            if line.startswith('URIs:') and 'security' not in line:
                return line.split()[1]
            if line.startswith('deb ') and 'security' not in line and 'debian' in line:
                parts = [p for p in line.split() if p.startswith('http')]
                if parts:
                    return parts[0]
    return 'http://deb.debian.org/debian'


def ensure_debootstrap():
    if os.path.exists(os.path.join(DEBOOTSTRAP, 'usr', 'bin', 'python3')):
        return
    mirror = _mirror()
    log('hosts: debootstrap bookworm minbase from %s (once, cached in %s)', mirror, DEBOOTSTRAP)
    tmp = DEBOOTSTRAP + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    run(['debootstrap', '--variant=minbase', '--include=' + ','.join(HOST_PACKAGES),
         'bookworm', tmp, mirror], logfile=os.path.join(LOGS, 'debootstrap.log'))
    for pattern_dir in ('var/cache/apt/archives', 'var/lib/apt/lists'):
        d = os.path.join(tmp, pattern_dir)
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                os.unlink(p)
    os.rename(tmp, DEBOOTSTRAP)


BASE_VERSION = '3'   # bump when the customisation below changes


def base_stamp(repo_stamp):
    return '%s-%s' % (BASE_VERSION, repo_stamp)


def base_ready(repo_stamp):
    return read(os.path.join(BASE, '.escalator-lab-stamp'), '').strip() == base_stamp(repo_stamp)


def build_base(repo_stamp):
    """Customise a copy of the debootstrap root: apt points at the lab repo only, lab packages
    1.0 installed, timers masked, sshd configured, no host identity (added per host)."""
    log('hosts: building the host base root %s', BASE)
    tmp = BASE + '.tmp'
    if os.path.ismount(os.path.join(tmp, HOST_MOUNT_REPO.lstrip('/'))):
        run(['umount', os.path.join(tmp, HOST_MOUNT_REPO.lstrip('/'))])
    shutil.rmtree(tmp, ignore_errors=True)
    run(['cp', '-a', '--reflink=auto', DEBOOTSTRAP, tmp])
    j = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    for f in ('etc/apt/sources.list',):
        if os.path.exists(j(f)):
            os.unlink(j(f))
    write(j('etc/apt/sources.list.d/escalator-lab.list'),
          'deb [trusted=yes] file:%s ./\n' % HOST_MOUNT_REPO)
    write(j('etc/apt/apt.conf.d/99escalator-lab'),
          'Acquire::Languages "none";\nAPT::Install-Recommends "false";\n')
    for unit in MASKED_TIMERS:
        p = j('etc/systemd/system', unit)
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink('/dev/null', p)
    write(j('etc/ssh/sshd_config.d/escalator-lab.conf'),
          'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nUseDNS no\n'
          'ClientAliveInterval 5\n')
    write(j('etc/systemd/journald.conf.d/escalator-lab.conf'),
          '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n')
    os.makedirs(j(HOST_MOUNT_VENV.lstrip('/')), exist_ok=True)
    repo_mp = j(HOST_MOUNT_REPO.lstrip('/'))
    os.makedirs(repo_mp, exist_ok=True)
    write(j('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', 0o755)
    logfile = os.path.join(LOGS, 'base.log')
    run(['mount', '--bind', '-o', 'ro', REPO, repo_mp])
    try:
        env = {'DEBIAN_FRONTEND': 'noninteractive', 'LC_ALL': 'C'}
        run(['chroot', tmp, 'apt-get', 'update', '-q'], env=env, logfile=logfile)
        run(['chroot', tmp, 'apt-get', 'install', '-y', '-q', 'lab-compute-agent=1.0',
             'lab-kernel=1.0'], env=env, logfile=logfile)
    finally:
        run(['umount', repo_mp])
    os.unlink(j('usr/sbin/policy-rc.d'))
    for p in ('run/reboot-required', 'run/reboot-required.pkgs'):
        if os.path.exists(j(p)):
            os.unlink(j(p))
    for name in os.listdir(j('etc/ssh')):
        if name.startswith('ssh_host_'):
            os.unlink(j('etc/ssh', name))
    write(j('etc/machine-id'), '')
    if not os.path.lexists(j('etc/systemd/system/multi-user.target.wants/nova-compute.service')):
        raise LabError('lab-compute-agent did not enable nova-compute in the base (see %s)'
                       % logfile)
    write(j('.escalator-lab-stamp'), base_stamp(repo_stamp) + '\n')
    old = BASE + '.old'
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(BASE):
        os.rename(BASE, old)
    os.rename(tmp, BASE)
    shutil.rmtree(old, ignore_errors=True)
