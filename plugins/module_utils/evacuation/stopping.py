# SPDX-License-Identifier: Apache-2.0
"""The servers whose owner asked for them off during maintenance (``escalator:action=stop``): a clean stop first
(Nova's stop: ACPI shutdown, then power off after its shutdown_timeout), then the cold migration of the stopped
server, which Nova confirms SHUTOFF on its destination, where it stays. A stop or move that fails leaves it
SHUTOFF where it is, said in its report entry: nothing restarts a server its owner wanted off."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.options import COLD
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.sdk import get_server, status_code
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception

STOPPED = 'SHUTOFF'


class StopFirst:
    """Mixin of tasks.TaskMachine: the stop of a ``stop`` task before its cold migration."""

    def stop_first(self, task, server, stopping_state):
        """Ask Nova to stop the server (True: under way, watch it); False: refused, the task failed."""
        task.expect = {STOPPED}
        task.entry['method'] = 'stop'
        if task.started is None:
            task.started = self.clock()
        try:
            self.conn.compute.stop_server(task.id)
        except Exception as exc:  # pylint: disable=broad-except
            if status_code(exc) not in (400, 409):
                raise error_from_exception(exc, during='stopping %s on %s' % (task.id, self.host)) from exc
            self._finish(task, 'failed', 'Nova refused to stop it (escalator:action=stop): %s' % exc, server)
            return False
        self.changed = True
        task.state = stopping_state
        task.attempt_started = self.clock()
        task.deadline = task.attempt_started + self.opts['migration_timeout']
        return True

    def poll_stopping(self, task):
        """Once the server is SHUTOFF and idle, its cold migration starts (the same task, same candidates)."""
        server = get_server(self.conn, task.id)
        if server is None:
            self._finish(task, 'deleted', 'the server was deleted while it was stopped')
            return
        task.entry['status_after'] = server.status
        status = (server.status or '').upper()
        if status == STOPPED and not server.task_state:
            task.entry['attempts'].append(dict(method='stop', destination=self.host, outcome='stopped', error=None,
                                               migration_id=None))
            self.start(task, kind=COLD)
            return
        if status == 'ERROR' or self.clock() >= task.deadline:
            self._finish(task, 'failed' if status == 'ERROR' else 'timeout', 'it did not stop within %ss (status %s%s)'
                         % (self.opts['migration_timeout'], server.status,
                            ', task %s' % server.task_state if server.task_state else ''), server)
