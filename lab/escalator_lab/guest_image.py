"""The real guests' boot files (issue 17), built offline once into the lab cache.

A real guest is Debian's kernel plus a tiny initramfs: busybox-static, the eight virtio-net
modules and the lab's static UDP program (lab/guest/udpecho.c: echo on 7, control on 9).  The
init (lab/guest/init) derives the guest's address from its MAC, so no DHCP or metadata service is
needed.  Glance gets three images at seed time (cloud.py): the kernel (aki), the initramfs (ari)
and a tiny raw root disk (ami) that names both; Nova boots it with direct kernel boot.

Packages come only through apt with the machine's own source configuration, inside an overlay
over the lab's pristine debootstrap root (`apt-get download`: nothing is installed anywhere).
The .debs stay in the cache, so a change of the guest sources rebuilds without the network.
"""
import fcntl
import glob
import hashlib
import json
import os
import shutil
import time

from .common import CACHE, DEBOOTSTRAP, LAB_SRC, LOGS, LabError, log, read, run, write

GUEST_SRC = os.path.join(LAB_SRC, 'guest')
GUEST = os.path.join(CACHE, 'guest')              # vmlinuz, initrd.gz, root.img, debs/, .stamp
BUILD = os.path.join(CACHE, 'guest-build')        # the overlay used for apt (removed afterwards)
DEBS = os.path.join(GUEST, 'debs')
KERNEL = os.path.join(GUEST, 'vmlinuz')
INITRD = os.path.join(GUEST, 'initrd.gz')
ROOT_DISK = os.path.join(GUEST, 'root.img')
INFO = os.path.join(GUEST, 'build.json')
STAMP = os.path.join(GUEST, '.stamp')
ROOT_DISK_SIZE = 1024 * 1024    # Nova wants a root disk; the guest never mounts it
VERSION = '1'                   # bump when the build below changes
# load order matters: each module's dependencies first
MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci',
           'failover', 'net_failover', 'virtio_net']
SOURCES = ['init', 'udpecho.c']
APT_ENV = {'DEBIAN_FRONTEND': 'noninteractive', 'LC_ALL': 'C'}


def stamp():
    h = hashlib.sha256(VERSION.encode())
    for name in SOURCES:
        with open(os.path.join(GUEST_SRC, name), 'rb') as f:
            h.update(name.encode() + b'\0' + f.read())
    return h.hexdigest()[:16]


def ready():
    return (read(STAMP, '').strip() == stamp()
            and all(os.path.exists(p) for p in (KERNEL, INITRD, ROOT_DISK)))


def info():
    """What the last build recorded (packages, sizes, seconds), {} if none."""
    try:
        with open(INFO) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def ensure():
    """Build the guest files unless the cache matches the sources.  True if it built.
    Serialised (`lab up`, `lab reset` and a hand-run build may all ask at once)."""
    if ready():
        return False
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.guest-image.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready():
            return False
        build()
    return True


def _debs_present():
    return (glob.glob(os.path.join(DEBS, 'linux-image-*.deb'))
            and glob.glob(os.path.join(DEBS, 'busybox-static_*.deb')))


def kernel_package(depends_output):
    """The versioned kernel package that `apt-cache depends linux-image-amd64` names."""
    for line in depends_output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == 'Depends:' and parts[1].startswith('linux-image-') \
                and parts[1].endswith('-amd64') and parts[1] != 'linux-image-amd64':
            return parts[1]
    raise LabError('no versioned kernel package in `apt-cache depends linux-image-amd64`:\n%s'
                   % depends_output[-500:])


def _overlay_mounts():
    root = os.path.join(BUILD, 'root')
    return [p for p in (os.path.join(root, 'proc'), root) if os.path.ismount(p)]


def _cleanup_build():
    for p in _overlay_mounts():
        run(['umount', p], check=False)
    shutil.rmtree(BUILD, ignore_errors=True)


def download_debs():
    """Debian's kernel and busybox-static into cache/guest/debs through apt in a throw-away
    overlay over the debootstrap root, configured with the machine's own apt sources."""
    if not os.path.exists(os.path.join(DEBOOTSTRAP, 'usr', 'bin', 'apt-get')):
        raise LabError('the lab debootstrap root %s is missing (lab up builds it)' % DEBOOTSTRAP)
    logfile = os.path.join(LOGS, 'guest-image.log')
    _cleanup_build()
    upper, work, root = (os.path.join(BUILD, d) for d in ('upper', 'work', 'root'))
    for d in (upper, work, root):
        os.makedirs(d)
    run(['mount', '-t', 'overlay', 'overlay', '-o',
         'lowerdir=%s,upperdir=%s,workdir=%s' % (DEBOOTSTRAP, upper, work), root])
    try:
        j = lambda *p: os.path.join(root, *p)  # noqa: E731
        # the machine's own apt sources (one home for the mirror: the machine's configuration)
        for name in os.listdir(j('etc/apt/sources.list.d')):
            os.unlink(j('etc/apt/sources.list.d', name))
        if os.path.exists('/etc/apt/sources.list'):
            shutil.copy('/etc/apt/sources.list', j('etc/apt/sources.list'))
        elif os.path.exists(j('etc/apt/sources.list')):
            os.unlink(j('etc/apt/sources.list'))
        for src in glob.glob('/etc/apt/sources.list.d/*.list') + \
                glob.glob('/etc/apt/sources.list.d/*.sources'):
            shutil.copy(src, j('etc/apt/sources.list.d'))
        for conf in glob.glob('/etc/apt/apt.conf.d/*prox*'):     # a machine's apt proxy, if any
            shutil.copy(conf, j('etc/apt/apt.conf.d'))
        if os.path.lexists(j('etc/resolv.conf')):
            os.unlink(j('etc/resolv.conf'))
        shutil.copy('/etc/resolv.conf', j('etc/resolv.conf'))
        run(['mount', '-t', 'proc', 'proc', j('proc')])
        run(['chroot', root, 'apt-get', 'update', '-q'], env=APT_ENV, logfile=logfile)
        kpkg = kernel_package(run(['chroot', root, 'apt-cache', 'depends', 'linux-image-amd64'],
                                  env=APT_ENV, capture=True))
        os.makedirs(j('tmp/dl'), exist_ok=True)
        run(['chroot', root, 'sh', '-c', 'cd /tmp/dl && apt-get download -q %s busybox-static'
             % kpkg], env=APT_ENV, logfile=logfile)
        tmp = DEBS + '.tmp'
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(j('tmp/dl'), tmp)
        shutil.rmtree(DEBS, ignore_errors=True)
        os.rename(tmp, DEBS)
    finally:
        _cleanup_build()


