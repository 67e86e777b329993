# SPDX-License-Identifier: Apache-2.0
"""The canary server of the verify role: proof that an upgraded compute host takes a server in.

At verify time the host is still disabled by the campaign (tenants must not land on an unverified host), and Nova
never schedules onto a disabled compute node: since Train its placement pre-filter asks for
``!COMPUTE_STATUS_DISABLED``, for a forced boot (``zone:host``, microversion 2.74 ``host``) too. So the canary

1. boots where the scheduler puts it (any enabled host; the campaign's disabled hosts are excluded by Nova itself),
2. waits until it is ACTIVE,
3. is live-migrated with ``force`` to the host (openstacksdk sends microversion 2.30; ``force`` exists from 2.30 to
   2.67): a forced live migration skips the scheduler and its placement filters, the conductor still checks that
   the destination's nova-compute is up and claims the allocation there,
4. waits until it is ACTIVE on the host (``OS-EXT-SRV-ATTR:host``),
5. is deleted and waited for until gone, whatever happened (error, timeout).

This is what the host's VNFs do next: come back by live migration. A host that is not disabled may get the canary
at boot already; then no migration is needed (``migrated: false``).

Error codes: ``E_CANARY`` the host did not take the canary in (refused, failed, too slow, elsewhere) - a verdict on
the host; ``E_CANARY_BOOT`` the canary could not be started on an enabled host - nothing is known of the host.
"""

from __future__ import annotations

import time

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import error_from_exception, status_code
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_API, E_CANARY, E_CANARY_BOOT, E_INVALID_INPUT, EscalatorError)

# what the live migration's record says when it is over without the server on the host
MIGRATION_OVER = ('error', 'failed', 'cancelled', 'completed', 'done')
DELETE_GRACE = 120                # seconds after the deadline to see the canary gone


def _find(during, finder, name_or_id):
    try:
        found = finder(name_or_id, ignore_missing=True)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during=during) from exc
    if found is None:
        raise EscalatorError('%s: %r not found' % (during, name_or_id), code=E_INVALID_INPUT)
    return found


def _get(conn, server_id):
    try:
        return conn.compute.get_server(server_id)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='waiting for the canary server') from exc


def _fault(server):
    fault = getattr(server, 'fault', None) or {}
    return (fault.get('message') if isinstance(fault, dict) else str(fault)) or 'no fault recorded'


def _last_migration(conn, server_id):
    """The canary's newest live migration record (None when Nova lists none)."""
    try:
        records = [m for m in conn.compute.migrations(server_id=server_id)
                   if getattr(m, 'migration_type', 'live-migration') == 'live-migration']
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='reading the canary\'s migration') from exc
    return max(records, key=lambda m: int(m.id), default=None)


def _hint(host, server_id):
    return ('the host does not take a live-migrated server in: look at nova-compute\'s log on %s and on the source '
            '(journalctl -u nova-compute) and at the migration (openstack server migration list --server %s)'
            % (host, server_id))


def _boot(conn, flavor, image, networks, result, wait):
    """Boot where the scheduler puts it; wait for ACTIVE. Fills result (id, booted_on, status)."""
    deadline, timeout, clock, sleep, delay = wait
    extra = dict(availability_zone=result['zone']) if result['zone'] else {}
    try:
        server = conn.compute.create_server(name=result['name'], flavor_id=flavor.id, image_id=image.id,
                                            networks=networks, **extra)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='booting the canary server') from exc
    result['id'] = server.id
    while True:
        current = _get(conn, server.id)
        result.update(status=current.status, booted_on=current.compute_host)
        if current.status == 'ACTIVE':
            return
        if current.status == 'ERROR':
            raise EscalatorError('the canary server %s could not be started on an enabled host: %s; this says '
                                 'nothing of %s: free room for the flavor %s on the enabled hosts (or choose a '
                                 'smaller one) and look at the scheduler\'s log' % (
                                     server.id, _fault(current), result['host'], flavor.name),
                                 code=E_CANARY_BOOT, host=result['host'])
        if clock() >= deadline:
            raise EscalatorError('the canary server %s is not ACTIVE after %ds (status %s) on the enabled host it '
                                 'was booted on (%s); this says nothing of %s' % (
                                     server.id, timeout, current.status, current.compute_host,
                                     result['host']), code=E_CANARY_BOOT, host=result['host'])
        sleep(delay)


