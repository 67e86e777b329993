# SPDX-License-Identifier: Apache-2.0
"""The argv that recreates a container from its own recorded configuration with only its image changed.

Podman records the argv a container was created with (``inspect`` -> ``Config.CreateCommand``): it is reused with
the image argument replaced (``run`` becomes ``create``, without ``--detach``: the container is started by its unit
or by ``start`` afterwards). Docker records no argv: ``docker create`` arguments are rebuilt from ``inspect`` - the
binds, network, pid and ipc modes, privileged, environment, labels, restart policy, user, anonymous volumes,
capabilities and security options, and the entrypoint and command where they differ from the image's. Not
carried (documented): published ports, devices, resource limits, log and health options set at creation.
"""

from __future__ import annotations

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import spec
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import E_CONTAINER_ENGINE, EscalatorError

# podman create/run flags that take no value (a value is then given with "="); every other flag takes the next
# argument unless it carries "=".
BOOL_LONG = frozenset(('--detach', '--interactive', '--tty', '--privileged', '--rm', '--read-only', '--init',
                       '--no-hosts', '--no-healthcheck', '--oom-kill-disable', '--publish-all', '--replace',
                       '--rootfs', '--env-host', '--http-proxy', '--sig-proxy', '--quiet', '--help', '--passwd',
                       '--rmi', '--tls-verify', '--read-only-tmpfs', '--disable-content-trust'))
BOOL_SHORT = frozenset('ditPq')
SUBCOMMANDS = ('create', 'run')


def _image_index(argv, start):
    """Index of the first positional argument (the image) after ``start``."""
    index = start
    while index < len(argv):
        arg = argv[index]
        if arg == '--':
            return index + 1 if index + 1 < len(argv) else None
        if arg.startswith('--'):
            index += 1 if ('=' in arg or arg in BOOL_LONG) else 2
        elif arg.startswith('-') and len(arg) > 1:
            letters = arg[1:]
            index += 1 if (len(letters) > 1 or letters in BOOL_SHORT) else 2
        else:
            return index
    return None


def _drop_detach(args):
    out = []
    for arg in args:
        if arg in ('-d', '--detach') or arg.startswith('--detach='):
            continue
        if arg.startswith('-') and not arg.startswith('--') and len(arg) > 2 and set(arg[1:]) <= BOOL_SHORT:
            arg = '-' + arg[1:].replace('d', '')
            if arg == '-':
                continue
        out.append(arg)
    return out


def podman_argv(inspect, image, binary='podman'):
    """``Config.CreateCommand`` with the image replaced by ``image`` (a ``repo@sha256:...`` reference)."""
    name = inspect.get('Name', '?')
    argv = list((inspect.get('Config') or {}).get('CreateCommand') or [])
    where = next((index for index, arg in enumerate(argv) if arg in SUBCOMMANDS), None)
    position = _image_index(argv, where + 1) if where is not None else None
    if position is None:
        raise EscalatorError(
            'podman recorded no usable create command for %s (Config.CreateCommand: %r): it cannot be recreated '
            'with its own configuration' % (name, argv), code=E_CONTAINER_ENGINE, container=name,
            hint='containers created through the API (not the podman command) have none: recreate it once with '
                 'podman create/run, or upgrade it with escalator_upgrade_method=command')
    recorded = argv[position]
    known = [inspect.get('ImageName'), (inspect.get('Config') or {}).get('Image'), inspect.get('Image')]
    if not any(ref and (ref == recorded or spec.same_repository(spec.repository(ref), spec.repository(recorded))
                        or ref.startswith(recorded)) for ref in known):
        raise EscalatorError(
            'the create command of %s names %r where its image (%s) was expected: not recreated'
            % (name, recorded, inspect.get('ImageName')), code=E_CONTAINER_ENGINE, container=name,
            hint='an option Escalator does not know took the image\'s place; upgrade it with the command method')
    head = [binary] + argv[1:where] + ['create']
    return head + _drop_detach(argv[where + 1:position]) + [image] + argv[position + 1:]


def _differs(value, image_value):
    return (value or None) != (image_value or None)


def docker_argv(inspect, image_inspect, image, binary='docker'):
    """``docker create`` arguments rebuilt from ``docker inspect`` of the container and of its current image."""
    config = inspect.get('Config') or {}
    host = inspect.get('HostConfig') or {}
    image_config = (image_inspect or {}).get('Config') or {}
    argv = [binary, 'create', '--name', (inspect.get('Name') or '').lstrip('/')]
    binds = list(host.get('Binds') or [])
    for bind in binds:
        argv += ['--volume', bind]
    bound = set(bind.split(':')[1] for bind in binds if ':' in bind)
    for path in sorted(set(config.get('Volumes') or {}) - set(image_config.get('Volumes') or {}) - bound):
        argv += ['--volume', path]
    network = host.get('NetworkMode')
    if network and network != 'default':
        argv += ['--network', network]
    for option, key, defaults in (('--pid', 'PidMode', ('',)), ('--ipc', 'IpcMode', ('', 'private', 'shareable'))):
        if (host.get(key) or '') not in defaults:
            argv += [option, host[key]]
    if host.get('Privileged'):
        argv.append('--privileged')
    for cap in host.get('CapAdd') or []:
        argv += ['--cap-add', cap]
    for option in host.get('SecurityOpt') or []:
        argv += ['--security-opt', option]
    image_env = set(image_config.get('Env') or [])
    for pair in config.get('Env') or []:
        if pair not in image_env:
            argv += ['--env', pair]
    image_labels = image_config.get('Labels') or {}
    for key, value in sorted((config.get('Labels') or {}).items()):
        if image_labels.get(key) != value:
            argv += ['--label', '%s=%s' % (key, value)]
    policy = host.get('RestartPolicy') or {}
    if policy.get('Name') and policy['Name'] != 'no':
        retries = policy.get('MaximumRetryCount') or 0
        argv += ['--restart', policy['Name'] + (':%d' % retries if policy['Name'] == 'on-failure' and retries else '')]
    if _differs(config.get('User'), image_config.get('User')):
        argv += ['--user', config.get('User') or '']
    entrypoint = config.get('Entrypoint') or []
    command = list(config.get('Cmd') or [])
    custom_entrypoint = _differs(entrypoint, image_config.get('Entrypoint'))
    if custom_entrypoint:
        # --entrypoint takes one word: the rest of a longer entrypoint goes before the command
        argv += ['--entrypoint', entrypoint[0] if entrypoint else '']
        command = list(entrypoint[1:]) + command
    argv.append(image)
    if custom_entrypoint or _differs(config.get('Cmd'), image_config.get('Cmd')):
        argv += command
    return argv
