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

Acquiring is idempotent for the same campaign (a resumed campaign re-takes its
own lock); another campaign's lock fails with ``E_LOCK`` and names the holder.
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
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception

DEFAULT_LOCK_NAME = 'escalator-campaign-lock'
METADATA_KEYS = ('campaign_id', 'holder', 'started', 'run_id')
SETTLE_TIMEOUT = 10.0     # seconds to wait for a lock being created by someone else to get its metadata
SETTLE_INTERVAL = 1.0
MAX_VALUE = 255           # Nova's limit for a metadata value


def utc_stamp(now=None):
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def default_holder():
    """user@host of this controller."""
    try:
        user = getpass.getuser()
    except Exception:  # pylint: disable=broad-except
        user = 'unknown'
    return '%s@%s' % (user, socket.getfqdn() or socket.gethostname())


def _status_code(exc):
    return getattr(exc, 'status_code', None) or getattr(getattr(exc, 'response', None), 'status_code', None)


def describe(aggregate):
    """The lock as a plain dict (``None`` when there is no lock)."""
    if aggregate is None:
        return None
    metadata = dict(aggregate.metadata or {})
    return dict(name=aggregate.name, id=aggregate.id, hosts=list(aggregate.hosts or []),
                **{key: metadata.get(key) for key in METADATA_KEYS})


def _age(started, now):
    try:
        moment = datetime.datetime.strptime(started, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
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
        if _status_code(exc) == 404:
            return None
        raise error_from_exception(exc, during='reading lock aggregate %s' % aggregate.name) from exc


def _metadata(campaign_id, run_id, holder, started):
    values = dict(campaign_id=campaign_id, holder=holder, started=started, run_id=run_id or '')
    return {key: str(value)[:MAX_VALUE] for key, value in values.items()}


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
            warn=None, now=None, clock=time.monotonic, sleep=time.sleep, settle_timeout=SETTLE_TIMEOUT):
    """Take the cloud's campaign lock for ``campaign_id``.

    Returns dict(changed, action, lock, previous, forced): action is ``acquire`` (created),
    ``reacquire`` (ours already; holder/run updated), ``takeover`` (forced over another campaign's)
    or None (ours already, nothing to update).  Raises EscalatorError(E_LOCK) when another campaign
    holds it.
    """
    _validate(campaign_id, name)
    warn = warn or (lambda text: None)
    holder = holder or default_holder()
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    wanted = _metadata(campaign_id, run_id, holder, utc_stamp(moment))
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
        update = {}
        if lock.get('holder') != wanted['holder']:
            update['holder'] = wanted['holder']
        if run_id is not None and lock.get('run_id') != wanted['run_id']:
            update['run_id'] = wanted['run_id']
        if not update:
            return dict(changed=False, action=None, lock=lock, previous=lock, forced=False)
        after = dict(lock, **update)
        if not check_mode:
            after = describe(_set_metadata(conn, existing, update))
        return dict(changed=True, action='reacquire', lock=after, previous=lock, forced=False)
    if not force:
        raise EscalatorError(
            'the cloud is locked by %s: another Escalator campaign is running on this cloud. Wait for it to finish; '
            'if it is dead (no ansible-playbook or AWX job running it), release it with opnfv.escalator.campaign_lock '
            'state=absent force=true, or check with: openstack aggregate show %s'
            % (holder_text(lock, moment), name), code=E_LOCK, lock=lock)
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
        if _status_code(exc) == 409:
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
