# SPDX-License-Identifier: Apache-2.0
"""Telling VNF managers about host maintenance and honouring their answers.

The protocol is OpenStack Fenix's (OPNFV Doctor maintenance), so VNFMs written for
Fenix -- Tacker's Fenix plugin, the Doctor sample app manager -- work unchanged:

* A *project notification* (event type ``maintenance.scheduled``) per affected
  project (or per instance) with the payload ``service, project_id, session_id,
  state, instance_ids, allowed_actions, reply_url, actions_at, reply_at,
  metadata``; states ``PREPARE_MAINTENANCE`` / ``PLANNED_MAINTENANCE`` before a
  host goes down, ``MAINTENANCE_COMPLETE`` when it is back.
* An *admin notification* (event type ``maintenance.host``) ``service,
  project_id, host, state, session_id`` with ``IN_MAINTENANCE`` /
  ``MAINTENANCE_COMPLETE``.
* Delivered by HTTP POST either as the oslo.messaging envelope (``fenix``) or as
  the body of an AODH event alarm with a ``traits`` list (``aodh``), which is how
  Fenix reaches VNFMs in practice.
* The VNFM answers with PUT ``reply_url`` ``{"session_id", "state":
  "ACK_<STATE>" | "NACK_<STATE>", "instance_actions": {"<uuid>": "MIGRATE" |
  "LIVE_MIGRATE" | "OWN_ACTION"}}`` (or ``"instance_action"`` on a per-instance
  reply URL), received by a short-lived callback listener on the controller that
  authenticates every reply with a per-project secret token carried in the
  reply URL; or Escalator polls a URL of the VNFM for the same JSON.

One concept a file; nothing here imports Ansible:

* ``protocol``  the vocabulary (events, states, actions, outcomes), reply URLs, token masking
* ``payloads``  what is POSTed: the payloads and their two delivery shapes (fenix, aodh)
* ``replies``   reply validation and the reply state machine (``Expectation``, ``ReplyBook``)
* ``listener``  the bounded HTTP(S) callback server that feeds a ``ReplyBook``
* ``delivery``  sending one notification to an endpoint (credentials, retries), over ``http_client``
* ``lookup``    Nova and Keystone look-ups (the instances to announce, endpoint projects)
* ``options``   every option checked without the cloud (``validate_entries``, ``validate_params``)
* ``notifier``  one session: ``notify()`` announces, waits for the replies and decides
"""
