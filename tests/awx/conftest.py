# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the AWX / execution environment tests."""
import pytest


@pytest.fixture(scope='session')
def controller():
    """awx/controller/escalator.yml, the AWX objects as code."""
    # Imported here, not at module level: conftest files load before pytest-ansible installs
    # Ansible's collection finder.
    from ansible_collections.opnfv.escalator.tests.awx.helpers import load_yaml

    return load_yaml('awx', 'controller', 'escalator.yml')
