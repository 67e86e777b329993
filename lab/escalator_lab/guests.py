"""The real-guest host profile (issue 17): lab hosts that run libvirt 11.3 + QEMU 10 (TCG) from
bookworm-backports and nova-compute with Nova's libvirt driver, so servers are real QEMU guests and
live migration between lab hosts is QEMU's own, driven by Nova.

Why each piece is there is measured in docs/real-guests-feasibility.md; in short:
- lower layer `cache/base-libvirt` = `cache/base` + libvirt/QEMU from bookworm-backports (bookworm's
  QEMU 7.2 corrupted guests in pre-copy migration; its libvirt 9.0 fails Nova's next minimum);
- nspawn: CAP_NET_ADMIN (taps), @memlock (munlockall), a PRIVATE /dev/userfaultfd per host
  (post-copy; libvirt chowns the node, so never the machine's own), and ONE machine directory
  bound at /var/lib/nova/instances on every host (shared storage: no block migration);
- qemu.conf: no cgroup controllers (nspawn mounts v1 controllers read-only), the instances path is
  a shared file system (libvirt must not give a migrated guest's disk back to root);
- libvirtd.conf: TCP without auth (Nova's live_migration_scheme = tcp), a per-host host_uuid;
- nova-compute: Debian's python3-libvirt through a PYTHONPATH of symlinks (the venv has no system
  site-packages), privsep through the venv's privsep-helper (the hosts have no sudo);
- lab-tap-enslaver: Nova's vif_type tap leaves taps unattached; they join brvnf at once.
A host's mode is recorded in its own directory (`guests` file); switching is a power cycle onto the
other lower layer, the host's own upper layer kept (like the containerised profile).
"""
import concurrent.futures
import hashlib
import os
import shutil
import time

from . import containers, controlplane, hosts
from .common import (BASE, BASE_LV, FILES, HOST_MOUNT_VENV, HOSTS_DIR, LOGS, SSH_KEY, LabError,
                     host_ip, host_name, ledger_add, ledger_remove, log, read, run, settings,
                     wait_for, write)

BASE_LV_VERSION = '3'       # bump when the base-libvirt customisation changes
SUITE = 'bookworm'
BACKPORTS = SUITE + '-backports'
HOST_PACKAGES = ['libvirt-daemon-system', 'libvirt-clients', 'qemu-system-x86', 'qemu-utils',
                 'python3-libvirt']
INSTANCES = '/var/lib/nova/instances'
SHARED_INSTANCES = os.path.join(HOSTS_DIR, 'instances')   # the one machine dir every host binds
PYLIBVIRT = '/usr/local/lib/escalator-lab/python'          # symlinks to Debian's python3-libvirt
PYLIBVIRT_FILES = ('libvirt.py', 'libvirt_qemu.py', 'libvirt_lxc.py')
ENSLAVER = 'lab-tap-enslaver'
ENSLAVER_SRC = os.path.join(FILES, 'lab_tap_enslaver.py')
WANTS = 'etc/systemd/system/multi-user.target.wants'
NOVA_DROPIN = 'etc/systemd/system/nova-compute.service.d/50-escalator-lab-libvirt.conf'
PRIVSEP_CONTEXTS = ('nova_sys_admin', 'privsep_osbrick')
SYSFS_NET = ('class/net', 'devices/virtual/net')    # the netns-tagged parts of sysfs
MASKED = ('libvirt-guests.service',)   # Nova owns the guests' lifecycle; it hung power-off ≥30 s
# what the real-guest profile leaves in a host's own layer; removed when it goes back to fake
UPPER_LEFTOVERS = ['etc/libvirt', 'var/lib/libvirt', 'var/log/libvirt', 'var/cache/libvirt',
                   'var/lib/nova/instances', 'root/.ssh/id_ed25519', 'root/.ssh/known_hosts',
                   'run/libvirt']
QEMU_CONF = '''
# escalator lab (real guests): nspawn mounts the cgroup v1 controllers read-only, so libvirt must
# not create cgroups (no per-guest limits: flavors must not use quota:* extra specs)
cgroup_controllers = [ ]
# every lab host binds ONE machine directory here: a migrated guest's files must keep their owner
shared_filesystems = [ "%s" ]
''' % INSTANCES
LIBVIRTD_CONF = '''
# escalator lab (real guests): Nova's live_migration_scheme = tcp connects to qemu+tcp://<dest>;
# the lab bridge is reachable only from this machine and its hosts
auth_tcp = "none"
'''


