# SPDX-License-Identifier: Apache-2.0
"""An in-memory Nova + Placement behind openstacksdk's own resource classes.

Unit tests hand a ``FakeCloud`` to the logic in module_utils where a real
``openstack.connection.Connection`` would go.  It returns real SDK resource
objects (``Server``, ``Service``, ``Migration`` ...), so attribute names are the
SDK's, and raises the SDK's exceptions with Nova's messages.

Time is simulated: ``cloud.clock()`` and ``cloud.sleep(seconds)`` replace
``time.monotonic`` / ``time.sleep`` in the code under test; migrations progress
as fake time passes, like Nova's do as real time passes:

* live migration: server MIGRATING, migration queued -> preparing -> running;
  the server's host flips to the destination *before* the migration record says
  ``completed`` (as in real Nova), then the server is ACTIVE again.
* cold migration: RESIZE -> VERIFY_RESIZE on the destination (migration
  ``finished``); ``confirm_server_resize`` -> previous status, ``confirmed``.

Per-server faults (``cloud.faults[server_id] = ...``):
  ``'error'``      the migration ends in ``error``, the server stays on its host
  ``'stuck'``      the migration stays ``running`` until force-completed or aborted
  ``'no_move'``    the migration says ``completed`` but the server never left (a Nova bug seen in the field)
  ``'reject'``     the API refuses the request with 409
  ``'server_error'`` the migration ends in ``error`` and the server in ERROR (with a fault)
  ``'precheck'``   live migration refused at once with 400 (pre-check error for a named host,
                   "Exceeded maximum number of retries" through the scheduler), as Nova does for
                   e.g. incompatible CPUs or no shared storage with ``block_migration: false``

Nova's semantics kept here: live migration (microversion 2.30, what openstacksdk uses)
schedules synchronously: ``400 No valid host`` with a migration record left in
``error``; a cold migration is scheduled asynchronously: the API accepts it, the
migration record goes to ``error``, the server keeps its status and the reason is
only in its instance actions (``server_actions``/``get_server_action``). Migrating
from a host whose nova-compute is down is refused with 400. ``cloud.call_at(t, fn)``
runs ``fn(cloud)`` once fake time reaches ``t`` (e.g. a VNFM moving its own instance).
A forced live migration (``force=True`` with a host) skips the scheduler: a disabled host is a
destination; the conductor's checks stay (``force_destination``).

Host aggregates: ``cloud.add_aggregate(...)``, and ``create_aggregate`` (409 on a duplicate name, as
Nova), ``get_aggregate``, ``set_aggregate_metadata`` (None deletes a key), ``delete_aggregate`` (400 while
it has hosts).

Cloud-wide knobs:
  ``cloud.forbidden``           calls answered with 403 (e.g. ``{'disable_service', 'servers'}``)
  ``cloud.duplicate_services``  {host: n}: n nova-compute services share that host name (cells)
  ``cloud.placement_fault``     ``'unreachable'`` (no connection) or ``'error'`` (503) for every Placement call
  ``cloud.hypervisor_stats``    True: hypervisors carry vcpus/memory_mb/local_gb(_used), as Nova < 2.88 does
"""

from __future__ import annotations

import datetime
import itertools
import uuid

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.compute.v2 import aggregate as _aggregate
from openstack.compute.v2 import hypervisor as _hypervisor
from openstack.compute.v2 import migration as _migration
from openstack.compute.v2 import server as _server
from openstack.compute.v2 import server_action as _server_action
from openstack.compute.v2 import server_group as _server_group
from openstack.compute.v2 import server_migration as _server_migration
from openstack.compute.v2 import service as _service
from openstack.identity.v3 import project as _project
from openstack.placement.v1 import resource_provider as _resource_provider

LIVE_STEPS = (('queued', 1.0), ('preparing', 1.0), ('running', 3.0), ('flipped', 1.0))
COLD_STEPS = (('migrating', 2.0), ('post-migrating', 1.0))


def http_error(status, message, method='POST', url='http://nova.fake/v2.1/servers'):
    """An SDK exception like the ones a real HTTP error raises."""
    cls = {400: sdk_exceptions.BadRequestException, 403: sdk_exceptions.ForbiddenException,
           404: sdk_exceptions.NotFoundException, 409: sdk_exceptions.ConflictException,
           }.get(status, sdk_exceptions.HttpException)
    exc = cls(message=message)
    exc.status_code = status
    exc.details = message
    exc.method = method
    exc.url = url
    exc.request_id = 'req-' + uuid.uuid4().hex[:8]
    exc.source = 'Client' if 400 <= status < 500 else 'Server'
    return exc


