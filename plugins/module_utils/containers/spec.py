# SPDX-License-Identifier: Apache-2.0
"""The input of the containers method, checked before anything runs.

``escalator_upgrade_containers``: ``[{name, image, tag and/or digest, unit}]`` in restart order. ``image`` is a
repository without tag or digest (``registry:5000/kolla/nova-compute``); ``tag`` names the target, ``digest``
(``sha256:<64 hex>``) pins it - with both, the tag is pulled and must be on that digest. ``unit`` is the systemd
unit that runs the container (optional: without one the container is started with the engine's ``start``).
"""

from __future__ import annotations

import re

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

ENGINES = ('podman', 'docker')
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$')
TAG = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
DIGEST = re.compile(r'^sha256:[0-9a-f]{64}$')
# a repository: lowercase path components, optionally behind a registry host[:port]
IMAGE = re.compile(r'^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$')
UNIT = re.compile(r'^[A-Za-z0-9:_.@\\-]+$')


def target_options():
    """The argument spec of one target (name, image, tag, digest, unit), the one home of it for every module that takes
    the containers: compute_containers, and compute_host_facts and compute_backup with their option ``containers``."""
    return dict(
        name=dict(type='str', required=True),
        image=dict(type='str', required=True),
        tag=dict(type='str'),
        digest=dict(type='str'),
        unit=dict(type='str'),
    )


def engine_option():
    """The argument spec of the engine option (podman or docker)."""
    return dict(type='str', default='podman', choices=list(ENGINES))


class Target(object):
    """One container and the image it must run: ``pull_ref`` is what is pulled (image:tag, else image@digest)."""

    def __init__(self, name, image, tag=None, digest=None, unit=None):
        self.name, self.image, self.tag, self.digest, self.unit = name, image, tag, digest, unit

    @property
    def pull_ref(self):
        return '%s:%s' % (self.image, self.tag) if self.tag else '%s@%s' % (self.image, self.digest)

    def to_dict(self):
        return dict(name=self.name, image=self.image, tag=self.tag, digest=self.digest, unit=self.unit)


def problems(containers, engine='podman'):
    """Every problem with the input, as sentences (empty: all is well)."""
    out = []
    if engine not in ENGINES:
        out.append('escalator_upgrade_container_engine must be podman or docker, got %r' % (engine,))
    if not isinstance(containers, list) or not containers:
        return out + ['escalator_upgrade_containers is empty: the containers method needs a list of '
                      '{name, image, tag and/or digest, unit}']
    seen = set()
    for index, entry in enumerate(containers):
        where = 'escalator_upgrade_containers[%d]' % index
        if not isinstance(entry, dict):
            out.append('%s must be a dict {name, image, tag and/or digest, unit}, got %r' % (where, entry))
            continue
        unknown = sorted(set(entry) - {'name', 'image', 'tag', 'digest', 'unit'})
        if unknown:
            out.append('%s: unknown key(s) %s (known: name, image, tag, digest, unit)' % (where, ', '.join(unknown)))
        name, image = entry.get('name'), entry.get('image')
        if not isinstance(name, str) or not NAME.match(name):
            out.append('%s: name %r is not a container name' % (where, name))
        elif name in seen:
            out.append('%s: container %s is listed twice' % (where, name))
        seen.add(name)
        if not isinstance(image, str) or not IMAGE.match(image):
            out.append('%s: image %r must be a repository without tag or digest (registry:5000/kolla/nova-compute): '
                       'put the tag in "tag" and the digest in "digest"' % (where, image))
        tag, digest = entry.get('tag'), entry.get('digest')
        if not tag and not digest:
            out.append('%s: give a tag, a digest, or both (the tag pulled, the digest it must be on)' % where)
        if tag and (not isinstance(tag, str) or not TAG.match(tag)):
            out.append('%s: tag %r is not an image tag' % (where, tag))
        if digest and (not isinstance(digest, str) or not DIGEST.match(digest)):
            out.append('%s: digest %r must be sha256:<64 lowercase hex digits>' % (where, digest))
        unit = entry.get('unit')
        if unit and (not isinstance(unit, str) or not UNIT.match(unit)):
            out.append('%s: unit %r is not a systemd unit name' % (where, unit))
    return out


def targets(containers, engine='podman'):
    """The checked input as Targets, in order; EscalatorError(E_INVALID_INPUT) with every problem."""
    found = problems(containers, engine)
    if found:
        raise EscalatorError('Invalid containers input: %s. Nothing was changed.' % '; '.join(found),
                             code=E_INVALID_INPUT, reasons=found,
                             hint='fix escalator_upgrade_containers (docs/roles.md, upgrade: containers)')
    return [Target(entry['name'], entry['image'], entry.get('tag') or None, entry.get('digest') or None,
                   entry.get('unit') or None) for entry in containers]


def repository(reference):
    """The repository of an image reference: without its digest and tag (a registry port is not a tag)."""
    reference = reference.split('@', 1)[0]
    slash = reference.rfind('/')
    colon = reference.rfind(':')
    return reference[:colon] if colon > slash else reference


def same_repository(left, right):
    """Whether two repositories name the same one, allowing for an engine's normalisation of short names
    (docker.io/library/..., localhost/...)."""
    if left == right:
        return True
    return left.endswith('/' + right) or right.endswith('/' + left)
