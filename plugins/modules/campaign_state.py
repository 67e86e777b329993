#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: campaign_state
short_description: Record a campaign's progress in its durable status table and event log
version_added: 0.1.0
description:
  - Records what a campaign does in the campaign's state directory C(<state_dir>/<campaign_id>/) -
    an append-only event log (C(events.jsonl)), the status table of the campaign, its batches and
    its hosts (C(status.json), replaced atomically), and the plan it follows (C(plan.json)).
  - The host states follow a state machine (V(pending), V(draining), V(upgrading), V(verifying),
    V(done), V(failed), V(rolled_back), V(skipped)) - a transition it does not allow fails with
    C(E_STATE), so a resumed run can trust the record, for example a V(done) host is never drained
    again unless O(reset=true).
  - A host entering V(failed) or V(rolled_back) raises an alert - an C(alert) event, and a POST of
    that event to O(webhook_url) when given.
  - Several processes may record at once (forks of a playbook, the callback plugin
    C(opnfv.escalator.campaign_status)) - every change is made under a lock of the campaign directory.
  - "Run it on the controller (C(delegate_to: localhost)), where the state directory lives."
  - The file formats are described in the collection's C(docs/status.md).
author:
  - Escalator developers (@opnfv)
extends_documentation_fragment:
  - opnfv.escalator.state_dir
attributes:
  check_mode:
    support: full
    description: Returns the status and the events as they would be recorded; writes nothing and sends no webhook.
  diff_mode:
    support: full
    description: With O(action=host), the host's record before and after.
options:
  campaign_id:
    description:
      - The campaign. 1 to 64 letters, digits, V(.), V(_) or V(-), starting with a letter or digit; it
        names the campaign's directory.
    type: str
    required: true
  run_id:
    description:
      - The run (one execution of the campaign's playbook) the record belongs to.
      - With O(action=start), a new run id is made up (UTC time and a random suffix) when omitted,
        and every start is a new run; starting again with the run id of the running run and the
        same plan changes nothing.
      - With the other actions, defaults to the run recorded by the last start.
    type: str
  action:
    description:
      - V(start) creates the campaign (its batches and hosts from O(plan), all V(pending)), or resumes
        it - a new run is added, hosts already V(done) or V(skipped) keep their state.
      - V(host) changes a host's O(state), O(phase), O(result), O(error_code) and O(msg).
      - V(batch) marks batch O(batch) V(running) (started), V(done) or V(failed) (finished), or
        V(skipped) (its pending hosts are skipped). A batch's state is derived from its hosts.
      - V(finish) closes the run - the campaign becomes V(done), V(failed) or V(incomplete)
        (from its hosts, or O(state)).
      - V(event) appends a free event (O(object_type), O(object_id), O(event_action), O(result)).
      - V(alert) appends an alert event and POSTs it to O(webhook_url), for example when a
        disruption budget would be exceeded.
      - V(commit) records a V(done) campaign V(committed) - its rollback window closed (playbook
        C(commit_campaign.yml), once every host is checked and the backups are deleted). Any other state is
        refused (C(E_STATE), saying what to do first); in check mode, only that check. A committed campaign is
        never changed again - every other action is refused.
    type: str
    required: true
    choices: [start, host, batch, finish, event, alert, commit]
  plan:
    description:
      - With O(action=start), the plan - the output of M(opnfv.escalator.campaign_plan) (C(batches)
        with C(batch), C(hosts), C(canary); C(skipped) with C(host), C(reason)), or simply
        C(batches) as a list of lists of host names.
      - An infeasible plan is refused (C(E_PLAN)). When resuming with a different plan, the batches
        are replaced; hosts keep their records.
    type: dict
  host:
    description:
      - With O(action=host), the host (the C(nova-compute) host name). A host unknown to the campaign
        is added.
      - With O(action=event) or O(action=alert), a shortcut for O(object_type=host) and O(object_id).
    type: str
  batch:
    description:
      - With O(action=batch), the batch number (as in the plan, the canary batch is V(1)).
    type: int
  state:
    description:
      - With O(action=host), the host's new state - V(pending), V(draining), V(upgrading),
        V(verifying), V(done), V(failed), V(rolled_back) or V(skipped). Omitted, the state is kept.
      - With O(action=batch), V(running), V(done), V(failed), V(skipped) or V(pending).
      - With O(action=finish), V(done), V(failed) or V(incomplete) instead of the state derived
        from the hosts; V(rolled_back) when every host the campaign upgraded was rolled back
        (C(rollback_compute.yml) with C(escalator_rollback_campaign)).
    type: str
    choices: [pending, draining, upgrading, verifying, done, failed, rolled_back, skipped, running, incomplete]
  phase:
    description:
      - With O(action=host), the step the host is at. Omitted, the phase is kept.
    type: str
    choices: [precheck, maintenance, notify, evacuate, backup, upgrade, verify, enable, notify_complete, rollback]
  result:
    description:
      - The result of the recorded step.
      - With O(action=host), defaults from the state - V(started) for V(draining), V(upgrading),
        V(verifying); V(ok) for V(done) and V(pending); V(failed) for V(failed) and V(rolled_back);
        V(skipped) for V(skipped).
      - With O(action=event), defaults to V(ok).
    type: str
    choices: [ok, changed, failed, skipped, started]
  error_code:
    description:
      - The error code (C(E_...)) of a failure, as returned by Escalator's modules in C(error_code).
      - A V(rolled_back) recorded after V(failed) keeps the failure's code and message when none is given.
    type: str
  msg:
    description:
      - A sentence for the record (what failed, why a host is skipped...), the C(message) of the event and of the
        host's record. At most 2000 characters are kept.
      - (Ansible reserves the option name C(message).)
    type: str
  data:
    description:
      - Extra structured data for the event's C(data) field.
    type: dict
  reset:
    description:
      - With O(action=host), allow any transition, for example send a V(done) host through the
        campaign again. Recorded as a C(reset) event.
    type: bool
    default: false
  object_type:
    description:
      - With O(action=event) or O(action=alert), the kind of object the event is about.
    type: str
    choices: [campaign, batch, host, instance, vnfm]
    default: campaign
  object_id:
    description:
      - With O(action=event) or O(action=alert), the object's id (host name, instance UUID, batch
        number, VNFM name). Defaults to the campaign id for O(object_type=campaign).
    type: str
  event_action:
    description:
      - With O(action=event), the event's C(action) (a short name such as V(vnfm_reply)).
    type: str
  kind:
    description:
      - With O(action=alert), what the alert is about, for example V(budget), V(host_failed), V(rollback).
    type: str
    default: other
  severity:
    description:
      - With O(action=alert), how bad it is.
    type: str
    choices: [critical, warning, info]
    default: warning
  webhook_url:
    description:
      - An C(http) or C(https) URL to which every alert this call raises is POSTed as JSON (the event).
      - A webhook that fails or does not answer is recorded as a C(webhook) event; the task does not fail.
      - Not stored anywhere (such URLs often carry a token).
    type: str
  webhook_timeout:
    description:
      - Seconds to wait for the webhook.
    type: int
    default: 10
  webhook_validate_certs:
    description:
      - Verify the webhook's TLS certificate (against the system CAs).
    type: bool
    default: true
