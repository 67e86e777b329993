# SPDX-License-Identifier: Apache-2.0
"""The campaign lock: one campaign at a time per cloud, held in the cloud itself.

The lock is a Nova host aggregate with a fixed name (``escalator-campaign-lock``
by default) and no hosts.  Nova refuses a second aggregate with the same name
(409 Conflict), so creating it is an atomic test-and-set that works across
controllers and AWX nodes; an aggregate without hosts has no effect on
scheduling.  Its metadata says who holds it::

    campaign_id  the campaign that holds the lock
    holder       user@controller host (or what the caller says, e.g. an AWX job)
    started      when the lock was taken (ISO-8601 UTC)
    run_id       the campaign run that took (or last re-took) it
    controller   the host name of the controller that runs it
    pid          its ansible-playbook process on that controller, and
    pid_start    that process's start time (clock ticks since boot: pid reuse)

Acquiring is idempotent for the same campaign (a resumed campaign re-takes its
own lock) - unless the recorded ansible-playbook still runs on this very
controller (a second run of the campaign with another state directory); from
another controller the recorded run cannot be checked (AWX resumes from a new
pod), so it is let through.  Another campaign's lock fails with ``E_LOCK`` and
says which campaign holds it, whether a run of it is live, since when and why
it stopped, and how to resume or abandon it.
Releasing deletes the aggregate only when it is this campaign's, unless forced.
"""

from __future__ import annotations

import datetime
import getpass
import socket
import time

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, E_LOCK, EscalatorError,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.connection import error_from_exception, status_code
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts, parse_ts

DEFAULT_LOCK_NAME = 'escalator-campaign-lock'
METADATA_KEYS = ('campaign_id', 'holder', 'started', 'run_id', 'controller', 'pid', 'pid_start')
PROCESS_KEYS = ('controller', 'pid', 'pid_start')
SETTLE_TIMEOUT = 10.0     # seconds to wait for a lock being created by someone else to get its metadata
SETTLE_INTERVAL = 1.0
MAX_VALUE = 255           # Nova's limit for a metadata value


def default_holder():
    """user@host of this controller."""
    try:
        user = getpass.getuser()
    except Exception:  # pylint: disable=broad-except
        user = 'unknown'
    return '%s@%s' % (user, socket.getfqdn() or socket.gethostname())


def describe(aggregate):
    """The lock as a plain dict (``None`` when there is no lock)."""
    if aggregate is None:
        return None
    metadata = dict(aggregate.metadata or {})
    return dict(name=aggregate.name, id=aggregate.id, hosts=list(aggregate.hosts or []),
                **{key: metadata.get(key) for key in METADATA_KEYS})


