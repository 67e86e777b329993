#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""What the roles ask a compute host, in one call on the host."""

from __future__ import annotations

DOCUMENTATION = r'''
module: compute_host_facts
short_description: Gather, on a compute host, what the Escalator roles need to know in one call
version_added: 0.1.0
description:
  - Runs ON the compute host (no OpenStack API) and answers in one round trip what the roles
    C(precheck), C(backup), C(upgrade), C(verify) and C(rollback) used to ask with many small tasks -
    the package manager, installed packages and their versions, held packages, services (enabled and
    active states, main process and its start time), whether a reboot is pending and why, free space,
    the dpkg database's health, the versions the package sources offer, the environment of a running
    process (as verdicts), when packages were installed, paths described for a backup, a backup of a
    run and the runs kept on the host.
  - Each part is gathered only when an option asks for it; RV(package_manager), RV(package_format) and
    RV(now) always are.
  - Read-only, except O(refresh_sources) which refreshes the package index (C(apt-get update),
    C(dnf makecache)), not the host's configuration, and O(containers.operation=pull), which pulls images.
    C(changed) is false unless that pull brought an image the host did not have.
  - With O(containers) (the C(containers) upgrade method), the roles' container work is done in the same call - the
    precheck's pull, the verify's check - with the operations, error codes and hints of
    M(opnfv.escalator.compute_containers); a problem there is reported in RV(containers.problems), not as a failure
    of the module, so that the other answers still come back.
  - Stdlib only; supports apt (dpkg) and dnf/yum (rpm) hosts with systemd.
author:
  - Escalator developers (@opnfv)
attributes:
  check_mode:
    support: full
    description: Answers the same; O(containers.operation=pull) pulls nothing (an image not on the host yet counts as changed).
  diff_mode:
    support: none
    description: Changes no configuration.
options:
  packages:
    description:
      - Installed packages to report in RV(packages) (and their versions in RV(versions)); V(*) reports
        every installed package (what a backup records and an upgrade compares).
    type: list
    elements: str
  held:
    description: Report the held packages (C(apt-mark hold), dnf versionlock) in RV(held).
    type: bool
    default: false
  services:
    description: systemd services (with or without C(.service)) to report in RV(services).
    type: list
    elements: str
  process:
    description: The main process of a service - its pid and start time, and its environment checked against expected values.
    type: dict
    suboptions:
      service:
        description: The service whose main process is looked at.
        type: str
        required: true
      env:
        description:
          - "C({VARIABLE: sha256 hex digest of the expected value}): RV(process.env) says for each
            whether the process has it (V(ok)), has another value (V(different)) or none (V(unset))."
          - Only these verdicts leave the host, never a value of the environment (it holds passwords).
        type: dict
        default: {}
  install_times:
    description: Packages whose install (or upgrade) time to report in RV(install_times).
    type: list
    elements: str
  reboot:
    description: Report whether the system asks for a reboot, and why, in RV(reboot).
    type: bool
    default: false
  free_space:
    description: Paths whose free space to report in RV(free_space).
    type: list
    elements: path
  package_health:
    description: Report a dpkg lock held by another process and what C(dpkg --audit) says in RV(package_health).
    type: bool
    default: false
  refresh_sources:
    description:
      - Refresh the package index (C(apt-get update), C(dnf makecache)) and report whether the sources
        answered in RV(sources). Not tried while another process holds the dpkg lock.
    type: bool
    default: false
  offered:
    description: Packages whose versions offered by the sources to report in RV(offered).
    type: list
    elements: str
  describe_paths:
    description:
      - Paths to describe in RV(paths) and RV(files) - directories recursively, links not followed,
        with the sha256 of every regular file.
    type: list
    elements: path
  backup_dir:
    description: A backup of one run (C(<dir>/manifest.json), C(<dir>/config.tar.gz)) to report in RV(backup).
    type: path
  backup_root:
    description: The directory of the backups (C(<root>/<campaign>/<run>/manifest.json)) whose runs to list in RV(backup_runs).
    type: path
  containers:
    description:
      - The agent containers of the C(containers) upgrade method, checked after the other answers; RV(containers).
      - Left out, no container engine is asked.
    type: dict
    suboptions:
      operation:
        description:
          - V(pull) (the precheck) - every container looked up and every target image pulled, its digest checked;
            nothing is stopped. The upgrade then finds the images on the host.
          - V(verify) (the verify role) - each container runs its target image (a tag is checked against the image the
            host has under that tag; no registry is asked), is running and, where the image has a health check, healthy
            within O(containers.health_timeout).
        type: str
        choices: [pull, verify]
        required: true
      engine:
        description: The container engine.
        type: str
        choices: [podman, docker]
        default: podman
      targets:
        description: The containers and their target images, as the upgrade role's C(escalator_upgrade_containers).
        type: list
        elements: dict
        required: true
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
            description: The target tag (pulled by V(pull)).
            type: str
          digest:
            description: The target digest (C(sha256:...)); with O(containers.targets[].tag), the digest the tag must be on.
            type: str
          unit:
            description: The systemd unit that runs the container.
            type: str
      health_timeout:
        description: V(verify) - seconds a container may take to pass its health check.
        type: int
        default: 120
notes:
  - The roles call it once or twice each; see C(docs/roles.md).
'''

