# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
name: campaign_status
type: aggregate
short_description: Record every task result of a campaign in its event log and print its status table
version_added: 0.1.0
description:
  - Appends one event to the campaign's C(events.jsonl) for every task result on a host - the task's
    name and module, the host, ok/changed/failed/unreachable/skipped, the C(error_code) of the result
    if any, and the duration (see the collection's C(docs/status.md)).
  - Records each host's phase from the tags of its tasks - the campaign playbooks tag every task of a
    host's upgrade with its phase. When a host starts its first task of phase V(maintenance),
    V(notify), V(evacuate), V(backup), V(upgrade) or V(verify), the host's state and phase are
    recorded (V(draining) for the first three, V(upgrading) for backup and upgrade, V(verifying) for
    verify), as a M(opnfv.escalator.campaign_state) task would. The first phase a host enters in a run
    starts a new attempt - a host recorded in any state but V(pending) is reset. Nothing is recorded in
    check mode, for a campaign that was never started, or for a host the campaign does not list.
  - A host that cannot be reached is marked V(failed) with error code C(E_UNREACHABLE) in the status
    table (unless it is already V(done) or V(skipped)), and an alert is raised (POSTed to
    O(webhook_url) when set) - a block's rescue does not run for unreachable hosts, so nothing else
    would record it.
  - Prints the campaign's status table at the end of the playbook.
  - The campaign is named by the play variable C(escalator_campaign_id) (play vars or extra vars,
    templated at the start of each play), else by O(campaign_id). The state directory is the one the
    last M(opnfv.escalator.campaign_state) or M(opnfv.escalator.campaign_state_info) result of that
    campaign reported (so an C(escalator_state_dir) set in the inventory is followed), else the play's
    C(escalator_state_dir), else O(state_dir). The run id is that of the last
    M(opnfv.escalator.campaign_state) result seen or of the campaign lock this run took
    (M(opnfv.escalator.campaign_lock) result), else C(escalator_run_id), else O(run_id).
    Without a campaign id the plugin does nothing.
  - Results of M(opnfv.escalator.campaign_state) and M(opnfv.escalator.campaign_state_info) are not
    logged again (they record their own events).
  - The content of a C(no_log) result is never written - only its status.
  - With O(metrics_pushgateway_url) or O(metrics_textfile), exports the campaign's metrics (hosts by state, batches,
    phase durations, elapsed time, and this run's migrations, VNF manager replies and failures by error code; the
    collection's C(docs/metrics.md)) whenever the campaign's state changes and at the end of the playbook.
requirements:
  - Enable it in C(ansible.cfg) - C(callbacks_enabled = opnfv.escalator.campaign_status) under
    C([defaults]), or E(ANSIBLE_CALLBACKS_ENABLED=opnfv.escalator.campaign_status).
author:
  - Escalator developers (@opnfv)
options:
  campaign_id:
    description:
      - The campaign, when the play does not set C(escalator_campaign_id).
    type: str
    env:
      - name: ESCALATOR_CAMPAIGN_ID
    ini:
      - section: escalator
        key: campaign_id
  state_dir:
    description:
      - The state directory, when the play does not set C(escalator_state_dir).
      - Defaults to C(~/.escalator/campaigns).
    type: path
    env:
      - name: ESCALATOR_STATE_DIR
    ini:
      - section: escalator
        key: state_dir
  run_id:
    description:
      - The run id, until a M(opnfv.escalator.campaign_state) result or C(escalator_run_id) says otherwise.
    type: str
    env:
      - name: ESCALATOR_RUN_ID
    ini:
      - section: escalator
        key: run_id
  webhook_url:
    description:
      - Where to POST the alert raised for an unreachable host.
    type: str
    env:
      - name: ESCALATOR_WEBHOOK_URL
    ini:
      - section: escalator
        key: webhook_url
  metrics_pushgateway_url:
    description:
      - Push the campaign's metrics to this Prometheus Pushgateway (PUT to its group
        C(job=escalator,campaign=<campaign id>)). Basic-auth credentials may be given as the URL's user info; they
        are never shown.
      - The variable C(escalator_metrics_pushgateway_url) (inventory, play or extra vars, as C(localhost) sees it)
        takes precedence.
    type: str
    version_added: 0.1.0
    env:
      - name: ESCALATOR_METRICS_PUSHGATEWAY_URL
    ini:
      - section: escalator
        key: metrics_pushgateway_url
  metrics_textfile:
    description:
      - Write the campaign's metrics to this file (for node_exporter's textfile collector; the name must end in
        C(.prom)), replaced atomically.
      - The variable C(escalator_metrics_textfile) takes precedence.
    type: path
    version_added: 0.1.0
    env:
      - name: ESCALATOR_METRICS_TEXTFILE
    ini:
      - section: escalator
        key: metrics_textfile
  metrics_timeout:
    description:
      - Seconds a push to the Pushgateway may take in all; after 3 failed pushes the run pushes no more.
    type: float
    default: 2.0
    version_added: 0.1.0
    env:
      - name: ESCALATOR_METRICS_TIMEOUT
    ini:
      - section: escalator
        key: metrics_timeout
  print_table:
    description:
      - Print the status table at the end of the playbook.
    type: bool
    default: true
    env:
      - name: ESCALATOR_PRINT_TABLE
    ini:
      - section: escalator
        key: print_table
