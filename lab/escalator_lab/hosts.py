"""Compute hosts: an overlay of the base root per host, booted with `systemd-nspawn -b` in its own
network namespace on the lab bridge; power, link and fault control."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

from . import controlplane
from .common import (BASE, BASE_CT, BASE_LV, BLACKHOLE, BRIDGE, CTRL_IP, GW_NOBODY, HOST_MOUNT_REPO,
                     HOST_MOUNT_VENV, HOSTS_DIR, LAB_SRC, REPO, RUN, SSH_DIR,
                     SSH_KEY, VENV, LabError, children, host_index, host_ip, host_name,
                     launch, ledger, ledger_add, ledger_remove, log, pid_alive, read, recorded,
                     run, stop_recorded, tcp_open, wait_for, write)
from .install import BREAK_MARKER

BOOT_DELAY = 2          # seconds a crashed host stays dark before it boots again
SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
            '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5',
            '-o', 'ServerAliveInterval=3', '-o', 'ServerAliveCountMax=2']


def netns(i):
    return 'esclab-%s' % host_name(i)


def veth(i):
    return 'escv%d' % i


def host_dir(i):
    return os.path.join(HOSTS_DIR, host_name(i))


def root(i):
    return os.path.join(host_dir(i), 'root')


def profile_file(i):
    """Exists (content "containers") while the host runs the containerised profile."""
    return os.path.join(host_dir(i), 'profile')


def profile(i):
    return (read(profile_file(i)) or 'packages').strip()


def containers_dir(i):
    """The host's /var/lib/containers: a machine directory (podman's overlay driver cannot use
    an overlayfs upper layer)."""
    return os.path.join(host_dir(i), 'containers')


def stop_file(i):
    return os.path.join(RUN, host_name(i) + '.poweroff')


def supervisor_name(i):
    return 'host-' + host_name(i)


def node_uuid(name):
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


# --- network ------------------------------------------------------------------------------
def _link_exists(name, ns=None):
    cmd = ['ip'] + (['-n', ns] if ns else []) + ['link', 'show', name]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def _netns_list():
    out = run(['ip', 'netns', 'list'], capture=True)
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _del_link(name):
    """Delete a link the lab made; tolerate it vanishing on its own meanwhile."""
    for _ in range(20):
        if not _link_exists(name):
            break
        if run(['ip', 'link', 'del', name], check=False, capture=True).returncode == 0:
            break
        time.sleep(0.1)
    if _link_exists(name):
        raise LabError('could not delete link %s' % name)
    ledger_remove('links', name)


def ensure_bridge():
    if not _link_exists(BRIDGE):
        run(['ip', 'link', 'add', BRIDGE, 'type', 'bridge'])
        ledger_add('links', BRIDGE)
    run(['ip', 'addr', 'replace', CTRL_IP + '/24', 'dev', BRIDGE])
    run(['ip', 'link', 'set', BRIDGE, 'up'])
    routes = run(['ip', 'route', 'show', 'type', 'blackhole'], capture=True)
    if BLACKHOLE not in routes:
        # nothing addressed to the lab range may ever follow the default route
        run(['ip', 'route', 'add', 'blackhole', BLACKHOLE])
        ledger_add('routes', BLACKHOLE)


def ensure_netns(i):
    ns, v = netns(i), veth(i)
    if ns not in _netns_list():
        run(['ip', 'netns', 'add', ns])
        ledger_add('netns', ns)
    if not _link_exists(v):
        if _link_exists('eth0', ns):
            run(['ip', '-n', ns, 'link', 'del', 'eth0'])
        run(['ip', 'link', 'add', v, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
        ledger_add('links', v)
    run(['ip', 'link', 'set', v, 'master', BRIDGE, 'up'])
    run(['ip', '-n', ns, 'addr', 'replace', host_ip(i) + '/24', 'dev', 'eth0'])
    run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
    # default route to an address nobody owns: Ansible sees a default IPv4, nothing can leak
    run(['ip', '-n', ns, 'route', 'replace', 'default', 'via', GW_NOBODY, 'dev', 'eth0'])
    from . import guests
    if guests.host_guests(i) == 'real':
        guests.ensure_sysfs(i)      # the host's own /sys/class/net (needs its netns)


def link_state(i):
    p = subprocess.run(['ip', '-n', netns(i), '-br', 'link', 'show', 'eth0'],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return 'absent'
    return 'up' if ',UP' in p.stdout or '<UP' in p.stdout else 'down'


# --- root filesystems ------------------------------------------------------------------
def lower_layer(i):
    """The host's lower overlay layer: its profile's (containers) or its guest mode's base."""
    from . import guests        # the real-guest profile builds on this module
    if profile(i) == 'containers':
        return BASE_CT
    return BASE_LV if guests.host_guests(i) == 'real' else BASE


