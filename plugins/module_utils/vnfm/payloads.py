# SPDX-License-Identifier: Apache-2.0
"""What is POSTed to a VNFM: the payloads, field for field as Fenix sends them, in their two delivery
shapes (the oslo.messaging envelope, ``fenix``; an AODH event alarm with traits, ``aodh``)."""

from __future__ import annotations

import datetime
import uuid

AODH_TEXT, AODH_INT, AODH_FLOAT, AODH_DATETIME = 1, 2, 3, 4     # AODH's trait types


def project_payload(service, project_id, session_id, state, instance_ids, allowed_actions, reply_url,
                    actions_at, reply_at, metadata):
    """The ``maintenance.scheduled`` payload, field for field as Fenix's ``_project_notify``."""
    return dict(
        service=service,
        project_id=project_id,
        session_id=session_id,
        state=state,
        instance_ids=instance_ids,
        allowed_actions=list(allowed_actions),
        reply_url=reply_url,
        actions_at=actions_at,
        reply_at=reply_at,
        metadata=dict(metadata or {}),
    )


def host_payload(service, project_id, host, state, session_id):
    """The admin ``maintenance.host`` payload, as Fenix's ``_admin_notify``."""
    return dict(service=service, project_id=project_id, host=host, state=state, session_id=session_id)


def envelope(event_type, payload, publisher_id, message_id, timestamp):
    """The oslo.messaging notification envelope around a payload (delivery ``fenix``)."""
    return dict(
        message_id=message_id,
        publisher_id=publisher_id,
        event_type=event_type,
        priority='INFO',
        payload=payload,
        timestamp=timestamp,
    )


def _trait_text(value):
    # Ceilometer stores non-string trait values as their Python text; VNFMs decode a value that
    # starts with "[" or "{" with eval()/yaml (Tacker's alarm receiver, Doctor's app manager).
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return repr([_plain(item) for item in value])
    if isinstance(value, dict):
        return repr({str(key): _plain(item) for key, item in value.items()})
    return str(value)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def traits(payload, datetime_fields=('actions_at', 'reply_at')):
    """The payload as AODH event traits ``[[name, type, value], ...]`` (Ceilometer's event definitions
    for ``maintenance.scheduled`` / ``maintenance.host``); fields that are None are left out."""
    result = []
    for name, value in payload.items():
        if value is None:
            continue
        if name in datetime_fields:
            result.append([name, AODH_DATETIME, value])
        elif isinstance(value, bool):
            result.append([name, AODH_TEXT, str(value)])
        elif isinstance(value, int):
            result.append([name, AODH_INT, value])
        elif isinstance(value, float):
            result.append([name, AODH_FLOAT, value])
        else:
            result.append([name, AODH_TEXT, _trait_text(value)])
    return result


def aodh_alarm(event_type, payload, message_id, generated, alarm_name, alarm_id):
    """The body AODH's REST notifier POSTs when an event alarm on ``event_type`` fires (delivery ``aodh``)."""
    return dict(
        alarm_name=alarm_name,
        alarm_id=alarm_id,
        severity='moderate',
        previous='insufficient data',
        current='alarm',
        reason='Event <id=%s,event_type=%s> hits the query <query=[]>.' % (message_id, event_type),
        reason_data=dict(
            type='event',
            event=dict(
                message_id=message_id,
                event_type=event_type,
                generated=generated,
                traits=traits(payload),
                raw={},
                message_signature='',
            ),
        ),
    )


def delivery_body(delivery, event_type, payload, message_id, wall_time, publisher_id='escalator', alarm_name=None):
    """What is POSTed to a VNFM for ``payload`` in the given delivery shape."""
    stamp = datetime.datetime.fromtimestamp(wall_time, datetime.timezone.utc)
    if delivery == 'aodh':
        alarm_id = str(uuid.uuid5(uuid.NAMESPACE_URL, 'escalator:%s:%s' % (event_type, alarm_name or '')))
        return aodh_alarm(event_type, payload, message_id, stamp.strftime('%Y-%m-%dT%H:%M:%S.%f'),
                          alarm_name or 'escalator-%s' % event_type, alarm_id)
    return envelope(event_type, payload, publisher_id, message_id, stamp.strftime('%Y-%m-%d %H:%M:%S.%f'))
