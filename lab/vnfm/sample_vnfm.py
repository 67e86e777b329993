#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A sample VNF manager that speaks the Fenix / OPNFV Doctor maintenance protocol.

It is an example for operators (read it top to bottom: it is what a VNFM needs to do
to cooperate with Escalator's `vnfm_notify`) and the lab's VNFM for the tests.

It owns active/standby pairs. A VNF is the set of servers of one project that carry
the metadata ``vnf: <name>``; each has ``escalator_role: active`` or ``standby``
(the lab seeds `vnf-a` and `vnf-b`, one project each, in hard anti-affinity groups).

On a notification (HTTP POST /maintenance, oslo envelope or AODH event alarm):

* ``PREPARE_MAINTENANCE`` / ``PLANNED_MAINTENANCE``: for each announced instance
  that is a VNF's active, it first switches the role to a healthy standby that is
  not announced (sets ``escalator_role`` on the standby to ``active`` and then on
  the old active to ``standby``, with the project's own credentials) and records
  when; then it PUTs ``ACK_<STATE>`` with an action per instance (default
  LIVE_MIGRATE, ``--action``) to ``reply_url``.
  With real guests (the members carry server metadata ``vnf_service_ip``), the switchover also moves the
  VNF's service address: ``svc add <ip>`` to the new active first (it announces itself with gratuitous
  ARPs), a wait until the address answers from the new active (make before break, ``--svc-confirm-timeout``),
  then the roles, then ``svc del <ip>`` to the old one, over the guests' control port (UDP 9). When
  the new active does not confirm, the roles stay as they are (the active is then live-migrated).
* ``MAINTENANCE_COMPLETE`` (project) or ``maintenance.host`` ``MAINTENANCE_COMPLETE``
  (admin): records that the host is back and, for the project one, ACKs.

For the tests it can misbehave (``--mode`` or POST /control):
  ack (default) | nack | late (reply after --delay s) | never | garbage (invalid JSON)
and ``--no-switchover``. GET /status returns its configuration, the VNFs and an
event log (notifications, switchovers, replies, hosts back) with wall-clock times.

Usage (stdlib + openstacksdk only)::

  sample_vnfm.py start --port 9310 --clouds /var/lib/escalator-lab/clouds.yaml
  sample_vnfm.py status --port 9310
  sample_vnfm.py stop --pid-file /var/lib/escalator-lab/run/sample-vnfm-9310.pid
  sample_vnfm.py run ...              # in the foreground

`vnfm_notify` is pointed at it with one entry per project::

  vnfm:
    - {project: vnf-a, url: "http://127.0.0.1:9310/maintenance"}
    - {project: vnf-b, url: "http://127.0.0.1:9310/maintenance", delivery: aodh}
"""

import argparse
import ast
import datetime
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger('sample-vnfm')
DEFAULT_STATE_DIR = '/var/lib/escalator-lab'
LAB_SRC = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
MODES = ('ack', 'nack', 'late', 'never', 'garbage')
ACTIONS = ('LIVE_MIGRATE', 'MIGRATE', 'OWN_ACTION')


def now_iso(epoch=None):
    return datetime.datetime.fromtimestamp(epoch or time.time(), datetime.timezone.utc).isoformat(
        timespec='milliseconds')


# -- the guests' control port (real guests only) ------------------------------------------------

def send_svc(guest_ip, op, svc_ip, timeout, port):
    """`svc add|del <ip>` to a guest's control port: the lab's guestctl (UDP, resent until answered; raises
    when the guest does not confirm). Imported only here: a VNFM of fake guests never needs it."""
    if LAB_SRC not in sys.path:
        sys.path.append(LAB_SRC)
    from escalator_lab import guestctl
    return guestctl.send_svc(guest_ip, op, svc_ip, timeout=timeout, port=port)


def guest_echo(address, timeout, port):
    """One echo round trip to a real guest's address (guestctl.echo: {'reply', 'n', 'boot', 'seconds'})."""
    if LAB_SRC not in sys.path:
        sys.path.append(LAB_SRC)
    from escalator_lab import guestctl
    return guestctl.echo(address, timeout=timeout, port=port)


def guest_ip(server):
    """The server's first IPv4 address (Nova's addresses field)."""
    for _net, entries in sorted((server.addresses or {}).items()):
        for entry in entries or ():
            if entry.get('version', 4) == 4 and entry.get('addr'):
                return entry['addr']
    return None


# -- the notification, whatever the delivery shape --------------------------------------

def decode(body):
    """(event_type, payload) from an oslo envelope or an AODH event alarm body."""
    if 'reason_data' in body:                       # AODH event alarm: payload fields are traits
        event = body['reason_data']['event']
        payload = {}
        for name, kind, value in event['traits']:
            if kind == 1 and isinstance(value, str) and value[:1] in ('[', '{'):
                value = ast.literal_eval(value)     # lists/dicts are sent as their Python text
            payload[name] = value
        return event['event_type'], payload
    if 'payload' in body:                           # oslo.messaging envelope
        return body['event_type'], body['payload']
    return 'maintenance.scheduled', body            # a bare payload


class VNFM:
    def __init__(self, args):
        self.args = args
        self.config = dict(mode=args.mode, delay=args.delay, action=args.action, switchover=not args.no_switchover,
                           refuse_complete=args.refuse_complete)
        self.events = []
        self.lock = threading.Lock()
        self.switch_lock = threading.Lock()
        self.clouds = {}            # project id -> (cloud name, connection)

    # -- state -----------------------------------------------------------------
    def record(self, kind, **fields):
        event = dict(kind=kind, at=now_iso(), t=time.time(), **fields)
        with self.lock:
            self.events.append(event)
        LOG.info('%s %s', kind, json.dumps(fields, sort_keys=True))
        return event

    def connect_projects(self):
        """One connection per VNF project, with that project's own credentials."""
        import openstack   # only the part that talks to OpenStack needs the SDK
        os.environ['OS_CLIENT_CONFIG_FILE'] = self.args.clouds
        for project in self.args.projects.split(','):
            cloud = self.args.cloud_prefix + project
            conn = openstack.connect(cloud=cloud)
            conn.authorize()
            self.clouds[conn.current_project_id] = (cloud, conn)
            LOG.info('project %s (%s) via cloud %s', project, conn.current_project_id, cloud)

    def vnfs(self, conn):
        """{vnf name: [server, ...]} of one project."""
        result = {}
        for server in conn.compute.servers(details=True):
            name = (server.metadata or {}).get('vnf')
            if name:
                result.setdefault(name, []).append(server)
        return result

    def status(self):
        vnfs = {}
        for _pid, (cloud, conn) in sorted(self.clouds.items()):
            try:
                for name, servers in self.vnfs(conn).items():
                    vnfs[name] = [dict(id=s.id, name=s.name, status=s.status, role=s.metadata.get('escalator_role'),
                                       host=getattr(s, 'compute_host', None)) for s in servers]
            except Exception as exc:  # noqa: BLE001 - status must answer even when the cloud does not
                vnfs[cloud] = 'error: %s' % exc
        with self.lock:
            return dict(config=dict(self.config), vnfs=vnfs, events=list(self.events))

    # -- the protocol ------------------------------------------------------------
    def instance_ids(self, payload):
        ids = payload.get('instance_ids') or []
        if isinstance(ids, str):                    # a URL on Escalator's listener (Fenix style)
            with urllib.request.urlopen(ids, timeout=10) as response:
                ids = json.loads(response.read())['instance_ids']
        return list(ids)

    def handle(self, event_type, payload):
        state = payload.get('state')
        self.record('notification', event_type=event_type, state=state, session_id=payload.get('session_id'),
                    project_id=payload.get('project_id'), host=payload.get('host') or
                    (payload.get('metadata') or {}).get('escalator_host'),
                    instance_ids=payload.get('instance_ids') if isinstance(payload.get('instance_ids'), list)
                    else 'url')
        if event_type == 'maintenance.host':
            if state == 'MAINTENANCE_COMPLETE':
                self.record('host_back', host=payload.get('host'), session_id=payload.get('session_id'))
            return
        if state in ('PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE'):
            self.planned(payload)
        elif state == 'MAINTENANCE_COMPLETE':
            host = (payload.get('metadata') or {}).get('escalator_host')
            self.record('host_back', host=host, session_id=payload.get('session_id'),
                        project_id=payload.get('project_id'))
            if payload.get('reply_url'):        # none when Escalator does not wait for the acknowledgement
                self.reply(payload, dict(session_id=payload['session_id'], state='ACK_MAINTENANCE_COMPLETE'))
        else:
            self.record('ignored', state=state)

    def planned(self, payload):
        mode, action = self.config['mode'], self.config['action']
        if mode == 'never':
            self.record('not_replying', session_id=payload['session_id'], project_id=payload['project_id'])
            return
        state = payload['state']
        if mode == 'nack':
            self.reply(payload, dict(session_id=payload['session_id'], state='NACK_%s' % state))
            return
        if mode == 'garbage':
            self.reply(payload, None, raw=b'{"session_id": "%s", "state": ACK' % payload['session_id'].encode())
            return
        ids = self.instance_ids(payload)
        if self.config['switchover']:
            self.switch_over(payload['project_id'], ids)
        allowed = payload.get('allowed_actions') or list(ACTIONS)
        if action not in allowed:
            action = 'LIVE_MIGRATE' if 'LIVE_MIGRATE' in allowed else allowed[0]
        if mode == 'late':
            self.record('delaying_reply', seconds=self.config['delay'])
            time.sleep(self.config['delay'])
        reply = dict(session_id=payload['session_id'], state='ACK_%s' % state)
        if payload['reply_url'].rstrip('/').rsplit('/', 1)[-1].split('?')[0] in ids:
            reply['instance_action'] = action       # a per-instance reply URL: the single form
        else:
            reply['instance_actions'] = {instance: action for instance in ids}
        self.reply(payload, reply)

    def switch_over(self, project_id, announced):
        """Make sure no VNF's active instance is among the announced ones."""
        if project_id not in self.clouds:
            self.record('unknown_project', project_id=project_id)
            return
        _cloud, conn = self.clouds[project_id]
        with self.switch_lock:
            for name, servers in self.vnfs(conn).items():
                for active in [s for s in servers if s.metadata.get('escalator_role') == 'active'
                               and s.id in announced]:
                    standbys = [s for s in servers if s.metadata.get('escalator_role') == 'standby'
                                and s.id not in announced and s.status == 'ACTIVE']
                    if not standbys:
                        self.record('no_standby', vnf=name, active=active.id)
                        continue
                    new = standbys[0]
                    started = time.time()
                    service_ip = active.metadata.get('vnf_service_ip')
                    if service_ip and not self.move_service(name, service_ip, new, 'add'):
                        continue                    # the old active keeps the address and the role
                    if service_ip:
                        # make before break: the old active keeps the address until the new one answers on it (its
                        # gratuitous ARP reached the network); measured on the lab, dropping it at once after the add
                        # cost the VNF up to a second when the new guest was slow to announce itself
                        self.confirm_service(name, service_ip, new)
                    # the standby takes over first: there is always an active
                    conn.compute.set_server_metadata(new, escalator_role='active')
                    conn.compute.set_server_metadata(active, escalator_role='standby')
                    if service_ip:
                        self.move_service(name, service_ip, active, 'del')
                    self.record('switchover', vnf=name, project_id=project_id, old_active=active.id,
                                new_active=new.id, started=started, seconds=round(time.time() - started, 3),
                                **({'service_ip': service_ip} if service_ip else {}))

    def confirm_service(self, vnf, service_ip, server):
        """Wait (up to --svc-confirm-timeout) until the service address answers with the new active's boot id;
        recorded either way, never fatal: the switchover goes on after the timeout."""
        timeout = self.args.svc_confirm_timeout
        if timeout <= 0:
            return True
        started = time.monotonic()
        deadline = started + timeout
        try:
            boot = guest_echo(guest_ip(server), min(2.0, timeout), self.args.echo_port)['boot']
            while time.monotonic() < deadline:
                try:
                    answer = guest_echo(service_ip, max(0.05, min(0.3, deadline - time.monotonic())),
                                        self.args.echo_port)
                except Exception:  # noqa: BLE001 - no answer yet: ask again until the deadline
                    continue
                if answer['boot'] == boot:
                    self.record('service_address_confirmed', vnf=vnf, server=server.id, service_ip=service_ip,
                                seconds=round(time.monotonic() - started, 3))
                    return True
                time.sleep(0.02)
        except Exception as exc:  # noqa: BLE001 - the new active's own address did not answer
            self.record('service_address_unconfirmed', vnf=vnf, server=server.id, service_ip=service_ip,
                        error=str(exc)[:300] or type(exc).__name__)
            return False
        self.record('service_address_unconfirmed', vnf=vnf, server=server.id, service_ip=service_ip,
                    error='still answered by another guest after %.1fs' % timeout)
        return False

    def move_service(self, vnf, service_ip, server, op):
        """Tell a member's guest to add or drop the service address; True when it confirmed."""
        address = guest_ip(server)
        try:
            if not address:
                raise OSError('%s has no IPv4 address' % server.name)
            reply = send_svc(address, op, service_ip, self.args.svc_timeout, self.args.svc_port)
        except Exception as exc:  # noqa: BLE001 - a guest that does not answer is recorded, never fatal
            self.record('service_address_failed', vnf=vnf, server=server.id, guest_ip=address, op=op,
                        service_ip=service_ip, error=str(exc)[:300] or type(exc).__name__)
            return False
        self.record('service_address', vnf=vnf, server=server.id, guest_ip=address, op=op, service_ip=service_ip,
                    reply=str(reply)[:200])
        return True

    def reply(self, payload, reply, raw=None):
        url = payload['reply_url']
        data = raw if raw is not None else json.dumps(reply).encode()
        status, answer = None, None
        for attempt in range(3):                   # like Tacker: retry until the VIM says 200
            request = urllib.request.Request(url, data=data, method='PUT',
                                             headers={'Content-Type': 'application/json'})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, answer = response.status, response.read().decode()
                break
            except urllib.error.HTTPError as exc:
                status, answer = exc.code, exc.read().decode()
                break
            except OSError as exc:
                status, answer = None, str(exc)
                time.sleep(1 + attempt)
        self.record('reply', session_id=payload.get('session_id'), project_id=payload.get('project_id'),
                    state=(reply or {}).get('state', 'garbage'), body=(reply if raw is None else data.decode()),
                    status=status, answer=answer[:300] if answer else answer)


# -- HTTP ----------------------------------------------------------------------------------------

def make_handler(vnfm):
    class Handler(BaseHTTPRequestHandler):
        server_version = 'SampleVNFM/1'

        def log_message(self, fmt, *args):
            LOG.debug('%s %s', self.client_address[0], fmt % args)

        def _json(self, status, data):
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self):
            length = int(self.headers.get('Content-Length') or 0)
            return json.loads(self.rfile.read(length) or b'{}')

        def do_GET(self):
            if self.path.startswith('/status'):
                self._json(200, vnfm.status())
            else:
                self._json(404, dict(error='GET /status'))

        def do_POST(self):
            try:
                body = self._body()
            except ValueError as exc:
                self._json(400, dict(error='invalid JSON: %s' % exc))
                return
            if self.path.startswith('/control'):
                unknown = set(body) - set(vnfm.config)
                if unknown or body.get('mode', 'ack') not in MODES or body.get('action', 'OWN_ACTION') not in ACTIONS:
                    self._json(400, dict(error='control keys: mode %s, delay, action %s, switchover, refuse_complete'
                                         % (MODES, ACTIONS)))
                    return
                with vnfm.lock:
                    vnfm.config.update(body)
                vnfm.record('control', **body)
                self._json(200, vnfm.config)
            elif self.path.startswith('/maintenance'):
                try:
                    event_type, payload = decode(body)
                except (KeyError, TypeError, ValueError, SyntaxError) as exc:
                    self._json(400, dict(error='not a maintenance notification: %s' % exc))
                    return
                if vnfm.config['refuse_complete'] and payload.get('state') == 'MAINTENANCE_COMPLETE':
                    # a VNFM that stopped answering once the host was back (tests: never a host failure)
                    vnfm.record('refused_complete', session_id=payload.get('session_id'),
                                project_id=payload.get('project_id'))
                    self._json(503, dict(error='refusing MAINTENANCE_COMPLETE (--refuse-complete)'))
                    return
                # answer the notification at once; the work and the reply happen after (as Tacker does)
                threading.Thread(target=self._work, args=(event_type, payload), daemon=True).start()
                self._json(200, dict(result='OK'))
            else:
                self._json(404, dict(error='POST /maintenance or /control'))

        @staticmethod
        def _work(event_type, payload):
            try:
                vnfm.handle(event_type, payload)
            except Exception as exc:  # noqa: BLE001 - a VNFM must keep running
                LOG.exception('handling %s', event_type)
                vnfm.record('error', error=str(exc))

    return Handler


