# SPDX-License-Identifier: Apache-2.0
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture
def cloud():
    """An empty fake cloud; tests add hosts, servers and groups to it."""
    # Imported here, not at module level: conftest files load before pytest-ansible installs
    # Ansible's collection finder, and an earlier plain import would bypass it.
    from ansible_collections.opnfv.escalator.tests.unit.fakecloud import FakeCloud

    return FakeCloud()


@pytest.fixture
def ansible_playbook():
    """Runs a playbook with this Python's ansible-playbook on this checkout's collection, the Escalator settings
    of the caller's environment and its ansible.cfg left out:
    ``run(workdir, playbook_text, *args, computes=None, inventory_vars='', **env)`` -> CompletedProcess.

    Writes workdir/playbook.yml and workdir/inventory.ini: localhost and the group ``computes`` (``computes``:
    {host: its inventory variables}, default compute1 and compute2 on the local connection), all on this Python,
    then ``inventory_vars`` (lines of [all:vars]). The playbook gets ``state_dir=<workdir>/state``; ``env`` adds
    environment variables (the callbacks to enable, for example). The output is captured, the result not checked.
    """
    # imported here, like the FakeCloud above: the collection finder is not installed yet when conftest loads
    from ansible_collections.opnfv.escalator.plugins.module_utils import errors

    path = os.path.abspath(errors.__file__)
    for _level in range(5):                      # plugins/module_utils/errors.py -> collection -> opnfv -> root
        path = os.path.dirname(path)
    collections = os.path.dirname(path)

    def run(workdir, playbook, *args, computes=None, inventory_vars='', **env):
        if computes is None:
            computes = {'compute1': 'ansible_connection=local', 'compute2': 'ansible_connection=local'}
        hosts = ''.join('%s %s\n' % (name, variables) for name, variables in computes.items())
        (workdir / 'inventory.ini').write_text('localhost ansible_connection=local\n[computes]\n%s'
                                               '[all:vars]\nansible_python_interpreter=%s\n%s'
                                               % (hosts, sys.executable, inventory_vars))
        (workdir / 'playbook.yml').write_text(playbook)
        environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(workdir / 'ansible-home'),
                           ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_RETRY_FILES_ENABLED='False')
        for name in ('ESCALATOR_CAMPAIGN_ID', 'ESCALATOR_STATE_DIR', 'ESCALATOR_RUN_ID', 'ANSIBLE_CONFIG'):
            environment.pop(name, None)
        environment.update(env)
        return subprocess.run(
            [sys.executable, '-m', 'ansible.cli.playbook', '-i', str(workdir / 'inventory.ini'),
             str(workdir / 'playbook.yml'), '-e', 'state_dir=%s' % (workdir / 'state')] + list(args),
            cwd=str(workdir), env=environment, capture_output=True, text=True, timeout=300, check=False)
    return run


class RecordingServer:
    """An HTTP server on 127.0.0.1 that records every request (method, path, headers, body) and answers each with
    ``answer(handler)`` -> (status, headers, body)."""

    def __init__(self, answer):
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _any(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                server.requests.append(dict(method=self.command, path=self.path, headers=dict(self.headers),
                                            body=body))
                status, headers, payload = answer(self)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server():
    """start(answer) -> a RecordingServer (its ``url``, its ``requests``); every server started is stopped after
    the test."""
    started = []

    def start(answer):
        started.append(RecordingServer(answer))
        return started[-1]
    yield start
    for server in started:
        server.stop()


@pytest.fixture
def check_argument_spec():
    """check(module, *keys): the argument spec an OpenStack module's main() hands to OpenStackModule and the
    options of its DOCUMENTATION have the same names, types, and values of ``keys`` (default, choices...)."""
    from unittest import mock

    import yaml

    absent = {'required': False}

    def check(module, *keys):
        doc = yaml.safe_load(module.DOCUMENTATION)
        with mock.patch.object(module, 'OpenStackModule') as base:
            module.main()
        spec = base.call_args[1]['argument_spec']
        assert set(spec) == set(doc['options'])
        for name, option in spec.items():
            assert option['type'] == doc['options'][name]['type'], name
            for key in keys:
                assert option.get(key, absent.get(key)) == doc['options'][name].get(key, absent.get(key)), (name, key)
    return check
