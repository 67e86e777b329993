#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: campaign_lock
short_description: Take or release the cloud's campaign lock, so that one campaign runs at a time
version_added: 0.1.0
description:
  - Makes sure that two Escalator campaigns never run on the same cloud at once, whatever controller
    or AWX node runs them - the lock is held in the cloud itself.
  - The lock is a Nova host aggregate named O(name) with no hosts (so it has no effect on
    scheduling); Nova refuses a second aggregate of the same name, which makes taking the lock
    atomic. Its metadata names the holder - C(campaign_id), C(holder) (user@controller),
    C(started) (UTC) and C(run_id).
  - O(state=present) takes the lock. It is idempotent for the same campaign - a resumed campaign
    takes its own lock again (the holder and run are updated). When another campaign holds it, the
    task fails with C(E_LOCK) and a message naming that campaign, its holder and since when.
  - O(state=absent) releases the lock if this campaign holds it; another campaign's lock is left
    alone (C(E_LOCK)) unless O(force=true).
  - Needs the admin role (or a policy that allows managing host aggregates).
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.openstack
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken, updated or released; changes nothing.
  diff_mode:
    support: none
    description: The lock is reported in RV(lock) and RV(previous).
options:
  campaign_id:
    description:
      - The campaign that takes or releases the lock.
    type: str
    required: true
  state:
    description:
      - V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - The run of the campaign, recorded in the lock's metadata (see M(opnfv.escalator.campaign_state)).
    type: str
  holder:
    description:
      - Who holds the lock, recorded in the lock's metadata; defaults to C(user@host) of the controller
        that runs the module. AWX users may put the job id here.
    type: str
  name:
    description:
      - The name of the lock aggregate. Every campaign on a cloud must use the same name.
    type: str
    default: escalator-campaign-lock
  force:
    description:
      - With O(state=present), take the lock over from another campaign; with O(state=absent),
        release another campaign's lock.
      - Only for a lock left behind by a campaign that is dead (its playbook killed, its controller
        gone). Warns and returns RV(forced=true). It never overrides the run check of O(state_dir).
    type: bool
    default: false
  state_dir:
    description:
      - The directory of the campaigns' state (see M(opnfv.escalator.campaign_state)). When given,
        O(state=present) also refuses (C(E_LOCK)) while another run of the same campaign is still
        going on this controller - a job launched twice, or the workers of a killed run still
        finishing a task - since the cloud's lock cannot tell that run from a killed one that is
        being resumed. With O(state=absent), the run guard of this run (below) is stopped.
      - The run is held by the run lock of the campaign (C(<state_dir>/<campaign_id>/.run.lock)) - by the
        C(opnfv.escalator.campaign_status) callback when it is enabled, else by a small detached guard
        process that this module starts and that keeps the lock while the C(ansible-playbook) running
        this task (or a process it started) lives. So the check holds for a plain C(ansible-playbook)
        with any C(ansible.cfg), the C(escalator) CLI, the Python API and AWX. The module must run on the
        controller itself (the implicit C(localhost)); run outside C(ansible-playbook) (C(ansible -m)),
        nothing holds the run.
      - Whether or not it is given, O(state=present) records this controller, the C(ansible-playbook)
        process and its start time in the lock, and refuses while another run of the same campaign
        recorded there still lives on this controller (e.g. with another state directory). From another
        controller that run cannot be checked and the lock is taken as a resume (as AWX does from a new
        pod), with a warning. The same directory is read to say, when another campaign holds the lock,
        whether it runs and why it stopped.
    type: path
notes:
  - Failures carry an C(error_code) - C(E_LOCK) (held by another campaign - the message says whether a
    run of it is live, since when and why it stopped, and the commands that resume or abandon it -, another
    run of this campaign still going, or O(name) is a real aggregate with hosts), C(E_FORBIDDEN) (not admin), C(E_AUTH), C(E_CONNECT), C(E_API),
    C(E_INVALID_INPUT).
  - The options O(wait) and O(timeout) are not used - a lock held by another campaign fails at once.
  - "To see the lock by hand: C(openstack aggregate show escalator-campaign-lock)."