# --- small pure helpers (unit-tested) --------------------------------------------------------
def _apt_entries(texts):
    """(uri, suite, components) of every `deb` entry in one-line sources.list texts and deb822
    .sources texts, in order."""
    out = []
    for text in texts:
        stanza = {}
        for line in (text or '').splitlines() + ['']:
            s = line.split('#', 1)[0].strip()
            if s.startswith('deb '):
                words = [w for w in s.split()[1:] if not (w.startswith('[') or w.endswith(']'))
                         and '=' not in w]
                if len(words) >= 2:
                    out.append((words[0], words[1], words[2:]))
            elif ':' in s and not s.startswith('deb'):
                k, v = s.split(':', 1)
                stanza[k.strip().lower()] = v.split()
            elif not s and stanza:
                if 'deb' in stanza.get('types', []):
                    for uri in stanza.get('uris', []):
                        for suite in stanza.get('suites', []):
                            out.append((uri, suite, stanza.get('components', [])))
                stanza = {}
    return out


def apt_sources(texts, suite=SUITE):
    """The apt lines a real-guest base is built with, from the machine's OWN apt configuration:
    the machine's `suite` entry and a `suite`-backports entry on the same mirror (the machine's own
    backports entry if it has one). No mirror is named here."""
    entries = _apt_entries(texts)
    main = [(u, s) for u, s, _ in entries if s == suite]
    if not main:
        raise LabError('the machine\'s apt configuration has no %s entry to derive %s-backports '
                       'from (/etc/apt/sources.list, /etc/apt/sources.list.d)' % (suite, suite))
    bpo = [u for u, s, _ in entries if s == suite + '-backports'] or [main[0][0]]
    return 'deb %s %s main\ndeb %s %s-backports main\n' % (main[0][0], suite, bpo[0], suite)


def misc_minor(proc_misc, name='userfaultfd'):
    """The minor number of a misc device from /proc/misc ('257 userfaultfd'), None if absent."""
    for line in (proc_misc or '').splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == name and parts[0].isdigit():
            return int(parts[0])
    return None


def nspawn_args(uffd_node, shared_instances, sysfs=None):
    """What a real-guest host's systemd-nspawn needs beyond the lab's argv. `sysfs`: a sysfs
    mounted from inside the host's netns; nspawn 252 with --network-namespace-path shows the
    MACHINE's links in /sys/class/net, and Nova decides whether a tap exists from there
    (nova.privsep.linux_net.device_exists): with the machine's view it re-creates an existing
    tap at every nova-compute start, `ip tuntap add` fails, and nova-compute dies."""
    args = ['--capability=CAP_NET_ADMIN', '--system-call-filter=@memlock',
            '--bind=%s:%s' % (shared_instances, INSTANCES)]
    if uffd_node:
        args.append('--bind=%s:/dev/userfaultfd' % uffd_node)
    if sysfs:
        args += ['--bind-ro=%s/%s:/sys/%s' % (sysfs, d, d) for d in SYSFS_NET]
    return args


def tap_names(ip_link_text):
    """Names of the tap* links in `ip -o link show` output."""
    out = []
    for line in (ip_link_text or '').splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0].rstrip(':').isdigit():
            name = parts[1].rstrip(':').split('@', 1)[0]
            if name.startswith('tap'):
                out.append(name)
    return out


def allocation_ratios(capacity, machine):
    """Nova allocation ratios that make a host offer about the lab's configured capacity:
    libvirt reports the machine's own CPUs, memory and disk in every host."""
    return {k: round(float(capacity[k]) / max(1, machine[k]), 4)
            for k in ('vcpus', 'memory_mb', 'disk_gb')}


def privsep_helper_command(venv=HOST_MOUNT_VENV):
    """oslo.privsep's helper_command for a host without sudo: nova-compute runs as root and starts
    the venv's privsep-helper itself. With helper_command set oslo.privsep adds no config files,
    so they are named here; the venv's script shebangs name its build path, hence the python."""
    return ('%s/bin/python %s/bin/privsep-helper --config-file /etc/nova/nova.conf '
            '--config-dir /etc/nova/nova.conf.d' % (venv, venv))


