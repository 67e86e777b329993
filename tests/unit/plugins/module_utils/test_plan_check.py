# SPDX-License-Identifier: Apache-2.0
"""The independent plan checker catches every kind of broken plan (and accepts good ones)."""

import copy
import random

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign


def inst(iid, vcpus=1, mem=512, disk=1, groups=(), status="ACTIVE"):
    return {"id": iid, "name": iid, "project_id": "p", "status": status, "vcpus": vcpus, "memory_mb": mem,
            "disk_gb": disk, "server_groups": list(groups)}


def host(name, instances=(), vcpus=16, mem=32768, disk=200, zone="nova", state="up", status="enabled", reason=None):
    instances = list(instances)
    return {"name": name, "zone": zone, "aggregates": [], "state": state, "status": status,
            "disabled_reason": reason, "capacity": {"vcpus": vcpus, "memory_mb": mem, "disk_gb": disk},
            "used": {k: sum(i[k] for i in instances) for k in ("vcpus", "memory_mb", "disk_gb")},
            "instances": instances}


def group(gid, members, policy="anti-affinity"):
    return {"id": gid, "name": gid, "project_id": "p", "policy": policy, "members": list(members)}


def small_cloud():
    """Two zones, an anti-affinity trio, an affinity pair, a skipped host, room to spare."""
    hosts = [
        host("a1", [inst("m1", groups=["g"]), inst("x1", vcpus=2)], zone="z1"),
        host("a2", [inst("m2", groups=["g"]), inst("x2", status="SHUTOFF")], zone="z1"),
        host("a3", [inst("p1", groups=["aff"]), inst("p2", groups=["aff"])], zone="z1"),
        host("b1", [inst("m3", groups=["g"])], zone="z2"),
        host("b2", [inst("y1", vcpus=4)], zone="z2"),
        host("b3", zone="z2"),
        host("b4", zone="z2"),
        host("dead", [inst("d1", groups=["g2"])], zone="z2", state="down"),
    ]
    groups = [group("g", ["m1", "m2", "m3"]), group("aff", ["p1", "p2"], policy="affinity"),
              group("g2", ["d1"], policy="soft-anti-affinity")]
    options = {"max_batch_size": 3, "az_max_down": 2, "campaign_id": "t"}
    return hosts, groups, options


@pytest.fixture(name="good")
def fixture_good():
    hosts, groups, options = small_cloud()
    plan = plan_campaign(hosts, groups, options)
    assert plan["feasible"], plan["reasons"]
    assert check_plan(hosts, groups, options, plan) == []
    return hosts, groups, options, plan


def violations(good, plan):
    hosts, groups, options = good[:3]
    return check_plan(hosts, groups, options, plan)


def assert_caught(good, plan, *fragments):
    found = violations(good, plan)
    assert found, "the checker accepted a broken plan"
    for fragment in fragments:
        assert any(fragment in v for v in found), (fragment, found)


def all_moves(plan):
    return [(b, m) for b in plan["batches"] for m in b["moves"]]


# --------------------------------------------------------------------------
# hand-made breakages
# --------------------------------------------------------------------------

def test_host_left_out(good):
    plan = copy.deepcopy(good[3])
    last = plan["batches"][-1]
    gone = last["hosts"].pop()
    last["moves"] = [m for m in last["moves"] if m["from"] != gone]
    assert_caught(good, plan, "eligible host %s is in no batch" % gone)


def test_host_twice(good):
    plan = copy.deepcopy(good[3])
    plan["batches"][-1]["hosts"].append(plan["batches"][0]["hosts"][0])
    assert_caught(good, plan, "is in batch 1 and batch")


def test_skipped_host_planned_and_used_as_destination(good):
    plan = copy.deepcopy(good[3])
    plan["batches"][-1]["hosts"].append("dead")
    move = all_moves(plan)[0][1]
    move["to"] = ["dead"] + move["to"]
    assert_caught(good, plan, "host dead is skipped (down) but planned", "sent to skipped host dead")


def test_skipped_report_must_match(good):
    plan = copy.deepcopy(good[3])
    plan["skipped"] = []
    assert_caught(good, plan, "host dead: skipped as None in the plan, expected 'down'")