notes:
  - Failures carry an C(error_code) - C(E_STATE) (a transition the state machine refuses, the campaign
    was not started, an unreadable state directory), C(E_INVALID_INPUT), C(E_PLAN).
seealso:
  - module: opnfv.escalator.campaign_state_info
  - module: opnfv.escalator.campaign_lock
  - module: opnfv.escalator.campaign_plan
'''

EXAMPLES = r'''
- name: Start (or resume) the campaign with its plan
  opnfv.escalator.campaign_state:
    campaign_id: upgrade-2026-01
    action: start
    plan: "{{ escalator_plan.plan }}"
  delegate_to: localhost
  register: escalator_started

- name: Record that compute1 is being evacuated
  opnfv.escalator.campaign_state:
    campaign_id: upgrade-2026-01
    action: host
    host: compute1
    state: draining
    phase: evacuate
  delegate_to: localhost

- name: Record a failure (raises an alert, POSTed to the webhook)
  opnfv.escalator.campaign_state:
    campaign_id: upgrade-2026-01
    action: host
    host: compute1
    state: failed
    error_code: "{{ ansible_failed_result.error_code | default('E_TASK') }}"
    msg: "{{ ansible_failed_result.msg | default('failed') }}"
    webhook_url: https://alerts.example.com/hooks/escalator
  delegate_to: localhost

- name: Warn that a disruption budget would be exceeded
  opnfv.escalator.campaign_state:
    campaign_id: upgrade-2026-01
    action: alert
    kind: budget
    severity: critical
    object_type: batch
    object_id: "3"
    msg: group vnf-a would lose 2 members at once, budget 1
  delegate_to: localhost

- name: Close the run and show the table
  opnfv.escalator.campaign_state:
    campaign_id: upgrade-2026-01
    action: finish
  delegate_to: localhost
  register: escalator_final

- name: Show it
  ansible.builtin.debug:
    msg: "{{ escalator_final.table.splitlines() }}"
'''

RETURN = r'''
msg:
  description: What was recorded, in one sentence.
  returned: always
  type: str
  sample: "compute1: draining (evacuate)"
