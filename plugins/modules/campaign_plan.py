#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: campaign_plan
short_description: Plan a rolling upgrade campaign of compute hosts
version_added: 0.1.0
description:
  - Reads the compute hosts, their instances, server groups and capacity from the cloud, and orders
    the hosts into upgrade batches so that no server group loses more members at once than its
    budget, the evacuated instances fit on hosts that stay up (preferring hosts already upgraded, so
    each instance moves at most once), and the canary batch comes first.
  - Every plan is checked by an independent validator before it is returned; a plan that breaks a
    rule is never returned as valid.
  - The plan carries a fingerprint of its inputs; with O(expected_fingerprint) a run refuses a plan
    made for a cloud that has changed since.
  - "Servers may carry their own policy in Nova server metadata, which wins over the module's options for them:
    C(escalator:action) (V(live), V(cold), V(stop), V(skip) or V(notify)) and, on the members of a server group,
    C(escalator:budget) (the group's budget, over O(budgets) and O(default_budget)). A V(skip) server leaves its host
    out of the campaign; a V(notify) server is moved by its VNFM, never by a planned move. An unknown value, a budget
    that is not an integer or members that disagree make the plan infeasible, naming the servers. See
    C(docs/planner.md), Server policies."
  - The model and the JSON format are described in the collection's C(docs/planner.md).
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the plan is computed but O(plan_file) is not written.
options:
  campaign_id:
    description:
      - Identifier of the campaign; written into the plan.
    type: str
    required: true
  hosts:
    description:
      - Compute hosts to consider (their Nova service host names). All compute hosts when omitted.
      - An empty list is refused (E_INVALID_INPUT), since an empty selection selects nothing.
    type: list
    elements: str
  inventory_hosts:
    description:
      - The hosts the inventory knows (inventory names are Nova's host names). When given, a plan that would
        upgrade a host the inventory does not know is refused with E_INVALID_INPUT, naming the hosts.
    type: list
    elements: str
  exclude_hosts:
    description:
      - Hosts left out of the campaign (reported as skipped, not upgraded); when up and enabled they still receive instances.
    type: list
    elements: str
    default: []
  max_batch_size:
    description:
      - Most hosts upgraded at the same time after the canary batch, or V(auto).
      - V(auto) puts as many hosts in each batch after the canary as the server groups' budgets, the room on
        hosts that stay up (with O(reserve)) and O(az_max_down) allow, at most O(max_batch_percent) of the hosts
        the campaign upgrades (rounded down, and at least 2). With an integer the batches are filled the same way,
        up to that integer (V(1) makes the campaign serial).
      - Each batch of the plan says what bound its size (C(size_bound)), and the plan's table shows it.
    type: raw
    default: auto
  max_batch_percent:
    description:
      - With O(max_batch_size=auto), the largest batch after the canary as a percentage of the hosts the campaign
        upgrades (1 to 100), rounded down, and never fewer than 2 hosts. Ignored with an integer O(max_batch_size).
      - The default 25 limits what a fault the canary did not catch can reach to a quarter of the hosts; the
        campaign stops after the batch where a host fails.
    type: int
    default: 25
  canary_hosts:
    description:
      - Hosts in the first (canary) batch; V(0) for no canary batch.
    type: int
    default: 1
  default_budget:
    description:
      - Members of a server group that may be disrupted in one batch, for groups without an entry
        in O(budgets).
    type: int
    default: 1
  budgets:
    description:
      - Disruption budget per server group name or id. V(0) means the group's members must be
        handled by their VNFM's switchover and never disrupted together with another member.
    type: dict
    default: {}
  az_max_down:
    description:
      - Most hosts of one availability zone in maintenance at the same time.
    type: int
  reserve:
    description:
      - Headroom kept free on every destination, as a fraction of its capacity (for example V(0.1))
        or as absolute amounts (a dict with C(vcpus), C(memory_mb), C(disk_gb)).
    type: raw
    default: 0
  destinations_per_move:
    description:
      - How many destination preferences each planned move lists.
    type: int
    default: 3
  our_disable_marker:
    description:
      - Prefix of the disabled reason that marks a host as disabled by Escalator (such hosts stay in
        the campaign, for example after an interrupted run).
    type: str
    default: 'escalator:'
  unhealthy_instances:
    description:
      - What to do with a host that holds an instance Nova can move neither live nor cold (ERROR, SUSPENDED...).
      - V(stop) keeps the host in the plan (with a warning); the precheck then refuses the campaign before anything
        is touched, naming the instance.
      - V(skip_host) leaves such hosts out of the campaign (reported as skipped, reason V(unhealthy), naming the
        instances) and goes on with the others.
    type: str
    choices: [stop, skip_host]
    default: stop
  plan_file:
    description:
      - Where to write the plan as JSON. Not written in check mode.
      - Its directory must exist (E_INVALID_INPUT otherwise). The file is replaced atomically (a private
        temporary file in the same directory, then a rename), so a symbolic link at that path is replaced, not
        followed.
    type: path
  expected_fingerprint:
    description:
      - Fingerprint of a plan shown earlier; the module fails when the cloud no longer matches it.
    type: str
  fail_when_infeasible:
    description:
      - Fail when no valid plan exists. When V(false), return the plan with RV(feasible=false) and
        its reasons.
    type: bool
    default: true
  state_dir:
    description:
      - The campaigns' state directory. The plan's expected durations (RV(plan.expected)) come from the history of
        the earlier campaigns recorded there (their phase events), as the campaign gate's do; without it, or without
        enough history, from the documented defaults (C(docs/campaign-control.md)).
    type: path
  expected_phase_seconds:
    description:
      - Expected seconds per phase (C(maintenance), C(notify), C(evacuate), C(backup), C(upgrade), C(verify),
        C(release)) and C(evacuate_per_instance), over history and defaults (C(escalator_expected_phase_seconds)).
    type: dict
'''

EXAMPLES = r'''
- name: Plan the campaign, batches as large as budgets and room allow, at most 10 % of the hosts
  opnfv.escalator.campaign_plan:
    cloud: mycloud
    campaign_id: 2026-11-kernel
    max_batch_size: auto
    max_batch_percent: 10
  delegate_to: localhost

- name: Plan the campaign, two hosts at a time after a canary host
  opnfv.escalator.campaign_plan:
    cloud: mycloud
    campaign_id: 2026-11-kernel
    max_batch_size: 2
    budgets:
      vnf-a-pair: 1
      ims-core: 0
    plan_file: /var/lib/escalator/2026-11-kernel/plan.json
  register: plan
  delegate_to: localhost

- name: Show it
  ansible.builtin.debug:
    msg: "{{ plan.table.splitlines() }}"

- name: Refuse to run on a cloud that changed since the plan was approved
  opnfv.escalator.campaign_plan:
    cloud: mycloud
    campaign_id: 2026-11-kernel
    expected_fingerprint: "{{ approved_fingerprint }}"
  delegate_to: localhost
'''

RETURN = r'''
plan:
  description: The plan (format C(escalator-plan/1)), see C(docs/planner.md).
  returned: always
  type: dict
  contains:
    feasible:
      description: Whether every eligible host could be placed in a batch.
      type: bool
    reasons:
      description: Why no plan exists, one sentence per problem.
      type: list
      elements: str
    batches:
      description:
        - Ordered batches; each with C(batch), C(canary), C(hosts), C(zones), C(moves), C(budget_use), C(size_bound),
          C(notes).
        - C(size_bound) says what kept the batch at its size, a list of C(by) (V(canary), V(cap), V(budget),
          V(capacity), V(az_max_down) or V(last_hosts)) with a C(detail) sentence, and C(groups) or C(hosts) named.
      type: list
      elements: dict
    skipped:
      description:
        - Hosts left out, with C(host), C(reason), C(detail), C(instances), C(destination).
        - C(reason) V(server_policy) for a host holding a server tagged C(escalator:action=skip).
      type: list
      elements: dict
    server_policies:
      description:
        - Which server carried which policy (server metadata) - C(servers) (C(instance), C(name), C(host),
          C(action)) and C(groups) whose budget their members' C(escalator:budget) set (C(group), C(name),
          C(budget), C(servers)).
        - Each tagged server's move carries C(policy) too, and each batch lists its V(notify) servers in C(notify).
      type: dict
    summary:
      description: Figures (batches, C(batch_size_cap), lower bound, moves, instances moving more than once...).
      type: dict
    expected:
      description:
        - Expected durations in seconds, advice outside the fingerprint - C(hosts) (per host, per phase), C(batches)
          (C(batch), C(seconds)- its slowest host), C(campaign_s) (the batches one after the other, waits for
          windows and alerts not counted), C(source) (V(defaults), V(history (12 hosts)), V(history and setting)...),
          C(phase_sources), C(evacuate_per_instance), C(evacuate_source).
      type: dict
    fingerprint:
      description: Fingerprint of the inputs.
      type: str
feasible:
  description: Whether a valid plan exists.
  returned: always
  type: bool
fingerprint:
  description: Fingerprint of the inputs the plan was made from.
  returned: always
  type: str
  sample: 3b1c9e...
table:
  description: The plan as a readable table.
  returned: always
  type: str
batches:
  description: The host names of each batch, in order (what a rolling play's C(serial) needs).
  returned: always
  type: list
  elements: list
  sample: [["compute4"], ["compute1"], ["compute2", "compute3"]]
destinations:
  description: Per host, the ordered destination preferences of the instances it evacuates.
  returned: always
  type: dict
  sample: {"compute1": ["compute4", "compute3"]}
violations:
  description: Rules the plan breaks according to the independent checker (empty for a valid plan).
  returned: always
  type: list
  elements: str
'''

import json
import os

from ansible_collections.opnfv.escalator.plugins.module_utils import host_info, state
from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, history, plan_expectations
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import PlanInputError
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.plan_json import plan_to_json
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.render import render_table
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, E_PLAN, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule

PLANNER_OPTIONS = ('max_batch_size', 'max_batch_percent', 'canary_hosts', 'default_budget', 'budgets', 'az_max_down',
                   'exclude_hosts', 'reserve', 'destinations_per_move', 'our_disable_marker', 'campaign_id',
                   'unhealthy_instances')


def planner_options(params):
    options = {key: params[key] for key in PLANNER_OPTIONS if params.get(key) is not None}
    if params.get('hosts') is not None:
        if not params['hosts']:
            # an empty selection (a filter that came out empty) must not mean "every host"
            raise EscalatorError('no hosts selected: hosts is an empty list; name the hosts to upgrade, or leave '
                                 'hosts out to plan every compute host', code=E_INVALID_INPUT)
        options['include_hosts'] = list(params['hosts'])
    return options


def destinations_by_host(plan):
    """Per evacuated host, the union of its moves' destination preferences, in order."""
    result = {}
    for batch in plan.get('batches', []):
        for move in batch.get('moves', []):
            ordered = result.setdefault(move['from'], [])
            for dest in move['to']:
                if dest not in ordered:
                    ordered.append(dest)
    return result


def make_plan(conn, params, warn=None):
    """Collect, plan and check; returns the module result (without `changed`)."""
    options = planner_options(params)
    durations.phase_seconds(params.get('expected_phase_seconds'))      # bad phases and values fail before the cloud
    data = host_info.collect(conn, hosts=None, warn=warn)
    try:
        plan = plan_campaign(data['hosts'], data['server_groups'], options)
    except PlanInputError as exc:
        raise EscalatorError('invalid planning input: %s' % exc, code=E_INVALID_INPUT) from exc
    violations = check_plan(data['hosts'], data['server_groups'], options, plan) if plan['feasible'] else []
    if violations:
        raise EscalatorError('the planner produced a plan that breaks %d rule(s); refusing it: %s'
                             % (len(violations), '; '.join(violations[:5])), code=E_PLAN, violations=violations,
                             plan=plan)
    planned = sum(len(batch['hosts']) for batch in plan['batches'])
    if 0 < planned < (params.get('canary_hosts') or 0):
        # the planner clamps; a user who asked for more canaries than hosts would not see the whole campaign
        # become its canary batch
        raise EscalatorError('canary_hosts is %d, but the campaign upgrades only %d host(s): lower canary_hosts to '
                             'at most %d' % (params['canary_hosts'], planned, planned), code=E_INVALID_INPUT)
    known = params.get('inventory_hosts')
    unknown = [] if known is None else sorted(
        {name for batch in plan['batches'] for name in batch['hosts']} - set(known))
    if unknown:
        raise EscalatorError(
            'the plan upgrades %s, which the inventory does not know: name the inventory hosts as Nova names the '
            'compute services (openstack compute service list), or leave those hosts out with exclude_hosts'
            % ', '.join(unknown), code=E_INVALID_INPUT, unknown_hosts=unknown)
    expected = params.get('expected_fingerprint')
    if expected and expected != plan['fingerprint']:
        raise EscalatorError('the cloud changed since the plan with fingerprint %s was made (now %s): instances, '
                             'placements, groups or host states differ; review a new plan before running it'
                             % (expected, plan['fingerprint']), code=E_PLAN, fingerprint=plan['fingerprint'])
    # advice added after the fingerprint and the checker: the history of the campaigns of state_dir, else defaults
    samples = history.from_state_dir(params['state_dir'])[0] if params.get('state_dir') else None
    plan['expected'] = plan_expectations.section(plan, samples, params.get('expected_phase_seconds'))
    return dict(plan=plan, feasible=plan['feasible'], fingerprint=plan['fingerprint'],
                table=render_table(plan), violations=violations,
                batches=[batch['hosts'] for batch in plan['batches']], destinations=destinations_by_host(plan))


def _unusable_plan_file(path):
    """Why ``path`` cannot be the plan_file (None when it can)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return 'its directory %s does not exist (create it first)' % directory
    if os.path.isdir(path):
        return 'it is a directory (give a file name)'
    return None


def write_plan(path, plan):
    """Write the plan atomically (state.write_file_atomic); returns whether the file content changed."""
    problem = _unusable_plan_file(path)
    if problem:
        raise EscalatorError('plan_file %s cannot be written: %s' % (path, problem), code=E_INVALID_INPUT,
                             plan_file=path)
    text = plan_to_json(plan, indent=2) + '\n'
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path, encoding='utf-8') as handle:
            if handle.read() == text:
                return False
    try:
        state.write_file_atomic(path, text, mode=0o644)
    except OSError as exc:
        raise EscalatorError('plan_file %s cannot be written: %s' % (path, exc.strerror or exc), code=E_INVALID_INPUT,
                             plan_file=path) from exc
    return True


def run(module, conn):
    params = module.params
    result = make_plan(conn, params, warn=module.ansible.warn)
    if not result['feasible'] and params['fail_when_infeasible']:
        raise EscalatorError('no valid plan: %s' % ' '.join(result['plan']['reasons']), code=E_PLAN,
                             plan=result['plan'], table=result['table'], reasons=result['plan']['reasons'])
    changed = False
    if params.get('plan_file'):
        if module.check_mode:
            problem = _unusable_plan_file(params['plan_file'])
            if problem:
                raise EscalatorError('plan_file %s cannot be written: %s' % (params['plan_file'], problem),
                                     code=E_INVALID_INPUT, plan_file=params['plan_file'])
            changed = not os.path.exists(params['plan_file'])
        else:
            changed = write_plan(params['plan_file'], result['plan'])
    result['changed'] = changed
    return json.loads(json.dumps(result))


def main():
    OpenStackModule(
        argument_spec=dict(
            campaign_id=dict(type='str', required=True),
            hosts=dict(type='list', elements='str'),
            inventory_hosts=dict(type='list', elements='str'),
            exclude_hosts=dict(type='list', elements='str', default=[]),
            max_batch_size=dict(type='raw', default='auto'),
            max_batch_percent=dict(type='int', default=25),
            canary_hosts=dict(type='int', default=1),
            default_budget=dict(type='int', default=1),
            budgets=dict(type='dict', default={}),
            az_max_down=dict(type='int'),
            reserve=dict(type='raw', default=0),
            destinations_per_move=dict(type='int', default=3),
            our_disable_marker=dict(type='str', default='escalator:'),
            unhealthy_instances=dict(type='str', default='stop', choices=['stop', 'skip_host']),
            plan_file=dict(type='path'),
            expected_fingerprint=dict(type='str'),
            fail_when_infeasible=dict(type='bool', default=True),
            state_dir=dict(type='path'),
            expected_phase_seconds=dict(type='dict'),
        ),
    ).run(run)


if __name__ == '__main__':
    main()
