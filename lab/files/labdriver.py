"""Escalator lab virt driver for Nova 34 (installed by `lab up` as <venv>/.../nova/virt/labdriver.py;
Nova loads 'nova.virt.' + compute_driver, so nova.conf says compute_driver = labdriver.LabDriver).

It is nova's own fake.FakeLiveMigrateDriver (live migration takes ~5 s and can be
force-completed or aborted through the API) with three changes that make a containerised
lab host behave like a real single-node hypervisor:

1. A stable node uuid: uuid5(NAMESPACE_DNS, nodename), reported by get_available_resource()
   and get_nodenames_by_uuid().  The lab pre-writes the same uuid to <state_path>/compute_id,
   so ComputeManager._ensure_existing_node_identity() accepts every later start (the stock
   fake driver draws a new uuid per process: "No local node identity found, but this is not
   our first startup" on the first restart).
2. Real, configurable capacity, read from [labdriver] vcpus / memory_mb / disk_gb (the lab
   writes /etc/nova/nova.conf.d/50-lab-capacity.conf on each host).
3. Guests survive nova-compute restarts and host reboots: at init_host the driver re-adopts
   the instances Nova has on this host with the power state Nova last recorded (the stock
   fake driver forgets them, and Nova's power-state sync would later stop them).
"""
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from nova.compute import power_state
from nova import context as nova_context
from nova import objects
from nova.virt import fake

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CONF.register_opts([
    cfg.IntOpt('vcpus', default=16, min=1, help='vCPUs this lab host reports'),
    cfg.IntOpt('memory_mb', default=32768, min=1, help='RAM (MiB) this lab host reports'),
    cfg.IntOpt('disk_gb', default=200, min=1, help='local disk (GiB) this lab host reports'),
], group='labdriver')


def node_uuid(nodename):
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, nodename))


class LabDriver(fake.FakeLiveMigrateDriver):

    def __init__(self, virtapi, read_only=False):
        # FakeDriver.__init__ builds its Resources from these attributes
        self.vcpus = CONF.labdriver.vcpus
        self.memory_mb = CONF.labdriver.memory_mb
        self.local_gb = CONF.labdriver.disk_gb
        super().__init__(virtapi, read_only)

    def init_host(self, host):
        super().init_host(host)
        self._adopt_instances(host)

    def _adopt_instances(self, host):
        ctxt = nova_context.get_admin_context()
        try:
            instances = objects.InstanceList.get_by_host(ctxt, host, expected_attrs=['flavor'])
        except Exception:  # noqa: BLE001 - never block the service start on this
            LOG.exception('lab driver: could not load the instances of host %s', host)
            return
        for inst in instances:
            if inst.uuid in self.instances:
                continue
            state = (power_state.RUNNING if inst.power_state == power_state.RUNNING
                     else power_state.SHUTDOWN)
            self.instances[inst.uuid] = fake.FakeInstance(inst.name, state, inst.uuid)
            flavor = inst.flavor
            self.resources.claim(vcpus=flavor.vcpus, mem=flavor.memory_mb,
                                 disk=flavor.root_gb + flavor.ephemeral_gb)
        if instances:
            LOG.info('lab driver: re-adopted %d instance(s) on %s', len(instances), host)

    def get_available_resource(self, nodename):
        res = super().get_available_resource(nodename)
        if res:
            res['uuid'] = node_uuid(nodename)
        return res

    def get_nodenames_by_uuid(self, refresh=False):
        return {node_uuid(n): n for n in self.get_available_nodes()}
