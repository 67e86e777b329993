# SPDX-License-Identifier: Apache-2.0
"""The sample VNFM's switchover (lab/vnfm/sample_vnfm.py) with real guests: it moves the VNF's service address
(``svc add`` to the new active first, the roles, then ``svc del`` to the old one) over the guests' control port,
here fake guests on 127.0.0.x; with fake guests (no ``vnf_service_ip``) it sends nothing, as before."""
import os
import sys
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
VNFM_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'lab', 'vnfm')
for path in (HERE, VNFM_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)

import sample_vnfm  # noqa: E402
from echo_guests import EchoGuest, free_port  # noqa: E402

SERVICE = '10.218.0.201'


class FakeCompute:
    def __init__(self, servers, log):
        self.servers_ = servers
        self.log = log

    def servers(self, details=True):
        return list(self.servers_)

    def set_server_metadata(self, server, **metadata):
        server.metadata.update(metadata)
        self.log.append(('meta', server.name, metadata.get('escalator_role')))


def server(sid, name, role, address, service=SERVICE):
    metadata = dict(vnf='vnf-a', escalator_role=role)
    if service:
        metadata['vnf_service_ip'] = service
    return types.SimpleNamespace(id=sid, name=name, status='ACTIVE', metadata=metadata, compute_host='compute1',
                                 addresses={'lab-vnf-net': [dict(addr=address, version=4)]})


@pytest.fixture
def pair():
    log, started = [], []
    port = free_port()

    def make(service=SERVICE):
        started.extend(EchoGuest(a, port, control=True, log=log) for a in ('127.0.0.31', '127.0.0.32'))
        servers = [server('id-a', 'a', 'active', '127.0.0.31', service),
                   server('id-b', 'b', 'standby', '127.0.0.32', service)]
        args = sample_vnfm.parser().parse_args(['run', '--svc-port', str(port), '--svc-timeout', '1',
                                                '--svc-confirm-timeout', '0'])
        vnfm = sample_vnfm.VNFM(args)
        vnfm.clouds['p1'] = ('escalator-lab-vnf-a', types.SimpleNamespace(compute=FakeCompute(servers, log)))
        return vnfm, servers, started

    make.log = log
    yield make
    for guest in started:
        guest.close()


def kinds(vnfm):
    return [e['kind'] for e in vnfm.events]


def test_the_switchover_moves_the_service_address_new_active_first(pair):
    vnfm, servers, _ = pair()
    vnfm.switch_over('p1', ['id-a'])
    assert pair.log == [('127.0.0.32', 'svc add %s' % SERVICE), ('meta', 'b', 'active'), ('meta', 'a', 'standby'),
                        ('127.0.0.31', 'svc del %s' % SERVICE)]
    assert kinds(vnfm) == ['service_address', 'service_address', 'switchover']
    assert vnfm.events[-1]['service_ip'] == SERVICE and vnfm.events[0]['reply'] == 'ok add %s' % SERVICE
    assert [s.metadata['escalator_role'] for s in servers] == ['standby', 'active']


def test_a_new_active_that_refuses_the_address_keeps_the_old_one_active(pair):
    vnfm, servers, guests = pair()
    guests[1].control_reply = 'err busy'
    vnfm.switch_over('p1', ['id-a'])
    assert pair.log == [('127.0.0.32', 'svc add %s' % SERVICE)]      # no role change, nothing taken from a
    assert kinds(vnfm) == ['service_address_failed'] and 'busy' in vnfm.events[0]['error']
    assert [s.metadata['escalator_role'] for s in servers] == ['active', 'standby']


def test_without_service_address_the_switchover_sends_nothing(pair):
    vnfm, servers, _ = pair(service=None)
    vnfm.switch_over('p1', ['id-a'])
    assert pair.log == [('meta', 'b', 'active'), ('meta', 'a', 'standby')]
    assert kinds(vnfm) == ['switchover'] and 'service_ip' not in vnfm.events[0]


@pytest.mark.parametrize('service_boot, confirmed', [('b-new', True), ('b-old', False)])
def test_the_old_active_keeps_the_address_until_the_new_one_answers_on_it(pair, service_boot, confirmed):
    """Make before break: after svc add the VNFM echoes the service address until the new active's boot id answers
    (here a stand-in echo at the service address), then moves the roles and tells the old one svc del; a service
    address still answered by another guest is waited for up to --svc-confirm-timeout, recorded, and the switchover
    goes on."""
    vnfm, servers, guests = pair()
    echo_port = free_port()
    service = '127.0.0.33'
    for member in servers:
        member.metadata['vnf_service_ip'] = service
    guests.extend([EchoGuest('127.0.0.32', echo_port, boot='b-new'), EchoGuest(service, echo_port, boot=service_boot)])
    vnfm.args.svc_confirm_timeout, vnfm.args.echo_port = 0.6, echo_port
    vnfm.switch_over('p1', ['id-a'])
    assert kinds(vnfm) == ['service_address', 'service_address_confirmed' if confirmed else
                           'service_address_unconfirmed', 'service_address', 'switchover']
    assert pair.log == [('127.0.0.32', 'svc add %s' % service), ('meta', 'b', 'active'), ('meta', 'a', 'standby'),
                        ('127.0.0.31', 'svc del %s' % service)]
