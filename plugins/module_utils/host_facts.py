# SPDX-License-Identifier: Apache-2.0
"""What the roles ask a compute host, gathered ON the host in one call (module ``compute_host_facts``).

The roles used to ask with one small task each (``setup``, ``service_facts``, ``dpkg-query``, ``rpm``,
``df``, ``stat``, ``find``, ``slurp``, ``apt-mark``, ``needs-restarting``, ``systemctl show`` …): every
task is a round trip and controller CPU. ``gather(run, which, options)`` answers every question the caller
asks in one call and nothing else (each section only when asked): the package manager, installed
packages and their versions, held packages, services (enabled/active, main pid, start time), a pending
reboot and why, free space, the package database's health (dpkg lock, ``dpkg --audit``), the versions
the sources offer, the running process's environment (verdicts only, never a value), when packages were
installed, paths described for a backup (type, mode, owner, sha256 …), a backup of a run and the runs
kept on the host.

Stdlib only, Python 3.8+: it runs on the compute host, shipped with the module. ``run(argv)`` returns
``(rc, stdout, stderr)``; ``which(name)`` returns a path or ``None``; ``root`` prefixes the system files
it reads (``/run``, ``/var/lib/dpkg``, ``/proc``) so that unit tests work in a temporary directory.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import time

from ansible_collections.opnfv.escalator.plugins.module_utils.host_files import backup, backup_runs, describe_paths
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts

# dpkg's two locks (apt takes the first, dpkg the second): fcntl (POSIX) locks, which flock cannot see
DPKG_LOCKS = ('var/lib/dpkg/lock-frontend', 'var/lib/dpkg/lock')
# what service_facts calls a bad state (it wins over the unit file state, as there)
BAD_UNIT_STATES = ('not-found', 'masked', 'failed')
# dpkg states of a package caught half-way (half-installed, unpacked, half-configured, triggers)
UNFINISHED_DPKG_STATES = 'HUFWt'
DEB_FORMAT = '${Package}|${binary:Package}|${Version}|${Architecture}|${db:Status-Abbrev}\n'
RPM_FORMAT = '%{NAME}|%{NAME}|%{EPOCHNUM}:%{VERSION}-%{RELEASE}|%{ARCH}|ii \n'
SYSTEMCTL_PROPERTIES = 'Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecMainStartTimestamp'
VERSIONLOCK_ENTRY = re.compile(r'^(?:\d+:)?(.+?)-[^-]+-[^-]+$')


class HostFactsError(Exception):
    """A question the host cannot answer (its package database cannot be read ...)."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def now_stamp(clock=time.time):
    epoch = int(clock())
    return dict(epoch=epoch, iso=format_ts(epoch, seconds=True))


def _tail(text, size=400):
    return (text or '').strip()[-size:]


class Host:
    """The host as the gatherers see it: commands through ``run``/``which``, files under ``root``."""

    def __init__(self, run, which, root='/', clock=time.time, monotonic=time.monotonic):
        self.run = run
        self.which = which
        self.root = root
        self.clock = clock
        self.monotonic = monotonic
        self._manager = None

    def path(self, relative):
        return os.path.join(self.root, relative.lstrip('/'))

    # -- the package manager ------------------------------------------------------------------
    def package_manager(self):
        """(manager, format): ('apt', 'deb'), ('dnf5'|'dnf'|'yum', 'rpm') or ('unknown', None), like
        Ansible's pkg_mgr fact for the managers the roles support."""
        if self._manager is None:
            if self.which('dpkg-query') and self.which('apt-get'):
                self._manager = ('apt', 'deb')
            elif self.which('rpm'):
                dnf, dnf5 = self.which('dnf'), self.which('dnf5')
                if dnf5 and (not dnf or os.path.realpath(dnf).endswith('dnf5')):
                    self._manager = ('dnf5', 'rpm')
                elif dnf:
                    self._manager = ('dnf', 'rpm')
                elif self.which('yum'):
                    self._manager = ('yum', 'rpm')
                else:
                    self._manager = ('unknown', 'rpm')
            else:
                self._manager = ('unknown', None)
        return self._manager


# -- packages ------------------------------------------------------------------------------------

def parse_package_lines(text):
    """dpkg-query/rpm lines in DEB_FORMAT/RPM_FORMAT -> [(name, key, version, arch, abbrev)]; other lines
    (errors, a torn line) are left out. ``key`` is dpkg's ``binary:Package`` (``libc6:amd64`` for a
    multi-arch package), rpm's NAME."""
    out = []
    for line in text.splitlines():
        fields = line.split('|')
        if len(fields) == 5:
            out.append((fields[0], fields[1], fields[2], fields[3], fields[4]))
    return out


