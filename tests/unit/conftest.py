# SPDX-License-Identifier: Apache-2.0
import pytest

from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud


@pytest.fixture
def cloud():
    """An empty fake cloud; tests add hosts, servers and groups to it."""
    return FakeCloud()
