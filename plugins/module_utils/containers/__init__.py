# SPDX-License-Identifier: Apache-2.0
"""The ``containers`` upgrade method: agents that run as Podman or Docker containers (kolla-ansible, Kayobe,
Red Hat data-plane nodes), recreated on a new image with their own configuration. Runs ON the compute host
(module ``compute_containers``); stdlib only, every command through an injectable runner.

One concept a file:

``spec``       the input: containers (name, image, tag and/or digest, unit), the engine; image references
``engine``     the podman/docker and systemctl commands, and what their failures mean (error codes)
``recreate``   the argv that recreates a container with only its image changed (podman's CreateCommand,
               docker's inspect)
``health``     running and healthy after a start (the image's health check where it has one)
``record``     containers.json in the host's backup: the running digests and the full inspect
``operations`` pull, upgrade, rollback, verify, backup: what the module does, changed decided before acting
``host_calls`` the precheck's pull and the verify's check inside compute_host_facts, containers.json inside
               compute_backup (the roles' calls: no task of the method's own)
"""