def packages(host, names=None):
    """Installed packages ({key: {version, arch, hold}}, the backup manifest's format), held packages,
    packages caught half-way (dpkg) and, for the ``names`` asked, their installed version (None when not
    installed). ``names`` None: every package."""
    _manager, fmt = host.package_manager()
    wanted = list(names or [])
    if fmt == 'deb':
        argv = ['dpkg-query', '-W', '-f=' + DEB_FORMAT] + wanted
    elif fmt == 'rpm':
        argv = (['rpm', '-q', '--qf', RPM_FORMAT] + wanted) if wanted else ['rpm', '-qa', '--qf', RPM_FORMAT]
    else:
        raise HostFactsError('no package database on the host (neither dpkg nor rpm): the roles support apt '
                             'and dnf hosts (use escalator_upgrade_method=command elsewhere)')
    rc, stdout, stderr = host.run(argv)
    if rc != 0 and not wanted:
        raise HostFactsError('cannot list the installed packages (%s exited %d): %s'
                             % (argv[0], rc, _tail(stderr)), cmd=argv, rc=rc)
    installed, held, unfinished, versions = {}, set(), {}, {}
    for name, key, version, arch, abbrev in parse_package_lines(stdout):
        state = abbrev.strip()
        if state in ('ii', 'hi'):
            installed[key] = dict(version=version, arch=arch, hold=state == 'hi')
            for alias in (name, key):
                if alias in wanted:
                    versions[alias] = version
        if abbrev[:1] == 'h':
            held.update((name, key))
        status, error = abbrev[1:2], abbrev[2:3]
        if fmt == 'deb' and ((status and status in UNFINISHED_DPKG_STATES) or error == 'R'):
            unfinished[key] = dict(version=version, status=state)
    result = dict(packages=installed, held=sorted(held), unfinished=unfinished)
    if wanted:
        result['versions'] = dict((name, versions.get(name)) for name in wanted)
    return result


def versionlocked(host):
    """Names of the packages locked by dnf versionlock (``[]`` where the plugin is missing)."""
    manager, _fmt = host.package_manager()
    if manager not in ('dnf', 'dnf5', 'yum') or not host.which(manager):
        return []
    rc, stdout, _stderr = host.run([manager, '-q', 'versionlock', 'list'])
    if rc != 0:
        return []
    names = set()
    for line in stdout.splitlines():
        match = VERSIONLOCK_ENTRY.match(line.strip())
        if match:
            names.add(match.group(1))
    return sorted(names)


def install_times(host, names):
    """{name: epoch the package was installed or upgraded, None when not installed}: the mtime of dpkg's
    file list, rpm's INSTALLTIME."""
    _manager, fmt = host.package_manager()
    out = {}
    for name in names:
        when = None
        if fmt == 'deb':
            lists = [host.path('var/lib/dpkg/info/%s.list' % name)] + sorted(
                glob.glob(host.path('var/lib/dpkg/info/%s:*.list' % glob.escape(name))))
            found = [int(os.stat(path).st_mtime) for path in lists if os.path.isfile(path)]
            when = max(found) if found else None
        elif fmt == 'rpm':
            rc, stdout, _stderr = host.run(['rpm', '-q', '--qf', '%{INSTALLTIME}\n', name])
            stamps = [int(word) for word in stdout.split() if word.isdigit()] if rc == 0 else []
            when = max(stamps) if stamps else None
        out[name] = when
    return out


# -- services ------------------------------------------------------------------------------------

def unit_name(name):
    return name if name.endswith('.service') else name + '.service'