def nova_conf(ip, ratios):
    """The part of a real-guest host's nova.conf that differs from a fake one (see
    controplane.compute_conf): the libvirt driver and its settings, appended sections."""
    return '''\
[libvirt]
virt_type = qemu
# one named model: TCG guests identical on every host, so any host can take any guest
cpu_mode = custom
cpu_models = qemu64
live_migration_scheme = tcp
live_migration_inbound_addr = {ip}
live_migration_permit_post_copy = true
[compute]
# the Neutron stand-in sends no network-vif-plugged events
live_migration_wait_for_vif_plug = false
[image_cache]
# the instances path (and its _base) is shared by every host: no host removes another's base image
remove_unused_base_images = false
{privsep}'''.format(ip=ip, privsep=''.join(
        '[%s]\nhelper_command = %s\n' % (c, privsep_helper_command()) for c in PRIVSEP_CONTEXTS))


def nova_defaults(ratios):
    """[DEFAULT] lines of a real-guest host (replacing the fake driver's)."""
    return '''\
compute_driver = libvirt.LibvirtDriver
# libvirt reports the machine's CPUs/RAM/disk in every host: ratios give about the lab capacity
cpu_allocation_ratio = {vcpus}
ram_allocation_ratio = {memory_mb}
disk_allocation_ratio = {disk_gb}
reserved_host_memory_mb = 0
reserved_host_disk_mb = 0
# the Neutron stand-in sends no network-vif-plugged events
vif_plugging_timeout = 0
vif_plugging_is_fatal = false
'''.format(**ratios)


def libvirtd_conf(base_text, host):
    """libvirtd.conf of one host: the base's plus its own host_uuid (the lab's node uuid; the
    machine has no SMBIOS)."""
    return (base_text or '') + '# escalator lab: this host\'s identity\nhost_uuid = "%s"\n' % (
        hosts.node_uuid(host))


def nova_dropin():
    return '''\
# escalator lab (real guests): Debian's python3-libvirt for the venv's nova-compute, libvirtd first
[Unit]
Wants=libvirtd.socket
After=libvirtd.socket libvirtd.service
[Service]
Environment=PYTHONPATH={py}
'''.format(py=PYLIBVIRT)


def enslaver_unit():
    return '''\
[Unit]
Description=escalator lab: every tap* link joins the guests' bridge brvnf at once
Before=nova-compute.service libvirtd.service

[Service]
ExecStart=/usr/bin/python3 /usr/local/sbin/{name}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
'''.format(name=ENSLAVER)


def ssh_client_conf():
    # Nova's cold migration checks a shared path and copies through `ssh <dest ip>` as root
    return ('# escalator lab (real guests): host-to-host root ssh on the lab bridge\n'
            'Host 10.213.0.*\n    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n'
            '    LogLevel ERROR\n    BatchMode yes\n')


# --- machine side: the real-guest base root ------------------------------------------------
def base_lv_stamp():
    h = hashlib.sha256()
    for text in (QEMU_CONF, LIBVIRTD_CONF, nova_dropin(), enslaver_unit(), ssh_client_conf(),
                 read(ENSLAVER_SRC, ''), ' '.join(HOST_PACKAGES)):
        h.update(text.encode())
    return '%s-%s-%s' % (BASE_LV_VERSION, h.hexdigest()[:12],
                         read(os.path.join(BASE, '.escalator-lab-stamp'), '').strip())


def base_lv_ready():
    return read(os.path.join(BASE_LV, '.escalator-lab-stamp'), '').strip() == base_lv_stamp()


def _machine_apt_texts():
    texts = [read('/etc/apt/sources.list', '')]
    d = '/etc/apt/sources.list.d'
    if os.path.isdir(d):
        texts += [read(os.path.join(d, f), '') for f in sorted(os.listdir(d))
                  if f.endswith(('.list', '.sources'))]
    return texts


