# SPDX-License-Identifier: Apache-2.0
"""escalator: plan, precheck, run, watch and roll back zero-outage upgrades of OpenStack compute nodes."""

from __future__ import annotations

import argparse
import json
import os
import sys

from escalator import api, control_cli, locate
from escalator.display import JsonLinesDisplay, LiveDisplay, NullDisplay, PlainDisplay
from escalator.errors import EXIT_CODE_HELP, EscalatorAPIError, ExitCode

DESCRIPTION = """\
Rolling, zero-outage upgrades of OpenStack compute nodes (the Ansible collection opnfv.escalator,
run through ansible-runner).

A campaign, step by step:
  escalator plan     -i INVENTORY -c 2026-11-kernel      # the batches, changes nothing
  escalator precheck -i INVENTORY -c 2026-11-kernel      # health of the cloud and the hosts
  escalator upgrade  -i INVENTORY -c 2026-11-kernel      # shows the plan, asks, then runs
  escalator status   -c 2026-11-kernel                   # the status table, at any time
  escalator pause    -c 2026-11-kernel --reason '...'    # pause before the next batch (upgrade resumes)
  escalator unlock   -c 2026-11-kernel                   # abandon it: release the cloud's lock it holds
  escalator rollback -c 2026-11-kernel --campaign        # done: roll every upgraded host back, last first
  escalator commit   -c 2026-11-kernel                   # done: check the hosts, delete the backups, close it
Running `upgrade` again with the same campaign id resumes the campaign.

Credentials: clouds.yaml (--clouds-yaml or OS_CLIENT_CONFIG_FILE, --cloud or OS_CLOUD) or OS_*
variables; they are never written to the run's directory. Every campaign knob
(inventories/example/group_vars/all.yml) can be given with -e KEY=VALUE.
"""


def _epilog():
    lines = ['exit codes:']
    lines += ['  %-3d %s' % (int(code), text) for code, text in EXIT_CODE_HELP]
    lines += ['', 'files: campaign state in --state-dir (default ~/.escalator/campaigns); ansible-runner runs in',
              '~/.escalator/runs/<campaign>/artifacts/<time>-<action> (ESCALATOR_HOME moves ~/.escalator).',
              'More: docs/cli.md.']
    return '\n'.join(lines)


def _common(parser, campaign_required=True, default_campaign=None):
    group = parser.add_argument_group('campaign and cloud')
    group.add_argument('-c', '--campaign-id', required=campaign_required and not os.environ.get('ESCALATOR_CAMPAIGN_ID'),
                       default=os.environ.get('ESCALATOR_CAMPAIGN_ID') or default_campaign,
                       help='the campaign (names its state, lock, backups; the same id resumes it)%s' %
                       (' [default: %s]' % default_campaign if default_campaign else ''))
    group.add_argument('-i', '--inventory', help='inventory file or directory; hosts named as Nova names the '
                       'compute services [default: $ESCALATOR_INVENTORY, or the lab inventory in a checkout]')
    group.add_argument('--cloud', help='cloud name in clouds.yaml [default: $OS_CLOUD or escalator_cloud]')
    group.add_argument('--clouds-yaml', help='path of clouds.yaml [default: $OS_CLIENT_CONFIG_FILE]')
    group.add_argument('-e', '--extra-vars', action='append', default=[], metavar='KEY=VALUE|@FILE',
                       help='campaign variable (repeatable), e.g. -e escalator_max_batch_size=2')
    group.add_argument('--state-dir', help='campaign state directory [default: $ESCALATOR_STATE_DIR or '
                       '~/.escalator/campaigns]')
    _runner_options(parser)


def _output(parser):
    group = parser.add_argument_group('output')
    group.add_argument('--json', action='store_true', help='print one JSON document at the end (result + status)')
    group.add_argument('--json-events', action='store_true',
                       help='print every progress event as a JSON line while running (then the --json document)')
    group.add_argument('--plain', action='store_true', help='plain progress lines even on a terminal')


def _runner_options(parser):
    group = parser.add_argument_group('ansible-runner')
    group.add_argument('--private-data-dir', help='runner directory [default: ~/.escalator/runs/<campaign>]')
    group.add_argument('--keep-artifacts', type=int, default=api.DEFAULT_KEEP_ARTIFACTS,
                       help='artifact directories kept per campaign (0: all) [default: %(default)s]')
    group.add_argument('--project-dir', help='playbook directory [default: the checkout\'s or the installed '
                       'collection\'s playbooks]')
    group.add_argument('-v', '--verbose', action='count', default=0, help='ansible verbosity (-vvv)')


