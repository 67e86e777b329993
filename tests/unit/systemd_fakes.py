# SPDX-License-Identifier: Apache-2.0
"""What ``systemctl show`` prints for the units the compute-host tests ask about (host_facts.services reads it)."""

from __future__ import annotations

NOVA_COMPUTE_RUNNING = '''Id=nova-compute.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=412
ExecMainStartTimestamp=@1795324000
'''

LIBVIRTD_NOT_FOUND = '''Id=libvirtd.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
MainPID=0
ExecMainStartTimestamp=
'''

OVN_CONTROLLER_FAILED = '''Id=ovn-controller.service
LoadState=loaded
ActiveState=failed
SubState=failed
UnitFileState=enabled
MainPID=0
ExecMainStartTimestamp=@1795320000
'''


def show(*units):
    """The output of one ``systemctl show`` for these units: their blocks, a blank line between two."""
    return '\n'.join(units)