def ensure_root(i, capacity):
    """Mount the host's overlay (base + private upper) and give it its identity once."""
    from . import guests
    h, hd, r = host_name(i), host_dir(i), root(i)
    for d in ('upper', 'work', 'root'):
        os.makedirs(os.path.join(hd, d), exist_ok=True)
    if not os.path.ismount(r):
        run(['mount', '-t', 'overlay', 'esclab-' + h, '-o',
             'lowerdir=%s,upperdir=%s/upper,workdir=%s/work' % (lower_layer(i), hd, hd), r])
        ledger_add('mounts', r)
    j = lambda *p: os.path.join(r, *p)  # noqa: E731
    mode = guests.host_guests(i)
    first = not os.path.exists(j('etc', 'escalator-lab', 'host'))
    if first:
        write(j('etc/hostname'), h + '\n')
        write(j('etc/hosts'), '127.0.0.1 localhost\n127.0.1.1 %s\n%s controller\n' % (h, CTRL_IP))
        write(j('etc/machine-id'), uuid.uuid4().hex + '\n', 0o444)
        for k in ('ed25519',):
            key = j('etc/ssh/ssh_host_%s_key' % k)
            for f in (key, key + '.pub'):
                if os.path.exists(f):
                    os.unlink(f)
            run(['ssh-keygen', '-q', '-t', k, '-N', '', '-C', 'root@' + h, '-f', key])
        os.makedirs(j('root/.ssh'), mode=0o700, exist_ok=True)
        shutil.copy(SSH_KEY + '.pub', j('root/.ssh/authorized_keys'))
        os.chmod(j('root/.ssh/authorized_keys'), 0o600)
        for d in ('var/lib/nova/lock', 'var/lib/nova/instances'):
            os.makedirs(j(d), exist_ok=True)
        # the node identity a real deployment tool writes before nova-compute first starts
        write(j('var/lib/nova/compute_id'), node_uuid(h) + '\n')
        write(j('etc/escalator-lab/host'), '%s %s\n' % (h, host_ip(i)))
    if first or mode == 'real':
        guests.write_host_files(i, mode)        # nova.conf (+ libvirt's per-host files)
    write(j('etc/nova/nova.conf.d/50-lab-capacity.conf'), controlplane.capacity_conf(capacity))


def remove_root(i):
    from . import guests
    guests.remove_sysfs(i)
    r = root(i)
    if os.path.ismount(r):
        run(['umount', r])
    ledger_remove('mounts', r)
    shutil.rmtree(host_dir(i), ignore_errors=True)


def ensure_ssh_key():
    if not os.path.exists(SSH_KEY):
        os.makedirs(SSH_DIR, mode=0o700, exist_ok=True)
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'escalator-lab', '-f', SSH_KEY])


# --- power -------------------------------------------------------------------------------
def supervisor(i):
    return recorded(supervisor_name(i))


def init_pid(i):
    """PID (root namespace) of the host's systemd: supervisor -> systemd-nspawn -> init."""
    sup = supervisor(i)
    if not sup:
        return None
    for nspawn in children(sup[0]):
        for c in children(nspawn):
            if pid_alive(c):
                return c
    return None


def power_state(i):
    if not supervisor(i):
        return 'off'
    if init_pid(i) is None:
        return 'booting'
    return 'on'


def _cgroup_dirs(h):
    base = '/sys/fs/cgroup'
    if os.path.exists(os.path.join(base, 'cgroup.controllers')):        # pure cgroup v2
        return [os.path.join(base, 'escalator-lab', h)]
    return [os.path.join(base, hier, 'escalator-lab', h) for hier in ('systemd', 'unified')
            if os.path.isdir(os.path.join(base, hier))]


def _cgroup_pids(d):
    pids = []
    for dirpath, _, files in os.walk(d):
        if 'cgroup.procs' in files:
            with contextlib.suppress(OSError), open(os.path.join(dirpath, 'cgroup.procs')) as f:
                pids += [int(pid) for pid in f.read().split()]
    return pids


