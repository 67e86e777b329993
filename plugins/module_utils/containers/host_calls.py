# SPDX-License-Identifier: Apache-2.0
"""The containers method's work inside the host calls every role already makes, not in tasks of its own.

A task costs the controller a worker fork even when it is skipped: tasks of the method would cost every package
campaign, and a containers campaign a round trip each. So the precheck's pull and the verify's check run inside
``compute_host_facts`` (option ``containers``) and the backup's ``containers.json`` inside ``compute_backup``
(option ``containers``), with the operations, error codes, messages and hints of module ``compute_containers``
(operations.py), which keeps them for direct use.

``check``     compute_host_facts: ``pull`` (every container looked up, every target pulled and its digest checked)
              or ``verify`` (each container on its target image, running, healthy). A failure is data, ``problems``
              [{code, msg, hint}], next to the host's other answers: the role lists it with its other problems.
``recorder``  compute_backup: containers.json written in the backup's call, before its manifest; a failure fails
              the backup.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import engine as engines
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import operations, spec
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError


def entries(containers):
    """The module's containers (its argument spec gives every suboption, None when not set) as spec.py takes them."""
    return [dict((key, value) for key, value in entry.items() if value is not None) for entry in containers or []]


def open_host(engine, run, which, **timing):
    """The engine (E_INVALID_INPUT when the host does not have it) and systemd of the host, as operations.py uses
    them. ``run(argv) -> (rc, stdout, stderr)``, ``which(name) -> path or None``."""
    binary = which(engine)
    if binary is None:
        raise EscalatorError('%s is not installed on the host' % engine, code=E_INVALID_INPUT,
                             hint='escalator_upgrade_container_engine names the engine that runs the containers')
    return operations.Host(engines.Engine(engine, run, binary), engines.Systemd(run, which('systemctl') or 'systemctl'),
                           **timing)


def check(run, which, options, check_mode=False):
    """compute_host_facts' ``containers``: {operation, engine, targets, health_timeout}. Returns {operation,
    changed (an image was pulled), problems [{code, msg, hint}], images (pull) | containers (verify)}."""
    operation = options['operation']
    result = dict(operation=operation, changed=False, problems=[])
    try:
        targets = spec.targets(entries(options['targets']), options['engine'])
        if operation == 'pull':
            host = open_host(options['engine'], run, which)
            operations.inspect_all(host.engine, [target.name for target in targets])
            images = operations.pull(host, targets, check_mode)
            result.update(changed=any(image['pulled'] for image in images.values()), images=images)
        else:
            # nothing was just started: no settle time before the first look
            host = open_host(options['engine'], run, which, health_timeout=options['health_timeout'], settle=0)
            verified = operations.verify(host, targets, timeout=options['health_timeout'])
            result.update(containers=verified['containers'],
                          problems=[dict(problem, hint=None) for problem in verified['problems']])
    except EscalatorError as exc:
        result['problems'] = [dict(code=exc.code, msg=exc.msg, hint=exc.details.get('hint'))]
    return result


def recorder(run, which, options, ids, check_mode=False):
    """compute_backup's ``containers``: {engine, targets}; ``ids`` {campaign_id, run_id, host}. The input and the
    engine are checked now, before the backup starts; returns ``record(directory, timestamp)``, which writes
    containers.json (operations.backup: never once the run's manifest exists) and returns {existed, path,
    containers}."""
    targets = spec.targets(entries(options['targets']), options['engine'])
    host = open_host(options['engine'], run, which)

    def record(directory, timestamp):
        done = operations.backup(host, targets, directory, dict(ids, timestamp=timestamp), check_mode)
        return dict((key, value) for key, value in done.items() if key != 'changed')

    return record
