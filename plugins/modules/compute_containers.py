#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""The containers upgrade method on a compute host: pull, upgrade, rollback, verify, backup."""

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_containers
short_description: Upgrade, roll back, verify and back up the agent containers of a compute host (Podman or Docker)
version_added: 0.1.0
description:
  - Runs ON the compute host (no OpenStack API), over the C(podman) or C(docker) command and C(systemctl). The
    roles C(upgrade) and C(rollback) call it for C(escalator_upgrade_method=containers); C(precheck), C(backup) and
    C(verify) do its pull, backup and verify inside the calls they make anyway (M(opnfv.escalator.compute_host_facts)
    and M(opnfv.escalator.compute_backup) option C(containers)), with the same codes, messages and hints.
  - Each operation looks before it acts - containers inspected, images pulled or found, every recreate command
    built - so an unknown container (C(E_CONTAINER_NOT_FOUND)), an unknown image or tag (C(E_IMAGE_NOT_FOUND)), a
    registry that does not answer (C(E_REGISTRY)), a digest mismatch (C(E_IMAGE_DIGEST)) or a container that
    cannot be recreated (C(E_CONTAINER_ENGINE)) fails with nothing stopped. Then, in the given order, per
    container - stop (its unit, else the container), remove, create from its own recorded configuration with only
    the image changed (Podman's C(Config.CreateCommand); for Docker rebuilt from C(docker inspect)), start (its
    unit, else the engine's start) and wait until it runs and is healthy (C(E_CONTAINER_UNHEALTHY) otherwise).
  - The target image of a recreated container is pinned by digest (C(image@sha256:...)).
  - The Docker path is unit-tested only, not tested on the lab.
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description:
      - Inspects and says what it would do (a container whose target image is not on the host yet counts as
        changed); pulls, stops, creates and writes nothing.
  diff_mode:
    support: full
    description: The image of each container before and after.
options:
  operation:
    description:
      - V(pull) pulls the target images and checks their digests (the precheck), nothing else.
      - V(upgrade) pulls every target first, then recreates each container not yet on its target, in order.
      - V(rollback) recreates each container of the record in O(backup_dir) on its backed-up image, in order.
      - V(verify) fails when a container is missing, not on its target image, not running or not healthy.
      - V(backup) writes C(containers.json) in O(backup_dir) (before the backup's manifest; never after it).
    type: str
    choices: [pull, upgrade, rollback, verify, backup]
    required: true
  containers:
    description: The containers and their target images, in restart order (all but O(operation=rollback)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The container's name.
        type: str
        required: true
      image:
        description: The image's repository, without tag or digest.
        type: str
        required: true
      tag:
        description: The target tag (pulled).
        type: str
      digest:
        description: The target digest (C(sha256:...)); with O(containers[].tag), the digest the tag must be on.
        type: str
      unit:
        description: The systemd unit that runs the container; without one the engine starts it.
        type: str
  engine:
    description: The container engine.
    type: str
    choices: [podman, docker]
    default: podman
  backup_dir:
    description: The backup directory of the run (O(operation=backup) and O(operation=rollback)).
    type: path
  campaign_id:
    description: The campaign, recorded in (and checked against) C(containers.json).
    type: str
  run_id:
    description: The run, recorded in (and checked against) C(containers.json).
    type: str
  host:
    description: The host's inventory name, recorded in (and checked against) C(containers.json).
    type: str
  stop_timeout:
    description: Seconds a container gets to stop before it is killed.
    type: int
    default: 30
  health_timeout:
    description: Seconds a started container gets to run and pass its health check.
    type: int
    default: 120
  settle:
    description: Seconds to wait after a start before the first look (a container that crashes at start is caught).
    type: int
    default: 5
'''

EXAMPLES = r'''
- name: Upgrade nova_compute and nova_libvirt (in this order), pinned by digest once pulled
  opnfv.escalator.compute_containers:
    operation: upgrade
    engine: podman
    containers:
      - {name: nova_compute, image: registry:4000/kolla/nova-compute, tag: 2024.1-ubuntu-jammy, unit: kolla-nova_compute-container.service}
      - {name: nova_libvirt, image: registry:4000/kolla/nova-libvirt, tag: 2024.1-ubuntu-jammy}
'''

RETURN = r'''
containers:
  description: Per container, in order - C(name), C(unit), C(action) (none, start, recreate), C(before) and
    C(after) (image references) and C(health) after a start; for V(verify) its image and the target's image ID.
  returned: success
  type: list
  elements: dict
images:
  description: V(upgrade) and V(pull) - per pulled reference, C(id), C(digest), C(pinned) (the reference the
    container is created with) and C(pulled).
  returned: success
  type: dict
targets:
  description: V(rollback) - the backed-up images as O(containers) entries (for the verify role).
  returned: success
  type: list
  elements: dict
problems:
  description: V(verify) - what is wrong, each with its C(code) and C(msg).
  returned: always
  type: list
  elements: dict
error_code:
  description: C(E_INVALID_INPUT), C(E_CONTAINER_NOT_FOUND), C(E_IMAGE_NOT_FOUND), C(E_REGISTRY), C(E_IMAGE_DIGEST),
    C(E_CONTAINER_UNHEALTHY) or C(E_CONTAINER_ENGINE), with a C(hint).
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils import timestamps
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import engine as engines
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import operations, record, spec
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_INVALID_INPUT, EscalatorError

TOOL_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']
NEEDS = dict(backup=('backup_dir', 'campaign_id', 'run_id', 'host'),
             rollback=('backup_dir', 'campaign_id', 'run_id', 'host'))


def act(module):
    params = module.params
    missing = [name for name in NEEDS.get(params['operation'], ()) if not params[name]]
    if missing:
        raise EscalatorError('operation=%s needs %s' % (params['operation'], ', '.join(missing)), code=E_INVALID_INPUT)
    entries = [dict((key, value) for key, value in entry.items() if value is not None)
               for entry in params['containers']]
    targets = spec.targets(entries, params['engine']) if params['operation'] != 'rollback' else []

    def run(argv):
        return module.run_command(argv, check_rc=False)

    binary = module.get_bin_path(params['engine'], opt_dirs=TOOL_DIRS)
    if binary is None:
        raise EscalatorError('%s is not installed on the host' % params['engine'], code=E_INVALID_INPUT,
                             hint='escalator_upgrade_container_engine names the engine that runs the containers')
    host = operations.Host(engines.Engine(params['engine'], run, binary),
                           engines.Systemd(run, module.get_bin_path('systemctl', opt_dirs=TOOL_DIRS) or 'systemctl'),
                           stop_timeout=params['stop_timeout'], health_timeout=params['health_timeout'],
                           settle=params['settle'])
    operation, check_mode = params['operation'], module.check_mode
    if operation == 'pull':
        operations.inspect_all(host.engine, [target.name for target in targets])
        images = operations.pull(host, targets, check_mode)
        result = dict(changed=any(image['pulled'] for image in images.values()), images=images)
    elif operation == 'upgrade':
        result = operations.upgrade(host, targets, check_mode)
    elif operation == 'rollback':
        data = record.read(params['backup_dir'], params['campaign_id'], params['run_id'], params['host'])
        result = operations.rollback(host, data, check_mode)
    elif operation == 'verify':
        result = operations.verify(host, targets, timeout=params['health_timeout'])
        if result['problems']:
            raise EscalatorError('; '.join(problem['msg'] for problem in result['problems']),
                                 code=result['problems'][0]['code'], **result)
    else:
        stamp = timestamps.format_ts(seconds=True)
        result = operations.backup(host, targets, params['backup_dir'],
                                   dict(campaign_id=params['campaign_id'], run_id=params['run_id'],
                                        host=params['host'], timestamp=stamp), check_mode)
    result.setdefault('problems', [])
    if not module._diff:
        result.pop('diff', None)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            operation=dict(type='str', required=True, choices=['pull', 'upgrade', 'rollback', 'verify', 'backup']),
            containers=dict(type='list', elements='dict', default=[], options=spec.target_options()),
            engine=spec.engine_option(),
            backup_dir=dict(type='path'),
            campaign_id=dict(type='str'),
            run_id=dict(type='str'),
            host=dict(type='str'),
            stop_timeout=dict(type='int', default=30),
            health_timeout=dict(type='int', default=120),
            settle=dict(type='int', default=5),
        ),
        supports_check_mode=True,
    )
    try:
        result = act(module)
    except EscalatorError as exc:
        module.fail_json(**exc.to_result())
    except OSError as exc:
        module.fail_json(msg='cannot write the containers record: %s (%s)' % (exc.strerror or exc, exc.filename))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
