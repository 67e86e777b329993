#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
module: vnfm_notify
short_description: Tell VNF managers about a host's maintenance and collect their per-instance choices
version_added: 0.1.0
description:
  - Announces the maintenance of a compute host to the VNF manager (VNFM) of each project that has
    instances on it, with the OpenStack Fenix / OPNFV Doctor maintenance protocol, so VNFMs written
    for Fenix (for example Tacker's Fenix plugin) work unchanged.
  - With O(state=planned) (or V(prepare)) it lists the host's instances, groups them by project, sends
    each project's VNFM a C(maintenance.scheduled) notification (C(PLANNED_MAINTENANCE) or
    C(PREPARE_MAINTENANCE)), waits for all replies in parallel (or O(reply_timeout)) and returns the
    per-instance RV(decisions) that M(opnfv.escalator.compute_evacuate) takes.
  - A VNFM replies C(ACK_<STATE>) with an action per instance (C(OWN_ACTION) it moves or switches over
    itself, C(LIVE_MIGRATE), C(MIGRATE)) or C(NACK_<STATE>). Replies arrive on a short-lived callback
    listener on the controller (authenticated by a per-project secret token carried in the
    C(reply_url)), or Escalator polls a URL of the VNFM (O(vnfm[].reply_mode=poll)).
  - A NACK, no reply in time or an unreachable VNFM fails the module (error code C(E_VNFM)), unless the
    project's policy (O(on_nack), O(on_timeout), O(on_unreachable)) says V(proceed), in which case its
    instances get O(default_action).
  - Instances of projects with no VNFM configured get O(unmanaged_action) (default V(live)).
  - With O(state=complete) it sends C(MAINTENANCE_COMPLETE) to the VNFMs (and the admin
    C(maintenance.host) C(MAINTENANCE_COMPLETE) to O(admin_endpoints)); with O(state=in_maintenance) it
    sends the admin C(maintenance.host) C(IN_MAINTENANCE) only.
  - The exact JSON of every message and reply is in the collection's C(docs/vnfm-protocol.md).
extends_documentation_fragment:
  - opnfv.escalator.openstack
