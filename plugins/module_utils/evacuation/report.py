# SPDX-License-Identifier: Apache-2.0
"""The evacuation report: one entry per instance (what moved how, where, how long, every attempt, and for a
live migration what it gets when it does not converge and what was sent to Nova), the summary the module returns,
and the error that carries it when the host was not emptied."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_HOST_NOT_EMPTY, E_MIGRATION_FAILED, E_MIGRATION_TIMEOUT, E_NO_VALID_HOST, EscalatorError,
)


def report_entry(instance, source):
    return dict(id=instance['id'], name=instance['name'], project_id=instance['project_id'], **{'from': source},
                to=None, method=None, status_before=instance['status'], status_after=instance['status'],
                result=None, seconds=0.0, migration_id=None, error=None, candidates=[], attempts=[],
                plan=None, plan_note=None, slow_migration=None)


def slow_report(policy):
    """An instance's ``slow_migration`` (live migrations only): the policy for a migration that does not converge
    and its timeout, each with where it came from (``server`` metadata or the module ``option``), what was ``sent``
    to Nova ({action: force_complete|abort, at: UTC time, after: seconds into the migration, why, migration_id}),
    and ``live_seconds``, how long its (last) live migration ran."""
    return dict(policy, sent=[], live_seconds=None)


def summary(entries, host, remaining, started, clock, changed):
    for entry in entries:
        entry.pop('error_code', None)
    return dict(changed=changed, host=host, instances=entries,
                moved=[entry['id'] for entry in entries if entry['result'] == 'moved'],
                failed_instances=[entry['id'] for entry in entries if entry['result'] in ('failed', 'timeout')],
                remaining=remaining, duration=round(clock() - started, 1))


def _error_code(entries, no_valid_host, timed_out):
    if no_valid_host:
        return E_NO_VALID_HOST
    if any(entry.get('error_code') == E_MIGRATION_FAILED or entry['result'] == 'failed' for entry in entries):
        return E_MIGRATION_FAILED
    if timed_out or any(entry['result'] == 'timeout' for entry in entries):
        return E_MIGRATION_TIMEOUT
    return E_HOST_NOT_EMPTY


def raise_if_incomplete(result, remaining_servers, verify_empty, no_valid_host, timed_out):
    """The summary ``result`` as the details of an EscalatorError when an instance was not moved, the
    scheduler found no host, or (``verify_empty``) an instance nobody exempted is still on the host."""
    entries, host, remaining = result['instances'], result['host'], result['remaining']
    exempt = {entry['id'] for entry in entries if entry['result'] in ('left_alone', 'skipped')}
    unexpected = [server for server in remaining_servers if server.id not in exempt]
    failed = [entry for entry in entries if entry['result'] in ('failed', 'timeout', 'not_started')]
    if not (failed or no_valid_host or (verify_empty and unexpected)):
        return
    code = _error_code(entries, no_valid_host, timed_out) if failed or no_valid_host else E_HOST_NOT_EMPTY
    parts = ['%s (%s): %s: %s' % (entry['name'], entry['id'], entry['result'], entry['error']) for entry in failed]
    strangers = [server for server in unexpected if server.id not in {entry['id'] for entry in entries}]
    if strangers:
        parts.append('instance(s) that arrived during the evacuation: %s' % ', '.join(
            '%s (%s)' % (server.name, server.id) for server in strangers))
    msg = ('evacuation of %s incomplete: %d moved, %d not; %d instance(s) still on it%s. %s'
           % (host, len(result['moved']), len(failed), len(remaining),
              ' (%d left alone or skipped on purpose)' % len(exempt & set(remaining)) if exempt & set(remaining) else '',
              ' | '.join(parts)))
    if code == E_NO_VALID_HOST:
        msg += '. Make room (enable or add hosts) or relax the server group policy, then run again'
    elif code == E_HOST_NOT_EMPTY:
        msg += '. Is nova-compute on %s enabled (new instances scheduled there)? Run again after disabling it' % host
    raise EscalatorError(msg, code=code, **result)
