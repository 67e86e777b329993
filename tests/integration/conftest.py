# SPDX-License-Identifier: Apache-2.0
"""Session fixtures for tests that run against the escalator lab (lab/lab, docs/lab.md).

    lab            the lab, brought up with `lab up` once per session (a no-op if it is up)
    cloud          openstacksdk Connection to the lab's admin cloud `escalator-lab`
    exclusive_lab  the lab, held exclusively for one test (see below)
    seeded_lab     exclusive + `lab reset` first: hosts at package 1.0, every nova-compute up
                   and enabled, no fault, the seeded workloads exactly as documented
    ansible_module run(lab, module, check=False, **args): opnfv.escalator.<module> run by
                   `ansible localhost -m` against the lab, as a user would

One lab serves every pytest session on the machine.  A test that changes the lab (faults,
upgrades, migrations, servers) or needs it healthy must use `seeded_lab` or `exclusive_lab`:
both hold an exclusive file lock (<state dir>/.test-lock) for the test's duration, so tests
from concurrent sessions run one after the other instead of breaking each other.

Tests using them must be marked `@pytest.mark.lab`; they need root on a Debian 12 machine.
Set ESCALATOR_LAB_SKIP_UP=1 to use a lab that is already up without calling `lab up`.
"""
import contextlib
import datetime
import fcntl
import json
import os
import re
import subprocess
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_CMD = os.path.join(REPO_ROOT, 'lab', 'lab')
SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
            '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5',
            '-o', 'ServerAliveInterval=3', '-o', 'ServerAliveCountMax=2']


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'lab: needs the lab (real OpenStack control plane and compute hosts)')
    config.addinivalue_line(
        'markers', 'real_guests: switches the lab to real guests (libvirt + QEMU hosts, `lab guests real`); runs last')


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    """The real-guest tests run after every other test: switching the lab's hosts to libvirt and back costs minutes,
    so a session switches once (and the fixtures of the other tests switch back only when a lab was left that way)."""
    items.sort(key=lambda item: item.get_closest_marker('real_guests') is not None)


def _utc_ts(value):
    if not value:
        return 0.0
    t = datetime.datetime.fromisoformat(value.replace('Z', ''))
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


