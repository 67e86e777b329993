"""Paths, settings and process helpers shared by every part of the lab (stdlib only)."""
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

LAB_SRC = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))   # <repo>/lab
REPO_ROOT = os.path.dirname(LAB_SRC)
FILES = os.path.join(LAB_SRC, 'files')
STATE = os.path.realpath(os.environ.get('ESCALATOR_LAB_DIR', '/var/lib/escalator-lab'))

# --- layout of the state dir ---------------------------------------------------------
CACHE = os.path.join(STATE, 'cache')          # kept by `lab down` (not by --purge)
VENV = os.path.join(STATE, 'venv')            # kept by `lab down`: OpenStack services
PIP_CACHE = os.path.join(CACHE, 'pip')
DEBOOTSTRAP = os.path.join(CACHE, 'debootstrap')   # pristine bookworm minbase
BASE = os.path.join(CACHE, 'base')            # customised host root (lower overlay layer)
BASE_CT = os.path.join(CACHE, 'base-containers')   # base + podman: containerised hosts' lower
BASE_LV = os.path.join(CACHE, 'base-libvirt')      # base + libvirt/QEMU: real-guest hosts' lower
REPO = os.path.join(CACHE, 'apt-repo')        # local flat apt repository
SSH_DIR = os.path.join(STATE, 'ssh')          # kept: the lab's client key
LOGS = os.path.join(STATE, 'logs')
RUN = os.path.join(STATE, 'run')              # pid files + ledger (runtime, removed by down)
ETC = os.path.join(STATE, 'etc')              # generated control plane config (runtime)
DATA = os.path.join(STATE, 'data')            # MariaDB, RabbitMQ, Glance data (runtime)
HOSTS_DIR = os.path.join(STATE, 'hosts')      # per-host overlay upper/work/root (runtime)
CLOUDS_YAML = os.path.join(STATE, 'clouds.yaml')
INVENTORY = os.path.join(STATE, 'hosts.yml')
REPO_INVENTORY_DIR = os.path.join(REPO_ROOT, 'inventories', 'lab')
CONFIG = os.path.join(STATE, 'config.json')
LEDGER = os.path.join(RUN, 'ledger.json')
SSH_KEY = os.path.join(SSH_DIR, 'id_ed25519')

# --- network: everything stays on loopback, the bridge and the hosts' namespaces -------
BRIDGE = 'escbr0'
NET_PREFIX = '10.213.0'
NET_CIDR = NET_PREFIX + '.0/24'
BLACKHOLE = '10.213.0.0/16'
CTRL_IP = NET_PREFIX + '.1'
GW_NOBODY = NET_PREFIX + '.254'    # hosts' default route: an address nobody owns
HOST_MOUNT_VENV = '/opt/escalator-lab/venv'
HOST_MOUNT_REPO = '/srv/escalator-lab-repo'

PORTS = {
    'keystone': 5000, 'nova-api': 8774, 'placement': 8778, 'glance': 9292,
    'neutron-stub': 9696, 'mariadb': 13306, 'rabbitmq': 5672,
    'rabbitmq-dist': 25672, 'epmd': 4369,
}
PASSWORD = 'lab-secret'           # every lab account; the lab is local-only by construction
CLOUD = 'escalator-lab'
MAX_HOSTS = 16                    # 16 nspawn hosts take ~3 GiB more memory (docs/lab.md); 10.213.0.11-.26
DEFAULT_CAPACITY = {'vcpus': 16, 'memory_mb': 32768, 'disk_gb': 200}
GUESTS_MODES = ('fake', 'real')   # Nova's lab driver (no guests) / libvirt + QEMU guests


def host_name(i):
    return 'compute%d' % i


def host_ip(i):
    return '%s.%d' % (NET_PREFIX, 10 + i)


def host_index(name):
    if not name.startswith('compute') or not name[7:].isdigit():
        raise LabError('unknown host %r (hosts are named compute1..computeN)' % name)
    return int(name[7:])


def netns(i):
    return 'esclab-%s' % host_name(i)


def veth(i):
    return 'escv%d' % i


class LabError(Exception):
    """A failure with a message meant for the user (no traceback)."""


# --- logging ---------------------------------------------------------------------------
_T0 = time.monotonic()


def log(msg, *args):
    text = msg % args if args else msg
    line = '[%6.1fs] %s' % (time.monotonic() - _T0, text)
    print(line, flush=True)
    try:
        os.makedirs(LOGS, exist_ok=True)
        with open(os.path.join(LOGS, 'lab.log'), 'a') as f:
            f.write(time.strftime('%Y-%m-%dT%H:%M:%S ') + line + '\n')
    except OSError:
        pass


def elapsed():
    return time.monotonic() - _T0


# --- small file helpers ------------------------------------------------------------------
def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp%d' % os.getpid()
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def load_json(path, default=None):
    text = read(path)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def save_json(path, data):
    write(path, json.dumps(data, indent=2, sort_keys=True) + '\n')


def settings():
    cfg = dict(DEFAULT_CAPACITY, hosts=4, guests='fake')
    cfg.update(load_json(CONFIG, {}))
    return cfg


def guests_mode():
    """The lab-wide guest mode: 'fake' (the lab driver, today's lab) or 'real' (libvirt + QEMU
    guests in every host; docs/lab.md "Real guests")."""
    mode = settings().get('guests', 'fake')
    return mode if mode in GUESTS_MODES else 'fake'