campaign_id:
  description: The campaign.
  returned: always
  type: str
  sample: upgrade-2026-01
run_id:
  description: The run the record belongs to (made up by O(action=start) when not given).
  returned: always
  type: str
  sample: 20260101T100000Z-3f9a1c
path:
  description: The campaign's state directory.
  returned: always
  type: str
  sample: /home/stack/.escalator/campaigns/upgrade-2026-01
status:
  description:
    - The campaign's status after the call (in check mode, as it would be); the format is
      C(escalator-status/1), described in C(docs/status.md). Null when the campaign was never
      started (an event or alert recorded before the start).
  returned: always
  type: dict
  contains:
    format:
      description: V(escalator-status/1).
      type: str
    campaign:
      description: id, state (V(running), V(done), V(failed), V(incomplete)), started, updated, finished, run, runs,
        plan_fingerprint, message, alerts.
      type: dict
    batches:
      description: The batches in order - index, hosts, canary, state, started, finished.
      type: list
      elements: dict
    hosts:
      description: Per host - state, phase, batch, result, error_code, message, started, finished, updated, run, history.
      type: dict
table:
  description: The status as a fixed-width table, one row per host grouped by batch, and a summary line.
  returned: when the campaign exists
  type: str
  sample: |-
    Campaign upgrade-2026-01: running (run 20260101T100000Z-3f9a1c, 1 run) started 2026-01-01T10:00:00.000Z, duration 0:12:30
    BATCH      HOST      STATE      PHASE     RESULT   ERROR  DURATION  MESSAGE
    ---------  --------  ---------  --------  -------  -----  --------  -------
    1* done    compute1  done       notify_complete  ok  -    0:05:10
summary:
  description: Counts per host state (C(states)), C(done), C(failed) (failed or rolled back), C(failed_hosts),
    C(active_hosts), C(batches), C(batches_done), C(alerts), C(duration_s) and the campaign's state.
  returned: when the campaign exists
  type: dict
  sample: {"state": "running", "hosts": 4, "done": 1, "failed": 0, "states": {"done": 1, "pending": 3}}
events:
  description: The events appended by this call (in check mode, that would be), in the events.jsonl format.
  returned: always
  type: list
  elements: dict
  sample: [{"ts": "2026-01-01T10:00:00.123Z", "campaign": "upgrade-2026-01", "run": "20260101T100000Z-3f9a1c",
            "object_type": "host", "object_id": "compute1", "action": "evacuate", "result": "started",
            "error_code": null, "message": null, "data": {"state": "draining", "previous_state": "draining",
            "phase": "evacuate", "previous_phase": "maintenance", "batch": 1}}]
alerts:
  description: The alert events raised by this call.
  returned: always
  type: list
  elements: dict
webhook_errors:
  description: Why POSTing an alert to O(webhook_url) failed, one sentence per failure (the URL's path is not shown).
  returned: always
  type: list
  elements: str
host:
  description: The host's record after the call.
  returned: when O(action=host)
  type: dict
  sample: {"state": "draining", "phase": "evacuate", "batch": 1, "result": "started", "error_code": null}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, EscalatorError, exit_module)
from ansible_collections.opnfv.escalator.plugins.module_utils.state import (
    HOST_STATES, INCOMPLETE, OBJECT_TYPES, PHASES, RESULTS, RUNNING, SEVERITIES, WEBHOOK_TIMEOUT, CampaignStore,
    render_table, summary,
)

ACTIONS = ('start', 'host', 'batch', 'finish', 'event', 'alert', 'commit')
HOST_RECORD_KEYS = ('state', 'phase', 'batch', 'result', 'error_code', 'message')


def _require(params, action, *names):
    missing = [name for name in names if params.get(name) is None]
    if missing:
        raise EscalatorError('action=%s needs %s' % (action, ', '.join(missing)), code=E_INVALID_INPUT)


def _object(params):
    if params['host']:
        return 'host', params['host']
    return params['object_type'], params['object_id']


