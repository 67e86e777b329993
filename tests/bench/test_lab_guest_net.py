# SPDX-License-Identifier: Apache-2.0
"""Real guests in the lab (issue 17), the pure parts: the Neutron stand-in's ports (life cycle,
Nova's legacy migration PUT of binding:host_id, the MAC <-> IP rule the guest relies on, fake mode
unchanged), the segment's command lines (lab/escalator_lab/vnet.py), guestctl against a UDP
responder on 127.0.0.1, the guest program itself when gcc is there.  The lab side is exercised by
`lab/lab reset` in real mode (docs/lab.md, "Real guests: network and image")."""
import importlib.util
import io
import json
import os
import sys
import uuid
from urllib.parse import urlencode

import pytest

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'lab')
sys.path.insert(0, LAB)


def load_stub(tmp_path, mode):
    """A fresh copy of the stand-in (one per gunicorn worker) on a state dir in tmp_path."""
    spec = importlib.util.spec_from_file_location('neutron_stub_%s' % uuid.uuid4().hex,
                                                  os.path.join(LAB, 'files', 'neutron_stub.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.CONFIG = str(tmp_path / 'config.json')
    mod.PORTS_FILE = str(tmp_path / 'data' / 'neutron-stub.json')
    if mode is not None:
        (tmp_path / 'config.json').write_text(json.dumps({'hosts': 4, 'guests': mode}))
    return mod


def call(app, method, path, body=None, **query):
    data = json.dumps(body).encode() if body is not None else b''
    environ = {'REQUEST_METHOD': method, 'PATH_INFO': path,
               'QUERY_STRING': urlencode(query, doseq=True), 'wsgi.input': io.BytesIO(data),
               'CONTENT_LENGTH': str(len(data)), 'HTTP_HOST': '10.213.0.1:9696'}
    out = {}

    def start_response(status, headers):
        out['status'] = int(status.split()[0])
    raw = b''.join(app.application(environ, start_response))
    return out['status'], (json.loads(raw) if raw else None)


@pytest.fixture
def stub(tmp_path):
    return load_stub(tmp_path, 'real')


def create_port(stub, device_id='vm-1', project='p1', **extra):
    body = {'port': dict({'device_id': device_id, 'network_id': stub.NETWORK_ID,
                          'admin_state_up': True, 'tenant_id': project}, **extra)}
    return call(stub, 'POST', '/v2.0/ports', body)


@pytest.mark.parametrize('mode', [None, 'fake'])
def test_fake_mode_answers_as_before(tmp_path, mode):
    stub = load_stub(tmp_path, mode)
    assert call(stub, 'GET', '/v2.0/ports', device_id='x') == (200, {'ports': []})
    assert call(stub, 'GET', '/v2.0/networks', id=stub.NETWORK_ID) == (200, {'networks': []})
    assert call(stub, 'GET', '/v2.0/security-groups') == (200, {'security_groups': []})
    assert call(stub, 'GET', '/v2.0/extensions') == (200, {'extensions': []})
    status, body = call(stub, 'GET', '/v2.0/ports/abc')
    assert status == 404 and body['NeutronError']['type'] == 'NotFound'
    assert call(stub, 'DELETE', '/v2.0/ports/abc') == (204, None)
    status, body = create_port(stub)
    assert status == 400 and "networks='none'" in body['NeutronError']['message']
    assert call(stub, 'PUT', '/v2.0/ports/abc', {'port': {}})[0] == 400
    assert call(stub, 'GET', '/v2.0/quotas/p1')[1]['quota']['port'] == -1
    assert not os.path.exists(stub.PORTS_FILE)


def test_network_subnet_and_security_group(stub):
    status, body = call(stub, 'GET', '/v2.0/networks', id=[stub.NETWORK_ID])
    assert status == 200 and [n['name'] for n in body['networks']] == ['lab-vnf-net']
    net = body['networks'][0]
    assert net['mtu'] == 1450 and net['subnets'] == [stub.SUBNET_ID] and net['shared'] is True
    assert net['router:external'] is False
    # Nova's two searches without ids: the tenant's own (none), then the shared ones (ours)
    assert call(stub, 'GET', '/v2.0/networks', tenant_id='p1', shared='False')[1] == {'networks': []}
    assert call(stub, 'GET', '/v2.0/networks', shared='True')[1]['networks'] == [net]
    assert call(stub, 'GET', '/v2.0/networks/' + stub.NETWORK_ID)[1] == {'network': net}
    status, body = call(stub, 'GET', '/v2.0/subnets', id=[stub.SUBNET_ID])
    sub = body['subnets'][0]
    assert (sub['name'], sub['cidr'], sub['ip_version'], sub['enable_dhcp']) == (
        'lab-vnf-subnet', '10.218.0.0/24', 4, False)
    assert sub['dns_nameservers'] == [] and sub['host_routes'] == []
    groups = call(stub, 'GET', '/v2.0/security-groups', tenant_id='p1')[1]['security_groups']
    assert [g['name'] for g in groups] == ['default']
    # no binding-extended: Nova keeps its legacy migration flow (a PUT of binding:host_id)
    assert call(stub, 'GET', '/v2.0/extensions') == (200, {'extensions': []})
    # anything else on networks stays refused
    assert call(stub, 'POST', '/v2.0/networks', {'network': {'name': 'x'}})[0] == 400


def test_port_life_cycle_with_legacy_migration(stub):
    status, body = create_port(stub, 'vm-1')
    assert status == 201
    p = body['port']
    assert p['fixed_ips'] == [{'subnet_id': stub.SUBNET_ID, 'ip_address': '10.218.0.10'}]
    assert p['mac_address'] == 'fa:16:3e:00:00:0a'
    assert (p['binding:vif_type'], p['binding:vif_details'], p['binding:vnic_type']) == (
        'tap', {}, 'normal')
    assert p['status'] == 'ACTIVE' and p['security_groups'] == [] and p['project_id'] == 'p1'
    # Nova binds it to the boot host
    status, body = call(stub, 'PUT', '/v2.0/ports/' + p['id'], {'port': {
        'binding:host_id': 'compute1', 'device_owner': 'compute:nova',
        'binding:profile': {}, 'mac_address': 'aa:aa:aa:aa:aa:aa'}})
    assert status == 200 and body['port']['binding:host_id'] == 'compute1'
    assert body['port']['mac_address'] == 'fa:16:3e:00:00:0a'        # the MAC is the address
    assert call(stub, 'GET', '/v2.0/ports', device_id='vm-1')[1]['ports'] == [body['port']]
    assert call(stub, 'GET', '/v2.0/ports', device_id='vm-2')[1]['ports'] == []
    # a second port: the next address
    p2 = create_port(stub, 'vm-2')[1]['port']
    assert (p2['fixed_ips'][0]['ip_address'], p2['mac_address']) == ('10.218.0.11', 'fa:16:3e:00:00:0b')
    listed = call(stub, 'GET', '/v2.0/ports', device_id=['vm-1', 'vm-2'], fields=['id'])[1]['ports']
    assert [x['id'] for x in listed] == [p['id'], p2['id']]
    # live migration, Nova's legacy flow as the lab's Nova sends it: the source marks the profile,
    # the destination's PUT moves binding:host_id and clears it
    body = call(stub, 'PUT', '/v2.0/ports/' + p['id'], {'port': {
        'binding:profile': {'migrating_to': 'compute2'}}})[1]
    assert body['port']['binding:profile'] == {'migrating_to': 'compute2'}
    assert body['port']['binding:host_id'] == 'compute1'
    body = call(stub, 'PUT', '/v2.0/ports/' + p['id'], {'port': {
        'binding:host_id': 'compute2', 'binding:profile': {}, 'device_owner': 'compute:nova'}})[1]
    got = call(stub, 'GET', '/v2.0/ports/' + p['id'])[1]['port']
    assert got == body['port'] and got['binding:host_id'] == 'compute2'
    assert got['binding:profile'] == {} and got['binding:vif_type'] == 'tap'
    assert got['fixed_ips'][0]['ip_address'] == '10.218.0.10' and got['device_id'] == 'vm-1'
    # unbinding (Nova sends None)
    got = call(stub, 'PUT', '/v2.0/ports/' + p['id'], {'port': {
        'binding:host_id': None, 'device_id': '', 'device_owner': ''}})[1]['port']
    assert got['binding:host_id'] == '' and got['device_id'] == ''
    # delete: gone, and its address is handed out again
    assert call(stub, 'DELETE', '/v2.0/ports/' + p['id']) == (204, None)
    status, body = call(stub, 'GET', '/v2.0/ports/' + p['id'])
    assert status == 404 and body['NeutronError']['type'] == 'PortNotFound'
    assert call(stub, 'PUT', '/v2.0/ports/' + p['id'], {'port': {}})[0] == 404
    assert create_port(stub, 'vm-3')[1]['port']['fixed_ips'][0]['ip_address'] == '10.218.0.10'


def test_ports_are_shared_between_workers(tmp_path):
    w1, w2 = load_stub(tmp_path, 'real'), load_stub(tmp_path, 'real')
    p = create_port(w1, 'vm-1')[1]['port']
    assert call(w2, 'GET', '/v2.0/ports/' + p['id'])[1]['port'] == p
    call(w2, 'PUT', '/v2.0/ports/' + p['id'], {'port': {'binding:host_id': 'compute3'}})
    assert call(w1, 'GET', '/v2.0/ports', device_id='vm-1')[1]['ports'][0]['binding:host_id'] == 'compute3'
    assert create_port(w2, 'vm-2')[1]['port']['fixed_ips'][0]['ip_address'] == '10.218.0.11'


def test_mac_ip_rule_over_the_whole_range(stub):
    """The guest's init takes 10.218.0.<last MAC byte>: every port's MAC must name its IP."""
    seen = set()
    for i in range(stub.LAST_PORT - stub.FIRST_PORT + 1):
        p = create_port(stub, 'vm-%d' % i)[1]['port']
        n = int(p['fixed_ips'][0]['ip_address'].split('.')[-1])
        assert int(p['mac_address'].split(':')[-1], 16) == n
        assert p['mac_address'].startswith('fa:16:3e:00:00:')
        seen.add(n)
    assert seen == set(range(10, 200))          # .201/.202 (service addresses) never handed out
    status, body = create_port(stub, 'vm-full')
    assert status == 409 and body['NeutronError']['type'] == 'IpAddressGenerationFailure'
    with open(os.path.join(LAB, 'guest', 'init')) as f:
        assert 'IP=10.218.0.$((0x$last))/24' in f.read()


def test_requested_fixed_ip(stub):
    p = create_port(stub, 'vm-1', fixed_ips=[{'ip_address': '10.218.0.42'}])[1]['port']
    assert (p['fixed_ips'][0]['ip_address'], p['mac_address']) == ('10.218.0.42', 'fa:16:3e:00:00:2a')
    status, body = create_port(stub, 'vm-2', fixed_ips=[{'ip_address': '10.218.0.42'}])
    assert status == 409 and body['NeutronError']['type'] == 'IpAddressAlreadyAllocated'
    for bad in ('10.218.0.201', '10.9.0.5'):
        status, body = create_port(stub, 'vm-3', fixed_ips=[{'ip_address': bad}])
        assert status == 400 and body['NeutronError']['type'] == 'InvalidIpForSubnet'
    status, body = call(stub, 'POST', '/v2.0/ports', {'port': {'network_id': 'other'}})
    assert status == 400


# --- the segment: vnet command lines -------------------------------------------------------------
def test_vnet_host_and_machine_command_lines():
    from escalator_lab import vnet
    assert vnet.host_create(2) == [
        ['ip', '-n', 'esclab-compute2', 'link', 'add', 'brvnf', 'mtu', '1450', 'type', 'bridge'],
        ['ip', '-n', 'esclab-compute2', 'link', 'add', 'vx17', 'type', 'vxlan', 'id', '17',
         'local', '10.213.0.12', 'dev', 'eth0', 'dstport', '4789'],
        ['ip', '-n', 'esclab-compute2', 'link', 'set', 'vx17', 'master', 'brvnf', 'mtu', '1450', 'up'],
        ['ip', '-n', 'esclab-compute2', 'link', 'set', 'brvnf', 'up']]
    assert vnet.machine_create() == [
        ['ip', 'link', 'add', 'escvx0', 'type', 'vxlan', 'id', '17', 'local', '10.213.0.1',
         'dev', 'escbr0', 'dstport', '4789'],
        ['ip', 'addr', 'replace', '10.218.0.1/24', 'dev', 'escvx0'],
        ['ip', 'link', 'set', 'escvx0', 'mtu', '1450', 'up']]
    # head-end replication: each host floods to the machine and every other host, never itself
    assert vnet.peers(2, [1, 2, 3]) == ['10.213.0.1', '10.213.0.11', '10.213.0.13']


def test_vnet_flood_list_is_reconciled():
    from escalator_lab import vnet
    shown = ('00:00:00:00:00:00 dst 10.213.0.1 self permanent\n'
             '00:00:00:00:00:00 dst 10.213.0.14 self permanent\n'
             'fa:16:3e:00:00:0a dst 10.213.0.12 self \n'
             '5a:1b:2c:3d:4e:5f master brvnf permanent\n')
    have = vnet.parse_flood(shown)
    assert have == {'10.213.0.1', '10.213.0.14'}         # learnt guest MACs are not flood entries
    assert vnet.fdb_sync('esclab-compute1', 'vx17', vnet.peers(1, [1, 2]), have) == [
        ['bridge', '-n', 'esclab-compute1', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx17',
         'dst', '10.213.0.12'],
        ['bridge', '-n', 'esclab-compute1', 'fdb', 'del', '00:00:00:00:00:00', 'dev', 'vx17',
         'dst', '10.213.0.14']]
    assert vnet.fdb_sync(None, 'escvx0', ['10.213.0.11'], {'10.213.0.11'}) == []


# --- guestctl against UDP responders on 127.0.0.1 --------------------------------------------------
class Responder:
    """A guest stand-in on 127.0.0.1: echo and control on free ports, `drop` requests unanswered."""

    def __init__(self, drop=0, refuse=False):
        import socket
        import threading
        self.socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for s in self.socks:
            s.bind(('127.0.0.1', 0))
            s.settimeout(0.1)
        self.echo_port, self.control_port = (s.getsockname()[1] for s in self.socks)
        self.drop, self.refuse, self.seen, self.n, self.svc = drop, refuse, [], 0, []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import socket
        while not self.stop:
            for k, s in enumerate(self.socks):
                try:
                    data, peer = s.recvfrom(2048)
                except socket.timeout:
                    continue
                text = data.decode()
                self.seen.append(text)
                if self.drop:
                    self.drop -= 1
                    continue
                if k == 0:
                    self.n += 1
                    s.sendto(b'stray reply', peer)           # not ours: must be ignored
                    s.sendto(('%s n=%d boot=0badf00d' % (text, self.n)).encode(), peer)
                elif self.refuse:
                    s.sendto(b'err ip addr add failed', peer)
                elif text == 'svc list':
                    s.sendto(' '.join(['ok'] + self.svc).encode(), peer)
                else:
                    _, verb, ip = text.split()
                    (self.svc.append if verb == 'add' else self.svc.remove)(ip)
                    s.sendto(('ok %s %s' % (verb, ip)).encode(), peer)

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


@pytest.fixture
def responder():
    made = []

    def make(**kw):
        made.append(Responder(**kw))
        return made[-1]
    yield make
    for r in made:
        r.close()


def test_guestctl_svc_add_list_del(responder):
    from escalator_lab import guestctl
    r = responder()
    assert guestctl.send_svc('127.0.0.1', 'add', '10.218.0.201', port=r.control_port) == 'ok add 10.218.0.201'
    assert r.seen == ['svc add 10.218.0.201']
    assert guestctl.svc_list('127.0.0.1', port=r.control_port) == ['10.218.0.201']
    assert guestctl.send_svc('127.0.0.1', 'del', '10.218.0.201', port=r.control_port) == 'ok del 10.218.0.201'
    assert guestctl.svc_list('127.0.0.1', port=r.control_port) == []
    with pytest.raises(ValueError):
        guestctl.send_svc('127.0.0.1', 'move', '10.218.0.201', port=r.control_port)


def test_guestctl_resends_and_times_out(responder):
    from escalator_lab import guestctl
    r = responder(drop=2)          # the first two requests are lost: answered on the third send
    assert guestctl.send_svc('127.0.0.1', 'add', '10.218.0.202', timeout=3, port=r.control_port)
    assert r.seen == ['svc add 10.218.0.202'] * 3
    silent = responder(drop=100)
    with pytest.raises(guestctl.GuestTimeout, match='no reply from 127.0.0.1'):
        guestctl.send_svc('127.0.0.1', 'add', '10.218.0.202', timeout=0.6, port=silent.control_port)
    refusing = responder(refuse=True)
    with pytest.raises(guestctl.GuestRefused, match='err ip addr add failed'):
        guestctl.send_svc('127.0.0.1', 'add', '10.218.0.202', port=refusing.control_port)


def test_guestctl_echo_matches_by_payload(responder):
    from escalator_lab import guestctl
    r = responder()
    first = guestctl.echo('127.0.0.1', port=r.echo_port)
    second = guestctl.wait_answer('127.0.0.1', timeout=2, port=r.echo_port)
    assert (first['n'], second['n'], second['boot']) == (1, 2, '0badf00d')
    assert second['reply'].endswith(' n=2 boot=0badf00d') and second['seconds'] < 2


def test_guest_program_protocol(tmp_path):
    """The guest's own C program, built like the image builds it, in its dry mode on 127.0.0.1."""
    import shutil
    import socket
    import subprocess
    from escalator_lab import guestctl
    if not shutil.which('gcc'):
        pytest.skip('no gcc')
    exe = str(tmp_path / 'udpecho')
    subprocess.run(['gcc', '-O2', '-Wall', '-Werror', '-o', exe, os.path.join(LAB, 'guest', 'udpecho.c')],
                   check=True)
    ports = []
    for _ in range(2):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(('127.0.0.1', 0))
            ports.append(s.getsockname()[1])
    p = subprocess.Popen([exe, '127.0.0.1', str(ports[0]), str(ports[1])], stdout=subprocess.PIPE,
                         env=dict(os.environ, LABGUEST_DRY='1'))
    try:
        assert p.stdout.readline().startswith(b'udpecho: ready boot=')
        e1 = guestctl.echo('127.0.0.1', port=ports[0])
        e2 = guestctl.echo('127.0.0.1', port=ports[0])
        assert (e1['n'], e2['n']) == (1, 2) and e1['boot'] == e2['boot'] and len(e1['boot']) == 8
        assert guestctl.send_svc('127.0.0.1', 'add', '10.218.0.201', port=ports[1]) == 'ok add 10.218.0.201'
        assert guestctl.send_svc('127.0.0.1', 'add', '10.218.0.201', port=ports[1]) == 'ok add 10.218.0.201'
        assert guestctl.svc_list('127.0.0.1', port=ports[1]) == ['10.218.0.201']
        assert guestctl.send_svc('127.0.0.1', 'del', '10.218.0.201', port=ports[1]) == 'ok del 10.218.0.201'
        assert guestctl.svc_list('127.0.0.1', port=ports[1]) == []
        with pytest.raises(guestctl.GuestRefused, match='bad address'):
            guestctl.send_svc('127.0.0.1', 'add', '10.218.0.300', port=ports[1])
    finally:
        p.kill()
        p.wait()


def test_guest_program_obeys_only_the_controller(tmp_path):
    import shutil
    import socket
    import subprocess
    from escalator_lab import guestctl
    if not shutil.which('gcc'):
        pytest.skip('no gcc')
    exe = str(tmp_path / 'udpecho')
    subprocess.run(['gcc', '-O2', '-o', exe, os.path.join(LAB, 'guest', 'udpecho.c')], check=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        echo_port = s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        ctl_port = s.getsockname()[1]
    # the controller is 10.218.0.1: a request from 127.0.0.1 is dropped without an answer
    p = subprocess.Popen([exe, '10.218.0.1', str(echo_port), str(ctl_port)], stdout=subprocess.PIPE,
                         env=dict(os.environ, LABGUEST_DRY='1'))
    try:
        p.stdout.readline()
        with pytest.raises(guestctl.GuestTimeout):
            guestctl.send_svc('127.0.0.1', 'add', '10.218.0.201', timeout=0.6, port=ctl_port)
        assert guestctl.echo('127.0.0.1', port=echo_port)['n'] == 1     # echo answers anyone
    finally:
        p.kill()
        p.wait()


# --- seeding: what differs with real guests ---------------------------------------------------------
HOSTS4 = ['compute1', 'compute2', 'compute3', 'compute4']


def test_real_seed_plan_carries_service_addresses():
    from escalator_lab import cloud
    fake, real = cloud.plan(HOSTS4), cloud.plan(HOSTS4, 'real')
    assert [w[:5] + (w[6],) for w in fake] == [w[:5] + (w[6],) for w in real]   # same layout
    assert all('vnf_service_ip' not in w[5] for w in fake)
    svc = {w[0]: w[5].get('vnf_service_ip') for w in real}
    assert svc == {'vnf-a-active': '10.218.0.201', 'vnf-a-standby': '10.218.0.201',
                   'vnf-b-active': '10.218.0.202', 'vnf-b-standby': '10.218.0.202',
                   'tenant-web-1': None, 'tenant-db-1': None, 'tenant-batch-1': None,
                   'tenant-stopped': None}
    assert cloud.SEED_SERVERS[0][5] == {'escalator_role': 'active', 'vnf': 'vnf-a'}   # not mutated
    assert set(cloud.FLAVORS_REAL) == set(cloud.FLAVORS)
    assert cloud.flavors_for('real')['m1.tiny'] == (1, 128, 1)
    assert cloud.flavors_for('real')['m1.small'] == (1, 192, 1)
    assert cloud.flavors_for('fake') == cloud.FLAVORS


def test_guest_ip_and_mode_mismatch():
    from types import SimpleNamespace
    from escalator_lab import cloud
    real = SimpleNamespace(addresses={'lab-vnf-net': [{'addr': '10.218.0.12', 'version': 4}]})
    fake = SimpleNamespace(addresses={})
    assert cloud.guest_ip(real) == '10.218.0.12' and cloud.guest_ip(fake) is None
    assert not cloud._network_mismatch(real, 'real') and not cloud._network_mismatch(fake, 'fake')
    assert cloud._network_mismatch(fake, 'real') and cloud._network_mismatch(real, 'fake')


def test_ports_deleted_after_a_switch_to_fake(tmp_path):
    """Switching the lab to fake deletes the real servers after the mode changed: their ports go."""
    stub = load_stub(tmp_path, 'real')
    p1 = create_port(stub, 'vm-1')[1]['port']
    p2 = create_port(stub, 'vm-2')[1]['port']
    (tmp_path / 'config.json').write_text(json.dumps({'guests': 'fake'}))
    assert call(stub, 'DELETE', '/v2.0/ports/' + p1['id']) == (204, None)
    assert call(stub, 'GET', '/v2.0/ports', device_id='vm-2') == (200, {'ports': []})   # fake answers
    (tmp_path / 'config.json').write_text(json.dumps({'guests': 'real'}))
    assert [p['id'] for p in call(stub, 'GET', '/v2.0/ports')[1]['ports']] == [p2['id']]
    assert create_port(stub, 'vm-3')[1]['port']['fixed_ips'][0]['ip_address'] == '10.218.0.10'
