# SPDX-License-Identifier: Apache-2.0
"""The evacuation engine: the run over one host's tasks. It adopts the migrations an interrupted run
left, starts at most ``max_concurrent`` migrations at a time, polls every running one each round,
stops starting after a failure (unless ``keep_going``), and at the overall timeout starts nothing
more, aborts the live migrations in flight (``on_timeout=abort``) and reports every task."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import (
    ADOPT, COLD, COLD_STATUSES, LIVE, LIVE_STATUSES, OWN_ACTION,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.sdk import (
    COLD_READY, IN_PROGRESS, get_server, list_migrations,
)
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.tasks import Task, TaskMachine, TaskState

# How long a cancelled (aborted) live migration may take to roll back after the overall timeout.
ABORT_GRACE = 120


class Evacuation(TaskMachine):
    """One host's evacuation run (the task transitions are TaskMachine's)."""

    def __init__(self, conn, host, opts, clock, sleep, plan):
        super().__init__(conn, host, opts, clock, plan)
        self.sleep = sleep
        self.timed_out = False

    def run(self, entries, deadline):
        """Move every instance the preflight left to move (report entries without a result) until all
        are done, a failure stops the run, or the clock reaches ``deadline``."""
        tasks = self._tasks(entries)
        while True:
            for task in tasks:
                if task.state in TaskState.WATCHED:
                    self.poll(task)
            if self.clock() >= deadline:
                self._overall_timeout(tasks, deadline)
                break
            if not self.stop_starting:
                self._start_more(tasks)
            if not any(task.state in TaskState.WATCHED for task in tasks) and \
                    (self.stop_starting or not any(task.state == TaskState.PENDING for task in tasks)):
                break
            self.sleep(self.opts['poll_interval'])
        for task in tasks:
            if task.state == TaskState.PENDING:
                self._not_started(task, task.entry['error'] or 'not started: the evacuation stopped after a failure')

    def _tasks(self, entries):
        tasks = []
        for entry in entries:
            if entry['result'] is not None:
                continue
            task = Task(entry, self.plan[entry['id']])
            tasks.append(task)
            if task.method == OWN_ACTION:
                task.state = TaskState.WAITING
                task.started = self.clock()
                task.deadline = task.started + self.opts['own_action_timeout']
                entry['method'] = OWN_ACTION
            elif task.method == ADOPT:
                self._adopt(task)
        return tasks

    def _start_more(self, tasks):
        """Start pending tasks (those due after a retry delay) up to max_concurrent migrations."""
        active = sum(1 for task in tasks if task.state in TaskState.MIGRATING)
        for task in tasks:
            if active >= self.opts['max_concurrent'] or self.stop_starting:
                break
            if task.state == TaskState.PENDING and (task.not_before is None or self.clock() >= task.not_before):
                if self.start(task):
                    active += 1

    @staticmethod
    def _not_started(task, error):
        task.state = TaskState.DONE
        task.entry['result'] = 'not_started'
        task.entry['error'] = error

    def _adopt(self, task):
        """An instance already migrating off the host (an earlier run was interrupted): watch that migration."""
        record = next((migration for migration in sorted(list_migrations(self.conn, task.id), key=lambda m: -int(m.id))
                       if migration.source_compute == self.host and migration.status in IN_PROGRESS + COLD_READY),
                      None)
        if record is None:
            task.state = TaskState.DONE
            task.entry['result'] = 'failed'
            task.entry['error'] = ('it is %s but no migration from %s is in progress: someone else is acting on it; '
                                   'retry when it is settled' % (task.entry['status_before'], self.host))
            self.stop_starting = self.stop_starting or not self.opts['keep_going']
            return
        task.kind = LIVE if record.migration_type == 'live-migration' else COLD
        task.entry['method'] = task.kind
        task.expect = set(LIVE_STATUSES if task.kind == LIVE else COLD_STATUSES)
        task.known = set()
        task.migration = record.id
        task.dest = record.dest_compute
        task.state = TaskState.RUNNING
        task.started = task.attempt_started = self.clock()
        task.deadline = task.started + (self.slow(task)['timeout'] if task.kind == LIVE
                                        else self.opts['migration_timeout'])
        task.entry['attempts'].append(dict(method=task.kind, destination=record.dest_compute, outcome='adopted',
                                           error='migration %s was already in progress' % record.id,
                                           migration_id=record.id))
        self.changed = True

    def abort_all(self, tasks):
        for task in tasks:
            if task.state != TaskState.RUNNING or task.kind != LIVE or task.aborting:
                continue
            migrations = list_migrations(self.conn, task.id)
            record = next((migration for migration in migrations if migration.id == task.migration), None)
            if record is not None and record.status in IN_PROGRESS and self._migration_action(
                    'abort', task, record, 'on_timeout=abort, over the overall timeout=%s' % self.opts['timeout']):
                task.aborting = True

    def _overall_timeout(self, tasks, deadline):
        """Past the overall timeout: start nothing more; abort in-flight live migrations only if on_timeout=abort."""
        self.stop_starting = True
        self.timed_out = True
        if self.opts['on_timeout'] == 'abort':
            self.abort_all(tasks)
            grace = deadline + ABORT_GRACE
            while any(task.aborting and task.state == TaskState.RUNNING for task in tasks) and self.clock() < grace:
                self.sleep(self.opts['poll_interval'])
                for task in tasks:
                    if task.aborting and task.state == TaskState.RUNNING:
                        self.poll(task)
        for task in tasks:
            if task.state in TaskState.WATCHED:
                server = get_server(self.conn, task.id)
                doing = ('waiting for its VNFM to move it' if task.state == TaskState.WAITING else
                         'stopping it (escalator:action=stop)' if task.state == TaskState.STOPPING else
                         '%s-migrating (migration %s); Nova may still complete it' % (task.kind, task.migration))
                self._finish(task, 'timeout', 'overall timeout (%ss) reached while %s%s' % (
                    self.opts['timeout'], doing, ' (abort did not finish)' if task.aborting else ''), server)
            elif task.state == TaskState.PENDING:
                self._not_started(task, 'not started: overall timeout (%ss) reached' % self.opts['timeout'])
