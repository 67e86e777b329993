# SPDX-License-Identifier: Apache-2.0
"""The Alertmanager silences a campaign creates for the hosts it maintains, and how none is left behind.

* Each silence's comment starts with ``escalator:<campaign_id>:`` (the "ours" marker, as for disabled
  reasons) and its id is recorded in ``<state_dir>/<campaign_id>/silences.json`` right after its creation.
* The gate before each batch expires every silence of the campaign (the hosts of earlier batches are back,
  or failed and were rolled back) before it creates those of the new batch.
* A watcher process (detached, started by the gate) expires them when the run ends, however it ends -
  normally, by a failure, or killed (it waits for the campaign's run lock, which the kernel drops when the
  run dies, see run_guard).
* A resumed run's first gate finds the silences of the campaign by their comment as well: one created by a
  run killed between its creation and its record is expired too.
* Every silence ends by itself (``endsAt``) at the latest: the last resort when even the watcher dies.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import time

from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard, timestamps
from ansible_collections.opnfv.escalator.plugins.module_utils.detach import detach_with_answer
from ansible_collections.opnfv.escalator.plugins.module_utils.state.files import write_file_atomic
from ansible_collections.opnfv.escalator.plugins.module_utils.control.alertmanager import (
    AlertmanagerError, parse_matcher,
)

RECORD_FILE = 'silences.json'
WATCH_POLL = 2.0
WATCHER_FILE = '.silence-watcher.json'


def marker(campaign_id):
    return 'escalator:%s:' % campaign_id


def _record_path(campaign_dir):
    return os.path.join(campaign_dir, RECORD_FILE)


def read_record(campaign_dir):
    try:
        with open(_record_path(campaign_dir), 'r', encoding='utf-8') as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []
    entries = document.get('silences') if isinstance(document, dict) else None
    return [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get('id'), str)]


def _write_record(campaign_dir, entries):
    _write_json(_record_path(campaign_dir), dict(silences=entries))


def _write_json(path, document):
    """``document`` as JSON at ``path``, atomically, readable by its owner only."""
    write_file_atomic(path, json.dumps(document, indent=2) + '\n', mode=0o600)


def host_matchers(templates, host):
    """The matchers of a host's silence: each template with ``{host}`` replaced (regex-escaped in =~ / !~)."""
    matchers = []
    for template in templates:
        matcher = parse_matcher(template, 'silence matcher')
        matcher['value'] = matcher['value'].replace('{host}', re.escape(host) if matcher['isRegex'] else host)
        matchers.append(matcher)
    return matchers


def _stamp(moment):
    return timestamps.format_ts(moment)


def create(client, campaign_dir, campaign_id, hosts, templates, now, duration_s):
    """Create one silence per host (ending ``duration_s`` after ``now``), each recorded as soon as it exists.
    Returns the new entries."""
    entries = read_record(campaign_dir)
    created = []
    for host in hosts:
        silence_id = client.create_silence(
            host_matchers(templates, host), _stamp(now), _stamp(now + datetime.timedelta(seconds=duration_s)),
            'escalator', '%s %s is in maintenance (Escalator campaign %s)' % (marker(campaign_id), host, campaign_id))
        entry = dict(id=silence_id, host=host, created=_stamp(now), ends=_stamp(
            now + datetime.timedelta(seconds=duration_s)))
        entries.append(entry)
        created.append(entry)
        _write_record(campaign_dir, entries)
    return created


def expire_all(client, campaign_dir, campaign_id, sweep=True):
    """Expire every silence of the campaign: the recorded ones, and (``sweep``) any other active one whose
    comment carries the campaign's marker. Returns the ids expired; raises AlertmanagerError when one could
    not be (the record keeps the ones left, for the next try)."""
    entries = read_record(campaign_dir)
    ids = [entry['id'] for entry in entries]
    if sweep:
        ids += [s['id'] for s in client.silences(marker(campaign_id)) if isinstance(s.get('id'), str)]
    expired = []
    left = list(entries)
    for silence_id in dict.fromkeys(ids):
        if client.expire_silence(silence_id):
            expired.append(silence_id)
        left = [entry for entry in left if entry['id'] != silence_id]
        if entries:
            _write_record(campaign_dir, left)
    return expired


def _watch(client, campaign_dir, campaign_id, poll, deadline, proc):  # pragma: no cover - in the watcher process
    # the run that started us still holds the run lock: wait until it lets go (its end, or its death)
    while time.monotonic() < deadline and run_guard.holder(campaign_dir, proc=proc) is not None:
        time.sleep(poll)
    for _attempt in range(5):
        try:
            expire_all(client, campaign_dir, campaign_id)
            return
        except AlertmanagerError:
            time.sleep(poll)


def _watcher_alive(campaign_dir, proc):
    try:
        with open(os.path.join(campaign_dir, WATCHER_FILE), 'r', encoding='utf-8') as handle:
            info = json.load(handle)
        return run_guard.process_alive(info['pid'], info['start'], proc)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def start_watcher(client, campaign_dir, campaign_id, lifetime_s, poll=WATCH_POLL, proc='/proc'):
    """A detached process that expires the campaign's silences once its run has ended (or died). It keeps
    the client (and its credential) in memory only. Returns at once; one watcher a campaign is enough (an
    earlier one still waiting does the job)."""
    if _watcher_alive(campaign_dir, proc):
        return False

    def watcher(answer_fd):   # pragma: no cover - runs in the detached process (tested through its effects)
        with contextlib.suppress(OSError):
            _write_json(os.path.join(campaign_dir, WATCHER_FILE),
                        dict(pid=os.getpid(), start=run_guard.start_time(os.getpid(), proc)))
        os.write(answer_fd, b'1')
        os.close(answer_fd)
        _watch(client, campaign_dir, campaign_id, poll, time.monotonic() + lifetime_s, proc)

    # the watcher has recorded itself once it answers (a second gate then leaves it alone)
    detach_with_answer(watcher, 5.0)
    return True