def test_anti_affinity_destination(good):
    plan = copy.deepcopy(good[3])
    # send the first moving member of g onto the host where another member sits at that time
    hosts = good[0]
    where = {i["id"]: h["name"] for h in hosts for i in h["instances"]}
    for batch in plan["batches"]:
        in_batch = set(batch["hosts"])
        for move in batch["moves"]:
            if move["instance"] in ("m1", "m2", "m3"):
                sibling = next(where[m] for m in ("m1", "m2", "m3")
                               if m != move["instance"] and where[m] not in in_batch)
                move["to"] = [sibling]
                assert_caught(good, plan, "joins another member of anti-affinity group g")
                return
            where[move["instance"]] = move["to"][0]
        for move in batch["moves"]:
            where[move["instance"]] = move["to"][0]
    pytest.fail("no member of g moves")


def test_budget_exceeded_by_merging_member_hosts(good):
    plan = copy.deepcopy(good[3])
    member_batches = [b for b in plan["batches"] if set(b["hosts"]) & {"a1", "a2", "b1"}]
    first, second = member_batches[0], member_batches[1]
    moved_host = next(h for h in second["hosts"] if h in ("a1", "a2", "b1"))
    second["hosts"].remove(moved_host)
    first["hosts"].append(moved_host)
    moved = [m for m in second["moves"] if m["from"] == moved_host]
    second["moves"] = [m for m in second["moves"] if m["from"] != moved_host]
    first["moves"].extend(moved)
    assert_caught(good, plan, "group g loses 2 members (budget 1 allows 1)")


def test_capacity_exceeded():
    hosts = [host("e"), host("c1", [inst("a%d" % i, vcpus=4) for i in range(3)]),
             host("c2", [inst("b%d" % i, vcpus=4) for i in range(3)])]
    plan = plan_campaign(hosts, [], {})
    assert check_plan(hosts, [], {}, plan) == []
    assert [b["hosts"] for b in plan["batches"]] == [["e"], ["c1"], ["c2"]]
    for move in plan["batches"][2]["moves"]:
        move["to"] = ["e"]
    found = check_plan(hosts, [], {}, plan)
    assert any("host e is over capacity" in v for v in found), found


def test_destination_in_same_batch(good):
    plan = copy.deepcopy(good[3])
    batch = next(b for b in plan["batches"] if len(b["hosts"]) > 1 and b["moves"])
    move = batch["moves"][0]
    other = next(h for h in batch["hosts"] if h != move["from"])
    move["to"] = [other]
    assert_caught(good, plan, "which is in the same batch")


def test_instance_left_behind_and_extra_move(good):
    plan = copy.deepcopy(good[3])
    batch = next(b for b in plan["batches"] if b["moves"])
    dropped = batch["moves"].pop()
    assert_caught(good, plan, "instances left on hosts in maintenance: %s" % dropped["instance"])
    plan = copy.deepcopy(good[3])
    batch = next(b for b in plan["batches"] if b["moves"])
    batch["moves"].append(dict(batch["moves"][0]))
    assert_caught(good, plan, "moves instances twice")


def test_canary_must_come_first(good):
    plan = copy.deepcopy(good[3])
    plan["batches"][0], plan["batches"][1] = plan["batches"][1], plan["batches"][0]
    for pos, batch in enumerate(plan["batches"], 1):
        batch["batch"] = pos
    assert_caught(good, plan, "batch 1 is not marked as the canary", "batch 2 is marked canary")


def test_batch_too_big_and_zone_limit(good):
    hosts, groups, options, plan = good
    plan = copy.deepcopy(plan)
    merged = plan["batches"][1]
    for batch in plan["batches"][2:]:
        merged["hosts"].extend(batch["hosts"])
        merged["moves"].extend(batch["moves"])
    del plan["batches"][2:]
    found = check_plan(hosts, groups, options, plan)
    assert any("(max_batch_size 3)" in v for v in found), found
    assert any("az_max_down 2" in v for v in found), found


def test_figures_must_match_the_batches(good):
    plan = copy.deepcopy(good[3])
    plan["moves_per_instance"]["x1"] = 7
    assert_caught(good, plan, "instance x1: the plan says 7 moves, the batches make 1")
    plan = copy.deepcopy(good[3])
    plan["summary"]["batches"] += 1
    assert_caught(good, plan, "summary batches is")
    plan = copy.deepcopy(good[3])
    plan["summary"]["lower_bound"]["by_budget"] = 1
    assert_caught(good, plan, "summary lower_bound.by_budget is 1, expected 3")
    plan = copy.deepcopy(good[3])
    plan["moved_more_than_once"].append({"instance": "x1", "moves": 2, "why": "?"})
    assert_caught(good, plan, "moved_more_than_once lists")


