# SPDX-License-Identifier: Apache-2.0
"""Unit tests of the campaign planner (small hand-made clouds and seeded random ones)."""

import copy
import json
import random

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.fingerprint import expected_fingerprint
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.fingerprint import fingerprint
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import PlanInputError
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.options import normalize_options
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.plan_json import plan_from_json, plan_to_json
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.render import render_table


# --------------------------------------------------------------------------
# small cloud builders
# --------------------------------------------------------------------------

def inst(iid, vcpus=1, mem=512, disk=1, groups=(), status="ACTIVE", name=None):
    return {"id": iid, "name": name or iid, "project_id": "p", "status": status, "vcpus": vcpus,
            "memory_mb": mem, "disk_gb": disk, "server_groups": list(groups)}


def host(name, instances=(), vcpus=16, mem=32768, disk=200, zone="nova", state="up", status="enabled",
         reason=None, overhead=(0, 0, 0)):
    instances = list(instances)
    used = {"vcpus": overhead[0] + sum(i["vcpus"] for i in instances),
            "memory_mb": overhead[1] + sum(i["memory_mb"] for i in instances),
            "disk_gb": overhead[2] + sum(i["disk_gb"] for i in instances)}
    return {"name": name, "zone": zone, "aggregates": [], "state": state, "status": status,
            "disabled_reason": reason, "capacity": {"vcpus": vcpus, "memory_mb": mem, "disk_gb": disk},
            "used": used, "instances": instances}


def group(gid, members, policy="anti-affinity", name=None):
    return {"id": gid, "name": name or gid, "project_id": "p", "policy": policy, "members": list(members)}


def plan_ok(hosts, groups=(), options=None):
    """Plan, assert feasible, and prove it with the independent checker."""
    plan = plan_campaign(hosts, list(groups), options)
    assert plan["feasible"], plan["reasons"]
    assert check_plan(hosts, list(groups), options, plan) == []
    return plan


def batch_of(plan):
    return {h: b["batch"] for b in plan["batches"] for h in b["hosts"]}


def moves_by_instance(plan):
    out = {}
    for batch in plan["batches"]:
        for move in batch["moves"]:
            out.setdefault(move["instance"], []).append((batch["batch"], move))
    return out


# --------------------------------------------------------------------------
# basics: empty cloud, canary, batch sizes, move counts
# --------------------------------------------------------------------------

def test_empty_cloud_is_feasible_with_no_batches():
    plan = plan_ok([], [])
    assert plan["batches"] == []
    assert plan["summary"]["batches"] == 0
    assert plan["summary"]["lower_bound"]["batches"] == 0


def test_canary_is_the_emptiest_host_and_nothing_moves_twice():
    hosts = [host("c1", [inst("a1"), inst("a2")]), host("c2", [inst("b1")]), host("c3"),
             host("c4", [inst("d1"), inst("d2"), inst("d3")])]
    plan = plan_ok(hosts, [], {"max_batch_size": 2})
    first = plan["batches"][0]
    assert first["canary"] is True
    assert first["hosts"] == ["c3"]
    assert first["moves"] == []
    assert all(not b["canary"] for b in plan["batches"][1:])
    assert all(len(b["hosts"]) <= 2 for b in plan["batches"])
    assert plan["summary"]["instances_moving_more_than_once"] == 0
    assert set(plan["moves_per_instance"].values()) == {1}
    # every instance lands on an already upgraded host
    upgraded = set()
    for batch in plan["batches"]:
        for move in batch["moves"]:
            assert move["to"][0] in upgraded
            assert "moves_again_in_batch" not in move
        upgraded |= set(batch["hosts"])


def test_no_empty_host_means_canary_instances_move_twice_and_say_why():
    hosts = [host("c1", [inst("a1"), inst("a2"), inst("a3")]), host("c2", [inst("b1")]),
             host("c3", [inst("x1"), inst("x2")])]
    plan = plan_ok(hosts, [], {"max_batch_size": 1})
    assert plan["batches"][0]["hosts"] == ["c2"]          # fewest instances: fewest double moves
    assert plan["summary"]["instances_moving_more_than_once"] == 1
    assert plan["moves_per_instance"]["b1"] == 2
    twice = plan["moved_more_than_once"]
    assert [t["instance"] for t in twice] == ["b1"]
    assert "canary" in twice[0]["why"] and "no host is upgraded yet" in twice[0]["why"]
    move = plan["batches"][0]["moves"][0]
    assert move["moves_again_in_batch"] == batch_of(plan)[move["to"][0]]
    assert any("parked" in note for note in plan["batches"][0]["notes"])


def test_canary_hosts_count_and_zero_canary():
    hosts = [host("c%d" % i, [inst("i%d" % i)]) for i in range(6)]
    plan = plan_ok(hosts, [], {"canary_hosts": 2, "max_batch_size": 3})
    assert len(plan["batches"][0]["hosts"]) == 2 and plan["batches"][0]["canary"]
    plan = plan_ok(hosts, [], {"canary_hosts": 0, "max_batch_size": 3})
    assert not any(b["canary"] for b in plan["batches"])
    assert plan["summary"]["lower_bound"]["by_batch_size"] == 2