def build_parser():
    parser = argparse.ArgumentParser(prog='escalator', description=DESCRIPTION, epilog=_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--version', action='version', version='escalator 0.1.0')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser('plan', help='compute and show the plan (changes nothing)', epilog=_epilog(),
                       formatter_class=fmt, description='Plan the campaign: batches, destinations, fingerprint. '
                       'Exit 6 when no valid plan exists.')
    _common(p)
    _output(p)

    p = sub.add_parser('precheck', help='health checks of the cloud and the hosts (changes nothing)',
                       epilog=_epilog(), formatter_class=fmt,
                       description='Check the cloud and every compute host of the inventory (group compute). '
                       'Exit 3 when a check fails.')
    _common(p, campaign_required=False, default_campaign='precheck')
    p.add_argument('-l', '--limit', help='only these hosts (ansible host pattern)')
    _output(p)

    p = sub.add_parser('upgrade', help='run (or resume) the rolling upgrade campaign', epilog=_epilog(),
                       formatter_class=fmt,
                       description='Plan, lock, precheck, then upgrade batch by batch; a failed host is rolled back '
                       'and stops the campaign. Without --yes the plan is shown and you are asked to confirm.')
    _common(p)
    p.add_argument('-y', '--yes', action='store_true', help='do not ask for confirmation (needed without a terminal)')
    p.add_argument('--plan-fingerprint', help='refuse to start if the plan differs from the one reviewed '
                   '(`escalator plan` prints it)')
    p.add_argument('--wait-for-window', action='store_true', default=None,
                   help='outside the maintenance windows (escalator_windows), wait for the next one instead of '
                   'pausing (exit 9)')
    _output(p)

    p = sub.add_parser('rollback', help='restore hosts (or the whole campaign) from the campaign\'s backups',
                       epilog=_epilog(), formatter_class=fmt,
                       description='Roll hosts back to what the campaign\'s backup recorded, each emptied first '
                       '(maintenance, VNF managers, evacuation under the budgets), then leave maintenance. With '
                       '--campaign: every host the campaign upgraded, the last upgraded first; the campaign then ends '
                       'rolled_back (`escalator upgrade` upgrades them anew). A committed campaign is refused (exit 2).')
    _common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument('--hosts', help='hosts to roll back (comma-separated or a host pattern)')
    which.add_argument('--campaign', action='store_true',
                       help='every host the campaign upgraded, in the reverse order of their upgrade')
    p.add_argument('-y', '--yes', action='store_true', help='do not ask for confirmation')
    _output(p)

    p = sub.add_parser('commit', help='close a done campaign\'s rollback window (deletes its backups)',
                       epilog=_epilog(), formatter_class=fmt,
                       description='Check every host the campaign upgraded (target versions, healthy: the verify '
                       'role), delete the campaign\'s backups on the hosts and on the controller, and record it '
                       'committed: it can no longer be rolled back. Refused (exit 2) unless the campaign is done.')
    _common(p)
    p.add_argument('-y', '--yes', action='store_true', help='do not ask for confirmation')
    _output(p)

    p = sub.add_parser('status', help='the campaign\'s status table (reads the state store, runs nothing)',
                       epilog=_epilog(), formatter_class=fmt,
                       description='Show a campaign\'s status table, or list the campaigns without -c.')
    p.add_argument('-c', '--campaign-id', default=os.environ.get('ESCALATOR_CAMPAIGN_ID'),
                   help='the campaign [default: list the campaigns]')
    p.add_argument('--state-dir', help='campaign state directory [default: $ESCALATOR_STATE_DIR or '
                   '~/.escalator/campaigns]')
    p.add_argument('--json', action='store_true', help='the status document as JSON')

    p = sub.add_parser('unlock', help='abandon a campaign: release the cloud\'s campaign lock it holds',
                       epilog=_epilog(), formatter_class=fmt,
                       description='Release the cloud\'s campaign lock held by the campaign (as its playbook does at '
                       'its end), so that another campaign may start. Refused (exit 4) while a run of it is live on '
                       'this controller, or when another campaign holds the lock. Its state is kept: `escalator '
                       'upgrade -c ID` resumes it later.')
    p.add_argument('-c', '--campaign-id', required=not os.environ.get('ESCALATOR_CAMPAIGN_ID'),
                   default=os.environ.get('ESCALATOR_CAMPAIGN_ID'), help='the campaign that holds the lock')
    p.add_argument('--cloud', help='cloud name in clouds.yaml [default: $OS_CLOUD]')
    p.add_argument('--clouds-yaml', help='path of clouds.yaml [default: $OS_CLIENT_CONFIG_FILE]')
    p.add_argument('--state-dir', help='campaign state directory [default: $ESCALATOR_STATE_DIR or '
                   '~/.escalator/campaigns]')
    p.add_argument('--json', action='store_true', help='the result as JSON')

    control_cli.add_pause_parser(sub, epilog=_epilog(), formatter_class=fmt)

    if locate.checkout_root():
        p = sub.add_parser('lab', help='the development lab (lab/lab of this checkout)', add_help=False,
                           description='Runs lab/lab with the given arguments (up, status, reset, env, fault).')
        p.add_argument('lab_args', nargs=argparse.REMAINDER)
    return parser


