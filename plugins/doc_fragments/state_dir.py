# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations


class ModuleDocFragment:
    """The state directory of the modules that read or write the campaigns' records (the rule: state/paths.py)."""

    DOCUMENTATION = r'''
options:
  state_dir:
    description:
      - The directory that holds one sub-directory per campaign.
      - Defaults to E(ESCALATOR_STATE_DIR) on the host that runs the module, else C(~/.escalator/campaigns).
    type: path
'''