def test_max_batch_size_and_lower_bound_reached_with_plenty_of_room():
    hosts = [host("c%02d" % i, [inst("i%02d" % i)], vcpus=64, mem=262144) for i in range(10)]
    hosts.append(host("spare", vcpus=64, mem=262144))
    plan = plan_ok(hosts, [], {"max_batch_size": 4})
    sizes = [len(b["hosts"]) for b in plan["batches"]]
    assert sizes[0] == 1 and max(sizes) == 4
    assert plan["summary"]["lower_bound"] == {"batches": 4, "by_batch_size": 4, "by_az": 0, "by_budget": 0}
    assert plan["summary"]["batches"] == 4


def test_batches_grow_only_as_upgraded_room_allows_single_moves():
    # every host half full: an upgraded empty host takes two hosts' instances
    hosts = [host("c%d" % i, [inst("i%d-%d" % (i, j), vcpus=2, mem=4096) for j in range(4)]) for i in range(6)]
    plan = plan_ok(hosts, [], {"max_batch_size": 6})
    sizes = [len(b["hosts"]) for b in plan["batches"]]
    assert sizes[0] == 1
    assert plan["summary"]["instances_moving_more_than_once"] == 4   # only the canary's
    assert max(sizes[1:]) <= 4


def test_prefer_fewer_batches_trades_double_moves_for_batch_count():
    hosts = [host("c%d" % i, [inst("i%d-%d" % (i, j), vcpus=3, mem=4096) for j in range(4)]) for i in range(10)]
    single = plan_ok(hosts, [], {"max_batch_size": 5})
    fewer = plan_ok(hosts, [], {"max_batch_size": 5, "prefer": "fewer_batches"})
    # 75 % full: at most 2 hosts fit in the room of the others, so 1 + ceil(9 / 2) = 6 batches is the best
    assert fewer["summary"]["batches"] == 6 < single["summary"]["batches"]
    assert all(len(b["hosts"]) <= 2 for b in fewer["batches"])
    assert fewer["summary"]["instances_moving_more_than_once"] > single["summary"]["instances_moving_more_than_once"]
    assert single["summary"]["instances_moving_more_than_once"] == 4
    assert any("no upgraded host had room" in t["why"] for t in fewer["moved_more_than_once"])


# --------------------------------------------------------------------------
# budgets and server groups
# --------------------------------------------------------------------------

def _pair_cloud(members=3, spare=True):
    hosts = [host("c%d" % i, [inst("m%d" % i, groups=["g1"])]) for i in range(members)]
    if spare:
        hosts.append(host("spare"))
    return hosts, [group("g1", ["m%d" % i for i in range(members)], name="vnf-a")]


def test_anti_affinity_default_budget_one_member_per_batch():
    hosts, groups = _pair_cloud(3)
    plan = plan_ok(hosts, groups, {"max_batch_size": 4})
    where = batch_of(plan)
    assert len({where["c0"], where["c1"], where["c2"]}) == 3
    for batch in plan["batches"]:
        for use in batch["budget_use"]:
            assert use["members"] <= 1 and use["budget"] == 1
    assert plan["summary"]["lower_bound"]["by_budget"] == 3


@pytest.mark.parametrize("key", ["vnf-a", "g1"])
def test_budget_override_by_name_or_id(key):
    hosts, groups = _pair_cloud(4)
    hosts.append(host("spare2"))
    hosts.append(host("spare3"))
    plan = plan_ok(hosts, groups, {"max_batch_size": 4, "budgets": {key: 2}, "canary_hosts": 1})
    counts = [sum(1 for h in b["hosts"] if h.startswith("c")) for b in plan["batches"]]
    assert max(counts) == 2
    assert plan["summary"]["lower_bound"]["by_budget"] == 2


def test_budget_by_id_wins_over_name():
    hosts, groups = _pair_cloud(3)
    plan = plan_ok(hosts, groups, {"max_batch_size": 4, "budgets": {"g1": 1, "vnf-a": 3}})
    assert plan["summary"]["lower_bound"]["by_budget"] == 3


def test_unknown_budget_key_is_a_warning():
    hosts, groups = _pair_cloud(2)
    plan = plan_ok(hosts, groups, {"budgets": {"nope": 2}})
    assert any("nope" in w for w in plan["warnings"])


def test_anti_affinity_never_sends_a_member_to_a_host_with_a_member():
    # c3 is the obvious (empty, upgraded early) destination but must not get two members
    hosts = [host("c0", [inst("m0", groups=["g"])]), host("c1", [inst("m1", groups=["g"])]),
             host("c2", [inst("x")]), host("c3")]
    plan = plan_ok(hosts, [group("g", ["m0", "m1"])], {"max_batch_size": 1})
    landing = {m["instance"]: m["to"][0] for b in plan["batches"] for m in b["moves"]}
    final = {}
    for b in plan["batches"]:
        for m in b["moves"]:
            final[m["instance"]] = m["to"][0]
    assert final["m0"] != final["m1"]
    assert landing


