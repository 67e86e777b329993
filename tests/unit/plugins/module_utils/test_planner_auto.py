# SPDX-License-Identifier: Apache-2.0
"""max_batch_size auto (the default): batches as large as budgets, room and az_max_down allow, under the cap of
max_batch_percent of the hosts (at least 2); every batch says what bound its size."""

import random

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.plan_check.rules import check_plan
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.engine import plan_campaign
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.inputs import PlanInputError
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.options import batch_size_cap, normalize_options
from ansible_collections.opnfv.escalator.plugins.module_utils.planner.render import render_table
from ansible_collections.opnfv.escalator.tests.unit.plugins.module_utils.test_planner import (
    group, host, inst, plan_ok)


def sizes(plan):
    return [len(b["hosts"]) for b in plan["batches"]]


def bounds(batch):
    return [b["by"] for b in batch["size_bound"]]


def lab_cloud(n_hosts=4):
    """The lab's seeded layout (lab/escalator_lab/cloud.py) on n hosts of 16 vCPU / 32 GB: compute1 holds both VNF
    actives, a web server and a SHUTOFF one; compute2 a standby and a database; compute3 the other standby;
    compute4 a batch server; any further host is empty. Each VNF pair is an anti-affinity group (budget 1)."""
    layout = {1: [inst("vnf-a-active", 2, 2048, 10, ["vnf-a-pair"]), inst("vnf-b-active", 2, 2048, 10, ["vnf-b-pair"]),
                  inst("tenant-web-1", 1, 512, 1), inst("tenant-stopped", 1, 512, 1, status="SHUTOFF")],
              2: [inst("vnf-a-standby", 2, 2048, 10, ["vnf-a-pair"]), inst("tenant-db-1", 2, 2048, 10)],
              3: [inst("vnf-b-standby", 2, 2048, 10, ["vnf-b-pair"])],
              4: [inst("tenant-batch-1", 1, 512, 1)]}
    hosts = [host("compute%d" % i, layout.get(i, [])) for i in range(1, n_hosts + 1)]
    groups = [group("vnf-a-pair", ["vnf-a-active", "vnf-a-standby"]),
              group("vnf-b-pair", ["vnf-b-active", "vnf-b-standby"])]
    return hosts, groups


