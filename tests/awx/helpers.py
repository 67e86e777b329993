# SPDX-License-Identifier: Apache-2.0
"""Helpers of the AWX / execution environment tests: the repository, its YAML, the tools of .venv."""
import ast
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
BIN = os.path.dirname(sys.executable)
CONTROLLER_DATA = os.path.join(ROOT, 'awx', 'controller', 'escalator.yml')


def path(*parts):
    return os.path.join(ROOT, *parts)


def load_yaml(*parts):
    with open(path(*parts), encoding='utf-8') as f:
        return yaml.safe_load(f)


def tool(name):
    """A tool of this virtualenv (ansible-playbook, ansible-builder ...), else the one on PATH."""
    candidate = os.path.join(BIN, name)
    return candidate if os.path.exists(candidate) else name


def ansible_env(**extra):
    env = dict(os.environ)
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(
        [path('.venv', 'collections')] + [p for p in env.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p])
    env['ANSIBLE_DEPRECATION_WARNINGS'] = 'False'
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_RETRY_FILES_ENABLED'] = 'False'
    env.update(extra)
    return env


def run(cmd, cwd=ROOT, env=None, timeout=600):
    return subprocess.run(cmd, cwd=cwd, env=env or ansible_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)


def module_options(module):
    """The options of opnfv.escalator.<module>, from its DOCUMENTATION (and the openstack doc fragment)."""
    with open(path('plugins', 'modules', module + '.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets):
            return yaml.safe_load(node.value.value).get('options') or {}
    raise AssertionError('no DOCUMENTATION in module %s' % module)


def role_options():
    """{variable: option spec} over every role's meta/argument_specs.yml (entry point main)."""
    options = {}
    for role in sorted(os.listdir(path('roles'))):
        spec = path('roles', role, 'meta', 'argument_specs.yml')
        if os.path.exists(spec):
            with open(spec, encoding='utf-8') as f:
                entry = (yaml.safe_load(f).get('argument_specs') or {}).get('main') or {}
            for name, option in (entry.get('options') or {}).items():
                options.setdefault(name, []).append((role, option))
    return options


IMPORT_NAMES = re.compile(r"['\"]?([\w./-]+\.ya?ml)['\"]?")


def playbook_tree(playbook):
    """Every playbook file AWX runs for `playbook` (relative to ROOT): it and what it imports, recursively.

    A templated import (`import_playbook: "{{ 'a.yml' if x else 'b.yml' }}"`) counts every file it names.
    """
    seen, todo = [], [path(playbook)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        with open(current, encoding='utf-8') as f:
            text = f.read()
        plays = yaml.safe_load(text) or []
        # task files the plays include (tasks/drain.yml) and the variables they load (vars/controller.yml),
        # relative to the playbooks' directory
        todo.extend(os.path.join(os.path.dirname(path(playbook)), name)
                    for name in re.findall(r'(?:include_tasks|import_tasks|vars_files):\s*([\w./-]+\.yml)\b', text, re.M))
        if not isinstance(plays, list) or not all(isinstance(play, dict) for play in plays):
            continue
        for play in plays:
            target = play.get('ansible.builtin.import_playbook') or play.get('import_playbook')
            if target:
                names = IMPORT_NAMES.findall(target) if '{{' in target else [target]
                todo.extend(os.path.join(os.path.dirname(current), name) for name in names)
    return seen


def roles_of(files):
    """The collection's roles that these playbooks use (roles:, include_role, import_role)."""
    names = set()
    for name in files:
        with open(name, encoding='utf-8') as f:
            names.update(re.findall(r'opnfv\.escalator\.(\w+)', f.read()))
    return sorted(n for n in names if os.path.isdir(path('roles', n)))


def role_files(role):
    out = []
    for sub in ('tasks', 'defaults', 'vars', 'handlers', 'templates'):
        top = path('roles', role, sub)
        for dirpath, _dirs, files in os.walk(top):
            out.extend(os.path.join(dirpath, f) for f in sorted(files))
    return out