def test_budget_zero_moves_by_switchover():
    hosts, groups = _pair_cloud(2)
    plan = plan_ok(hosts, groups, {"budgets": {"vnf-a": 0}, "max_batch_size": 3})
    modes = {m["instance"]: m["mode"] for b in plan["batches"] for m in b["moves"]}
    assert modes["m0"] == "switchover" and modes["m1"] == "switchover"
    assert any("switchover" in n for b in plan["batches"] for n in b["notes"])


def test_budget_zero_no_spare_host_message():
    hosts, groups = _pair_cloud(4, spare=False)
    plan = plan_campaign(hosts, groups, {"budgets": {"vnf-a": 0}})
    assert plan["feasible"] is False
    assert plan["batches"] == []
    assert "group vnf-a (anti-affinity, budget 0): 4 members on 4 hosts, no spare host" in plan["reasons"]
    assert check_plan(hosts, groups, {"budgets": {"vnf-a": 0}}, plan) == []


def test_member_on_down_host_uses_up_the_budget():
    hosts, groups = _pair_cloud(2)
    hosts[0]["state"] = "down"
    plan = plan_campaign(hosts, groups, {})
    assert not plan["feasible"]
    assert plan["reasons"] == ["group vnf-a (anti-affinity, budget 1): 1 member already unavailable on down host "
                               "c0, so 1 member on c1 cannot be taken down (raise the budget, or set it to 0 "
                               "for VNFM switchover)"]
    # a budget of 2 leaves room for one more
    plan_ok(hosts, groups, {"budgets": {"vnf-a": 2}})


def test_crowded_soft_anti_affinity_with_budget_is_reported():
    hosts = [host("c0", [inst("a", groups=["s"]), inst("b", groups=["s"])]), host("c1")]
    groups = [group("s", ["a", "b"], policy="soft-anti-affinity", name="soft")]
    plan_ok(hosts, groups, {})      # soft policies have no budget by default
    plan = plan_campaign(hosts, groups, {"budgets": {"soft": 1}})
    assert plan["reasons"] == ["group soft (soft-anti-affinity, budget 1): 2 members on host c0 exceed what one "
                               "batch may disrupt (1)"]


def test_soft_anti_affinity_prefers_separate_hosts():
    hosts = [host("c0", [inst("a", groups=["s"])]), host("c1", [inst("b", groups=["s"])]), host("c2"),
             host("c3")]
    plan = plan_ok(hosts, [group("s", ["a", "b"], policy="soft-anti-affinity")], {"max_batch_size": 2})
    final = {}
    for b in plan["batches"]:
        for m in b["moves"]:
            final[m["instance"]] = m["to"][0]
    assert final["a"] != final["b"]


def test_affinity_members_move_together():
    hosts = [host("c0", [inst("a", groups=["aff"]), inst("b", groups=["aff"]), inst("c", groups=["aff"])]),
             host("c1", [inst("x")]), host("c2", vcpus=2)]
    groups = [group("aff", ["a", "b", "c"], policy="affinity")]
    plan = plan_ok(hosts, groups, {"max_batch_size": 1})
    for batch in plan["batches"]:
        dests = {m["to"][0] for m in batch["moves"] if m["instance"] in "abc"}
        assert len(dests) <= 1
        for m in batch["moves"]:
            if m["instance"] in "abc":
                assert m["with_group"] == "aff"
    # c2 has 2 vCPU: too small for the three together, so they go to c1 (or wherever all fit)
    final = {}
    for b in plan["batches"]:
        for m in b["moves"]:
            final[m["instance"]] = m["to"][0]
    assert final["a"] == final["b"] == final["c"] != "c2"


def test_affinity_budget_smaller_than_colocated_members_is_infeasible():
    hosts = [host("c0", [inst("a", groups=["aff"]), inst("b", groups=["aff"])]), host("c1")]
    groups = [group("aff", ["a", "b"], policy="affinity", name="db")]
    plan = plan_campaign(hosts, groups, {"budgets": {"db": 1}})
    assert plan["reasons"] == ["group db (affinity, budget 1): 2 members on host c0 must move together and exceed "
                               "what one batch may disrupt (1)"]


def test_soft_affinity_prefers_joining_members():
    hosts = [host("c0", [inst("a", groups=["sa"])]), host("c1", [inst("b", groups=["sa"])]), host("c2"),
             host("c3")]
    plan = plan_ok(hosts, [group("sa", ["a", "b"], policy="soft-affinity")], {"max_batch_size": 1})
    assert plan["feasible"]


# --------------------------------------------------------------------------
# capacity, reserve, infeasibility messages
# --------------------------------------------------------------------------

def test_capacity_message_names_host_and_shortfall():
    hosts = [host("compute1", vcpus=16), host("compute2", [inst("i%d" % i, vcpus=1) for i in range(10)], vcpus=16),
             host("compute3", [inst("big%d" % i, vcpus=7) for i in range(2)], vcpus=16)]
    # compute3 holds 14 vCPU; compute1 has 16 free, compute2 has 6: 22 >= 14, feasible
    plan_ok(hosts, [], {})
    hosts[0]["used"]["vcpus"] = 16   # now compute1 is full of something else
    plan = plan_campaign(hosts, [], {})
    assert "host compute3: 14 vCPU of instances, only 6 vCPU free on hosts that stay up" in plan["reasons"]
    assert plan["batches"] == []


