"""The real guests' L2 segment (issue 17): 10.218.0.0/24 on VXLAN VNI 17 across the lab hosts.

In each host's network namespace (the machine's, so it survives host reboots; made with `ip -n`
like the host's eth0): a Linux bridge `brvnf` (mtu 1450) with the VXLAN uplink `vx17` over eth0.
Nova's taps join `brvnf` (a unit inside each real-guest host does that).  The machine joins with its
own VTEP `escvx0` on the lab bridge, address 10.218.0.1/24: the prober, the sample VNFM and the
seeding reach the guests from there.  Flooding is head-end replication: one all-zero FDB entry per
remote VTEP; guest MACs are learnt from traffic (QEMU's announcement after a live migration
re-teaches every VTEP).  No multicast, no controller.

`ensure(indexes)` makes the segment match exactly these hosts (idempotent, only what differs);
`remove_all()` takes it down everywhere (the hosts' netns stay).
"""
import os
import subprocess

from .common import BRIDGE, CTRL_IP, LabError, host_ip, ledger_add, ledger_remove, netns, run

VNI = 17
DSTPORT = 4789
MTU = 1450                      # 1500 on the lab bridge minus the VXLAN overhead (50)
SEGMENT_PREFIX = '10.218.0'
MACHINE_IP = SEGMENT_PREFIX + '.1'
MACHINE_VTEP = 'escvx0'
HOST_BRIDGE = 'brvnf'
HOST_VTEP = 'vx17'
ZERO_MAC = '00:00:00:00:00:00'


# --- command lines (pure) ---------------------------------------------------------------------
def _ip(ns):
    return ['ip'] + (['-n', ns] if ns else [])


def _bridge(ns):
    return ['bridge'] + (['-n', ns] if ns else [])


def vtep_add(ns, dev, local, underlay):
    return _ip(ns) + ['link', 'add', dev, 'type', 'vxlan', 'id', str(VNI), 'local', local,
                      'dev', underlay, 'dstport', str(DSTPORT)]


def host_create(i):
    """brvnf + vx17 in host i's netns, from nothing (FDB entries come from fdb_sync)."""
    ns = netns(i)
    return [_ip(ns) + ['link', 'add', HOST_BRIDGE, 'mtu', str(MTU), 'type', 'bridge'],
            vtep_add(ns, HOST_VTEP, host_ip(i), 'eth0'),
            _ip(ns) + ['link', 'set', HOST_VTEP, 'master', HOST_BRIDGE, 'mtu', str(MTU), 'up'],
            _ip(ns) + ['link', 'set', HOST_BRIDGE, 'up']]


def machine_create():
    return [vtep_add(None, MACHINE_VTEP, CTRL_IP, BRIDGE),
            _ip(None) + ['addr', 'replace', MACHINE_IP + '/24', 'dev', MACHINE_VTEP],
            _ip(None) + ['link', 'set', MACHINE_VTEP, 'mtu', str(MTU), 'up']]


def parse_flood(fdb_text):
    """Remote VTEPs of the all-zero (flood) entries in `bridge fdb show dev X` output."""
    out = set()
    for line in fdb_text.splitlines():
        parts = line.split()
        if parts and parts[0] == ZERO_MAC and 'dst' in parts:
            out.add(parts[parts.index('dst') + 1])
    return out


def fdb_sync(ns, dev, want, have):
    """Commands that make the flood list of `dev` exactly `want`."""
    cmds = [_bridge(ns) + ['fdb', 'append', ZERO_MAC, 'dev', dev, 'dst', ip]
            for ip in sorted(set(want) - set(have))]
    cmds += [_bridge(ns) + ['fdb', 'del', ZERO_MAC, 'dev', dev, 'dst', ip]
             for ip in sorted(set(have) - set(want))]
    return cmds


def peers(i, indexes):
    """The VTEPs host i floods to: the machine and every other host."""
    return [CTRL_IP] + [host_ip(j) for j in sorted(indexes) if j != i]


# --- state ---------------------------------------------------------------------------------------
def _exists(ns, dev):
    return subprocess.run(_ip(ns) + ['link', 'show', dev], capture_output=True).returncode == 0


def _flood(ns, dev):
    return parse_flood(run(_bridge(ns) + ['fdb', 'show', 'dev', dev], capture=True))


def _run_all(cmds):
    for cmd in cmds:
        run(cmd)


def ensure_host(i, indexes):
    ns = netns(i)
    if not os.path.exists('/run/netns/' + ns):
        raise LabError('vnet: host %d has no network namespace %s' % (i, ns))
    if not _exists(ns, HOST_BRIDGE) or not _exists(ns, HOST_VTEP):
        for dev in (HOST_VTEP, HOST_BRIDGE):
            if _exists(ns, dev):
                run(_ip(ns) + ['link', 'del', dev])
        _run_all(host_create(i))
    _run_all(fdb_sync(ns, HOST_VTEP, peers(i, indexes), _flood(ns, HOST_VTEP)))
    run(_ip(ns) + ['link', 'set', HOST_BRIDGE, 'up'])


def ensure_machine(indexes):
    if not _exists(None, MACHINE_VTEP):
        _run_all(machine_create())
        ledger_add('links', MACHINE_VTEP)       # `lab down` removes it with the lab's links
    else:
        run(_ip(None) + ['addr', 'replace', MACHINE_IP + '/24', 'dev', MACHINE_VTEP])
        run(_ip(None) + ['link', 'set', MACHINE_VTEP, 'up'])
    _run_all(fdb_sync(None, MACHINE_VTEP, [host_ip(j) for j in indexes],
                      _flood(None, MACHINE_VTEP)))


def ensure(indexes):
    """The segment across the machine and exactly these hosts (their netns must exist)."""
    indexes = sorted(indexes)
    ensure_machine(indexes)
    for i in indexes:
        ensure_host(i, indexes)


def _lab_netns():
    out = run(['ip', 'netns', 'list'], capture=True)
    return [line.split()[0] for line in out.splitlines()
            if line.split() and line.split()[0].startswith('esclab-')]


def remove_all():
    """The segment gone everywhere: escvx0 on the machine, brvnf and vx17 in every lab netns."""
    if _exists(None, MACHINE_VTEP):
        run(_ip(None) + ['link', 'del', MACHINE_VTEP])
    ledger_remove('links', MACHINE_VTEP)
    for ns in _lab_netns():
        for dev in (HOST_VTEP, HOST_BRIDGE):
            if _exists(ns, dev):
                run(_ip(ns) + ['link', 'del', dev])


def status():
    """{'machine': bool, 'hosts': {netns: bool}}: is the segment there (for `lab status`)."""
    return {'machine': _exists(None, MACHINE_VTEP),
            'hosts': {ns: _exists(ns, HOST_BRIDGE) and _exists(ns, HOST_VTEP)
                      for ns in _lab_netns()}}
