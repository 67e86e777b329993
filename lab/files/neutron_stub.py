"""Neutron STAND-IN for the escalator lab.  This is NOT Neutron.

Nova has no networking of its own any more and always talks to Neutron, even for servers
booted with networks='none' (compute API microversion >= 2.37): it lists extensions, ports
(by device_id) and quotas while booting, migrating, deleting and healing its info cache.

Fake guests (the lab's default, `guests` = 'fake' in the lab settings): lab servers have no
ports, so every one of those calls has the answer "nothing": this WSGI app answers GET on a
collection with an empty list, GET on an item with 404, DELETE with 204, and rejects everything
else with 400 (logged), so a code path that really needs networking fails loudly instead of
silently succeeding.

Real guests (`guests` = 'real', issue 17): one shared network `lab-vnf-net` (mtu 1450, the guests'
VXLAN segment) with subnet `lab-vnf-subnet` 10.218.0.0/24 (no DHCP), a `default` security group,
and ports that Nova creates, updates and deletes.  Port N gets 10.218.0.N (N in 10..199) and the MAC
fa:16:3e:00:00:<N in hex>: the guest derives its address from its MAC (no DHCP, no metadata
service).  Bindings are `vif_type: tap` (Nova 34 has no Linux bridge VIFs; a piece in each host
puts Nova's tap in the segment's bridge).  There is no `binding-extended` extension, so Nova
moves a port with a PUT of `binding:host_id` (its legacy migration flow).  No
`network-vif-plugged` events are sent: the real-guest hosts do not wait for them.
The ports live in a JSON file under the lab state dir, locked with fcntl, so every gunicorn
worker sees the same ports and they survive a restart of the stand-in.

Served by gunicorn from the lab venv:  gunicorn neutron_stub:application
"""
import contextlib
import fcntl
import json
import logging
import os
import re
import sys
import time
import uuid
from urllib.parse import parse_qs

LOG = logging.getLogger('neutron-stub')
logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format='%(asctime)s %(levelname)s %(name)s %(message)s')

STATE = os.path.realpath(os.environ.get('ESCALATOR_LAB_DIR', '/var/lib/escalator-lab'))
CONFIG = os.path.join(STATE, 'config.json')              # lab settings: 'guests' is the mode
PORTS_FILE = os.path.join(STATE, 'data', 'neutron-stub.json')

# the guests' segment (one home: the contract in docs/lab.md, "Real guests: network and image")
NETWORK_NAME = 'lab-vnf-net'
SUBNET_NAME = 'lab-vnf-subnet'
CIDR_PREFIX = '10.218.0.'
CIDR = CIDR_PREFIX + '0/24'
MTU = 1450
FIRST_PORT, LAST_PORT = 10, 199
MAC_PREFIX = 'fa:16:3e:00:00:'
OWNER = 'escalator-lab'
NETWORK_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, NETWORK_NAME + '.escalator-lab'))
SUBNET_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, SUBNET_NAME + '.escalator-lab'))
SECGROUP_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, 'default-secgroup.escalator-lab'))
# what a client may not change on a port
READ_ONLY = ('id', 'network_id', 'mac_address', 'fixed_ips', 'status', 'created_at')


def _reply(start_response, status, body=None):
    data = b'' if body is None else json.dumps(body).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(data)))])
    return [data]


def _error(start_response, status, kind, message):
    return _reply(start_response, status,
                  {'NeutronError': {'type': kind, 'message': message, 'detail': ''}})


def guests_mode():
    try:
        with open(CONFIG) as f:
            return json.load(f).get('guests') or 'fake'
    except (OSError, ValueError):
        return 'fake'


# --- real mode: the segment's fixed objects -------------------------------------------------
def _stamp():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def network():
    return {'id': NETWORK_ID, 'name': NETWORK_NAME, 'status': 'ACTIVE', 'admin_state_up': True,
            'mtu': MTU, 'subnets': [SUBNET_ID], 'shared': True, 'router:external': False,
            'port_security_enabled': False, 'tenant_id': OWNER, 'project_id': OWNER,
            'description': 'escalator lab: the real guests\' VXLAN segment (VNI 17)'}


def subnet():
    return {'id': SUBNET_ID, 'name': SUBNET_NAME, 'network_id': NETWORK_ID, 'cidr': CIDR,
            'ip_version': 4, 'gateway_ip': None, 'enable_dhcp': False, 'dns_nameservers': [],
            'host_routes': [], 'allocation_pools': [{'start': CIDR_PREFIX + str(FIRST_PORT),
                                                     'end': CIDR_PREFIX + str(LAST_PORT)}],
            'tenant_id': OWNER, 'project_id': OWNER}


def security_group():
    return {'id': SECGROUP_ID, 'name': 'default', 'description': 'escalator lab: no filtering',
            'security_group_rules': [], 'tenant_id': OWNER, 'project_id': OWNER, 'shared': True}


def mac_for(n):
    return MAC_PREFIX + '%02x' % n