'''

import time

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.opnfv.escalator.plugins.module_utils import metrics, run_guard
from ansible_collections.opnfv.escalator.plugins.plugin_utils import in_process
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_UNREACHABLE, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.state import (
    FINAL_STATES, PENDING, PHASE_STATES, PHASES, CampaignStore, render_table,
)

OWN_MODULES = frozenset(('opnfv.escalator.campaign_state', 'opnfv.escalator.campaign_state_info',
                         'campaign_state', 'campaign_state_info'))
OWN_MODULE_SUFFIXES = ('.campaign_state', '.campaign_state_info')
LOCK_MODULES = ('opnfv.escalator.campaign_lock', 'campaign_lock')
# The tags that are phases the callback records, in campaign order.
PHASE_TAGS = tuple(phase for phase in PHASES if phase in PHASE_STATES)
MESSAGE_LIMIT = 500
NO_LOG_MESSAGE = 'output hidden (no_log)'


def _text(value):
    if value is None:
        return None
    text = str(value).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + '...'


def _host_of(result):
    """The result's host (``result.host`` from ansible-core 2.19, ``result._host`` before)."""
    return getattr(result, 'host', None) or result._host


def _task_of(result):
    return getattr(result, 'task', None) or result._task


def _data_of(result):
    """The result dict (``result.result`` from ansible-core 2.19, ``result._result`` before)."""
    data = getattr(result, 'result', None)
    if not isinstance(data, dict):
        data = result._result
    return data


def phase_of(task):
    """The recorded phase a task belongs to, from its tags (a task inherits the tags of its blocks and play, and
    a task of an included role or file those of the block around the include), or None. A task carries one
    phase tag; should it carry several, the latest in campaign order wins."""
    tags = getattr(task, 'tags', None) or ()
    if not isinstance(tags, (list, tuple, set, frozenset)):
        return None
    if 'always' in tags:
        # a task that runs whatever the tag selection (a role's argument validation, which an imported role's
        # tasks get first) does not start a phase: `--tags plan` runs it and must record no host's phase
        return None
    found = [phase for phase in PHASE_TAGS if phase in tags]
    return found[-1] if found else None


def _check_mode(task):
    """Whether the task runs in check mode (its own check_mode, else --check)."""
    value = getattr(task, 'check_mode', None)
    if isinstance(value, bool):
        return value
    return bool(context.CLIARGS.get('check', False))


# what an evacuation's event keeps of each instance's report entry (the module's result has it all): how and where it
# moved, and for a live migration the slow-migration policy it had and what was sent to Nova (issue 17 point 6)
MOVE_FIELDS = ('id', 'name', 'method', 'result', 'from', 'to', 'seconds')


def _moved(entry):
    moved = {key: entry.get(key) for key in MOVE_FIELDS}
    if entry.get('slow_migration'):
        moved['slow_migration'] = entry['slow_migration']
    return moved


def task_event(host, task_name, module, status, result, duration, delegated_to=None, ignored=False, play=None):
    """The fields of the event for one task result (plain data; ``result`` is the task's result dict).

    ``status`` is ok, changed, failed, unreachable or skipped. Returns
    (result, error_code, message, data) for ``CampaignStore.record_event``.
    """
    no_log = bool(result.get('_ansible_no_log')) or 'censored' in result
    error_code = result.get('error_code') if isinstance(result.get('error_code'), str) else None
    message = None
    if status in ('failed', 'unreachable'):
        message = NO_LOG_MESSAGE if no_log else _text(result.get('msg') or result.get('reason')
                                                      or result.get('stderr') or status)
    elif status == 'skipped' and not no_log:
        message = _text(result.get('skip_reason'))
    if status == 'unreachable':
        error_code = error_code or E_UNREACHABLE
    data = dict(task=task_name, module=module, status=status, duration_s=duration)
    if play:
        data['play'] = play
    if delegated_to:
        data['delegated_to'] = delegated_to
    if ignored:
        data['ignored'] = True
    if no_log:
        data['no_log'] = True
    elif isinstance(module, str) and module.endswith('compute_evacuate') and isinstance(result.get('instances'), list):
        data['instances'] = [_moved(entry) for entry in result['instances'] if isinstance(entry, dict)]
    event_result = {'ok': 'ok', 'changed': 'changed', 'skipped': 'skipped'}.get(status, 'failed')
    return event_result, error_code, message, data


class CallbackModule(CallbackBase):
    """Escalator's campaign event log and status table."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'opnfv.escalator.campaign_status'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._play_settings = {}
        self._learned = {}
        self._starts = {}
        self._play_name = None
        self._stores = {}
        self._seen = set()
        self._run_locks = {}
        self._phases = {}
        self._metrics_vars = {}
        self._exporter = None
        # this process forks a worker per task: openstacksdk imported here once is shared by every controller
        # module that runs in its worker (plugin_utils/in_process.py) instead of being imported per task
        in_process.preload()

    # -- settings ---------------------------------------------------------
    def _option(self, key):
        try:
            return self.get_option(key)
        except KeyError:
            return None

    def _settings(self):
        """(campaign_id, state_dir, run_id): play vars, else options; what campaign_state reported for that
        campaign (its directory, its run) comes first."""
        campaign_id = self._play_settings.get('campaign_id') or self._option('campaign_id') \
            or self._learned.get('campaign_id')
        learned = self._learned if self._learned.get('campaign_id') == campaign_id else {}
        state_dir = learned.get('state_dir') or self._play_settings.get('state_dir') or self._option('state_dir')
        run_id = learned.get('run_id') or self._play_settings.get('run_id') or self._option('run_id')
        return campaign_id, state_dir, run_id

    def _store(self):
        campaign_id, state_dir, run_id = self._settings()
        if not campaign_id:
            return None, None
        key = (campaign_id, state_dir)
        if key not in self._stores:
            try:
                self._stores[key] = CampaignStore(campaign_id, state_dir)
            except EscalatorError as exc:
                self._warn_once('campaign_status: %s; nothing is recorded' % exc.msg)
                self._stores[key] = None
        return self._stores[key], run_id

    def _warn_once(self, text):
        if text not in self._seen:
            self._seen.add(text)
            self._display.warning(text)

    def v2_playbook_on_play_start(self, play):
        self._play_name = play.get_name()
        settings = {}
        try:
            variable_manager = play.get_variable_manager()
            if variable_manager is not None:
                from ansible.template import Templar  # pylint: disable=import-outside-toplevel
                variables = variable_manager.get_vars(play=play)
                templar = Templar(loader=play.get_loader(), variables=variables)
                for key in ('campaign_id', 'state_dir', 'run_id'):
                    value = variables.get('escalator_%s' % key)
                    if value is not None:
                        value = templar.template(value)
                        if value not in (None, ''):
                            settings[key] = str(value)
        except Exception as exc:  # pylint: disable=broad-except
            self._warn_once('campaign_status: cannot read the play variables escalator_campaign_id/'
                            'escalator_state_dir (%s); using the environment' % exc)
        self._play_settings = settings
        self._read_metrics_vars(play)

    # -- task results -----------------------------------------------------
    def v2_runner_on_start(self, host, task):
        self._starts[(host.get_name(), task._uuid)] = time.monotonic()
        phase = phase_of(task)
        if phase is not None:
            self._enter_phase(host.get_name(), phase, task)

    def _enter_phase(self, host, phase, task):
        """Record that the host starts ``phase`` - where the playbooks ran a campaign_state task before each
        phase, at the moment that task ran: before the phase's first task. Once per host and phase."""
        if _check_mode(task):
            return
        store, run_id = self._store()
        if store is None:
            return
        key = (store.path, host)
        if self._phases.get(key) == phase:
            return
        first = key not in self._phases
        self._phases[key] = phase
        try:
            status = store.read_status()
            if status is None or host not in status['hosts']:
                # a campaign never started here (a rollback of a campaign this controller has no state for), or a
                # host it does not list: nothing to record, as the playbooks recorded nothing for them
                return
            with store.locked():
                record = store.read_status()['hosts'][host]
                # a host's first phase in a run starts a new attempt: a resumed host (caught half-way, failed,
                # rolled back) or one rollback_compute.yml empties again is reset, a pending one just begins
                store.update_host(host, state=PHASE_STATES[phase], phase=phase, run_id=run_id,
                                  reset=first and record['state'] != PENDING)
            self._export_metrics(store)
        except EscalatorError as exc:
            self._warn_once('campaign_status: cannot record that %s starts %s in %s: %s'
                            % (host, phase, store.path, exc.msg))
        except OSError as exc:
            self._warn_once('campaign_status: cannot record that %s starts %s in %s: %s'
                            % (host, phase, store.path, exc))

    def _record(self, result, status, ignored=False):
        task, host, data = _task_of(result), _host_of(result).get_name(), _data_of(result)
        module = getattr(task, 'resolved_action', None) or task.action
        started = self._starts.pop((host, task._uuid), None)
        if module in OWN_MODULES or (isinstance(module, str) and module.endswith(OWN_MODULE_SUFFIXES)):
            # campaign_state_info reads an earlier run: follow its directory, not its run id
            self._learn(data, follow_run=not module.endswith('campaign_state_info'))
            if not module.endswith('campaign_state_info'):
                self._export_metrics(self._store()[0])
            return
        store, run_id = self._store()
        if store is None:
            return
        self._observe_metrics(module, status, data, ignored)
        if isinstance(module, str) and (module in LOCK_MODULES or module.endswith('.campaign_lock')) \
                and status in ('ok', 'changed'):
            self._learn_lock(data)
        duration = round(time.monotonic() - started, 3) if started is not None else None
        delegated = (data.get('_ansible_delegated_vars') or {}).get('ansible_host')
        event_result, error_code, message, event_data = task_event(
            host, task.get_name(), module, status, data, duration, delegated_to=delegated, ignored=ignored,
            play=self._play_name)
        try:
            store.record_event('host', host, 'task', result=event_result, error_code=error_code, message=message,
                               data=event_data, run_id=run_id)
            if status == 'unreachable':
                self._unreachable(store, run_id, host, message, task.get_name())
                self._export_metrics(store)
        except EscalatorError as exc:
            self._warn_once('campaign_status: cannot record in %s: %s' % (store.path, exc.msg))
        except OSError as exc:
            self._warn_once('campaign_status: cannot record in %s: %s' % (store.path, exc))

    def _learn(self, data, follow_run=True):
        """Follow the campaign (id, directory and, with follow_run, run) that campaign_state(_info) reports:
        the state directory may come from the inventory, which the play variables do not show."""
        if not isinstance(data, dict) or data.get('failed') or not data.get('campaign_id'):
            return
        learned = dict(campaign_id=data['campaign_id'])
        path = data.get('path')
        if isinstance(path, str) and path.rstrip('/').endswith('/' + data['campaign_id']):
            learned['state_dir'] = path.rstrip('/')[:-len(data['campaign_id']) - 1]
        if not follow_run:
            if self._learned.get('campaign_id') == data['campaign_id'] and self._learned.get('run_id'):
                learned['run_id'] = self._learned['run_id']
        elif data.get('run_id'):
            learned['run_id'] = data['run_id']
        elif isinstance(data.get('status'), dict):
            learned['run_id'] = (data['status'].get('campaign') or {}).get('run')
        self._learned = learned
        if isinstance(path, str) and path:
            self._hold_run_lock(path.rstrip('/'), learned['campaign_id'])

    def _learn_lock(self, data):
        """The run that takes the campaign lock is this run: follow its id (rollback_compute.yml records under
        the id it took the lock with, and starts no campaign run whose id campaign_state would report)."""
        lock = data.get('lock') if isinstance(data, dict) else None
        campaign_id = self._settings()[0]
        if not isinstance(lock, dict) or not lock.get('run_id') or lock.get('campaign_id') != campaign_id:
            return
        learned = dict(self._learned) if self._learned.get('campaign_id') == campaign_id else \
            dict(campaign_id=campaign_id)
        learned['run_id'] = lock['run_id']
        self._learned = learned

    def _hold_run_lock(self, campaign_dir, campaign_id):
        """Hold the campaign's run lock for as long as this ansible-playbook lives (see run_guard): a second
        run of the same campaign meanwhile is refused by campaign_lock."""
        if self._run_locks.get(campaign_dir) is not None:
            return
        try:
            self._run_locks[campaign_dir] = run_guard.take(campaign_dir, run_id=self._settings()[2])
        except OSError as exc:
            self._warn_once('campaign_status: cannot take the run lock in %s: %s' % (campaign_dir, exc))
            self._run_locks[campaign_dir] = None
            return
        if self._run_locks[campaign_dir] is None:
            info = run_guard.holder(campaign_dir) or {}
            if not (info.get('ours') and info.get('guard_pid')):    # else campaign_lock's guard holds it for this run
                self._warn_once('campaign_status: %s' % run_guard.describe(campaign_id, info))

    @staticmethod
    def _close_the_run(store, run_id, status):
        """A run that ends without its own 'finish' (a failed or unreachable host stopped the play) must not
        be left 'running': the campaign becomes failed or incomplete, from its hosts, so that the status says
        what really happened (a killed ansible-playbook gets here no more; the run guard tells that case)."""
        if status is None or status['campaign'].get('state') != 'running' or not run_id or \
                status['campaign'].get('run') != run_id:
            return status
        return store.finish(run_id=run_id, message='the run ended before it closed the campaign (see the failed '
                            'hosts); run the same command again to resume')['status']

    def _unreachable(self, store, run_id, host, message, task_name):
        status = store.read_status()
        if status is None or host not in status['hosts'] or status['hosts'][host]['state'] in FINAL_STATES:
            return
        webhook = dict(url=self._option('webhook_url')) if self._option('webhook_url') else None
        store.update_host(host, state='failed', error_code=E_UNREACHABLE,
                          message='unreachable during %r: %s' % (task_name, message or 'no answer'),
                          run_id=run_id, webhook=webhook)

    def v2_runner_on_ok(self, result):
        self._record(result, 'changed' if _data_of(result).get('changed') else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed', ignored=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    # -- metrics (issue 16, docs/metrics.md; the work is in module_utils/metrics.py) -----------------------------
    def _read_metrics_vars(self, play):
        """escalator_metrics_* as localhost sees them: the inventory's group_vars too, which play vars lack."""
        try:
            variable_manager = play.get_variable_manager()
            if variable_manager is None:
                return
            from ansible.template import Templar  # pylint: disable=import-outside-toplevel
            inventory = getattr(variable_manager, '_inventory', None)
            localhost = inventory.get_host('localhost') if inventory is not None else None
            variables = variable_manager.get_vars(play=play, host=localhost)
            templar = Templar(loader=play.get_loader(), variables=variables)
            for key in ('metrics_pushgateway_url', 'metrics_textfile'):
                value = variables.get('escalator_%s' % key)
                value = templar.template(value) if value is not None else None
                if value not in (None, ''):
                    self._metrics_vars[key] = str(value)
        except Exception as exc:  # pylint: disable=broad-except
            self._warn_once('campaign_status: cannot read escalator_metrics_pushgateway_url/escalator_metrics_textfile '
                            '(%s); using the callback options' % type(exc).__name__)

    def _metrics_exporter(self):
        url = self._metrics_vars.get('metrics_pushgateway_url') or self._option('metrics_pushgateway_url')
        textfile = self._metrics_vars.get('metrics_textfile') or self._option('metrics_textfile')
        exporter = self._exporter
        if exporter is None or (exporter.pushgateway_url, exporter.textfile) != (url or None, textfile or None):
            fresh = metrics.Exporter(url, textfile, self._option('metrics_timeout'))
            if exporter is not None:
                fresh.counters = exporter.counters
            self._exporter = exporter = fresh
        return exporter

    def _observe_metrics(self, module, status, data, ignored):
        exporter = self._metrics_exporter()
        if exporter.enabled:
            exporter.counters.observe(module, status, data, ignored=ignored)

    def _export_metrics(self, store, status=None):
        """Export the metrics after a change of the campaign's state; problems are warnings, never failures."""
        exporter = self._metrics_exporter()
        if store is None or not exporter.enabled:
            return
        try:
            status = status or store.read_status()
        except (EscalatorError, OSError):
            return
        for problem in exporter.export(status, store.campaign_id):
            self._warn_once('campaign_status: %s' % problem)

    # -- the end ----------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        store, run_id = self._store()
        if store is None:
            return
        try:
            status = self._close_the_run(store, run_id, store.read_status())
        except EscalatorError as exc:
            self._display.warning('campaign_status: %s' % exc.msg)
            return
        self._export_metrics(store, status)
        if status is None or self._option('print_table') is False:
            return
        self._display.banner('CAMPAIGN STATUS %s' % store.campaign_id)
        self._display.display(render_table(status))
        self._display.display('status: %s  events: %s' % (store.status_path, store.events_path))
