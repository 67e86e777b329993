"""The containerised profile: lab hosts that run nova-compute as a Podman container.

Machine side: Debian's podman and docker-registry; images `escalator-lab/nova-compute:1.0/2.0`
built offline (`podman import` of the debootstrap root, then `podman build --format docker`),
served by a registry the lab runs as its own processes on 10.213.0.1:5050 and 127.0.0.1:5050.
Host side: a second base root with podman (`cache/base-containers`, built from `cache/base` with
Debian packages only) is the lower overlay layer of a containerised host; the host keeps its
upper layer (identity, /var/lib/nova, instances), so switching profile is a power cycle.
"""
import concurrent.futures
import hashlib
import json
import os
import shutil
import tempfile
import time
import urllib.request

from . import hosts, install
from .common import (BASE, BASE_CT, CACHE, CTRL_IP, DATA, ETC, HOST_MOUNT_VENV, LOGS, RUN, LabError,
                     host_name, launch, log, read, recorded, run, settings, tcp_open, wait_for,
                     write)

REGISTRY_PORT = 5050                      # 5000 is Keystone's
REGISTRY = '%s:%d' % (CTRL_IP, REGISTRY_PORT)
REPOSITORY = 'escalator-lab/nova-compute'
IMAGE = '%s/%s' % (REGISTRY, REPOSITORY)
TAGS = ('1.0', '2.0')
CONTAINER = 'nova_compute'                # kolla's name
UNIT = 'container-%s.service' % CONTAINER
PACKAGE_UNIT = 'nova-compute.service'
MACHINE_PACKAGES = ['podman', 'docker-registry']
HOST_PACKAGES = ['podman']
REGISTRY_SERVICES = {'registry': CTRL_IP, 'registry-lo': '127.0.0.1'}
REGISTRY_DATA = os.path.join(DATA, 'registry')
REGISTRY_CONF = os.path.join(ETC, 'registry', 'config.yml')
BUILD_STORE = os.path.join(CACHE, 'podman')          # the machine's image build storage
BUILD_RUNROOT = os.path.join(RUN, 'podman')
IMAGE_STAMP = os.path.join(BUILD_STORE, '.escalator-lab-stamp')
BASE_CT_VERSION = '2'       # bump when the base-containers customisation changes
BASE_IMAGE = 'localhost/escalator-lab/debian:bookworm'
AGENT_CONF = '/usr/share/lab-compute-agent/nova-compute-agent.conf'
WANTS = 'etc/systemd/system/multi-user.target.wants'
# What the container needs from the host, as `podman create` options (kept in its CreateCommand)
CREATE_OPTIONS = [
    '--network', 'host', '--cgroups', 'disabled',
    '-v', '/etc/nova:/etc/nova:ro', '-v', '/var/lib/nova:/var/lib/nova',
    '-v', '%s:%s:ro' % (HOST_MOUNT_VENV, HOST_MOUNT_VENV),
    '-v', '/etc/escalator-lab:/etc/escalator-lab:ro',
]


# --- small pure helpers (unit-tested) --------------------------------------------------------
def create_command(image):
    """The `podman create` argv of the nova_compute container on `image`."""
    return ['podman', 'create', '--name', CONTAINER] + CREATE_OPTIONS + [image]


def unit_text():
    """container-nova_compute.service in the style of `podman generate systemd` without --new:
    it starts whatever container is named nova_compute, so a container recreated under that
    name on another image is run by the same unit."""
    return '''\
# container-{c}.service: escalator lab, in the style of `podman generate systemd --name {c}`
[Unit]
Description=Podman container-{c}.service (nova-compute, escalator lab)
Wants=network-online.target
After=network-online.target
RequiresMountsFor=/var/lib/containers/storage

[Service]
Environment=PODMAN_SYSTEMD_UNIT=%n
Restart=on-failure
RestartSec=2
TimeoutStopSec=30
ExecStart=/usr/bin/podman start -a {c}
ExecStop=/usr/bin/podman stop -t 10 {c}
Type=simple

[Install]
WantedBy=multi-user.target
'''.format(c=CONTAINER)