def _id(obj):
    return obj if isinstance(obj, str) else obj.id


class FakeHost:
    def __init__(self, name, zone, vcpus, memory_mb, disk_gb):
        self.name = name
        self.zone = zone
        self.service_id = str(uuid.uuid4())
        self.hypervisor_id = str(uuid.uuid4())
        self.provider_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        self.state = 'up'
        self.status = 'enabled'
        self.disabled_reason = None
        self.forced_down = False
        self.capacity = dict(VCPU=vcpus, MEMORY_MB=memory_mb, DISK_GB=disk_gb)
        self.allocation_ratio = dict(VCPU=1.0, MEMORY_MB=1.0, DISK_GB=1.0)
        self.reserved = dict(VCPU=0, MEMORY_MB=0, DISK_GB=0)
        self.cell = 'cell1'


class FakeServer:
    def __init__(self, name, host, project_id, flavor, status):
        self.id = str(uuid.uuid4())
        self.name = name
        self.host = host
        self.project_id = project_id
        self.flavor = dict(flavor)
        self.status = status
        self.task_state = None
        self.groups = []
        self.metadata = {}
        self.resize_from = None
        self.status_before_resize = None
        self.status_before_migration = None
        self.fault = None
        self.actions = []
        self.image = None    # '' for a server booted from volume, as Nova answers


class FakeMigration:
    _ids = itertools.count(1)

    def __init__(self, server, kind, source, dest):
        self.id = next(self._ids)
        self.server = server
        self.kind = kind
        self.source = source
        self.dest = dest
        self.status = 'queued' if kind == 'live-migration' else 'migrating'
        self.step = 0
        self.elapsed = 0.0
        self.created_at = None