def ip_for(n):
    return CIDR_PREFIX + str(n)


def new_port(n, body):
    """A port on the segment with host number n, from a POST body."""
    now = _stamp()
    project = body.get('project_id') or body.get('tenant_id') or ''
    port = {
        'id': str(uuid.uuid4()), 'name': body.get('name', ''), 'network_id': NETWORK_ID,
        'mac_address': mac_for(n), 'fixed_ips': [{'subnet_id': SUBNET_ID, 'ip_address': ip_for(n)}],
        'status': 'ACTIVE', 'admin_state_up': body.get('admin_state_up', True),
        'device_id': body.get('device_id', ''), 'device_owner': body.get('device_owner', ''),
        'binding:host_id': body.get('binding:host_id', ''), 'binding:vnic_type': 'normal',
        'binding:vif_type': 'tap', 'binding:vif_details': {},
        'binding:profile': body.get('binding:profile') or {}, 'security_groups': [],
        'port_security_enabled': False, 'allowed_address_pairs': [], 'extra_dhcp_opts': [],
        'tenant_id': project, 'project_id': project, 'description': body.get('description', ''),
        'created_at': now, 'updated_at': now, 'revision_number': 1}
    return port


def free_number(ports, wanted_ip=None):
    """The host number for a new port: the requested address if free, else the lowest free."""
    used = {int(p['fixed_ips'][0]['ip_address'].rsplit('.', 1)[1]) for p in ports.values()}
    if wanted_ip is not None:
        if not wanted_ip.startswith(CIDR_PREFIX) or not wanted_ip[len(CIDR_PREFIX):].isdigit():
            raise ValueError('InvalidIpForSubnet', '%s is not in %s' % (wanted_ip, CIDR))
        n = int(wanted_ip[len(CIDR_PREFIX):])
        if not FIRST_PORT <= n <= LAST_PORT:
            raise ValueError('InvalidIpForSubnet', '%s is outside %s%d-%d' % (
                wanted_ip, CIDR_PREFIX, FIRST_PORT, LAST_PORT))
        if n in used:
            raise ValueError('IpAddressAlreadyAllocated', '%s is in use' % wanted_ip)
        return n
    for n in range(FIRST_PORT, LAST_PORT + 1):
        if n not in used:
            return n
    raise ValueError('IpAddressGenerationFailure', 'no free address left on %s' % NETWORK_NAME)


