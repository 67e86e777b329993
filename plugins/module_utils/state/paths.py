# SPDX-License-Identifier: Apache-2.0
"""Campaign and run ids, and the state-directory rule: ``state_dir`` given, else ``$ESCALATOR_STATE_DIR``,
else ``~/.escalator/campaigns`` (one definition: the modules, the callback, the CLI/API and the report script
resolve it here; playbooks/vars/controller.yml hands ``escalator_state_dir`` through unresolved)."""

from __future__ import annotations

import os
import secrets

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_id as campaign_ids
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT
from ansible_collections.opnfv.escalator.plugins.module_utils.state.vocabulary import StateError
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import utcnow

DEFAULT_STATE_DIR = '~/.escalator/campaigns'
STATE_DIR_ENV = 'ESCALATOR_STATE_DIR'
RUN_ID_PATTERN = campaign_ids.RUN_ID_PATTERN


def new_run_id(now=None):
    """A run id: UTC start time and a random suffix, e.g. ``20260101T100000Z-3f9a1c``."""
    return '%s-%s' % ((now or utcnow()).strftime('%Y%m%dT%H%M%SZ'), secrets.token_hex(3))


def validate_campaign_id(campaign_id):
    if not campaign_ids.is_valid(campaign_id):
        raise StateError('%s (it names the campaign\'s state directory)' % campaign_ids.problem(campaign_id),
                         code=E_INVALID_INPUT, campaign_id=campaign_id)
    return campaign_id


def validate_run_id(run_id):
    if run_id is not None and (not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id)):
        raise StateError('run_id %r is not valid: use %s' % (run_id, campaign_ids.CHARACTERS),
                         code=E_INVALID_INPUT, run_id=run_id)
    return run_id


def default_state_dir(environ=None):
    """``$ESCALATOR_STATE_DIR``, else ``~/.escalator/campaigns``."""
    environ = os.environ if environ is None else environ
    return os.path.abspath(os.path.expanduser(environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR))


def resolve_state_dir(state_dir=None, environ=None):
    if state_dir:
        return os.path.abspath(os.path.expanduser(os.path.expandvars(state_dir)))
    return default_state_dir(environ)
