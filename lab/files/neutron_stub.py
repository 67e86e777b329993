"""Neutron STAND-IN for the escalator lab.  This is NOT Neutron.

Nova has no networking of its own any more and always talks to Neutron, even for servers
booted with networks='none' (compute API microversion >= 2.37): it lists extensions, ports
(by device_id) and quotas while booting, migrating, deleting and healing its info cache.
Lab servers have no ports, so every one of those calls has the answer "nothing": this WSGI app
answers GET on a collection with an empty list, GET on an item with 404, DELETE with 204, and
rejects everything else with 400 (logged), so a code path that really needs networking fails
loudly instead of silently succeeding.

Served by gunicorn from the lab venv:  gunicorn neutron_stub:application
"""
import json
import logging
import re
import sys

LOG = logging.getLogger('neutron-stub')
logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format='%(asctime)s %(levelname)s %(name)s %(message)s')


def _reply(start_response, status, body=None):
    data = b'' if body is None else json.dumps(body).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(data)))])
    return [data]


def _error(start_response, status, kind, message):
    return _reply(start_response, status,
                  {'NeutronError': {'type': kind, 'message': message, 'detail': ''}})


def application(environ, start_response):
    method = environ['REQUEST_METHOD']
    path = environ.get('PATH_INFO', '/').rstrip('/') or '/'
    host = environ.get('HTTP_HOST', '127.0.0.1:9696')
    if path == '/':
        return _reply(start_response, '200 OK', {'versions': [{
            'id': 'v2.0', 'status': 'CURRENT',
            'links': [{'href': 'http://%s/v2.0/' % host, 'rel': 'self'}]}]})
    if path == '/v2.0':
        return _reply(start_response, '200 OK', {'resources': []})
    if method == 'GET':
        m = re.match(r'^/v2\.0/quotas/([^/]+)(/details)?$', path)
        if m:
            return _reply(start_response, '200 OK', {'quota': {
                'port': -1, 'network': -1, 'subnet': -1, 'router': -1,
                'floatingip': -1, 'security_group': -1, 'security_group_rule': -1}})
        parts = path.split('/')
        if len(parts) == 3:                      # /v2.0/<collection>
            return _reply(start_response, '200 OK', {parts[2].replace('-', '_'): []})
        return _error(start_response, '404 Not Found', 'NotFound',
                      'lab neutron stand-in: %s does not exist (the lab has no networks)'
                      % path)
    if method == 'DELETE':
        return _reply(start_response, '204 No Content')
    LOG.warning('unsupported call %s %s (the lab has no networking)', method, path)
    return _error(start_response, '400 Bad Request', 'BadRequest',
                  'lab neutron stand-in: %s %s is not supported; boot lab servers with '
                  "networks='none' (microversion >= 2.37)" % (method, path))
