# SPDX-License-Identifier: Apache-2.0
"""The plan's fingerprint as docs/planner.md documents it, computed without the planner's code."""

from __future__ import annotations

import hashlib
import json

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.options import DIMS, num, read_options
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.policies import fingerprint_tags


def expected_fingerprint(hosts, server_groups, options):
    """Fingerprint of the inputs as documented in docs/planner.md (computed independently)."""
    opts = read_options(options)
    del opts["campaign_id"]
    doc_hosts = []
    for host in sorted(hosts, key=lambda x: x["name"]):
        res = {}
        for section in ("capacity", "used"):
            values = host.get(section) or {}
            res[section] = {d: num(values[d]) for d in DIMS if values.get(d) is not None}
        doc_hosts.append({
            "name": host["name"], "zone": host.get("zone"), "aggregates": sorted(host.get("aggregates") or []),
            "state": host.get("state", "up"), "status": host.get("status", "enabled"),
            "disabled_reason": host.get("disabled_reason"), "capacity": res["capacity"], "used": res["used"],
            "instances": [{"id": i["id"], "name": i.get("name"), "project_id": i.get("project_id"),
                           "status": i.get("status"), "vcpus": num(i.get("vcpus") or 0),
                           "memory_mb": num(i.get("memory_mb") or 0), "disk_gb": num(i.get("disk_gb") or 0),
                           "server_groups": sorted(i.get("server_groups") or []),
                           **({"policy_metadata": fingerprint_tags(i)} if fingerprint_tags(i) else {})}
                          for i in sorted(host.get("instances") or [], key=lambda x: x["id"])],
        })
    doc_groups = [{"id": g["id"], "name": g.get("name"), "project_id": g.get("project_id"),
                   "policy": g.get("policy"), "members": sorted(g.get("members") or [])}
                  for g in sorted(server_groups or [], key=lambda x: x["id"])]
    doc = {"hosts": doc_hosts, "server_groups": doc_groups, "options": opts}
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return "sha256:" + hashlib.sha256(blob).hexdigest()
