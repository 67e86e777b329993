# SPDX-License-Identifier: Apache-2.0
"""The plan's fingerprint: sha256 of the canonical form of its inputs (docs/planner.md)."""

from __future__ import annotations

import hashlib
import json

from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import RESOURCES
from ansible_collections.opnfv.escalator.plugins.module_utils.server_policy import KEYS
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.options import normalize_options


def _canon_number(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _canon_resources(values):
    values = values or {}
    return {k: _canon_number(values[k]) for k in RESOURCES if values.get(k) is not None}


def _canon_policies(instances, canon):
    """The Escalator metadata keys of the servers that carry any (docs/planner.md "Fingerprint"): a tag changes the
    plan, other metadata does not, and an untagged cloud keeps the fingerprint it had before tags existed."""
    for inst, entry in zip(instances, canon):
        metadata = inst.get("metadata")
        if metadata:
            tags = {key: str(metadata[key]) for key in KEYS if key in metadata}
            if tags:
                entry["policy_metadata"] = tags
    return canon


def _canon_host(host):
    instances = sorted(host.get("instances") or [], key=lambda i: i["id"])
    return {
        "name": host["name"],
        "zone": host.get("zone"),
        "aggregates": sorted(host.get("aggregates") or []),
        "state": host.get("state", "up"),
        "status": host.get("status", "enabled"),
        "disabled_reason": host.get("disabled_reason"),
        "capacity": _canon_resources(host.get("capacity")),
        "used": _canon_resources(host.get("used")),
        "instances": _canon_policies(instances, [{     # a comprehension, not a call per instance
            "id": inst["id"],
            "name": inst.get("name"),
            "project_id": inst.get("project_id"),
            "status": inst.get("status"),
            "vcpus": _canon_number(inst.get("vcpus") or 0),
            "memory_mb": _canon_number(inst.get("memory_mb") or 0),
            "disk_gb": _canon_number(inst.get("disk_gb") or 0),
            "server_groups": sorted(inst.get("server_groups") or []),
        } for inst in instances]),
    }


def canonical_inputs(hosts, server_groups=None, options=None):
    """The canonical form of the inputs that the fingerprint hashes (see docs/planner.md)."""
    opts = normalize_options(options)
    opts.pop("campaign_id")
    canon_groups = [{
        "id": group["id"],
        "name": group.get("name"),
        "project_id": group.get("project_id"),
        "policy": group.get("policy"),
        "members": sorted(group.get("members") or []),
    } for group in sorted(server_groups or [], key=lambda g: g["id"])]
    return {"hosts": [_canon_host(host) for host in sorted(hosts, key=lambda h: h["name"])],
            "server_groups": canon_groups, "options": opts}


def fingerprint(hosts, server_groups=None, options=None):
    """sha256 of the canonical inputs: ``"sha256:<hex>"``."""
    text = json.dumps(canonical_inputs(hosts, server_groups, options), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()
