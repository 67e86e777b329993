# SPDX-License-Identifier: Apache-2.0
"""Escalator's error type and error codes.

Every failure the collection reports carries a stable, machine-readable code
(used in module results, the campaign event log and the CLI exit status), a
sentence that says what is wrong and what to do, and structured details.
"""

from __future__ import annotations

# Error codes. Keep them stable: AWX job templates and installer pipelines match on them.
E_INVALID_INPUT = 'E_INVALID_INPUT'          # a parameter is wrong or inconsistent
E_AUTH = 'E_AUTH'                            # credentials rejected (401) or cloud config unusable
E_FORBIDDEN = 'E_FORBIDDEN'                  # authenticated but not allowed (403), usually not admin
E_CONNECT = 'E_CONNECT'                      # an API endpoint cannot be reached
E_API = 'E_API'                              # any other error answered by an OpenStack API
E_HOST_NOT_FOUND = 'E_HOST_NOT_FOUND'        # no nova-compute service for that host
E_HOST_AMBIGUOUS = 'E_HOST_AMBIGUOUS'        # several services (e.g. cells) match the host
E_SERVICE_DOWN = 'E_SERVICE_DOWN'            # nova-compute is down where it must be up
E_NOT_OURS = 'E_NOT_OURS'                    # the host was disabled by someone else
E_NO_VALID_HOST = 'E_NO_VALID_HOST'          # the scheduler found no destination
E_MIGRATION_FAILED = 'E_MIGRATION_FAILED'    # a migration ended in error or did not move the server
E_MIGRATION_TIMEOUT = 'E_MIGRATION_TIMEOUT'  # a migration did not finish in time
E_POLICY = 'E_POLICY'                        # an instance cannot be moved under the chosen policy
E_HOST_NOT_EMPTY = 'E_HOST_NOT_EMPTY'        # instances remain on a host that must be empty
E_VNFM = 'E_VNFM'                            # a VNFM refused, did not answer, or answered garbage
E_PLAN = 'E_PLAN'                            # no valid campaign plan, or a stale plan
E_LOCK = 'E_LOCK'                            # another campaign holds the cloud's lock
E_PRECHECK = 'E_PRECHECK'                    # health checks refused the campaign
E_STATE = 'E_STATE'                          # the campaign state store refused a change, or cannot be read/written
E_UNREACHABLE = 'E_UNREACHABLE'              # Ansible could not reach the host
E_HANG = 'E_HANG'                            # a phase ran past escalator_hang_multiple times its expectation
E_CANARY = 'E_CANARY'                        # the host did not take the canary in by live migration
E_CANARY_BOOT = 'E_CANARY_BOOT'              # the canary could not be started on any enabled host (not the host's fault)
# the containers upgrade method (module compute_containers, plugins/module_utils/containers/)
E_CONTAINER_NOT_FOUND = 'E_CONTAINER_NOT_FOUND'  # a listed container is not on the host
E_IMAGE_NOT_FOUND = 'E_IMAGE_NOT_FOUND'          # the registry has no such image, tag or digest
E_REGISTRY = 'E_REGISTRY'                        # the registry cannot be reached or refused the pull
E_IMAGE_DIGEST = 'E_IMAGE_DIGEST'                # the image pulled (or run) is not on the expected digest
E_CONTAINER_UNHEALTHY = 'E_CONTAINER_UNHEALTHY'  # a recreated container is not running or not healthy
E_CONTAINER_ENGINE = 'E_CONTAINER_ENGINE'        # podman/docker (or systemctl) failed to stop, create or start it


class EscalatorError(Exception):
    """A failure with a code, a message for the operator and structured details."""

    def __init__(self, msg, code=E_API, **details):
        super().__init__(msg)
        self.msg = msg
        self.code = code
        self.details = details

    def to_result(self):
        """The fields a module adds to fail_json."""
        result = dict(msg=self.msg, error_code=self.code)
        result.update(self.details)
        return result


def exit_module(module, action):
    """Run ``action(module)`` and exit the Ansible module with its result, or fail it with the EscalatorError's code
    and details: the ending of the modules that need no cloud connection (OpenStackModule.run ends the others)."""
    try:
        result = action(module)
    except EscalatorError as exc:
        module.fail_json(**exc.to_result())
    module.exit_json(**result)
