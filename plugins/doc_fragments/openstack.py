# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations


class ModuleDocFragment:
    """The connection options shared by Escalator's OpenStack modules."""

    DOCUMENTATION = r'''
options:
  cloud:
    description:
      - Named cloud from C(clouds.yaml) (found through E(OS_CLIENT_CONFIG_FILE) or the standard
        locations), or a dictionary with the whole cloud configuration.
      - When neither O(cloud) nor O(auth) is given, the E(OS_*) environment variables are used.
    type: raw
  auth:
    description:
      - Authentication details (C(auth_url), C(username), C(password), C(project_name),
        C(user_domain_name), C(project_domain_name), ...) as in C(clouds.yaml).
      - Overrides the ones of O(cloud).
    type: dict
  auth_type:
    description:
      - Keystone authentication plugin, for example V(password) or V(v3applicationcredential).
    type: str
  region_name:
    description:
      - Region of the cloud.
    type: str
  interface:
    description:
      - Which catalog endpoints to use.
    type: str
    default: public
    choices: [public, internal, admin]
    aliases: [endpoint_type]
  validate_certs:
    description:
      - Whether to verify TLS certificates of the APIs.
      - When unset, the value of C(clouds.yaml) applies and otherwise certificates are verified.
        Prefer O(ca_cert) to turning verification off.
    type: bool
    aliases: [verify]
  ca_cert:
    description:
      - CA bundle used to verify the APIs' certificates.
    type: path
    aliases: [cacert]
  client_cert:
    description:
      - Client certificate for mutual TLS.
    type: path
    aliases: [cert]
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
    aliases: [key]
  api_timeout:
    description:
      - Timeout of each HTTP request, in seconds.
    type: int
  wait:
    description:
      - Whether to wait for the operation to finish.
    type: bool
    default: true
  timeout:
    description:
      - How long to wait for the whole operation, in seconds.
    type: int
    default: 600
requirements:
  - python >= 3.10
  - openstacksdk >= 4.0.0
notes:
  - "These modules talk to the OpenStack APIs and run on the controller
    (C(delegate_to: localhost) or a play on localhost)."
  - The option names are those of the openstack.cloud collection, which is not required.
'''