@contextlib.contextmanager
def port_store(write=False):
    """The ports {id: port}, under an fcntl lock (shared between gunicorn workers)."""
    os.makedirs(os.path.dirname(PORTS_FILE), exist_ok=True)
    with open(PORTS_FILE + '.lock', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            with open(PORTS_FILE) as f:
                ports = json.load(f).get('ports', {})
        except (OSError, ValueError):
            ports = {}
        yield ports
        if write:
            tmp = PORTS_FILE + '.tmp%d' % os.getpid()
            with open(tmp, 'w') as f:
                json.dump({'ports': ports}, f, indent=1, sort_keys=True)
            os.replace(tmp, PORTS_FILE)


def _matches(item, query):
    """Neutron's list filters: every key's value must be one of the given values."""
    for key, values in query.items():
        if key in ('fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir'):
            continue
        if key == 'fixed_ips':        # fixed_ips=ip_address=X / subnet_id=Y
            have = {'%s=%s' % (k, ip.get(k)) for ip in item.get('fixed_ips', [])
                    for k in ('ip_address', 'subnet_id')}
            if not have & set(values):
                return False
            continue
        have = item.get(key)
        if isinstance(have, bool):
            have = str(have).lower()
            values = [v.lower() for v in values]
        if (have if have is not None else '') not in values and str(have) not in values:
            return False
    return True


def _read_body(environ):
    try:
        size = int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        size = 0
    raw = environ['wsgi.input'].read(size) if size else b''
    return json.loads(raw or b'{}')


def real(environ, start_response, method, path):
    """The real-guest answers; None means: answer as in fake mode."""
    query = parse_qs(environ.get('QUERY_STRING', ''), keep_blank_values=True)
    fixed = {'networks': [network()], 'subnets': [subnet()],
             'security-groups': [security_group()]}
    m = re.match(r'^/v2\.0/(networks|subnets|security-groups|ports)(?:/([^/]+))?$', path)
    if not m:
        return None
    kind, item_id = m.groups()
    key = kind.replace('-', '_')
    if kind in fixed:
        if method != 'GET':
            return None
        items = fixed[kind]
        if kind == 'security-groups':     # every project has its own 'default' group
            project = (query.pop('tenant_id', None) or query.pop('project_id', None) or [OWNER])[0]
            items = [dict(items[0], tenant_id=project, project_id=project)]
        if item_id:
            for item in items:
                if item['id'] == item_id:
                    return _reply(start_response, '200 OK', {key[:-1]: item})
            return None
        return _reply(start_response, '200 OK', {key: [i for i in items if _matches(i, query)]})
    # ports
    if method == 'GET':
        with port_store() as ports:
            if item_id:
                if item_id in ports:
                    return _reply(start_response, '200 OK', {'port': ports[item_id]})
                return _error(start_response, '404 Not Found', 'PortNotFound',
                              'Port %s could not be found.' % item_id)
            found = [p for p in ports.values() if _matches(p, query)]
        found.sort(key=lambda p: int(p['fixed_ips'][0]['ip_address'].rsplit('.', 1)[1]))
        return _reply(start_response, '200 OK', {'ports': found})
    if method == 'POST' and not item_id:
        body = _read_body(environ).get('port') or {}
        if body.get('network_id') != NETWORK_ID:
            return _error(start_response, '400 Bad Request', 'BadRequest',
                          'lab neutron stand-in: ports only on %s (%s)' % (NETWORK_NAME, NETWORK_ID))
        wanted = [ip.get('ip_address') for ip in body.get('fixed_ips') or [] if ip.get('ip_address')]
        with port_store(write=True) as ports:
            try:
                n = free_number(ports, wanted[0] if wanted else None)
            except ValueError as e:
                status = '409 Conflict' if e.args[0] != 'InvalidIpForSubnet' else '400 Bad Request'
                return _error(start_response, status, e.args[0], e.args[1])
            port = new_port(n, body)
            ports[port['id']] = port
        LOG.info('port %s created: %s %s device %s', port['id'], port['mac_address'],
                 ip_for(n), port['device_id'])
        return _reply(start_response, '201 Created', {'port': port})
    if method == 'PUT' and item_id:
        body = _read_body(environ).get('port') or {}
        with port_store(write=True) as ports:
            port = ports.get(item_id)
            if port is None:
                return _error(start_response, '404 Not Found', 'PortNotFound',
                              'Port %s could not be found.' % item_id)
            changes = {k: v for k, v in body.items() if k not in READ_ONLY}
            for k in ('binding:host_id', 'device_id', 'device_owner'):
                if k in changes and changes[k] is None:     # Nova unbinds with None
                    changes[k] = ''
            if 'binding:profile' in changes and changes['binding:profile'] is None:
                changes['binding:profile'] = {}
            port.update(changes)
            port['updated_at'] = _stamp()
            port['revision_number'] = port.get('revision_number', 1) + 1
        LOG.info('port %s updated: %s', item_id, json.dumps(changes, sort_keys=True))
        return _reply(start_response, '200 OK', {'port': port})
    if method == 'DELETE' and item_id:
        with port_store(write=True) as ports:
            gone = ports.pop(item_id, None)
        if gone:
            LOG.info('port %s deleted (%s)', item_id, gone['fixed_ips'][0]['ip_address'])
        return _reply(start_response, '204 No Content')
    return None


def application(environ, start_response):
    method = environ['REQUEST_METHOD']
    path = environ.get('PATH_INFO', '/').rstrip('/') or '/'
    host = environ.get('HTTP_HOST', '127.0.0.1:9696')
    if path == '/':
        return _reply(start_response, '200 OK', {'versions': [{
            'id': 'v2.0', 'status': 'CURRENT',
            'links': [{'href': 'http://%s/v2.0/' % host, 'rel': 'self'}]}]})
    if path == '/v2.0':
        return _reply(start_response, '200 OK', {'resources': []})
    if guests_mode() == 'real':
        answer = real(environ, start_response, method, path)
        if answer is not None:
            return answer
    elif method == 'DELETE' and os.path.exists(PORTS_FILE):
        # the lab switched back to fake guests while real servers were deleted: drop their ports
        # too (the answer stays the fake one), so a later switch to real starts with free addresses
        m = re.match(r'^/v2\.0/ports/([^/]+)$', path)
        if m:
            with port_store(write=True) as ports:
                ports.pop(m.group(1), None)
    if method == 'GET':
        m = re.match(r'^/v2\.0/quotas/([^/]+)(/details)?$', path)
        if m:
            return _reply(start_response, '200 OK', {'quota': {
                'port': -1, 'network': -1, 'subnet': -1, 'router': -1,
                'floatingip': -1, 'security_group': -1, 'security_group_rule': -1}})
        parts = path.split('/')
        if len(parts) == 3:                      # /v2.0/<collection>
            return _reply(start_response, '200 OK', {parts[2].replace('-', '_'): []})
        return _error(start_response, '404 Not Found', 'NotFound',
                      'lab neutron stand-in: %s does not exist (the lab has no networks)'
                      % path)
    if method == 'DELETE':
        return _reply(start_response, '204 No Content')
    LOG.warning('unsupported call %s %s (the lab has no networking)', method, path)
    return _error(start_response, '400 Bad Request', 'BadRequest',
                  'lab neutron stand-in: %s %s is not supported; boot lab servers with '
                  "networks='none' (microversion >= 2.37)" % (method, path))