class FakeCompute:
    """The part of openstacksdk's compute proxy that Escalator uses."""

    def __init__(self, cloud):
        self.cloud = cloud

    # -- services -------------------------------------------------------
    def _service(self, host):
        cloud = self.cloud
        return _service.Service.existing(
            id=host.service_id, binary='nova-compute', host=host.name, availability_zone=host.zone,
            status=host.status, state=host.state, disabled_reason=host.disabled_reason,
            is_forced_down=host.forced_down, updated_at=cloud.timestamp())

    def services(self, **query):
        self.cloud.calls.append(('services', query))
        self.cloud.check_forbidden('services')
        result = []
        for host in self.cloud.hosts.values():
            for _copy in range(self.cloud.duplicate_services.get(host.name, 1)):
                if query.get('host') not in (None, host.name):
                    continue
                if query.get('binary') not in (None, 'nova-compute'):
                    continue
                result.append(self._service(host))
        return iter(result)

    def _host_by_service(self, service, host=None):
        for candidate in self.cloud.hosts.values():
            if candidate.service_id == _id(service) or (service is None and candidate.name == host):
                return candidate
        raise http_error(404, 'Service %s not found.' % _id(service), 'PUT', 'http://nova.fake/v2.1/os-services')

    @staticmethod
    def _sdk_update(service, status, disabled_reason):
        """What openstacksdk (microversion >= 2.53) does with a Service *object*: it sets the new
        values on that object and sends only those that differ from it; without ``status`` in the
        body, Nova answers 400. (Passing the service's id sends both.)"""
        if not isinstance(service, _service.Service):
            return
        if service.status == status:
            raise http_error(400, "No updates were requested. Fields 'status' or 'forced_down' should be "
                             "specified.", 'PUT', 'http://nova.fake/v2.1/os-services/%s' % service.id)
        service.status = status
        service.disabled_reason = disabled_reason

    def disable_service(self, service, host=None, binary=None, disabled_reason=None):
        self.cloud.calls.append(('disable_service', _id(service) if service else host, disabled_reason))
        self.cloud.check_forbidden('disable_service')
        self._sdk_update(service, 'disabled', disabled_reason)
        if disabled_reason is not None and not 1 <= len(disabled_reason) <= 255:
            raise http_error(400, "Invalid input for field/attribute disabled_reason. Value: %s. "
                             "is too long" % disabled_reason, 'PUT', 'http://nova.fake/v2.1/os-services')
        target = self._host_by_service(service, host)
        target.status = 'disabled'
        target.disabled_reason = disabled_reason
        return self._service(target)

    def enable_service(self, service, host=None, binary=None):
        self.cloud.calls.append(('enable_service', _id(service) if service else host))
        self.cloud.check_forbidden('enable_service')
        self._sdk_update(service, 'enabled', None)
        target = self._host_by_service(service, host)
        target.status = 'enabled'
        target.disabled_reason = None
        return self._service(target)

    # -- hypervisors ----------------------------------------------------
    def hypervisors(self, details=False, **query):
        self.cloud.calls.append(('hypervisors', query))
        pattern = query.get('hypervisor_hostname_pattern')
        result = []
        for host in self.cloud.hosts.values():
            if pattern and pattern not in host.name:
                continue
            stats = {}
            if self.cloud.hypervisor_stats:
                used = self.cloud.usage(host.name)
                stats = dict(vcpus=host.capacity['VCPU'], memory_mb=host.capacity['MEMORY_MB'],
                             local_gb=host.capacity['DISK_GB'], vcpus_used=used['VCPU'],
                             memory_mb_used=used['MEMORY_MB'], local_gb_used=used['DISK_GB'])
            result.append(_hypervisor.Hypervisor.existing(
                id=host.hypervisor_id, name=host.name, state=host.state, status=host.status,
                hypervisor_type='fake', service_details=dict(host=host.name, id=host.service_id), **stats))
        return iter(result)

    # -- aggregates -----------------------------------------------------
    def _aggregate(self, aggregate):
        metadata = dict(availability_zone=aggregate['zone']) if aggregate['zone'] else {}
        metadata.update(aggregate.get('metadata') or {})
        return _aggregate.Aggregate.existing(
            id=aggregate['id'], name=aggregate['name'], hosts=list(aggregate['hosts']),
            availability_zone=aggregate['zone'], metadata=metadata)

    def _find_aggregate(self, aggregate, method='GET'):
        wanted = aggregate if isinstance(aggregate, (int, str)) else aggregate.id
        for record in self.cloud.aggregates:
            if str(record['id']) == str(wanted):
                return record
        raise http_error(404, 'Aggregate %s could not be found.' % wanted, method,
                         'http://nova.fake/v2.1/os-aggregates/%s' % wanted)

    def aggregates(self, **query):
        self.cloud.calls.append(('aggregates', query))
        self.cloud.check_forbidden('aggregates')
        return iter([self._aggregate(aggregate) for aggregate in self.cloud.aggregates])

    def get_aggregate(self, aggregate):
        self.cloud.calls.append(('get_aggregate', aggregate if isinstance(aggregate, (int, str)) else aggregate.id))
        self.cloud.check_forbidden('get_aggregate')
        return self._aggregate(self._find_aggregate(aggregate))

    def create_aggregate(self, name=None, availability_zone=None, **attrs):
        """Nova enforces unique aggregate names: a second one is refused with 409."""
        self.cloud.calls.append(('create_aggregate', name))
        self.cloud.check_forbidden('create_aggregate')
        if not name or len(name) > 255:
            raise http_error(400, "Invalid input for field/attribute name. Value: %s." % name, 'POST',
                             'http://nova.fake/v2.1/os-aggregates')
        if any(record['name'] == name for record in self.cloud.aggregates):
            raise http_error(409, 'Aggregate %s already exists.' % name, 'POST', 'http://nova.fake/v2.1/os-aggregates')
        return self._aggregate(self.cloud.add_aggregate(name, [], zone=availability_zone))

    def set_aggregate_metadata(self, aggregate, metadata=None, **kwargs):
        """Add or update keys (a value of None deletes the key); values are strings of at most 255 characters."""
        record = self._find_aggregate(aggregate, 'POST')
        self.cloud.calls.append(('set_aggregate_metadata', record['id'], dict(metadata or kwargs)))
        self.cloud.check_forbidden('set_aggregate_metadata')
        for key, value in dict(metadata or kwargs).items():
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise http_error(400, "Invalid input for field/attribute %s. Value: %r." % (key, value), 'POST',
                                 'http://nova.fake/v2.1/os-aggregates/%s/action' % record['id'])
        for key, value in dict(metadata or kwargs).items():
            if value is None:
                record['metadata'].pop(key, None)
            else:
                record['metadata'][key] = value
        return self._aggregate(record)

    def delete_aggregate(self, aggregate, ignore_missing=True):
        """Nova refuses to delete an aggregate that still has hosts (400)."""
        self.cloud.calls.append(('delete_aggregate', aggregate if isinstance(aggregate, (int, str)) else aggregate.id))
        self.cloud.check_forbidden('delete_aggregate')
        try:
            record = self._find_aggregate(aggregate, 'DELETE')
        except sdk_exceptions.NotFoundException:
            if ignore_missing:
                return None
            raise
        if record['hosts']:
            raise http_error(400, "Cannot perform action 'delete' on aggregate %s. Reason: Host aggregate is not "
                             "empty." % record['id'], 'DELETE', 'http://nova.fake/v2.1/os-aggregates/%s' % record['id'])
        self.cloud.aggregates.remove(record)
        return None

    # -- servers --------------------------------------------------------
    def _server(self, server):
        return _server.Server.existing(
            id=server.id, name=server.name, status=server.status, compute_host=server.host,
            hypervisor_hostname=server.host, project_id=server.project_id, flavor=dict(server.flavor),
            task_state=server.task_state, server_groups=list(server.groups), metadata=dict(server.metadata),
            **({'fault': dict(server.fault)} if server.fault else {}),
            **({'image': server.image} if server.image is not None else {}),
            vm_state={'ACTIVE': 'active', 'SHUTOFF': 'stopped', 'PAUSED': 'paused', 'SUSPENDED': 'suspended',
                      'ERROR': 'error'}.get(server.status, server.status.lower()))

    def servers(self, details=True, **query):
        self.cloud.calls.append(('servers', query))
        self.cloud.check_forbidden('servers')
        if 'host' in query:
            # openstacksdk maps `host` to a query nova ignores for all_projects listings: nothing matches.
            return iter([])
        result = []
        for server in self.cloud.servers.values():
            if query.get('compute_host') not in (None, server.host):
                continue
            if query.get('project_id') not in (None, server.project_id):
                continue
            if not query.get('all_projects') and server.project_id != self.cloud.project_id:
                continue
            result.append(self._server(server))
        return iter(result)

    def get_server(self, server):
        self.cloud.advance(0)
        try:
            return self._server(self.cloud.servers[_id(server)])
        except KeyError:
            raise http_error(404, 'Instance %s could not be found.' % _id(server), 'GET') from None

    def find_server(self, name_or_id, ignore_missing=True, **query):
        for server in self.cloud.servers.values():
            if name_or_id in (server.id, server.name):
                return self._server(server)
        if ignore_missing:
            return None
        raise http_error(404, 'No Server found for %s' % name_or_id, 'GET')

    def server_actions(self, server):
        record = self.cloud.servers[_id(server)]
        return iter([_server_action.ServerAction.existing(
            id=action['request_id'], request_id=action['request_id'], action=action['action'],
            message=action['message'], start_time=action['start_time'], server_id=record.id)
            for action in record.actions])

    def get_server_action(self, server_action, server):
        record = self.cloud.servers[_id(server)]
        for action in record.actions:
            if action['request_id'] == _id(server_action):
                return _server_action.ServerAction.existing(
                    id=action['request_id'], request_id=action['request_id'], action=action['action'],
                    message=action['message'], start_time=action['start_time'], server_id=record.id,
                    events=[dict(event) for event in action['events']])
        raise http_error(404, 'Action %s could not be found.' % _id(server_action), 'GET')

    def server_groups(self, **query):
        self.cloud.calls.append(('server_groups', query))
        return iter([_server_group.ServerGroup.existing(
            id=group['id'], name=group['name'], policy=group['policy'], member_ids=list(group['members']),
            project_id=group['project_id'], rules={}) for group in self.cloud.groups.values()])

    # -- migrations -----------------------------------------------------
    def live_migrate_server(self, server, host=None, force=False, block_migration=None, disk_over_commit=None):
        record = self.cloud.servers[_id(server)]
        self.cloud.calls.append(('live_migrate_server', record.id, host, block_migration))
        self.cloud.check_forbidden('live_migrate_server')
        if self.cloud.faults.get(record.id) == 'reject' or record.status not in ('ACTIVE', 'PAUSED') \
                or record.task_state:
            raise http_error(409, "Cannot 'os-migrateLive' instance %s while it is in vm_state %s"
                             % (record.id, record.status.lower()), 'POST',
                             'http://nova.fake/v2.1/servers/%s/action' % record.id)
        self.cloud.check_source_up(record)
        if self.cloud.faults.get(record.id) == 'precheck':
            raise http_error(400, 'Migration pre-check error: Unacceptable CPU info: CPU doesn\'t have compatibility.'
                             if host else 'Exceeded maximum number of retries. Exhausted all hosts available for '
                             'retrying build failures for instance %s.' % record.id, 'POST',
                             'http://nova.fake/v2.1/servers/%s/action' % record.id)
        dest = self.cloud.force_destination(record, host) if force and host else self.cloud.schedule(record, host)
        migration = FakeMigration(record, 'live-migration', record.host, dest)
        self.cloud.migrations.append(migration)
        record.status_before_migration = record.status
        record.status = 'MIGRATING'
        record.task_state = 'migrating'

    def migrate_server(self, server, host=None):
        record = self.cloud.servers[_id(server)]
        self.cloud.calls.append(('migrate_server', record.id, host))
        self.cloud.check_forbidden('migrate_server')
        if self.cloud.faults.get(record.id) == 'reject' or record.status not in ('ACTIVE', 'SHUTOFF') \
                or record.task_state:
            raise http_error(409, "Cannot 'migrate' instance %s while it is in vm_state %s"
                             % (record.id, record.status.lower()), 'POST',
                             'http://nova.fake/v2.1/servers/%s/action' % record.id)
        if host and host not in self.cloud.hosts:
            raise http_error(400, 'Compute host %s could not be found.' % host)
        if host == record.host:
            raise http_error(400, 'The target host can\'t be the same one.')
        self.cloud.check_source_up(record)
        try:
            dest = self.cloud.schedule(record, host, record_failure=False)
        except sdk_exceptions.BadRequestException as exc:
            # Nova casts cold migrations to the conductor: the API says 202, the failure shows in the
            # migration record and the instance actions; the server keeps its status.
            failed = FakeMigration(record, 'migration', record.host, None)
            failed.status = 'error'
            self.cloud.migrations.append(failed)
            record.actions.append(dict(action='migrate', request_id='req-' + uuid.uuid4().hex[:8],
                                       message='Error', start_time=self.cloud.timestamp(),
                                       events=[dict(event='conductor_migrate_server', result='Error',
                                                    traceback='Traceback (most recent call last):\n  ...\n'
                                                    'nova.exception.NoValidHost: %s' % exc.details)]))
            return
        migration = FakeMigration(record, 'migration', record.host, dest)
        self.cloud.migrations.append(migration)
        record.status_before_resize = record.status
        record.status = 'RESIZE'
        record.task_state = 'resize_migrating'

    def confirm_server_resize(self, server):
        record = self.cloud.servers[_id(server)]
        self.cloud.calls.append(('confirm_server_resize', record.id))
        if record.status != 'VERIFY_RESIZE':
            raise http_error(409, "Cannot 'confirmResize' instance %s while it is in vm_state %s"
                             % (record.id, record.status.lower()))
        record.status = record.status_before_resize
        record.task_state = None
        for migration in self.cloud.migrations:
            if migration.server is record and migration.status == 'finished':
                migration.status = 'confirmed'

    def _migration(self, migration):
        return _migration.Migration.existing(
            id=migration.id, server_id=migration.server.id, status=migration.status,
            source_compute=migration.source, dest_compute=migration.dest,
            migration_type=migration.kind, created_at=migration.created_at, updated_at=None)

    def migrations(self, **query):
        self.cloud.calls.append(('migrations', query))
        self.cloud.advance(0)
        result = []
        for migration in self.cloud.migrations:
            if query.get('instance_uuid', query.get('server_id')) not in (None, migration.server.id):
                continue
            if query.get('source_compute') not in (None, migration.source):
                continue
            if query.get('migration_type') not in (None, migration.kind):
                continue
            if query.get('status') not in (None, migration.status):
                continue
            result.append(self._migration(migration))
        return iter(result)

    def server_migrations(self, server):
        return iter([_server_migration.ServerMigration.existing(
            id=migration.id, server_id=migration.server.id, status=migration.status,
            source_compute=migration.source, dest_compute=migration.dest)
            for migration in self.cloud.migrations
            if migration.server.id == _id(server) and migration.kind == 'live-migration'
            and migration.status in ('queued', 'preparing', 'running')])

    def _in_progress(self, server_migration, server):
        for migration in self.cloud.migrations:
            if migration.id == int(_id(server_migration) if not isinstance(server_migration, int)
                                   else server_migration) and migration.status in ('queued', 'preparing', 'running'):
                return migration
        raise http_error(400, 'Migration %s is not in progress.' % _id(server_migration))

    def force_complete_server_migration(self, server_migration, server=None):
        migration = self._in_progress(server_migration, server)
        self.cloud.calls.append(('force_complete', migration.id))
        migration.forced = True
        if self.cloud.faults.get(migration.server.id) == 'stuck':
            self.cloud.faults.pop(migration.server.id)

    def abort_server_migration(self, server_migration, server, ignore_missing=True):
        migration = self._in_progress(server_migration, server)
        self.cloud.calls.append(('abort', migration.id))
        migration.status = 'cancelled'
        migration.server.status = migration.server.status_before_migration or 'ACTIVE'
        migration.server.task_state = None


