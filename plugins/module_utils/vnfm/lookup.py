# SPDX-License-Identifier: Apache-2.0
"""What the cloud says for a notification session: the instances to announce (Nova) and the project
each VNFM endpoint is for (Keystone, by id or name, with a close match when a name is wrong)."""

from __future__ import annotations

import difflib

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError
from ansible_collections.opnfv.escalator.plugins.module_utils.openstack import error_from_exception
from ansible_collections.opnfv.escalator.plugins.module_utils.vnfm.options import DEFAULT_ENDPOINT


def _server_host(server):
    return getattr(server, 'compute_host', None) or getattr(server, 'hypervisor_hostname', None)


def list_instances(conn, host=None, instance_ids=None):
    """The instances to announce: on ``host`` (all projects) or the given ids. Returns dicts."""
    result = []
    try:
        if host:
            # `compute_host` is the real filter; openstacksdk's `host` is silently ignored by Nova here.
            servers = list(conn.compute.servers(details=True, all_projects=True, compute_host=host))
        else:
            servers = [conn.compute.get_server(instance) for instance in instance_ids or []]
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing the instances to announce') from exc
    for server in servers:
        result.append(dict(id=server.id, name=server.name, project_id=server.project_id, status=server.status,
                           host=_server_host(server)))
    return result


def project_instances(conn, project_id):
    try:
        servers = list(conn.compute.servers(details=True, all_projects=True, project_id=project_id))
    except Exception as exc:  # pylint: disable=broad-except
        raise error_from_exception(exc, during='listing the instances of project %s' % project_id) from exc
    return [dict(id=s.id, name=s.name, project_id=s.project_id, status=s.status, host=_server_host(s))
            for s in servers]


def _project_names(conn, known_project_ids):
    """Names of the cloud's projects (for a hint), or at least of the given ones."""
    names = []
    try:
        names = [project.name for project in conn.identity.projects()]
    except Exception:  # pylint: disable=broad-except
        for project_id in sorted(known_project_ids):
            try:
                project = conn.identity.find_project(project_id, ignore_missing=True)
            except Exception:  # pylint: disable=broad-except
                project = None
            if project is not None and project.name:
                names.append(project.name)
    return sorted(set(name for name in names if name))


def resolve_endpoints(conn, endpoints, known_project_ids):
    """Map each VNFM endpoint to a project id. ``project`` may be an id or a Keystone name; one that names
    no project is refused (E_INVALID_INPUT naming the entry, the known projects and a close match)."""
    resolved = {}
    warnings = []
    for index, entry in enumerate(endpoints):
        name = entry['project']
        try:
            project = conn.identity.find_project(name, ignore_missing=True)
        except Exception as exc:  # pylint: disable=broad-except
            raise error_from_exception(exc, during='looking up the project %r of vnfm[%d] in Keystone'
                                       % (name, index)) from exc
        if project is None:
            known = _project_names(conn, known_project_ids)
            hint = [match for match in known if match.lower() == name.lower()] or difflib.get_close_matches(
                name, known, n=2)
            raise EscalatorError(
                'vnfm[%d].project: no project %r in Keystone (names are case-sensitive)%s; known projects: %s'
                % (index, name, ('; did you mean %s?' % ' or '.join(repr(item) for item in hint)) if hint else '',
                   ', '.join(known[:50]) or 'none'),
                code=E_INVALID_INPUT, option='vnfm[%d].project' % index, project=name, known_projects=known[:50])
        project_id = project.id
        if project_id in resolved:
            raise EscalatorError('two vnfm entries are for the same project %s (%r and %r)'
                                 % (project_id, resolved[project_id]['project'], name), code=E_INVALID_INPUT,
                                 option='vnfm[%d].project' % index)
        full = dict(DEFAULT_ENDPOINT)
        full.update({key: value for key, value in entry.items() if value is not None})
        full['project_id'] = project_id
        full['project_name'] = getattr(project, 'name', None) or name
        resolved[project_id] = full
    return resolved, warnings
