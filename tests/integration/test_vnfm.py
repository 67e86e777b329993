# SPDX-License-Identifier: Apache-2.0
"""vnfm_notify against the lab: the sample VNFM (lab/vnfm) switches its pairs over before the
host is evacuated, and the probe (lab/probe) proves there was no outage -- and that it does see
one when the host of an active instance goes down without the VNFM.

The modules run as real module processes (python -m ... args.json), the VNFM and the probe as
the background services operators would start."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VNFM_CMD = os.path.join(REPO_ROOT, 'lab', 'vnfm', 'sample_vnfm.py')
PROBE_CMD = os.path.join(REPO_ROOT, 'lab', 'probe', 'probe.py')
HOST = 'compute1'                       # the seed puts both VNF actives here
PAIRS = ('vnf-a', 'vnf-b')

pytestmark = pytest.mark.lab


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_module(lab, name, timeout=900, **args):
    """Run one of the collection's modules as Ansible would (a process reading its args file)."""
    args.setdefault('cloud', lab.cloud_name)
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO_ROOT, '.venv', 'collections'),
               OS_CLIENT_CONFIG_FILE=lab.clouds_yaml)
    try:
        process = subprocess.run([sys.executable, '-m', 'ansible_collections.opnfv.escalator.plugins.modules.' + name,
                                  handle.name], capture_output=True, text=True, timeout=timeout, env=env, check=False)
    finally:
        os.unlink(handle.name)
    try:
        return json.loads(process.stdout)
    except ValueError:
        raise AssertionError('%s printed no JSON (rc=%d): %s %s' % (name, process.returncode, process.stdout[-2000:],
                                                                    process.stderr[-2000:])) from None