def _age(started, now):
    moment = parse_ts(started) if isinstance(started, str) else None
    if moment is None:
        return None
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return None
    hours, rest = divmod(seconds, 3600)
    return '%dh%02dm' % (hours, rest // 60) if hours else '%dm%02ds' % (rest // 60, rest % 60)


def holder_text(lock, now=None):
    """'campaign X (holder u@h, run r, since T, 2h05m ago)'."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not lock.get('campaign_id'):
        return 'nobody known (aggregate %s has no campaign_id: a lock being taken right now, or left half-made)' % (
            lock['name'],)
    age = _age(lock.get('started'), now)
    return 'campaign %s (holder %s, run %s, since %s%s)' % (
        lock['campaign_id'], lock.get('holder') or 'unknown', lock.get('run_id') or '-',
        lock.get('started') or 'unknown', (', %s ago' % age) if age else '')


def find_lock(conn, name=DEFAULT_LOCK_NAME):
    """The lock aggregate, or None."""
    for aggregate in conn.compute.aggregates():
        if aggregate.name == name:
            return aggregate
    return None


def _find(conn, name):
    try:
        return find_lock(conn, name)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing aggregates to find lock %s' % name) from exc


def _get(conn, aggregate):
    try:
        return conn.compute.get_aggregate(aggregate.id)
    except Exception as exc:  # pylint: disable=broad-except
        if status_code(exc) == 404:
            return None
        raise error_from_exception(exc, during='reading lock aggregate %s' % aggregate.name) from exc


def _metadata(campaign_id, run_id, holder, started, process=None):
    values = dict(campaign_id=campaign_id, holder=holder, started=started, run_id=run_id or '')
    for key in PROCESS_KEYS:
        if (process or {}).get(key) is not None:
            values[key] = process[key]
    return {key: str(value)[:MAX_VALUE] for key, value in values.items()}


def recorded_process(lock):
    """dict(controller, pid (int), pid_start) of the run recorded in the lock, or None."""
    try:
        pid = int(lock.get('pid'))
    except (TypeError, ValueError):
        return None
    if not lock.get('controller') or pid <= 0:
        return None
    return dict(controller=lock['controller'], pid=pid, pid_start=lock.get('pid_start') or None)


def _same_process(recorded, process):
    return (process is not None and recorded['controller'] == process.get('controller')
            and recorded['pid'] == process.get('pid')
            and str(recorded['pid_start'] or '') == str(process.get('pid_start') or ''))


def live_here(lock, controller, alive):
    """Whether the run recorded in ``lock`` is alive on ``controller`` (this one): True, False, or None when
    it cannot be told from here (no run recorded, or recorded on another controller, or no ``alive``)."""
    recorded = recorded_process(lock)
    if recorded is None or alive is None or recorded['controller'] != controller:
        return None
    return bool(alive(recorded['pid'], recorded['pid_start']))


def last_error(status):
    """The reason a campaign stopped, from its status (dict of status.json): its message, else the failure of
    the host that failed last ('host compute2: E_MIGRATION_TIMEOUT server ... still migrating'), else None."""
    campaign = (status or {}).get('campaign') or {}
    if campaign.get('message'):
        return campaign['message']
    failed = [(record.get('updated') or '', name, record) for name, record in ((status or {}).get('hosts') or {}).items()
              if record.get('result') == 'failed' or record.get('state') in ('failed', 'rolled_back')]
    if not failed:
        return None
    _updated, name, record = max(failed, key=lambda item: item[0])
    text = 'host %s %s: %s %s' % (name, record.get('state'), record.get('error_code') or '-',
                                  record.get('message') or '')
    return text.rstrip()


def refusal_text(lock, name, moment, live=None, controller=None, status=None, status_path=None):
    """The E_LOCK message for a campaign that finds the lock held by another one: which campaign holds it,
    whether a run of it is live right now, since when and why it stopped, how to resume or abandon it.

    ``live``: True/False (a run of it is / is not live on this controller), None (cannot tell);
    ``status``: the holder's status.json when readable here (None: not readable, or never started);
    ``status_path``: where it was looked for."""
    campaign = lock.get('campaign_id')
    text = ['the cloud is locked by %s.' % holder_text(lock, moment)]
    recorded = recorded_process(lock)
    if live:
        text.append('A run of campaign %s is live right now on this controller (%s, ansible-playbook process %s): wait '
                    'for it to finish.' % (campaign, controller or '?', recorded['pid'] if recorded else '?'))
    else:
        where = ''
        if recorded and recorded['controller'] != controller:
            where = (' (its last run was on controller %s, process %s: whether that still runs cannot be told from '
                     'here)' % (recorded['controller'], recorded['pid']))
        text.append('No live run of campaign %s on this controller%s.' % (campaign, where))
    if status is not None:
        info = status.get('campaign') or {}
        since = info.get('finished') or info.get('updated') or info.get('started')
        if info.get('state') == 'running' and not live:
            text.append('Its status says running, last updated %s: its run stopped without finishing (killed?).'
                        % (since or 'unknown'))
        elif not live:
            text.append('It stopped %s at %s.' % (info.get('state') or 'unknown', since or 'unknown'))
        error = last_error(status)
        if error:
            text.append('Last error: %s.' % error.rstrip('.'))
    elif status_path:
        text.append('It has no status in %s: it stopped before its start (plan refused, precheck failed or not '
                    'confirmed), or it ran with another state directory.' % status_path)
    text.append('To resume it: ansible-playbook upgrade-compute.yml -e escalator_campaign_id=%s (or: escalator '
                'upgrade -c %s). To abandon it and release the lock: escalator unlock -c %s (or: ansible localhost '
                '-m opnfv.escalator.campaign_lock -a "campaign_id=%s state=absent"; openstack aggregate delete %s).'
                % (campaign, campaign, campaign, campaign, name))
    return ' '.join(text)


def _validate(campaign_id, name):
    if not isinstance(campaign_id, str) or not campaign_id.strip() or len(campaign_id) > MAX_VALUE:
        raise EscalatorError('campaign_id must be a non-empty string of at most %d characters' % MAX_VALUE,
                             code=E_INVALID_INPUT)
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or name != name.strip():
        raise EscalatorError('lock name %r is not a valid aggregate name (1 to 255 characters, no surrounding '
                             'spaces)' % (name,), code=E_INVALID_INPUT)


def _refuse_foreign(lock):
    if lock['hosts']:
        raise EscalatorError(
            'aggregate %s (id %s) has hosts (%s): it is a real host aggregate, not an Escalator campaign lock; '
            'leave it alone and choose another lock name' % (lock['name'], lock['id'], ', '.join(lock['hosts'])),
            code=E_LOCK, lock=lock)


def _settle(conn, aggregate, clock, sleep, settle_timeout):
    """Wait (briefly) for a lock that someone is creating right now to carry its metadata."""
    deadline = clock() + settle_timeout
    while aggregate is not None and not (aggregate.metadata or {}).get('campaign_id') and clock() < deadline:
        sleep(SETTLE_INTERVAL)
        aggregate = _get(conn, aggregate)
    return aggregate


def acquire(conn, campaign_id, run_id=None, holder=None, name=DEFAULT_LOCK_NAME, force=False, check_mode=False,
            warn=None, now=None, clock=time.monotonic, sleep=time.sleep, settle_timeout=SETTLE_TIMEOUT,
            process=None, alive=None, inspect=None):
    """Take the cloud's campaign lock for ``campaign_id``.

    ``process``: dict(controller, pid, pid_start) of this run's ansible-playbook, recorded in the lock;
    ``alive(pid, pid_start)``: whether that process lives on this controller (run_guard.process_alive);
    ``inspect(lock)``: dict(status=..., status_path=..., live=...) about the campaign holding the lock, for
    the message of a refusal (its status.json when readable here; ``live`` True when its run guard is held).

    Returns dict(changed, action, lock, previous, forced): action is ``acquire`` (created),
    ``reacquire`` (ours already; holder/run updated), ``takeover`` (forced over another campaign's)
    or None (ours already, nothing to update).  Raises EscalatorError(E_LOCK) when another campaign
    holds it, or when another run of this campaign recorded in the lock still runs on this controller.
    """
    _validate(campaign_id, name)
    warn = warn or (lambda text: None)
    holder = holder or default_holder()
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    controller = (process or {}).get('controller')
    wanted = _metadata(campaign_id, run_id, holder, format_ts(moment, seconds=True), process)
    existing = _find(conn, name)
    if existing is None and check_mode:
        return dict(changed=True, action='acquire', lock=dict(name=name, id=None, hosts=[], **wanted),
                    previous=None, forced=False)
    attempts = 3
    while existing is None and attempts:
        attempts -= 1
        created = _create(conn, name, wanted)
        if created is not None:
            return dict(changed=True, action='acquire', lock=describe(created), previous=None, forced=False)
        # Nova says it exists: someone else created it between our look and our create (and may have
        # released it again since)
        existing = _find(conn, name)
    if existing is None:
        raise EscalatorError('lock aggregate %s could not be created (Nova answered that it exists) but is not '
                             'listed either; retry' % name, code=E_LOCK)
    existing = _settle(conn, existing, clock, sleep, settle_timeout)
    if existing is None:
        raise EscalatorError('lock aggregate %s disappeared while it was being read (released by its holder at '
                             'this very moment?); retry' % name, code=E_LOCK)
    lock = describe(existing)
    _refuse_foreign(lock)
    if lock['campaign_id'] == campaign_id:
        recorded = recorded_process(lock)
        if recorded is not None and not _same_process(recorded, process):
            if live_here(lock, controller, alive):
                raise EscalatorError(
                    'campaign %s is being run right now by process %s on %s (run %s, holder %s, since %s): two runs '
                    'of one campaign would work on the same hosts (that run records its state in another state '
                    'directory, or this one is not checked). Wait for it to end (or stop it), then run again with the '
                    'same campaign id to resume.' % (campaign_id, recorded['pid'], recorded['controller'],
                                                     lock.get('run_id') or '-', lock.get('holder') or 'unknown',
                                                     lock.get('started') or 'unknown'),
                    code=E_LOCK, lock=lock)
            if recorded['controller'] != controller and process is not None:
                warn('campaign %s: its lock was last taken by process %s on controller %s, which cannot be checked '
                     'from %s; taken as a resume (as when AWX resumes a campaign from a new pod). Make sure that run '
                     'is over.' % (campaign_id, recorded['pid'], recorded['controller'], controller))
        update = {}
        if lock.get('holder') != wanted['holder']:
            update['holder'] = wanted['holder']
        if run_id is not None and lock.get('run_id') != wanted['run_id']:
            update['run_id'] = wanted['run_id']
        for key in PROCESS_KEYS:
            if key in wanted and lock.get(key) != wanted[key]:
                update[key] = wanted[key]
        if not update:
            return dict(changed=False, action=None, lock=lock, previous=lock, forced=False)
        after = dict(lock, **update)
        if not check_mode:
            after = describe(_set_metadata(conn, existing, update))
        return dict(changed=True, action='reacquire', lock=after, previous=lock, forced=False)
    if not force:
        seen = dict(inspect(lock) or {}) if inspect is not None else {}
        live = live_here(lock, controller, alive)
        live = True if seen.get('live') else live
        raise EscalatorError(refusal_text(lock, name, moment, live=live, controller=controller,
                                          status=seen.get('status'), status_path=seen.get('status_path')),
                             code=E_LOCK, lock=lock, live=live)
    warn('FORCED: taking the campaign lock %s over from %s for campaign %s'
         % (name, holder_text(lock, moment), campaign_id))
    after = dict(lock, **wanted)
    if not check_mode:
        after = describe(_set_metadata(conn, existing, wanted))
    return dict(changed=True, action='takeover', lock=after, previous=lock, forced=True)


def _create(conn, name, metadata):
    """Create the lock aggregate with its metadata; None when it already exists (409)."""
    try:
        aggregate = conn.compute.create_aggregate(name=name)
    except Exception as exc:  # pylint: disable=broad-except
        if status_code(exc) == 409:
            return None
        raise error_from_exception(exc, during='creating lock aggregate %s' % name) from exc
    try:
        return conn.compute.set_aggregate_metadata(aggregate, metadata)
    except Exception as exc:  # pylint: disable=broad-except
        error = error_from_exception(exc, during='writing the metadata of lock aggregate %s' % name)
        try:
            conn.compute.delete_aggregate(aggregate, ignore_missing=True)
        except Exception:  # pylint: disable=broad-except
            error.msg += '; the half-made lock could not be deleted either: delete aggregate %s by hand' % name
        raise error from exc


def _set_metadata(conn, aggregate, metadata):
    try:
        return conn.compute.set_aggregate_metadata(aggregate, metadata)
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='updating lock aggregate %s' % aggregate.name) from exc


def release(conn, campaign_id, name=DEFAULT_LOCK_NAME, force=False, check_mode=False, warn=None, now=None):
    """Release the lock if this campaign holds it (any holder's with ``force``).

    Returns dict(changed, action ('release' or None), lock (None after release), previous, forced).
    """
    _validate(campaign_id, name)
    warn = warn or (lambda text: None)
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    existing = _find(conn, name)
    if existing is None:
        return dict(changed=False, action=None, lock=None, previous=None, forced=False)
    lock = describe(existing)
    _refuse_foreign(lock)
    forced = False
    if lock['campaign_id'] != campaign_id:
        if not force:
            raise EscalatorError('the campaign lock %s is not held by campaign %s but by %s: not released (force=true '
                                 'breaks it, only when that campaign is dead)' % (name, campaign_id,
                                                                                  holder_text(lock, moment)),
                                 code=E_LOCK, lock=lock)
        warn('FORCED: breaking the campaign lock %s held by %s' % (name, holder_text(lock, moment)))
        forced = True
    if not check_mode:
        try:
            conn.compute.delete_aggregate(existing, ignore_missing=True)
        except Exception as exc:  # pylint: disable=broad-except
            raise error_from_exception(exc, during='deleting lock aggregate %s' % name) from exc
    return dict(changed=True, action='release', lock=None, previous=lock, forced=forced)


def lock_info(conn, name=DEFAULT_LOCK_NAME):
    """The current lock (dict) or None, read-only."""
    return describe(_find(conn, name))
