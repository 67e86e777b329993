# SPDX-License-Identifier: Apache-2.0
"""The campaign state store: status table, event log, resume hints and alerts.

One directory per campaign, ``<state_dir>/<campaign_id>/``:

``events.jsonl``
    Append-only, one JSON object per line, fsync'd (see ``make_event`` for the
    fields).  Never rewritten; a line torn by a crash is skipped by readers.
``status.json``
    The current status (``escalator-status/1``): the campaign, its batches and
    its hosts.  Replaced atomically (temporary file, fsync, rename), so readers
    always see a whole document.
``plan.json``
    The plan the campaign was last started with, when one was given.
``.lock``
    ``fcntl.flock`` lock file: every change (status and events) happens under
    it, so several processes (forks of a playbook, the callback plugin, the CLI)
    can record at once without lost or torn records.

Plain Python (standard library only, no Ansible objects) so that modules, the
callback plugin and the CLI share it.  The formats are documented in
``docs/status.md``. One concept a file:

* ``vocabulary``  file names, host/batch/campaign states, transitions, phases, event fields, ``StateError``
* ``paths``       campaign and run ids, the state-directory rule
* ``events``      one event, its events.jsonl line, reading the log
* ``plans``       a plan as the store reads it (batches, skipped hosts)
* ``status``      the status document: structure, new records, derived batch and campaign states
* ``machine``     the state machine: ``apply_start``, ``apply_host``, ``apply_batch``, ``apply_finish``
* ``closing``     closing the rollback window: ``apply_commit``, the order of a campaign rollback
* ``summary``     durations and the summary; ``render``: the status table
* ``resume``      what a resumed run does with each host
* ``webhook``     alerts POSTed to a webhook; ``files``: atomic writes
* ``store``       ``CampaignStore`` (one campaign's files under its lock) and ``list_campaigns``

This file is the store's public interface: the modules, the callbacks, the CLI and the report script import
``state`` (or names from it) and need not know which file holds what.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.campaign_id import PATTERN as CAMPAIGN_ID_PATTERN
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError  # StateError's base
from ansible_collections.opnfv.escalator.plugins.module_utils.state.closing import apply_commit, check_open, rollback_order
from ansible_collections.opnfv.escalator.plugins.module_utils.state.events import (
    encode_event, iter_events, make_event, read_events)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.files import write_file_atomic
from ansible_collections.opnfv.escalator.plugins.module_utils.state.machine import (
    apply_batch, apply_finish, apply_host, apply_start)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.paths import (
    DEFAULT_STATE_DIR, RUN_ID_PATTERN, STATE_DIR_ENV, default_state_dir, new_run_id, resolve_state_dir,
    validate_campaign_id, validate_run_id)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.plans import normalize_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.state.render import render_table
from ansible_collections.opnfv.escalator.plugins.module_utils.state.resume import (
    host_resume_point, hosts_to_skip, resume_plan)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.status import (
    campaign_outcome, derive_batch_state, new_host, new_status, refresh_batches, status_structure_problem)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.store import CampaignStore, list_campaigns
from ansible_collections.opnfv.escalator.plugins.module_utils.state.summary import (
    campaign_duration, format_duration, host_duration, summary)
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import (
    ACTIVE_STATES, BATCH_STATES, CAMPAIGN_STATES, CHANGING_PHASES, CLOSED_STATES, COMMITTED, DEFAULT_RESULT, DONE,
    DRAINING, EVENTS_FILE,
    FAILED, FAILURE_STATES, FINAL_STATES, HISTORY_LIMIT, HOST_STATES, INCOMPLETE, LOCK_FILE, LOCK_TIMEOUT,
    MESSAGE_LIMIT, OBJECT_TYPES, PENDING, PHASE_STATES, PHASES, PLAN_FILE, RESULTS, ROLLED_BACK, RUNNING,
    SEVERITIES, SKIPPED, STATUS_FILE, STATUS_FORMAT, TRANSITIONS, UPGRADING, VERIFYING, StateError)
from ansible_collections.opnfv.escalator.plugins.module_utils.http_client import redact_url
from ansible_collections.opnfv.escalator.plugins.module_utils.state.webhook import WEBHOOK_TIMEOUT, post_webhook
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts, parse_ts, utcnow