def build():
    t0 = time.monotonic()
    # the guest program is built statically: the machine's gcc and C library (installed here when missing, from
    # the machine's own apt configuration, as the lab's other packages; a plain Debian 12 has neither)
    from . import install  # pylint: disable=import-outside-toplevel
    install.ensure_apt_packages(['gcc', 'libc6-dev'])
    if not shutil.which('gcc'):
        raise LabError('real guests need gcc on this machine (the guest program is built '
                       'statically): apt-get install gcc libc6-dev')
    log('guest image: building kernel + initramfs in %s', GUEST)
    os.makedirs(GUEST, exist_ok=True)
    downloaded = False
    if not _debs_present():
        download_debs()
        downloaded = True
    tmp = os.path.join(GUEST, 'tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    x, ird = os.path.join(tmp, 'x'), os.path.join(tmp, 'ird')
    debs = sorted(glob.glob(os.path.join(DEBS, '*.deb')))
    os.makedirs(x)
    for deb in debs:
        run(['dpkg-deb', '-x', deb, x])
    for d in ('bin', 'lib/mod', 'proc', 'sys', 'dev', 'tmp'):
        os.makedirs(os.path.join(ird, d), exist_ok=True)
    run(['gcc', '-O2', '-Wall', '-static', '-s', '-o', os.path.join(ird, 'bin', 'udpecho'),
         os.path.join(GUEST_SRC, 'udpecho.c')])
    shutil.copy(os.path.join(x, 'bin', 'busybox'), os.path.join(ird, 'bin', 'busybox'))
    shutil.copy(os.path.join(GUEST_SRC, 'init'), os.path.join(ird, 'init'))
    os.chmod(os.path.join(ird, 'init'), 0o755)
    for m in MODULES:
        found = glob.glob(os.path.join(x, 'lib', 'modules', '*', 'kernel', '**', m + '.ko'),
                          recursive=True)
        if len(found) != 1:
            raise LabError('guest image: module %s.ko found %d times in the kernel package'
                           % (m, len(found)))
        shutil.copy(found[0], os.path.join(ird, 'lib', 'mod'))
    kernels = glob.glob(os.path.join(x, 'boot', 'vmlinuz-*'))
    if len(kernels) != 1:
        raise LabError('guest image: %d kernels in the kernel package' % len(kernels))
    # the machine has no cpio: busybox's (from the package just unpacked) writes the archive
    run(['sh', '-c', 'cd "$1" && find . | "$2" cpio -o -H newc 2>/dev/null | gzip -9 > "$3"',
         'sh', ird, os.path.join(x, 'bin', 'busybox'), INITRD + '.tmp'])
    shutil.copy(kernels[0], KERNEL + '.tmp')
    with open(ROOT_DISK + '.tmp', 'wb') as f:
        f.truncate(ROOT_DISK_SIZE)
    for p in (KERNEL, INITRD, ROOT_DISK):
        os.replace(p + '.tmp', p)
    shutil.rmtree(tmp, ignore_errors=True)
    data = {'kernel_package': os.path.basename([d for d in debs if 'linux-image' in d][0]),
            'busybox_package': os.path.basename([d for d in debs if 'busybox' in d][0]),
            'kernel_bytes': os.path.getsize(KERNEL), 'initrd_bytes': os.path.getsize(INITRD),
            'debs_bytes': sum(os.path.getsize(d) for d in debs), 'downloaded': downloaded,
            'seconds': round(time.monotonic() - t0, 1), 'stamp': stamp()}
    write(INFO, json.dumps(data, indent=2, sort_keys=True) + '\n')
    write(STAMP, stamp() + '\n')
    log('guest image: %s (%d KiB) + initrd %d KiB in %.1fs%s', data['kernel_package'],
        data['kernel_bytes'] // 1024, data['initrd_bytes'] // 1024, data['seconds'],
        ' (packages downloaded)' if downloaded else '')
    return data