class SampleVNFM:
    def __init__(self, lab, tmp, *extra):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.pid_file = str(tmp / 'vnfm.pid')
        self.log = str(tmp / 'vnfm.log')
        self.base = [sys.executable, VNFM_CMD, '--port', str(self.port), '--clouds', lab.clouds_yaml,
                     '--pid-file', self.pid_file, '--log', self.log, '--state-dir', str(tmp)]
        process = subprocess.run(self.base[:2] + ['start'] + self.base[2:] + list(extra), capture_output=True,
                                 text=True, timeout=120, check=False)
        assert process.returncode == 0, process.stdout + process.stderr + open(self.log).read()

    def stop(self):
        subprocess.run(self.base[:2] + ['stop'] + self.base[2:], capture_output=True, text=True, timeout=60, check=False)

    def control(self, **config):
        request = urllib.request.Request(self.url + '/control', data=json.dumps(config).encode(), method='POST',
                                         headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def status(self):
        with urllib.request.urlopen(self.url + '/status', timeout=30) as response:
            return json.loads(response.read())

    def events(self, kind=None):
        return [e for e in self.status()['events'] if kind is None or e['kind'] == kind]

    def entries(self, **extra):
        return [dict(dict(project=project, url=self.url + '/maintenance'), **extra) for project in PAIRS]


class Probe:
    def __init__(self, lab, out):
        self.out = str(out)
        self.base = [sys.executable, PROBE_CMD, '--out', self.out, '--clouds', lab.clouds_yaml,
                     '--cloud', lab.cloud_name, '--inventory', lab.inventory, '--vnfs', ','.join(PAIRS)]
        process = subprocess.run(self.base[:2] + ['start'] + self.base[2:], capture_output=True, text=True,
                                 timeout=120, check=False)
        assert process.returncode == 0, process.stdout + process.stderr

    def stop(self):
        subprocess.run(self.base[:2] + ['stop'] + self.base[2:], capture_output=True, text=True, timeout=60, check=False)
        return self.summary()

    def summary(self):
        with open(os.path.join(self.out, 'summary.json')) as handle:
            return json.load(handle)


@pytest.fixture
def vnfm_service(seeded_lab, tmp_path):
    started = []

    def start(*extra):
        service = SampleVNFM(seeded_lab, tmp_path / ('vnfm%d' % len(started)), *extra)
        started.append(service)
        return service

    for index in range(3):
        (tmp_path / ('vnfm%d' % index)).mkdir()
    yield start
    for service in started:
        service.stop()


@pytest.fixture
def probe(seeded_lab, tmp_path):
    started = []

    def start():
        started.append(Probe(seeded_lab, tmp_path / 'probe'))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def vnf_servers(cloud):
    return {s.name: s for s in cloud.compute.servers(all_projects=True, details=True)
            if (s.metadata or {}).get('vnf')}


def evacuate(lab, cloud, host, decisions):
    """Move the host's instances as decided: compute_evacuate when it exists, else the SDK."""
    if os.path.exists(os.path.join(REPO_ROOT, 'plugins', 'modules', 'compute_evacuate.py')):
        result = run_module(lab, 'compute_evacuate', host=host, decisions=decisions)
        if result.get('failed'):
            pytest.fail('compute_evacuate failed: %s' % json.dumps(result, indent=1)[:8000])
        return 'compute_evacuate'
    for server in lab.servers_on(host):
        decision = decisions.get(server.id, 'live')
        if decision == 'own_action':
            continue
        if decision == 'cold' or server.status != 'ACTIVE':
            cloud.compute.migrate_server(server)
            cloud.compute.wait_for_server(server, status='VERIFY_RESIZE', wait=300, interval=1)
            cloud.compute.confirm_server_resize(server)
            cloud.compute.wait_for_server(server, status=server.status, wait=300, interval=1)
        else:
            cloud.compute.live_migrate_server(server, host=None, block_migration='auto')
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                now = cloud.compute.get_server(server)
                if now.compute_host != host and now.status == 'ACTIVE' and not now.task_state:
                    break
                time.sleep(1)
            else:
                raise AssertionError('%s did not leave %s' % (server.name, host))
    assert lab.servers_on(host) == [] or all(decisions.get(s.id) == 'own_action' for s in lab.servers_on(host))
    return 'sdk'


def maintenance(lab, host, state, campaign):
    result = run_module(lab, 'compute_maintenance', host=host, state=state, campaign_id=campaign)
    if result.get('failed'):
        pytest.fail('compute_maintenance %s failed: %s' % (state, json.dumps(result, indent=1)[:4000]))


# -- the whole maintenance of a host with the VNFM: no outage ------------------------------------

def test_host_maintenance_with_the_vnfm_has_no_outage(seeded_lab, cloud, vnfm_service, probe):
    lab = seeded_lab
    campaign = 'vnfm-it-%d' % int(time.time())
    before = vnf_servers(cloud)
    assert before['vnf-a-active'].compute_host == HOST and before['vnf-b-active'].compute_host == HOST
    vnfm = vnfm_service('--action', 'LIVE_MIGRATE')
    running = probe()
    time.sleep(3)                                               # a baseline of healthy samples
    disabled = False
    try:
        maintenance(lab, HOST, 'maintenance', campaign)
        disabled = True
        notified = time.time()
        result = run_module(lab, 'vnfm_notify', host=HOST, session_id=campaign, state='planned',
                            reply_timeout=60, listen_address='127.0.0.1',
                            vnfm=[dict(project='vnf-a', url=vnfm.url + '/maintenance'),
                                  dict(project='vnf-b', url=vnfm.url + '/maintenance', delivery='aodh',
                                       granularity='instance')])
        replied = time.time()
        assert not result.get('failed'), result

        # the notification reached the VNFM, which switched over, then ACKed; the decisions follow
        projects = {record['project']: record for record in result['projects'].values()}
        assert projects['vnf-a']['outcome'] == 'acked' and projects['vnf-b']['outcome'] == 'acked'
        assert projects['vnf-a']['reply']['state'] == 'ACK_PLANNED_MAINTENANCE'
        on_host = {s.id: s for s in lab.servers_on(HOST)}
        assert set(result['decisions']) == set(on_host)
        assert result['decisions'][before['vnf-a-active'].id] == 'live'
        assert result['decisions'][before['vnf-b-active'].id] == 'live'
        assert all(decision in ('live', 'cold', 'own_action') for decision in result['decisions'].values())
        switchovers = {e['vnf']: e for e in vnfm.events('switchover')}
        assert set(switchovers) == set(PAIRS)
        replies = vnfm.events('reply')
        assert {r['status'] for r in replies} == {200}
        for name in PAIRS:
            assert notified <= switchovers[name]['t'] <= replied
            assert switchovers[name]['t'] <= min(r['t'] for r in replies if r['project_id'] == switchovers[name][
                'project_id'])
        roles = {name: s.metadata['escalator_role'] for name, s in vnf_servers(cloud).items()}
        assert roles == {'vnf-a-active': 'standby', 'vnf-a-standby': 'active',
                         'vnf-b-active': 'standby', 'vnf-b-standby': 'active'}

        # only now is the host evacuated (switchover before evacuation), restarted, and enabled
        evacuated_at = time.time()
        assert all(s['t'] < evacuated_at for s in switchovers.values())
        how = evacuate(lab, cloud, HOST, result['decisions'])
        assert lab.servers_on(HOST) == [], how
        lab.reboot(HOST, wait=True)
        maintenance(lab, HOST, 'active', campaign)
        disabled = False
        done = run_module(lab, 'vnfm_notify', host=HOST, session_id=campaign, state='complete',
                          wait_complete=True, listen_address='127.0.0.1',
                          vnfm=[dict(project='vnf-a', url=vnfm.url + '/maintenance'),
                                dict(project='vnf-b', url=vnfm.url + '/maintenance', delivery='aodh')])
        assert not done.get('failed'), done
        assert {r['outcome'] for r in done['projects'].values()} == {'acked'}
        assert {e['host'] for e in vnfm.events('host_back')} == {HOST}
    finally:
        if disabled:                                            # leave the shared lab as we found it
            maintenance(lab, HOST, 'active', campaign)
        summary = running.stop()
    print('probe summary (maintenance with the VNFM):', json.dumps(summary, indent=1))
    assert summary['samples'] >= 20 and summary['errors'] == 0, summary
    for name in PAIRS:
        assert summary['vnfs'][name]['outage_seconds'] == 0, summary['vnfs'][name]
        assert summary['vnfs'][name]['healthy_now'] is True


# -- the probe is honest: the same host down without the VNFM is an outage ---------------------------

def test_host_down_without_switchover_is_an_outage(seeded_lab, cloud, probe):
    lab = seeded_lab
    before = vnf_servers(cloud)
    assert before['vnf-a-active'].compute_host == HOST
    running = probe()
    time.sleep(3)
    try:
        lab.power_off(HOST)
        time.sleep(5)
    finally:
        lab.power_on(HOST, wait=True)
    time.sleep(3)
    summary = running.stop()
    print('probe summary (host down, no VNFM):', json.dumps(summary, indent=1))
    for name in PAIRS:
        vnf = summary['vnfs'][name]
        assert vnf['outage_seconds'] >= 4, vnf
        assert vnf['outages'][0]['end'] is not None, vnf              # and it ended when the host came back
        assert 'compute1' in vnf['outages'][0]['reason']
    assert {s.metadata['escalator_role'] for n, s in vnf_servers(cloud).items() if n.endswith('-active')} == {'active'}


# -- NACK, late reply and no reply follow the policy ----------------------------------------------------

def require_seed(cloud):
    servers = vnf_servers(cloud)
    for name in PAIRS:
        assert servers['%s-active' % name].compute_host == HOST, 'the lab is not in its seeded state'
        assert servers['%s-active' % name].metadata['escalator_role'] == 'active'
    return servers


def notify(lab, vnfm, seed=True, **args):
    if seed:
        require_seed(lab.conn)
    args.setdefault('host', HOST)
    args.setdefault('session_id', 'vnfm-policy-%d' % int(time.time() * 1000))
    args.setdefault('listen_address', '127.0.0.1')
    args.setdefault('vnfm', vnfm.entries())
    return run_module(lab, 'vnfm_notify', **args)


def by_project(result):
    return {record['project']: record for record in result['projects'].values()}


def test_nack_fails_or_proceeds_as_configured(seeded_lab, cloud, vnfm_service):
    vnfm = vnfm_service('--mode', 'nack')
    failed = notify(seeded_lab, vnfm)
    assert failed['failed'] is True and failed['error_code'] == 'E_VNFM'
    assert 'NACK_PLANNED_MAINTENANCE' in failed['msg']
    assert {r['outcome'] for r in by_project(failed).values() if r['project'] in PAIRS} == {'nacked'}
    assert vnfm.events('switchover') == []

    proceeded = notify(seeded_lab, vnfm, on_nack='proceed', default_action='cold')
    assert not proceeded.get('failed'), proceeded
    active = vnf_servers(cloud)['vnf-a-active'].id
    assert proceeded['decisions'][active] == 'cold'
    assert by_project(proceeded)['vnf-a']['policy'] == 'proceed'


def test_late_reply_is_waited_for_or_times_out(seeded_lab, cloud, vnfm_service):
    vnfm = vnfm_service('--mode', 'late', '--delay', '8', '--action', 'OWN_ACTION')
    timed_out = notify(seeded_lab, vnfm, reply_timeout=3)
    assert timed_out['failed'] is True and timed_out['error_code'] == 'E_VNFM'
    assert {r['outcome'] for r in by_project(timed_out).values() if r['project'] in PAIRS} == {'timed_out'}
    assert 'no reply within 3s' in timed_out['msg']

    # the VNFM switched over before it (failed to) answer; the next session announces the same instances
    waited = notify(seeded_lab, vnfm, seed=False, reply_timeout=60)
    assert not waited.get('failed'), waited
    for name in PAIRS:
        assert by_project(waited)[name]['outcome'] == 'acked'
        assert by_project(waited)[name]['seconds'] >= 8
    servers = vnf_servers(cloud)
    assert waited['decisions'][servers['vnf-a-active'].id] == 'own_action'
    # the late replies to the first (finished) session found no listener: they never counted
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        late = [r for r in vnfm.events('reply') if r['session_id'] == timed_out['session_id']]
        if len(late) == len(PAIRS):
            break
        time.sleep(1)
    assert len(late) == len(PAIRS) and all(r['status'] is None for r in late), late


def test_no_reply_times_out_and_proceed_uses_the_default(seeded_lab, cloud, vnfm_service):
    vnfm = vnfm_service('--mode', 'never')
    failed = notify(seeded_lab, vnfm, reply_timeout=3)
    assert failed['failed'] is True and failed['error_code'] == 'E_VNFM'
    proceeded = notify(seeded_lab, vnfm, reply_timeout=3, on_timeout='proceed', default_action='live')
    assert not proceeded.get('failed'), proceeded
    assert {r['outcome'] for r in by_project(proceeded).values() if r['project'] in PAIRS} == {'timed_out'}
    assert set(proceeded['decisions'].values()) == {'live'}
    assert len(vnfm.events('not_replying')) == 4


def test_garbage_reply_is_refused_and_unreachable_vnfm_follows_policy(seeded_lab, cloud, vnfm_service):
    vnfm = vnfm_service('--mode', 'garbage')
    result = notify(seeded_lab, vnfm, reply_timeout=5, on_timeout='proceed')
    assert not result.get('failed'), result
    assert sorted(r['status'] for r in result['rejected_replies']) == [400, 400]
    assert {r['status'] for r in vnfm.events('reply')} == {400}
    vnfm.stop()
    gone = notify(seeded_lab, vnfm, reply_timeout=5, send_retries=0)
    assert gone['failed'] is True and gone['error_code'] == 'E_VNFM'
    assert {r['outcome'] for r in by_project(gone).values() if r['project'] in PAIRS} == {'unreachable'}
