# SPDX-License-Identifier: Apache-2.0
"""The Python API: run Escalator's playbooks through ansible-runner and report typed results.

    import escalator
    result = escalator.upgrade('2026-11-kernel', inventory='inventories/mycloud/hosts.yml',
                               event_handler=print)
    print(result.exit_code, result.table)

Every run function (``plan``, ``precheck``, ``upgrade``, ``rollback``, ``commit``) takes the same keywords
(see :func:`run_playbook`) and returns a :class:`Result`; ``status`` reads the campaign state
store without running anything. Bad input raises :class:`escalator.errors.InputError` before
anything runs; everything that happens in the run is in the Result (never an exception).

Secrets: nothing secret is written under ``private_data_dir``. Extra vars go to ansible-playbook
through a temporary file (mode 0600, outside ``private_data_dir``, deleted after the run);
credentials in ``OS_*`` variables (OS_PASSWORD, OS_TOKEN, OS_APPLICATION_CREDENTIAL_SECRET...)
are moved into a temporary clouds.yaml (same rules) instead of the environment that ansible-runner
records in ``artifacts/<ident>/command``; other variables whose name says PASSWORD, SECRET, TOKEN
or CREDENTIAL are not passed on at all (``Result.warnings`` says so).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import time
from typing import Any, Callable

from escalator import control, locate
from escalator.errors import ExitCode, ExitCodeResult, InputError, decide
from escalator.events import EventParser

DEFAULT_KEEP_ARTIFACTS = 10
PLAYBOOKS = {
    'plan': 'plan.yml',
    'precheck': 'precheck.yml',
    'upgrade': 'upgrade_compute.yml',
    'rollback': 'rollback_compute.yml',
    'commit': 'commit_campaign.yml',
}
CALLBACK = 'opnfv.escalator.campaign_status'
SECRET_NAME = re.compile(r'PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_KEY|PRIVATE_KEY', re.IGNORECASE)
# OS_* variables that openstacksdk reads as auth plugin options (the rest are connection options)
AUTH_KEYS = frozenset((
    'auth_url', 'username', 'user_id', 'password', 'project_name', 'project_id', 'tenant_name', 'tenant_id',
    'user_domain_name', 'user_domain_id', 'project_domain_name', 'project_domain_id', 'domain_name', 'domain_id',
    'default_domain_name', 'default_domain_id', 'token', 'application_credential_id', 'application_credential_name',
    'application_credential_secret', 'system_scope', 'trust_id', 'passcode', 'totp'))
NOT_CLOUD_KEYS = frozenset(('OS_CLOUD', 'OS_CLIENT_CONFIG_FILE', 'OS_CLOUD_NAME'))
ENV_CLOUD = 'escalator-env'

HINTS = {
    'E_CONNECT': 'cannot reach the OpenStack API: check auth_url in clouds.yaml and that the endpoint answers',
    'E_AUTH': 'credentials rejected: check the user, password/application credential and domains in clouds.yaml',
    'E_FORBIDDEN': 'these credentials are not allowed to do this: Escalator needs an admin user',
    'E_LOCK': 'the cloud lock (another campaign) or this campaign\'s run lock (another run of it) is held: the '
              'message says whether that run is live, and how to resume or abandon it (escalator unlock -c ID)',
    'E_PRECHECK': 'the precheck found problems: fix them and run again (nothing was changed)',
    'E_PLAN': 'no valid plan, or the plan changed since it was reviewed: run `escalator plan` again',
    'E_UNREACHABLE': 'a compute host cannot be reached over SSH: check it and run the same command again',
    'E_PAUSED': control.PAUSED_HINT,
    'E_HANG': 'a phase ran past escalator_hang_multiple times its expected duration (escalator_hang_policy fail): '
              'the host was failed and rolled back; find what hung (its phase in the events), then resume',
    'E_CANARY': 'the upgraded host did not take the canary server in (escalator_verify_canary): it was rolled back; '
                'see the canary result in the verify report and the host\'s nova-compute log',
    'E_CANARY_BOOT': 'the canary server could not start on any enabled host (flavor, image, network or capacity: '
                     'escalator_verify_canary_*); the host was not released - fix the canary settings and resume',
    'E_STATE': 'the campaign\'s state refuses this (the message says why and what to do first)',
}

OUTCOMES = {
    ExitCode.OK: 'ok', ExitCode.FAILED: 'failed', ExitCode.USAGE: 'invalid_input', ExitCode.PRECHECK: 'blocked',
    ExitCode.LOCKED: 'locked', ExitCode.CLOUD: 'cloud_error', ExitCode.PLAN: 'plan_invalid',
    ExitCode.UNREACHABLE: 'unreachable', ExitCode.INTERRUPTED: 'interrupted', ExitCode.INTERNAL: 'internal_error',
    ExitCode.PAUSED: 'paused',
}


@dataclasses.dataclass
class Result(ExitCodeResult):
    """What one run amounts to.

    ``exit_code`` (:class:`escalator.errors.ExitCode`) and ``outcome`` classify it; ``error_code`` and
    ``message`` explain the first failure; ``status``/``table`` are the campaign's state after the run
    (from the state store), ``plan`` the plan the run computed, ``artifacts`` ansible-runner's artifact
    directory of this run (events, stdout).
    """

    action: str
    campaign_id: str
    exit_code: ExitCode
    rc: int | None
    runner_status: str | None
    error_code: str | None = None
    message: str | None = None
    failures: list = dataclasses.field(default_factory=list)
    status: dict[str, Any] | None = None
    table: str | None = None
    plan: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    artifacts: str | None = None
    private_data_dir: str | None = None
    state_dir: str | None = None
    duration_s: float | None = None
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def hint(self):
        """What to do about the failure, in one sentence (None when ok or nothing specific)."""
        return None if self.ok else HINTS.get(self.error_code)

    @property
    def outcome(self):
        return OUTCOMES[self.exit_code]

    def _extra_dict(self):
        return dict(outcome=self.outcome, hint=self.hint)


@dataclasses.dataclass
class StatusReport:
    """A campaign's status read from the state store (``status`` is None for an unknown campaign)."""

    campaign_id: str
    state_dir: str
    path: str
    status: dict[str, Any] | None
    table: str | None
    summary: dict[str, Any] | None

    @property
    def exists(self):
        return self.status is not None

    def to_dict(self):
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------
# input
# ----------------------------------------------------------------------------------------------

