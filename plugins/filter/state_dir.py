# SPDX-License-Identifier: Apache-2.0
"""Jinja filter ``opnfv.escalator.state_dir``: the state-directory rule of module_utils/state/paths.py."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.state.paths import resolve_state_dir


def state_dir(value):
    """The campaign state directory: ``value`` when set, else ``$ESCALATOR_STATE_DIR``, else the default; absolute."""
    return resolve_state_dir(value or None)


class FilterModule:
    """The collection's filters."""

    def filters(self):
        return {'state_dir': state_dir}