def test_stale_inputs_fail_the_fingerprint(good):
    hosts, groups, options, plan = good
    hosts = copy.deepcopy(hosts)
    hosts[4]["instances"].append(inst("late"))
    found = check_plan(hosts, groups, options, plan)
    assert any("fingerprint" in v for v in found)
    assert any("instances left on hosts in maintenance: late" in v for v in found)
    found = check_plan(good[0], groups, dict(options, max_batch_size=2), plan)
    assert any("fingerprint" in v for v in found)


def test_mode_and_preference_order(good):
    plan = copy.deepcopy(good[3])
    move = next(m for dummy, m in all_moves(plan) if m["instance"] == "x2")
    assert move["mode"] == "cold"
    move["mode"] = "live"
    assert_caught(good, plan, "instance x2 has mode 'live', expected 'cold'")
    plan = copy.deepcopy(good[3])
    upgraded = set()
    for batch in plan["batches"]:
        pend = [h for h in ("a1", "a2", "a3", "b1", "b2", "b3", "b4")
                if h not in upgraded and h not in batch["hosts"]]
        if upgraded and pend and batch["moves"]:
            move = batch["moves"][0]
            move["to"] = [pend[0]] + [t for t in move["to"] if t != pend[0]]
            break
        upgraded |= set(batch["hosts"])
    found = violations(good, plan)
    assert any("not-yet-upgraded destination listed before an upgraded one" in v for v in found) or \
        any("should say it moves again" in v for v in found), found


def test_affinity_split(good):
    plan = copy.deepcopy(good[3])
    batch = next(b for b in plan["batches"] if "a3" in b["hosts"])
    p1 = next(m for m in batch["moves"] if m["instance"] == "p1")
    p2 = next(m for m in batch["moves"] if m["instance"] == "p2")
    assert p1["to"][0] == p2["to"][0]
    candidates = [h for h in ("a1", "a2", "b1", "b2", "b3", "b4")
                  if h not in batch["hosts"] and h != p1["to"][0]]
    p2["to"] = [candidates[0]]
    assert_caught(good, plan, "affinity group aff split across")


def test_infeasible_plan_must_not_have_batches(good):
    plan = copy.deepcopy(good[3])
    plan["feasible"] = False
    assert_caught(good, plan, "an infeasible plan lists", "an infeasible plan gives no reason")
    plan = copy.deepcopy(good[3])
    plan["reasons"] = ["nonsense"]
    assert_caught(good, plan, "a feasible plan lists reasons")


def test_not_a_plan():
    assert check_plan([], [], {}, "nope") == ["the plan is not a mapping"]


def test_parked_instance_must_say_when_it_moves_again():
    hosts = [host("c1", [inst("a")]), host("c2", [inst("b"), inst("c")])]
    plan = plan_campaign(hosts, [], {})
    assert check_plan(hosts, [], {}, plan) == []
    move = plan["batches"][0]["moves"][0]
    assert move["moves_again_in_batch"] == 2
    move["moves_again_in_batch"] = 5
    found = check_plan(hosts, [], {}, plan)
    assert any("should say it moves again in batch 2" in v for v in found), found


def test_our_disabled_host_is_not_a_destination_before_its_upgrade():
    hosts = [host("ours", status="disabled", reason="escalator: x"), host("c1", [inst("a")]),
             host("c2", [inst("b")])]
    options = {"canary_hosts": 1}
    plan = plan_campaign(hosts, [], options)
    assert check_plan(hosts, [], options, plan) == []
    bad = copy.deepcopy(plan)
    bad["batches"].reverse()
    for pos, batch in enumerate(bad["batches"], 1):
        batch["batch"] = pos
    found = check_plan(hosts, [], options, bad)
    assert found


def test_fallback_without_room_is_caught():
    hosts = [host("c1", [inst("a", vcpus=8)], vcpus=8), host("c2", vcpus=8), host("c3", [inst("b", vcpus=8)], vcpus=8)]
    options = {"destinations_per_move": 2}
    plan = plan_campaign(hosts, [], options)
    assert check_plan(hosts, [], options, plan) == []
    for batch in plan["batches"]:
        for move in batch["moves"]:
            if move["instance"] == "a":
                move["to"] = move["to"][:1] + ["c3"]
    found = check_plan(hosts, [], options, plan)
    assert any("fallback c3 of instance a has no room" in v for v in found), found


