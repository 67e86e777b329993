#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An installer pipeline step that upgrades the compute nodes with Escalator's Python API.

    deploy.py --campaign-id 2026-11-kernel -i inventories/mycloud/hosts.yml [-e escalator_max_batch_size=2]

1. precheck: stop if the cloud or a host is not healthy (nothing changed);
2. plan: stop if no valid plan exists; keep its fingerprint;
3. upgrade with that fingerprint (the campaign refuses to start if the cloud changed since the plan),
   reacting to events: one line per host phase, and the first failed host is reported at once;
4. a summary, and the exit code of `escalator` (docs/cli.md) for the pipeline.

On the lab (docs/installer.md): `eval "$(lab/lab env)"` and
`flock /var/lib/escalator-lab/.test-lock .venv/bin/python examples/installer/deploy.py -c demo-1
-i inventories/lab/hosts.yml` (with the sample VNFM running, or -e escalator_vnfm=[]).
"""

import argparse
import sys

import escalator
from escalator.events import HostPhase, TaskResult


class Progress:
    """The pipeline's reaction to events: log each host's phase, remember the first failed host."""

    def __init__(self):
        self.first_failed_host = None
        self.phases = {}

    def __call__(self, event):
        if isinstance(event, HostPhase):
            self.phases.setdefault(event.host, []).append(event.phase)
            print('[%s] %s: %s (%s)' % (event.timestamp[11:19], event.host, event.phase, event.state), flush=True)
            if event.state in ('failed', 'rolled_back') and self.first_failed_host is None:
                self.first_failed_host = event.host
                print('!! %s failed (%s): %s' % (event.host, event.error_code, event.message), flush=True)
        elif isinstance(event, TaskResult) and event.failed and event.result == 'unreachable':
            print('!! %s unreachable in %r' % (event.host, event.task), flush=True)


def step(name, result):
    """Print one step's outcome; return True to go on."""
    if result.ok:
        print('== %s: ok (%.0fs)' % (name, result.duration_s or 0))
        return True
    print('== %s: %s (exit %d) %s: %s' % (name, result.outcome, int(result.exit_code), result.error_code or '',
                                          result.message), file=sys.stderr)
    if result.hint:
        print('   %s' % result.hint, file=sys.stderr)
    print('   artifacts: %s' % result.artifacts, file=sys.stderr)
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('-c', '--campaign-id', required=True)
    parser.add_argument('-i', '--inventory', required=True)
    parser.add_argument('-e', '--extra-vars', action='append', default=[], help='KEY=VALUE or @file')
    parser.add_argument('--cloud')
    parser.add_argument('--skip-precheck', action='store_true', help='the upgrade runs the precheck again anyway')
    args = parser.parse_args(argv)
    try:
        extravars = escalator.parse_extra_vars(args.extra_vars)
        common = dict(inventory=args.inventory, extravars=extravars, cloud=args.cloud)
        if not args.skip_precheck:
            result = escalator.precheck(args.campaign_id + '-precheck', **common)
            if not step('precheck', result):
                return int(result.exit_code)
        result = escalator.plan(args.campaign_id, **common)
        if not step('plan', result):
            return int(result.exit_code)
        print(result.plan['table'])
        progress = Progress()
        result = escalator.upgrade(args.campaign_id, plan_fingerprint=result.plan['fingerprint'],
                                   event_handler=progress, **common)
        step('upgrade', result)
    except escalator.InputError as exc:
        print('deploy: %s' % exc.msg, file=sys.stderr)
        return int(escalator.ExitCode.USAGE)
    if result.table:
        print(result.table)
    done = [h for h, r in (result.status or {}).get('hosts', {}).items() if r['state'] == 'done']
    print('summary: %s; %d host(s) upgraded%s' % (
        result.outcome, len(done), '; first failed host: %s' % progress.first_failed_host
        if progress.first_failed_host else ''))
    return int(result.exit_code)


if __name__ == '__main__':
    sys.exit(main())