def test_every_reason_is_reported_not_just_the_first():
    hosts, groups = _pair_cloud(3, spare=False)
    hosts.append(host("full", [inst("fat", vcpus=16)], vcpus=16))
    hosts[0]["capacity"]["vcpus"] = 1
    hosts[0]["used"]["vcpus"] = 1
    plan = plan_campaign(hosts, groups, {"include_hosts": ["c0", "c1", "c2", "full", "ghost"]})
    assert not plan["feasible"]
    text = "\n".join(plan["reasons"])
    assert "include_hosts names ghost" in text
    assert "host full: instance fat (16 vCPU, 512 MB RAM, 1 GB disk) fits on no host that stays up" in text
    assert "host c1: instance m1 (1 vCPU, 512 MB RAM, 1 GB disk): every host that stays up with room for it (c2) " \
           "already holds members of group vnf-a (anti-affinity)" in text
    assert len(plan["reasons"]) == 5


def test_instance_too_big_for_any_other_host():
    hosts = [host("c0", [inst("huge", vcpus=12)], vcpus=16), host("c1", vcpus=8), host("c2", vcpus=8)]
    plan = plan_campaign(hosts, [], {})
    assert plan["reasons"] == ["host c0: instance huge needs 12 vCPU, 512 MB RAM, 1 GB disk, more than any other "
                               "host to upgrade can hold even when empty"]


def test_anti_affinity_blocks_the_only_roomy_host():
    # m1 can only go to c2 (c0 holds its sibling, c3 is too small) ... and c2 holds a member too
    hosts = [host("c0", [inst("m0", groups=["g"])]), host("c1", [inst("m1", groups=["g"])]),
             host("c2", [inst("m2", groups=["g"])]), host("c3", [inst("filler", vcpus=16)], vcpus=16)]
    plan = plan_campaign(hosts, [group("g", ["m0", "m1", "m2"], name="vnf-b")], {})
    assert not plan["feasible"]
    assert any("vnf-b" in r for r in plan["reasons"])


def test_reserve_fraction_and_absolute():
    hosts = [host("c0", [inst("a", vcpus=4)], vcpus=8), host("c1", [inst("b", vcpus=4)], vcpus=8)]
    plan_ok(hosts, [], {})
    plan = plan_campaign(hosts, [], {"reserve": 0.5})
    assert not plan["feasible"]
    assert "host c0: 4 vCPU of instances, only 0 vCPU free on hosts that stay up" in plan["reasons"]
    plan = plan_campaign(hosts, [], {"reserve": {"vcpus": 1}})
    assert not plan["feasible"]
    hosts.append(host("c2", vcpus=8))
    plan_ok(hosts, [], {"reserve": {"vcpus": 2}})
    plan_ok(hosts, [], {"reserve": 0.25})


def test_resource_without_capacity_is_not_limited():
    hosts = [host("c0", [inst("a", vcpus=64)]), host("c1")]
    for h in hosts:
        del h["capacity"]["vcpus"]
    plan_ok(hosts, [], {})


# --------------------------------------------------------------------------
# skipped hosts, our marker, zones
# --------------------------------------------------------------------------

def test_skipped_hosts_are_reported_never_destinations_and_keep_their_instances():
    hosts = [host("down1", [inst("d")], state="down"),
             host("ops1", [inst("o")], status="disabled", reason="hardware ticket 42"),
             host("ex1", [inst("e")]), host("c1", [inst("a")]), host("c2"),
             host("ops2", status="disabled")]
    options = {"exclude_hosts": ["ex1"], "max_batch_size": 2}
    plan = plan_ok(hosts, [], options)
    skipped = {s["host"]: s for s in plan["skipped"]}
    assert skipped["down1"]["reason"] == "down"
    assert skipped["ops1"]["reason"] == "disabled" and "hardware ticket 42" in skipped["ops1"]["detail"]
    assert skipped["ops2"]["detail"] == "disabled by someone else (no reason given)"
    assert skipped["ex1"]["reason"] == "excluded"
    assert skipped["down1"]["instances"] == 1
    planned = {h for b in plan["batches"] for h in b["hosts"]}
    assert planned == {"c1", "c2"}
    dests = {d for b in plan["batches"] for m in b["moves"] for d in m["to"]}
    # an excluded host that is up and enabled may receive instances; down or disabled ones never do
    assert not dests & {"down1", "ops1", "ops2"}
    assert plan["moves_per_instance"]["d"] == 0 and plan["moves_per_instance"]["o"] == 0
    assert plan["moves_per_instance"]["e"] == 0


def test_include_hosts_limits_the_campaign():
    hosts = [host("c1", [inst("a")]), host("c2"), host("c3")]
    plan = plan_ok(hosts, [], {"include_hosts": ["c1", "c2"]})
    assert {s["host"]: s["reason"] for s in plan["skipped"]} == {"c3": "not_included"}


