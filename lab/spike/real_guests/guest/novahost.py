"""Inside a scratch host: nova's own libvirt Host class (lab venv) against the host's libvirtd."""
import sys, time
t = time.monotonic()
import libvirt
from nova.virt.libvirt import driver, host
h = host.Host('qemu:///system')
conn = h.get_connection()
print('libvirt', conn.getLibVersion(), 'qemu', conn.getVersion(), 'python-libvirt', libvirt.getVersion())
print('has MIN_LIBVIRT/MIN_QEMU:', h.has_min_version(driver.MIN_LIBVIRT_VERSION, driver.MIN_QEMU_VERSION),
      'NEXT_MIN:', h.has_min_version(driver.NEXT_MIN_LIBVIRT_VERSION, driver.NEXT_MIN_QEMU_VERSION))
caps = h.get_capabilities()
print('host uuid', caps.host.uuid, 'cpu model', caps.host.cpu.model, 'guests', sorted({(g.arch, tuple(g.domains)) for g in caps.guests}))
print('took %.1fs' % (time.monotonic() - t))
