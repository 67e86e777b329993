# SPDX-License-Identifier: Apache-2.0
"""The action of opnfv.escalator.backup_store: on the controller it runs in the Ansible worker (plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.plugin_utils.in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    """opnfv.escalator.backup_store"""