def ensure_base_lv():
    """cache/base-libvirt (idempotent, stamped): base + libvirt/QEMU from bookworm-backports."""
    if base_lv_ready():
        return False
    if any(host_guests(i) == 'real' and os.path.ismount(hosts.root(i))
           for i in hosts.existing_indexes()):
        log('WARNING: %s is outdated but real-guest hosts run on it; `lab guests fake` first '
            'rebuilds it', BASE_LV)
        return False
    t0 = time.monotonic()
    log('guests: building the real-guest host base %s (base + libvirt/QEMU from %s)', BASE_LV,
        BACKPORTS)
    tmp = BASE_LV + '.tmp'
    if os.path.ismount(os.path.join(tmp, 'proc')):
        run(['umount', os.path.join(tmp, 'proc')])
    shutil.rmtree(tmp, ignore_errors=True)
    run(['cp', '-a', '--reflink=auto', BASE, tmp])
    j = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    lab_list = j('etc/apt/sources.list.d/escalator-lab.list')
    os.rename(lab_list, lab_list + '.off')
    # Debian packages from the machine's own apt configuration, for this build only
    build_list = j('etc/apt/sources.list.d/escalator-lab-build.list')
    write(build_list, apt_sources(_machine_apt_texts()))
    resolv = j('etc/resolv.conf')
    saved_resolv = read(resolv)
    if os.path.lexists(resolv):
        os.unlink(resolv)
    shutil.copy('/etc/resolv.conf', resolv)
    write(j('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', 0o755)
    logfile = os.path.join(LOGS, 'base-libvirt.log')
    env = {'DEBIAN_FRONTEND': 'noninteractive', 'LC_ALL': 'C'}
    run(['mount', '-t', 'proc', 'proc', j('proc')])
    try:
        run(['chroot', tmp, 'apt-get', 'update', '-q'], env=env, logfile=logfile)
        run(['chroot', tmp, 'apt-get', 'install', '-y', '-q', '--no-install-recommends',
             '-o', 'Dpkg::Options::=--force-confold', '-t', BACKPORTS] + HOST_PACKAGES,
            env=env, logfile=logfile)
        run(['chroot', tmp, 'apt-get', 'clean'], env=env, logfile=logfile)
    finally:
        run(['umount', j('proc')])
    os.unlink(build_list)
    os.rename(lab_list + '.off', lab_list)
    os.unlink(resolv)
    if saved_resolv is not None:
        write(resolv, saved_resolv)
    os.unlink(j('usr/sbin/policy-rc.d'))
    # the build's package lists go; the base's (the lab repo's) come back: apt-get update dropped
    # them, and a host upgrades lab packages without one
    lists, base_lists = j('var/lib/apt/lists'), os.path.join(BASE, 'var/lib/apt/lists')
    for name in os.listdir(lists):
        if os.path.isfile(os.path.join(lists, name)) and name != 'lock':
            os.unlink(os.path.join(lists, name))
    for name in os.listdir(base_lists):
        if os.path.isfile(os.path.join(base_lists, name)) and name != 'lock':
            shutil.copy2(os.path.join(base_lists, name), os.path.join(lists, name))
    _customise(tmp)
    write(j('.escalator-lab-stamp'), base_lv_stamp() + '\n')
    shutil.rmtree(BASE_LV, ignore_errors=True)
    os.rename(tmp, BASE_LV)
    log('guests: host base built in %.1fs', time.monotonic() - t0)
    return True


def _customise(root):
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    for rel, text in (('etc/libvirt/qemu.conf', QEMU_CONF), ('etc/libvirt/libvirtd.conf',
                                                             LIBVIRTD_CONF)):
        if not os.path.exists(j(rel)):
            raise LabError('%s is missing after the install (see %s)' % (
                rel, os.path.join(LOGS, 'base-libvirt.log')))
        write(j(rel), read(j(rel)) + text, 0o600 if rel.endswith('libvirtd.conf') else 0o600)
    sockets = j('etc/systemd/system/sockets.target.wants')
    os.makedirs(sockets, exist_ok=True)
    for unit in ('libvirtd.socket', 'libvirtd-ro.socket', 'libvirtd-admin.socket',
                 'libvirtd-tcp.socket'):
        link = os.path.join(sockets, unit)
        if not os.path.lexists(link) and os.path.exists(j('lib/systemd/system', unit)):
            os.symlink('/lib/systemd/system/' + unit, link)
    for unit in MASKED:
        p = j('etc/systemd/system', unit)
        for q in (p, j(WANTS, unit)):
            if os.path.lexists(q):
                os.unlink(q)
        os.symlink('/dev/null', p)
    # Debian's python3-libvirt, visible to the venv's nova-compute (both are python 3.11)
    os.makedirs(j(PYLIBVIRT.lstrip('/')), exist_ok=True)
    dist = j('usr/lib/python3/dist-packages')
    for name in sorted(os.listdir(dist)):
        if name in PYLIBVIRT_FILES or name.startswith('libvirtmod'):
            os.symlink('/usr/lib/python3/dist-packages/' + name, j(PYLIBVIRT.lstrip('/'), name))
    if not os.path.lexists(j(PYLIBVIRT.lstrip('/'), 'libvirt.py')):
        raise LabError('python3-libvirt has no libvirt.py in %s' % dist)
    write(j(NOVA_DROPIN), nova_dropin())
    shutil.copy(ENSLAVER_SRC, j('usr/local/sbin', ENSLAVER))
    os.chmod(j('usr/local/sbin', ENSLAVER), 0o755)
    write(j('etc/systemd/system', ENSLAVER + '.service'), enslaver_unit())
    link = j(WANTS, ENSLAVER + '.service')
    if not os.path.lexists(link):
        os.symlink('/etc/systemd/system/%s.service' % ENSLAVER, link)
    write(j('etc/ssh/ssh_config.d/escalator-lab.conf'), ssh_client_conf())
    os.makedirs(j(INSTANCES.lstrip('/')), exist_ok=True)


def ensure_machine():
    """Everything the profile needs on the machine (idempotent; fast when done)."""
    ensure_base_lv()
    os.makedirs(SHARED_INSTANCES, exist_ok=True)


# --- hosts -----------------------------------------------------------------------------------
def guests_file(i):
    """Exists (content "real") while the host runs on the real-guest base."""
    return os.path.join(hosts.host_dir(i), 'guests')


def host_guests(i):
    return (read(guests_file(i)) or 'fake').strip()


def prepare_new_host(i, mode):
    """A host not made yet starts in `mode` (its marker and device node before its first mount)."""
    if mode != 'real' or os.path.exists(os.path.join(hosts.host_dir(i), 'upper', 'etc',
                                                     'escalator-lab', 'host')):
        return
    os.makedirs(hosts.host_dir(i), exist_ok=True)
    write(guests_file(i), 'real\n')
    ensure_uffd_node(i)


def sysfs_dir(i):
    return os.path.join(hosts.host_dir(i), 'sys')


def ensure_sysfs(i):
    """A sysfs mounted from inside the host's netns (its links, not the machine's), for the
    host's /sys/class/net; in the ledger, so `lab down` unmounts it."""
    d = sysfs_dir(i)
    if not os.path.ismount(d):
        os.makedirs(d, exist_ok=True)
        run(['nsenter', '--net=/run/netns/' + hosts.netns(i), 'mount', '-t', 'sysfs', '-o',
             'ro,nosuid,nodev,noexec', 'esclab-sys-' + host_name(i), d])
        ledger_add('mounts', d)
    return d


def remove_sysfs(i):
    d = sysfs_dir(i)
    if os.path.ismount(d):
        run(['umount', d])
    ledger_remove('mounts', d)


def remove_taps(i):
    """The taps of guests that died with their host (the netns outlives it): gone in fake mode."""
    ns = hosts.netns(i)
    if not os.path.exists('/run/netns/' + ns):
        return
    for name in tap_names(run(['ip', '-n', ns, '-o', 'link', 'show'], capture=True)):
        run(['ip', '-n', ns, 'link', 'del', name], check=False, capture=True)


def uffd_node(i):
    return os.path.join(hosts.host_dir(i), 'userfaultfd')


def ensure_uffd_node(i):
    """The host's PRIVATE userfaultfd device node (post-copy without privileges); None if the
    kernel has none (then post-copy is refused by QEMU, pre-copy still works)."""
    node = uffd_node(i)
    minor = misc_minor(read('/proc/misc', ''))
    if minor is None:
        return None
    want = os.makedev(10, minor)
    if os.path.lexists(node) and os.stat(node).st_rdev != want:
        os.unlink(node)
    if not os.path.lexists(node):
        os.mknod(node, 0o600 | 0o020000, want)      # S_IFCHR
    return node


def machine_resources():
    vcpus = os.cpu_count() or 1
    mem_kb = 0
    for line in read('/proc/meminfo', '').splitlines():
        if line.startswith('MemTotal:'):
            mem_kb = int(line.split()[1])
    st = os.statvfs(SHARED_INSTANCES if os.path.isdir(SHARED_INSTANCES) else HOSTS_DIR)
    return {'vcpus': vcpus, 'memory_mb': mem_kb // 1024,
            'disk_gb': st.f_blocks * st.f_frsize // (1024 ** 3)}


def capacity():
    cfg = settings()
    return {k: cfg[k] for k in ('vcpus', 'memory_mb', 'disk_gb')}


def write_host_files(i, mode):
    """The host's own files for its mode, in its mounted root: nova.conf and, for real guests,
    libvirtd.conf with its host_uuid and the lab key for host-to-host ssh."""
    h, r = host_name(i), hosts.root(i)
    j = lambda *p: os.path.join(r, *p)  # noqa: E731
    ratios = allocation_ratios(capacity(), machine_resources()) if mode == 'real' else None
    write(j('etc/nova/nova.conf'), controlplane.compute_conf(h, host_ip(i), mode, ratios), 0o640)
    if mode == 'real':
        write(j('etc/libvirt/libvirtd.conf'),
              libvirtd_conf(read(os.path.join(BASE_LV, 'etc/libvirt/libvirtd.conf')), h), 0o600)
        os.makedirs(j('root/.ssh'), mode=0o700, exist_ok=True)
        shutil.copy(SSH_KEY, j('root/.ssh/id_ed25519'))
        os.chmod(j('root/.ssh/id_ed25519'), 0o600)


def clean_upper(upper):
    """Remove from an (unmounted) upper layer what the real-guest profile put there and the fake
    one does not have (libvirt's state and config, the lab key); the instances path is left as a
    fake host has it: an empty directory of its own."""
    for rel in UPPER_LEFTOVERS:
        p = os.path.join(upper, rel)
        if os.path.lexists(p) and (rel == INSTANCES.lstrip('/') or
                                   not os.path.lexists(os.path.join(BASE, rel))):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    os.makedirs(os.path.join(upper, INSTANCES.lstrip('/')), exist_ok=True)


def _remount(i, mode):
    """Power the host off, put its overlay on the mode's lower layer, power it on."""
    hosts.power_off(i, graceful=True, timeout=30)
    r = hosts.root(i)
    if os.path.ismount(r):
        run(['umount', r])
    upper = os.path.join(hosts.host_dir(i), 'upper')
    status = os.path.join(upper, 'var/lib/dpkg/status')
    lower = BASE_LV if mode == 'real' else BASE
    if os.path.exists(status):
        write(status, containers.rebase_dpkg_status(
            read(status), read(os.path.join(lower, 'var/lib/dpkg/status'))))
    if mode == 'real':
        write(guests_file(i), 'real\n')
        ensure_uffd_node(i)
    else:
        clean_upper(upper)
        remove_sysfs(i)
        remove_taps(i)
        if os.path.exists(guests_file(i)):
            os.unlink(guests_file(i))
        if os.path.lexists(uffd_node(i)):
            os.unlink(uffd_node(i))
    hosts.ensure_root(i, capacity())
    write_host_files(i, mode)
    hosts.ensure_netns(i)
    hosts.power_on(i)


def _wait_ssh_systemd(i):
    wait_for('sshd on %s' % host_name(i), lambda: hosts.ssh_ready(i), 120, 0.2)
    wait_for('systemd on %s' % host_name(i), lambda: hosts.ssh(
        i, 'systemctl is-system-running --wait >/dev/null; true', check=False,
        timeout=90).returncode == 0, 90, 1)


def host_switch(i, mode):
    """One running host onto `mode` (idempotent). True if it changed anything."""
    if host_guests(i) == mode:
        return False
    if hosts.profile(i) == 'containers':
        raise LabError('%s runs the containerised profile: `lab containers off` first'
                       % host_name(i))
    _remount(i, mode)
    _wait_ssh_systemd(i)
    return True


def switch(idx, mode):
    """Hosts onto `mode` in parallel; returns the hosts changed."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        changed = list(pool.map(lambda i: host_switch(i, mode), idx))
    if mode == 'fake' and not any(host_guests(i) == 'real' for i in hosts.existing_indexes()):
        shutil.rmtree(SHARED_INSTANCES, ignore_errors=True)   # no host binds it any more
    return [i for i, c in zip(idx, changed) if c]

