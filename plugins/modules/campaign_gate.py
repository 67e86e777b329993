#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: campaign_gate
short_description: Decide before a batch whether the campaign goes on, waits, or pauses
version_added: 0.1.0
description:
  - Runs on the controller before each batch of a campaign (C(playbooks/tasks/batch_gate.yml)). In this order,
    again after every wait - a pause request (C(escalator pause)), the maintenance windows (the batch's expected
    duration must fit in what is left of the open window), and firing alerts in Prometheus Alertmanager that
    match O(alertmanager.matchers).
  - Pauses the campaign when one of them says so - records its end (state V(incomplete), or V(failed) when a
    host failed) with the message C(paused) and the reason, and a C(finish) event whose C(data.paused) says why, who
    asked and when - and returns RV(action=pause); the playbook then ends the batch play. The same command
    resumes the campaign.
  - With O(wait_for_window), waits for the next window where the batch fits instead (at most O(window_max_wait));
    while matching alerts fire, waits at most O(alertmanager.wait) seconds, then pauses.
  - With O(alertmanager.silence), expires the silences of earlier batches and creates one per host of this
    batch; a detached watcher expires them when the run ends, however it ends (docs/campaign-control.md).
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description: Decides once, without waiting, recording, pausing or touching silences.
  diff_mode:
    support: none
    description: Changes no configuration.
