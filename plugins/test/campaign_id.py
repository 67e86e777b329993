# SPDX-License-Identifier: Apache-2.0
"""Jinja test ``opnfv.escalator.campaign_id``: the campaign id rule of module_utils/campaign_id.py."""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_id as campaign_ids


def campaign_id(value):
    """Whether ``value`` is a valid campaign id."""
    return campaign_ids.is_valid(value)


class TestModule:
    """The collection's tests."""

    def tests(self):
        return {'campaign_id': campaign_id}