# -- process control --------------------------------------------------------------------------

def pid_file(args):
    return args.pid_file or os.path.join(args.state_dir, 'run', 'sample-vnfm-%d.pid' % args.port)


def running_pid(path):
    try:
        with open(path) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def serve(args):
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(message)s',
                        filename=args.log or None)
    vnfm = VNFM(args)
    vnfm.connect_projects()
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(vnfm))
    server.daemon_threads = True
    path = pid_file(args)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write('%d\n' % os.getpid())

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info('listening on http://%s:%d (mode %s, action %s)', args.bind, args.port, args.mode, args.action)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if running_pid(path) == os.getpid():
            os.unlink(path)
    return 0


def start(args):
    path = pid_file(args)
    if running_pid(path):
        print('sample VNFM already running (pid %d, %s)' % (running_pid(path), path))
        return 0
    args.log = args.log or os.path.join(args.state_dir, 'logs', 'sample-vnfm-%d.log' % args.port)
    os.makedirs(os.path.dirname(args.log), exist_ok=True)
    child = os.fork()
    if child == 0:                               # detach: new session, no terminal, output to the log
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            os._exit(serve(args))
        except BaseException:  # noqa: BLE001
            logging.exception('sample VNFM failed')
            os._exit(1)
    os.waitpid(child, 0)
    url = 'http://%s:%d/status' % ('127.0.0.1' if args.bind in ('0.0.0.0', '') else args.bind, args.port)
    deadline = time.time() + args.start_timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                print('sample VNFM running: pid %s, %s, log %s' % (running_pid(path), url.rsplit('/', 1)[0],
                                                                    args.log))
                return 0
        except OSError:
            time.sleep(0.2)
    print('sample VNFM did not start; see %s' % args.log, file=sys.stderr)
    return 1