options:
  campaign_id:
    description: The campaign.
    type: str
    required: true
  state_dir:
    description: The directory that holds one sub-directory per campaign (E(ESCALATOR_STATE_DIR), else
      C(~/.escalator/campaigns)).
    type: path
  batch:
    description: The index of the batch about to start (for messages and events).
    type: int
  hosts:
    description: The hosts of the batch about to start.
    type: list
    elements: str
    required: true
  windows:
    description:
      - Maintenance windows, each a dictionary with C(days) (the days it opens - V([mon, tue]), V(mon-fri),
        V(daily)), C(start) and C(end) (V(HH:MM); an end not after the start is on the next day) and C(timezone)
        (an IANA name, default V(UTC)). Omitted or empty - always open.
    type: list
    elements: raw
  wait_for_window:
    description: Wait for the next window where the batch fits instead of pausing (omitted or V(false) - pause).
    type: bool
  window_max_wait:
    description: The longest wait for a window, in seconds; pause when the batch fits only later.
    type: int
    default: 604800
  expected_phase_seconds:
    description:
      - Expected seconds of a host's phases, overriding both the history and the documented defaults
        (maintenance 15, notify 60, evacuate 300, backup 60, upgrade 600, verify 120, release 30).
      - Without it a phase's expectation is the median of what the campaigns of O(state_dir) observed (hosts
        that ended done), once 3 hosts went through it; else the default.
      - The evacuate phase scales with the instances the plan moves away from the host - V(evacuate_per_instance)
        seconds each (history's median, else 30) times their number (at least one). V(evacuate) fixes it per host
        instead.
    type: dict
  hang_multiple:
    description:
      - A host whose phase runs longer than this many times its expectation hangs - an C(alert) event (kind
        C(hang), error code C(E_HANG)) is raised at once, once per host and phase, and POSTed to O(alert_webhook).
        V(0) - no hang detection (with O(hang_policy=alert) only). Must be positive; at least V(1) with
        O(hang_policy=fail).
    type: float
    default: 3.0
  hang_policy:
    description:
      - What a hang does besides the alert. V(alert) - nothing more, the host goes on. V(fail) - the host is failed
        (and rolled back, as any failure) - RV(hang_limits) gives each phase block of the host a task timeout of
        O(hang_multiple) times its expectation.
    type: str
    choices: [alert, fail]
    default: alert
  alert_webhook:
    description: Where hang alerts are POSTed (as M(opnfv.escalator.campaign_state)'s webhook_url).
    type: str
  alertmanager:
    description: Prometheus Alertmanager to ask before each batch (API v2).
    type: dict
    suboptions:
      url:
        description: Its base URL, e.g. V(http://alertmanager.example:9093); no user info or query.
        type: str
        required: true
      token:
        description: A bearer token (sent to that origin only; redirects are refused).
        type: str
      username:
        description: Basic auth user.
        type: str
      password:
        description: Basic auth password.
        type: str
      timeout:
        description: Seconds per request (1 to 300).
        type: int
        default: 10
      validate_certs:
        description: Verify the TLS certificate.
        type: bool
        default: true
      ca_cert:
        description: CA bundle for its certificate.
        type: path
      matchers:
        description: Matchers (C(name="value"), C(!=), C(=~), C(!~)) an alert must all match to hold the batch;
          empty - no gating on alerts.
        type: list
        elements: str
        default: []
      wait:
        description: Seconds to wait for matching alerts to resolve before pausing (V(0) - pause at once).
        type: int
        default: 1800
      poll:
        description: Seconds between two questions while waiting.
        type: int
        default: 30
      silence:
        description: Create a silence for each host of the batch (and expire those of earlier batches).
        type: bool
        default: false
      silence_matchers:
        description: The matchers of a host's silence; V({host}) is the host's name (regex-escaped in C(=~)).
        type: list
        elements: str
        default: ['instance=~"{host}(:[0-9]+)?"']
      silence_duration:
        description: Seconds a silence lasts at most (it is expired earlier); default three times the batch's
          expected duration, at least an hour.
        type: int
seealso:
  - module: opnfv.escalator.campaign_state
'''

EXAMPLES = r'''
- name: Gate the batch
  opnfv.escalator.campaign_gate:
    campaign_id: 2026-11-kernel
    batch: 2
    hosts: "{{ ansible_play_batch }}"
    windows:
      - {days: mon-fri, start: "22:00", end: "05:00", timezone: Europe/Paris}
    alertmanager:
      url: http://alertmanager.example:9093
      matchers: ['severity="critical"']
      silence: true
  register: gate
  delegate_to: localhost
  run_once: true

- name: Pause (nothing new starts; the same command resumes)
  ansible.builtin.meta: end_play
  when: gate.action == 'pause'
'''

RETURN = r'''
action:
  description: V(go) - start the batch; V(pause) - the campaign was paused (recorded), end the play.
  returned: always
  type: str
  sample: pause
kind:
  description: What paused it - V(request), V(window), V(alert), V(alertmanager) (it could not be asked); null on go.
  returned: always
  type: str
  sample: window
reason:
  description: Why it pauses, for the operator; null on go.
  returned: always
  type: str
  sample: "window closes at 05:00 Europe/Paris; next batch needs ~20 min; next window for it opens Tue 2026-12-08 22:00 Europe/Paris"
paused:
  description: The pause record (kind, reason, batch, expected_batch_s, at, requested_by, request_reason,
    waited_s, alerts) also in the C(finish) event's C(data.paused).
  returned: when RV(action=pause)
  type: dict
expected_batch_s:
  description: The batch's expected duration in seconds.
  returned: always
  type: float
  sample: 1185.0
expected_phases:
  description: The expected seconds of each phase used.
  returned: always
  type: dict
  sample: {"maintenance": 2.1, "notify": 2.3, "evacuate": 16.0, "backup": 10.4, "upgrade": 16.0, "verify": 9.5,
           "release": 0}
expected_source:
  description: Where the expectations come from - C(defaults), C(history (N hosts)), C(setting), or a mix.
  returned: always
  type: str
  sample: history (12 hosts)
expected_hosts:
  description: Each host's expected seconds per phase - its evacuate phase scaled by the instances the plan moves
    away from it.
  returned: always
  type: dict
  sample: {"compute3": {"maintenance": 2.1, "notify": 2.3, "evacuate": 24.0, "backup": 10.4, "upgrade": 16.0,
                        "verify": 9.5, "release": 0}}
evacuate_per_instance:
  description: The evacuate phase's expected seconds per instance (null when O(expected_phase_seconds) fixes it
    per host).
  returned: always
  type: float
  sample: 6.2
hang_policy:
  description: The policy (O(hang_policy)).
  returned: always
  type: str
  sample: fail
hang_limits:
  description: With O(hang_policy=fail), for each host of the batch, the task timeout in seconds of its phase
    blocks - V(drain) (maintenance, notify and evacuate together), V(backup), V(upgrade), V(verify); empty
    otherwise.
  returned: always
  type: dict
  sample: {"compute3": {"drain": 87, "backup": 32, "upgrade": 48, "verify": 29}}
waited_s:
  description: Seconds the gate waited (windows, alerts).
  returned: always
  type: float
window_closes:
  description: When the open window closes (ISO 8601), null without windows.
  returned: always
  type: str
silences_created:
  description: The silences created for this batch's hosts (id, host, created, ends).
  returned: always
  type: list
  elements: dict
silences_expired:
  description: Ids of the campaign's earlier silences expired.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils.control import alertmanager as am
from ansible_collections.opnfv.escalator.plugins.module_utils.control import durations, expectations, hang_policy
from ansible_collections.opnfv.escalator.plugins.module_utils.control import history, progress, silences
from ansible_collections.opnfv.escalator.plugins.module_utils.control import windows as wins
from ansible_collections.opnfv.escalator.plugins.module_utils.control.gate import PAUSE, Gate
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_INVALID_INPUT, EscalatorError, exit_module)
from ansible_collections.opnfv.escalator.plugins.module_utils.state import CampaignStore

SILENCE_MIN_S = 3600


def alert_settings(params):
    """The client and the gating/silence settings of ``params['alertmanager']`` (None when not given)."""
    options = params.get('alertmanager')
    if not options:
        return None
    for key in ('wait', 'poll'):
        least = 0 if key == 'wait' else 1
        if options[key] < least:
            raise EscalatorError('alertmanager.%s must be >= %d, got %d' % (key, least, options[key]),
                                 code=E_INVALID_INPUT)
    client = am.Client(options['url'], token=options.get('token'), username=options.get('username'),
                       password=options.get('password'), timeout=options['timeout'],
                       validate_certs=options['validate_certs'], ca_cert=options.get('ca_cert'))
    matchers = [am.parse_matcher(text, 'alertmanager.matchers') for text in options['matchers'] or []]
    templates = list(options['silence_matchers'] or [])
    if options['silence']:
        if not templates:
            raise EscalatorError('alertmanager.silence_matchers is empty: a silence needs a matcher on the host',
                                 code=E_INVALID_INPUT)
        silences.host_matchers(templates, 'example-host')     # every template is a valid matcher
    return dict(client=client, matchers=matchers, wait=options['wait'], poll=options['poll'],
                silence=options['silence'], templates=templates, duration=options.get('silence_duration'))


def run(module, now=None, start_watcher=silences.start_watcher, start_hang_watcher=progress.start_hang_watcher):
    params = module.params
    store = CampaignStore(params['campaign_id'], params['state_dir'])
    windows = wins.parse_windows(params['windows'])
    if params['window_max_wait'] < 0:
        raise EscalatorError('window_max_wait must be >= 0 seconds', code=E_INVALID_INPUT)
    durations.phase_seconds(params['expected_phase_seconds'])      # bad phases and values fail here
    multiple, policy = params['hang_multiple'], params['hang_policy']
    hang_policy.check(multiple, policy)
    alerts = alert_settings(params)
    samples, _campaigns = history.from_state_dir(store.state_dir)
    expected, sources = history.expected_phases(samples, params['expected_phase_seconds'])
    # each host's own: its evacuate phase scaled by the instances the campaign's plan moves away from it
    rate, _rate_source = expectations.evacuate_rate(samples, params['expected_phase_seconds'], history.MIN_SAMPLES)
    by_host = expectations.for_hosts(expected, rate, expectations.instances_to_move(store.read_plan()),
                                     params['hosts'])
    gate_args = dict(windows=windows, wait_for_window=bool(params['wait_for_window']),
                     window_max_wait=params['window_max_wait'], phase_seconds=expected, host_phase_seconds=by_host,
                     alerts=alerts if alerts and alerts['matchers'] else None, check_mode=module.check_mode)
    if now is not None:
        gate_args['now'] = now
    gate = Gate(store, **gate_args)
    result = gate.decide(params['batch'], params['hosts'])
    result.update(changed=False, silences_created=[], silences_expired=[], expected_phases=expected,
                  expected_source=history.describe(sources), expected_hosts=by_host, evacuate_per_instance=rate,
                  hang_policy=policy, hang_limits=hang_policy.limits(by_host, multiple, policy))
    if alerts and alerts['silence'] and not module.check_mode:
        # earlier batches' hosts are back (or failed and rolled back): their silences go, paused or not
        result['silences_expired'] = silences.expire_all(alerts['client'], store.path, store.campaign_id)
        if result['action'] != PAUSE:
            duration = alerts['duration'] or max(SILENCE_MIN_S, 3 * result['expected_batch_s'])
            result['silences_created'] = silences.create(alerts['client'], store.path, store.campaign_id,
                                                         params['hosts'], alerts['templates'], gate.now(), duration)
            start_watcher(alerts['client'], store.path, store.campaign_id, duration)
        result['changed'] = bool(result['silences_created'] or result['silences_expired'])
    if result['action'] != PAUSE and not module.check_mode:
        webhook = dict(url=params['alert_webhook']) if params['alert_webhook'] else None
        start_hang_watcher(store, expected, multiple, params['hosts'], webhook, by_host=by_host, policy=policy)
    if result['action'] == PAUSE:
        result['changed'] = True
        result['msg'] = 'campaign %s paused before batch %s: %s' % (
            store.campaign_id, params['batch'], result['reason'])
    else:
        result['msg'] = 'batch %s goes' % params['batch']
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            campaign_id=dict(type='str', required=True),
            state_dir=dict(type='path'),
            batch=dict(type='int'),
            hosts=dict(type='list', elements='str', required=True),
            windows=dict(type='list', elements='raw'),
            wait_for_window=dict(type='bool'),
            window_max_wait=dict(type='int', default=604800),
            expected_phase_seconds=dict(type='dict'),
            hang_multiple=dict(type='float', default=3.0),
            hang_policy=dict(type='str', default=hang_policy.ALERT, choices=list(hang_policy.POLICIES)),
            alert_webhook=dict(type='str', no_log=True),
            alertmanager=dict(type='dict', options=dict(
                url=dict(type='str', required=True),
                token=dict(type='str', no_log=True),
                username=dict(type='str'),
                password=dict(type='str', no_log=True),
                timeout=dict(type='int', default=10),
                validate_certs=dict(type='bool', default=True),
                ca_cert=dict(type='path'),
                matchers=dict(type='list', elements='str', default=[]),
                wait=dict(type='int', default=1800),
                poll=dict(type='int', default=30),
                silence=dict(type='bool', default=False),
                silence_matchers=dict(type='list', elements='str', default=['instance=~"{host}(:[0-9]+)?"']),
                silence_duration=dict(type='int'),
            )),
        ),
        supports_check_mode=True,
    )
    exit_module(module, run)


if __name__ == '__main__':
    main()
