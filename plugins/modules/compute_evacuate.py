#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_evacuate
short_description: Move every instance off a compute host, live where possible, and prove the host is empty
version_added: 0.1.0
description:
  - Empties a nova-compute host, normally one that M(opnfv.escalator.compute_maintenance) has disabled, so that it
    can be upgraded with no instance on it.
  - B(Preflight, before anything moves.) For every instance the module works out how it will move (its server's
    C(escalator:action) metadata, then O(decisions), then O(status_policy)) and whether at least one destination
    exists for it - an enabled host whose nova-compute is up, other than O(host), that respects the instance's
    hard C(anti-affinity) / C(affinity) server groups (counting where the other members are and where the earlier
    planned moves go) and has the room in Placement.
    If any instance has none, or the policy forbids moving one, the module fails with E(E_NO_VALID_HOST) or
    E(E_POLICY) naming each instance and why, and B(nothing is moved).
  - B(The campaign plan.) Given the plan's O(moves) (each instance's destinations, as M(opnfv.escalator.campaign_plan)
    stores them), the preflight keeps every planned destination that still holds on the cloud as it is now (the
    checks above) and re-plans only the instances whose planned destinations all fail, or that the plan does not
    know; RV(replanned) and RV(ignored_moves) say which and why, and so does a warning for each.
  - B(The batch.) Given O(batch_hosts), the hosts that go into maintenance together with O(host), the preflight
    refuses with E(E_PLAN), before anything moves, when they hold more members of a server group than its budget
    (O(default_budget), O(budgets)) allows - a plan edited by hand, or instances that moved since the plan was made.
  - B(Moves.) Up to O(max_concurrent) migrations run at a time. Live migrations go to the planned destinations in
    order (the O(moves), else the O(destinations)), then to the scheduler (unless O(strict_destinations)). A
    migration counts as done only when BOTH the server's host changed AND its migration record says C(completed)
    (live) or C(confirmed) (cold; the module confirms the resize itself). A record that says C(completed) while
    the server still sits on O(host), and a server that goes to C(ERROR), are failures (E(E_MIGRATION_FAILED)),
    never ignored.
  - B(Failures.) On Nova's C(No valid host) or any failed instance, no new migration starts (unless O(keep_going));
    the running ones are watched to their end, so every server stays on a host, in its old status, or is listed
    with what happened to it. Failed results carry the same per-instance report as successful ones.
  - B(The end.) The host is listed again; anything left on it other than O(leave_alone) and skipped instances
    fails the task with E(E_HOST_NOT_EMPTY) (unless O(verify_empty=false)).
  - Idempotent. An empty host gives C(changed=false). A migration from O(host) still in progress from an
    interrupted earlier run is adopted and watched, and a cold migration from O(host) left in C(VERIFY_RESIZE) is
    confirmed.
author:
  - OPNFV Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