def _move(conn, host, result, wait):
    """Forced live migration onto ``host``; wait until the canary is ACTIVE there."""
    deadline, timeout, clock, sleep, delay = wait
    server_id = result['id']
    try:
        conn.compute.live_migrate_server(server_id, host=host, force=True, block_migration='auto')
    except Exception as exc:  # pylint: disable=broad-except
        if status_code(exc) not in (400, 409):
            raise error_from_exception(exc, during='live-migrating the canary server to %s' % host) from exc
        raise EscalatorError('Nova refused to live-migrate the canary server to %s: %s; %s' % (
            host, getattr(exc, 'details', None) or exc, _hint(host, server_id)), code=E_CANARY, host=host) from exc
    while True:
        current = _get(conn, server_id)
        result.update(status=current.status, on_host=current.compute_host)
        settled = not getattr(current, 'task_state', None)
        if current.status == 'ACTIVE' and settled and current.compute_host == host:
            return
        if current.status == 'ERROR':
            raise EscalatorError('the canary server %s went to ERROR while live-migrating to %s: %s; %s' % (
                server_id, host, _fault(current), _hint(host, server_id)), code=E_CANARY, host=host)
        if settled and current.status == 'ACTIVE':
            record = _last_migration(conn, server_id)
            if record is None or record.status in MIGRATION_OVER:
                raise EscalatorError('the canary server %s is still on %s, its live migration to %s is over '
                                     '(migration %s); %s' % (
                                         server_id, current.compute_host, host,
                                         record.status if record is not None else 'record missing',
                                         _hint(host, server_id)), code=E_CANARY, host=host)
        if clock() >= deadline:
            raise EscalatorError('the canary server %s is not ACTIVE on %s after %ds (status %s on %s); %s' % (
                server_id, host, timeout, current.status, current.compute_host, _hint(host, server_id)),
                code=E_CANARY, host=host)
        sleep(delay)


def _delete_and_wait(conn, server_id, deadline, clock, sleep, delay):
    try:
        conn.compute.delete_server(server_id, ignore_missing=True)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='deleting the canary server %s' % server_id) from exc
    while True:
        try:
            found = conn.compute.find_server(server_id, ignore_missing=True)
        except Exception as exc:  # pylint: disable=broad-except
            raise error_from_exception(exc, during='waiting for the canary server to go') from exc
        if found is None or found.status == 'DELETED':
            return True
        if clock() >= deadline:
            raise EscalatorError('the canary server %s is not deleted after the timeout: delete it by hand '
                                 '(openstack server delete %s)' % (server_id, server_id), code=E_API,
                                 server_id=server_id)
        sleep(delay)


def canary(conn, host, flavor, image, name, network=None, zone=None, timeout=300, delay=2,
           clock=None, sleep=None):
    """Boot a canary anywhere, bring it onto ``host`` by forced live migration, delete it; returns what happened.

    ``timeout`` covers the boot and the migration. The server is always deleted (also after a failure or a
    timeout); a failure carries the result so far in its details (``canary``)."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    host_info.find_compute_service(conn, host)
    flavor_obj = _find('looking up the canary flavor', conn.compute.find_flavor, flavor)
    image_obj = _find('looking up the canary image', conn.image.find_image, image)
    if network in (None, '', 'none', 'auto'):
        networks = network or 'none'
    else:
        networks = [dict(uuid=_find('looking up the canary network', conn.network.find_network, network).id)]
    start = clock()
    deadline = start + timeout
    result = dict(id=None, name=name, host=host, zone=zone, status=None, booted_on=None, on_host=None, migrated=False,
                  deleted=False)
    wait = (deadline, timeout, clock, sleep, delay)
    error = None
    try:
        _boot(conn, flavor_obj, image_obj, networks, result, wait)
        result['active_after'] = round(clock() - start, 1)
        result['on_host'] = result['booted_on']
        if result['booted_on'] != host:
            moved = clock()
            _move(conn, host, result, wait)
            result.update(migrated=True, migration_seconds=round(clock() - moved, 1))
    except EscalatorError as exc:
        error = exc
    finally:
        # whatever happened, the canary does not stay (a bit more time to delete it)
        if result['id'] is not None:
            try:
                result['deleted'] = _delete_and_wait(conn, result['id'], max(deadline, clock()) + DELETE_GRACE,
                                                     clock, sleep, delay)
            except EscalatorError as exc:
                if error is None:
                    raise
                # the first failure is the verdict; the leftover server is named with it
                error = EscalatorError('%s; and %s' % (error.msg, exc.msg), code=error.code, **error.details)
    result['seconds'] = round(clock() - start, 1)
    if error is not None:
        error.details.update(canary=result)
        raise error
    return result