def validate_campaign_id(campaign_id):
    problem = locate.collection_module('campaign_id').problem(campaign_id)   # the collection's one rule
    if problem:
        raise InputError(problem)
    return campaign_id


def resolve_inventory(inventory, environ=None):
    """An absolute, existing inventory path (file or directory); InputError otherwise."""
    if inventory is None:
        inventory = locate.default_inventory(environ)
        if inventory is None:
            raise InputError('no inventory: pass one (-i/--inventory PATH, or inventory= in the API), or set '
                             'ESCALATOR_INVENTORY; the hosts must be named as Nova names the compute services')
    if not isinstance(inventory, (str, os.PathLike)):
        raise InputError('the inventory must be a path (file or directory), not %r' % (inventory,))
    path = os.path.abspath(os.path.expanduser(os.fspath(inventory)))
    if not os.path.exists(path):
        raise InputError('inventory %s does not exist' % path)
    return path


def resolve_state_dir(state_dir=None, environ=None):
    """The collection's state-directory rule (module_utils/state/paths.py), as the playbooks and modules apply it."""
    return locate.collection_module('state.paths').resolve_state_dir(state_dir, environ)


def _check_extravars(extravars):
    if extravars is None:
        return {}
    if not isinstance(extravars, dict) or not all(isinstance(k, str) and k for k in extravars):
        raise InputError('extravars must be a dict with variable names as keys, not %r' % (extravars,))
    try:
        json.dumps(extravars)
    except (TypeError, ValueError) as exc:
        raise InputError('extravars must be JSON-serialisable: %s' % exc) from exc
    return dict(extravars)


