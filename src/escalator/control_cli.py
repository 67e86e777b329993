# SPDX-License-Identifier: Apache-2.0
"""The CLI commands of campaign control: ``escalator pause``."""

from __future__ import annotations

import json
import os
import sys

from escalator import control


def add_pause_parser(sub, **kwargs):
    p = sub.add_parser('pause', help='pause a running campaign before its next batch (upgrade resumes it)',
                       description='Ask the running campaign to pause: the hosts in flight are finished, no new batch '
                       'starts, and the campaign ends paused with your reason and name (upgrade exits 9). Running '
                       'the same `escalator upgrade` again resumes it. Refused (exit 2) when it is not running.',
                       **kwargs)
    p.add_argument('-c', '--campaign-id', required=not os.environ.get('ESCALATOR_CAMPAIGN_ID'),
                   default=os.environ.get('ESCALATOR_CAMPAIGN_ID'), help='the running campaign')
    p.add_argument('--reason', help='why (shown in the status and the event log)')
    p.add_argument('--by', dest='requested_by', help='who asks [default: user@host]')
    p.add_argument('--state-dir', help='campaign state directory [default: $ESCALATOR_STATE_DIR or '
                   '~/.escalator/campaigns]')
    p.add_argument('--json', action='store_true', help='the result as JSON')
    return p


def cmd_pause(args):
    result = control.pause(args.campaign_id, reason=args.reason, requested_by=args.requested_by,
                           state_dir=args.state_dir)
    if args.json:
        print(json.dumps(result.to_dict(), default=str, sort_keys=True))
    elif result.ok:
        print(result.message)
    if not result.ok:
        sys.stderr.write('escalator: pause %s: %s\n' % (args.campaign_id, result.message))
    return int(result.exit_code)
