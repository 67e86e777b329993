# SPDX-License-Identifier: Apache-2.0
"""What module ``compute_containers`` does: pull, upgrade, rollback, verify, backup.

Every operation looks first and acts after: the containers are inspected, the images pulled (upgrade) or found
(rollback) and every recreate command built before the first container stops, so an unknown container, a registry
problem, an unknown tag, a digest mismatch or a container that cannot be recreated fails with nothing stopped;
``changed`` is decided from that look, before acting (check mode stops there). Then, in the given order, one
container at a time: stop (its unit, else the container), remove, create (recreate.py), start (its unit, else the
engine's start), wait until running and healthy (health.py) - the first one that does not come back stops the
sequence (the campaign's rescue rolls the host back).
"""

from __future__ import annotations

import os

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import health, record, recreate
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import (
    E_CONTAINER_NOT_FOUND, E_CONTAINER_UNHEALTHY, E_IMAGE_DIGEST, E_IMAGE_NOT_FOUND, E_INVALID_INPUT, EscalatorError)


class Host(object):
    """The engine, systemd and the timing of the health wait (sleep and clock injectable)."""

    def __init__(self, engine, systemd, stop_timeout=30, health_timeout=120, settle=5, sleep=None, clock=None):
        self.engine, self.systemd = engine, systemd
        self.stop_timeout, self.health_timeout, self.settle = stop_timeout, health_timeout, settle
        self.sleep, self.clock = sleep, clock

    def wait(self, name, timeout=None):
        timing = dict((key, value) for key, value in (('sleep', self.sleep), ('clock', self.clock)) if value)
        return health.wait(self.engine, name, timeout=self.health_timeout if timeout is None else timeout,
                           settle=self.settle, **timing)


def inspect_all(engine, names):
    """Every container's inspect; E_CONTAINER_NOT_FOUND naming all the missing ones."""
    found = dict((name, engine.container(name)) for name in names)
    missing = [name for name in names if found[name] is None]
    if missing:
        raise EscalatorError('%s: no such container on the host (%s ps -a). Nothing was stopped.'
                             % (', '.join(missing), engine.name), code=E_CONTAINER_NOT_FOUND, containers=missing,
                             hint='fix the names in escalator_upgrade_containers (the container names, not the '
                                  'images or units), or the engine (escalator_upgrade_container_engine)')
    return found


def pull(host, targets, check_mode=False):
    """Pull every target image, each once (a digest already on the host is not pulled again) and check its
    digest. Returns {pull_ref: {reference, id, digest, pinned, pulled}} ({id: None} in check mode when absent)."""
    images = {}
    for target in targets:
        ref = target.pull_ref
        if ref in images:
            continue
        before = host.engine.image(ref)
        if check_mode or (before is not None and not target.tag):
            after = before
        else:
            host.engine.pull(ref)
            after = host.engine.image(ref)
            if after is None:
                raise EscalatorError('%s was pulled but is not on the host' % ref, code=E_IMAGE_NOT_FOUND, image=ref,
                                     hint='%s images; check the engine\'s storage' % host.engine.name)
        images[ref] = _image(target, ref, before, after)
    return images


def _image(target, ref, before, after):
    if after is None:
        return dict(reference=ref, id=None, digest=target.digest, pinned=ref, pulled=True)
    _repo, digest = record.repo_digest(after, target.image)
    digests = [item.split('@', 1)[1] for item in after.get('RepoDigests') or [] if '@' in item]
    if target.digest and target.digest not in digests:
        raise EscalatorError('%s is on %s, not on the digest %s that escalator_upgrade_containers pins. Nothing was '
                             'stopped.' % (ref, ', '.join(digests) or 'no registry digest', target.digest),
                             code=E_IMAGE_DIGEST, image=ref, digests=digests,
                             hint='the tag moved in the registry (or the digest is wrong): check which image you '
                                  'mean and fix the tag or the digest')
    digest = target.digest or digest
    return dict(reference=ref, id=after.get('Id'), digest=digest,
                pinned='%s@%s' % (target.image, digest) if digest else after.get('Id'),
                pulled=before is None or before.get('Id') != after.get('Id'))


def _argv(host, inspect, ref):
    engine = host.engine
    if engine.name == 'podman':
        return recreate.podman_argv(inspect, ref, engine.binary)
    return recreate.docker_argv(inspect, engine.image(inspect.get('Image')), ref, engine.binary)


def _action(inspect, image_id):
    if inspect is not None and image_id and inspect.get('Image') == image_id:
        return 'none' if (inspect.get('State') or {}).get('Running') else 'start'
    return 'recreate'


def _execute(host, steps):
    """Act on the planned steps in order: {name, unit, action, argv, exists}."""
    for step in steps:
        name, unit = step['name'], step['unit']
        if step['action'] == 'none':
            continue
        if step['action'] == 'recreate':
            if step['exists']:
                if unit:
                    host.systemd.act('stop', unit)
                host.engine.stop(name, host.stop_timeout)
                host.engine.remove(name)
            host.engine.create(step['argv'])
        if unit:
            host.systemd.act('start', unit)
        else:
            host.engine.start(name)
        step['health'] = host.wait(name)


