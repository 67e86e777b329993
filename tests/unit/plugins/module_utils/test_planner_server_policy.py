# SPDX-License-Identifier: Apache-2.0
"""Per-server policy from server metadata (escalator:action, escalator:budget) in the planner, its table, its
fingerprint and the independent checker (issue 16)."""

import copy

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.fingerprint import expected_fingerprint
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.fingerprint import fingerprint
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.render import render_table


def inst(iid, action=None, status="ACTIVE", groups=(), budget=None, metadata=None, mem=512):
    meta = dict(metadata or {})
    if action is not None:
        meta["escalator:action"] = action
    if budget is not None:
        meta["escalator:budget"] = budget
    return {"id": iid, "name": iid, "project_id": "p", "status": status, "vcpus": 1, "memory_mb": mem,
            "disk_gb": 1, "server_groups": list(groups), "metadata": meta}


def host(name, instances=()):
    instances = list(instances)
    return {"name": name, "zone": "nova", "aggregates": [], "state": "up", "status": "enabled",
            "disabled_reason": None, "capacity": {"vcpus": 16, "memory_mb": 32768, "disk_gb": 200},
            "used": {k: sum(i[k] for i in instances) for k in ("vcpus", "memory_mb", "disk_gb")},
            "instances": instances}


def group(gid, members, policy="anti-affinity"):
    return {"id": gid, "name": gid, "project_id": "p", "policy": policy, "members": list(members)}


OPTIONS = {"max_batch_size": 2, "campaign_id": "t"}


def plan_ok(hosts, groups=(), options=None):
    options = dict(OPTIONS, **(options or {}))
    plan = plan_campaign(hosts, list(groups), options)
    assert plan["feasible"], plan["reasons"]
    assert check_plan(hosts, list(groups), options, plan) == []
    return plan


def move_of(plan, iid):
    found = [m for b in plan["batches"] for m in b["moves"] if m["instance"] == iid]
    assert len(found) <= 1
    return found[0] if found else None


def tagged_cloud():
    return [host("c1", [inst("web", "stop"), inst("db", "cold"), inst("off", "stop", status="SHUTOFF"),
                        inst("app", "live"), inst("plain")]),
            host("c2"), host("c3", [inst("x1")])]


# -- each value ------------------------------------------------------------------

def test_cold_stop_and_live_tags_set_the_mode_of_the_move_and_are_shown():
    plan = plan_ok(tagged_cloud())
    assert move_of(plan, "db")["mode"] == "cold" and move_of(plan, "db")["policy"] == "cold"
    assert move_of(plan, "web")["mode"] == "stop" and move_of(plan, "web")["policy"] == "stop"
    assert move_of(plan, "off")["mode"] == "cold"          # already SHUTOFF: a cold move, nothing to stop
    assert move_of(plan, "app")["mode"] == "live" and move_of(plan, "app")["policy"] == "live"
    assert move_of(plan, "plain")["mode"] == "live" and "policy" not in move_of(plan, "plain")
    servers = {s["instance"]: (s["host"], s["action"]) for s in plan["server_policies"]["servers"]}
    assert servers == {"web": ("c1", "stop"), "db": ("c1", "cold"), "off": ("c1", "stop"), "app": ("c1", "live")}
    table = render_table(plan)
    assert "server policy: db on c1: escalator:action=cold" in table and "web on c1: escalator:action=stop" in table
    assert "web[stop]" in table and "db[cold]" in table


def test_skip_tag_leaves_its_host_out_and_names_the_server():
    hosts = [host("c1", [inst("pinned", "skip"), inst("other")]), host("c2", [inst("y")]), host("c3")]
    plan = plan_ok(hosts)
    assert [(s["host"], s["reason"]) for s in plan["skipped"]] == [("c1", "server_policy")]
    assert "pinned" in plan["skipped"][0]["detail"] and "escalator:action=skip" in plan["skipped"][0]["detail"]
    assert plan["skipped"][0]["destination"] is True         # up and enabled: it stays up, it may receive
    assert "c1" not in [h for b in plan["batches"] for h in b["hosts"]]
    assert move_of(plan, "pinned") is None and move_of(plan, "other") is None
    assert "skipped c1: holds pinned (escalator:action=skip)" in render_table(plan)