options:
  host:
    description:
      - Name of the compute host to empty (the nova-compute service's C(host) field).
    type: str
    required: true
  moves:
    description:
      - The campaign plan's moves of the instances of O(host), as M(opnfv.escalator.campaign_plan) stores them in
        C(plan.batches[].moves[]) - a list of C({instance, to}) with C(to) the destinations in order; the plan's
        other keys (C(name), C(from), C(mode)...) are accepted and not used.
      - Each instance goes to its first planned destination that still holds (up, enabled, not O(host), its server
        groups counting the moves placed before it, room in Placement), the next ones and then the scheduler being
        its fallbacks. An instance none of whose planned destinations holds, or that has no move (it came after
        the plan was made), is re-planned as without a plan (the plan's other destinations for this host first)
        and listed in RV(replanned). A move of an instance no longer on O(host) is listed in RV(ignored_moves).
      - A move's C(policy) (V(live), V(cold) or V(stop), the server's C(escalator:action) when the plan was made)
        applies when the server carries no C(escalator:action) now; the tag on the server wins, with a warning.
      - Without it the preflight places every instance itself, after O(destinations).
    type: list
    elements: dict
  destinations:
    description:
      - Preferred destination hosts, tried in this order (for example the hosts already upgraded in this campaign).
      - Those that cannot take an instance (down, disabled, full, group policy) are skipped for it. After them the
        scheduler chooses, unless O(strict_destinations).
      - The fallback of campaigns that hand over no O(moves); with O(moves), the hosts where re-planned instances
        go first (default the plan's destinations for O(host)).
    type: list
    elements: str
    default: []
  strict_destinations:
    description:
      - Only ever move instances to O(destinations) and their planned destinations (O(moves)); never let the
        scheduler pick another host.
    type: bool
    default: false
  batch_hosts:
    description:
      - The hosts that go into maintenance together with O(host) (the plan's batch; O(host) may be listed).
      - When given, the preflight counts the members of every server group with a budget on these hosts now and
        refuses with E(E_PLAN), before anything moves, when a group has more there than its budget allows.
    type: list
    elements: str
    default: []
  default_budget:
    description:
      - Budget of the hard anti-affinity groups without an entry in O(budgets) - the plan's C(options.default_budget).
        Required with a non-empty O(batch_hosts).
      - As in the planner, a budget B(b >= 1) allows B(b) members on the batch's hosts, less the members on hosts
        whose nova-compute is down; B(0) (VNFM switchover) allows one.
    type: int
  budgets:
    description:
      - Budgets by server group id or name (an id wins) - the plan's C(options.budgets). A group in it is checked
        whatever its policy.
    type: dict
  block_migration:
    description:
      - Block migration for live migrations. V(auto) lets Nova decide (block migration unless the disks are on
        shared storage); V(true) or V(false) force it.
    type: raw
    default: auto
  max_concurrent:
    description:
      - How many migrations may run at the same time.
    type: int
    default: 2
  migration_timeout:
    description:
      - Seconds one migration may take (from its request to done). What happens to a live migration over it is
        O(on_timeout); a cold migration over it is reported as C(timeout).
      - A server's C(escalator:migration_timeout) metadata (seconds, an integer >= 1) is its live migrations' own
        timeout instead; an invalid value fails the preflight with E(E_POLICY). See C(docs/modules.md).
    type: int
    default: 600
  timeout:
    description:
      - Seconds the whole evacuation may take. When it is over no new migration starts; in-flight live migrations
        are aborted only if O(on_timeout=abort), others are reported as C(timeout) and left to Nova.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two looks at the migrations in flight.
    type: float
    default: 2
  on_timeout:
    description:
      - What to do with a live migration that runs past O(migration_timeout).
      - V(abort) cancels it; the instance stays, running, on O(host) and is reported as C(timeout) (safe default).
      - V(force_complete) pauses the guest so that the migration can converge (a short freeze of the guest), then
        waits one more O(migration_timeout).
      - V(fail) leaves it running in Nova, reports it as C(timeout) and starts nothing new.
      - The default of every server without C(escalator:on_slow_migration) metadata. That key chooses per server
        V(force_complete), V(abort) or V(abort_then_cold) (abort, then a cold migration - a restart rather than a
        long freeze); an unknown value fails the preflight with E(E_POLICY). Each live move's
        RV(instances[].slow_migration) says which was used and what was sent. Force-complete means post-copy only
        where nova-compute has C([libvirt] live_migration_permit_post_copy = true); otherwise Nova pauses the guest
        until the copy converges. See C(docs/modules.md), compute_evacuate.
      - The overall O(timeout) stays this option's (an abort then is never followed by a cold migration).
    type: str
    choices: [abort, force_complete, fail]
    default: abort
  status_policy:
    description:
      - "How to move an instance in each status, as a dictionary status -> V(live), V(cold), V(skip) or V(fail).
        Merged over the defaults C({ACTIVE: live, PAUSED: live, SHUTOFF: cold, SUSPENDED: fail, ERROR: fail});
        every other status is V(fail)."
      - V(cold) is a cold migration followed by the confirmation of the resize; the status is kept (a running
        guest is restarted on its new host, an outage for it, unlike a live migration).
      - V(skip) leaves the instance on the host and exempts it from the emptiness check, like O(leave_alone);
        it is still listed in RV(remaining).
      - V(fail) fails the preflight, before anything moves, naming the instance. Nova can move SUSPENDED
        instances neither live nor cold, and instances in ERROR need a human, hence their default.
      - Nova live-migrates only ACTIVE and PAUSED, and cold-migrates only ACTIVE and SHUTOFF instances; other
        combinations are refused as invalid input.
    type: dict
  live_failure:
    description:
      - What to do when Nova cannot live-migrate an instance (a pre-check error such as incompatible CPUs or no
        shared storage, or a live migration that ended in error with the instance still running on O(host)),
        after every destination was tried.
      - V(fail) reports it and leaves the instance running where it is (the default, because V(cold) restarts
        the guest without its VNFM knowing).
      - V(cold) cold-migrates it instead.
    type: str
    choices: [cold, fail]
    default: fail
  decisions:
    description:
      - Per-instance choices of the instances' VNFMs (what M(opnfv.escalator.vnfm_notify) returns), as a dictionary
        instance id -> V(live), V(cold) or V(own_action); the Fenix names V(LIVE_MIGRATE), V(MIGRATE) and
        V(OWN_ACTION) are accepted too. They override O(status_policy) for those instances.
      - V(live) for a SHUTOFF instance moves it cold (nothing runs, so nothing is lost).
      - V(own_action) instances are moved (or switched over and deleted) by their VNFM; the module waits up to
        O(own_action_timeout) for them to leave the host, then applies O(own_action_fallback). Deleted ones are
        reported as C(deleted).
      - Entries for instances that are not on O(host) are ignored.
      - "A server's C(escalator:action) metadata wins over them and over O(status_policy): V(cold) is moved cold
        only, V(stop) is stopped cleanly, moved cold and left SHUTOFF, V(notify) is left to its VNFM as V(own_action)
        (then O(own_action_fallback)), V(skip) and unknown values fail the preflight with E(E_POLICY). A VNFM's
        V(own_action) for a V(live), V(cold) or V(stop) server still goes first; its fallback then follows the tag.
        O(leave_alone) wins over the tag. See C(docs/planner.md), Server policies."
    type: dict
  own_action_timeout:
    description:
      - Seconds to wait for the VNFM to move its V(own_action) instances.
    type: int
    default: 600
  own_action_fallback:
    description:
      - What to do with an V(own_action) instance still on the host after O(own_action_timeout). V(live) moves it
        (as O(status_policy) says for its status), V(fail) reports it as C(timeout).
    type: str
    choices: [live, fail]
    default: live
  leave_alone:
    description:
      - Ids of instances never touched, and exempt from the emptiness check.
    type: list
    elements: str
    default: []
  require_disabled:
    description:
      - Refuse (E(E_INVALID_INPUT)) to empty a host whose nova-compute is enabled, because the scheduler could put new
        instances on it meanwhile. Disable it first with M(opnfv.escalator.compute_maintenance).
    type: bool
    default: true
  verify_empty:
    description:
      - Fail with E(E_HOST_NOT_EMPTY) when instances other than O(leave_alone) and skipped ones are still on the
        host at the end (for example ones that arrived meanwhile).
    type: bool
    default: true
  keep_going:
    description:
      - After an instance fails, keep moving the others instead of stopping new migrations. The task still fails.
        A C(No valid host) from the scheduler always stops new migrations.
    type: bool
    default: false
  scheduler_retries:
    description:
      - How many times to ask again, O(scheduler_retry_delay) seconds later, when Nova's scheduler answers
        C(No valid host) for a move the preflight found valid (counted per instance).
      - Nova's scheduler can count an instance on the host it just left until nova-compute's next instance sync
        (C(scheduler_instance_sync_interval), 120 s by default, when C([filter_scheduler] track_instance_changes)
        is on, the default), so an anti-affinity partner that moved away a moment ago can still block its old host.
      - V(0) gives up at the first C(No valid host). The defaults cover Nova's default sync interval in short
        steps, so a move waits about as long as the scheduler's view is stale.
    type: int
    default: 8
  scheduler_retry_delay:
    description:
      - Seconds to wait before asking again after a C(No valid host) (see O(scheduler_retries)).
    type: int
    default: 15
notes:
  - Needs the admin role (migrations, all-projects listings, Placement).
  - The module always waits; O(wait=false) is ignored with a warning.
  - The preflight is a simulation of the scheduler's hard filters (compute status, server groups, Placement
    capacity); it does not know about other filters (aggregates, availability zones pinned at boot, PCI, NUMA),
    so Nova can still answer C(No valid host) at run time. That is handled as described above.
  - Check mode runs the preflight, reports the method, the candidate destinations and the planned destination of
    each instance, and moves nothing.
  - Instances of a host whose nova-compute is down cannot be migrated (E(E_SERVICE_DOWN)); evacuating (rebuilding)
    them is not done by this module.
seealso:
  - module: opnfv.escalator.compute_maintenance
  - module: opnfv.escalator.compute_host_info
'''

EXAMPLES = r'''
- name: Empty compute-3, preferring the hosts already upgraded
  opnfv.escalator.compute_evacuate:
    cloud: production
    host: compute-3
    destinations: "{{ upgraded_hosts }}"
    max_concurrent: 3
    migration_timeout: 900
    on_timeout: force_complete
  register: evacuation

- name: Follow the campaign plan's moves of compute-3, in its batch's budgets
  opnfv.escalator.compute_evacuate:
    cloud: production
    host: compute-3
    moves: "{{ plan.batches | map(attribute='moves') | flatten | selectattr('from', 'equalto', 'compute-3') }}"
    batch_hosts: [compute-3, compute-7]
    default_budget: "{{ plan.options.default_budget }}"
    budgets: "{{ plan.options.budgets }}"
  register: evacuation

- name: Honour the VNFMs' answers and leave one instance to its VNFM
  opnfv.escalator.compute_evacuate:
    cloud: production
    host: compute-3
    decisions: "{{ vnfm.decisions }}"
    own_action_timeout: 300
    leave_alone:
      - 6f1d9e8a-0c37-4b5e-9d1a-2f4b8a7c9e10

- name: What would move, and where
  opnfv.escalator.compute_evacuate:
    cloud: production
    host: compute-3
    status_policy:
      SUSPENDED: skip
  check_mode: true
'''

RETURN = r'''
host:
  description: The host that was emptied.
  returned: always
  type: str
  sample: compute-3
instances:
  description:
    - One entry per instance that was on the host (also in failed results).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Instance id.
      type: str
      sample: 0c2f7f4e-6a55-4d0f-9b0c-8f0e1f6a1c11
    name:
      description: Instance name.
      type: str
      sample: vnf-a-active
    project_id:
      description: Project of the instance.
      type: str
      sample: 7d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a
    from:
      description: The host it was on (O(host)).
      type: str
      sample: compute-3
    to:
      description:
        - The host it is on now when it moved; in check mode the planned destination; null otherwise.
      type: str
      sample: compute-1
    method:
      description:
        - V(live), V(cold) (also when a live migration fell back to cold), V(stop) (C(escalator:action=stop) -
          stopped, then moved cold), V(own_action), V(skipped), V(left_alone); null when the policy forbids moving it.
      type: str
      sample: live
    status_before:
      description: Nova status before.
      type: str
      sample: ACTIVE
    status_after:
      description: Nova status at the end.
      type: str
      sample: ACTIVE
    result:
      description:
        - V(moved), V(skipped), V(left_alone), V(deleted) (deleted meanwhile, for example by its VNFM),
          V(failed), V(timeout), V(not_started) (the evacuation stopped first) or, in check mode, V(planned).
        - Null when the preflight failed before deciding.
      type: str
      sample: moved
    seconds:
      description: Seconds from the first request for this instance to the end.
      type: float
      sample: 7.9
    migration_id:
      description: Id of Nova's migration record of the last attempt.
      type: int
      sample: 42
    error:
      description: What went wrong (or why the preflight found no destination), null when nothing did.
      type: str
      sample: null
    candidates:
      description: Destinations in the order they are tried; V(scheduler) means Nova's scheduler chooses.
      type: list
      elements: str
      sample: [compute-1, scheduler]
    plan:
      description:
        - With O(moves) - V(kept) (it follows its planned move) or V(replanned) (see RV(replanned)); null without
          O(moves) or when it is not moved by Escalator (left alone, skipped, adopted, refused by the policy).
      type: str
      sample: kept
    plan_note:
      description: Why it was re-planned, or which of its planned destinations were dropped and why; null otherwise.
      type: str
      sample: "planned destination dropped: compute-5: nova-compute is down"
    attempts:
      description:
        - Every request made for this instance, with C(method), C(destination), C(outcome) (V(moved),
          V(refused), V(error), V(failed), V(cancelled), V(timeout), V(no_move), V(lost), V(fallback),
          V(force_complete), V(adopted), V(retry_later), V(stopped)), C(error) and C(migration_id).
      type: list
      elements: dict
      sample: [{method: live, destination: compute-1, outcome: moved, error: null, migration_id: 42}]
    slow_migration:
      description:
        - For a live move (also one that fell back to cold), what its live migration gets when it does not converge
          and what happened; null for the others.
        - C(policy) (V(force_complete), V(abort), V(abort_then_cold), V(fail)) and C(policy_from) (V(server) - its
          C(escalator:on_slow_migration) - or V(option) - O(on_timeout)); C(timeout) (seconds) and C(timeout_from)
          (V(server) - C(escalator:migration_timeout) - or V(option) - O(migration_timeout)).
        - C(sent) - each force-complete or abort Escalator sent to Nova - C(action), C(at) (UTC), C(after) (seconds
          into the live migration), C(why) and C(migration_id); empty when it converged in time.
        - C(live_seconds) - how long its last live migration ran (null until one ran).
      type: dict
      sample: {policy: force_complete, policy_from: server, timeout: 120, timeout_from: server, live_seconds: 131.5,
               sent: [{action: force_complete, at: "2026-12-03T10:00:02.000Z", after: 120.0, migration_id: 42,
                       why: "escalator:on_slow_migration=force_complete, over escalator:migration_timeout=120"}]}
moved:
  description: Ids of the instances moved off the host.
  returned: always
  type: list
  elements: str
failed_instances:
  description:
    - Ids of the instances whose move failed or timed out (not C(failed), which is Ansible's own result key).
  returned: always
  type: list
  elements: str
remaining:
  description: Ids of the instances still on the host at the end (in check mode, all those on it now).
  returned: always
  type: list
  elements: str
confirmed:
  description: Ids of the instances whose cold migration from the host, left unconfirmed by an earlier run, was
    confirmed (would be, in check mode).
  returned: success
  type: list
  elements: str
replanned:
  description:
    - The instances the preflight re-planned because none of their planned destinations holds now, or because the
      plan has no move for them, with C(instance), C(name), C(planned) (the plan's destinations) and C(reason).
  returned: success
  type: list
  elements: dict
  sample: [{instance: 0c2f7f4e-6a55-4d0f-9b0c-8f0e1f6a1c11, name: vnf-a-1, planned: [compute-5],
            reason: "the planned destination no longer holds: compute-5: nova-compute is down"}]
ignored_moves:
  description: The plan's moves of instances no longer on O(host), with C(instance) and C(reason).
  returned: success
  type: list
  elements: dict
  sample: [{instance: 6f1d9e8a-0c37-4b5e-9d1a-2f4b8a7c9e10, reason: "no longer on compute-3 (now on compute-1)"}]
budget_violations:
  description: The server groups the batch (O(batch_hosts)) holds more members of than their budget allows.
  returned: when the preflight failed with E(E_PLAN)
  type: list
  elements: str
duration:
  description: Seconds the whole task took.
  returned: always
  type: float
  sample: 63.2
stuck:
  description: Ids of the instances for which the preflight found no destination or the policy forbids moving.
  returned: when the preflight failed with E(E_NO_VALID_HOST) or E(E_POLICY)
  type: list
  elements: str
error_code:
  description: Escalator's error code (E_NO_VALID_HOST, E_POLICY, E_MIGRATION_FAILED, E_MIGRATION_TIMEOUT,
    E_HOST_NOT_EMPTY, E_SERVICE_DOWN, E_PLAN, E_INVALID_INPUT, E_HOST_NOT_FOUND, E_FORBIDDEN, ...).
  returned: failure
  type: str
  sample: E_NO_VALID_HOST
'''

from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.run import evacuate
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule

OPTIONS = ('moves', 'destinations', 'strict_destinations', 'block_migration', 'max_concurrent', 'migration_timeout', 'timeout',
           'poll_interval', 'on_timeout', 'status_policy', 'live_failure', 'decisions', 'own_action_timeout',
           'own_action_fallback', 'leave_alone', 'require_disabled', 'verify_empty', 'keep_going', 'scheduler_retries',
           'scheduler_retry_delay', 'batch_hosts', 'default_budget', 'budgets')


def _diff(host, result, check_mode):
    before = [item['id'] for item in result['instances']]
    if check_mode:
        after = [item['id'] for item in result['instances'] if item['result'] in ('left_alone', 'skipped')]
    else:
        after = list(result['remaining'])
    return dict(before=dict(host=host, instances=before), after=dict(host=host, instances=after))


def run(module, conn):
    params = module.params
    result = evacuate(conn, params['host'], {key: params[key] for key in OPTIONS},
                      check_mode=module.check_mode)
    if not params['wait']:
        result.setdefault('warnings', []).append(
            'compute_evacuate always waits for the migrations it starts; wait=false is ignored')
    result['diff'] = _diff(params['host'], result, module.check_mode)
    return result


def main():
    OpenStackModule(argument_spec=dict(
        host=dict(type='str', required=True),
        moves=dict(type='list', elements='dict'),
        destinations=dict(type='list', elements='str', default=[]),
        strict_destinations=dict(type='bool', default=False),
        block_migration=dict(type='raw', default='auto'),
        max_concurrent=dict(type='int', default=2),
        migration_timeout=dict(type='int', default=600),
        timeout=dict(type='int', default=3600),
        poll_interval=dict(type='float', default=2),
        on_timeout=dict(type='str', default='abort', choices=['abort', 'force_complete', 'fail']),
        status_policy=dict(type='dict'),
        live_failure=dict(type='str', default='fail', choices=['cold', 'fail']),
        decisions=dict(type='dict'),
        own_action_timeout=dict(type='int', default=600),
        own_action_fallback=dict(type='str', default='live', choices=['live', 'fail']),
        leave_alone=dict(type='list', elements='str', default=[]),
        require_disabled=dict(type='bool', default=True),
        verify_empty=dict(type='bool', default=True),
        keep_going=dict(type='bool', default=False),
        scheduler_retries=dict(type='int', default=8),
        scheduler_retry_delay=dict(type='int', default=15),
        batch_hosts=dict(type='list', elements='str', default=[]),
        default_budget=dict(type='int'),
        budgets=dict(type='dict'),
    )).run(run)


if __name__ == '__main__':
    main()