def _subset_cloud():
    """compute1 alone is upgraded; compute2 holds its anti-affinity partner; compute5 is down, compute6 disabled."""
    hosts = [host("compute1", [inst("a", groups=["g"]), inst("x")]), host("compute2", [inst("b", groups=["g"])]),
             host("compute3"), host("compute4"), host("compute5", state="down"),
             host("compute6", status="disabled", reason="ops: ticket 9")]
    return hosts, [group("g", ["a", "b"])]


@pytest.mark.parametrize("options", [{"include_hosts": ["compute1"]},
                                     {"exclude_hosts": ["compute2", "compute3", "compute4", "compute5", "compute6"]}])
def test_destinations_outside_the_campaign(options):
    hosts, groups = _subset_cloud()
    plan = plan_campaign(hosts, groups, options)
    assert plan["feasible"], plan["reasons"]
    assert check_plan(hosts, groups, options, plan) == []
    moves = {m["instance"]: m for m in plan["batches"][0]["moves"]}
    assert moves["a"]["to"][0] in ("compute3", "compute4")

    for dest, why in (("compute5", "down"), ("compute6", "disabled")):
        bad = copy.deepcopy(plan)
        bad["batches"][0]["moves"][0]["to"] = [dest]
        found = check_plan(hosts, groups, options, bad)
        assert any("sent to skipped host %s" % dest in v and why in v for v in found), found

    # the anti-affinity partner's host is outside and up, but holds a member
    bad = copy.deepcopy(plan)
    for move in bad["batches"][0]["moves"]:
        if move["instance"] == "a":
            move["to"] = ["compute2"]
    found = check_plan(hosts, groups, options, bad)
    assert any("joins another member of anti-affinity group g on compute2" in v for v in found), found

    # the marker must say when the planned destination is outside the campaign
    bad = copy.deepcopy(plan)
    del bad["batches"][0]["moves"][0]["outside_campaign"]
    found = check_plan(hosts, groups, options, bad)
    assert any("outside the campaign" in v for v in found), found
    bad = copy.deepcopy(plan)
    bad["batches"][0]["moves"][0]["moves_again_in_batch"] = 2
    assert check_plan(hosts, groups, options, bad)

    # the skipped report says which outside hosts receive instances
    bad = copy.deepcopy(plan)
    for entry in bad["skipped"]:
        entry["destination"] = not entry["destination"]
    found = check_plan(hosts, groups, options, bad)
    assert len([v for v in found if "destination" in v]) == 5, found


def test_an_excluded_host_that_is_down_is_not_a_destination():
    hosts, groups = _subset_cloud()
    options = {"exclude_hosts": ["compute5"], "include_hosts": ["compute1", "compute5"]}
    plan = plan_campaign(hosts, groups, options)
    assert plan["feasible"], plan["reasons"]
    assert check_plan(hosts, groups, options, plan) == []
    plan["batches"][0]["moves"][0]["to"] = ["compute5"]
    found = check_plan(hosts, groups, options, plan)
    assert any("sent to skipped host compute5 (excluded, and down)" in v for v in found), found


def test_a_member_on_an_excluded_down_host_uses_up_the_budget():
    # compute5 is excluded and down: its member is unavailable, so a budget of 2 leaves 1 per batch
    hosts, dummy = _subset_cloud()
    hosts[0]["instances"].append(inst("c", groups=["g3"]))
    hosts[1]["instances"].append(inst("d", groups=["g3"]))
    hosts[4]["instances"].append(inst("e", groups=["g3"]))
    groups = [group("g3", ["c", "d", "e"])]
    options = {"exclude_hosts": ["compute5"], "budgets": {"g3": 2}, "max_batch_size": 2, "canary_hosts": 0}
    plan = plan_campaign(hosts, groups, options)
    assert plan["feasible"], plan["reasons"]
    assert check_plan(hosts, groups, options, plan) == []
    assert plan["summary"]["lower_bound"]["by_budget"] == 2
    merged = copy.deepcopy(plan)
    merged["batches"] = [dict(merged["batches"][0], moves=[m for b in plan["batches"] for m in b["moves"]],
                              hosts=sorted(h for b in plan["batches"] for h in b["hosts"]))]
    found = check_plan(hosts, groups, options, merged)
    assert any("group g3 loses 2 members (budget 2 allows 1)" in v for v in found), found


# --------------------------------------------------------------------------
# randomized: random plans are valid; random mutations are caught
# --------------------------------------------------------------------------