# --------------------------------------------------------------------------
# a subset of hosts: hosts outside the selection receive instances
# --------------------------------------------------------------------------

def _rack_cloud():
    """compute1 (the one to upgrade) holds an anti-affinity member whose partner is on compute2."""
    hosts = [host("compute1", [inst("a", groups=["g"]), inst("x", vcpus=2), inst("y", mem=2048)]),
             host("compute2", [inst("b", groups=["g"])]),
             host("compute3", [inst("z")]), host("compute4")]
    return hosts, [group("g", ["a", "b"])]


@pytest.mark.parametrize("options", [
    {"include_hosts": ["compute1"]},
    {"exclude_hosts": ["compute2", "compute3", "compute4"]},
    {"include_hosts": ["compute1", "compute2"], "exclude_hosts": ["compute2"]},
])
def test_a_single_selected_host_is_drained_onto_hosts_outside_the_campaign(options):
    hosts, groups = _rack_cloud()
    plan = plan_ok(hosts, groups, options)
    assert [b["hosts"] for b in plan["batches"]] == [["compute1"]]
    moves = {m["instance"]: m for m in plan["batches"][0]["moves"]}
    assert sorted(moves) == ["a", "x", "y"]
    for move in moves.values():
        assert set(move["to"]) <= {"compute2", "compute3", "compute4"}
        assert move["outside_campaign"] is True
        assert "moves_again_in_batch" not in move
    # never next to its anti-affinity partner, not even as a fallback
    assert "compute2" not in moves["a"]["to"]
    # an outside host is never taken down: everything moves once
    assert plan["moved_more_than_once"] == []
    assert set(plan["moves_per_instance"].values()) <= {0, 1}
    assert plan["moves_per_instance"]["b"] == 0 and plan["moves_per_instance"]["z"] == 0
    assert plan["summary"]["eligible_hosts"] == 1 and plan["summary"]["skipped_hosts"] == 3
    assert any("outside the campaign" in note for note in plan["batches"][0]["notes"])
    skipped = {s["host"]: s for s in plan["skipped"]}
    assert all(s["destination"] for s in skipped.values())
    table = render_table(plan)
    assert "outside the campaign" in table
    assert "may receive instances" in table


def test_hosts_outside_the_campaign_that_are_down_or_disabled_are_never_destinations():
    hosts, groups = _rack_cloud()
    hosts[2]["state"] = "down"                                         # compute3
    hosts[3]["status"], hosts[3]["disabled_reason"] = "disabled", "ops: ticket 9"   # compute4
    hosts.append(host("compute5"))
    hosts.append(host("compute6", status="disabled", reason="escalator:other: batch 1"))
    options = {"include_hosts": ["compute1"], "exclude_hosts": ["compute3"]}
    plan = plan_ok(hosts, groups, options)
    dests = {d for b in plan["batches"] for m in b["moves"] for d in m["to"]}
    moves = {m["instance"]: m for m in plan["batches"][0]["moves"]}
    assert moves["a"]["to"] == ["compute5"]
    assert dests <= {"compute2", "compute5"}
    skipped = {s["host"]: s for s in plan["skipped"]}
    assert skipped["compute3"]["reason"] == "excluded" and skipped["compute3"]["destination"] is False
    assert skipped["compute4"]["reason"] == "not_included" and skipped["compute4"]["destination"] is False
    assert skipped["compute6"]["destination"] is False
    assert skipped["compute5"]["destination"] is True
    # without compute5 nothing can take the anti-affinity member: infeasible, and it says why
    hosts.pop(4)
    plan = plan_campaign(hosts, groups, options)
    assert not plan["feasible"] and plan["batches"] == []
    assert check_plan(hosts, groups, options, plan) == []


def test_outside_hosts_count_for_capacity_and_affinity():
    # compute2 (outside) is nearly full: only compute3 can take the big instance
    hosts = [host("compute1", [inst("big", vcpus=8), inst("p1", groups=["aff"]), inst("p2", groups=["aff"])]),
             host("compute2", [inst("fill", vcpus=12)]),
             host("compute3", [inst("p3", groups=["aff"])]),
             host("compute4", [inst("fill4", vcpus=10)])]
    groups = [group("aff", ["p1", "p2", "p3"], policy="affinity")]
    options = {"include_hosts": ["compute1"]}
    plan = plan_ok(hosts, groups, options)
    moves = {m["instance"]: m for m in plan["batches"][0]["moves"]}
    assert moves["big"]["to"][0] == "compute3"
    # the affinity pair joins the member that stays on compute3
    assert moves["p1"]["to"] == ["compute3"] and moves["p2"]["to"] == ["compute3"]
    # not enough room outside: the capacity reason counts the outside hosts' free room
    hosts[2]["capacity"]["vcpus"] = 4
    hosts[3]["capacity"]["vcpus"] = 10
    plan = plan_campaign(hosts, groups, options)
    assert not plan["feasible"]
    assert "host compute1: 10 vCPU of instances, only 7 vCPU free on hosts that stay up" in plan["reasons"]


