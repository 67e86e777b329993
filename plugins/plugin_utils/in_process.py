# SPDX-License-Identifier: Apache-2.0
"""Run one of the collection's controller modules inside the Ansible worker instead of a new Python process.

Why: most of a campaign's tasks are modules delegated to the controller (localhost) - maintenance, VNFM
notification, evacuation, the state records. Run the usual way, each one is packed into an AnsiballZ zip, written
to a temporary directory and started as a new Python process that imports Ansible and openstacksdk again: about
0.6 CPU-second per task before the module does any work, which made the controller's CPU, not the cloud, the
bottleneck of parallel batches (issue 13; docs/benchmarks.md). Ansible forks a worker per task and host; the
worker already has Ansible imported, and openstacksdk too once the campaign_status callback (loaded in the
parent) has imported it, so the module's own `main()` runs there at almost no cost.

What stays the same: the module's code, argument spec, check mode, diff, no_log masking and result are the
module's own - it is the same `main()`, fed the same internal arguments (`_update_module_args`) and parsed by the
same `_parse_returned_data` as a module process. The task's `environment:` is applied to the worker's process
environment (the worker exits after the task).

When it does not apply, the module runs the usual way: a target that is not the controller (connection other
than `local`), a controller whose Python lacks what the module imports (the module then reports it as usual), or
ESCALATOR_IN_PROCESS=0 in the controller's environment (a switch for debugging).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import traceback

from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

# modules of this collection that may run in-process; the rest of the name is the module file under plugins/modules
COLLECTION = 'opnfv.escalator.'
PACKAGE = 'ansible_collections.opnfv.escalator.plugins.modules.'
# our modules declare no serialization profile of their own (module_common's default)
PROFILE = 'legacy'
SWITCH = 'ESCALATOR_IN_PROCESS'


class InProcessModuleAction(ActionBase):
    """The action of a controller module: run the module in this worker when the target is the controller."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        if not self._in_process_possible():
            result.update(self._execute_module(task_vars=task_vars))
            return result
        result.update(self._execute_in_process(task_vars or {}))
        return result

    def _module_name(self):
        """The module's resolved name (opnfv.escalator.<name>), whatever the task called it (short name, FQCN)."""
        context = self._shared_loader_obj.module_loader.find_plugin_with_context(
            self._task.action, collection_list=self._task.collections)
        return context.resolved_fqcn if context.resolved else self._task.action

    def _in_process_possible(self):
        if os.environ.get(SWITCH, '1') == '0' or self._task.async_val:
            return False
        if getattr(self._connection, 'transport', None) != 'local':
            return False
        return self._module_name().startswith(COLLECTION)

    def _execute_in_process(self, task_vars):
        module_name = self._module_name()
        try:
            module = importlib.import_module(PACKAGE + module_name[len(COLLECTION):])
        except ImportError:
            # e.g. openstacksdk missing from the controller's Python: let a module process say it its own way
            return self._execute_module(task_vars=task_vars)
        args = dict(self._task.args)
        self._update_module_args(module_name, args, task_vars)
        environment = {}
        self._compute_environment_string(raw_environment_out=environment)
        stdout, stderr, rc = _run_main(module, args, environment)
        data = self._parse_returned_data({'rc': rc, 'stdout': stdout, 'stderr': stderr}, PROFILE)
        remove_internal_keys(data)
        return data


def _run_main(module, args, environment):
    """The module's main() with `args` as its input: (its stdout, stderr, exit code), an uncaught exception being
    what a module process would print and exit 1 with. The worker is this task's own process: the environment and
    the args global are changed for good, on purpose."""
    encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}, cls=encoder).encode()  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = PROFILE  # pylint: disable=protected-access
    os.environ.update({str(k): str(v) for k, v in environment.items()})
    out = io.StringIO()
    rc, stderr = 0, ''
    with contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit as stop:
            rc = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except Exception:  # pylint: disable=broad-exception-caught
            rc, stderr = 1, traceback.format_exc()
    return out.getvalue(), stderr, rc


def preload():
    """Import what every controller module needs, once, in the parent process (called by the campaign_status
    callback): the forked workers then share it instead of importing it per task."""
    for name in ('openstack', 'openstack.connection', 'keystoneauth1.session'):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
