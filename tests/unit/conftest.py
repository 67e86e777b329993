# SPDX-License-Identifier: Apache-2.0
import pytest


@pytest.fixture
def cloud():
    """An empty fake cloud; tests add hosts, servers and groups to it."""
    # Imported here, not at module level: conftest files load before pytest-ansible installs
    # Ansible's collection finder, and an earlier plain import would bypass it.
    from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

    return FakeCloud()
