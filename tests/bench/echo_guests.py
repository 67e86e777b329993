# SPDX-License-Identifier: Apache-2.0
"""Fake real guests on 127.0.0.x for the packet probe's and the sample VNFM's unit tests: the guest protocol of
lab/guest/udpecho.c (echo: ``<payload> n=<count> boot=<id>``; control: ``svc add|del <ip>`` -> ``ok ...``),
with knobs to drop replies for a while, to restart (new boot id) and to answer as another guest."""
import socket
import threading


def free_port(address='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class EchoGuest:
    """A UDP echo on (address, port) answering like the lab guest, in its own thread (tests only)."""

    def __init__(self, address, port, boot='b0000001', control=False, log=None):
        self.address = address
        self.boot = boot
        self.dropping = False
        self.count = 0
        self.control = control
        self.log = log if log is not None else []    # control requests seen: (address, text)
        self.control_reply = 'ok'
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.05)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if self.control:
                text = data.decode()
                self.log.append((self.address, text))
                reply = self.control_reply if self.control_reply != 'ok' else 'ok ' + ' '.join(text.split()[1:])
                if reply is not None:
                    self.sock.sendto(reply.encode(), peer)
                continue
            if self.dropping:
                continue
            self.count += 1
            self.sock.sendto(data + b' n=%d boot=%s' % (self.count, self.boot.encode()), peer)

    def restart(self, boot):
        self.count = 0
        self.boot = boot

    def close(self):
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()
