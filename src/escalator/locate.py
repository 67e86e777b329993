# SPDX-License-Identifier: Apache-2.0
"""Where the collection, its playbooks and the campaign state live.

Two layouts are supported:

* a checkout of the repository (this package installed in editable mode by ``scripts/setup``):
  the playbooks are ``<checkout>/playbooks`` and ansible finds the collection through the link
  ``<checkout>/.venv/collections/ansible_collections/opnfv/escalator``;
* an installed collection: ``ansible_collections/opnfv/escalator`` under one of the directories of
  ``ANSIBLE_COLLECTIONS_PATH`` (default ``~/.ansible/collections:/usr/share/ansible/collections``).
"""

from __future__ import annotations

import importlib
import os
import sys

from escalator.errors import InputError

COLLECTION = ('ansible_collections', 'opnfv', 'escalator')
DEFAULT_COLLECTIONS_PATH = ('~/.ansible/collections', '/usr/share/ansible/collections')
HOME_ENV = 'ESCALATOR_HOME'
DEFAULT_HOME = '~/.escalator'


def checkout_root():
    """The repository checkout this package runs from, or None (an installed package)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if all(os.path.exists(os.path.join(root, name)) for name in ('galaxy.yml', 'playbooks', 'plugins')):
        return root
    return None


def _collections_paths(environ=None):
    environ = os.environ if environ is None else environ
    paths = [p for p in environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    root = checkout_root()
    if root:
        paths.insert(0, os.path.join(root, '.venv', 'collections'))
    return [os.path.expanduser(p) for p in paths + list(DEFAULT_COLLECTIONS_PATH)]


def collections_root(environ=None):
    """The directory that holds ``ansible_collections/opnfv/escalator`` (what goes on ANSIBLE_COLLECTIONS_PATH)."""
    for path in _collections_paths(environ):
        if os.path.isfile(os.path.join(path, *COLLECTION, 'galaxy.yml')) or \
                os.path.isfile(os.path.join(path, *COLLECTION, 'MANIFEST.json')):
            return path
    where = ', '.join(_collections_paths(environ))
    hint = ('run scripts/setup (it links this checkout into .venv/collections)' if checkout_root()
            else 'install it: ansible-galaxy collection install opnfv.escalator, or set ANSIBLE_COLLECTIONS_PATH')
    raise InputError('the Ansible collection opnfv.escalator was not found in %s; %s' % (where, hint))


def playbook_dir(project_dir=None, environ=None):
    """The directory of the campaign playbooks: ``project_dir`` when given, else the checkout's
    ``playbooks/``, else the installed collection's."""
    if project_dir:
        path = os.path.abspath(os.path.expanduser(project_dir))
    else:
        root = checkout_root()
        path = os.path.join(root, 'playbooks') if root else os.path.join(collections_root(environ), *COLLECTION,
                                                                          'playbooks')
    if not os.path.isdir(path):
        raise InputError('the playbook directory %s does not exist' % path)
    return path


def escalator_home(environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(os.path.expanduser(environ.get(HOME_ENV) or DEFAULT_HOME))


def default_inventory(environ=None):
    """ESCALATOR_INVENTORY, else (in a checkout) the lab's inventory when `lab up` wrote it, else None."""
    environ = os.environ if environ is None else environ
    if environ.get('ESCALATOR_INVENTORY'):
        return environ['ESCALATOR_INVENTORY']
    root = checkout_root()
    if root:
        lab = os.path.join(root, 'inventories', 'lab', 'hosts.yml')
        if os.path.exists(lab):
            return lab
    return None


def collection_module(name):
    """Import ``ansible_collections.opnfv.escalator.plugins.module_utils.<name>`` (plain Python, no Ansible)."""
    full = 'ansible_collections.opnfv.escalator.plugins.module_utils.' + name
    try:
        return importlib.import_module(full)
    except ImportError:
        pass
    root = collections_root()
    if root not in sys.path:
        sys.path.append(root)
    importlib.invalidate_caches()
    return importlib.import_module(full)