def parse_extra_vars(items):
    """``-e`` values as the CLI takes them: ``KEY=VALUE`` (VALUE parsed as JSON when it is JSON, e.g.
    ``2``, ``true``, ``["a"]``), ``@file`` (YAML or JSON) or a JSON object."""
    result = {}
    for item in items or ():
        if item.startswith('@'):
            path = os.path.expanduser(item[1:])
            try:
                with open(path, encoding='utf-8') as handle:
                    text = handle.read()
            except OSError as exc:
                raise InputError('cannot read extra vars file %s: %s' % (path, exc.strerror)) from exc
            try:
                import yaml  # pylint: disable=import-outside-toplevel
                data = yaml.safe_load(text)
            except Exception as exc:  # pylint: disable=broad-except
                raise InputError('extra vars file %s is not valid YAML/JSON: %s' % (path, exc)) from exc
            if not isinstance(data, dict):
                raise InputError('extra vars file %s must hold a mapping of variables' % path)
            result.update(data)
        elif item.lstrip().startswith('{'):
            try:
                data = json.loads(item)
            except ValueError as exc:
                raise InputError('extra vars %r: not a JSON object (%s)' % (item, exc)) from exc
            result.update(data)
        elif '=' in item and item.split('=', 1)[0].strip():
            key, value = item.split('=', 1)
            key = key.strip()
            if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', key):
                raise InputError('extra var name %r is not a valid variable name' % key)
            try:
                result[key] = json.loads(value)
            except ValueError:
                result[key] = value
        else:
            raise InputError('extra vars %r: use KEY=VALUE, @file.yml or a JSON object' % item)
    return result


# ----------------------------------------------------------------------------------------------
# the environment of the run (secrets stay out of private_data_dir)
# ----------------------------------------------------------------------------------------------

def _env_cloud(environ):
    """openstacksdk's "envvars" cloud from OS_* variables, as a clouds.yaml entry (or None)."""
    auth, options = {}, {}
    for key, value in environ.items():
        if not key.startswith('OS_') or key in NOT_CLOUD_KEYS or not value:
            continue
        name = key[3:].lower()
        (auth if name in AUTH_KEYS else options)[name] = value
    if not auth:
        return None
    entry = dict(options, auth=auth)
    return entry