def parse_systemctl_show(text):
    """``systemctl show`` of several units -> [{property: value}], one per unit, in order."""
    blocks, current = [], {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _sep, value = line.partition('=')
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def _epoch(value, mono_offset=None):
    value = (value or '').strip()
    if value.startswith('@'):
        return int(value[1:].split('.')[0] or 0)
    if mono_offset is not None and value.isdigit() and int(value) > 0:
        return int(mono_offset + int(value) / 1e6)
    return 0


def describe_unit(props, mono_offset=None):
    """One unit's properties in service_facts' words (``state`` running/stopped, ``status`` the unit file
    state unless a bad state wins) plus what the roles read (main pid, start time as epoch seconds)."""
    load, active, sub = props.get('LoadState', ''), props.get('ActiveState', ''), props.get('SubState', '')
    bad = next((value for value in (load, active, sub) if value in BAD_UNIT_STATES), None)
    started = props.get('ExecMainStartTimestamp')
    if started is None:
        started = props.get('ExecMainStartTimestampMonotonic')
    return dict(
        exists=bool(load) and load != 'not-found',
        state='running' if sub == 'running' else 'stopped',
        status=bad or props.get('UnitFileState') or active or 'unknown',
        active_state=active, sub_state=sub, unit_file_state=props.get('UnitFileState', ''),
        main_pid=int(props.get('MainPID') or 0),
        started=_epoch(started, mono_offset),
    )


def services(host, names):
    """{name: describe_unit(...)} of the systemd services ``names`` (without or with ``.service``), in
    one ``systemctl show``; a host without systemctl has none of them."""
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    missing = dict(exists=False, state='stopped', status='not-found', active_state='', sub_state='',
                   unit_file_state='', main_pid=0, started=0)
    if not host.which('systemctl'):
        return dict((name, dict(missing)) for name in names)
    units = [unit_name(name) for name in names]
    argv = ['systemctl', 'show', '--timestamp=unix', '-p', SYSTEMCTL_PROPERTIES] + units
    rc, stdout, stderr = host.run(argv)
    mono_offset = None
    if rc != 0 and 'timestamp' in (stderr or ''):
        # systemd < 248 (EL 8) has no --timestamp=unix: its monotonic start time, turned into epoch seconds
        argv = ['systemctl', 'show', '-p', SYSTEMCTL_PROPERTIES.replace('Timestamp', 'TimestampMonotonic')] + units
        rc, stdout, stderr = host.run(argv)
        mono_offset = host.clock() - host.monotonic()
    if rc != 0:
        raise HostFactsError('cannot read the services (systemctl show exited %d): %s' % (rc, _tail(stderr)),
                             cmd=argv, rc=rc)
    blocks = parse_systemctl_show(stdout)
    by_id = dict((block.get('Id'), block) for block in blocks)
    out = {}
    for index, (name, unit) in enumerate(zip(names, units)):
        block = by_id.get(unit) or (blocks[index] if index < len(blocks) else None)
        out[name] = describe_unit(block, mono_offset) if block else dict(missing)
    return out


def process_environment(host, pid, digests):
    """{VARIABLE: 'ok' | 'different' | 'unset'} of process ``pid`` against ``digests`` ({VARIABLE:
    sha256 hex of the expected value}): only verdicts leave the host, never a value (the environment of
    nova-compute holds passwords)."""
    env = {}
    with open(host.path('proc/%d/environ' % int(pid)), 'rb') as handle:
        for entry in handle.read().split(b'\0'):
            key, sep, value = entry.partition(b'=')
            if sep:
                env.setdefault(key.decode('utf-8', 'replace'), value)
    return dict((key, 'unset' if key not in env
                 else 'ok' if hashlib.sha256(env[key]).hexdigest() == digest else 'different')
                for key, digest in digests.items())


# -- reboot, disk, package database health, sources ------------------------------------------------

def reboot_required(host):
    """Does the system ask for a reboot: Debian's /run/reboot-required (and the packages in
    /run/reboot-required.pkgs), ``needs-restarting -r`` on RPM systems (exit 1: a reboot is needed)."""
    flag = os.path.exists(host.path('run/reboot-required'))
    pkgs = []
    try:
        with open(host.path('run/reboot-required.pkgs'), encoding='utf-8', errors='replace') as handle:
            pkgs = list(dict.fromkeys(handle.read().split()))
    except OSError:
        pass
    needs_restarting = None
    manager, fmt = host.package_manager()
    if fmt == 'rpm':
        if host.which('needs-restarting'):
            needs_restarting = host.run(['needs-restarting', '-r'])[0]
        elif manager == 'dnf5' and host.which('dnf5'):
            needs_restarting = host.run(['dnf5', 'needs-restarting', '-r'])[0]
    return dict(required=flag or needs_restarting == 1, flag=flag, packages=pkgs,
                needs_restarting=needs_restarting)


def free_space(host, paths):
    """{path: {free_mb, error}}: MiB available to unprivileged users (df's "Available"), rounded down."""
    out = {}
    for path in paths:
        try:
            st = os.statvfs(path)
        except OSError as exc:
            out[path] = dict(free_mb=None, error=exc.strerror or str(exc))
            continue
        out[path] = dict(free_mb=st.f_bavail * st.f_frsize // (1024 * 1024), error=None)
    return out


def dpkg_lock_holder(host):
    """The dpkg lock another process holds (None when free): try each without waiting, release at once."""
    for relative in DPKG_LOCKS:
        path = host.path(relative)
        if not os.path.exists(path):
            continue
        with open(path, 'a') as handle:
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return '/' + relative
            fcntl.lockf(handle, fcntl.LOCK_UN)
    return None


def package_health(host):
    """{checked, lock, audit}: on dpkg systems, a dpkg lock held by someone else and what ``dpkg --audit``
    reports (half-installed or unconfigured packages); RPM systems are not checked (``checked`` false)."""
    _manager, fmt = host.package_manager()
    if fmt != 'deb':
        return dict(checked=False, lock=None, audit='')
    rc, stdout, stderr = host.run(['dpkg', '--audit'])
    audit = stdout.strip() or (_tail(stderr) if rc != 0 else '')
    return dict(checked=True, lock=dpkg_lock_holder(host), audit=audit)


def refresh_sources(host, lock=None):
    """Refresh the package index (``apt-get update`` / ``dnf makecache``): do the sources answer?
    {ok, cmd, rc, stderr}; ``ok`` None when not tried (the dpkg lock is held: apt would wait or fail)."""
    manager, _fmt = host.package_manager()
    if manager == 'apt':
        argv = ['apt-get', 'update', '-q', '-o', 'APT::Update::Error-Mode=any']
    elif manager in ('dnf', 'dnf5', 'yum'):
        argv = [manager, '-q', 'makecache']
    else:
        return dict(ok=None, cmd=[], rc=None, stderr='no apt or dnf on the host')
    if lock:
        return dict(ok=None, cmd=argv, rc=None, stderr='not tried: %s is held' % lock)
    rc, _stdout, stderr = host.run(argv)
    return dict(ok=rc == 0, cmd=argv, rc=rc, stderr=_tail(stderr))


def offered_versions(host, names):
    """{name: [versions the sources offer]} (``apt-cache madison``; ``dnf list --showduplicates``, a
    leading ``0:`` epoch dropped)."""
    manager, _fmt = host.package_manager()
    out = dict((name, []) for name in names)
    if not names:
        return out
    if manager == 'apt':
        _rc, stdout, _stderr = host.run(['apt-cache', 'madison'] + list(names))
        for line in stdout.splitlines():
            fields = [field.strip() for field in line.split('|')]
            if len(fields) >= 2 and fields[0] in out and fields[1] not in out[fields[0]]:
                out[fields[0]].append(fields[1])
    elif manager in ('dnf', 'dnf5', 'yum'):
        for name in names:
            rc, stdout, _stderr = host.run([manager, '-q', 'list', '--showduplicates', name])
            for line in stdout.splitlines() if rc == 0 else []:
                fields = line.split()
                if len(fields) == 3:
                    version = re.sub('^0:', '', fields[1])
                    if version not in out[name]:
                        out[name].append(version)
    return out


# -- everything at once ----------------------------------------------------------------------------

def gather(host, options):
    """Answer what ``options`` (the module's parameters) ask, in one pass; see the module's RETURN."""
    manager, fmt = host.package_manager()
    result = dict(package_manager=manager, package_format=fmt, now=now_stamp(host.clock))
    names = options.get('packages')
    if names or options.get('held'):
        every = not names or '*' in names
        found = packages(host, None if every else names)
        if names:
            result['packages'] = found['packages']
            result['unfinished'] = found['unfinished']
            if not every:
                result['versions'] = found['versions']
        if options.get('held'):
            held = found['held'] if every else packages(host)['held']
            result['held'] = sorted(set(held) | set(versionlocked(host))) if fmt == 'rpm' else held
    process = options.get('process') or {}
    units = list(options.get('services') or [])
    if process.get('service'):
        units.append(process['service'])
    if units:
        result['services'] = services(host, units)
    if process.get('service'):
        unit = result['services'][process['service']]
        info = dict(service=process['service'], main_pid=unit['main_pid'], started=unit['started'], env={},
                    error=None)
        if unit['main_pid'] > 0 and process.get('env'):
            try:
                info['env'] = process_environment(host, unit['main_pid'], process['env'])
            except OSError as exc:
                info['error'] = 'cannot read the environment of pid %d: %s' % (unit['main_pid'], exc.strerror)
        result['process'] = info
    if options.get('install_times'):
        result['install_times'] = install_times(host, options['install_times'])
    if options.get('reboot'):
        result['reboot'] = reboot_required(host)
    if options.get('free_space'):
        result['free_space'] = free_space(host, options['free_space'])
    if options.get('package_health'):
        result['package_health'] = package_health(host)
    if options.get('refresh_sources'):
        lock = result['package_health']['lock'] if 'package_health' in result else (
            dpkg_lock_holder(host) if fmt == 'deb' else None)
        result['sources'] = refresh_sources(host, lock=lock)
    if options.get('offered'):
        result['offered'] = offered_versions(host, options['offered'])
    if options.get('describe_paths'):
        result.update(describe_paths(options['describe_paths']))
    if options.get('backup_dir'):
        result['backup'] = backup(options['backup_dir'])
    if options.get('backup_root'):
        result['backup_runs'] = backup_runs(options['backup_root'])
    return result