# --- commands ----------------------------------------------------------------------------
def run(cmd, check=True, capture=False, env=None, timeout=None, input=None, cwd=None,
        logfile=None):
    """Run a command (list).  capture=True returns stdout (str); errors raise LabError."""
    kw = {}
    if capture:
        kw['stdout'] = subprocess.PIPE
        kw['stderr'] = subprocess.PIPE
    elif logfile:
        os.makedirs(os.path.dirname(logfile), exist_ok=True)
        fh = open(logfile, 'a')
        fh.write('\n$ %s\n' % ' '.join(cmd))
        fh.flush()
        kw['stdout'] = fh
        kw['stderr'] = subprocess.STDOUT
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        p = subprocess.run(cmd, env=full_env, timeout=timeout, input=input, cwd=cwd,
                           text=True, **kw)
    except FileNotFoundError as e:
        raise LabError('command not found: %s' % cmd[0]) from e
    except subprocess.TimeoutExpired as e:
        raise LabError('timed out after %ss: %s' % (timeout, ' '.join(cmd))) from e
    finally:
        if logfile and not capture:
            fh.close()
    if check and p.returncode != 0:
        detail = ''
        if capture:
            detail = (p.stderr or p.stdout or '').strip()[-2000:]
        elif logfile:
            detail = 'see %s' % logfile
        raise LabError('command failed (rc=%d): %s\n%s' % (p.returncode, ' '.join(cmd), detail))
    if capture:
        return p.stdout if check else p
    return p


# --- processes: recorded by pid + start time, stopped with their descendants ------------
def _stat(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    rest = data[data.rindex(')') + 2:].split()
    return {'state': rest[0], 'ppid': int(rest[1]), 'start': int(rest[19])}


def pid_alive(pid, start=None):
    """True if pid runs (zombies count as dead) and, if given, started at `start`."""
    st = _stat(pid)
    if st is None or st['state'] in ('Z', 'X'):
        return False
    return start is None or st['start'] == start


def children(pid):
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = _stat(int(d))
            if st and st['ppid'] == pid:
                out.append(int(d))
    return out


def descendants(pid):
    table = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                table.setdefault(st['ppid'], []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in table.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def pidfile(name):
    return os.path.join(RUN, name + '.pid')


def record_pid(name, pid):
    st = _stat(pid)
    write(pidfile(name), '%d %d\n' % (pid, st['start'] if st else 0))


def recorded(name):
    """(pid, start) of a recorded process if it is still the same live process, else None."""
    text = read(pidfile(name))
    if not text:
        return None
    try:
        pid, start = (int(x) for x in text.split()[:2])
    except ValueError:
        return None
    return (pid, start) if pid_alive(pid, start) else None


def launch(name, argv, env=None, cwd=None, log_name=None):
    """Start a daemon in its own session, stdin from /dev/null, output to logs/NAME.log."""
    os.makedirs(LOGS, exist_ok=True)
    os.makedirs(RUN, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    logf = open(os.path.join(LOGS, (log_name or name) + '.log'), 'a')
    logf.write('\n==== %s start: %s\n' % (time.strftime('%F %T'), ' '.join(argv)))
    logf.flush()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                         env=full_env, cwd=cwd, start_new_session=True, close_fds=True)
    logf.close()
    record_pid(name, p.pid)
    return p.pid


def stop_recorded(names, timeout=15.0, sig=signal.SIGTERM):
    """Stop recorded processes and every descendant; SIGKILL what survives `timeout`."""
    targets = []
    for name in names:
        rec = recorded(name)
        if rec:
            pid = rec[0]
            targets.append((pid, _stat(pid)['start']))
            for c in descendants(pid):
                st = _stat(c)
                if st:
                    targets.append((c, st['start']))
    for pid, _ in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p, s) for p, s in targets):
            break
        time.sleep(0.2)
    for pid, start in targets:
        if pid_alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p, s) for p, s in targets):
        time.sleep(0.2)
    left = [p for p, s in targets if pid_alive(p, s)]
    if left:
        raise LabError('processes did not stop: %s' % left)
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile(name))


# --- ledger: every kernel object the lab creates, so `lab down` removes exactly those ----
def ledger():
    return load_json(LEDGER, {})


def ledger_add(kind, item):
    data = ledger()
    items = data.setdefault(kind, [])
    if item not in items:
        items.append(item)
        os.makedirs(RUN, exist_ok=True)
        save_json(LEDGER, data)


def ledger_remove(kind, item):
    data = ledger()
    if item in data.get(kind, []):
        data[kind].remove(item)
        save_json(LEDGER, data)


# --- misc ----------------------------------------------------------------------------------
def tcp_open(ip, port, timeout=0.5):
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(what, predicate, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            if predicate():
                return
        except Exception as e:  # noqa: BLE001 - reported if it never succeeds
            last = e
        if time.monotonic() > deadline:
            raise LabError('timed out after %ds waiting for %s%s' % (
                timeout, what, (': %s' % last) if last else ''))
        time.sleep(interval)


@contextlib.contextmanager
def lock():
    """Serialise commands that change the lab (pytest workers may call `lab` concurrently)."""
    os.makedirs(STATE, exist_ok=True)
    fh = open(os.path.join(STATE, '.lock'), 'w')
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()


def require_root():
    if os.geteuid() != 0:
        raise LabError('the lab needs root (namespaces, mounts, systemd-nspawn)')


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)
