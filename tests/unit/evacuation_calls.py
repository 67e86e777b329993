# SPDX-License-Identifier: Apache-2.0
"""The evacuation unit tests' shared calls: run compute_evacuate's core against a FakeCloud in fake time, expect its
error code, read the fake's recorded calls and one instance's report entry (test_evacuation*.py)."""

from __future__ import annotations

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation import run
from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

SRC = 'cmp1'


def make_cloud(hosts=3):
    """``hosts`` hosts cmp1..N, the source cmp1 disabled by a campaign (as the maintenance step leaves it)."""
    cloud = FakeCloud()
    for index in range(1, hosts + 1):
        cloud.add_host('cmp%d' % index)
    cloud.hosts[SRC].status = 'disabled'
    cloud.hosts[SRC].disabled_reason = 'escalator:c1: upgrade'
    return cloud


def evacuate(cloud, host=SRC, check_mode=False, **options):
    return run.evacuate(cloud, host, options, clock=cloud.clock, sleep=cloud.sleep, check_mode=check_mode)


def failing(cloud, code, host=SRC, **options):
    with pytest.raises(EscalatorError) as info:
        evacuate(cloud, host, **options)
    assert info.value.code == code, info.value.msg
    return info.value


def calls(cloud, name, server=None):
    """The fake's recorded calls named ``name`` (of ``server`` only, when given)."""
    return [call for call in cloud.calls if call[0] == name and (server is None or call[1] == server.id)]


def entry(result, server):
    return next(item for item in result['instances'] if item['id'] == server.id)