class FakePlacement:
    def __init__(self, cloud):
        self.cloud = cloud

    def _check(self, call):
        fault = self.cloud.placement_fault
        if fault == 'unreachable':
            raise ksa_exceptions.ConnectFailure('Unable to establish connection to http://placement.fake/')
        if fault == 'error':
            raise http_error(503, 'Service Unavailable', 'GET', 'http://placement.fake/%s' % call)
        self.cloud.check_forbidden(call)

    def _provider(self, host):
        return _resource_provider.ResourceProvider.existing(id=host.provider_id, name=host.name)

    def resource_providers(self, **query):
        self._check('resource_providers')
        return iter([self._provider(host) for host in self.cloud.hosts.values()
                     if query.get('name') in (None, host.name)])

    def resource_provider_inventories(self, resource_provider):
        self._check('resource_provider_inventories')
        host = next(h for h in self.cloud.hosts.values() if h.provider_id == _id(resource_provider))
        from openstack.placement.v1 import resource_provider_inventory as _inventory
        return iter([_inventory.ResourceProviderInventory.existing(
            resource_provider_id=host.provider_id, resource_class=rc, total=total, reserved=host.reserved[rc],
            allocation_ratio=host.allocation_ratio[rc], min_unit=1, max_unit=total, step_size=1)
            for rc, total in host.capacity.items()])

    def fetch_resource_provider_usages(self, resource_provider):
        self._check('fetch_resource_provider_usages')
        host = next(h for h in self.cloud.hosts.values() if h.provider_id == _id(resource_provider))
        provider = self._provider(host)
        provider.usages = self.cloud.usage(host.name)
        return provider