def build_environment(environ, workdir, collections_path, state_dir, cloud=None, clouds_yaml=None):
    """(env, warnings): the environment for ansible-playbook, without secret values.

    Secret OS_* variables become a clouds.yaml in ``workdir`` (the caller's temporary directory), unless a
    cloud is given: a name (of clouds.yaml) or a dict (``escalator_cloud`` with the whole configuration, which
    the modules pass to openstacksdk; OS_CLOUD is then dropped too, openstacksdk would look that cloud up).
    Ansible shows no task arguments in the runner's task-start events (ANSIBLE_DISPLAY_ARGS_TO_STDOUT).
    """
    warnings = []
    env = {}
    secret_os = {k for k in environ if k.startswith('OS_') and SECRET_NAME.search(k) and k not in NOT_CLOUD_KEYS}
    for key, value in environ.items():
        if SECRET_NAME.search(key) and not key.startswith('OS_'):
            warnings.append('%s is not passed to ansible-playbook (its name says it is a secret and '
                            'ansible-runner records the environment in its artifacts)' % key)
            continue
        env[key] = value
    if isinstance(cloud, dict):
        env.pop('OS_CLOUD', None)
    if secret_os:
        named = cloud or environ.get('OS_CLOUD')
        for key in [k for k in env if k.startswith('OS_') and k not in NOT_CLOUD_KEYS]:
            del env[key]
        if isinstance(cloud, dict):
            warnings.append('%s ignored: the cloud given as a dict (escalator_cloud) is used' % ', '.join(sorted(secret_os)))
        elif named:
            warnings.append('%s ignored: the cloud %r of clouds.yaml is used' % (', '.join(sorted(secret_os)), named))
        else:
            entry = _env_cloud(environ)
            path = os.path.join(workdir, 'clouds.yaml')
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                json.dump({'clouds': {ENV_CLOUD: entry}}, handle)
            env['OS_CLIENT_CONFIG_FILE'] = path
            env['OS_CLOUD'] = ENV_CLOUD
    if clouds_yaml:
        env['OS_CLIENT_CONFIG_FILE'] = clouds_yaml
    if cloud and isinstance(cloud, str):
        env['OS_CLOUD'] = cloud
    paths = [p for p in env.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    if collections_path not in paths:
        paths.insert(0, collections_path)
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(paths)
    callbacks = [c for c in env.get('ANSIBLE_CALLBACKS_ENABLED', '').split(',') if c.strip()]
    if CALLBACK not in callbacks:
        callbacks.append(CALLBACK)
    env['ANSIBLE_CALLBACKS_ENABLED'] = ','.join(callbacks)
    env['ESCALATOR_STATE_DIR'] = state_dir
    # the ansible-playbook of this Python environment (a virtualenv's bin/ need not be on PATH)
    bindir = os.path.dirname(sys.executable)
    if os.path.isfile(os.path.join(bindir, 'ansible-playbook')):
        path = [p for p in env.get('PATH', os.defpath).split(os.pathsep) if p and p != bindir]
        env['PATH'] = os.pathsep.join([bindir] + path)
    env['ESCALATOR_PRINT_TABLE'] = 'true'
    env.setdefault('ANSIBLE_FORCE_COLOR', '0')
    env.setdefault('ANSIBLE_NOCOLOR', '1')
    env.setdefault('ANSIBLE_HOST_KEY_CHECKING', 'False')
    # a task's arguments at its start (ansible-runner's playbook_on_task_start event: task_args, in job_events/
    # and the stdout) are not censored like results are: never shown, whatever the caller's environment says
    env['ANSIBLE_DISPLAY_ARGS_TO_STDOUT'] = 'False'
    return env, warnings


def _inside(path, directory):
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------

def run_playbook(action, campaign_id, inventory=None, extravars=None, *, cloud=None, clouds_yaml=None,
                 state_dir=None, private_data_dir=None, keep_artifacts=DEFAULT_KEEP_ARTIFACTS,
                 event_handler: Callable | None = None, limit=None, project_dir=None, playbook=None,
                 verbosity=0, environ=None):
    """Run one of Escalator's playbooks for a campaign and return a :class:`Result`.

    action          plan, precheck, upgrade, rollback or commit (picks the playbook unless ``playbook``)
    campaign_id     the campaign (names the state, the lock, the backups; re-running resumes)
    inventory       path of the inventory (file or directory); default ESCALATOR_INVENTORY, or the lab's
                    inventory when run from a checkout after `lab up`
    extravars       dict of extra variables (every knob of inventories/example/group_vars/all.yml)
    cloud           the clouds.yaml cloud name (sets escalator_cloud and OS_CLOUD)
    clouds_yaml     path of clouds.yaml (default OS_CLIENT_CONFIG_FILE / openstacksdk's search path)
    state_dir       the campaign state directory (default ESCALATOR_STATE_DIR or ~/.escalator/campaigns)
    private_data_dir ansible-runner's directory (default $ESCALATOR_HOME/runs/<campaign>, ESCALATOR_HOME
                    defaulting to ~/.escalator); each run is one artifact directory <time>-<action> in it
    keep_artifacts  how many artifact directories to keep (older ones are deleted; 0 keeps all)
    event_handler   called with each typed event (escalator.events) while the playbook runs
    limit           host pattern (ansible --limit), e.g. for rollback
    project_dir     the playbook directory (default: the checkout's playbooks/ or the installed collection's)
    """
    started = time.monotonic()
    if action not in PLAYBOOKS and not playbook:
        raise InputError('unknown action %r (one of %s)' % (action, ', '.join(PLAYBOOKS)))
    validate_campaign_id(campaign_id)
    inventory = resolve_inventory(inventory, environ)
    extravars = _check_extravars(extravars)
    environ = dict(os.environ if environ is None else environ)
    if clouds_yaml is None and environ.get('OS_CLIENT_CONFIG_FILE'):
        clouds_yaml = environ['OS_CLIENT_CONFIG_FILE']
    if clouds_yaml is not None:
        clouds_yaml = os.path.abspath(os.path.expanduser(os.fspath(clouds_yaml)))
        if not os.path.isfile(clouds_yaml):
            raise InputError('clouds.yaml %s does not exist (--clouds-yaml / OS_CLIENT_CONFIG_FILE)' % clouds_yaml)
    if keep_artifacts is None or int(keep_artifacts) < 0:
        raise InputError('keep_artifacts must be 0 (keep all) or more')
    project = locate.playbook_dir(project_dir, environ)
    playbook = playbook or PLAYBOOKS[action]
    if not os.path.isfile(os.path.join(project, playbook)):
        raise InputError('playbook %s not found in %s' % (playbook, project))
    collections_path = locate.collections_root(environ)
    explicit_state_dir = state_dir is not None
    state_dir = resolve_state_dir(state_dir, environ)
    private_data_dir = os.path.abspath(os.path.expanduser(
        private_data_dir or os.path.join(locate.escalator_home(environ), 'runs', campaign_id)))
    os.makedirs(private_data_dir, mode=0o700, exist_ok=True)
    os.makedirs(state_dir, mode=0o750, exist_ok=True)

    variables = dict(extravars)
    variables['escalator_campaign_id'] = campaign_id
    if explicit_state_dir:
        variables['escalator_state_dir'] = state_dir    # outranks an escalator_state_dir of the inventory
    if action == 'upgrade':
        variables['escalator_confirm'] = False      # the caller confirms (the CLI asks before it starts)
    if cloud:
        variables['escalator_cloud'] = cloud
    if clouds_yaml:
        variables.setdefault('escalator_clouds_yaml', clouds_yaml)

    ident = '%s-%s' % (datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ'), action)
    parser = EventParser()
    handler_errors = []

    def on_event(raw):
        for event in parser.feed(raw):
            if event_handler is not None:
                try:
                    event_handler(event)
                except Exception as exc:  # pylint: disable=broad-except
                    if len(handler_errors) < 5:
                        handler_errors.append('event_handler raised %s: %s' % (type(exc).__name__, exc))
        return True

    workdir = tempfile.mkdtemp(prefix='escalator-run-')
    if _inside(workdir, private_data_dir):
        raise InputError('TMPDIR must not be inside private_data_dir %s' % private_data_dir)
    runner = None
    interrupted = False
    try:
        cloud_dict = variables.get('escalator_cloud') if isinstance(variables.get('escalator_cloud'), dict) else None
        env, warnings = build_environment(environ, workdir, collections_path, state_dir, cloud=cloud or cloud_dict,
                                          clouds_yaml=clouds_yaml)
        vars_path = os.path.join(workdir, 'extravars.json')
        fd = os.open(vars_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            json.dump(variables, handle)
        cmdline = '-e @%s' % shlex.quote(vars_path)
        if limit:
            cmdline += ' --limit %s' % shlex.quote(limit if isinstance(limit, str) else ','.join(limit))
        from ansible_runner.interface import init_runner  # pylint: disable=import-outside-toplevel
        runner = init_runner(
            private_data_dir=private_data_dir, project_dir=project, playbook=playbook, inventory=inventory,
            ident=ident, cmdline=cmdline, envvars={}, suppress_env_files=True, rotate_artifacts=int(keep_artifacts),
            event_handler=on_event, quiet=True, verbosity=verbosity or None, json_mode=False,
        )
        # ansible-runner seeds the job's environment with os.environ and writes it to artifacts/<ident>/command:
        # keep only what ansible-runner itself set, on top of ours (which has no secret values)
        added = {k: v for k, v in runner.config.env.items()
                 if os.environ.get(k) != v and not (k.startswith('OS_') or SECRET_NAME.search(k))}
        runner.config.env = dict(env, **added)
        try:
            runner.run()
        except KeyboardInterrupt:
            interrupted = True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    result = _result(action, campaign_id, runner, parser, interrupted, state_dir, private_data_dir)
    result.warnings = warnings + handler_errors
    result.duration_s = round(time.monotonic() - started, 3)
    _write_summary(result, playbook, inventory, sorted(variables))
    return result


def _result(action, campaign_id, runner, parser, interrupted, state_dir, private_data_dir):
    rc = getattr(runner, 'rc', None)
    runner_status = getattr(runner, 'status', None)
    artifacts = getattr(getattr(runner, 'config', None), 'artifact_dir', None)
    failures = list(parser.failures)
    codes = parser.error_codes()
    if parser.plan is not None and not parser.plan['feasible']:
        codes.append('E_PLAN')
    first = parser.first_failure()
    error_code, message = (first.error_code, first.message) if first else (None, None)
    if interrupted or runner_status == 'canceled':
        exit_code = ExitCode.INTERRUPTED
        message = message or 'interrupted; run the same command again to resume the campaign'
    elif rc == 0 and runner_status == 'successful':
        exit_code = ExitCode.OK
    elif failures or codes:
        exit_code = decide(codes)
        if not error_code:
            error_code = next((c for c in codes if c), None)
        if first is None and parser.soft_errors:
            message = parser.soft_errors[0].message
    else:
        exit_code = ExitCode.INTERNAL
        error_code = 'E_INTERNAL'
        message = 'ansible-playbook ended with rc=%s (%s) without an Escalator error; see %s' % (
            rc, runner_status, os.path.join(artifacts or private_data_dir, 'stdout'))
        tail = _stdout_tail(runner)
        if tail:
            message += ':\n' + tail
    if exit_code == ExitCode.CLOUD and first is not None and first.error_code not in ('E_CONNECT', 'E_AUTH',
                                                                                         'E_FORBIDDEN'):
        cloud = next((f for f in failures + parser.soft_errors
                      if f.error_code in ('E_CONNECT', 'E_AUTH', 'E_FORBIDDEN')), None)
        if cloud is not None:
            error_code, message = cloud.error_code, cloud.message
    recorded = parser.state_paths.get(campaign_id)
    if recorded and os.path.basename(recorded.rstrip('/')) == campaign_id:
        state_dir = os.path.dirname(recorded.rstrip('/'))   # where the playbook recorded (the inventory may say)
    report = read_status(campaign_id, state_dir) if action in ('upgrade', 'rollback', 'commit') else None
    status = report.status if report else None
    if status is None and parser.status is not None and parser.status.get('campaign', {}).get('id') == campaign_id:
        status = parser.status
    table = report.table if report and report.status else None
    if exit_code == ExitCode.OK and action == 'upgrade':
        # a run that ended well may have paused the campaign (the gate before a batch): its own exit code
        paused = control.paused_outcome(campaign_id, state_dir, status)
        if paused:
            exit_code, message = paused
            error_code = 'E_PAUSED'
    return Result(action=action, campaign_id=campaign_id, exit_code=exit_code, rc=rc, runner_status=runner_status,
                  error_code=error_code, message=message, failures=[f.to_dict() for f in failures], status=status,
                  table=table, plan=parser.plan, stats=parser.stats, artifacts=artifacts,
                  private_data_dir=private_data_dir, state_dir=state_dir)


def _stdout_tail(runner, lines=15):
    path = os.path.join(getattr(runner.config, 'artifact_dir', '') or '', 'stdout') if runner else None
    if not path or not os.path.isfile(path):
        return ''
    with open(path, encoding='utf-8', errors='replace') as handle:
        text = [line.rstrip() for line in handle.read().splitlines() if line.strip()]
    return '\n'.join(text[-lines:])


def _write_summary(result, playbook, inventory, variable_names):
    """artifacts/<ident>/escalator.json: what ran and how it ended (no values of variables)."""
    if not result.artifacts or not os.path.isdir(result.artifacts):
        return
    data = dict(action=result.action, campaign_id=result.campaign_id, playbook=playbook, inventory=inventory,
                extra_var_names=variable_names, exit_code=int(result.exit_code), outcome=result.outcome,
                error_code=result.error_code, message=result.message, rc=result.rc, duration_s=result.duration_s)
    with open(os.path.join(result.artifacts, 'escalator.json'), 'w', encoding='utf-8') as handle:
        json.dump(data, handle, indent=2)


# ----------------------------------------------------------------------------------------------
# the public functions
# ----------------------------------------------------------------------------------------------

def plan(campaign_id, inventory=None, extravars=None, **options):
    """Compute (and show) the campaign's plan; changes nothing. ``Result.plan`` holds ``table``,
    ``fingerprint``, ``feasible`` and ``plan``; an infeasible plan exits ``PLAN``."""
    return run_playbook('plan', campaign_id, inventory, extravars, **options)


def precheck(campaign_id, inventory=None, extravars=None, **options):
    """Health checks of the cloud and every compute host; changes nothing. Problems exit ``PRECHECK``."""
    return run_playbook('precheck', campaign_id, inventory, extravars, **options)


def upgrade(campaign_id, inventory=None, extravars=None, *, plan_fingerprint=None, wait_for_window=None, **options):
    """Run (or resume) the rolling upgrade campaign. ``plan_fingerprint`` (from :func:`plan`) makes it refuse
    to start when the cloud changed since the plan was reviewed; ``wait_for_window`` waits for the next
    maintenance window instead of pausing (escalator_wait_for_window). A paused campaign exits ``PAUSED``."""
    extravars = dict(_check_extravars(extravars))
    if plan_fingerprint:
        extravars['escalator_plan_fingerprint'] = plan_fingerprint
    if wait_for_window is not None:
        extravars['escalator_wait_for_window'] = bool(wait_for_window)
    _closing_check(campaign_id, options.get('state_dir'), 'upgrade')      # a committed campaign is closed
    return run_playbook('upgrade', campaign_id, inventory, extravars, **options)


def rollback(campaign_id, hosts=None, inventory=None, extravars=None, *, campaign=False, **options):
    """Restore ``hosts`` (a list or a host pattern) from the campaign's backups and leave maintenance; or, with
    ``campaign=True`` (and no hosts), every host the campaign upgraded, the last upgraded first, each emptied
    first under the budgets; the campaign then ends ``rolled_back``. A committed campaign is refused (InputError):
    its backups are deleted."""
    if options.get('limit'):
        raise InputError('rollback takes the hosts, not limit')
    if campaign:
        if hosts:
            raise InputError('rollback takes either the hosts or campaign=True (every host the campaign upgraded), '
                             'not both')
        _closing_check(campaign_id, options.get('state_dir'), 'rollback')
        extravars = dict(_check_extravars(extravars), escalator_rollback_campaign=True)
        return run_playbook('rollback', campaign_id, inventory, extravars, **options)
    if not hosts:
        raise InputError('rollback needs the hosts to restore (a list of inventory host names or a pattern), or '
                         'campaign=True for every host the campaign upgraded')
    _closing_check(campaign_id, options.get('state_dir'), 'rollback')
    return run_playbook('rollback', campaign_id, inventory, extravars, limit=hosts, **options)


def commit(campaign_id, inventory=None, extravars=None, **options):
    """Close a done campaign's rollback window: check every host it upgraded (target versions, healthy), delete
    its backups on the hosts and on the controller, and record it ``committed`` (it can no longer be rolled back).
    A campaign that is not done is refused before anything runs (InputError, saying what to do first)."""
    _closing_check(campaign_id, options.get('state_dir'), 'commit')
    return run_playbook('commit', campaign_id, inventory, extravars, **options)


def _closing_check(campaign_id, state_dir, action):
    """Refuse (InputError) what the campaign's state refuses, before anything runs: a commit of a campaign that is
    not done, a rollback of a committed one (the state machine's rules, state/closing.py)."""
    validate_campaign_id(campaign_id)
    state = locate.collection_module('state')
    try:
        store = state.CampaignStore(campaign_id, resolve_state_dir(state_dir))
        status = store.read_status()
        if status is None:
            if action == 'commit':
                raise InputError('campaign %s has not been started (no %s): nothing to commit'
                                 % (campaign_id, store.status_path))
            return
        if action == 'commit':
            store.commit(check_mode=True)
        else:
            state.check_open(status, 'rolled back' if action == 'rollback' else 'run again')
    except state.EscalatorError as exc:
        raise InputError(exc.msg) from exc


def read_status(campaign_id, state_dir=None):
    """The campaign's status from its state store (no ansible run): a :class:`StatusReport`."""
    validate_campaign_id(campaign_id)
    state = locate.collection_module('state')
    directory = resolve_state_dir(state_dir)
    try:
        store = state.CampaignStore(campaign_id, directory)
        status = store.read_status()
    except state.EscalatorError as exc:
        raise InputError(exc.msg) from exc
    if status is None:
        return StatusReport(campaign_id, directory, store.path, None, None, None)
    table = state.render_table(status)
    if status['campaign'].get('state') == 'running' and \
            locate.collection_module('run_guard').holder(store.path) is None:
        # nothing holds the run lock: the run that recorded 'running' was killed before it could close the campaign
        table += ('\nNo run of campaign %s is live on this controller: the last run was interrupted before it '
                  'closed the campaign. Run the same command again to resume it.' % campaign_id)
    table = '\n'.join([table] + control.progress_lines(directory, status))
    return StatusReport(campaign_id, directory, store.path, status, table, state.summary(status))


def status(campaign_id, state_dir=None):
    """Alias of :func:`read_status`."""
    return read_status(campaign_id, state_dir)


def list_campaigns(state_dir=None):
    """The campaigns found in the state directory (what ``escalator status`` without an id lists)."""
    state = locate.collection_module('state')
    return state.list_campaigns(resolve_state_dir(state_dir))


@dataclasses.dataclass
class UnlockResult(ExitCodeResult):
    """What ``unlock`` did: ``released`` (the lock was this campaign's and is gone), ``exit_code`` (OK, LOCKED when a
    run of the campaign is live on this controller or another campaign holds the lock, CLOUD), ``message``, and
    the lock as it was (``previous``)."""

    campaign_id: str
    exit_code: ExitCode
    released: bool
    message: str
    error_code: str | None = None
    previous: dict[str, Any] | None = None


def _connect(cloud, clouds_yaml):
    """An authenticated openstacksdk connection (openstacksdk reads clouds.yaml's path from the environment only)."""
    saved = os.environ.get('OS_CLIENT_CONFIG_FILE')
    if clouds_yaml:
        os.environ['OS_CLIENT_CONFIG_FILE'] = os.path.abspath(os.path.expanduser(clouds_yaml))
    try:
        return locate.collection_module('openstack').connect(dict(cloud=cloud))
    finally:
        if saved is None:
            os.environ.pop('OS_CLIENT_CONFIG_FILE', None)
        else:
            os.environ['OS_CLIENT_CONFIG_FILE'] = saved


def unlock(campaign_id, *, cloud=None, clouds_yaml=None, state_dir=None, lock_name=None, conn=None, environ=None):
    """Abandon campaign ``campaign_id``: release the cloud's campaign lock it holds (what the playbook's end does),
    so that another campaign may start. Refused (LOCKED) while a run of it is live on this controller - its run
    lock in ``state_dir`` is held, or the ansible-playbook recorded in the cloud's lock still runs here - and when
    another campaign holds the lock (release that one with its own id). Its state is kept: running ``upgrade``
    with the same id later resumes it (and takes the lock again). ``conn``: an openstacksdk connection (default:
    ``cloud``/``clouds_yaml``, else OS_CLOUD / OS_CLIENT_CONFIG_FILE)."""
    validate_campaign_id(campaign_id)
    environ = dict(os.environ if environ is None else environ)
    lock = locate.collection_module('lock')
    run_guard = locate.collection_module('run_guard')
    state = locate.collection_module('state')
    errors = locate.collection_module('errors')
    name = lock_name or lock.DEFAULT_LOCK_NAME
    directory = resolve_state_dir(state_dir, environ)
    try:
        held = run_guard.holder(state.CampaignStore(campaign_id, directory).path)
    except state.EscalatorError as exc:
        raise InputError(exc.msg) from exc
    if held is not None:
        return UnlockResult(campaign_id, ExitCode.LOCKED, False, error_code='E_LOCK',
                            message='not released: ' + run_guard.describe(campaign_id, held))
    try:
        if conn is None:
            conn = _connect(cloud or environ.get('OS_CLOUD'), clouds_yaml or environ.get('OS_CLIENT_CONFIG_FILE'))
        current = lock.lock_info(conn, name)
        if current is not None and current.get('campaign_id') == campaign_id:
            live = lock.live_here(current, socket.gethostname(), run_guard.process_alive)
            if live:
                recorded = lock.recorded_process(current)
                return UnlockResult(campaign_id, ExitCode.LOCKED, False, error_code='E_LOCK', previous=current,
                                    message='not released: campaign %s is being run right now by process %s on %s '
                                    '(run %s): stop it first' % (campaign_id, recorded['pid'], recorded['controller'],
                                                                 current.get('run_id') or '-'))
        result = lock.release(conn, campaign_id, name=name)
    except errors.EscalatorError as exc:
        code = ExitCode.LOCKED if exc.code == 'E_LOCK' else ExitCode.CLOUD
        return UnlockResult(campaign_id, code, False, error_code=exc.code, message=exc.msg)
    if not result['changed']:
        return UnlockResult(campaign_id, ExitCode.OK, False, message='campaign lock %s is not held: nothing to release'
                            % name)
    return UnlockResult(campaign_id, ExitCode.OK, True, previous=result['previous'],
                        message='campaign lock %s released: campaign %s is abandoned (its state stays in %s; '
                        '`escalator upgrade -c %s` resumes it and takes the lock again)'
                        % (name, campaign_id, os.path.join(directory, campaign_id), campaign_id))
