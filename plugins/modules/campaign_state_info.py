#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: campaign_state_info
short_description: Read a campaign's status table, event log and resume hints
version_added: 0.1.0
description:
  - Reads what M(opnfv.escalator.campaign_state) and the callback plugin
    C(opnfv.escalator.campaign_status) recorded in C(<state_dir>/<campaign_id>/) - the status of the
    campaign, its batches and hosts, the plan it follows, the last events.
  - Tells a resumed run what to do with each host - skip it (V(done) or V(skipped)), start it, continue
    it from the phase where it stopped, roll it back, or retry it.
  - Without O(campaign_id), lists the campaigns of the state directory.
  - Read-only; never fails because a campaign does not exist (RV(exists=false)).
  - The file formats are described in the collection's C(docs/status.md).
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.read_only
  - opnfv.escalator.state_dir
options:
  campaign_id:
    description:
      - The campaign. Omitted, RV(campaigns) lists the campaigns of O(state_dir).
    type: str
  events:
    description:
      - Return the last N events of the campaign in RV(events) (V(0) for none, V(-1) for all).
    type: int
    default: 0
seealso:
  - module: opnfv.escalator.campaign_state
'''

EXAMPLES = r'''
- name: What did an earlier run of this campaign do?
  opnfv.escalator.campaign_state_info:
    campaign_id: upgrade-2026-01
  delegate_to: localhost
  register: escalator_previous

- name: Show the status table
  ansible.builtin.debug:
    msg: "{{ escalator_previous.table.splitlines() }}"
  when: escalator_previous.exists

- name: Upgrade only the hosts not done yet
  ansible.builtin.add_host:
    name: "{{ item }}"
    groups: to_upgrade
  loop: "{{ escalator_previous.plan.batches | map(attribute='hosts') | flatten | difference(escalator_previous.hosts_to_skip) }}"
  when: escalator_previous.resumable

- name: List every campaign of the state directory
  opnfv.escalator.campaign_state_info:
  delegate_to: localhost
  register: escalator_campaigns
'''

RETURN = r'''
campaign_id:
  description: The campaign read (O(campaign_id) as given).
  returned: when O(campaign_id) is given
  type: str
  sample: upgrade-2026-01
exists:
  description: Whether the campaign was ever started (its C(status.json) exists).
  returned: when O(campaign_id) is given
  type: bool
  sample: true
resumable:
  description: Whether the campaign exists, has a plan and is neither V(done) nor V(committed) - a new run resumes
    it with its plan.
  returned: when O(campaign_id) is given
  type: bool
  sample: true
rollback_order:
  description: The hosts the campaign upgraded (V(done)), the last upgraded first - the order in which
    C(rollback_compute.yml) rolls the whole campaign back (C(escalator_rollback_campaign)).
  returned: when O(campaign_id) is given
  type: list
  elements: str
  sample: [compute3, compute2]
path:
  description: The campaign's state directory.
  returned: when O(campaign_id) is given
  type: str
  sample: /home/stack/.escalator/campaigns/upgrade-2026-01
status:
  description: The status (format C(escalator-status/1), see C(docs/status.md)), null when the campaign does not exist.
  returned: when O(campaign_id) is given
  type: dict
plan:
  description: The plan the campaign was last started with (C(plan.json)), or null.
  returned: when O(campaign_id) is given
  type: dict
table:
  description: The status as a fixed-width table (empty when the campaign does not exist).
  returned: when O(campaign_id) is given
  type: str
summary:
  description: Counts per host state (C(states)), C(done), C(failed) (failed or rolled back), C(failed_hosts),
    C(active_hosts), C(batches), C(batches_done), C(alerts), C(duration_s); empty when the campaign does not exist.
  returned: when O(campaign_id) is given
  type: dict
  sample: {"state": "failed", "hosts": 4, "done": 2, "failed": 1, "failed_hosts": ["compute3"]}
hosts_to_skip:
  description: The hosts a resumed run must not touch (V(done) or V(skipped)).
  returned: when O(campaign_id) is given
  type: list
  elements: str
  sample: [compute1, compute2]
resume:
  description: What a resumed run does with each host.
  returned: when O(campaign_id) is given
  type: dict
  contains:
    skip:
      description: Done or skipped hosts.
      type: list
      elements: str
    start:
      description: Hosts not begun.
      type: list
      elements: str
    continue:
      description: Hosts caught half-way, with the phase to continue from.
      type: dict
      sample: {"compute3": "evacuate"}
    rollback:
      description: Hosts that failed after they were disturbed (or whose rollback was under way), to roll back.
      type: list
      elements: str
    retry:
      description: Hosts that failed before any change, or were rolled back; a new run may try them again.
      type: list
      elements: str
    hosts:
      description: Per host - state, phase, batch, error_code, resume, from_phase, host_changed (it reached the
        upgrade phase, so a rollback restores its software) and reason.
      type: dict
events:
  description: The last O(events) events, oldest first.
  returned: when O(campaign_id) is given
  type: list
  elements: dict
state_dir:
  description: The state directory that was listed.
  returned: when O(campaign_id) is not given
  type: str
  sample: /home/stack/.escalator/campaigns
campaigns:
  description: The campaigns of the state directory, most recently updated first.
  returned: when O(campaign_id) is not given
  type: list
  elements: dict
  sample: [{"id": "upgrade-2026-01", "state": "done", "started": "2026-01-01T10:00:00.000Z",
            "updated": "2026-01-01T12:00:00.000Z", "finished": "2026-01-01T12:00:00.000Z"}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.state import (
    COMMITTED, DONE, CampaignStore, hosts_to_skip, list_campaigns, render_table, resolve_state_dir, resume_plan,
    rollback_order, summary,
)


def read(campaign_id, state_dir=None, events=0):
    """Everything the module returns about one campaign (plain data)."""
    store = CampaignStore(campaign_id, state_dir)
    status = store.read_status()
    result = dict(changed=False, campaign_id=campaign_id, exists=status is not None, path=store.path, status=status, plan=None,
                  table='', summary={}, hosts_to_skip=[], resumable=False,
                  resume=dict(skip=[], start=[], rollback=[], retry=[], hosts={}, **{'continue': {}}),
                  events=[], rollback_order=[])
    if status is None:
        return result
    result['plan'] = store.read_plan()
    result['table'] = render_table(status)
    result['summary'] = summary(status)
    result['hosts_to_skip'] = hosts_to_skip(status)
    result['resume'] = resume_plan(status)
    # a done campaign has nothing left; a committed one is closed (a new run is refused)
    result['resumable'] = result['plan'] is not None and status['campaign']['state'] not in (DONE, COMMITTED)
    result['rollback_order'] = rollback_order(status)
    if events:
        result['events'] = store.read_events(limit=None if events < 0 else events)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            campaign_id=dict(type='str'),
            state_dir=dict(type='path'),
            events=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params['campaign_id'] is None:
            result = dict(changed=False, campaigns=list_campaigns(params['state_dir']),
                          state_dir=resolve_state_dir(params['state_dir']))
        else:
            result = read(params['campaign_id'], params['state_dir'], params['events'])
    except EscalatorError as exc:
        module.fail_json(**exc.to_result())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
