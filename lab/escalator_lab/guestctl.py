"""The machine's side of the real guests' UDP protocol (issue 17; the guest side is lab/guest/udpecho.c).

- echo, UDP 7: the guest replies `<payload> n=<replies so far> boot=<boot id>`.  The reply may come
  from the guest's primary address even when the request went to a service address, so replies
  are matched by payload (a nonce), never by source.
- control, UDP 9, obeyed only from 10.218.0.1 (the machine's VTEP escvx0, the source the kernel
  picks for the segment): `svc add|del <ip>`, `svc list` -> `ok ...` or `err <reason>`.

Used by the lab's seeding (cloud.py) and the sample VNFM; stdlib only.
    python3 -m escalator_lab.guestctl svc add|del GUEST_IP SVC_IP | svc list GUEST_IP | echo IP
"""
import os
import socket
import sys
import time

from .common import LabError

ECHO_PORT = 7
CONTROL_PORT = 9
RESEND = 0.5          # UDP: ask again every half second until the timeout


class GuestTimeout(LabError):
    """No reply from a guest within the timeout."""


class GuestRefused(LabError):
    """The guest answered `err ...`."""


def _exchange(ip, port, payload, timeout, accept):
    """Send `payload` to ip:port (again every RESEND s) until a reply passes `accept` or the
    timeout ends.  Returns the reply text."""
    deadline = time.monotonic() + timeout
    last = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestTimeout('no reply from %s:%d to %r within %.1fs%s' % (
                    ip, port, payload, timeout, ' (%s)' % last if last else ''))
            try:
                s.sendto(payload.encode(), (ip, port))
            except OSError as e:        # e.g. no route yet: retry until the deadline
                last = e
                time.sleep(min(RESEND, left))
                continue
            wait_until = time.monotonic() + min(RESEND, left)
            while True:
                s.settimeout(max(0.01, wait_until - time.monotonic()))
                try:
                    data = s.recv(2048).decode(errors='replace')
                except socket.timeout:
                    break
                if accept(data):
                    return data
                if time.monotonic() >= wait_until:
                    break


def send_svc(guest_ip, action, svc_ip, timeout=2.0, port=CONTROL_PORT):
    """Tell a guest to take (`add`) or drop (`del`) a service address.  Returns the reply text
    (`ok add <ip>`); raises GuestTimeout without a reply, GuestRefused on `err ...`."""
    if action not in ('add', 'del'):
        raise ValueError('action must be add or del, not %r' % action)
    reply = _exchange(guest_ip, port, 'svc %s %s' % (action, svc_ip), timeout,
                      lambda r: r.startswith(('ok %s %s' % (action, svc_ip), 'err')))
    if reply.startswith('err'):
        raise GuestRefused('%s refused svc %s %s: %s' % (guest_ip, action, svc_ip, reply))
    return reply


def svc_list(guest_ip, timeout=2.0, port=CONTROL_PORT):
    """The service addresses the guest holds (what it added and still has)."""
    reply = _exchange(guest_ip, port, 'svc list', timeout, lambda r: r == 'ok' or r.startswith('ok '))
    return reply.split()[1:]


def echo(ip, timeout=2.0, port=ECHO_PORT, payload=None):
    """One echo round trip: {'reply', 'n', 'boot', 'seconds'}."""
    payload = payload or 'lab-%d-%s' % (os.getpid(), os.urandom(4).hex())
    t0 = time.monotonic()
    reply = _exchange(ip, port, payload, timeout, lambda r: r.startswith(payload + ' '))
    fields = dict(f.split('=', 1) for f in reply[len(payload) + 1:].split() if '=' in f)
    return {'reply': reply, 'n': int(fields.get('n', 0)), 'boot': fields.get('boot'),
            'seconds': time.monotonic() - t0}


def wait_answer(ip, timeout=120.0, port=ECHO_PORT):
    """Wait until `ip` answers an echo (a booting guest); returns echo()'s dict."""
    return echo(ip, timeout=timeout, port=port)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ['echo'] and len(argv) == 2:
            print(echo(argv[1])['reply'])
        elif argv[:2] == ['svc', 'list'] and len(argv) == 3:
            print(' '.join(svc_list(argv[2])))
        elif argv[:1] == ['svc'] and len(argv) == 4:
            print(send_svc(argv[2], argv[1], argv[3]))
        else:
            print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
            return 2
    except (LabError, ValueError) as e:
        print('guestctl: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