def test_budget_counts_members_outside_the_campaign_as_up():
    # a trio with budget 1: one member per batch, members outside are running and do not count
    hosts = [host("r1", [inst("m1", groups=["g"])]), host("r2", [inst("m2", groups=["g"])]),
             host("o1", [inst("m3", groups=["g"])]), host("o2"), host("o3")]
    groups = [group("g", ["m1", "m2", "m3"])]
    options = {"include_hosts": ["r1", "r2"], "max_batch_size": 2, "canary_hosts": 0}
    plan = plan_ok(hosts, groups, options)
    assert [len(b["hosts"]) for b in plan["batches"]] == [1, 1]
    for batch in plan["batches"]:
        for move in batch["moves"]:
            assert move["to"][0] in ("o2", "o3", "r1", "r2")
            assert "o1" not in move["to"]


def test_exclude_unknown_host_is_a_warning():
    plan = plan_ok([host("c1")], [], {"exclude_hosts": ["nope"]})
    assert plan["warnings"] == ["exclude_hosts names nope, which is not a known compute host"]


def test_host_disabled_by_us_stays_eligible_goes_first_and_is_not_a_destination_before():
    hosts = [host("c1", [inst("a"), inst("b")], status="disabled", reason="escalator: campaign x batch 3"),
             host("c2"), host("c3", [inst("c")])]
    plan = plan_ok(hosts, [], {"our_disable_marker": "escalator:"})
    assert plan["batches"][0]["hosts"] == ["c1"]
    assert any("already disabled by Escalator" in n for n in plan["batches"][0]["notes"])
    assert not plan["skipped"]
    # with another marker it is someone else's
    plan = plan_ok(hosts, [], {"our_disable_marker": "other:"})
    assert [s["host"] for s in plan["skipped"]] == ["c1"]


def test_our_disabled_host_is_never_a_destination_until_upgraded():
    hosts = [host("ours", status="disabled", reason="escalator: x"), host("c1", [inst("a")]),
             host("c2", [inst("b"), inst("b2")])]
    plan = plan_ok(hosts, [], {"max_batch_size": 1, "canary_hosts": 1})
    assert plan["batches"][0]["hosts"] == ["ours"]


def test_az_max_down():
    hosts = [host("a%d" % i, [inst("ia%d" % i)], zone="az1", vcpus=64) for i in range(4)]
    hosts += [host("b%d" % i, [inst("ib%d" % i)], zone="az2", vcpus=64) for i in range(4)]
    hosts.append(host("spare", zone="az2", vcpus=64))
    plan = plan_ok(hosts, [], {"max_batch_size": 4, "az_max_down": 1})
    for batch in plan["batches"]:
        assert all(v <= 1 for v in batch["zones"].values())
    assert plan["summary"]["lower_bound"]["by_az"] == 5


# --------------------------------------------------------------------------
# modes, warnings, fingerprint, determinism, JSON, table, input errors
# --------------------------------------------------------------------------

def test_modes_and_status_warnings():
    hosts = [host("c0", [inst("run"), inst("off", status="SHUTOFF"), inst("err", status="ERROR")]), host("c1")]
    plan = plan_ok(hosts, [], {})
    modes = {m["instance"]: m["mode"] for b in plan["batches"] for m in b["moves"]}
    assert modes == {"run": "live", "off": "cold", "err": "cold"}
    assert plan["warnings"] == ["instance err on c0 is ERROR: its migration may fail"]


def test_destination_preferences_upgraded_first_and_bounded():
    hosts = [host("c%d" % i, [inst("i%d" % i)]) for i in range(6)] + [host("e1"), host("e2")]
    plan = plan_ok(hosts, [], {"max_batch_size": 1, "destinations_per_move": 3})
    assert any(len(m["to"]) == 3 for b in plan["batches"] for m in b["moves"])
    plan = plan_ok(hosts, [], {"max_batch_size": 1, "destinations_per_move": 1})
    assert all(len(m["to"]) == 1 for b in plan["batches"] for m in b["moves"])


def test_fingerprint_stable_and_sensitive():
    hosts, groups = _pair_cloud(3)
    fp = fingerprint(hosts, groups, {})
    assert fp.startswith("sha256:") and len(fp) == 71
    shuffled = list(reversed(copy.deepcopy(hosts)))
    for h in shuffled:
        h["instances"].reverse()
    assert fingerprint(shuffled, list(reversed(groups)), {}) == fp
    assert fingerprint(hosts, groups, {"campaign_id": "abc"}) == fp
    floats = copy.deepcopy(hosts)
    floats[0]["capacity"]["vcpus"] = 16.0
    assert fingerprint(floats, groups, {}) == fp
    assert fingerprint(hosts, groups, {"max_batch_size": 2}) != fp
    moved = copy.deepcopy(hosts)
    moved[1]["instances"].append(moved[0]["instances"].pop())
    assert fingerprint(moved, groups, {}) != fp
    regrouped = copy.deepcopy(groups)
    regrouped[0]["policy"] = "soft-anti-affinity"
    assert fingerprint(hosts, regrouped, {}) != fp
    assert expected_fingerprint(hosts, groups, {}) == fp


