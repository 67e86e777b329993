# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
name: campaign
type: stdout
short_description: A compact live view of an Escalator campaign
version_added: 0.1.0
description:
  - A stdout callback for the campaign playbooks. By default (no V(-v)) it prints one line per host phase change
    (V(precheck), V(maintenance), V(notify), V(evacuate), V(backup), V(upgrade), V(verify), V(release),
    V(rollback) - read from the phase tags of the host's tasks), a line when a batch starts and when it ends with
    the campaign's progress, a line per host that ends (done, failed, rolled back, skipped) with its duration or
    its error code and message, every failure with its task, error code and message, the messages of
    M(ansible.builtin.debug) tasks (the plan table), warnings, and the play recap. Each line starts with the time
    elapsed since the start of the playbook.
  - The status table at the end is printed by the C(opnfv.escalator.campaign_status) callback, which the campaign
    playbooks require; the copy a playbook shows with a debug task is not printed twice.
  - With V(-v) or more, it prints exactly what Ansible's C(default) callback prints. Choosing the C(default)
    callback (E(ANSIBLE_STDOUT_CALLBACK=default)) gives the full task output too.
  - The C(escalator) command line and the Python API run the playbooks through ansible-runner, whose own stdout
    callback makes their event stream; this callback is not used there.
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
requirements:
  - Set as the stdout callback - C(stdout_callback = opnfv.escalator.campaign) under C([defaults]) of
    C(ansible.cfg) (the collection's C(playbooks/ansible.cfg) does), or
    E(ANSIBLE_STDOUT_CALLBACK=opnfv.escalator.campaign).
author:
  - Escalator developers (@opnfv)
'''

import re
import time

from ansible import constants as C
from ansible.plugins.callback.default import CallbackModule as DefaultCallbackModule

from ansible_collections.opnfv.escalator.plugins.module_utils.state import (
    DONE, FAILED, PHASES, ROLLED_BACK, SKIPPED, format_duration, host_duration, summary,
)

# The phase tags of the campaign playbooks, in campaign order (docs/status.md): the recorded phases and the
# release block, which the campaign_status callback does not record as a phase of its own.
VIEW_PHASES = tuple(PHASES[:PHASES.index('verify') + 1]) + ('release',) + tuple(PHASES[PHASES.index('verify') + 1:])
STATE_MODULES = ('campaign_state', 'campaign_state_info')
DEBUG_MODULES = frozenset(('debug', 'ansible.builtin.debug', 'ansible.legacy.debug'))
HOST_ENDINGS = {DONE: 'done', FAILED: 'FAILED', ROLLED_BACK: 'ROLLED BACK', SKIPPED: 'skipped'}
# The status table a playbook shows at its end (state.render_table's first line): campaign_status prints it
# anyway when the playbook ends, which the compact view keeps as the one copy.
STATUS_TABLE_TITLE = re.compile(r'^Campaign \S+: (running|done|failed|incomplete) \(run ')
MESSAGE_LIMIT = 4000
HOST_WIDTH = 10


def view_phase_of(task):
    """The phase a task shows in the view, from its tags (its own, its blocks' and its play's), or None; should a
    task carry several phase tags, the latest in campaign order wins."""
    tags = getattr(task, 'tags', None) or ()
    if not isinstance(tags, (list, tuple, set, frozenset)):
        return None
    found = [phase for phase in VIEW_PHASES if phase in tags]
    return found[-1] if found else None


def _module_of(task):
    module = getattr(task, 'resolved_action', None) or getattr(task, 'action', None)
    return module if isinstance(module, str) else ''


def _short(text, limit=MESSAGE_LIMIT):
    text = str(text).strip()
    return text if len(text) <= limit else text[:limit - 3] + '...'


def failure_text(data):
    """'E_CODE: message' of a failed result (a loop's first failed item when the loop only says that one
    failed); the content of a no_log result is never shown."""
    if data.get('_ansible_no_log') or 'censored' in data:
        return 'output hidden (no_log)'
    code = data.get('error_code') if isinstance(data.get('error_code'), str) else None
    message = data.get('msg') or data.get('reason')
    items = data.get('results')
    if isinstance(items, list) and (not message or 'items failed' in str(message) or 'item failed' in str(message)):
        item = next((i for i in items if isinstance(i, dict) and i.get('failed')), None)
        if item is not None:
            if item.get('_ansible_no_log') or 'censored' in item:
                return 'output hidden (no_log)'
            code = code or (item.get('error_code') if isinstance(item.get('error_code'), str) else None)
            message = item.get('msg') or item.get('stderr') or message
    message = message or data.get('stderr') or data.get('module_stderr') or 'failed'
    text = _short(message)
    return '%s: %s' % (code, text) if code else text


def debug_lines(data):
    """The lines a debug task shows: its msg (a string or a list of lines), or its var as name: value."""
    if 'msg' in data:
        message = data['msg']
        if isinstance(message, (list, tuple)):
            return [str(line) for line in message]
        return str(message).splitlines() or ['']
    shown = [key for key in data if not key.startswith('_') and key not in ('changed', 'failed', 'skipped')]
    return ['%s: %s' % (key, data[key]) for key in shown]


class CallbackModule(DefaultCallbackModule):
    """Escalator's compact stdout: phases, batches, failures, the plan; the default output with -v."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'opnfv.escalator.campaign'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._t0 = time.monotonic()
        self._last_header = None     # the last play header printed
        self._host_phase = {}
        self._status = None          # the last campaign status a campaign_state(_info) result carried
        self._announced = set()      # batch indexes whose start was printed
        self._introduced = None      # the campaign run whose size was printed

    # -- helpers ------------------------------------------------------------------------------------------------
    def _compact(self):
        return self._display.verbosity < 1

    def _line(self, text, color=None, host=None, elapsed=True):
        prefix = '[%s] ' % format_duration(time.monotonic() - self._t0) if elapsed else ''
        if host is not None:
            prefix += host.ljust(HOST_WIDTH) + ' '
        lines = str(text).splitlines() or ['']
        indent = ' ' * len(prefix)
        self._display.display('\n'.join([prefix + lines[0]] + [indent + line for line in lines[1:]]), color=color)

    # -- the playbook and its plays -----------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._t0 = time.monotonic()
        super().v2_playbook_on_start(playbook)

    def v2_playbook_on_play_start(self, play):
        if not self._compact():
            return super().v2_playbook_on_play_start(play)
        self._play = play
        header = 'PLAY [%s]' % play.get_name().strip()
        # ansible-core starts a play again for each of its serial batches: one header is enough
        if header != self._last_header:
            self._display.display(header, color=C.COLOR_HIGHLIGHT)
        self._last_header = header
        return None

    def v2_playbook_on_task_start(self, task, is_conditional):
        if not self._compact():
            super().v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task):
        if not self._compact():
            super().v2_playbook_on_handler_task_start(task)

    def v2_playbook_on_no_hosts_matched(self):
        if not self._compact():
            return super().v2_playbook_on_no_hosts_matched()
        self._line('no hosts matched', color=C.COLOR_SKIP)
        return None

    def v2_playbook_on_no_hosts_remaining(self):
        if not self._compact():
            return super().v2_playbook_on_no_hosts_remaining()
        self._line('no hosts remaining', color=C.COLOR_ERROR)
        return None

    # -- hosts entering phases ----------------------------------------------------------------------------------
    def v2_runner_on_start(self, host, task):
        if not self._compact():
            return super().v2_runner_on_start(host, task)
        phase = view_phase_of(task)
        name = host.get_name()
        if phase is None or self._host_phase.get(name) == phase:
            return None
        self._host_phase[name] = phase
        if phase != 'precheck':
            self._announce_batch_of(name)
        self._line(phase, host=name)
        return None

    def _announce_batch_of(self, host):
        """Say that a batch starts when its first host enters its first phase (the batches come from the plan
        the campaign_state results carry)."""
        status = self._status or {}
        index = ((status.get('hosts') or {}).get(host) or {}).get('batch')
        batches = status.get('batches') or []
        batch = next((b for b in batches if b.get('index') == index), None)
        if batch is None or index in self._announced:
            return
        self._announced.add(index)
        self._line('batch %s/%d%s: %s' % (index, len(batches), ' (canary)' if batch.get('canary') else '',
                                          ', '.join(batch.get('hosts') or [])), color=C.COLOR_HIGHLIGHT)

    # -- results ------------------------------------------------------------------------------------------------
    def v2_runner_on_ok(self, result):
        if not self._compact():
            return super().v2_runner_on_ok(result)
        self._handle_warnings(result.result)
        task, data = result.task, result.result
        module = _module_of(task)
        if module.split('.')[-1] in STATE_MODULES and isinstance(data.get('status'), dict):
            self._follow(data['status'])
        elif module in DEBUG_MODULES:
            lines = debug_lines(data)
            if lines and not STATUS_TABLE_TITLE.match(lines[0]):
                self._line('\n'.join(lines), elapsed=False)
        return None

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self._compact():
            return super().v2_runner_on_failed(result, ignore_errors)
        # the warnings only: the failure's own line below says what the exception's report would repeat
        self._handle_warnings(result.result)
        if ignore_errors:
            return None
        self._line('FAILED in %r: %s' % (result.task.get_name(), failure_text(result.result)),
                   color=C.COLOR_ERROR, host=result.host.get_name())
        return None

    def v2_runner_on_unreachable(self, result):
        if not self._compact():
            return super().v2_runner_on_unreachable(result)
        data = result.result
        self._line('UNREACHABLE in %r: %s' % (result.task.get_name(), _short(data.get('msg') or 'no answer')),
                   color=C.COLOR_UNREACHABLE, host=result.host.get_name())
        return None

    def v2_runner_on_skipped(self, result):
        if not self._compact():
            super().v2_runner_on_skipped(result)

    def v2_runner_item_on_ok(self, result):
        if not self._compact():
            super().v2_runner_item_on_ok(result)

    def v2_runner_item_on_failed(self, result):
        if not self._compact():
            super().v2_runner_item_on_failed(result)

    def v2_runner_item_on_skipped(self, result):
        if not self._compact():
            super().v2_runner_item_on_skipped(result)

    def v2_runner_retry(self, result):
        if not self._compact():
            super().v2_runner_retry(result)

    def v2_playbook_on_include(self, included_file):
        if not self._compact():
            super().v2_playbook_on_include(included_file)

    def v2_runner_on_async_poll(self, result):
        if not self._compact():
            super().v2_runner_on_async_poll(result)

    def v2_playbook_on_notify(self, handler, host):
        if not self._compact():
            super().v2_playbook_on_notify(handler, host)

    # -- the campaign's status ----------------------------------------------------------------------------------
    def _follow(self, status):
        """Print what changed since the last status a campaign_state(_info) result carried: the campaign's size
        when its run starts, hosts that ended in this run, batches that ended, with the progress."""
        campaign = status.get('campaign') or {}
        hosts, batches = status.get('hosts') or {}, status.get('batches') or []
        previous = self._status
        self._status = status
        if campaign.get('state') == 'running' and self._introduced != campaign.get('run'):
            self._introduced = campaign.get('run')
            done = sum(1 for record in hosts.values() if record.get('state') in (DONE, SKIPPED))
            self._line('campaign %s, run %s: %d hosts in %d batches%s' % (
                campaign.get('id'), campaign.get('run'), len(hosts), len(batches),
                ('; %d already done' % done) if done else ''), color=C.COLOR_HIGHLIGHT)
        if previous is None:
            return
        before_hosts = previous.get('hosts') or {}
        for name, record in hosts.items():
            old = (before_hosts.get(name) or {}).get('state')
            if record.get('state') == old or record.get('state') not in HOST_ENDINGS:
                continue
            self._line(self._ending(record), host=name,
                       color=C.COLOR_OK if record['state'] in (DONE, SKIPPED) else C.COLOR_ERROR)
        before_batches = {b.get('index'): b.get('state') for b in previous.get('batches') or []}
        for batch in batches:
            if batch.get('state') in (DONE, FAILED, SKIPPED) and before_batches.get(batch.get('index')) != \
                    batch.get('state'):
                self._line(self._progress(status, batch), color=C.COLOR_HIGHLIGHT)

    @staticmethod
    def _ending(record):
        words = HOST_ENDINGS[record['state']]
        if record['state'] == DONE:
            duration = host_duration(record) if record.get('finished') else None
            return '%s%s' % (words, (' in %s' % format_duration(duration)) if duration is not None else '')
        detail = ': '.join(part for part in (record.get('error_code'), _short(record.get('message') or '', 500))
                           if part)
        return '%s%s' % (words, (' - %s' % detail) if detail else '')

    @staticmethod
    def _progress(status, batch):
        info = summary(status)
        return 'batch %s/%d %s; hosts %d/%d done, %d failed; batches %d/%d done' % (
            batch.get('index'), info['batches'], batch.get('state'), info['done'], info['hosts'], info['failed'],
            info['batches_done'], info['batches'])
