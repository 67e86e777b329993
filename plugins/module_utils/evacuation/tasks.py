# SPDX-License-Identifier: Apache-2.0
"""One instance's way off the host: its task and the state machine that drives it (request a move,
try the next destination, ask the scheduler again later, fall back to cold, watch the migration
record to its end, time out), polled by the engine.

* A migration is done only when the server's host changed AND its migration record says
  ``completed`` (live) / ``confirmed`` (cold, after we confirm the resize); the host field flips
  first. ``completed`` while the server still sits on the source is a failure, a server in ERROR is
  a failure, never ignored.
* After a failure no new migration starts (unless ``keep_going``): ``stop_starting``.
* A live migration over its timeout (the server's ``escalator:migration_timeout``, else ``migration_timeout``) gets
  its policy (the server's ``escalator:on_slow_migration``, else ``on_timeout``): force-complete, abort, abort then
  a cold migration, or nothing (fail); what was sent and when goes into its report (``slow_migration``).
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import server_policy as sp
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_MIGRATION_FAILED
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import (
    COLD, COLD_STATUSES, FAIL, LIVE, LIVE_STATUSES, STOP,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.sdk import (
    CANCELLED_STATES, COLD_DONE, COLD_READY, FAILED_STATES, IN_PROGRESS, LIVE_DONE, error_message, failure_reason,
    fault_suffix, get_server, is_no_valid_host, list_migrations, newest_migration, status_code,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.report import slow_report
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.stopping import STOPPED, StopFirst
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception
from ansible_collections.opnfv.escalator.plugins.module_utils.timestamps import format_ts

# How long Nova may take to create a migration record after accepting a request.
RECORD_GRACE = 60


class TaskState:
    """Where a task is on its way off the host."""

    PENDING = 'pending'          # to be started (again, after a refusal to retry or an own_action fallback)
    WAITING = 'waiting'          # its VNFM moves it itself (own_action), until own_action_timeout
    RUNNING = 'running'          # a migration Escalator requested (or adopted) is under way
    CONFIRMING = 'confirming'    # a cold migration whose resize Escalator has confirmed
    STOPPING = 'stopping'        # escalator:action=stop: stopped before its cold migration (stopping.py)
    DONE = 'done'                # its report entry holds the result
    MIGRATING = (RUNNING, CONFIRMING, STOPPING)            # what max_concurrent counts
    WATCHED = (RUNNING, CONFIRMING, WAITING, STOPPING)     # polled every round


class Task:
    """One instance on its way off the host."""

    def __init__(self, entry, plan):
        self.entry = entry
        self.id = entry['id']
        self.method = plan['method']          # live | cold | stop | own_action | adopt
        self.then = plan.get('then')          # after an own_action wait: how its server policy moves it
        self.slow = plan.get('slow')          # a live migration that does not converge (server_tags.slow_policy)
        self.candidates = list(plan['candidates'])
        self.state = TaskState.PENDING
        self.kind = None                      # live | cold while running
        self.known = set()                    # migration ids that existed before our request
        self.migration = None
        self.dest = None
        self.started = None
        self.attempt_started = None
        self.deadline = None
        self.forced = False
        self.aborting = False
        self.fell_back = False
        self.expect = {(entry['status_before'] or '').upper()}   # the status a finished move must show
        self.not_before = None                # a retry waits until then (clock)
        self.scheduler_refusals = 0           # "No valid host" answers already retried


class TaskMachine(StopFirst):
    """The transitions of the tasks of one host's evacuation, and what they have brought the run to:
    ``stop_starting`` (a failure without keep_going), ``no_valid_host``, ``changed``."""

    def __init__(self, conn, host, opts, clock, plan):
        self.conn = conn
        self.plan = plan
        self.host = host
        self.opts = opts
        self.clock = clock
        self.stop_starting = False
        self.no_valid_host = False
        self.changed = False

    # -- bookkeeping --------------------------------------------------------
    def _attempt(self, task, dest, outcome, error=None, migration_id=None):
        task.entry['attempts'].append(dict(method=task.kind, destination=dest or 'scheduler', outcome=outcome,
                                           error=error, migration_id=migration_id))

    def slow(self, task):
        """The task's policy for a live migration that does not converge (the preflight's; the options' for a task
        without one), its report entry's ``slow_migration`` made on first use."""
        if task.slow is None:
            task.slow = dict(policy=self.opts['on_timeout'], policy_from='option',
                             timeout=self.opts['migration_timeout'], timeout_from='option')
        if task.entry.get('slow_migration') is None:
            task.entry['slow_migration'] = slow_report(task.slow)
        return task.slow

    def _live_ended(self, task):
        """A live migration of the task ended (any way): how long it ran, into its report."""
        if task.kind == LIVE and task.attempt_started is not None:
            self.slow(task)
            task.entry['slow_migration']['live_seconds'] = round(self.clock() - task.attempt_started, 1)

    def _why_slow(self, task):
        """Why a live migration over its timeout gets what it gets, naming the settings that chose it."""
        slow = self.slow(task)
        server = slow['policy_from'] == 'server', slow['timeout_from'] == 'server'
        return '%s=%s, over %s=%s' % (sp.SLOW_KEY if server[0] else 'on_timeout', slow['policy'],
                                      sp.TIMEOUT_KEY if server[1] else 'migration_timeout', slow['timeout'])

    @staticmethod
    def _why_aborted(task):
        """The reason of the abort sent last (its slow-migration policy, or the overall timeout)."""
        sent = [item for item in (task.entry.get('slow_migration') or {}).get('sent', []) if item['action'] == 'abort']
        return sent[-1]['why'] if sent else 'aborted'

    def _finish(self, task, result, error=None, server=None):
        if task.state == TaskState.RUNNING:
            self._live_ended(task)
        task.state = TaskState.DONE
        task.entry['result'] = result
        if error:
            task.entry['error'] = error
        if server is not None:
            task.entry['status_after'] = server.status
            if server.compute_host != self.host:
                task.entry['to'] = server.compute_host
            elif result != 'moved':
                task.entry['to'] = None
        if task.started is not None:
            task.entry['seconds'] = round(self.clock() - task.started, 1)
        if result in ('failed', 'timeout') and not self.opts['keep_going']:
            self.stop_starting = True

    # -- starting -------------------------------------------------------------
    def start(self, task, kind=None):
        """Request a migration, trying the candidates in order. True when one was accepted."""
        server = get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', 'the server was deleted during the evacuation')
            return False
        if server.compute_host != self.host:
            self._attempt(task, server.compute_host, 'moved by someone else before Escalator started it')
            self._finish(task, 'moved', None, server)
            return False
        status = (server.status or '').upper()
        if task.method == STOP:
            task.expect = {STOPPED}
            if kind is None and status != STOPPED:
                return self.stop_first(task, server, TaskState.STOPPING)
            kind = COLD
        kind = kind or (task.method if task.method in (LIVE, COLD) else self.opts['status_policy'].get(status, FAIL))
        if kind == LIVE and status not in LIVE_STATUSES and status in COLD_STATUSES:
            kind = COLD
        if kind not in (LIVE, COLD) or status not in (LIVE_STATUSES if kind == LIVE else COLD_STATUSES):
            self._finish(task, 'failed', 'cannot move a %s instance (policy: %s)' % (status, kind), server)
            return False
        task.kind = kind
        task.entry['method'] = STOP if task.method == STOP else kind
        if task.started is None:
            task.started = self.clock()
        refused_no_valid_host = False
        while task.candidates:
            dest = task.candidates.pop(0)
            refusal = self._request(task, kind, dest)
            if refusal is None:
                self._running(task, dest)
                return True
            code, text = refusal
            self._attempt(task, dest, 'refused', '%s (HTTP %s)' % (text, code))
            refused_no_valid_host = refused_no_valid_host or is_no_valid_host(text)
            if code == 409:
                self._finish(task, 'failed', 'Nova refused to %s-migrate it: %s' % (kind, text), server)
                return False
            if dest is None:
                return self._scheduler_refused(task, text, server)
        if refused_no_valid_host and self._ask_again_later(task):
            return False
        self._finish(task, 'failed', 'every destination refused it (%s)' % '; '.join(
            '%s: %s' % (attempt['destination'], attempt['error']) for attempt in task.entry['attempts']), server)
        if self.opts['strict_destinations']:
            self.no_valid_host = True
            self.stop_starting = True
        return False

    def _request(self, task, kind, dest):
        """Ask Nova to move the server to ``dest`` (None: the scheduler chooses). None when accepted, else
        Nova's refusal ``(HTTP status, message)``; a 403 or no answer at all is raised."""
        task.known = {migration.id for migration in list_migrations(self.conn, task.id)}
        try:
            if kind == LIVE:
                self.conn.compute.live_migrate_server(task.id, host=dest, block_migration=self.opts['block_migration'])
            else:
                self.conn.compute.migrate_server(task.id, host=dest)
        except Exception as exc:  # pylint: disable=broad-except
            code = status_code(exc)
            if code == 403 or code is None:
                raise error_from_exception(exc, during='migrating %s off %s' % (task.id, self.host)) from exc
            return code, error_message(exc)
        return None

    def _running(self, task, dest):
        self.changed = True
        task.state = TaskState.RUNNING
        task.dest = dest
        task.migration = None
        task.forced = False
        task.aborting = False
        task.attempt_started = self.clock()
        task.deadline = task.attempt_started + (self.slow(task)['timeout'] if task.kind == LIVE
                                                else self.opts['migration_timeout'])

    def _scheduler_refused(self, task, text, server):
        if is_no_valid_host(text):
            if self._ask_again_later(task):
                return False
            self.no_valid_host = True
            self.stop_starting = True
            self._finish(task, 'failed', 'No valid host: the scheduler found no destination (%s)' % text, server)
            return False
        if task.kind == LIVE and self.opts['live_failure'] == COLD and not task.fell_back and \
                (server.status or '').upper() in COLD_STATUSES:
            return self._fall_back_to_cold(task)
        self._finish(task, 'failed', 'Nova refused the %s migration: %s' % (task.kind, text), server)
        return False

    def _fall_back_to_cold(self, task):
        task.fell_back = True
        task.candidates = list(self.plan[task.id]['candidates']) or [None]
        self._attempt(task, None, 'fallback', 'live migration failed: cold-migrating instead (live_failure=cold)')
        return self.start(task, kind=COLD)

    # -- watching -------------------------------------------------------------
    def poll(self, task):
        if task.state == TaskState.WAITING:
            return self._poll_own_action(task)
        if task.state == TaskState.STOPPING:
            return self.poll_stopping(task)
        migrations = list_migrations(self.conn, task.id)     # the record first, then the server: the host flips first
        server = get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', 'the server was deleted during its migration')
            return
        if task.migration is None or task.migration not in {migration.id for migration in migrations}:
            found = newest_migration(migrations, task.known, None)
            task.migration = found.id if found is not None else None
        record = next((migration for migration in migrations if migration.id == task.migration), None)
        if record is not None:
            task.entry['migration_id'] = record.id
        task.entry['status_after'] = server.status
        status = (server.status or '').upper()
        if status == 'ERROR':
            self._attempt(task, task.dest, 'error', migration_id=task.migration)
            self._finish(task, 'failed', 'the server went to ERROR during its %s migration%s (migration %s: %s); '
                         'it is on %s: inspect it now (openstack server show %s)'
                         % (task.kind, fault_suffix(server), task.migration, record.status if record else 'no record',
                            server.compute_host, task.id), server)
            return
        if record is None:
            if self.clock() - task.attempt_started > RECORD_GRACE and not server.task_state and \
                    server.compute_host == self.host:
                self._attempt(task, task.dest, 'lost')
                self._finish(task, 'failed', 'Nova accepted the %s migration but no migration record appeared and '
                             'the server is idle on %s' % (task.kind, self.host), server)
            else:
                self._check_timeout(task, None)
            return
        state = record.status
        if task.kind == LIVE:
            self._poll_live(task, record, state, server)
        else:
            self._poll_cold(task, record, state, server)

    def _done_moved(self, task, record, server):
        self._attempt(task, record.dest_compute or server.compute_host, 'moved', migration_id=record.id)
        self._finish(task, 'moved', None, server)
        task.entry['to'] = server.compute_host

    def _poll_live(self, task, record, state, server):
        status = (server.status or '').upper()
        if state in LIVE_DONE:
            if server.compute_host == self.host:
                self._attempt(task, task.dest, 'no_move', migration_id=record.id)
                self._finish(task, 'failed', 'Nova reports live migration %s completed but the server is still on %s'
                             % (record.id, self.host), server)
                task.entry['error_code'] = E_MIGRATION_FAILED
            elif status in task.expect and not server.task_state:
                self._done_moved(task, record, server)
            else:
                self._check_timeout(task, record)
            return
        if state in FAILED_STATES + CANCELLED_STATES:
            if server.task_state and server.compute_host == self.host:
                return self._check_timeout(task, record)   # Nova still rolling back
            if server.compute_host != self.host:
                self._attempt(task, task.dest, state, migration_id=record.id)
                self._finish(task, 'failed', 'live migration %s ended %s but the server now sits on %s (status %s): '
                             'check it' % (record.id, state, server.compute_host, server.status), server)
                return
            if task.aborting or state in CANCELLED_STATES:
                self._attempt(task, task.dest, 'cancelled', migration_id=record.id)
                if task.aborting and self._cold_after_abort(task, record, server):
                    return
                self._finish(task, 'timeout' if task.aborting else 'failed',
                             ('live migration %s aborted after %ss (%s); the server is back on %s'
                              % (record.id, int(self.clock() - task.attempt_started), self._why_aborted(task),
                                 self.host)) if task.aborting
                             else 'live migration %s was cancelled by someone else' % record.id, server)
                return
            self._failed_attempt(task, record, state, server)
            return
        self._check_timeout(task, record)

    def _cold_after_abort(self, task, record, server):
        """escalator:on_slow_migration=abort_then_cold: the aborted live migration's server, back and running on the
        source, is cold-migrated (a restart rather than a long freeze). Not after the overall timeout or a failure
        that stops the run (nothing new starts then), nor for a server Nova cannot cold-migrate. True when started."""
        if self.slow(task)['policy'] != sp.ABORT_THEN_COLD or self.stop_starting or \
                (server.status or '').upper() not in COLD_STATUSES:
            return False
        seconds = int(self.clock() - task.attempt_started)
        self._live_ended(task)
        task.aborting = False
        task.fell_back = True
        task.candidates = list(self.plan[task.id]['candidates']) or [None]
        self._attempt(task, None, 'fallback', 'live migration %s aborted after %ss (%s): cold-migrating instead'
                      % (record.id, seconds, self._why_aborted(task)))
        self.start(task, kind=COLD)
        return True

    def _poll_cold(self, task, record, state, server):
        status = (server.status or '').upper()
        if task.state == TaskState.CONFIRMING and state not in COLD_DONE + FAILED_STATES:
            return self._check_timeout(task, record)
        if state in COLD_READY or (status == 'VERIFY_RESIZE' and task.state == TaskState.RUNNING):
            if server.compute_host == self.host:
                self._attempt(task, task.dest, 'no_move', migration_id=record.id)
                self._finish(task, 'failed', 'Nova reports cold migration %s %s but the server is still on %s'
                             % (record.id, state, self.host), server)
                return
            if status != 'VERIFY_RESIZE':
                return self._check_timeout(task, record)
            try:
                self.conn.compute.confirm_server_resize(task.id)
            except Exception as exc:  # pylint: disable=broad-except
                if status_code(exc) in (400, 409):
                    return self._check_timeout(task, record)       # not ready yet: try again next round
                raise error_from_exception(exc, during='confirming the migration of %s' % task.id) from exc
            task.state = TaskState.CONFIRMING
            return
        if state in COLD_DONE:
            if server.compute_host == self.host:
                self._attempt(task, task.dest, 'no_move', migration_id=record.id)
                self._finish(task, 'failed', 'Nova reports cold migration %s confirmed but the server is still on %s'
                             % (record.id, self.host), server)
            elif status in task.expect and not server.task_state:
                self._done_moved(task, record, server)
            else:
                self._check_timeout(task, record)
            return
        if state in FAILED_STATES:
            if server.task_state:
                return self._check_timeout(task, record)
            if server.compute_host != self.host:
                self._attempt(task, task.dest, state, migration_id=record.id)
                self._finish(task, 'failed', 'cold migration %s ended %s with the server on %s (status %s): check it'
                             % (record.id, state, server.compute_host, server.status), server)
                return
            self._failed_attempt(task, record, state, server)
            return
        self._check_timeout(task, record)

    def _failed_attempt(self, task, record, state, server):
        """Nova ended the migration in ``state`` (error, failed) with the server still on the source: ask
        the scheduler again, try the next candidate, fall back, or fail (see ``_retry``)."""
        reason = failure_reason(self.conn, task.id) or 'migration %s: %s' % (record.id, state)
        self._live_ended(task)
        self._attempt(task, task.dest, state, reason, record.id)
        if is_no_valid_host(reason) and task.dest is None:
            self._scheduler_refused(task, reason, server)
            return
        self._retry(task, '%s migration %s failed: %s' % (task.kind, record.id, reason), server,
                    is_no_valid_host(reason))

    def _ask_again_later(self, task):
        """After a "No valid host" for a move the preflight found valid: the same request again, later.

        Nova's scheduler can count an instance on the host it just left until the next instance sync
        from nova-compute (scheduler_instance_sync_interval, 120 s by default), so an anti-affinity
        partner that moved away a moment ago can still block its old host. True when requeued."""
        if task.scheduler_refusals >= self.opts['scheduler_retries'] or \
                (self.stop_starting and not self.opts['keep_going']):
            return False
        task.scheduler_refusals += 1
        delay = self.opts['scheduler_retry_delay']
        self._attempt(task, None, 'retry_later', 'No valid host for a move the preflight found valid: asking again '
                      'in %ss (retry %d of %d)' % (delay, task.scheduler_refusals, self.opts['scheduler_retries']))
        task.candidates = list(self.plan[task.id]['candidates']) or [None]
        task.state = TaskState.PENDING
        task.not_before = self.clock() + delay
        return True

    def _retry(self, task, error, server, no_valid_host=False):
        """After a failed attempt: the next candidate, the same ones later (after a "No valid host"), the cold
        fallback, or a failure."""
        if self.stop_starting and not self.opts['keep_going']:
            self._finish(task, 'failed', error, server)
            return
        if task.candidates:
            task.state = TaskState.PENDING
            self.start(task, kind=task.kind)
            return
        if no_valid_host and self._ask_again_later(task):
            return
        if task.kind == LIVE and self.opts['live_failure'] == COLD and not task.fell_back and \
                (server.status or '').upper() in COLD_STATUSES:
            self._fall_back_to_cold(task)
            return
        self._finish(task, 'failed', error, server)

    def _check_timeout(self, task, record):
        now = self.clock()
        if task.aborting or now < task.deadline:
            return
        seconds = int(now - task.attempt_started)
        mid = record.id if record is not None else None
        if task.kind == LIVE and not task.forced and record is not None and record.status in IN_PROGRESS:
            slow = self.slow(task)
            why = self._why_slow(task)
            if slow['policy'] in (sp.ABORT, sp.ABORT_THEN_COLD):
                if self._migration_action('abort', task, record, why):
                    task.aborting = True
                return
            if slow['policy'] == sp.FORCE_COMPLETE:
                if self._migration_action('force_complete', task, record, why):
                    task.forced = True
                    # how long a forced migration takes to end (post-copy, or the paused guest's last copy) is not
                    # what a server's own timeout measures (how long pre-copy may try): the module's bound holds
                    task.deadline = now + self.opts['migration_timeout']
                    self._attempt(task, task.dest, 'force_complete', why, mid)
                return
        server = get_server(self.conn, task.id)
        self._attempt(task, task.dest, 'timeout', migration_id=mid)
        self._finish(task, 'timeout', '%s migration %s did not finish within %ss%s (migration %s; the server is %s on '
                     '%s); Nova may still complete it' % (task.kind, mid, seconds, ' after force-complete' if task.forced
                                                          else '', record.status if record is not None else 'not found',
                                                          server.status if server else 'deleted',
                                                          server.compute_host if server else '-'), server)

    def _migration_action(self, action, task, record, why):
        """Nova's abort (microversion 2.24) or force-complete (2.22) of the task's live migration ``record``; True
        when accepted, and then recorded in the report's ``slow_migration.sent``."""
        try:
            if action == 'abort':
                self.conn.compute.abort_server_migration(record.id, task.id, ignore_missing=False)
            else:
                self.conn.compute.force_complete_server_migration(record.id, task.id)
        except Exception as exc:  # pylint: disable=broad-except
            if status_code(exc) in (400, 404, 409):
                return False          # not in a state that allows it (yet / any more): look again next round
            raise error_from_exception(exc, during='%s of migration %s' % (action, record.id)) from exc
        self.slow(task)
        task.entry['slow_migration']['sent'].append(dict(
            action=action, at=format_ts(), after=round(self.clock() - task.attempt_started, 1), why=why,
            migration_id=record.id))
        return True

    def _poll_own_action(self, task):
        server = get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', None)
            task.entry['error'] = None
            return
        task.entry['status_after'] = server.status
        if server.compute_host != self.host and not server.task_state:
            self._finish(task, 'moved', None, server)
            return
        if self.clock() < task.deadline:
            return
        if self.opts['own_action_fallback'] == FAIL:
            self._finish(task, 'timeout', 'its VNFM did not move it within own_action_timeout (%ss) and '
                         'own_action_fallback is fail' % self.opts['own_action_timeout'], server)
            return
        self._attempt(task, None, 'fallback', 'its VNFM did not move it within %ss: Escalator moves it'
                      % self.opts['own_action_timeout'])
        task.state = TaskState.PENDING
        task.started = None
        if task.then:
            task.method = task.then       # the server's policy (escalator:action) after its VNFM's own action
        if not task.candidates:
            task.candidates = [None] if not self.opts['strict_destinations'] else list(self.opts['destinations'])