def kill_leftovers(d, timeout=10):
    """SIGKILL what is left in a host's cgroup: the processes of a container whose supervisor was
    killed from outside. They keep the host's network namespace (sshd on port 22), so a new boot
    would come up without SSH."""
    deadline = time.monotonic() + timeout
    while os.path.isdir(d) and time.monotonic() < deadline:
        pids = [pid for pid in _cgroup_pids(d) if pid != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def remove_cgroup(d):
    """rmdir a cgroup and the sub-cgroups nspawn/systemd made in it."""
    if not os.path.isdir(d):
        return
    kill_leftovers(d)
    for dirpath, _, _ in sorted(os.walk(d), key=lambda t: -t[0].count('/')):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
    if os.path.isdir(d):
        raise LabError('cgroup %s is not empty (a lab process is still running?)' % d)


def guest_args(i):
    """nspawn arguments of a real-guest host (none for a fake one)."""
    from . import guests
    if guests.host_guests(i) != 'real':
        return []
    node, sysfs = guests.uffd_node(i), guests.sysfs_dir(i)
    return guests.nspawn_args(node if os.path.exists(node) else None, guests.SHARED_INSTANCES,
                              sysfs if os.path.ismount(sysfs) else None)


def supervise(name):
    """Runs as the host's recorded "power supply" process (hidden `lab _supervise HOST`)."""
    i = host_index(name)
    # An own cgroup per host: nspawn --keep-unit builds the container's cgroup tree under
    # the caller's; hosts sharing one break each other's systemd on reboot.
    for d in _cgroup_dirs(name):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'cgroup.procs'), 'w') as f:
            f.write(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while not os.path.exists(stop_file(i)):
        print('%s boot' % time.strftime('%F %T'), flush=True)
        rc = subprocess.call([
            'systemd-nspawn', '-q', '-D', root(i), '-b', '-M', name, '--register=no',
            '--keep-unit', '--network-namespace-path=/run/netns/' + netns(i),
            '--console=passive', '--bind-ro=%s:%s' % (VENV, HOST_MOUNT_VENV),
            '--bind-ro=%s:%s' % (REPO, HOST_MOUNT_REPO)] + (
                ['--bind=%s:/var/lib/containers' % containers_dir(i)]
                if profile(i) == 'containers' else []) + guest_args(i))
        print('%s nspawn exit %d' % (time.strftime('%F %T'), rc), flush=True)
        if rc == 0 or os.path.exists(stop_file(i)):      # powered off from inside / by lab
            break
        if rc != 133:                                     # 133 = reboot: boot again at once
            time.sleep(BOOT_DELAY)
    return 0


def power_on(i):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stop_file(i))
    if supervisor(i):
        return False
    for d in _cgroup_dirs(host_name(i)):
        kill_leftovers(d)
        ledger_add('cgroups', d)
    launch(supervisor_name(i), [sys.executable, os.path.join(LAB_SRC, 'lab'), '_supervise',
                                host_name(i)], log_name=host_name(i))
    return True


def power_off(i, graceful=False, timeout=30):
    """Cut the power (SIGKILL the host's init), or shut down cleanly if graceful."""
    write(stop_file(i), 'off\n')
    sup = supervisor(i)
    if not sup:
        return False
    init = init_pid(i)
    if init:
        os.kill(init, (signal.SIGRTMIN + 4) if graceful else signal.SIGKILL)  # RTMIN+4: poweroff
    deadline = time.monotonic() + (timeout if graceful else 10)
    while time.monotonic() < deadline and pid_alive(*sup):
        time.sleep(0.2)
    stop_recorded([supervisor_name(i)], timeout=10)
    return True


def crash(i):
    init = init_pid(i)
    if not init:
        raise LabError('%s is not running (power: %s)' % (host_name(i), power_state(i)))
    os.kill(init, signal.SIGKILL)   # the supervisor boots it again after BOOT_DELAY


def set_link(i, up):
    run(['ip', '-n', netns(i), 'link', 'set', 'eth0', 'up' if up else 'down'])
    if up:
        run(['ip', '-n', netns(i), 'route', 'replace', 'default', 'via', GW_NOBODY, 'dev',
             'eth0'])


def break_upgrade(i, broken):
    marker = os.path.join(root(i), BREAK_MARKER.lstrip('/'))
    if broken:
        write(marker, 'lab fault: lab package upgrades fail on this host (lab fault %s '
              'fix-upgrade)\n' % host_name(i))
    elif os.path.exists(marker):
        os.unlink(marker)


def upgrade_broken(i):
    return os.path.exists(os.path.join(root(i), BREAK_MARKER.lstrip('/')))


# --- inside the host -------------------------------------------------------------------
def ssh_argv(i, command):
    return ['ssh', '-i', SSH_KEY] + SSH_OPTS + ['root@' + host_ip(i), command]