def test_plan_is_deterministic_and_independent_of_input_order():
    hosts, groups = random_cloud(random.Random(7), 12)
    one = plan_to_json(plan_campaign(hosts, groups, {"max_batch_size": 3}))
    two = plan_to_json(plan_campaign(copy.deepcopy(hosts), copy.deepcopy(groups), {"max_batch_size": 3}))
    assert one == two
    rev_hosts = list(reversed(copy.deepcopy(hosts)))
    for h in rev_hosts:
        h["instances"].reverse()
    three = plan_to_json(plan_campaign(rev_hosts, list(reversed(groups)), {"max_batch_size": 3}))
    assert three == one


def test_json_round_trip_and_format_check():
    hosts, groups = _pair_cloud(3)
    plan = plan_ok(hosts, groups, {"campaign_id": "c-1"})
    text = plan_to_json(plan)
    assert plan_from_json(text) == plan
    assert json.loads(plan_to_json(plan, indent=2)) == plan
    with pytest.raises(PlanInputError):
        plan_from_json('{"format": "other"}')


def test_render_table_feasible_and_infeasible():
    hosts, groups = _pair_cloud(3)
    plan = plan_ok(hosts, groups, {"campaign_id": "camp-7", "exclude_hosts": ["c2"]})
    table = render_table(plan)
    assert "camp-7" in table and "FEASIBLE" in table
    assert "| Batch |" in table and "spare" in table
    assert "skipped c2: listed in exclude_hosts" in table
    assert "canary" in table
    lines = table.splitlines()
    rows = [line for line in lines if line.startswith("|")]
    assert len({len(line) for line in rows}) == 1      # fixed width
    bad = plan_campaign(*_pair_cloud(4, spare=False), {"budgets": {"vnf-a": 0}})
    table = render_table(bad)
    assert "INFEASIBLE" in table and "no spare host" in table


@pytest.mark.parametrize("options, message", [
    ({"max_batch_size": 0}, "max_batch_size"),
    ({"max_batch_size": True}, "max_batch_size"),
    ({"bogus": 1}, "unknown option"),
    ({"reserve": 1.5}, "reserve"),
    ({"reserve": {"gpus": 1}}, "reserve"),
    ({"budgets": {"g": -1}}, "budget"),
    ({"exclude_hosts": [1]}, "exclude_hosts"),
    ({"prefer": "speed"}, "prefer"),
])
def test_bad_options_raise(options, message):
    with pytest.raises(PlanInputError, match=message):
        plan_campaign([host("c1")], [], options)


def test_bad_inputs_raise():
    with pytest.raises(PlanInputError, match="twice"):
        plan_campaign([host("c1"), host("c1")], [], {})
    with pytest.raises(PlanInputError, match="policy"):
        plan_campaign([host("c1")], [group("g", [], policy="cluster")], {})
    with pytest.raises(PlanInputError, match="state"):
        plan_campaign([host("c1", state="maybe")], [], {})
    with pytest.raises(PlanInputError, match="instance i is listed twice"):
        plan_campaign([host("c1", [inst("i")]), host("c2", [inst("i")])], [], {})


def test_options_normalised_with_defaults():
    opts = normalize_options({"max_batch_size": "3", "exclude_hosts": "b, a"})
    assert opts["max_batch_size"] == 3
    assert opts["exclude_hosts"] == ["a", "b"]
    assert opts["canary_hosts"] == 1 and opts["default_budget"] == 1 and opts["reserve"] == 0


# --------------------------------------------------------------------------
# randomized properties (seeded): every plan passes the independent checker
# --------------------------------------------------------------------------

POLICY_CHOICES = ("anti-affinity", "anti-affinity", "anti-affinity", "affinity", "soft-anti-affinity",
                  "soft-affinity")


