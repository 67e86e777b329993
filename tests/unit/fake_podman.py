# SPDX-License-Identifier: Apache-2.0
"""A fake container host for the containers method: podman (or docker) and systemctl answered from memory - a
registry, local images, containers, units - with every argv recorded. ``run(argv) -> (rc, stdout, stderr)``."""

from __future__ import annotations

import copy
import hashlib
import json

REGISTRY = '10.213.0.1:5000/escalator-lab/nova-compute'


def digest(text):
    return 'sha256:' + hashlib.sha256(text.encode()).hexdigest()


class FakeContainerHost(object):
    def __init__(self, engine='podman'):
        self.engine = engine
        self.registry = {}          # 'repo:tag' -> image (what a pull brings)
        self.registry_down = False
        self.images = {}            # Id -> image
        self.containers = {}        # name -> inspect
        self.units = {}             # unit -> container name
        self.broken = set()         # image Ids whose containers fail their health check
        self.crashing = set()       # image Ids whose containers exit at start
        self.calls = []

    # --- set-up -------------------------------------------------------------------------------------------
    def publish(self, repo, tag, healthcheck=True):
        image = dict(Id=digest('id %s:%s' % (repo, tag))[7:], RepoTags=[], RepoDigests=[
            '%s@%s' % (repo, digest('manifest %s:%s' % (repo, tag)))],
            Config=dict(Env=['PATH=/usr/bin'], Cmd=['nova-compute'], Entrypoint=None, Labels={'version': tag},
                        Healthcheck=dict(Test=['CMD-SHELL', 'true']) if healthcheck else None))
        self.registry['%s:%s' % (repo, tag)] = image
        return image

    def local(self, repo, tag):
        image = copy.deepcopy(self.registry['%s:%s' % (repo, tag)])
        image['RepoTags'] = ['%s:%s' % (repo, tag)]
        self.images[image['Id']] = image
        return image

    def add_container(self, name, repo, tag, unit=None, argv=None):
        image = self.local(repo, tag)
        ref = '%s:%s' % (repo, tag)
        argv = argv or ['/usr/bin/podman', 'run', '-d', '--name', name, '--net', 'host', '--privileged',
                        '-v', '/etc/nova:/etc/nova:ro', '--env=KOLLA_CONFIG_STRATEGY=COPY_ALWAYS', ref]
        self._create(name, image, ref, argv)
        self.containers[name]['State'] = dict(Running=True, Status='running', ExitCode=0)
        if unit:
            self.units[unit] = name

    # --- behaviour ----------------------------------------------------------------------------------------
    def resolve(self, ref):
        for image in self.images.values():
            if ref in (image['Id'], 'sha256:' + image['Id']) or ref in image['RepoTags'] or ref in image['RepoDigests']:
                return image
        return None

    def _create(self, name, image, ref, argv):
        self.containers[name] = dict(
            Name=name, Image=image['Id'], ImageName=ref, State=dict(Running=False, Status='created', ExitCode=0),
            Config=dict(CreateCommand=argv, Image=ref, Env=['PATH=/usr/bin', 'KOLLA_CONFIG_STRATEGY=COPY_ALWAYS'],
                        Cmd=['nova-compute'], Healthcheck=image['Config']['Healthcheck'], Labels={}),
            HostConfig=dict(Binds=['/etc/nova:/etc/nova:ro'], NetworkMode='host', Privileged=True))

    def _start(self, name):
        container = self.containers[name]
        crash = container['Image'] in self.crashing
        container['State'] = dict(Running=not crash, Status='exited' if crash else 'running', ExitCode=1 if crash else 0,
                                  Health=dict(Status='unhealthy' if container['Image'] in self.broken else 'healthy'))

    def run(self, argv):
        self.calls.append(list(argv))
        tool = argv[0].rsplit('/', 1)[-1]
        if tool == 'systemctl':
            name = self.units.get(argv[2])
            if name is None or name not in self.containers:
                return 5, '', 'Failed to %s %s: no such container' % (argv[1], argv[2])
            if argv[1] == 'start':
                self._start(name)
            else:
                self.containers[name]['State'] = dict(Running=False, Status='exited', ExitCode=0)
            return 0, '', ''
        command = argv[1:]
        if command[:2] in (['container', 'inspect'], ['image', 'inspect']):
            found = self.containers.get(command[2]) if command[0] == 'container' else self.resolve(command[2])
            if found is None:
                return 125, '', 'Error: no such %s %s' % ('container' if command[0] == 'container' else 'image',
                                                          command[2])
            return 0, json.dumps([found]), ''
        if command[0] == 'pull':
            if self.registry_down:
                return 125, '', ('Error: pinging container registry 10.213.0.1:5000: Get "http://10.213.0.1:5000/v2/":'
                                 ' dial tcp 10.213.0.1:5000: connect: connection refused')
            ref = command[1]
            image = self.registry.get(ref) or next(
                (image for image in self.registry.values() if ref in image['RepoDigests']), None)
            if image is None:
                return 125, '', 'Error: reading manifest %s: manifest unknown' % ref
            have = self.images.setdefault(image['Id'], copy.deepcopy(image))
            if ':' in ref.rsplit('/', 1)[-1] and ref not in have['RepoTags']:
                have['RepoTags'].append(ref)
            return 0, have['Id'] + '\n', ''
        name = command[-1]
        if command[0] == 'stop':
            if name in self.containers:
                self.containers[name]['State'] = dict(Running=False, Status='exited', ExitCode=0)
            return 0, name, ''
        if command[0] == 'rm':
            self.containers.pop(name, None)
            return 0, name, ''
        if command[0] == 'create':
            name = command[command.index('--name') + 1]
            if name in self.containers:
                return 125, '', 'Error: the container name "%s" is already in use' % name
            ref = next(arg for arg in command[1:] if self.resolve(arg) and not arg.startswith('-'))
            self._create(name, self.resolve(ref), ref, list(argv))
            return 0, 'id', ''
        if command[0] == 'start':
            if name not in self.containers:
                return 125, '', 'Error: no container with name or ID "%s" found' % name
            self._start(name)
            return 0, name, ''
        if command[:2] == ['healthcheck', 'run']:
            return (1, 'unhealthy', '') if self.containers[name]['Image'] in self.broken else (0, '', '')
        return 127, '', 'unexpected command %s' % argv

    def stops(self):
        return [call for call in self.calls if call[1:2] in (['stop'], ['rm']) or call[0] == 'systemctl' and call[1] == 'stop']