EXAMPLES = r'''
- name: What the upgrade compares before and after
  opnfv.escalator.compute_host_facts:
    packages: ['*']
    held: true
    services: [nova-compute, libvirtd]
    reboot: true
  register: host_facts

- name: Precheck of the host
  opnfv.escalator.compute_host_facts:
    free_space: [/, /var]
    package_health: true
    refresh_sources: true
    offered: [nova-compute]
    reboot: true

- name: Precheck of a containerised host - the target images pulled in the same call
  opnfv.escalator.compute_host_facts:
    free_space: [/, /var]
    reboot: true
    containers:
      operation: pull
      engine: podman
      targets:
        - {name: nova_compute, image: registry:4000/kolla/nova-compute, tag: 2024.1-ubuntu-jammy}
'''

RETURN = r'''
package_manager:
  description: C(apt), C(dnf), C(dnf5), C(yum) or C(unknown) (like Ansible's C(pkg_mgr) fact).
  returned: always
  type: str
  sample: apt
package_format:
  description: The package database, C(deb) or C(rpm) (V(null) when neither).
  returned: always
  type: str
  sample: deb
now:
  description: The host's clock when it answered.
  returned: always
  type: dict
  contains:
    epoch: {description: "Seconds since the epoch.", type: int}
    iso: {description: "UTC, C(YYYY-MM-DDTHH:MM:SSZ).", type: str}
  sample: {"epoch": 1795324290, "iso": "2026-11-22T05:11:30Z"}
packages:
  description:
    - "Installed packages (dpkg state C(ii) or C(hi); every rpm) asked in O(packages): C({name: {version, arch, hold}}),
      the name as dpkg's C(binary:Package) (C(libc6:amd64) for a multi-arch package) or rpm's C(NAME);
      the version as dpkg's, or rpm's C(EPOCH:VERSION-RELEASE)."
  returned: when O(packages) is given
  type: dict
  sample: {"lab-kernel": {"version": "1.0", "arch": "all", "hold": false}}
unfinished:
  description: "dpkg packages caught half-way (half-installed, unpacked, half-configured, triggers, reinstall required), C({name: {version, status}})."
  returned: when O(packages) is given
  type: dict
  sample: {}
versions:
  description: "C({name: installed version or null}) for each package named in O(packages) (not with V(*))."
  returned: when O(packages) names packages
  type: dict
  sample: {"lab-kernel": "2.0", "no-such-package": null}
held:
  description: Names of the held packages (dpkg selection C(hold), dnf versionlock).
  returned: when O(held=true)
  type: list
  elements: str
  sample: [lab-kernel]
services:
  description: "C({name: {...}}) for each service of O(services) (and O(process.service))."
  returned: when O(services) or O(process) is given
  type: dict
  contains:
    exists: {description: "Whether systemd knows the unit.", type: bool}
    state: {description: "C(running) or C(stopped) (service_facts' C(state)).", type: str}
    status:
      description: The unit file state (C(enabled), C(disabled), C(static) ...), or C(failed), C(masked), C(not-found) (service_facts' C(status)).
      type: str
    active_state: {description: "systemd's C(ActiveState).", type: str}
    sub_state: {description: "systemd's C(SubState).", type: str}
    unit_file_state: {description: "systemd's C(UnitFileState).", type: str}
    main_pid: {description: "The main process id (0 when none).", type: int}
    started: {description: "When the main process started, epoch seconds (0 when never).", type: int}
  sample: {"nova-compute": {"exists": true, "state": "running", "status": "enabled", "main_pid": 412, "started": 1795324290}}
process:
  description: The main process of O(process.service).
  returned: when O(process) is given
  type: dict
  contains:
    service: {description: "The service.", type: str}
    main_pid: {description: "Its main process id (0 when it has none).", type: int}
    started: {description: "When it started, epoch seconds.", type: int}
    env: {description: "C({VARIABLE: ok | different | unset})", type: dict}
    error: {description: "Why the environment could not be read (V(null) when it was).", type: str}
  sample: {"service": "nova-compute", "main_pid": 412, "started": 1795324290, "env": {"ESCALATOR_AGENT_VERSION": "ok"}, "error": null}
install_times:
  description: "C({name: epoch seconds of its install or upgrade, or null when not installed}) (dpkg's file list, rpm's C(INSTALLTIME))."
  returned: when O(install_times) is given
  type: dict
  sample: {"lab-compute-agent": 1795324290}
reboot:
  description: Whether the system asks for a reboot.
  returned: when O(reboot=true)
  type: dict
  contains:
    required: {description: "C(/run/reboot-required) exists or C(needs-restarting -r) exits 1.", type: bool}
    flag: {description: "C(/run/reboot-required) exists.", type: bool}
    packages: {description: "The packages in C(/run/reboot-required.pkgs).", type: list, elements: str}
    needs_restarting: {description: "The exit status of C(needs-restarting -r) (RPM systems; V(null) elsewhere).", type: int}
  sample: {"required": true, "flag": true, "packages": ["lab-kernel"], "needs_restarting": null}
free_space:
  description: "C({path: {free_mb, error}}): MiB available (rounded down), or why it could not be measured."
  returned: when O(free_space) is given
  type: dict
  sample: {"/": {"free_mb": 20480, "error": null}}
package_health:
  description: The dpkg database (RPM systems are not checked, C(checked=false)).
  returned: when O(package_health=true)
  type: dict
  contains:
    checked: {description: "Whether it was checked (dpkg systems).", type: bool}
    lock: {description: "The dpkg lock another process holds, V(null) when free.", type: str}
    audit: {description: "What C(dpkg --audit) reports (empty when all is well).", type: str}
  sample: {"checked": true, "lock": null, "audit": ""}
sources:
  description: The refresh of the package index.
  returned: when O(refresh_sources=true)
  type: dict
  contains:
    ok: {description: "Whether it succeeded (V(null) when not tried).", type: bool}
    cmd: {description: "The command.", type: list, elements: str}
    rc: {description: "Its exit status.", type: int}
    stderr: {description: "The end of its error output, or why it was not tried.", type: str}
  sample: {"ok": true, "cmd": ["apt-get", "update", "-q", "-o", "APT::Update::Error-Mode=any"], "rc": 0, "stderr": ""}
offered:
  description: "C({name: [versions the sources offer]}) (a leading C(0:) epoch dropped on RPM systems)."
  returned: when O(offered) is given
  type: dict
  sample: {"lab-kernel": ["2.0", "1.0"]}
paths:
  description: "C({path: absent | file | directory | link | other}) for each of O(describe_paths)."
  returned: when O(describe_paths) is given
  type: dict
  sample: {"/etc/nova": "directory", "/etc/neutron": "absent"}
files:
  description: Every entry at and under O(describe_paths), sorted by path.
  returned: when O(describe_paths) is given
  type: list
  elements: dict
  contains:
    path: {description: "Absolute path.", type: str}
    type: {description: "C(file), C(directory), C(link) or C(other).", type: str}
    sha256: {description: "Of a file (V(null) otherwise).", type: str}
    mode: {description: "Permission bits in octal, C(0640).", type: str}
    owner: {description: "User name (the uid when it has none).", type: str}
    group: {description: "Group name (the gid when it has none).", type: str}
    size: {description: "Bytes of a file (0 otherwise).", type: int}
    target: {description: "Where a link points (V(null) otherwise).", type: str}
  sample: [{"path": "/etc/nova/nova.conf", "type": "file", "sha256": "9f8...", "mode": "0640", "owner": "root",
            "group": "root", "size": 1234, "target": null}]
backup:
  description: The backup in O(backup_dir).
  returned: when O(backup_dir) is given
  type: dict
  contains:
    dir: {description: "The directory.", type: str}
    manifest: {description: "Its C(manifest.json) (V(null) when absent or unreadable).", type: dict}
    manifest_exists: {description: "Whether C(manifest.json) exists.", type: bool}
    manifest_error: {description: "Why it could not be read (V(null) when it could).", type: str}
    archive:
      description: "C(config.tar.gz): C({exists, sha256, size})."
      type: dict
  sample: {"dir": "/var/backups/escalator/c1/c1", "manifest": null, "manifest_exists": false, "manifest_error": null,
           "archive": {"exists": false, "sha256": null, "size": null}}
backup_runs:
  description: The runs under O(backup_root) that hold a manifest, newest manifest first, C([{dir, mtime}]).
  returned: when O(backup_root) is given
  type: list
  elements: dict
  sample: [{"dir": "/var/backups/escalator/c1/c1", "mtime": 1795324290.5}]
containers:
  description: The containers' check of O(containers).
  returned: when O(containers) is given
  type: dict
  contains:
    operation: {description: "O(containers.operation).", type: str}
    changed: {description: "V(pull) brought an image the host did not have.", type: bool}
    problems:
      description:
        - What is wrong, each with its C(code) (C(E_INVALID_INPUT), C(E_CONTAINER_NOT_FOUND), C(E_IMAGE_NOT_FOUND),
          C(E_REGISTRY), C(E_IMAGE_DIGEST), C(E_CONTAINER_UNHEALTHY), C(E_CONTAINER_ENGINE)), C(msg) and C(hint)
          (V(null) for V(verify)'s findings); empty when all is well.
        - V(pull) stops at the first problem, V(verify) lists one per container.
      type: list
      elements: dict
    images:
      description: V(pull) - per pulled reference, C(id), C(digest), C(pinned) (what a container is created with) and C(pulled).
      type: dict
    containers:
      description: V(verify) - per container, C(name), C(image), C(image_id) (running) and C(target_id).
      type: list
      elements: dict
  sample: {"operation": "pull", "changed": true, "problems": [],
           "images": {"registry:4000/kolla/nova-compute:2.0": {"reference": "registry:4000/kolla/nova-compute:2.0",
                      "id": "9f8...", "digest": "sha256:1a2...", "pinned": "registry:4000/kolla/nova-compute@sha256:1a2...",
                      "pulled": true}}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opnfv.escalator.plugins.module_utils import host_facts
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import host_calls
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import spec as containers_spec

# where the tools live on the hosts the roles support (sbin is not on every remote user's PATH)
TOOL_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str'),
            held=dict(type='bool', default=False),
            services=dict(type='list', elements='str'),
            process=dict(type='dict', options=dict(
                service=dict(type='str', required=True),
                env=dict(type='dict', default={}),
            )),
            install_times=dict(type='list', elements='str'),
            reboot=dict(type='bool', default=False),
            free_space=dict(type='list', elements='path'),
            package_health=dict(type='bool', default=False),
            refresh_sources=dict(type='bool', default=False),
            offered=dict(type='list', elements='str'),
            describe_paths=dict(type='list', elements='path'),
            backup_dir=dict(type='path'),
            backup_root=dict(type='path'),
            containers=dict(type='dict', options=dict(
                operation=dict(type='str', required=True, choices=['pull', 'verify']),
                engine=containers_spec.engine_option(),
                targets=dict(type='list', elements='dict', required=True, options=containers_spec.target_options()),
                health_timeout=dict(type='int', default=120),
            )),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        return module.run_command(argv, check_rc=False)

    def which(name):
        return module.get_bin_path(name, opt_dirs=TOOL_DIRS)

    host = host_facts.Host(run, which)
    try:
        result = host_facts.gather(host, module.params)
    except host_facts.HostFactsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except OSError as exc:
        module.fail_json(msg='cannot read %s on the host: %s' % (exc.filename or 'a file', exc.strerror or exc))
    # after the host's answers (as the roles asked before): its problems are data, never a failure of this call
    if module.params['containers']:
        result['containers'] = host_calls.check(run, which, module.params['containers'], check_mode=module.check_mode)
    module.exit_json(changed=result.get('containers', {}).get('changed', False), **result)


if __name__ == '__main__':
    main()