seealso:
  - module: opnfv.escalator.campaign_state
'''

EXAMPLES = r'''
- name: Take the cloud's campaign lock (fails with E_LOCK if another campaign holds it)
  opnfv.escalator.campaign_lock:
    cloud: mycloud
    campaign_id: upgrade-2026-01
    run_id: "{{ escalator_run_id }}"

- name: Release it at the end of the campaign
  opnfv.escalator.campaign_lock:
    cloud: mycloud
    campaign_id: upgrade-2026-01
    state: absent

- name: Break the lock of a campaign whose controller died (warns loudly)
  opnfv.escalator.campaign_lock:
    cloud: mycloud
    campaign_id: upgrade-2025-12
    state: absent
    force: true
'''

RETURN = r'''
msg:
  description: What was done, in one sentence.
  returned: always
  type: str
  sample: "campaign lock escalator-campaign-lock taken by campaign upgrade-2026-01"
action:
  description: V(acquire) (created), V(reacquire) (ours already, holder or run updated), V(takeover) (forced over
    another campaign's), V(release), or null when nothing had to change. In check mode, what would be done.
  returned: always
  type: str
  sample: acquire
forced:
  description: Whether O(force) overrode another campaign's lock.
  returned: always
  type: bool
  sample: false
lock:
  description: The lock after the call (in check mode, as it would be); null when there is none.
  returned: always
  type: dict
  contains:
    name:
      description: Aggregate name.
      type: str
      sample: escalator-campaign-lock
    id:
      description: Aggregate id (null in check mode before it exists).
      type: int
      sample: 7
    hosts:
      description: Hosts of the aggregate (always empty for a lock).
      type: list
      elements: str
      sample: []
    campaign_id:
      description: The campaign that holds the lock.
      type: str
      sample: upgrade-2026-01
    holder:
      description: user@controller (or what O(holder) said).
      type: str
      sample: stack@deploy1.example.com
    started:
      description: When the lock was taken, UTC.
      type: str
      sample: "2026-01-01T10:00:00Z"
    run_id:
      description: The run that took or last re-took it.
      type: str
      sample: 20260101T100000Z-3f9a1c
    controller:
      description: The host name of the controller whose C(ansible-playbook) took or last re-took it (null when
        not taken from C(ansible-playbook)).
      type: str
      sample: deploy1
    pid:
      description: That C(ansible-playbook) process.
      type: str
      sample: "4242"
    pid_start:
      description: That process's start time (clock ticks since boot, from C(/proc/<pid>/stat)).
      type: str
      sample: "8254311"
previous:
  description: The lock before the call (same fields as RV(lock)), or null when there was none.
  returned: always
  type: dict
run:
  description: The run of this campaign that holds its run lock on this controller (see O(state_dir)) -
    this very run when the callback is enabled; null when nobody holds it or O(state_dir) is not given.
  returned: always
  type: dict
  contains:
    pid:
      description: The process id of the C(ansible-playbook) whose run holds it.
      type: int
    guard_pid:
      description: The guard process holding it for that run (null when the callback holds it).
      type: int
    host:
      description: The controller's host name.
      type: str
    started:
      description: When it took the run lock (UTC).
      type: str
    ours:
      description: Whether it is the run this task is part of.
      type: bool
    alive:
      description: Whether that process still exists (when not, its workers still hold the lock).
      type: bool
'''

import socket

from ansible_collections.opnfv.escalator.plugins.module_utils import run_guard
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_LOCK, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.lock import (
    DEFAULT_LOCK_NAME, acquire, holder_text, release,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore, StateError


def summary(result, name, check_mode):
    """One sentence for msg."""
    would = 'would be ' if check_mode else ''
    lock = result['lock'] or result['previous'] or {}
    campaign = lock.get('campaign_id')
    action = result['action']
    if action == 'acquire':
        return 'campaign lock %s %staken by campaign %s' % (name, would, campaign)
    if action == 'reacquire':
        return 'campaign lock %s already held by campaign %s; holder/run %supdated' % (name, campaign, would)
    if action == 'takeover':
        return 'campaign lock %s %staken over (FORCED) from %s' % (name, would, holder_text(result['previous']))
    if action == 'release':
        text = 'campaign lock %s %sreleased' % (name, would)
        return text + (' (FORCED, it was held by %s)' % holder_text(result['previous']) if result['forced'] else '')
    if result['lock']:
        return 'campaign lock %s already held by campaign %s' % (name, campaign)
    return 'campaign lock %s is not held' % name


def check_no_other_run(campaign_id, state_dir, proc='/proc'):
    """The run holding the campaign's run lock (None when nobody does); refuses another live run (E_LOCK)."""
    info = run_guard.holder(CampaignStore(campaign_id, state_dir).path, proc=proc)
    if info is not None and not info['ours']:
        raise EscalatorError(run_guard.describe(campaign_id, info), code=E_LOCK, run=info)
    return info


def hold_the_run(campaign_id, state_dir, run_id, owner, proc='/proc'):
    """Make sure the campaign's run lock is held for this run: by the callback already (``ours``), else by a
    guard started for ``owner`` (the ansible-playbook of this run). Refuses another live run (E_LOCK), including
    one that took the lock between our look and our guard's. Returns the holder (None without ``owner``)."""
    info = check_no_other_run(campaign_id, state_dir, proc)
    if info is not None or owner is None:
        return info
    path = CampaignStore(campaign_id, state_dir).path
    run_guard.start_guard(path, owner, run_id=run_id, proc=proc)
    # taken or refused (another run took it between our look and our guard's), whoever holds it now decides
    info = run_guard.holder(path, proc=proc)
    if info is None:
        raise EscalatorError('the run lock of campaign %s in %s could not be taken (its guard process did not start '
                             'or answer); retry' % (campaign_id, path), code=E_LOCK)
    if info['pid'] == owner['pid'] and str(info.get('pid_start')) == str(owner['start']):
        info['ours'] = True
    if not info['ours']:
        raise EscalatorError(run_guard.describe(campaign_id, info), code=E_LOCK, run=info)
    return info


def inspector(state_dir, proc='/proc'):
    """What campaign_lock knows on this controller about the campaign that holds the lock: its status (when
    its state is in ``state_dir``) and whether its run lock is held."""
    def inspect(lock):
        if not state_dir:
            return {}
        try:
            store = CampaignStore(lock.get('campaign_id'), state_dir)
            return dict(status=store.read_status(), status_path=store.path,
                        live=run_guard.holder(store.path, proc=proc) is not None)
        except (StateError, EscalatorError, OSError, ValueError):
            return {}
    return inspect


def run(module, conn):
    params = module.params
    running = None
    path = CampaignStore(params['campaign_id'], params['state_dir']).path if params['state_dir'] else None
    if params['state'] == 'present':
        owner = run_guard.find_playbook()
        process = dict(controller=socket.gethostname(), pid=owner['pid'], pid_start=owner['start']) if owner else None
        if params['state_dir']:
            if module.check_mode:
                running = check_no_other_run(params['campaign_id'], params['state_dir'])
            else:
                running = hold_the_run(params['campaign_id'], params['state_dir'], params['run_id'], owner)
        result = acquire(conn, params['campaign_id'], run_id=params['run_id'], holder=params['holder'],
                         name=params['name'], force=params['force'], check_mode=module.check_mode,
                         warn=module.ansible.warn, process=process, alive=run_guard.process_alive,
                         inspect=inspector(params['state_dir']))
    else:
        result = release(conn, params['campaign_id'], name=params['name'], force=params['force'],
                         check_mode=module.check_mode, warn=module.ansible.warn)
        if path and not module.check_mode:
            run_guard.stop_guard(path)
    result['msg'] = summary(result, params['name'], module.check_mode)
    result['run'] = running
    return result


def main():
    OpenStackModule(argument_spec=dict(
        campaign_id=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        run_id=dict(type='str'),
        holder=dict(type='str'),
        name=dict(type='str', default=DEFAULT_LOCK_NAME),
        force=dict(type='bool', default=False),
        state_dir=dict(type='path'),
    )).run(run)


if __name__ == '__main__':
    main()