class Lab:
    """Handle on the running lab (what `lab env` / `lab status --json` report)."""

    FAULTS = ('link-down', 'link-up', 'crash', 'power-off', 'power-on', 'reboot',
              'stop-compute', 'start-compute', 'break-upgrade', 'fix-upgrade')

    def __init__(self):
        self.command = LAB_CMD
        self.env = self._env()
        self.state_dir = self.env['ESCALATOR_LAB_DIR']
        self.clouds_yaml = self.env['OS_CLIENT_CONFIG_FILE']
        self.cloud_name = self.env['OS_CLOUD']
        self.inventory = self.env['ESCALATOR_LAB_INVENTORY']
        self.ssh_key = self.env['ESCALATOR_LAB_SSH_KEY']
        status = self.status()
        self.hosts = [h['host'] for h in status['hosts']]
        self.host_ips = {h['host']: h['ip'] for h in status['hosts']}
        self._conn = None
        self._lock_depth = 0
        self._lock_fh = None

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the lab exclusively against other pytest sessions (re-entrant)."""
        if self._lock_depth == 0:
            self._lock_fh = open(os.path.join(self.state_dir, '.test-lock'), 'w')
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX)
        self._lock_depth += 1
        try:
            yield self
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                self._lock_fh.close()
                self._lock_fh = None

    # -- the lab command -----------------------------------------------------------
    def run(self, *args, check=True, timeout=900):
        """Run `lab ARGS...`; returns the CompletedProcess (text)."""
        p = subprocess.run([LAB_CMD] + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout, check=False)
        if check and p.returncode != 0:
            raise AssertionError('lab %s failed (rc=%d):\n%s\n%s' % (
                ' '.join(map(str, args)), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
        return p

    @staticmethod
    def _env():
        return json.loads(subprocess.run([LAB_CMD, 'env', '--json'], capture_output=True, text=True, check=True).stdout)

    def status(self):
        return json.loads(self.run('status', '--json').stdout)

    def host_status(self, host):
        return next(h for h in self.status()['hosts'] if h['host'] == host)

    def reset(self):
        self.run('reset')

    def guests(self):
        """The lab's guests: 'fake' (Nova's fake driver, the default) or 'real' (libvirt + QEMU guests)."""
        return self.status().get('guests', 'fake')

    def ensure_guests(self, mode):
        """Switch the lab's hosts to ``mode`` guests unless they are so already (`lab guests MODE`: minutes)."""
        if self.guests() != mode:
            self.run('guests', mode, timeout=1800)

    # -- faults ---------------------------------------------------------------------------
    def fault(self, host, action, wait=False):
        """Inject/clear a fault: one of Lab.FAULTS.  wait=True (link-up, crash, power-on,
        reboot, start-compute) returns once the host's nova-compute is up again."""
        assert action in self.FAULTS, action
        self.run('fault', host, action, *(['--wait'] if wait else []))

    def link_down(self, host):
        self.fault(host, 'link-down')

    def link_up(self, host, wait=False):
        self.fault(host, 'link-up', wait)

    def crash(self, host, wait=False):
        self.fault(host, 'crash', wait)

    def power_off(self, host):
        self.fault(host, 'power-off')

    def power_on(self, host, wait=False):
        self.fault(host, 'power-on', wait)

    def reboot(self, host, wait=False):
        self.fault(host, 'reboot', wait)

    def stop_compute(self, host):
        self.fault(host, 'stop-compute')

    def start_compute(self, host, wait=False):
        self.fault(host, 'start-compute', wait)

    def break_upgrade(self, host):
        self.fault(host, 'break-upgrade')

    def fix_upgrade(self, host):
        self.fault(host, 'fix-upgrade')

    # -- hosts -------------------------------------------------------------------------------
    def ssh(self, host, command, check=True, timeout=120):
        """Run a shell command on a lab host as root over SSH; returns the CompletedProcess."""
        p = subprocess.run(['ssh', '-i', self.ssh_key] + SSH_OPTS +
                           ['root@' + self.host_ips[host], command],
                           capture_output=True, text=True, timeout=timeout, check=False)
        if check and p.returncode != 0:
            raise AssertionError('%s: %r failed (rc=%d): %s%s' % (
                host, command, p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    # -- Nova ---------------------------------------------------------------------------------
    @property
    def conn(self):
        if self._conn is None:
            self._conn = connect(self)
        return self._conn

    def compute_service(self, host):
        return next(iter(self.conn.compute.services(binary='nova-compute', host=host)))

    def servers_on(self, host):
        return [s for s in self.conn.compute.servers(all_projects=True, details=True)
                if s.compute_host == host]

    def wait_compute(self, host, state, timeout=90, since=None):
        """Wait until Nova reports the host's nova-compute `state` ('up'/'down'); with `since`
        (epoch) 'up' also needs a heartbeat newer than that.  Returns seconds waited."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            last = self.compute_service(host)
            if last.state == state and (since is None or state != 'up'
                                        or _utc_ts(last.updated_at) >= since):
                return time.monotonic() - t0
            time.sleep(0.5)
        raise AssertionError('nova-compute on %s not %s after %ss (state=%s updated_at=%s)' % (
            host, state, timeout, last and last.state, last and last.updated_at))


def connect(lab):
    import openstack  # pylint: disable=import-outside-toplevel

    os.environ['OS_CLIENT_CONFIG_FILE'] = lab.clouds_yaml
    return openstack.connect(cloud=lab.cloud_name)


def _test_lock(state_dir):
    os.makedirs(state_dir, exist_ok=True)
    fh = open(os.path.join(state_dir, '.test-lock'), 'w')
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


@pytest.fixture(scope='session')
def lab():
    if os.geteuid() != 0:
        pytest.fail('the lab needs root (run the lab-backed tests as root, or deselect them with -m "not lab")')
    if not os.path.exists('/etc/debian_version'):
        pytest.fail('the lab needs Debian 12 (deselect the lab-backed tests with -m "not lab")')
    if os.environ.get('ESCALATOR_LAB_SKIP_UP') != '1':
        # under the test lock: `lab up` repairs (powers on, links up...) what a test running
        # in another session may have broken on purpose
        fh = _test_lock(Lab._env()['ESCALATOR_LAB_DIR'])
        try:
            p = subprocess.run([LAB_CMD, 'up'], capture_output=True, text=True, timeout=1800, check=False)
        finally:
            fh.close()
        if p.returncode != 0:
            pytest.fail('lab up failed (rc=%d):\n%s\n%s' % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    lab = Lab()
    with lab.exclusive():
        # a session left on real guests (a local run's last test): the tests that take the lab as it is need fake ones
        lab.ensure_guests('fake')
    return lab


@pytest.fixture(scope='session')
def cloud(lab):
    return connect(lab)


@pytest.fixture
def exclusive_lab(lab):
    with lab.exclusive():
        yield lab


@pytest.fixture
def seeded_lab(lab):
    with lab.exclusive():
        lab.ensure_guests('fake')
        lab.reset()
        yield lab


@pytest.fixture
def real_guests_lab(lab):
    """seeded_lab on real guests: every host runs libvirt + QEMU and nova-compute's libvirt driver, the seeded servers
    are real guests on one L2 segment (docs/lab.md "Real guests"). Left so: the next seeded_lab switches back."""
    with lab.exclusive():
        lab.ensure_guests('real')
        lab.reset()
        yield lab


def _ansible_module(lab, module, check=False, **args):
    """Run opnfv.escalator.<module> with `ansible localhost -m` against the lab; returns
    (failed, result dict, stderr)."""
    args.setdefault('cloud', lab.cloud_name)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.venv', 'collections'),
               OS_CLIENT_CONFIG_FILE=lab.clouds_yaml, ANSIBLE_DEPRECATION_WARNINGS='False',
               ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    command = [os.path.join(REPO_ROOT, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'opnfv.escalator.' + module,
               '-a', json.dumps(args)] + (['--check'] if check else [])
    process = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT,
                             check=False)
    out = process.stdout
    try:
        marker = re.search(r'^localhost \| (SUCCESS|CHANGED|FAILED!) => ', out, re.M)
        result = json.loads(out[marker.end():])
    except (AttributeError, ValueError):
        raise AssertionError('ansible printed no result (rc=%d): %s %s' % (process.returncode, out[-2000:],
                                                                           process.stderr[-2000:])) from None
    failed = marker.group(1) == 'FAILED!'
    assert failed == (process.returncode != 0), (process.returncode, out[:300])
    return failed, result, process.stderr


@pytest.fixture
def ansible_module():
    """run(lab, module, check=False, **args) -> (failed, result dict, stderr): see the module docstring."""
    return _ansible_module