def random_cloud(rnd, n_hosts, per_host=None, fill=None):
    """A random but plausible cloud: zones, skipped hosts, groups of every policy."""
    per_host = per_host if per_host is not None else rnd.randint(0, 6)
    fill = fill if fill is not None else rnd.choice((0.3, 0.5, 0.7))
    flavors = [(1, 1024, 10), (2, 2048, 20), (2, 4096, 20), (4, 8192, 40)]
    hosts = []
    counter = 0
    for h in range(n_hosts):
        cap_v = rnd.choice((16, 32))
        h_obj = host("cmp%03d" % h, [], vcpus=cap_v, mem=cap_v * 2048, disk=cap_v * 20,
                     zone="az%d" % rnd.randint(1, 3))
        budget_v = cap_v * fill
        count = rnd.randint(0, per_host)
        for dummy in range(count):
            f = rnd.choice(flavors)
            if sum(i["vcpus"] for i in h_obj["instances"]) + f[0] > budget_v:
                break
            counter += 1
            h_obj["instances"].append(inst("i%04d" % counter, *f, status=rnd.choice(("ACTIVE",) * 5 + ("SHUTOFF",))))
        roll = rnd.random()
        if roll < 0.05:
            h_obj["state"] = "down"
        elif roll < 0.1:
            h_obj["status"], h_obj["disabled_reason"] = "disabled", "ops: broken disk"
        elif roll < 0.15:
            h_obj["status"], h_obj["disabled_reason"] = "disabled", "escalator: previous run"
        hosts.append(h_obj)
    for h_obj in hosts:
        h_obj["used"] = {k: sum(i[k] for i in h_obj["instances"]) for k in ("vcpus", "memory_mb", "disk_gb")}
    groups = []
    free = [list(h_obj["instances"]) for h_obj in hosts]
    for g in range(rnd.randint(0, max(1, counter // 3))):
        policy = rnd.choice(POLICY_CHOICES)
        size = rnd.randint(2, 8)
        members = []
        if policy == "affinity":
            candidates = [k for k, lst in enumerate(free) if len(lst) >= 2]
            if not candidates:
                continue
            k = rnd.choice(candidates)
            take = min(len(free[k]), rnd.randint(2, 3))
            members = [free[k].pop() for dummy in range(take)]
        else:
            hosts_order = list(range(n_hosts))
            rnd.shuffle(hosts_order)
            for k in hosts_order:
                if len(members) >= size:
                    break
                if free[k]:
                    members.append(free[k].pop())
                    if policy.startswith("soft") and free[k] and rnd.random() < 0.3:
                        members.append(free[k].pop())
        if len(members) < 2:
            continue
        gid = "grp%03d" % g
        for m in members:
            m["server_groups"].append(gid)
        groups.append(group(gid, [m["id"] for m in members], policy=policy, name="vnf-%d" % g))
    return hosts, groups


def random_options(rnd, groups):
    options = {"max_batch_size": rnd.choice((1, 2, 3, 4, 5, "auto")), "canary_hosts": rnd.choice((0, 1, 1, 2)),
               "destinations_per_move": rnd.randint(1, 3)}
    if options["max_batch_size"] == "auto" and rnd.random() < 0.5:
        options["max_batch_percent"] = rnd.choice((10, 50, 100))
    if rnd.random() < 0.4:
        options["az_max_down"] = rnd.randint(1, 2)
    if rnd.random() < 0.3:
        options["reserve"] = rnd.choice((0.1, {"vcpus": 1}))
    if groups and rnd.random() < 0.5:
        g = rnd.choice(groups)
        options["budgets"] = {rnd.choice((g["id"], g["name"])): rnd.randint(0, 3)}
    if rnd.random() < 0.2:
        options["default_budget"] = 2
    if rnd.random() < 0.3:
        options["prefer"] = "fewer_batches"
    return options


@pytest.mark.parametrize("seed", range(150))
def test_random_plans_pass_the_checker(seed):
    rnd = random.Random(seed)
    hosts, groups = random_cloud(rnd, rnd.randint(1, 14))
    options = random_options(rnd, groups)
    names = [h["name"] for h in hosts]
    roll = rnd.random()
    if roll < 0.25:       # a rack at a time: hosts outside the selection receive instances
        options["include_hosts"] = rnd.sample(names, rnd.randint(1, len(names)))
    elif roll < 0.4:
        options["exclude_hosts"] = rnd.sample(names, rnd.randint(0, len(names)))
    plan = plan_campaign(hosts, groups, options)
    json.loads(plan_to_json(plan))
    assert check_plan(hosts, groups, options, plan) == []
    if plan["feasible"]:
        assert plan["reasons"] == []
        summary = plan["summary"]
        assert summary["batches"] >= summary["lower_bound"]["batches"]
        eligible = {h["name"] for h in hosts} - {s["host"] for s in plan["skipped"]}
        assert sorted(h for b in plan["batches"] for h in b["hosts"]) == sorted(eligible)
    else:
        assert plan["batches"] == [] and plan["reasons"]
        assert all(isinstance(r, str) and r for r in plan["reasons"])


@pytest.mark.parametrize("seed", range(20))
def test_roomy_random_clouds_are_feasible(seed):
    """With spare room and no tight budgets a plan must exist (guards against a lazy planner)."""
    rnd = random.Random(1000 + seed)
    hosts, groups = random_cloud(rnd, rnd.randint(6, 20), fill=0.3)
    for h in hosts:
        h["state"], h["status"], h["disabled_reason"] = "up", "enabled", None
    for g in groups:
        if g["policy"] == "anti-affinity":
            g["policy"] = "soft-anti-affinity"
    plan = plan_ok(hosts, groups, {"max_batch_size": 3})
    assert plan["summary"]["max_moves_per_instance"] <= 2


def test_medium_random_cloud_single_moves_after_canary():
    rnd = random.Random(42)
    hosts, groups = random_cloud(rnd, 60, per_host=8, fill=0.5)
    for h in hosts:
        h["state"], h["status"], h["disabled_reason"] = "up", "enabled", None
    plan = plan_ok(hosts, groups, {"max_batch_size": 4, "az_max_down": 2})
    canary_instances = len(plan["batches"][0]["moves"])
    assert plan["summary"]["instances_moving_more_than_once"] <= canary_instances
