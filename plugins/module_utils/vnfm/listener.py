# SPDX-License-Identifier: Apache-2.0
"""The short-lived HTTP(S) callback listener that feeds VNFM replies into a ``ReplyBook`` while
``notify()`` waits, bounded whatever clients send (connections, time, body size, records kept)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib import parse as urlparse

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

MAX_REPLY_BODY = 256 * 1024        # the largest reply the listener takes
MAX_CONNECTIONS = 32               # requests served at once; more are answered 503 and closed
REQUEST_DEADLINE = 10.0            # seconds for a whole request (headers, body, answer), whatever the client does
READ_TIMEOUT = 5.0                 # seconds for one read
LISTEN_BACKLOG = 128
ANY_ADDRESSES = ('0.0.0.0', '::', '')


class _Handler(BaseHTTPRequestHandler):
    server_version = 'EscalatorVNFMListener/1'
    protocol_version = 'HTTP/1.1'
    timeout = READ_TIMEOUT      # per read; the whole request is bounded by the server's deadline

    def _refuse(self, status, reason):
        self.server.book.reject(client=self.client_address[0], method=self.command, path=self.path,
                                status=status, reason=reason)
        self._send(status, dict(error=dict(code=status, message=reason)))

    def _serve(self):
        book = self.server.book
        try:
            self.close_connection = True
            if self.headers.get('Transfer-Encoding'):
                self._refuse(411, 'Transfer-Encoding is not supported: send the reply with a Content-Length')
                return
            lengths = self.headers.get_all('Content-Length') or []
            body = b''
            if not lengths:
                if self.command in ('PUT', 'POST'):
                    self._refuse(411, 'a reply needs a Content-Length')
                    return
            else:
                text = lengths[0].strip()
                if len(lengths) > 1 or not text.isdigit() or len(text) > 12:
                    self._refuse(400, 'bad Content-Length')
                    return
                size = int(text)
                if size > MAX_REPLY_BODY:
                    self._refuse(413, 'reply larger than %d bytes' % MAX_REPLY_BODY)
                    return
                body = self.rfile.read(size) if size else b''
                if len(body) < size:
                    self._refuse(400, 'the body is shorter than its Content-Length')
                    return
            status, answer = book.handle(self.command, self.path, dict(self.headers.items()), body,
                                         client=self.client_address[0])
            self._send(status, answer)
        except Exception:  # pylint: disable=broad-except
            # a broken connection (or one cut at the request deadline) must not take the listener down
            self.close_connection = True

    def _send(self, status, answer):
        data = json.dumps(answer).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # modules must not write to stdout/stderr; rejections are kept in the ReplyBook
        return


_BUSY = b'{"error": {"code": 503, "message": "too many connections; retry later"}}'
_OVERLOADED = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n'
               b'Connection: close\r\nContent-Length: %d\r\n\r\n%s' % (len(_BUSY), _BUSY))


class _Server(ThreadingHTTPServer):
    """At most ``max_connections`` requests at once (more are answered 503 and closed at once), each
    cut at ``request_deadline`` seconds whatever the client does; a listen backlog of LISTEN_BACKLOG."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG
    max_connections = MAX_CONNECTIONS
    request_deadline = REQUEST_DEADLINE
    tls = False
    book = None

    def __init__(self, *args, **kwargs):
        self.active = {}
        self.active_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self.active_lock:
            overloaded = len(self.active) >= self.max_connections
            if not overloaded:
                self.active[request] = time.monotonic() + self.request_deadline
        if overloaded:
            self.book.reject(client=client_address[0] if client_address else '', method='', path='', status=503,
                             reason='too many connections (%d)' % self.max_connections)
            if not self.tls:
                try:
                    request.settimeout(0.2)
                    request.sendall(_OVERLOADED)
                except OSError:
                    pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # pylint: disable=broad-except
            with self.active_lock:
                self.active.pop(request, None)
            self.shutdown_request(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active.pop(request, None)

    def service_actions(self):
        # called by serve_forever every poll interval: cut the requests past their deadline
        now = time.monotonic()
        with self.active_lock:
            expired = [request for request, deadline in self.active.items() if deadline <= now]
        for request in expired:
            try:
                socket.socket.shutdown(request, socket.SHUT_RDWR)
            except (OSError, TypeError):
                pass

    def handle_error(self, request, client_address):
        # a failed TLS handshake or a reset connection is logged, never printed or fatal
        self.book.reject(client=client_address[0] if client_address else '', method='', path='', status=0,
                         reason='connection error (TLS handshake or reset)')


class CallbackListener:
    """A threaded HTTP(S) server that feeds replies into a ReplyBook while the module waits.

    Bounded whatever clients send: MAX_CONNECTIONS requests at once, each within REQUEST_DEADLINE
    seconds, bodies up to MAX_REPLY_BODY bytes, a bounded record of refusals (ReplyBook.reject)."""

    def __init__(self, book, address='0.0.0.0', port=0, public_url=None, tls_cert=None, tls_key=None,
                 advertise_for=None):
        self.book = book
        self.address = address
        self.port = port
        self.public_url = public_url
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.advertise_for = advertise_for
        self.server = None
        self.thread = None

    @property
    def tls(self):
        return bool(self.tls_cert)

    def start(self):
        family = socket.AF_INET6 if ':' in self.address else socket.AF_INET
        server_class = type('_BoundServer', (_Server,), dict(
            address_family=family, request_queue_size=LISTEN_BACKLOG, max_connections=MAX_CONNECTIONS,
            request_deadline=REQUEST_DEADLINE, tls=self.tls))
        try:
            self.server = server_class((self.address, self.port), _Handler)
        except (OSError, OverflowError) as exc:
            raise EscalatorError('cannot listen for VNFM replies on %s:%s: %s; choose another listen_address/'
                                 'listen_port' % (self.address, self.port, exc), code=E_INVALID_INPUT,
                                 option='listen_port') from exc
        self.server.book = self.book
        if self.tls_cert:
            try:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(self.tls_cert, self.tls_key)
            except (OSError, ssl.SSLError) as exc:
                self.server.server_close()
                raise EscalatorError('cannot load the listener TLS certificate %s / key %s: %s'
                                     % (self.tls_cert, self.tls_key, exc), code=E_INVALID_INPUT,
                                     option='listen_tls_cert') from exc
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1),
                                       name='escalator-vnfm-listener', daemon=True)
        self.thread.start()
        return self

    @property
    def base_url(self):
        return self.url_for(self.advertise_for)

    def url_for(self, peer_url=None):
        """The listener's URL as a VNFM at ``peer_url`` reaches it: ``public_url`` if given, else the bound
        address, or, when bound to every address, the local address that routes to that VNFM (a name
        from socket.getfqdn() is often one nobody resolves)."""
        if self.public_url:
            return self.public_url.rstrip('/')
        host = self.address
        if host in ANY_ADDRESSES:
            host = route_address(peer_url, ipv6=host == '::')
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s:%d' % ('https' if self.tls else 'http', host, self.port)

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def route_address(peer_url=None, ipv6=False):
    """The local IP address the kernel would use to reach ``peer_url``'s host (no packet is sent)."""
    host = None
    try:
        host = urlparse.urlsplit(peer_url).hostname if peer_url else None
    except ValueError:
        host = None
    targets = [host] if host else []
    targets.append('2001:db8::1' if ipv6 else '192.0.2.1')     # documentation addresses: the default route
    for target in targets:
        try:
            infos = socket.getaddrinfo(target, 9, socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
        except (OSError, UnicodeError):
            continue
        for family, kind, proto, _name, address in infos:
            try:
                with socket.socket(family, kind, proto) as probe:
                    probe.connect(address)
                    return probe.getsockname()[0]
            except OSError:
                continue
    return '::1' if ipv6 else '127.0.0.1'