def _random_cloud(rnd, n_hosts):
    hosts = []
    counter = 0
    for h in range(n_hosts):
        instances = []
        for dummy in range(rnd.randint(0, 4)):
            counter += 1
            instances.append(inst("i%03d" % counter, vcpus=rnd.choice((1, 2, 4)),
                                  status=rnd.choice(("ACTIVE", "ACTIVE", "SHUTOFF"))))
        hosts.append(host("h%02d" % h, instances, vcpus=16, zone="z%d" % rnd.randint(1, 2)))
    everyone = [i for h in hosts for i in h["instances"]]
    rnd.shuffle(everyone)
    groups = []
    pos = 0
    while pos + 2 <= len(everyone) and len(groups) < 4:
        size = rnd.randint(2, 3)
        chosen, used_hosts = [], set()
        for cand in everyone[pos:pos + size * 2]:
            owner = next(h["name"] for h in hosts if cand in h["instances"])
            if owner not in used_hosts and len(chosen) < size:
                chosen.append(cand)
                used_hosts.add(owner)
        pos += size * 2
        if len(chosen) >= 2:
            gid = "g%d" % len(groups)
            for member in chosen:
                member["server_groups"].append(gid)
            groups.append(group(gid, [m["id"] for m in chosen]))
    return hosts, groups


def _mutations(plan, rnd):
    """Yield (name, mutated plan) pairs, each a deliberate breakage."""
    batches = plan["batches"]
    movers = [(b, m) for b in batches for m in b["moves"]]

    def clone():
        return copy.deepcopy(plan)

    p = clone()
    p["batches"][-1]["hosts"].pop()
    yield "drop host", p
    if len(batches) > 1:
        p = clone()
        p["batches"][-1]["hosts"].append(p["batches"][0]["hosts"][0])
        yield "duplicate host", p
        p = clone()
        p["batches"][0]["canary"], p["batches"][1]["canary"] = p["batches"][1]["canary"], p["batches"][0]["canary"]
        yield "canary flag moved", p
    if movers:
        k = rnd.randrange(len(movers))
        p = clone()
        flat = [(b, m) for b in p["batches"] for m in b["moves"]]
        batch, move = flat[k]
        batch["moves"].remove(move)
        yield "drop move", p
        p = clone()
        flat = [(b, m) for b in p["batches"] for m in b["moves"]]
        batch, move = flat[k]
        move["to"] = [batch["hosts"][0]]
        yield "destination in batch", p
        p = clone()
        flat = [(b, m) for b in p["batches"] for m in b["moves"]]
        flat[k][1]["to"] = ["no-such-host"]
        yield "unknown destination", p
        p = clone()
        iid = movers[k][1]["instance"]
        p["moves_per_instance"][iid] += 1
        yield "wrong move count", p
        p = clone()
        flat = [(b, m) for b in p["batches"] for m in b["moves"]]
        flat[k][1]["mode"] = "teleport"
        yield "wrong mode", p
    p = clone()
    p["fingerprint"] = "sha256:" + "0" * 64
    yield "fingerprint", p
    p = clone()
    p["summary"]["batches"] = len(batches) + 1
    yield "summary", p
    p = clone()
    del p["batches"][rnd.randrange(len(batches))]["size_bound"]
    yield "no size bound", p


@pytest.mark.parametrize("seed", range(40))
def test_random_mutations_are_caught(seed):
    rnd = random.Random(seed)
    while True:  # draw clouds from this seed until one has a plan to break (infeasible ones have none)
        hosts, groups = _random_cloud(rnd, rnd.randint(3, 9))
        options = {"max_batch_size": rnd.choice((1, 2, 3, "auto")), "az_max_down": rnd.choice((None, 1, 2))}
        plan = plan_campaign(hosts, groups, options)
        assert check_plan(hosts, groups, options, plan) == []
        if plan["feasible"]:
            break
    count = 0
    for name, broken in _mutations(plan, rnd):
        assert check_plan(hosts, groups, options, broken), name
        count += 1
    assert count >= 3


def test_random_clouds_are_mostly_feasible():
    """Keeps the mutation test honest: most of its clouds must give a plan to break."""
    feasible = 0
    for seed in range(40):
        rnd = random.Random(seed)
        hosts, groups = _random_cloud(rnd, rnd.randint(3, 9))
        options = {"max_batch_size": rnd.choice((1, 2, 3, "auto")), "az_max_down": rnd.choice((None, 1, 2))}
        feasible += plan_campaign(hosts, groups, options)["feasible"]
    assert feasible >= 30
