#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: campaign_pause
short_description: Ask a running campaign to pause before its next batch
version_added: 0.1.0
description:
  - Writes a pause request into the campaign's state directory (C(pause-request.json)), as C(escalator pause) does.
    The gate before the campaign's next batch (M(opnfv.escalator.campaign_gate)) sees it - the hosts in flight are
    finished first - and ends the campaign paused, with the reason and who asked. Running the campaign's command
    again resumes it.
  - For an AWX job or a pipeline that cannot run the C(escalator) command (C(playbooks/pause_campaign.yml)).
  - Refused (C(E_STATE)) when the campaign does not exist or is not running.
  - The state directory must be the one the running campaign uses (on AWX, the same persistent volume).
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description: Checks that the campaign is running; writes nothing.
  diff_mode:
    support: none
    description: Writes a request, no configuration.
options:
  campaign_id:
    description: The running campaign.
    type: str
    required: true
  state_dir:
    description: The directory that holds one sub-directory per campaign (E(ESCALATOR_STATE_DIR), else
      C(~/.escalator/campaigns)).
    type: path
  reason:
    description: Why (shown in the status table and the event log).
    type: str
  requested_by:
    description: Who asks (default C(user@host) of the controller).
    type: str
seealso:
  - module: opnfv.escalator.campaign_gate
'''

EXAMPLES = r'''
- name: Pause the campaign before its next batch
  opnfv.escalator.campaign_pause:
    campaign_id: 2026-11-kernel
    reason: change freeze from 06:00
    requested_by: "{{ awx_user_name | default(omit) }}"
  delegate_to: localhost
'''

RETURN = r'''
request:
  description: The request written - reason, requested_by, requested_at, run (the run it pauses).
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils.control import pause
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_STATE, EscalatorError, exit_module
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore, format_ts, utcnow


def run(module):
    params = module.params
    store = CampaignStore(params['campaign_id'], params['state_dir'])
    if module.check_mode:
        status = store.read_status()
        state = (status or {}).get('campaign', {}).get('state')
        if state != 'running':
            raise EscalatorError('campaign %s is %s, not running: nothing to pause'
                                 % (store.campaign_id, state or 'not started'), code=E_STATE)
        return dict(changed=True, request=None, msg='would ask campaign %s to pause' % store.campaign_id)
    request = pause.request(store, reason=params['reason'], requested_by=params['requested_by'],
                            now_text=format_ts(utcnow()))
    return dict(changed=True, request=request,
                msg='campaign %s will pause before its next batch (asked by %s)' % (store.campaign_id,
                                                                                    request['requested_by']))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            campaign_id=dict(type='str', required=True),
            state_dir=dict(type='path'),
            reason=dict(type='str'),
            requested_by=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    exit_module(module, run)


if __name__ == '__main__':
    main()
