# SPDX-License-Identifier: Apache-2.0
"""The benchmark's task log: one JSON line per task start and per task result, for every host, whatever the
playbook (Escalator's or the baseline's), so both methods are counted and timed the same way.

Loaded by the bench only (ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins; CALLBACK_NEEDS_ENABLED is False, so
it needs no entry in callbacks_enabled and the playbooks' own callbacks stay as they are); writes to
$BENCH_TASK_LOG and does nothing without it. Lines (epoch seconds in `t`):
  {"e": "start", "t", "host", "id" (task uuid), "task", "module", "role", "tags" (those starting with bench_)}
  {"e": "end", "t", "host", "id", "module" (as resolved), "status" (ok/changed/failed/skipped/unreachable)}
A start is what the bench counts as a task execution (v2_runner_on_start: once per task and host the strategy
hands to a worker, skipped ones included, a loop once)."""
import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: bench_task_log
type: aggregate
short_description: Log every task start and result per host for the benchmark (bench/)
description:
  - Appends one JSON line per task start and per task result to the file named by E(BENCH_TASK_LOG).
'''


def _result_parts(result):
    """(host name, task, result dict), across ansible-core versions (2.19 names them without underscores)."""
    host = getattr(result, 'host', None) or result._host
    task = getattr(result, 'task', None) or result._task
    data = getattr(result, 'result', None)
    if not isinstance(data, dict):
        data = result._result
    return host.get_name(), task, data


def _role(task):
    role = getattr(task, '_role', None)
    return role.get_name() if role is not None else None


class CallbackModule(CallbackBase):
    """Task starts and results per host, as JSON lines."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_task_log'
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get('BENCH_TASK_LOG')
        self._out = open(path, 'a', encoding='utf-8') if path else None  # pylint: disable=consider-using-with

    def _write(self, **line):
        if self._out is not None:
            self._out.write(json.dumps(line, sort_keys=True) + '\n')
            self._out.flush()

    def v2_runner_on_start(self, host, task):
        self._write(e='start', t=round(time.time(), 3), host=host.get_name(), id=task._uuid, task=task.get_name(),
                    module=task.action, role=_role(task),
                    tags=sorted(t for t in (task.tags or []) if str(t).startswith('bench_')))

    def _end(self, result, status):
        host, task, data = _result_parts(result)
        if status == 'ok' and data.get('changed'):
            status = 'changed'
        self._write(e='end', t=round(time.time(), 3), host=host, id=task._uuid,
                    module=getattr(task, 'resolved_action', None) or task.action, status=status)

    def v2_runner_on_ok(self, result):
        self._end(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._end(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._end(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        if self._out is not None:
            self._out.close()
            self._out = None