def _result(steps, check_mode, **extra):
    changed = any(step['action'] != 'none' for step in steps)
    done = [dict((key, value) for key, value in step.items() if key not in ('argv', 'exists')) for step in steps]
    diff = dict(before=''.join('%s: %s\n' % (step['name'], step['before']) for step in steps),
                after=''.join('%s: %s\n' % (step['name'], step['after']) for step in steps))
    return dict(changed=changed, containers=done, diff=diff, **extra)


def upgrade(host, targets, check_mode=False):
    """Pull every target first, then recreate, in order, each container not already running its target."""
    inspects = inspect_all(host.engine, [target.name for target in targets])
    images = pull(host, targets, check_mode)
    steps = []
    for target in targets:
        inspect, image = inspects[target.name], images[target.pull_ref]
        action = _action(inspect, image['id'])
        steps.append(dict(name=target.name, unit=target.unit, action=action, exists=True,
                          before=inspect.get('ImageName') or inspect.get('Image'), after=image['pinned'],
                          argv=_argv(host, inspect, image['pinned']) if action == 'recreate' else None))
    if not check_mode:
        _execute(host, steps)
    return _result(steps, check_mode, images=images)


def rollback(host, data, check_mode=False):
    """Recreate each recorded container on its backed-up image, from its recorded configuration, in the recorded
    order. The old images must still be on the host (or, for one with a digest, in the registry)."""
    steps, targets = [], []
    for item in data['containers']:
        ref = '%s@%s' % (item['repository'], item['digest']) if item.get('digest') else item['image_id']
        if host.engine.image(item['image_id']) is None and not check_mode:
            if not item.get('digest'):
                raise EscalatorError('the backed-up image %s of %s is no longer on the host. Nothing was stopped.'
                                     % (item['image_id'], item['name']), code=E_IMAGE_NOT_FOUND, image=item['image_id'],
                                     hint='old images must stay on the host until the campaign is committed')
            host.engine.pull(ref)
        current = host.engine.container(item['name'])
        action = _action(current, item['image_id'])
        steps.append(dict(name=item['name'], unit=item.get('unit'), action=action, exists=current is not None,
                          before=(current or {}).get('ImageName') or (current or {}).get('Image') or 'absent',
                          after=ref, argv=_argv(host, item['inspect'], ref) if action == 'recreate' else None))
        if item.get('digest'):
            targets.append(dict(name=item['name'], image=item['image'], digest=item['digest'], unit=item.get('unit')))
    if not check_mode:
        _execute(host, steps)
    return _result(steps, check_mode, targets=targets)


def verify(host, targets, timeout=60):
    """Problems, each with its code: a container missing, not on its target image, not running or not healthy.
    No registry is asked: a tag's target is the image the host has under that tag."""
    problems, containers = [], []
    for target in targets:
        inspect = host.engine.container(target.name)
        if inspect is None:
            problems.append(dict(code=E_CONTAINER_NOT_FOUND, msg='%s: no such container' % target.name))
            continue
        image = host.engine.image(target.pull_ref)
        running_id = inspect.get('Image')
        containers.append(dict(name=target.name, image=inspect.get('ImageName'), image_id=running_id,
                               target_id=(image or {}).get('Id')))
        if image is None:
            problems.append(dict(code=E_IMAGE_DIGEST, msg='%s: its target image %s is not on the host'
                                 % (target.name, target.pull_ref)))
            continue
        if running_id != image.get('Id'):
            problems.append(dict(code=E_IMAGE_DIGEST, msg='%s runs image %s (%s), not its target %s (%s)' % (
                target.name, inspect.get('ImageName'), running_id, target.pull_ref, image.get('Id'))))
            continue
        if target.digest and target.digest not in ''.join(image.get('RepoDigests') or []):
            problems.append(dict(code=E_IMAGE_DIGEST, msg='%s: %s is not on the digest %s'
                                 % (target.name, target.pull_ref, target.digest)))
        try:
            host.wait(target.name, timeout=timeout)
        except EscalatorError as exc:
            problems.append(dict(code=E_CONTAINER_UNHEALTHY, msg=exc.msg))
    return dict(changed=False, containers=containers, problems=problems)


def backup(host, targets, directory, ids, check_mode=False):
    """Record the containers in ``directory`` (ids: campaign_id, run_id, host, timestamp) unless the run's backup
    is complete (its manifest.json exists): then the record it has is kept."""
    if os.path.exists(os.path.join(directory, 'manifest.json')):
        if os.path.exists(record.path(directory)):
            return dict(changed=False, existed=True, path=record.path(directory))
        # recording the containers now could record them already upgraded
        raise EscalatorError('The backup %s of this run is complete but has no containers record: it was taken '
                             'without the containers method. Nothing was changed.' % directory, code=E_INVALID_INPUT,
                             hint='give this campaign another escalator_run_id (a new backup)')
    inspects = inspect_all(host.engine, [target.name for target in targets])
    items = [record.entry(target, inspects[target.name], host.engine.image(inspects[target.name].get('Image')),
                          host.engine.name) for target in targets]
    data = dict(format=record.FORMAT, engine=host.engine.name, containers=items, **ids)
    if not check_mode:
        record.write(directory, data)
    return dict(changed=True, existed=False, path=record.path(directory),
                containers=[dict((key, item[key]) for key in ('name', 'image_id', 'repository', 'digest', 'running'))
                            for item in items])