def ssh(i, command, check=True, timeout=120):
    p = subprocess.run(ssh_argv(i, command), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise LabError('%s: `%s` failed (rc=%d): %s' % (host_name(i), command, p.returncode,
                                                       (p.stderr or p.stdout).strip()[-1500:]))
    return p


def ssh_ready(i):
    return tcp_open(host_ip(i), 22)


def packages(i):
    """{package: version} of the lab packages, read from the host's dpkg database."""
    out, pkg = {}, None
    text = read(os.path.join(root(i), 'var/lib/dpkg/status'), '')
    status = None
    for line in text.splitlines() + ['']:
        if line.startswith('Package: '):
            pkg = line[9:]
        elif line.startswith('Status: '):
            status = line[8:]
        elif line.startswith('Version: ') and pkg and pkg.startswith('lab-'):
            out[pkg] = line[9:]
        elif not line:
            if pkg in out and status and 'installed' not in status.split()[-1:]:
                out[pkg] += ' (%s)' % status.split()[-1]
            pkg = status = None
    return out


def reboot_required(i):
    init = init_pid(i)
    if not init:
        return False
    return os.path.exists('/proc/%d/root/run/reboot-required' % init)


def running_agent(i):
    """(pid, ESCALATOR_AGENT_VERSION) of the nova-compute process running in the host."""
    init = init_pid(i)
    if not init:
        return None, None
    from .common import descendants
    for pid in descendants(init):
        try:
            cmd = open('/proc/%d/cmdline' % pid, 'rb').read().split(b'\0')
        except OSError:
            continue
        if any(c.endswith(b'/nova-compute') for c in cmd[:3]):
            try:
                env = open('/proc/%d/environ' % pid, 'rb').read().split(b'\0')
            except OSError:
                env = []
            for e in env:
                if e.startswith(b'ESCALATOR_AGENT_VERSION='):
                    return pid, e.split(b'=', 1)[1].decode()
            return pid, None
    return None, None


# --- bring up / tear down ------------------------------------------------------------------
def up(n, capacity, guests_mode='fake'):
    from . import guests
    ensure_ssh_key()
    ensure_bridge()
    started = []
    for i in range(1, n + 1):
        guests.prepare_new_host(i, guests_mode)
        ensure_root(i, capacity)
        ensure_netns(i)
        if power_on(i):
            started.append(host_name(i))
    if started:
        log('hosts: booting %s', ', '.join(started))
    for i in range(1, n + 1):
        wait_for('sshd on %s' % host_name(i), lambda i=i: ssh_ready(i), 120, 0.2)
    return started


def existing_indexes():
    out = set()
    if os.path.isdir(HOSTS_DIR):
        for name in os.listdir(HOSTS_DIR):
            with contextlib.suppress(LabError):
                out.add(host_index(name))
    for name in ledger().get('netns', []):
        with contextlib.suppress(LabError):
            out.add(host_index(name.split('-', 1)[1]))
    return sorted(out)


def remove_host(i):
    power_off(i, graceful=True, timeout=20)
    remove_root(i)
    ns = netns(i)
    if ns in _netns_list():
        run(['ip', 'netns', 'del', ns])
    ledger_remove('netns', ns)
    _del_link(veth(i))      # usually gone with the namespace (asynchronously)
    for d in _cgroup_dirs(host_name(i)):
        remove_cgroup(d)
        ledger_remove('cgroups', d)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stop_file(i))


def down_all():
    idx = existing_indexes()
    # power everything off in parallel (clean shutdown first, then the hard way)
    for i in idx:
        write(stop_file(i), 'off\n')
        init = init_pid(i)
        if init:
            os.kill(init, signal.SIGRTMIN + 4)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(supervisor(i) and init_pid(i) for i in idx):
        time.sleep(0.3)
    for i in idx:
        remove_host(i)
    data = ledger()
    for name in list(data.get('links', [])):
        _del_link(name)
    for route in list(data.get('routes', [])):
        run(['ip', 'route', 'del', 'blackhole', route], check=False, capture=True)
        ledger_remove('routes', route)
    for d in list(data.get('cgroups', [])):
        remove_cgroup(d)
        ledger_remove('cgroups', d)
    # the lab's own cgroup root (named by the lab, so everything below it is the lab's)
    for hier in ('', 'systemd', 'unified'):
        remove_cgroup(os.path.join('/sys/fs/cgroup', hier, 'escalator-lab'))
    shutil.rmtree(HOSTS_DIR, ignore_errors=True)