def test_notify_tag_is_never_moved_but_counts_in_its_batch():
    hosts = [host("c1", [inst("vnfc", "notify", groups=["g"]), inst("plain")]), host("c2", [inst("peer", groups=["g"])]),
             host("c3"), host("c4")]
    plan = plan_ok(hosts, [group("g", ["vnfc", "peer"])])
    assert move_of(plan, "vnfc") is None and move_of(plan, "plain") is not None
    batch = next(b for b in plan["batches"] if "c1" in b["hosts"])
    assert batch["notify"] == [{"instance": "vnfc", "name": "vnfc", "from": "c1"}]
    assert "c2" not in batch["hosts"]                          # the group's budget 1 still counts vnfc on c1
    assert [u["members"] for u in batch["budget_use"]] == [1]
    assert plan["moves_per_instance"]["vnfc"] == 0
    assert any("moved by its VNFM" in note for note in batch["notes"])


# -- budgets -------------------------------------------------------------------------

def test_budget_tag_on_group_members_overrides_the_group_vars():
    hosts = [host("c0"), host("c1", [inst("a", groups=["g"], budget="2")]),
             host("c2", [inst("b", groups=["g"], budget="2")]), host("c3", [inst("c", groups=["g"])]), host("c4")]
    groups = [group("g", ["a", "b", "c"])]
    plan = plan_ok(hosts, groups, {"budgets": {"g": 1}, "canary_hosts": 0, "max_batch_size": 3})
    assert max(u["members"] for b in plan["batches"] for u in b["budget_use"]) == 2
    assert {u["budget"] for b in plan["batches"] for u in b["budget_use"]} == {2}
    assert plan["server_policies"]["groups"] == [{"group": "g", "name": "g", "budget": 2, "servers": ["a", "b"]}]
    assert any("escalator:budget" in w and "budgets" in w for w in plan["warnings"])
    assert "server policy: group g: escalator:budget=2 on a, b" in render_table(plan)


def test_budget_disagreement_is_a_plan_error_naming_the_servers():
    hosts = [host("c1", [inst("a", groups=["g"], budget="1")]), host("c2", [inst("b", groups=["g"], budget="2")]),
             host("c3"), host("c4")]
    groups = [group("g", ["a", "b"])]
    plan = plan_campaign(hosts, groups, OPTIONS)
    assert not plan["feasible"] and plan["batches"] == []
    assert any("disagree" in r and "1 on a" in r and "2 on b" in r for r in plan["reasons"]), plan["reasons"]
    assert check_plan(hosts, groups, OPTIONS, plan) == []


def test_a_bad_budget_is_a_plan_error_with_a_hint():
    hosts = [host("c1", [inst("a", groups=["g"], budget="two")]), host("c2"), host("c3")]
    plan = plan_campaign(hosts, [group("g", ["a"])], OPTIONS)
    assert not plan["feasible"]
    assert any("server a" in r and "escalator:budget='two'" in r and "openstack server" in r for r in plan["reasons"])


# -- unknown values --------------------------------------------------------------------

def test_an_unknown_action_is_a_plan_error_naming_the_server_with_a_hint():
    hosts = [host("c1", [inst("web", "migrate")]), host("c2"), host("c3")]
    plan = plan_campaign(hosts, [], OPTIONS)
    assert not plan["feasible"]
    assert any("server web" in r and "escalator:action='migrate'" in r and "openstack server set --property" in r
               for r in plan["reasons"]), plan["reasons"]
    assert "No plan exists" in render_table(plan)


def test_the_value_is_read_case_insensitively_and_unknown_escalator_keys_warn():
    hosts = [host("c1", [inst("db", " Cold ", metadata={"escalator:acton": "cold", "other": "x"})]), host("c2")]
    plan = plan_ok(hosts)
    assert move_of(plan, "db")["mode"] == "cold"
    assert any("escalator:acton" in w for w in plan["warnings"])


# -- fingerprint -------------------------------------------------------------------------

