# SPDX-License-Identifier: Apache-2.0
"""What the lab benchmarks share: the lab's environment, an SDK connection, the nova CLI's OS_* variables,
a poller of the compute services (time hosts spend disabled), Nova's migration records, the probe and the VNFM."""
import collections
import json
import os
import subprocess
import sys
import threading
import time

from bench.common import REPO, VENV_BIN, BenchError, parse_ts

LAB = os.path.join(REPO, 'lab', 'lab')
PROBE = os.path.join(REPO, 'lab', 'probe', 'probe.py')
VNFM = os.path.join(REPO, 'lab', 'vnfm', 'sample_vnfm.py')
DONE_STATES = ('completed', 'confirmed', 'finished')
LIVE_TYPE = 'live-migration'


def lab_env():
    """The `lab env` exports as a dict (ESCALATOR_LAB_DIR, OS_CLIENT_CONFIG_FILE, OS_CLOUD, ...)."""
    return json.loads(subprocess.run([LAB, 'env', '--json'], capture_output=True, text=True, check=True,
                                     timeout=60).stdout)


def lab(*args, timeout=900):
    proc = subprocess.run([LAB] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise BenchError('lab %s failed (rc %d): %s%s' % (' '.join(args), proc.returncode, proc.stdout[-2000:],
                                                          proc.stderr[-2000:]))
    return proc.stdout


def connect(env):
    import openstack  # pylint: disable=import-outside-toplevel
    os.environ['OS_CLIENT_CONFIG_FILE'] = env['OS_CLIENT_CONFIG_FILE']
    return openstack.connect(cloud=env['OS_CLOUD'])


def nova_cli_env(env, base=None):
    """The environment for the `nova` CLI (python-novaclient 18 reads OS_* variables; it has no --os-cloud):
    the lab's cloud from clouds.yaml turned into OS_AUTH_URL, OS_USERNAME, ... ."""
    import openstack.config  # pylint: disable=import-outside-toplevel
    config = openstack.config.OpenStackConfig(config_files=[env['OS_CLIENT_CONFIG_FILE']])
    cloud = config.get_one(cloud=env['OS_CLOUD'])
    auth = cloud.config['auth']
    out = dict(base if base is not None else os.environ)
    for key in [k for k in out if k.startswith('OS_')]:
        del out[key]
    mapping = {'auth_url': 'OS_AUTH_URL', 'username': 'OS_USERNAME', 'password': 'OS_PASSWORD',
               'project_name': 'OS_PROJECT_NAME', 'user_domain_name': 'OS_USER_DOMAIN_NAME',
               'project_domain_name': 'OS_PROJECT_DOMAIN_NAME', 'user_domain_id': 'OS_USER_DOMAIN_ID',
               'project_domain_id': 'OS_PROJECT_DOMAIN_ID'}
    for key, name in mapping.items():
        if auth.get(key):
            out[name] = str(auth[key])
    if cloud.config.get('region_name'):
        out['OS_REGION_NAME'] = cloud.config['region_name']
    out['OS_COMPUTE_API_VERSION'] = '2.latest'
    out['PATH'] = VENV_BIN + os.pathsep + out.get('PATH', '')
    return out


def compute_services(conn):
    return {s.host: s for s in conn.compute.services(binary='nova-compute')}


def servers_on(conn, host):
    return [s for s in conn.compute.servers(all_projects=True, details=True) if s.compute_host == host]


class ServicePoller:
    """Polls the nova-compute services from the bench process every `interval` seconds and records, per host,
    the intervals during which the service was disabled (the same measure for every method)."""

    def __init__(self, conn, interval=1.0):
        self.conn = conn
        self.interval = interval
        self.disabled = collections.defaultdict(list)   # host -> [[start, end], ...] (epoch)
        self.samples = 0
        self.errors = 0
        self._open = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='service-poller', daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            now = time.time()
            try:
                services = compute_services(self.conn)
            except Exception:  # pylint: disable=broad-except
                self.errors += 1
            else:
                self.samples += 1
                for host, service in services.items():
                    if service.status == 'disabled':
                        self._open.setdefault(host, now)
                    elif host in self._open:
                        self.disabled[host].append([self._open.pop(host), now])
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        now = time.time()
        for host, start in self._open.items():
            self.disabled[host].append([start, now])
        self._open = {}
        return self.result()

    def result(self):
        per_host = {host: round(sum(b - a for a, b in spans), 1) for host, spans in sorted(self.disabled.items())}
        return {'interval_s': self.interval, 'samples': self.samples, 'errors': self.errors,
                'per_host_s': per_host, 'total_host_s': round(sum(per_host.values()), 1),
                'intervals': {h: [[round(a, 3), round(b, 3)] for a, b in spans] for h, spans in self.disabled.items()}}


def migrations_since(conn, since_iso, instance_ids=None):
    """Nova's migration records changed since `since_iso` (optionally only those of some instances), as dicts."""
    out = []
    for record in conn.compute.migrations(changes_since=since_iso):
        if instance_ids is not None and record.server_id not in instance_ids:
            continue
        out.append({'id': record.id, 'server_id': record.server_id, 'type': record.migration_type,
                    'status': record.status, 'source': record.source_compute, 'dest': record.dest_compute,
                    'created': parse_ts(record.created_at), 'updated': parse_ts(record.updated_at)})
    return out


def migration_figures(records, instance_ids=None, start=None):
    """Counts of finished migrations (live / cold), errors, and moves per instance (max, mean over
    `instance_ids` when given, else over the instances that moved)."""
    done = [r for r in records if r['status'] in DONE_STATES and (start is None or (r['created'] or 0) >= start - 1)]
    per_instance = collections.Counter(r['server_id'] for r in done)
    ids = list(instance_ids) if instance_ids is not None else list(per_instance)
    counts = [per_instance.get(i, 0) for i in ids]
    return {
        'total': len(done),
        'live': sum(1 for r in done if r['type'] == LIVE_TYPE),
        'cold': sum(1 for r in done if r['type'] != LIVE_TYPE),
        'errors': sum(1 for r in records if r['status'] in ('error', 'failed')),
        'per_instance_max': max(counts) if counts else 0,
        'per_instance_mean': round(sum(counts) / len(counts), 3) if counts else 0,
        'instances': len(ids),
        'instances_moved_more_than_once': sum(1 for c in counts if c > 1),
    }


def migration_intervals(records):
    return [[r['created'], r['updated']] for r in records if r['status'] in DONE_STATES and r['created']]


class Helpers:
    """The sample VNFM (optional) and the outage probe around one run."""

    def __init__(self, env, run_dir, vnfm=True):
        self.env = env
        self.run_dir = run_dir
        self.vnfm = vnfm
        self.child_env = dict(os.environ, OS_CLIENT_CONFIG_FILE=env['OS_CLIENT_CONFIG_FILE'], OS_CLOUD=env['OS_CLOUD'])

    def _run(self, args, check=True):
        proc = subprocess.run([sys.executable] + args, env=self.child_env, capture_output=True, text=True,
                              timeout=120, check=False)
        if check and proc.returncode != 0:
            raise BenchError('%s failed: %s%s' % (' '.join(args[:2]), proc.stdout[-1500:], proc.stderr[-1500:]))

    def start(self):
        os.makedirs(self.run_dir, exist_ok=True)
        if self.vnfm:
            self._run([VNFM, 'start', '--port', '9310', '--pid-file', os.path.join(self.run_dir, 'vnfm.pid'),
                       '--log', os.path.join(self.run_dir, 'vnfm.log'), '--clouds', self.env['OS_CLIENT_CONFIG_FILE']])
        self._run([PROBE, 'start', '--out', os.path.join(self.run_dir, 'probe'),
                   '--clouds', self.env['OS_CLIENT_CONFIG_FILE']])

    def stop(self):
        self._run([PROBE, 'stop', '--out', os.path.join(self.run_dir, 'probe')], check=False)
        if self.vnfm:
            self._run([VNFM, 'stop', '--pid-file', os.path.join(self.run_dir, 'vnfm.pid')], check=False)

    def summary(self):
        """The probe's summary.json (lab/probe: API states with fake guests, packets with real ones)."""
        path = os.path.join(self.run_dir, 'probe', 'summary.json')
        try:
            with open(path, encoding='utf-8') as handle:
                return json.load(handle)
        except (OSError, ValueError) as exc:
            raise BenchError('no probe summary at %s: %s' % (path, exc)) from exc

    def outage(self):
        """{vnf: outage seconds} and the probe's unknown seconds, from its summary."""
        summary = self.summary()
        return ({vnf: data.get('outage_seconds') for vnf, data in sorted(summary.get('vnfs', {}).items())},
                summary.get('unknown_seconds'))