def _display(args, title):
    if args.json_events:
        return JsonLinesDisplay(sys.stdout)
    if args.json:
        return NullDisplay()
    if sys.stdout.isatty() and not args.plain:
        return LiveDisplay(title)
    return PlainDisplay(sys.stdout)


def _options(args):
    return dict(cloud=args.cloud, clouds_yaml=args.clouds_yaml, state_dir=args.state_dir,
                private_data_dir=args.private_data_dir, keep_artifacts=args.keep_artifacts,
                project_dir=args.project_dir, verbosity=args.verbose)


def _err(text):
    sys.stderr.write('escalator: %s\n' % text)


def _finish(args, result):
    if args.json or args.json_events:
        sys.stdout.write(json.dumps(result.to_dict(), default=str, sort_keys=True) + '\n')
    else:
        if result.table:
            print(result.table)
        if result.ok:
            print('%s %s: ok (%.0fs); artifacts: %s' % (result.action, result.campaign_id, result.duration_s or 0,
                                                      result.artifacts))
        for warning in result.warnings:
            _err('warning: %s' % warning)
    if not result.ok:
        _err('%s %s: %s (exit %d)%s: %s' % (result.action, result.campaign_id, result.outcome, int(result.exit_code),
                                            ' [%s]' % result.error_code if result.error_code else '',
                                            result.message or 'failed'))
        if result.hint:
            _err(result.hint)
        _err('artifacts: %s' % result.artifacts)
    return int(result.exit_code)


def _run(args, action, **extra):
    extravars = api.parse_extra_vars(args.extra_vars)
    display = _display(args, action)
    with display:
        if action == 'upgrade':
            result = api.upgrade(args.campaign_id, args.inventory, extravars, event_handler=display, **extra,
                                 **_options(args))
        elif action == 'rollback':
            result = api.rollback(args.campaign_id, extra.pop('hosts'), args.inventory, extravars,
                                  campaign=extra.pop('campaign', False), event_handler=display, **_options(args))
        elif action == 'commit':
            result = api.commit(args.campaign_id, args.inventory, extravars, event_handler=display, **_options(args))
        else:
            result = api.run_playbook(action, args.campaign_id, args.inventory, extravars, event_handler=display,
                                      **extra, **_options(args))
    return result


def _confirm(prompt):
    sys.stdout.write(prompt)
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() == 'yes'


def cmd_upgrade(args):
    fingerprint = args.plan_fingerprint
    if not args.yes:
        if not sys.stdin.isatty():
            _err('upgrade needs a confirmation and stdin is not a terminal: review `escalator plan` and pass --yes '
                 '(with --plan-fingerprint to refuse a plan that changed since)')
            return int(ExitCode.USAGE)
        report = api.read_status(args.campaign_id, args.state_dir)
        if report.exists and report.status['campaign']['state'] != 'done':
            print(report.table)
            prompt = 'Resume campaign %s as shown above? Type \'yes\' to go on: ' % args.campaign_id
        else:
            plan_args = argparse.Namespace(**vars(args))
            plan_args.json = plan_args.json_events = False
            plan_args.plain = True
            result = _run(plan_args, 'plan')
            if not result.ok:
                return _finish(args, result)
            fingerprint = fingerprint or result.plan.get('fingerprint')
            hosts = sum(len(b.get('hosts', [])) for b in result.plan['plan'].get('batches', []))
            prompt = 'Campaign %s: upgrade %d host(s) in %d batch(es) as planned above. Type \'yes\' to start: ' % (
                args.campaign_id, hosts, len(result.plan['plan'].get('batches', [])))
        if not _confirm(prompt):
            _err('not confirmed; nothing was changed')
            return int(ExitCode.USAGE)
    return _finish(args, _run(args, 'upgrade', plan_fingerprint=fingerprint, wait_for_window=args.wait_for_window))


