# SPDX-License-Identifier: Apache-2.0
"""The Fenix maintenance protocol's vocabulary: event types, states, actions, per-project outcomes and
policies, Fenix's time format, the reply URL a VNFM answers to, and the masking of its token."""

from __future__ import annotations

import datetime
import re
from urllib import parse as urlparse

EVENT_PROJECT = 'maintenance.scheduled'
EVENT_HOST = 'maintenance.host'

PREPARE_MAINTENANCE = 'PREPARE_MAINTENANCE'
PLANNED_MAINTENANCE = 'PLANNED_MAINTENANCE'
MAINTENANCE_COMPLETE = 'MAINTENANCE_COMPLETE'
IN_MAINTENANCE = 'IN_MAINTENANCE'

# The module's `state` option -> what is announced.
STATES = {
    'prepare': PREPARE_MAINTENANCE,
    'planned': PLANNED_MAINTENANCE,
    'in_maintenance': IN_MAINTENANCE,
    'complete': MAINTENANCE_COMPLETE,
}

MIGRATE = 'MIGRATE'
LIVE_MIGRATE = 'LIVE_MIGRATE'
OWN_ACTION = 'OWN_ACTION'
ACTIONS = (MIGRATE, LIVE_MIGRATE, OWN_ACTION)

# Fenix action names <-> the `decisions` compute_evacuate takes.
ACTION_TO_DECISION = {MIGRATE: 'cold', LIVE_MIGRATE: 'live', OWN_ACTION: 'own_action'}
DECISION_TO_ACTION = {value: key for key, value in ACTION_TO_DECISION.items()}

# Per-project outcomes.
ACKED = 'acked'
NACKED = 'nacked'
TIMED_OUT = 'timed_out'
UNREACHABLE = 'unreachable'
NO_VNFM = 'no_vnfm'
NOTIFIED = 'notified'          # sent, no reply awaited (MAINTENANCE_COMPLETE without wait)
NOT_SENT = 'not_sent'          # check mode
PENDING = 'pending'

FAIL = 'fail'
PROCEED = 'proceed'
POLICIES = (FAIL, PROCEED)           # what a project's on_nack / on_timeout / on_unreachable may say

FENIX_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S'    # Fenix's reply_at/actions_at: UTC, no zone suffix
TOKEN_PARAM = 'token'
MASK = '********'
_TOKEN_IN_URL = re.compile(r'([?&]%s=)[^&#\s"\']*' % TOKEN_PARAM)


def fenix_time(epoch):
    """A wall-clock time as Fenix writes reply_at / actions_at (UTC, seconds)."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(FENIX_TIME_FORMAT)


def now_iso():
    """Now, UTC, ISO 8601 with milliseconds: when a notification was sent or a reply refused."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')


def mask_tokens(value):
    """A copy of value (str, list, dict) with every ``token=...`` in URLs masked."""
    if isinstance(value, str):
        return _TOKEN_IN_URL.sub(r'\1' + MASK, value)
    if isinstance(value, dict):
        return {key: mask_tokens(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_tokens(item) for item in value]
    return value


def reply_url(base_url, session_id, project_id, token, instance_id=None):
    """The URL a VNFM PUTs its reply to (and GETs the instance list from), token included."""
    path = '/v1/maintenance/%s/%s' % (urlparse.quote(session_id, safe=''), urlparse.quote(project_id, safe=''))
    if instance_id:
        path += '/%s' % urlparse.quote(instance_id, safe='')
    return '%s%s?%s=%s' % (base_url.rstrip('/'), path, TOKEN_PARAM, urlparse.quote(token, safe=''))