def test_tags_change_the_fingerprint_other_metadata_does_not():
    hosts = tagged_cloud()
    base = copy.deepcopy(hosts)
    for entry in base[0]["instances"]:
        entry["metadata"] = {}
    other = copy.deepcopy(base)
    other[0]["instances"][0]["metadata"] = {"vnf": "x"}
    assert fingerprint(base, [], OPTIONS) == fingerprint(other, [], OPTIONS)
    assert fingerprint(base, [], OPTIONS) != fingerprint(hosts, [], OPTIONS)
    assert expected_fingerprint(hosts, [], OPTIONS) == fingerprint(hosts, [], OPTIONS)


# -- the checker refuses plans that do not honour the tags ---------------------------------

def refused(hosts, plan, fragment, groups=()):
    found = check_plan(hosts, list(groups), OPTIONS, plan)
    assert any(fragment in v for v in found), found


def test_checker_refuses_a_live_move_of_a_cold_or_stop_server():
    hosts = tagged_cloud()
    plan = plan_ok(hosts)
    for iid in ("db", "web"):
        bad = copy.deepcopy(plan)
        move_of(bad, iid)["mode"] = "live"
        refused(hosts, bad, "instance %s has mode 'live', expected" % iid)


def test_checker_refuses_a_move_of_a_notify_server_and_a_missing_notify_entry():
    hosts = [host("c1", [inst("vnfc", "notify"), inst("plain")]), host("c2"), host("c3")]
    plan = plan_ok(hosts)
    bad = copy.deepcopy(plan)
    batch = next(b for b in bad["batches"] if "c1" in b["hosts"])
    batch["moves"].append(dict(move_of(bad, "plain"), instance="vnfc", name="vnfc"))
    refused(hosts, bad, "moves instance vnfc, whose escalator:action is notify")
    bad = copy.deepcopy(plan)
    next(b for b in bad["batches"] if "c1" in b["hosts"])["notify"] = []
    refused(hosts, bad, "notify")


def test_checker_refuses_a_skipped_host_in_a_batch():
    hosts = [host("c1", [inst("pinned", "skip")]), host("c2", [inst("y")]), host("c3")]
    plan = plan_ok(hosts)
    bad = copy.deepcopy(plan)
    bad["skipped"] = []
    bad["batches"][-1]["hosts"].append("c1")
    refused(hosts, bad, "host c1 is skipped (server_policy) but planned")


def test_checker_refuses_a_plan_that_hides_or_invents_a_policy():
    hosts = tagged_cloud()
    plan = plan_ok(hosts)
    bad = copy.deepcopy(plan)
    bad["server_policies"]["servers"] = [s for s in bad["server_policies"]["servers"] if s["instance"] != "db"]
    refused(hosts, bad, "server_policies")
    bad = copy.deepcopy(plan)
    del move_of(bad, "db")["policy"]
    refused(hosts, bad, "instance db: the move says policy None")


def test_checker_refuses_a_feasible_plan_over_an_unknown_value():
    hosts = [host("c1", [inst("web", "migrate")]), host("c2"), host("c3")]
    clean = copy.deepcopy(hosts)
    clean[0]["instances"][0]["metadata"] = {}
    plan = plan_ok(clean)
    plan["fingerprint"] = expected_fingerprint(hosts, [], OPTIONS)
    refused(hosts, plan, "escalator:action='migrate'")


def test_checker_uses_the_budget_tag():
    hosts = [host("c0"), host("c1", [inst("a", groups=["g"], budget="1")]),
             host("c2", [inst("b", groups=["g"], budget="1")]), host("c3")]
    groups = [group("g", ["a", "b"])]
    options = dict(OPTIONS, budgets={"g": 2}, canary_hosts=0)
    plan = plan_campaign(hosts, groups, options)
    assert plan["feasible"] and check_plan(hosts, groups, options, plan) == []
    bad = copy.deepcopy(plan)
    first = bad["batches"][0]
    for other in bad["batches"][1:]:
        first["hosts"] += other["hosts"]
        first["moves"] += other["moves"]
    bad["batches"] = [first]
    found = check_plan(hosts, groups, options, bad)
    assert any("group g loses 2 members (budget 1 allows 1)" in v for v in found), found
