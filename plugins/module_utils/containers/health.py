# SPDX-License-Identifier: Apache-2.0
"""Running and healthy after a start: the image's health check where it has one (Podman runs it on demand with
``podman healthcheck run``; Docker's own runs are read from ``State.Health``), else still running after a short
settling time (a container that crashes at start is caught, not only one that never starts)."""

from __future__ import annotations

import time

from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_CONTAINER_UNHEALTHY, EscalatorError


def has_healthcheck(inspect):
    config = (inspect or {}).get('Config') or {}
    test = (config.get('Healthcheck') or {}).get('Test') or []
    return bool(test) and test[0] != 'NONE'


def state(inspect):
    """(running, health status or None) of a container's inspect."""
    current = (inspect or {}).get('State') or {}
    health = current.get('Health') or current.get('Healthcheck') or {}
    return bool(current.get('Running')), (health.get('Status') or None)


def check(engine, name):
    """One look: (ok, why) - ok None while a health check still starts."""
    inspect = engine.container(name)
    if inspect is None:
        return False, 'the container %s is gone' % name
    running, status = state(inspect)
    if not running:
        current = inspect.get('State') or {}
        return False, 'the container %s is not running (status %s, exit code %s)' % (
            name, current.get('Status'), current.get('ExitCode'))
    if not has_healthcheck(inspect):
        return True, 'running (the image has no health check)'
    verdict = engine.healthcheck(name)
    if verdict is None:
        verdict = {'healthy': True, 'unhealthy': False}.get(status)
    if verdict is None:
        return None, 'its health check has not passed yet (%s)' % (status or 'starting')
    return verdict, 'healthy' if verdict else 'its health check fails'


def wait(engine, name, timeout=120, settle=5, interval=2, sleep=None, clock=None):
    """Wait until ``name`` runs and is healthy (or, without a health check, still runs after ``settle`` s);
    E_CONTAINER_UNHEALTHY otherwise, once ``timeout`` s have passed or at once when it stopped. Returns the
    verdict's text."""
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    deadline = clock() + timeout
    if settle:
        sleep(settle)
    while True:
        ok, why = check(engine, name)
        if ok:
            return why
        if ok is False and ('not running' in why or 'gone' in why):
            break
        if clock() >= deadline:
            break
        sleep(interval)
    raise EscalatorError('%s is not healthy after its start: %s' % (name, why), code=E_CONTAINER_UNHEALTHY,
                         container=name, hint='%s logs %s; the campaign rolls the host back to the backed-up images'
                         % (engine.name, name))
