# SPDX-License-Identifier: Apache-2.0
"""Stand-ins for what a callback plugin receives from ansible-core: a host, a task, a play.

Shared by the tests of the campaign_status and campaign callbacks; the result objects stay with each test, since
the two callbacks read them through different ansible-core interfaces (._result before 2.19, .result from 2.19).
"""

from __future__ import annotations


class Host:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Task:
    def __init__(self, name, action='ansible.builtin.command', tags=(), check_mode=False):
        self.name = name
        self.action = action
        self.resolved_action = action
        self._uuid = 'uuid-' + name
        self.tags = list(tags)      # as ansible-core gives them: the task's own and its blocks' and play's
        self.delegate_to = None
        self.loop = None
        self.check_mode = check_mode
        self.no_log = False

    def get_name(self):
        return self.name


class Play:
    def __init__(self, name='upgrade'):
        self.name = name

    def get_name(self):
        return self.name

    @staticmethod
    def get_variable_manager():
        return None