def registries_conf():
    return ('# escalator lab: the lab registry speaks plain HTTP on the lab bridge\n'
            '[[registry]]\nlocation = "%s"\ninsecure = true\n' % REGISTRY)


def containers_conf():
    # inside systemd-nspawn on cgroup v1: no cgroups for containers (the host's are read-only;
    # podman then needs a private PID namespace), no session keyring (nspawn's seccomp filter
    # refuses keyctl), no systemd cgroup manager; events in a file
    return ('# escalator lab\n[containers]\ncgroups = "disabled"\nkeyring = false\n'
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')


def entrypoint(ver):
    return '''\
#!/bin/sh
# nova-compute of the escalator lab image {v}: the control plane venv is bind-mounted from the host
if [ "{v}" != 1.0 ] && [ -e /etc/escalator-lab/break-upgrade ]; then
    echo "nova-compute {v}: refusing to start (lab fault 'break-upgrade' on this host)" >&2
    exit 1
fi
exec {venv}/bin/python {venv}/bin/nova-compute --config-file /etc/nova/nova.conf \\
    --config-file {conf} --config-dir /etc/nova/nova.conf.d
'''.format(v=ver, venv=HOST_MOUNT_VENV, conf=AGENT_CONF)


HEALTHCHECK = '''\
#!/usr/bin/python3
"""Healthy when a nova-compute process runs in this container (same mount namespace)."""
import os
import sys
me = os.readlink('/proc/self/ns/mnt')
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        cmd = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\\0')
        if any(c.endswith(b'/nova-compute') for c in cmd[:3]) and \\
                os.readlink('/proc/%s/ns/mnt' % pid) == me:
            sys.exit(0)
    except OSError:
        pass
print('nova-compute is not running')
sys.exit(1)
'''


def containerfile(ver):
    """1.0 adds the entrypoint, health check and agent config to the base; 2.0 is FROM 1.0 plus
    one small layer, so a host with 1.0 pulls only that layer."""
    parent = BASE_IMAGE if ver == TAGS[0] else 'localhost/%s:%s' % (REPOSITORY, TAGS[0])
    return '''\
FROM {parent}
LABEL org.opencontainers.image.title="escalator lab nova-compute" \\
      org.opencontainers.image.version="{v}"
ENV ESCALATOR_AGENT_VERSION={v}
COPY lab-healthcheck /usr/local/bin/lab-healthcheck
COPY entrypoint-{v} /usr/local/bin/lab-nova-compute
COPY agent-{v}.conf {conf}
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/lab-healthcheck"]
ENTRYPOINT ["/usr/local/bin/lab-nova-compute"]
'''.format(parent=parent, v=ver, conf=AGENT_CONF)


def agent_conf(ver):
    return '# nova-compute config of the lab image %s\n[lab_agent]\nversion = %s\n' % (ver, ver)


def image_files(ver):
    return {'Containerfile-%s' % ver: containerfile(ver), 'entrypoint-%s' % ver: entrypoint(ver),
            'agent-%s.conf' % ver: agent_conf(ver), 'lab-healthcheck': HEALTHCHECK}


def images_stamp(debootstrap_id):
    h = hashlib.sha256(debootstrap_id.encode())
    for ver in TAGS:
        for name, text in sorted(image_files(ver).items()):
            h.update(('%s\n%s\n' % (name, text)).encode())
    return h.hexdigest()[:16]


def _stanzas(text):
    out, cur = [], []
    for line in (text or '').splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        out.append(cur)
    return out


def _package(stanza):
    for line in stanza:
        if line.startswith('Package: '):
            return line[9:].strip()
    return None


def rebase_dpkg_status(upper, lower):
    """A host's own dpkg status (its upper layer's copy) put on another lower layer: every package
    as the new lower has it (podman added when going containerised and dropped going back; the
    real-guest base's backports versions, e.g. systemd 254, replaced by the base's 252 going back,
    since the files are the lower's), but the lab's own packages, which stay as the host has them."""
    have = {_package(s): s for s in _stanzas(upper)}
    new = {_package(s): s for s in _stanzas(lower)}
    keep = [s for p, s in new.items() if not (p or '').startswith('lab-') or p not in have]
    keep += [s for p, s in have.items() if (p or '').startswith('lab-')]
    keep.sort(key=lambda s: _package(s) or '')
    return ''.join('\n'.join(s) + '\n\n' for s in keep)


def storage_summary(containers_json, images_json, name=CONTAINER):
    """{'image': 'REGISTRY/…:TAG', 'digest': 'sha256:…'} of the container `name`, read from
    podman's storage files (no podman call, no SSH); None if there is no such container."""
    try:
        ctrs = json.loads(containers_json or '[]')
        imgs = {i['id']: i for i in json.loads(images_json or '[]')}
    except ValueError:
        return None
    for c in ctrs:
        if name in c.get('names', []):
            img = imgs.get(c.get('image'), {})
            names = img.get('names') or []
            return {'image': names[0] if names else c.get('image'),
                    'tags': sorted(n.rsplit(':', 1)[1] for n in names if ':' in n.rsplit('/', 1)[-1]),
                    'digest': img.get('digest'), 'image_id': c.get('image')}
    return None


# --- machine side: packages, registry, images --------------------------------------------
def _podman(*args, capture=True, **kw):
    return run(['podman', '--root', os.path.join(BUILD_STORE, 'storage'), '--runroot',
                BUILD_RUNROOT, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs',
                '--events-backend', 'file'] + list(args), capture=capture, **kw)


def ensure_machine_packages():
    install.ensure_apt_packages(MACHINE_PACKAGES)
    # the package's own registry (port 5000, Keystone's) must never start: the lab runs its own
    if os.path.exists('/lib/systemd/system/docker-registry.service') and not os.path.lexists(
            '/etc/systemd/system/docker-registry.service'):
        os.symlink('/dev/null', '/etc/systemd/system/docker-registry.service')


def registry_healthy(name):
    return bool(recorded(name)) and tcp_open(REGISTRY_SERVICES[name], REGISTRY_PORT)


def start_registry():
    """Two processes on one storage (distribution's way to scale out): one per address."""
    write(REGISTRY_CONF, '''\
# escalator lab registry (Debian docker-registry = distribution 2.8), plain HTTP, no auth
version: 0.1
log:
  level: info
  fields:
    service: escalator-lab-registry
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: {ip}:{port}
  headers:
    X-Content-Type-Options: [nosniff]
'''.format(data=REGISTRY_DATA, ip=CTRL_IP, port=REGISTRY_PORT))
    os.makedirs(REGISTRY_DATA, exist_ok=True)
    for name, ip in REGISTRY_SERVICES.items():
        if recorded(name):
            continue
        if tcp_open(ip, REGISTRY_PORT):
            raise LabError('port %s:%d (registry) is already used by a process the lab did not '
                           'start' % (ip, REGISTRY_PORT))
        launch(name, ['/usr/bin/docker-registry', 'serve', REGISTRY_CONF],
               env={'REGISTRY_HTTP_ADDR': '%s:%d' % (ip, REGISTRY_PORT)})
    for name in REGISTRY_SERVICES:
        wait_for(name, lambda name=name: registry_healthy(name), 30, 0.2)


def registry_status():
    return [{'service': name, 'running': bool(recorded(name)), 'healthy': registry_healthy(name),
             'pid': (recorded(name) or (None,))[0], 'listen': '%s:%d' % (ip, REGISTRY_PORT)}
            for name, ip in REGISTRY_SERVICES.items() if recorded(name)]


def registry_digest(tag):
    """The manifest digest the registry serves for a tag, None if it has none."""
    req = urllib.request.Request(
        'http://127.0.0.1:%d/v2/%s/manifests/%s' % (REGISTRY_PORT, REPOSITORY, tag),
        method='HEAD', headers={'Accept': 'application/vnd.docker.distribution.manifest.v2+json'})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.headers.get('Docker-Content-Digest')
    except OSError:
        return None


def _debootstrap_id():
    st = os.stat(os.path.join(install.DEBOOTSTRAP, 'usr', 'bin', 'python3'))
    return '%d-%d' % (st.st_ino, st.st_mtime)


def ensure_images():
    stamp = images_stamp(_debootstrap_id())
    if read(IMAGE_STAMP, '').strip() == stamp and all(
            _podman('image', 'exists', 'localhost/%s:%s' % (REPOSITORY, t), check=False)
            .returncode == 0 for t in TAGS):
        return False
    t0 = time.monotonic()
    log('containers: building images %s:%s from %s', REPOSITORY, '/'.join(TAGS),
        install.DEBOOTSTRAP)
    logfile = os.path.join(LOGS, 'images.log')
    with tempfile.TemporaryDirectory() as ctx:
        tarball = os.path.join(ctx, 'root.tar')
        # the host's own Debian root (python3 for the venv), without docs and apt state
        run(['tar', '-C', install.DEBOOTSTRAP, '--numeric-owner', '--exclude=./usr/share/doc',
             '--exclude=./usr/share/man', '--exclude=./usr/share/locale',
             '--exclude=./var/cache/apt', '--exclude=./var/lib/apt/lists', '-cf', tarball, '.'])
        _podman('import', '--change', 'CMD ["/bin/bash"]', tarball, BASE_IMAGE,
                logfile=logfile, capture=False)
        os.unlink(tarball)
        for ver in TAGS:
            for name, text in image_files(ver).items():
                write(os.path.join(ctx, name), text, 0o755 if not name.endswith('.conf') else 0o644)
            _podman('build', '--format', 'docker', '--pull=never', '-f',
                    os.path.join(ctx, 'Containerfile-%s' % ver), '-t',
                    'localhost/%s:%s' % (REPOSITORY, ver), ctx, logfile=logfile, capture=False)
    write(IMAGE_STAMP, stamp + '\n')
    log('containers: images built in %.1fs', time.monotonic() - t0)
    return True


def push_images(force=False):
    for ver in TAGS:
        if not force and registry_digest(ver):
            continue
        _podman('push', '--tls-verify=false', '--format', 'v2s2',
                'localhost/%s:%s' % (REPOSITORY, ver), 'docker://%s:%s' % (IMAGE, ver),
                logfile=os.path.join(LOGS, 'images.log'), capture=False)
        log('containers: pushed %s:%s (%s)', IMAGE, ver, registry_digest(ver))


# --- the hosts' second base root: base + podman and its configuration ------------------------
def base_ct_stamp():
    return '%s-%s' % (BASE_CT_VERSION, read(os.path.join(BASE, '.escalator-lab-stamp'), '').strip())


def base_ct_ready():
    return read(os.path.join(BASE_CT, '.escalator-lab-stamp'), '').strip() == base_ct_stamp()


def ensure_base_ct():
    if base_ct_ready():
        return False
    if any(hosts.profile(i) == 'containers' and os.path.ismount(hosts.root(i))
           for i in hosts.existing_indexes()):
        log('WARNING: %s is outdated but containerised hosts run on it; `lab containers off` '
            'first rebuilds it', BASE_CT)
        return False
    t0 = time.monotonic()
    log('containers: building the containerised host base %s (base + podman)', BASE_CT)
    tmp = BASE_CT + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    run(['cp', '-a', '--reflink=auto', BASE, tmp])
    j = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    lab_list = j('etc/apt/sources.list.d/escalator-lab.list')
    os.rename(lab_list, lab_list + '.off')
    # Debian packages from the machine's own apt mirror configuration, for this build only
    write(j('etc/apt/sources.list.d/escalator-lab-build.list'),
          'deb %s bookworm main\n' % install._mirror())
    resolv = j('etc/resolv.conf')
    saved_resolv = read(resolv)
    if os.path.lexists(resolv):
        os.unlink(resolv)
    shutil.copy('/etc/resolv.conf', resolv)
    write(j('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', 0o755)
    logfile = os.path.join(LOGS, 'base-containers.log')
    env = {'DEBIAN_FRONTEND': 'noninteractive', 'LC_ALL': 'C'}
    run(['mount', '-t', 'proc', 'proc', j('proc')])
    try:
        run(['chroot', tmp, 'apt-get', 'update', '-q'], env=env, logfile=logfile)
        run(['chroot', tmp, 'apt-get', 'install', '-y', '-q'] + HOST_PACKAGES, env=env,
            logfile=logfile)
        run(['chroot', tmp, 'apt-get', 'clean'], env=env, logfile=logfile)
    finally:
        run(['umount', j('proc')])
    os.unlink(j('etc/apt/sources.list.d/escalator-lab-build.list'))
    os.rename(lab_list + '.off', lab_list)
    os.unlink(resolv)
    if saved_resolv is not None:
        write(resolv, saved_resolv)
    os.unlink(j('usr/sbin/policy-rc.d'))
    lists = j('var/lib/apt/lists')
    for name in os.listdir(lists):
        if os.path.isfile(os.path.join(lists, name)) and name != 'lock':
            os.unlink(os.path.join(lists, name))
    # podman's own units (API socket, auto-update, restart at boot) stay off: the lab uses one unit
    for dirpath, _, files in os.walk(j('etc/systemd/system')):
        for name in files:
            if name.startswith('podman') and dirpath.endswith('.wants'):
                os.unlink(os.path.join(dirpath, name))
    write(j('etc/containers/registries.conf.d/50-escalator-lab.conf'), registries_conf())
    write(j('etc/containers/containers.conf.d/50-escalator-lab.conf'), containers_conf())
    write(j('etc/systemd/system', UNIT), unit_text())
    os.makedirs(j('var/lib/containers'), exist_ok=True)     # the host dir is bind-mounted here
    write(j('.escalator-lab-stamp'), base_ct_stamp() + '\n')
    shutil.rmtree(BASE_CT, ignore_errors=True)
    os.rename(tmp, BASE_CT)
    log('containers: host base built in %.1fs', time.monotonic() - t0)
    return True


def ensure_machine():
    """Everything the profile needs on the machine (idempotent; fast when done)."""
    ensure_machine_packages()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        f = pool.submit(ensure_base_ct)
        ensure_images()
        f.result()
    start_registry()
    push_images()


# --- hosts ---------------------------------------------------------------------------------
def agent_unit(i):
    return UNIT if hosts.profile(i) == 'containers' else PACKAGE_UNIT


def container_info(i):
    """The nova_compute container of a host from its storage files, or None."""
    store = os.path.join(hosts.containers_dir(i), 'storage')
    return storage_summary(read(os.path.join(store, 'overlay-containers', 'containers.json')),
                           read(os.path.join(store, 'overlay-images', 'images.json')))


# what podman leaves in a host's own layer (CNI state, its config dirs) and the directories the
# unit links copied up: removed, offline, when the host goes back to the package profile
PODMAN_LEFTOVERS = ['etc/cni', 'var/lib/cni', 'etc/containers', 'var/lib/containers',
                    'var/log/containers']
EMPTY_DIRS = [WANTS, 'etc/systemd/system', 'etc/systemd']


def clean_upper(upper, base=BASE):
    """Remove from an (unmounted) upper layer what the containerised profile put there and the
    package profile does not have; directories the base has are left alone unless empty."""
    for rel in PODMAN_LEFTOVERS:
        p = os.path.join(upper, rel)
        if os.path.lexists(p) and not os.path.lexists(os.path.join(base, rel)):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    for rel in EMPTY_DIRS:
        p = os.path.join(upper, rel)
        if os.path.isdir(p) and not os.path.islink(p) and not os.listdir(p):
            os.rmdir(p)


def _remount(i, profile):
    """Power the host off, put its overlay on the profile's lower layer, power it on."""
    hosts.power_off(i, graceful=True, timeout=30)
    r = hosts.root(i)
    if os.path.ismount(r):
        run(['umount', r])
    upper = os.path.join(hosts.host_dir(i), 'upper')
    status = os.path.join(upper, 'var/lib/dpkg/status')
    lower = BASE_CT if profile == 'containers' else BASE
    if os.path.exists(status):
        write(status, rebase_dpkg_status(read(status), read(os.path.join(lower,
                                                                      'var/lib/dpkg/status'))))
    if profile == 'containers':
        write(hosts.profile_file(i), 'containers\n')
        os.makedirs(hosts.containers_dir(i), exist_ok=True)
    else:
        # offline edits of the upper layer: back to what the package profile had
        for rel in (os.path.join(WANTS, UNIT), os.path.join(WANTS, PACKAGE_UNIT)):
            p = os.path.join(upper, rel)
            if os.path.lexists(p) and (rel.endswith(UNIT) or not os.path.islink(p)):
                os.unlink(p)        # the container unit's link / the package unit's whiteout
        clean_upper(upper)
        os.unlink(hosts.profile_file(i))
        shutil.rmtree(hosts.containers_dir(i), ignore_errors=True)
    cfg = settings()
    hosts.ensure_root(i, {k: cfg[k] for k in ('vcpus', 'memory_mb', 'disk_gb')})
    if profile == 'containers':
        link = os.path.join(r, WANTS, PACKAGE_UNIT)
        if os.path.lexists(link):
            os.unlink(link)         # `systemctl disable nova-compute`, before the host boots
    hosts.ensure_netns(i)
    hosts.power_on(i)


def _start_container(i, tag):
    image = '%s:%s' % (IMAGE, tag)
    create = ' '.join(create_command(image))
    hosts.ssh(i, 'set -e; podman image exists {img} || podman pull -q {img} >/dev/null; '
                 'podman container exists {c} || {create} >/dev/null; '
                 'systemctl daemon-reload; systemctl enable --now {u} 2>/dev/null'
              .format(img=image, c=CONTAINER, create=create, u=UNIT), timeout=300)


def _wait_ssh_systemd(i):
    wait_for('sshd on %s' % host_name(i), lambda: hosts.ssh_ready(i), 120, 0.2)
    wait_for('systemd on %s' % host_name(i), lambda: hosts.ssh(
        i, 'systemctl is-system-running --wait >/dev/null; true', check=False,
        timeout=90).returncode == 0, 90, 1)


def host_on(i, tag=TAGS[0]):
    """Containerise one running host (idempotent). True if it changed anything."""
    if hosts.profile(i) == 'containers' and hosts.running_agent(i)[0] is not None:
        return False
    if hosts.profile(i) != 'containers':
        _remount(i, 'containers')
    _wait_ssh_systemd(i)
    _start_container(i, tag)
    return True


def host_off(i):
    """Back to the package profile (idempotent). True if it changed anything."""
    if hosts.profile(i) != 'containers':
        return False
    _remount(i, 'packages')
    _wait_ssh_systemd(i)
    return True


def switch(idx, on):
    """Convert hosts in parallel; returns the hosts changed."""
    fn = host_on if on else host_off
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        changed = list(pool.map(fn, idx))
    return [i for i, c in zip(idx, changed) if c]