options:
  state:
    description:
      - What to announce.
      - V(planned) - C(PLANNED_MAINTENANCE) to the projects on O(host), then wait for their replies.
      - V(prepare) - C(PREPARE_MAINTENANCE), the same exchange (Fenix uses it to empty a first host).
      - V(in_maintenance) - the admin C(maintenance.host) C(IN_MAINTENANCE) to O(admin_endpoints).
      - V(complete) - C(MAINTENANCE_COMPLETE) to the projects' VNFMs, and C(maintenance.host)
        C(MAINTENANCE_COMPLETE) to O(admin_endpoints) when O(host) is given.
    type: str
    default: planned
    choices: [prepare, planned, in_maintenance, complete]
  host:
    description:
      - The compute host (nova-compute service host name) going into maintenance.
      - Its instances (all projects) are announced. Required for V(planned) and V(prepare) unless
        O(instances) is given, and for V(in_maintenance).
      - Also given to the VNFMs in the payload's C(metadata) as C(escalator_host).
    type: str
  instances:
    description:
      - Announce these instances (UUIDs) instead of all the instances on O(host).
    type: list
    elements: str
  projects:
    description:
      - With O(state=complete), the projects (IDs or names) to tell. Default is every project in O(vnfm).
    type: list
    elements: str
  session_id:
    description:
      - The maintenance session, that is the campaign id. It is the C(session_id) of every message and part of the
        reply URLs.
    type: str
    required: true
    aliases: [campaign_id]
  vnfm:
    description:
      - The VNF managers, one entry per project.
      - Projects that have instances to announce and no entry here get O(unmanaged_action).
    type: list
    elements: dict
    default: []
    suboptions:
      project:
        description:
          - The project (Keystone ID, or name looked up in Keystone) whose instances this VNFM manages.
        type: str
        required: true
      url:
        description:
          - Where the notification is POSTed (the VNFM's maintenance endpoint, for Tacker the AODH alarm
            URL of the VNF).
        type: str
        required: true
      delivery:
        description:
          - V(fenix) - the oslo.messaging notification envelope (C(event_type), C(payload), ...).
          - V(aodh) - the body of an AODH event alarm, the payload as C(reason_data.event.traits), which is
            what Fenix-speaking VNFMs (Tacker, the Doctor app manager) receive in practice.
        type: str
        default: fenix
        choices: [fenix, aodh]
      granularity:
        description:
          - V(project) - one notification and one reply per project, for all its instances.
          - V(instance) - one notification per instance, each with its own reply URL, answered with the
            single C(instance_action) form (Tacker's plugin works this way).
        type: str
        default: project
        choices: [project, instance]
      instance_ids_format:
        description:
          - V(list) - C(instance_ids) is the list of instance UUIDs.
          - V(url) - C(instance_ids) is a URL on the listener the VNFM GETs, answering a JSON object
            with the key C(instance_ids), as Fenix does. Needs O(vnfm[].reply_mode=listener).
        type: str
        default: list
        choices: [list, url]
      reply_mode:
        description:
          - V(listener) - the VNFM PUTs its reply to the C(reply_url) of the notification.
          - V(poll) - Escalator GETs O(vnfm[].poll_url) every O(poll_interval) seconds until it returns the
            reply JSON (V(404), V(202) or V(204) mean not yet).
        type: str
        default: listener
        choices: [listener, poll]
      poll_url:
        description:
          - With O(vnfm[].reply_mode=poll), the URL that returns the reply; C({session_id}),
            C({project_id}) and C({state}) are substituted. It is also sent as C(reply_url).
        type: str
      token:
        description:
          - A token sent in the O(vnfm[].token_header) header of the notification.
        type: str
      token_header:
        description:
          - The header that carries O(vnfm[].token).
        type: str
        default: X-Auth-Token
      username:
        description:
          - User for HTTP basic authentication to the VNFM.
        type: str
      password:
        description:
          - Password for HTTP basic authentication to the VNFM.
        type: str
      headers:
        description:
          - Extra HTTP headers (for example an API key) sent with the notification.
        type: dict
      validate_certs:
        description:
          - Verify the VNFM's TLS certificate. Prefer O(vnfm[].ca_cert) to turning this off.
        type: bool
        default: true
      ca_cert:
        description:
          - CA bundle that signed the VNFM's certificate.
        type: path
      client_cert:
        description:
          - Client certificate for mutual TLS to the VNFM.
        type: path
      client_key:
        description:
          - Private key of O(vnfm[].client_cert).
        type: path
      insecure_http:
        description:
          - Accept a plain C(http://) O(vnfm[].url) (or O(vnfm[].poll_url)) to an address other than the
            loopback; the notification, its token and the reply token then cross the network in clear.
          - Without it such an entry is refused (C(E_INVALID_INPUT)).
        type: bool
        default: false
      reply_timeout:
        description:
          - This project's reply timeout in seconds, instead of O(reply_timeout).
        type: int
      on_nack:
        description:
          - This project's policy for a NACK, instead of O(on_nack).
        type: str
        choices: [fail, proceed]
      on_timeout:
        description:
          - This project's policy for no reply in time, instead of O(on_timeout).
        type: str
        choices: [fail, proceed]
      on_unreachable:
        description:
          - This project's policy when its VNFM cannot be notified, instead of O(on_unreachable).
        type: str
        choices: [fail, proceed]
      default_action:
        description:
          - This project's default action, instead of O(default_action).
        type: str
        choices: [live, cold]
  admin_endpoints:
    description:
      - Receivers of the admin C(maintenance.host) notifications (C(IN_MAINTENANCE), C(MAINTENANCE_COMPLETE)),
        for example self-healing or billing. A failure to reach them is a warning.
    type: list
    elements: dict
    default: []
    suboptions:
      url:
        description:
          - Where the notification is POSTed.
        type: str
        required: true
      delivery:
        description:
          - V(fenix) (oslo.messaging envelope) or V(aodh) (AODH event alarm body).
        type: str
        default: fenix
        choices: [fenix, aodh]
      token:
        description:
          - A token sent in the O(admin_endpoints[].token_header) header.
        type: str
      token_header:
        description:
          - The header that carries O(admin_endpoints[].token).
        type: str
        default: X-Auth-Token
      username:
        description:
          - User for HTTP basic authentication.
        type: str
      password:
        description:
          - Password for HTTP basic authentication.
        type: str
      headers:
        description:
          - Extra HTTP headers.
        type: dict
      validate_certs:
        description:
          - Verify the receiver's TLS certificate.
        type: bool
        default: true
      ca_cert:
        description:
          - CA bundle that signed the receiver's certificate.
        type: path
      client_cert:
        description:
          - Client certificate for mutual TLS.
        type: path
      client_key:
        description:
          - Private key of O(admin_endpoints[].client_cert).
        type: path
      insecure_http:
        description:
          - Accept a plain C(http://) O(admin_endpoints[].url) to an address other than the loopback.
        type: bool
        default: false
  allowed_actions:
    description:
      - The actions a VNFM may choose for an instance (the payload's C(allowed_actions)); a reply choosing
        another is refused with HTTP 422.
    type: list
    elements: str
    default: [MIGRATE, LIVE_MIGRATE, OWN_ACTION]
    choices: [MIGRATE, LIVE_MIGRATE, OWN_ACTION]
  reply_timeout:
    description:
      - How long to wait for each project's reply, in seconds; also sets the payload's C(reply_at) and
        C(actions_at).
    type: int
    default: 300
  wait_complete:
    description:
      - With O(state=complete), wait for C(ACK_MAINTENANCE_COMPLETE) (and apply the policies) instead of
        only sending.
    type: bool
    default: false
  on_nack:
    description:
      - What a NACK does, V(fail) the module (the host must not go down) or V(proceed) with
        O(default_action) for that project's instances.
    type: str
    default: fail
    choices: [fail, proceed]
  on_timeout:
    description:
      - What no reply within O(reply_timeout) does (instances a partial reply named keep their action).
    type: str
    default: fail
    choices: [fail, proceed]
  on_unreachable:
    description:
      - What a VNFM that cannot be notified (connection error, TLS error, HTTP error after retries) does.
    type: str
    default: fail
    choices: [fail, proceed]
  default_action:
    description:
      - The decision for instances whose VNFM did not choose (proceeding after a NACK, timeout or
        unreachable VNFM, or an ACK that does not name them).
    type: str
    default: live
    choices: [live, cold]
  unmanaged_action:
    description:
      - The decision for instances of projects with no entry in O(vnfm). V(fail) refuses before sending
        anything.
    type: str
    default: live
    choices: [live, cold, fail]
  metadata:
    description:
      - Free-form hints for the VNFMs (the payload's C(metadata)), for example the release being installed.
    type: dict
    default: {}
  service_name:
    description:
      - The payload's C(service) field.
    type: str
    default: escalator
  listen_address:
    description:
      - Address the callback listener binds to.
    type: str
    default: 0.0.0.0
  listen_port:
    description:
      - Port of the callback listener (1-65535); V(0) picks a free one.
      - Must be set, and equal to the port of O(reply_base_url), when O(reply_base_url) is given.
    type: int
    default: 0
  reply_base_url:
    description:
      - The listener's URL as the VNFMs reach it (C(scheme://host:port)), for NAT, a load balancer or a
        fixed name in the certificate.
      - Its scheme must match the listener (V(https) exactly when O(listen_tls_cert) is given), its port
        (explicit or 80/443) must equal O(listen_port), and it may not be a loopback address when the
        listener binds every address (V(0.0.0.0), V(::)).
      - Without it, the listener advertises C(http[s]://<address>:<port>) where the address is
        O(listen_address), or, when that is every address, the local address that routes to each VNFM.
      - A C(MAINTENANCE_COMPLETE) that is only sent (O(wait_complete=false)) carries no C(reply_url) -
        nobody listens for its answer.
    type: str
  listen_tls_cert:
    description:
      - Certificate (PEM, with its chain) for the listener; with it the listener speaks HTTPS only.
    type: path
  listen_tls_key:
    description:
      - Private key of O(listen_tls_cert).
    type: path
  send_timeout:
    description:
      - Timeout of each HTTP request to a VNFM, in seconds.
    type: int
    default: 10
  send_retries:
    description:
      - How many times a notification is retried after a connection error or an HTTP 5xx.
    type: int
    default: 2
  poll_interval:
    description:
      - Seconds between two polls with O(vnfm[].reply_mode=poll).
    type: float
    default: 2.0
notes:
  - The common options O(wait) and O(timeout) are not used; O(reply_timeout) bounds the wait.
  - Every reply is authenticated with a random token (one per project and session) carried in the
    C(reply_url) as C(?token=...) (also accepted in an C(X-Auth-Token) header or as a bearer token). The token
    is checked before anything else, so a request without a valid token gets HTTP 401 whatever its path;
    another project's token gets 403. The token is masked in the results.
  - The listener is bounded whatever clients send - at most 32 requests at once (more get HTTP 503), 10
    seconds for a whole request, replies up to 256 KiB with a C(Content-Length) (else 411/400/413), the
    first 20 refusals recorded in RV(rejected_replies) and all counted in RV(rejected_replies_total).
  - Redirects are never followed - a VNFM or admin endpoint answering 3xx is a delivery error naming the
    C(Location), so no credential is sent to another origin.
  - Every VNFM entry must name a project that exists in Keystone (checked before anything is sent).
  - The listener lives only while the module runs. Use O(listen_tls_cert) (and a firewall) when the
    VNFMs are not on a trusted network.
  - Supports check mode - the payloads are built and returned, nothing is sent and RV(decisions) is empty.
seealso:
  - module: opnfv.escalator.compute_evacuate
  - module: opnfv.escalator.compute_maintenance
author:
  - OPNFV Escalator developers (@opnfv)
'''

EXAMPLES = r'''
- name: Tell the VNFMs that compute3 goes down next, and get their choices
  opnfv.escalator.vnfm_notify:
    cloud: mycloud
    host: compute3
    session_id: "{{ campaign_id }}"
    state: planned
    reply_timeout: 120
    reply_base_url: https://escalator.example.net:8443
    listen_port: 8443
    listen_tls_cert: /etc/escalator/tls/listener.pem
    listen_tls_key: /etc/escalator/tls/listener.key
    vnfm:
      - project: vnf-a
        url: https://vnfm-a.example.net/maintenance
        token: "{{ vault_vnfm_a_token }}"
      - project: vnf-b                     # a Tacker VNF: AODH alarm shape, one notification per VNFC
        url: http://tacker.example.net:9890/v1.0/vnfs/181f3006-1b04-485f-8837-fba0262e7e61/maintenance/0506addd081049429e860305166bb7bd/lst412e8
        insecure_http: true                 # Tacker's alarm URL is plain http on the management network
        delivery: aodh
        granularity: instance
        on_timeout: proceed                 # this VNF tolerates live migration
  delegate_to: localhost
  register: vnfm

- name: Move the host's instances as the VNFMs asked
  opnfv.escalator.compute_evacuate:
    cloud: mycloud
    host: compute3
    decisions: "{{ vnfm.decisions }}"
  delegate_to: localhost

- name: The host is back
  opnfv.escalator.vnfm_notify:
    cloud: mycloud
    host: compute3
    session_id: "{{ campaign_id }}"
    state: complete
    projects: "{{ vnfm.projects.keys() | list }}"
    vnfm:
      - project: vnf-a
        url: https://vnfm-a.example.net/maintenance
        token: "{{ vault_vnfm_a_token }}"
  delegate_to: localhost
'''

RETURN = r'''
session_id:
  description: The maintenance session (campaign) id.
  returned: always
  type: str
  sample: campaign-2026-01
state:
  description: The state announced.
  returned: always
  type: str
  sample: PLANNED_MAINTENANCE
host:
  description: The host given.
  returned: always
  type: str
  sample: compute3
decisions:
  description:
    - For each announced instance, what to do with it - V(own_action) (the VNFM moves or switches it over;
      leave it), V(live) (live-migrate), V(cold) (cold-migrate). This is the C(decisions)
      option of M(opnfv.escalator.compute_evacuate).
    - Empty for O(state=complete), O(state=in_maintenance) and in check mode.
  returned: always
  type: dict
  sample: {"0b5e6c0e-5d5a-4cc4-a2a3-3f3f2b61c0a1": own_action, "4f1f8c6e-9a57-4f3b-8ad5-1d0b0f2f6f40": live}
projects:
  description: Per project (by ID), what happened.
  returned: always
  type: dict
  contains:
    project:
      description: The project as named in O(vnfm) (or its ID).
      type: str
    outcome:
      description:
        - V(acked), V(nacked), V(timed_out), V(unreachable), V(no_vnfm) (none configured), V(notified)
          (sent without waiting), V(not_sent) (check mode).
      type: str
    policy:
      description:
        - What was applied - V(accepted) (the ACK), V(proceed), V(fail), or V(default) (no VNFM,
          O(unmanaged_action)).
      type: str
    vnfm:
      description: The VNFM URL (without credentials or query).
      type: str
    delivery:
      description: The delivery shape used.
      type: str
    granularity:
      description: V(project) or V(instance).
      type: str
    instances:
      description: The instances announced to this project.
      type: list
      elements: str
    reply:
      description: The reply to the project's reply URL (C(state), C(ack), C(instance_actions)), if any.
      type: dict
    replies:
      description: All accepted replies, by instance ID (V(project) for the project-wide one).
      type: dict
    seconds:
      description: Seconds from the notification to the last accepted reply.
      type: float
    decisions:
      description: This project's decisions.
      type: dict
    defaulted:
      description: Instances that got the default action because the VNFM did not choose for them.
      type: list
      elements: str
    error:
      description: Why the VNFM could not be reached or polled.
      type: str
  sample:
    8f0c6d9bb6e14c38a3d8e0c6f7b0a1c2:
      project: vnf-a
      outcome: acked
      policy: accepted
      vnfm: http://127.0.0.1:9310/maintenance
      delivery: fenix
      granularity: project
      instances: [0b5e6c0e-5d5a-4cc4-a2a3-3f3f2b61c0a1]
      reply: {state: ACK_PLANNED_MAINTENANCE, ack: true,
              instance_actions: {0b5e6c0e-5d5a-4cc4-a2a3-3f3f2b61c0a1: OWN_ACTION}}
      replies: {}
      seconds: 1.52
      decisions: {0b5e6c0e-5d5a-4cc4-a2a3-3f3f2b61c0a1: own_action}
      defaulted: []
      error: null
notifications:
  description: The project notifications built (and sent, unless check mode); reply tokens are masked.
  returned: always
  type: list
  elements: dict
  contains:
    project_id:
      description: The project.
      type: str
    instance_id:
      description: The instance, for O(vnfm[].granularity=instance).
      type: str
    event_type:
      description: C(maintenance.scheduled).
      type: str
    state:
      description: The state announced.
      type: str
    delivery:
      description: V(fenix) or V(aodh).
      type: str
    url:
      description: Where it was POSTed.
      type: str
    body:
      description: The JSON body exactly as POSTed, except the masked token.
      type: dict
    sent:
      description: Whether the VNFM accepted it (HTTP 2xx).
      type: bool
    status_code:
      description: The VNFM's HTTP status.
      type: int
    error:
      description: Why it could not be sent.
      type: str
    attempts:
      description: Attempts made.
      type: int
    sent_at:
      description: When it was accepted (UTC, ISO 8601).
      type: str
admin_notifications:
  description: The admin C(maintenance.host) notifications, same fields as RV(notifications) plus C(host).
  returned: always
  type: list
  elements: dict
rejected_replies:
  description: Requests the listener refused (and polled replies refused), with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    client:
      description: Client address (V(poll) for a polled reply).
      type: str
    method:
      description: HTTP method.
      type: str
    path:
      description: Request path (no query, so no token), cut at 120 characters.
      type: str
    status:
      description: HTTP status answered (400, 401, 403, 404, 405, 409, 411, 413, 422, 503), 0 for a broken connection.
      type: int
    reason:
      description: Why.
      type: str
    at:
      description: When (UTC, ISO 8601).
      type: str
  sample: [{client: 10.213.0.1, method: PUT, path: /v1/maintenance/c1/8f0c6d9b, status: 401,
            reason: "unknown token: use the reply_url as given (it carries ?token=...)",
            at: "2026-01-01T10:00:03.120+00:00"}]
rejected_replies_total:
  description: How many requests were refused in all (RV(rejected_replies) keeps only the first 20).
  returned: always
  type: int
  sample: 1
listener:
  description: The callback listener's public URL and whether it used TLS; null when none was needed.
  returned: always
  type: dict
  sample: {url: "https://escalator.example.net:8443", tls: true}
elapsed:
  description: Seconds the whole exchange took.
  returned: always
  type: float
  sample: 2.31
'''

from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.notifier import notify
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.options import endpoint_options
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import ACTIONS
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.protocol import POLICIES as VNFM_POLICIES

POLICIES = list(VNFM_POLICIES)


ARGUMENT_SPEC = dict(
    state=dict(type='str', default='planned', choices=['prepare', 'planned', 'in_maintenance', 'complete']),
    host=dict(type='str'),
    instances=dict(type='list', elements='str'),
    projects=dict(type='list', elements='str'),
    session_id=dict(type='str', required=True, aliases=['campaign_id']),
    vnfm=dict(type='list', elements='dict', default=[], options=endpoint_options(project=True)),
    admin_endpoints=dict(type='list', elements='dict', default=[], options=endpoint_options(project=False)),
    allowed_actions=dict(type='list', elements='str', default=list(ACTIONS), choices=list(ACTIONS)),
    reply_timeout=dict(type='int', default=300),
    wait_complete=dict(type='bool', default=False),
    on_nack=dict(type='str', default='fail', choices=POLICIES),
    on_timeout=dict(type='str', default='fail', choices=POLICIES),
    on_unreachable=dict(type='str', default='fail', choices=POLICIES),
    default_action=dict(type='str', default='live', choices=['live', 'cold']),
    unmanaged_action=dict(type='str', default='live', choices=['live', 'cold', 'fail']),
    metadata=dict(type='dict', default={}),
    service_name=dict(type='str', default='escalator'),
    listen_address=dict(type='str', default='0.0.0.0'),
    listen_port=dict(type='int', default=0),
    reply_base_url=dict(type='str'),
    listen_tls_cert=dict(type='path'),
    listen_tls_key=dict(type='path', no_log=False),
    send_timeout=dict(type='int', default=10),
    send_retries=dict(type='int', default=2),
    poll_interval=dict(type='float', default=2.0),
)


def run(module, conn):
    # `changed`: a notification is an action on the outside world; notify() decides it (True when one
    # was sent, or in check mode would be) and returns before sending anything in check mode.
    return notify(conn, dict(module.params), check_mode=module.check_mode, warn=module.ansible.warn)


def main():
    OpenStackModule(argument_spec=ARGUMENT_SPEC, required_together=[('listen_tls_cert', 'listen_tls_key')]).run(run)


if __name__ == '__main__':
    main()
