# SPDX-License-Identifier: Apache-2.0
"""Make the collection importable for pytest as ansible_collections.opnfv.escalator.

scripts/setup links this checkout at .venv/collections/ansible_collections/opnfv/escalator;
pytest-ansible (`--ansible-unit-inject-only`, see pytest.ini) installs Ansible's collection
finder on ANSIBLE_COLLECTIONS_PATH, which must name that directory before it runs.
"""
import os

import pytest

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '.venv', 'collections')


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    paths = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    if COLLECTIONS not in paths:
        os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([COLLECTIONS] + paths)
