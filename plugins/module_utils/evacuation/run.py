# SPDX-License-Identifier: Apache-2.0
"""``evacuate()``: empty one compute host, what ``compute_evacuate`` runs. The options, the read-only
preflight, the cold migrations an interrupted run left to confirm, the engine, and the report."""

from __future__ import annotations

import time

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.engine import Evacuation
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import normalize_options
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.preflight import plan_evacuation
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.report import raise_if_incomplete, summary
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.sdk import get_server
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import sdk_call


def evacuate(conn, host, options=None, clock=time.monotonic, sleep=time.sleep, check_mode=False, warn=None):
    """Empty ``host``. Returns the result dict (see compute_evacuate's RETURN); raises EscalatorError
    whose details hold the same report when anything could not be moved."""
    opts = normalize_options(options)
    started = clock()
    warnings = []

    def _warn(message):
        warnings.append(message)
        if warn:
            warn(message)

    try:
        preflight = plan_evacuation(conn, host, opts=opts, warn=_warn)
    except EscalatorError as exc:
        entries = exc.details.get('instances')
        if entries is not None:
            exc.details.update(summary(entries, host, [entry['id'] for entry in entries], started, clock, False))
            exc.details['warnings'] = warnings
        raise
    entries = preflight['instances']
    leftovers = confirm_leftovers(conn, host, check_mode, _warn)

    if check_mode:
        for entry in entries:
            if entry['result'] is None:
                entry['result'] = 'planned'
        result = summary(entries, host, [entry['id'] for entry in entries], started, clock,
                         any(entry['result'] == 'planned' for entry in entries) or bool(leftovers))
        result.update(confirmed=leftovers, warnings=warnings, **_plan_report(preflight))
        return result

    engine = Evacuation(conn, host, opts, clock, sleep, preflight['plan'])
    engine.run(entries, deadline=started + opts['timeout'])
    remaining_servers = host_info.list_servers(conn, host)
    result = summary(entries, host, [server.id for server in remaining_servers], started, clock,
                     engine.changed or bool(leftovers))
    result.update(confirmed=leftovers, warnings=warnings, **_plan_report(preflight))
    raise_if_incomplete(result, remaining_servers, opts['verify_empty'], engine.no_valid_host, engine.timed_out)
    return result


def _plan_report(preflight):
    """What became of the plan's moves: the instances re-planned and the moves left aside, with why."""
    return dict(replanned=preflight['replanned'], ignored_moves=preflight['ignored_moves'])


def confirm_leftovers(conn, host, check_mode=False, warn=None):
    """Confirm the cold migrations off ``host`` that an earlier, interrupted run left in VERIFY_RESIZE
    (the source keeps their resources, and confirming needs the source's nova-compute).
    A user's own resize (migration_type resize) is only reported."""
    confirmed = []
    records = sdk_call('listing the unconfirmed migrations from %s' % host,
                       lambda: list(conn.compute.migrations(source_compute=host, status='finished')))
    for record in records:
        if record.migration_type == 'resize':
            if warn:
                warn('server %s has an unconfirmed resize from %s (migration %s): its owner must confirm or '
                     'revert it' % (record.server_id, host, record.id))
            continue
        if record.migration_type not in (None, 'migration'):
            continue
        server = get_server(conn, record.server_id)
        if server is None or (server.status or '').upper() != 'VERIFY_RESIZE':
            continue
        if not check_mode:
            sdk_call('confirming the migration of %s' % record.server_id, conn.compute.confirm_server_resize,
                     record.server_id)
        confirmed.append(record.server_id)
    return confirmed