class FakeIdentity:
    """The part of openstacksdk's identity proxy that Escalator uses (projects by name or id)."""

    def __init__(self, cloud):
        self.cloud = cloud

    def find_project(self, name_or_id, ignore_missing=True, **query):
        self.cloud.calls.append(('find_project', name_or_id))
        self.cloud.check_forbidden('find_project')
        for project_id, name in self.cloud.projects.items():
            if name_or_id in (project_id, name):
                return _project.Project.existing(id=project_id, name=name, domain_id='default')
        if ignore_missing:
            return None
        raise http_error(404, 'Could not find project: %s.' % name_or_id, 'GET',
                         'http://keystone.fake/v3/projects')


class FakeCloud:
    """A whole fake cloud: ``cloud.compute``, ``cloud.placement``, a clock and fault knobs."""

    def __init__(self, project_id='admin-project'):
        self.hosts = {}
        self.servers = {}
        self.groups = {}
        self.migrations = []
        self.faults = {}
        self.forbidden = set()
        self.duplicate_services = {}
        self.aggregates = []
        self.placement_fault = None
        self.hypervisor_stats = False
        self.timers = []
        self.calls = []
        self.now = 0.0
        self.project_id = project_id
        self.compute = FakeCompute(self)
        self.placement = FakePlacement(self)
        self.projects = {}           # id -> name, for cloud.identity.find_project
        self.identity = FakeIdentity(self)

    # -- the connection API -------------------------------------------------
    @property
    def current_project_id(self):
        return self.project_id

    def authorize(self):
        return 'fake-token'

    def check_forbidden(self, call):
        if call in self.forbidden:
            raise http_error(403, "Policy doesn't allow os_compute_api:%s to be performed." % call)

    # -- building a cloud ---------------------------------------------------
    def add_host(self, name, zone='nova', vcpus=16, memory_mb=32768, disk_gb=200, state='up',
                 status='enabled', disabled_reason=None):
        host = FakeHost(name, zone, vcpus, memory_mb, disk_gb)
        host.state = state
        host.status = status
        host.disabled_reason = disabled_reason
        self.hosts[name] = host
        return host

    def add_server(self, name, host, project_id='p-tenant', vcpus=1, ram=512, disk=1, status='ACTIVE',
                   flavor_name='m1.tiny', group=None, metadata=None, ephemeral=None, swap=None,
                   boot_from_volume=False):
        flavor = dict(vcpus=vcpus, ram=ram, disk=disk, original_name=flavor_name)
        flavor.update({key: value for key, value in (('ephemeral', ephemeral), ('swap', swap)) if value is not None})
        server = FakeServer(name, host, project_id, flavor, status)
        server.metadata = dict(metadata or {})
        if boot_from_volume:
            server.image = ''

        self.servers[server.id] = server
        if group:
            self.groups[group]['members'].append(server.id)
            server.groups.append(group)
        return server

    def add_aggregate(self, name, hosts, zone=None, metadata=None):
        """A host aggregate (an availability zone when ``zone`` is given: its hosts' services report it).

        Ids count up from 1 and are never reused, as Nova's; returns the record.
        """
        self._aggregate_seq = getattr(self, '_aggregate_seq', 0) + 1
        record = dict(id=self._aggregate_seq, name=name, hosts=list(hosts), zone=zone, metadata=dict(metadata or {}))
        self.aggregates.append(record)
        if zone:
            for host in hosts:
                self.hosts[host].zone = zone
        return record

    def add_project(self, name, project_id=None):
        """Register a Keystone project (found by cloud.identity.find_project); returns its id."""
        project_id = project_id or uuid.uuid4().hex
        self.projects[project_id] = name
        return project_id

    def add_group(self, name, policy='anti-affinity', project_id='p-tenant'):
        group_id = str(uuid.uuid4())
        self.groups[group_id] = dict(id=group_id, name=name, policy=policy, members=[], project_id=project_id)
        return group_id

    # -- simulated scheduler --------------------------------------------------
    @staticmethod
    def disk_gb(server):
        """DISK_GB as Nova allocates it: root (unless volume-backed) + ephemeral + swap rounded up to GiB."""
        root = 0 if server.image == '' else server.flavor['disk']
        return root + server.flavor.get('ephemeral', 0) + (server.flavor.get('swap', 0) + 1023) // 1024

    def usage(self, host_name):
        used = dict(VCPU=0, MEMORY_MB=0, DISK_GB=0)
        for server in self.servers.values():
            holds = {server.host}
            for migration in self.migrations:
                if migration.server is server and migration.status not in (
                        'completed', 'confirmed', 'error', 'cancelled', 'failed'):
                    holds.add(migration.dest)
            if host_name in holds:
                used['VCPU'] += server.flavor['vcpus']
                used['MEMORY_MB'] += server.flavor['ram']
                used['DISK_GB'] += self.disk_gb(server)
        return used

    def _fits(self, server, host):
        used = self.usage(host.name)
        need = dict(VCPU=server.flavor['vcpus'], MEMORY_MB=server.flavor['ram'], DISK_GB=self.disk_gb(server))
        return all(used[rc] + need[rc] <= host.capacity[rc] * host.allocation_ratio[rc] for rc in need)

    def _violates_group(self, server, host):
        for group_id in server.groups:
            group = self.groups[group_id]
            others = {self.servers[m].host for m in group['members'] if m != server.id and m in self.servers}
            if group['policy'] == 'anti-affinity' and host.name in others:
                return True
            if group['policy'] == 'affinity' and others and host.name not in others:
                return True
        return False

    def check_source_up(self, server):
        host = self.hosts.get(server.host)
        if host is not None and host.state != 'up':
            raise http_error(400, 'Compute service of %s is unavailable at this time.' % host.name, 'POST',
                             'http://nova.fake/v2.1/servers/%s/action' % server.id)

    def call_at(self, when, callback):
        """Run ``callback(cloud)`` once fake time reaches ``when`` (seconds)."""
        self.timers.append((when, callback))

    def move_server(self, server_id, host):
        """Put a server on another host at once (what a VNFM's own action ends with)."""
        self.servers[server_id].host = host

    def delete_server(self, server_id):
        server = self.servers.pop(server_id)
        for group in self.groups.values():
            if server_id in group['members']:
                group['members'].remove(server_id)

    def schedule(self, server, requested=None, record_failure=True):
        candidates = [self.hosts[requested]] if requested else list(self.hosts.values())
        if requested and requested not in self.hosts:
            raise http_error(400, 'Compute host %s could not be found.' % requested)
        for host in candidates:
            if host.name == server.host:
                if requested:
                    raise http_error(400, 'The target host can\'t be the same one.')
                continue
            if host.state != 'up' or host.status != 'enabled':
                continue
            if self._fits(server, host) and not self._violates_group(server, host):
                return host.name
        if record_failure:
            failed = FakeMigration(server, 'live-migration', server.host, None)
            failed.status = 'error'
            self.migrations.append(failed)
        raise http_error(400, 'No valid host was found. There are not enough hosts available.', 'POST',
                         'http://nova.fake/v2.1/servers/%s/action' % server.id)

    def force_destination(self, server, name):
        """A forced live migration (``force=True``, microversions 2.30 to 2.67): no scheduler, no placement pre-filter,
        so a disabled host is a destination; the conductor still wants the host, another one, its nova-compute up and
        room for the allocation it claims there directly."""
        self.calls.append(('live_migrate_forced', server.id, name))
        url = 'http://nova.fake/v2.1/servers/%s/action' % server.id
        host = self.hosts.get(name)
        if host is None or host.name == server.host:
            raise http_error(400, 'Compute host %s could not be found.' % name if host is None
                             else 'The target host can\'t be the same one.', 'POST', url)
        if host.state != 'up':
            raise http_error(400, 'Compute service of %s is unavailable at this time.' % name, 'POST', url)
        if not self._fits(server, host):
            raise http_error(400, 'Migration pre-check error: Unable to migrate %s to %s: not enough resources.'
                             % (server.id, name), 'POST', url)
        return name

    # -- simulated time -------------------------------------------------------
    def clock(self):
        return self.now

    def timestamp(self):
        return (datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=self.now)).isoformat()

    def sleep(self, seconds):
        self.advance(seconds)

    def advance(self, seconds):
        self.now += seconds
        due = [timer for timer in self.timers if timer[0] <= self.now]
        self.timers = [timer for timer in self.timers if timer[0] > self.now]
        for _when, callback in sorted(due, key=lambda timer: timer[0]):
            callback(self)
        for migration in self.migrations:
            if migration.created_at is None:
                migration.created_at = self.timestamp()
            if migration.status in ('completed', 'confirmed', 'finished', 'error', 'cancelled'):
                continue
            migration.elapsed += seconds
            self._progress(migration)

    def _progress(self, migration):
        server = migration.server
        fault = self.faults.get(server.id)
        steps = LIVE_STEPS if migration.kind == 'live-migration' else COLD_STEPS
        while migration.step < len(steps) and migration.elapsed >= steps[migration.step][1]:
            if fault == 'stuck' and steps[migration.step][0] == 'running' and not getattr(migration, 'forced', False):
                migration.status = 'running'
                migration.elapsed = 0.0
                return
            migration.elapsed -= steps[migration.step][1]
            migration.step += 1
            if migration.step < len(steps):
                migration.status = steps[migration.step][0] if steps[migration.step][0] != 'flipped' else 'running'
                if steps[migration.step][0] == 'flipped' and fault not in ('error', 'no_move', 'server_error'):
                    server.host = migration.dest
        if migration.step >= len(steps):
            if fault in ('error', 'server_error'):
                migration.status = 'error'
                server.status = self._status_after_failure(server)
                server.task_state = None
                if fault == 'server_error':
                    server.status = 'ERROR'
                    server.fault = dict(code=500, message='Unexpected error while migrating: libvirtError')
            elif migration.kind == 'live-migration':
                migration.status = 'completed'
                if fault != 'no_move':
                    server.host = migration.dest
                server.status = server.status_before_migration or 'ACTIVE'
                server.task_state = None
            else:
                migration.status = 'finished'
                server.host = migration.dest
                server.status = 'VERIFY_RESIZE'
                server.task_state = None

    @staticmethod
    def _status_after_failure(server):
        if server.status == 'RESIZE':
            return server.status_before_resize or 'ACTIVE'
        return server.status_before_migration or 'ACTIVE'