def _confirmed(args, action, prompt):
    if args.yes:
        return True
    if not sys.stdin.isatty():
        _err('%s needs a confirmation and stdin is not a terminal: pass --yes' % action)
        return False
    if not _confirm(prompt):
        _err('not confirmed; nothing was changed')
        return False
    return True


def cmd_rollback(args):
    what = 'every host campaign %s upgraded (the last upgraded first)' % args.campaign_id if args.campaign \
        else args.hosts
    if not _confirmed(args, 'rollback', 'Roll %s back from the backups of campaign %s? Type \'yes\': ' % (
            what, args.campaign_id)):
        return int(ExitCode.USAGE)
    return _finish(args, _run(args, 'rollback', hosts=args.hosts, campaign=args.campaign))


def cmd_commit(args):
    if not _confirmed(args, 'commit', 'Commit campaign %s: check its hosts, delete its backups (it can no longer be '
                      'rolled back)? Type \'yes\': ' % args.campaign_id):
        return int(ExitCode.USAGE)
    return _finish(args, _run(args, 'commit'))


def cmd_status(args):
    if not args.campaign_id:
        campaigns = api.list_campaigns(args.state_dir)
        if args.json:
            print(json.dumps(campaigns, default=str, sort_keys=True))
        elif not campaigns:
            print('no campaigns in %s' % api.resolve_state_dir(args.state_dir))
        else:
            for item in campaigns:
                print('%-30s %-11s started %s  finished %s' % (item['id'], item['state'] or '-', item['started'] or '-',
                                                               item['finished'] or '-'))
        return 0
    report = api.read_status(args.campaign_id, args.state_dir)
    if not report.exists:
        if args.json:
            print(json.dumps(report.to_dict(), default=str, sort_keys=True))
        _err('no campaign %s in %s (no %s)' % (args.campaign_id, report.state_dir,
                                                os.path.join(report.path, 'status.json')))
        return int(ExitCode.USAGE)
    if args.json:
        print(json.dumps(report.to_dict(), default=str, sort_keys=True))
    else:
        print(report.table)
    return 0


def cmd_unlock(args):
    result = api.unlock(args.campaign_id, cloud=args.cloud, clouds_yaml=args.clouds_yaml, state_dir=args.state_dir)
    if args.json:
        print(json.dumps(result.to_dict(), default=str, sort_keys=True))
    if result.ok:
        if not args.json:
            print(result.message)
    else:
        _err('unlock %s: %s' % (args.campaign_id, result.message))
    return int(result.exit_code)


def cmd_lab(args):
    root = locate.checkout_root()
    lab = os.path.join(root, 'lab', 'lab')
    os.execv(lab, [lab] + list(args.lab_args))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ('plan', 'precheck', 'upgrade', 'rollback', 'commit'):
            # bad input fails here, before any confirmation or run
            api.validate_campaign_id(args.campaign_id)
            api.resolve_inventory(args.inventory)
            api.parse_extra_vars(args.extra_vars)
        if args.command == 'upgrade':
            return cmd_upgrade(args)
        if args.command == 'rollback':
            return cmd_rollback(args)
        if args.command == 'commit':
            return cmd_commit(args)
        if args.command == 'status':
            return cmd_status(args)
        if args.command == 'unlock':
            api.validate_campaign_id(args.campaign_id)
            return cmd_unlock(args)
        if args.command == 'pause':
            return control_cli.cmd_pause(args)
        if args.command == 'lab':
            return cmd_lab(args)
        extra = dict(limit=args.limit) if getattr(args, 'limit', None) else {}
        return _finish(args, _run(args, args.command, **extra))
    except EscalatorAPIError as exc:
        _err(exc.msg)
        if getattr(args, 'json', False):
            print(json.dumps(dict(ok=False, exit_code=int(exc.exit_code), error_code=exc.error_code,
                                  message=exc.msg, outcome='invalid_input' if exc.exit_code == ExitCode.USAGE
                                  else 'internal_error')))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _err('interrupted')
        return int(ExitCode.INTERRUPTED)


if __name__ == '__main__':
    sys.exit(main())