def stop_cmd(args):
    path = pid_file(args)
    pid = running_pid(path)
    if not pid:
        print('sample VNFM not running (%s)' % path)
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if running_pid(path) != pid:
            try:
                os.kill(pid, 0)
            except OSError:
                print('sample VNFM stopped (pid %d)' % pid)
                return 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    print('sample VNFM killed (pid %d)' % pid)
    return 0


def status_cmd(args):
    url = 'http://%s:%d/status' % ('127.0.0.1' if args.bind in ('0.0.0.0', '') else args.bind, args.port)
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(json.dumps(json.loads(response.read()), indent=2))
            return 0
    except OSError as exc:
        print('sample VNFM not answering at %s: %s' % (url, exc), file=sys.stderr)
        return 1


def parser():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('command', nargs='?', default='run', choices=['run', 'start', 'stop', 'status'])
    p.add_argument('--port', type=int, default=9310)
    p.add_argument('--bind', default='127.0.0.1', help='address to listen on (default 127.0.0.1)')
    p.add_argument('--clouds', default=os.path.join(DEFAULT_STATE_DIR, 'clouds.yaml'), help='clouds.yaml')
    p.add_argument('--cloud-prefix', default='escalator-lab-', help='per-project cloud = prefix + project')
    p.add_argument('--projects', default='vnf-a,vnf-b', help='the VNF projects (comma separated)')
    p.add_argument('--mode', default='ack', choices=MODES)
    p.add_argument('--delay', type=float, default=30.0, help='seconds before replying in mode late')
    p.add_argument('--action', default='LIVE_MIGRATE', choices=ACTIONS, help='the action replied per instance')
    p.add_argument('--no-switchover', action='store_true', help='do not switch the active role over')
    p.add_argument('--svc-port', type=int, default=9,
                   help='real guests\' control port (UDP) that moves a VNF\'s service address (default 9)')
    p.add_argument('--svc-timeout', type=float, default=2.0,
                   help='seconds a guest has to confirm svc add/del (default 2)')
    p.add_argument('--svc-confirm-timeout', type=float, default=5.0,
                   help='seconds to wait, after svc add, until the service address answers from the new active, '
                        'before the old one drops it (make before break; 0: do not wait; default 5)')
    p.add_argument('--echo-port', type=int, default=7, help="real guests' UDP echo port (default 7)")
    p.add_argument('--refuse-complete', action='store_true',
                   help='answer every MAINTENANCE_COMPLETE notification with HTTP 503 (a VNFM gone once the host is back)')
    p.add_argument('--state-dir', default=DEFAULT_STATE_DIR)
    p.add_argument('--pid-file')
    p.add_argument('--log')
    p.add_argument('--start-timeout', type=float, default=60.0)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    return dict(run=serve, start=start, stop=stop_cmd, status=status_cmd)[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
