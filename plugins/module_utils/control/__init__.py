# SPDX-License-Identifier: Apache-2.0
"""Campaign control over days: what the gate before each batch decides, and from what.

One concept a file, plain Python (no Ansible objects), every clock injectable:

``windows``       maintenance windows (days, start, end, time zone): is one open now, until when, next opening
``durations``     how long a batch is expected to take (documented defaults per phase)
``history``       expected phase durations from earlier campaigns' events
``expectations``  each host's expectations: the evacuate phase scaled by the instances it moves
``progress``      elapsed vs expected, the ETA, the hang watcher
``hang_policy``   what a hang does (alert, or fail the host) and the phases' limits that fail it
``pause``         pause requests (``escalator pause``) and how a paused campaign is recognised
``alertmanager``  a bounded, redirect-refusing client of Alertmanager's HTTP API v2 (alerts, silences)
``silences``      the silences a campaign created: recorded in its state directory, expired when done
``gate``          the decision before a batch: go, wait, or pause the campaign (with the reason)
``settings``      the argument spec of the campaign settings these read (one home per setting)
"""