def pair_cloud(n_hosts, per_host=4, seed=7, zones=1):
    """Hosts of 32 vCPU with per_host 2-vCPU instances (4: a quarter full), half of them in anti-affinity pairs
    (default budget 1) on two random distinct hosts; no host is empty."""
    rnd = random.Random(seed)
    slots = [[] for dummy in range(n_hosts)]
    groups = []
    count = 0
    for pair in range(n_hosts * per_host // 4):
        free = [h for h in range(n_hosts) if len(slots[h]) < per_host]
        if len(free) < 2:
            break
        gid = "pair%03d" % pair
        for h in rnd.sample(free, 2):
            count += 1
            slots[h].append(inst("i%04d" % count, 2, 4096, 20, [gid]))
        groups.append(group(gid, ["i%04d" % (count - 1), "i%04d" % count], name="vnf-%03d" % pair))
    for h in range(n_hosts):
        while len(slots[h]) < per_host:
            count += 1
            slots[h].append(inst("i%04d" % count, 2, 4096, 20))
    hosts = [host("cmp%03d" % h, slots[h], vcpus=32, mem=65536, disk=1000, zone="az%d" % (h % zones))
             for h in range(n_hosts)]
    return hosts, groups


def assert_sizes_explained(plan):
    """Every batch names what bound it; a batch below the cap that is not the last names a real limit."""
    cap = plan["summary"]["batch_size_cap"]
    batches = plan["batches"]
    for batch in batches:
        assert batch["size_bound"] and all(b["detail"] for b in batch["size_bound"]), batch
        if batch["canary"]:
            assert bounds(batch) == ["canary"]
        elif len(batch["hosts"]) == cap:
            assert bounds(batch) == ["cap"]
        elif batch is not batches[-1]:
            assert set(bounds(batch)) <= {"budget", "capacity", "az_max_down"} and bounds(batch), batch


def test_the_default_is_auto_with_a_quarter_of_the_hosts_and_at_least_two():
    opts = normalize_options({})
    assert opts["max_batch_size"] == "auto" and opts["max_batch_percent"] == 25
    assert [batch_size_cap(opts, n) for n in (1, 4, 8, 11, 12, 16, 100)] == [2, 2, 2, 2, 3, 4, 25]
    assert batch_size_cap(dict(opts, max_batch_percent=50), 8) == 4
    assert batch_size_cap(dict(opts, max_batch_size=3), 100) == 3
    assert normalize_options({"max_batch_size": " AUTO "})["max_batch_size"] == "auto"
    assert normalize_options({"max_batch_size": "3"})["max_batch_size"] == 3


@pytest.mark.parametrize("options, message", [
    ({"max_batch_size": "fast"}, "max_batch_size must be 'auto' or an integer >= 1"),
    ({"max_batch_size": 0}, "max_batch_size must be 'auto' or an integer >= 1"),
    ({"max_batch_size": 2.5}, "max_batch_size must be 'auto' or an integer >= 1"),
    ({"max_batch_percent": 0}, "max_batch_percent"),
    ({"max_batch_percent": 101}, "max_batch_percent is a percentage"),
])
def test_bad_batch_options_raise(options, message):
    with pytest.raises(PlanInputError, match=message):
        plan_campaign([host("c1")], [], options)


def test_lab_layout_of_four_hosts_by_default():
    hosts, groups = lab_cloud(4)
    plan = plan_ok(hosts, groups)
    assert [b["hosts"] for b in plan["batches"]] == [["compute4"], ["compute2", "compute3"], ["compute1"]]
    assert [bounds(b) for b in plan["batches"]] == [["canary"], ["cap"], ["last_hosts"]]
    assert plan["batches"][1]["size_bound"][0]["detail"] == "cap: 2 hosts (auto minimum)"
    assert plan["summary"]["max_moves_per_instance"] <= 2 and plan["summary"]["instances_moving_more_than_once"] == 1


def test_a_default_plan_of_eight_hosts_with_room_is_not_serial():
    hosts, groups = lab_cloud(8)
    plan = plan_ok(hosts, groups)
    assert sizes(plan) == [1, 2, 2, 2, 1]
    assert plan["summary"]["instances_moving_more_than_once"] == 0     # an empty canary, then upgraded room only
    assert plan["summary"]["lower_bound"]["by_batch_size"] == 5
    assert_sizes_explained(plan)
    assert plan["batches"][1]["size_bound"][0]["detail"] == "cap: 2 hosts (25% of 8)"


def test_an_integer_keeps_working_and_one_is_serial():
    hosts, groups = lab_cloud(8)
    serial = plan_ok(hosts, groups, {"max_batch_size": 1})
    assert sizes(serial) == [1] * 8
    assert all(bounds(b) == ["cap"] for b in serial["batches"][1:-1])
    assert serial["batches"][1]["size_bound"][0]["detail"] == "cap: max_batch_size 1"
    three = plan_ok(hosts, groups, {"max_batch_size": 3})
    assert max(sizes(three)) == 3 and three["summary"]["batch_size_cap"] == 3


@pytest.mark.parametrize("n_hosts, cap, most_batches", [(8, 2, 5), (16, 4, 6), (100, 25, 8)])
def test_synthetic_clouds_with_pairs_get_big_batches(n_hosts, cap, most_batches):
    hosts, groups = pair_cloud(n_hosts)
    plan = plan_ok(hosts, groups)
    assert plan["summary"]["batch_size_cap"] == cap
    assert max(sizes(plan)) == cap
    assert len(plan["batches"]) <= most_batches, sizes(plan)
    assert_sizes_explained(plan)
    # each VM moves at most once, but the canary's (no host is empty: they are parked, then move again)
    assert plan["summary"]["instances_moving_more_than_once"] <= len(plan["batches"][0]["moves"])
    for batch in plan["batches"]:
        assert all(use["members"] <= 1 for use in batch["budget_use"])


def test_budget_bound_names_the_group():
    hosts = [host("c%d" % i, [inst("m%d" % i, groups=["g1"])]) for i in range(4)] + [host("spare")]
    plan = plan_ok(hosts, [group("g1", ["m%d" % i for i in range(4)], name="vnf-a")])
    assert sizes(plan) == [1, 1, 1, 1, 1]
    middle = plan["batches"][1]["size_bound"]
    assert middle == [{"by": "budget", "detail": "budget of group vnf-a (1 per batch)", "groups": ["g1"]}]


def test_capacity_bound_names_the_hosts_that_did_not_fit():
    # every host 3/8 full, none empty: the upgraded canary has room for the instances of two hosts, not four
    hosts = [host("c%d" % i, [inst("i%d-%d" % (i, j), vcpus=1, mem=4096) for j in range(3)]) for i in range(16)]
    plan = plan_ok(hosts, [])
    second = plan["batches"][1]
    assert len(second["hosts"]) == 2 and plan["summary"]["batch_size_cap"] == 4
    assert bounds(second) == ["capacity"]
    assert "no room on hosts that stay up for the instances of" in second["size_bound"][0]["detail"]
    assert second["size_bound"][0]["hosts"]
    assert_sizes_explained(plan)


def test_az_max_down_bound():
    hosts = [host("c%d" % i, zone="az%d" % (i % 2)) for i in range(9)]
    plan = plan_ok(hosts, [], {"az_max_down": 1, "max_batch_percent": 50})
    assert plan["summary"]["batch_size_cap"] == 4
    assert sizes(plan) == [1, 2, 2, 2, 2]
    assert all(bounds(b) == ["az_max_down"] for b in plan["batches"][1:-1])
    assert plan["batches"][1]["size_bound"][0]["detail"].startswith("az_max_down 1 (zone az")


def test_the_table_says_what_bound_each_batch():
    hosts, groups = lab_cloud(8)
    table = render_table(plan_ok(hosts, groups, {"campaign_id": "c"}))
    assert "| Size bound by" in table
    assert "cap: 2 hosts" in table and "last hosts" in table and "canary: canary_hosts 1" in table
    assert ("batch size: at most 2 hosts per batch after the canary (max_batch_size auto: 25% of the 8 hosts, "
            "at least 2)") in table
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len({len(line) for line in rows}) == 1


def test_the_checker_holds_auto_plans_to_their_cap_and_claims():
    hosts, groups = pair_cloud(16)
    plan = plan_ok(hosts, groups)
    assert check_plan(hosts, groups, {}, plan) == []
    # the same plan is too coarse for a smaller cap: the checker reads the cap from the options itself
    found = check_plan(hosts, groups, {"max_batch_percent": 12}, plan)
    assert any("(max_batch_size auto: at most 2)" in v for v in found), found
    broken = {**plan, "batches": [dict(b) for b in plan["batches"]]}
    broken["batches"][1] = dict(broken["batches"][1], size_bound=[])
    assert any("does not say what bound its size" in v for v in check_plan(hosts, groups, {}, broken))
    short = next(b for b in broken["batches"][1:] if len(b["hosts"]) < 4)
    short["size_bound"] = [{"by": "cap", "detail": "cap: 4 hosts"}]
    assert any("says its size limit bound it" in v for v in check_plan(hosts, groups, {}, broken))
    short["size_bound"] = [{"by": "az_max_down", "detail": "az_max_down"}]
    assert any("says az_max_down bound it" in v for v in check_plan(hosts, groups, {}, broken))
    short["size_bound"] = [{"by": "budget", "detail": "budget", "groups": ["nope"]}]
    assert any("unknown server groups nope" in v for v in check_plan(hosts, groups, {}, broken))