def record(store, params, check_mode):
    """Do the action; returns the store's answer (changed, status, events, run_id, alerts...)."""
    action = params['action']
    webhook = dict(url=params['webhook_url'], timeout=params['webhook_timeout'],
                   validate_certs=params['webhook_validate_certs'])
    if action == 'start':
        return store.start(run_id=params['run_id'], plan=params['plan'], check_mode=check_mode)
    if action == 'host':
        _require(params, action, 'host')
        return store.update_host(params['host'], state=params['state'], phase=params['phase'],
                                 result=params['result'], error_code=params['error_code'], message=params['msg'],
                                 data=params['data'], reset=params['reset'], run_id=params['run_id'],
                                 check_mode=check_mode, webhook=webhook)
    if action == 'batch':
        _require(params, action, 'batch')
        return store.update_batch(params['batch'], state=params['state'], message=params['msg'],
                                  data=params['data'], run_id=params['run_id'], check_mode=check_mode)
    if action == 'finish':
        return store.finish(state=params['state'], message=params['msg'], data=params['data'],
                            run_id=params['run_id'], check_mode=check_mode)
    if action == 'commit':
        return store.commit(message=params['msg'], data=params['data'], run_id=params['run_id'],
                            check_mode=check_mode)
    object_type, object_id = _object(params)
    if action == 'event':
        _require(params, action, 'event_action')
        return store.record_event(object_type, object_id, params['event_action'],
                                  result=params['result'] or 'ok', error_code=params['error_code'],
                                  message=params['msg'], data=params['data'], run_id=params['run_id'],
                                  check_mode=check_mode)
    _require(params, action, 'msg')
    return store.alert(params['kind'], params['msg'], object_type=object_type, object_id=object_id,
                       error_code=params['error_code'], data=params['data'], severity=params['severity'],
                       run_id=params['run_id'], check_mode=check_mode, webhook=webhook)


def describe(params, answer, check_mode):
    """One sentence for msg."""
    would = 'would record' if check_mode else 'recorded'
    if not answer['changed']:
        return 'nothing to record: already so'
    action = params['action']
    if action == 'host':
        after = answer['after']
        return '%s %s: %s (%s)%s' % (would, params['host'], after['state'], after['phase'] or '-',
                                     (' %s' % after['error_code']) if after['error_code'] else '')
    if action == 'start':
        return '%s the start of run %s of campaign %s' % (would, answer['run_id'], params['campaign_id'])
    if action == 'finish':
        return '%s the end of campaign %s: %s' % (would, params['campaign_id'], answer['status']['campaign']['state'])
    if action == 'commit':
        return '%s campaign %s committed' % (would, params['campaign_id'])
    if action == 'batch':
        return '%s batch %s: %s' % (would, params['batch'], params['state'] or 'event')
    return '%s %s: %s' % (would, action, answer['events'][0]['message'] or answer['events'][0]['action'])


def run(module):
    params = module.params
    if params['action'] not in ACTIONS:  # pragma: no cover - choices guard it
        raise EscalatorError('unknown action %s' % params['action'], code=E_INVALID_INPUT)
    store = CampaignStore(params['campaign_id'], params['state_dir'])
    answer = record(store, params, module.check_mode)
    status = answer['status']
    result = dict(
        changed=answer['changed'], campaign_id=store.campaign_id, run_id=answer['run_id'], path=store.path,
        status=status, events=answer['events'], alerts=answer['alerts'],
        webhook_errors=[event['message'] for event in answer['events'] if event['action'] == 'webhook'],
        msg=describe(params, answer, module.check_mode))
    if status is not None:
        result['table'] = render_table(status)
        result['summary'] = summary(status)
    if params['action'] == 'host':
        result['host'] = {key: value for key, value in (answer['after'] or {}).items() if key != 'history'}
        before = {key: (answer['before'] or {}).get(key) for key in HOST_RECORD_KEYS}
        result['diff'] = dict(before=before, after={key: answer['after'].get(key) for key in HOST_RECORD_KEYS})
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            campaign_id=dict(type='str', required=True),
            state_dir=dict(type='path'),
            run_id=dict(type='str'),
            action=dict(type='str', required=True, choices=list(ACTIONS)),
            plan=dict(type='dict'),
            host=dict(type='str'),
            batch=dict(type='int'),
            # the state store's vocabulary (module_utils/state/vocabulary.py), in the order DOCUMENTATION lists it
            state=dict(type='str', choices=list(HOST_STATES) + [RUNNING, INCOMPLETE]),
            phase=dict(type='str', choices=list(PHASES)),
            result=dict(type='str', choices=list(RESULTS)),
            error_code=dict(type='str'),
            msg=dict(type='str'),
            data=dict(type='dict'),
            reset=dict(type='bool', default=False),
            object_type=dict(type='str', default='campaign', choices=list(OBJECT_TYPES)),
            object_id=dict(type='str'),
            event_action=dict(type='str'),
            kind=dict(type='str', default='other'),
            severity=dict(type='str', default='warning', choices=list(SEVERITIES)),
            webhook_url=dict(type='str', no_log=True),
            webhook_timeout=dict(type='int', default=WEBHOOK_TIMEOUT),
            webhook_validate_certs=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    exit_module(module, run)


if __name__ == '__main__':
    main()
