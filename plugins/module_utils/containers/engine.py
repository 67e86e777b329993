# SPDX-License-Identifier: Apache-2.0
"""The podman/docker and systemctl commands of the containers method, over an injectable runner
``run(argv) -> (rc, stdout, stderr)``, and what their failures mean (stable error codes with a hint).

Podman and Docker take the same arguments for everything used here; only ``healthcheck run`` is Podman's.
"""

from __future__ import annotations

import json

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_CONTAINER_ENGINE, E_IMAGE_NOT_FOUND, E_REGISTRY, EscalatorError)

# what the engines print when the registry cannot be reached or talked to (checked first: a DNS failure says
# "no such host", which is no missing image)
REGISTRY_DOWN = ('connection refused', 'no such host', 'i/o timeout', 'timeout', 'network is unreachable',
                 'no route to host', 'http response to https client', 'x509', 'tls:', 'connection reset',
                 'pinging container registry', 'dial tcp', 'unauthorized', 'authentication required',
                 'toomanyrequests', 'service unavailable', '502 bad gateway', '503')
IMAGE_MISSING = ('manifest unknown', 'name unknown', 'not found', 'does not exist', 'pull access denied',
                 'no such image', 'unknown: ')
NO_SUCH_OBJECT = ('no such container', 'no such object', 'no such image', 'image not known', 'failed to find image',
                  'no container with name or id', 'unable to find', 'not found')


def _tail(text, size=600):
    return (text or '').strip()[-size:]


class Engine(object):
    """One container engine on the host. ``run`` runs an argv and returns (rc, stdout, stderr)."""

    def __init__(self, name, run, binary=None):
        self.name = name
        self.binary = binary or name
        self._run = run

    def run(self, *args):
        return self._run([self.binary] + list(args))

    def _inspect(self, kind, ref):
        rc, out, err = self.run(kind, 'inspect', ref)
        if rc != 0:
            if any(words in (err or '').lower() for words in NO_SUCH_OBJECT):
                return None
            raise EscalatorError('%s %s inspect %s failed (exit %d): %s' % (self.name, kind, ref, rc, _tail(err)),
                                 code=E_CONTAINER_ENGINE, hint='is %s installed and working on the host? '
                                 '(%s info)' % (self.name, self.name))
        try:
            found = json.loads(out or '[]')
        except ValueError:
            raise EscalatorError('%s %s inspect %s answered something that is not JSON: %s'
                                 % (self.name, kind, ref, _tail(out, 200)), code=E_CONTAINER_ENGINE,
                                 hint='check the engine version (%s --version)' % self.name)
        return found[0] if isinstance(found, list) and found else None

    def container(self, name):
        """The container's inspect (a dict), None when the host has no such container."""
        return self._inspect('container', name)

    def image(self, ref):
        """The local image's inspect, None when it is not on the host."""
        return self._inspect('image', ref)

    def pull(self, ref):
        rc, _out, err = self.run('pull', ref)
        if rc == 0:
            return
        text = (err or '').lower()
        if any(words in text for words in REGISTRY_DOWN):
            raise EscalatorError('%s pull %s: the registry cannot be reached or refused the pull: %s'
                                 % (self.name, ref, _tail(err)), code=E_REGISTRY, image=ref,
                                 hint='check that the registry answers from the host (its address, TLS or '
                                      'insecure-registry settings, credentials); nothing was stopped')
        if any(words in text for words in IMAGE_MISSING):
            raise EscalatorError('%s pull %s: the registry has no such image, tag or digest: %s'
                                 % (self.name, ref, _tail(err)), code=E_IMAGE_NOT_FOUND, image=ref,
                                 hint='check the image and tag (or digest) in escalator_upgrade_containers against '
                                      'the registry; nothing was stopped')
        raise EscalatorError('%s pull %s failed (exit %d): %s' % (self.name, ref, rc, _tail(err)), code=E_REGISTRY,
                             image=ref, hint='pull it by hand on the host to see why; nothing was stopped')

    def _must(self, what, argv, hint):
        rc, _out, err = self._run(argv)
        if rc != 0:
            raise EscalatorError('%s failed (exit %d): %s' % (' '.join(argv), rc, _tail(err)), code=E_CONTAINER_ENGINE,
                                 step=what, hint=hint)

    def stop(self, name, timeout=30):
        self._must('stop', [self.binary, 'stop', '-t', str(timeout), name],
                   'the container did not stop: look at %s logs %s' % (self.name, name))

    def remove(self, name):
        self._must('remove', [self.binary, 'rm', '-f', name],
                   'the container is stopped but not removed: remove it by hand, then run the campaign again')

    def create(self, argv):
        self._must('create', argv, 'the old container is removed: the rollback recreates it from the backup '
                                   '(containers.json); the command shows what the engine refused')

    def start(self, name):
        self._must('start', [self.binary, 'start', name], 'look at %s logs %s' % (self.name, name))

    def healthcheck(self, name):
        """Podman runs the container's health check now: True healthy, False unhealthy, None no health check
        (or Docker, which has no such command: its State.Health is read instead)."""
        if self.name != 'podman':
            return None
        rc, _out, _err = self.run('healthcheck', 'run', name)
        return True if rc == 0 else False if rc == 1 else None


class Systemd(object):
    """The systemd units that run containers."""

    def __init__(self, run, binary='systemctl'):
        self._run = run
        self.binary = binary

    def act(self, action, unit):
        argv = [self.binary, action, unit]
        rc, _out, err = self._run(argv)
        if rc != 0:
            raise EscalatorError('%s failed (exit %d): %s' % (' '.join(argv), rc, _tail(err)), code=E_CONTAINER_ENGINE,
                                 step=action, unit=unit, hint='systemctl status %s; journalctl -u %s' % (unit, unit))
