#!/usr/bin/python3
"""lab-tap-enslaver: runs in every real-guest lab host (escalator lab, docs/lab.md "Real guests").

Nova 34 has no Linux bridge VIFs any more; the lab's Neutron stand-in binds ports with
vif_type `tap`, for which Nova only creates `tap<port id[:11]>` (nova.virt.libvirt.vif.plug_tap)
and leaves it unattached. This daemon puts every tap* link into the guests' bridge `brvnf` and
sets it up the moment it appears (`ip -o monitor link`), and sweeps the existing links at start,
so a guest booted or live-migrated into this host is on its L2 segment before QEMU sends a frame.
Stdlib only (the host's /usr/bin/python3)."""
import subprocess
import sys

BRIDGE = 'brvnf'
PREFIX = 'tap'


def tap_to_enslave(line, bridge=BRIDGE, prefix=PREFIX):
    """The name of the tap link an `ip -o link` / `ip -o monitor link` line describes if it still
    has to join `bridge`, else None (another link, a deletion, already in the bridge)."""
    line = line.strip()
    if not line or line.startswith('Deleted'):
        return None
    parts = line.split()
    if len(parts) < 2 or not parts[0].rstrip(':').isdigit():
        return None
    name = parts[1].rstrip(':').split('@', 1)[0]
    if not name.startswith(prefix):
        return None
    words = line.split()
    if 'master' in words and words.index('master') + 1 < len(words) and \
            words[words.index('master') + 1] == bridge:
        return None
    return name


def enslave(name, bridge=BRIDGE):
    """True if the tap is now in the bridge and up (False: the bridge or the tap is missing)."""
    p = subprocess.run(['ip', 'link', 'set', 'dev', name, 'master', bridge], capture_output=True,
                       text=True)
    if p.returncode != 0:
        print('lab-tap-enslaver: %s -> %s: %s' % (name, bridge, p.stderr.strip()), flush=True)
        return False
    subprocess.run(['ip', 'link', 'set', 'dev', name, 'up'], capture_output=True)
    print('lab-tap-enslaver: %s -> %s' % (name, bridge), flush=True)
    return True


def main():
    # start the monitor first, then sweep: a tap created in between is seen by one or the other
    mon = subprocess.Popen(['ip', '-o', 'monitor', 'link'], stdout=subprocess.PIPE, text=True,
                           bufsize=1)
    out = subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = tap_to_enslave(line)
        if name:
            enslave(name)
    for line in mon.stdout:
        name = tap_to_enslave(line)
        if name:
            enslave(name)
    return mon.wait() or 1      # the monitor never ends by itself: systemd restarts us


if __name__ == '__main__':
    sys.exit(main())
