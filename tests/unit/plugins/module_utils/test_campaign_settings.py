# SPDX-License-Identifier: Apache-2.0
"""Every campaign setting is checked before anything is touched (issue 11, items 7, 13, 14)."""
import os

import pytest
import yaml

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_settings as cs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ROLES = ('backup', 'precheck', 'rollback', 'upgrade', 'verify')


@pytest.fixture(scope='module')
def role_specs():
    specs = {}
    for role in ROLES:
        with open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
            specs[role] = yaml.safe_load(handle)
    return specs


def inventory(**hosts):
    return {name: dict(address=entry.get('address', name), port=entry.get('port', 22),
                       settings=entry.get('settings', {})) for name, entry in hosts.items()}


LAB = dict(compute1=dict(address='10.213.0.11'), compute2=dict(address='10.213.0.12'))


def test_good_settings_pass(role_specs):
    settings = dict(escalator_campaign_id='2026-11-kernel', escalator_max_batch_size='2', escalator_budgets={'g': 1},
                    escalator_hosts=['compute1'], escalator_confirm='false', escalator_cloud={'auth': {}},
                    escalator_upgrade_method='packages', escalator_evacuate_live_failure='cold')
    assert cs.check(settings, inventory(**LAB), role_specs) == []


def test_a_misspelt_setting_is_refused_with_the_closest_name(role_specs):
    problems = cs.check(dict(escalator_max_batch_sise=3, escalator_budget={'g': 0}), inventory(**LAB), role_specs)
    assert 'unknown setting escalator_max_batch_sise (did you mean escalator_max_batch_size?)' in problems
    assert 'unknown setting escalator_budget (did you mean escalator_budgets?)' in problems


def test_a_role_option_with_a_bad_value_is_refused_before_the_campaign(role_specs):
    problems = cs.check({}, inventory(compute1=dict(settings=dict(escalator_upgrade_method='teleport'))), role_specs)
    assert len(problems) == 1
    assert 'escalator_upgrade_method' in problems[0] and 'teleport' in problems[0]
    assert problems[0].endswith('(host compute1)')


def test_wrong_types_and_ranges_are_each_named(role_specs):
    problems = cs.check(dict(escalator_max_batch_size='abc', escalator_canary_hosts=-1, escalator_vnfm_listen_port=70000,
                             escalator_campaign_id='bad id!'), inventory(**LAB), role_specs)
    text = '\n'.join(problems)
    assert 'escalator_max_batch_size' in text and 'abc' in text
    assert 'escalator_canary_hosts must be >= 0' in text
    assert 'escalator_vnfm_listen_port must be <= 65535' in text
    assert "campaign_id 'bad id!' is not valid" in text
    assert len(problems) == 4


def test_an_empty_host_selection_is_refused(role_specs):
    assert cs.check(dict(escalator_hosts=[]), inventory(**LAB), role_specs) == [
        'escalator_hosts is empty: it selects nothing (leave it out to select every host)']


def test_the_playbooks_own_variables_cannot_be_set(role_specs):
    problems = cs.check(dict(escalator_done_hosts=['compute1']), inventory(**LAB), role_specs)
    assert problems and 'set by the playbook itself' in problems[0]


def test_an_empty_inventory_is_refused(role_specs):
    assert any('the inventory has no hosts' in p for p in cs.check({}, {}, role_specs))


def test_two_entries_for_one_machine_or_one_nova_host_are_refused(role_specs):
    problems = cs.check({}, inventory(compute1=dict(address='10.0.0.1'), cmp1=dict(address='10.0.0.1'),
                                      compute2=dict(address='10.0.0.2'), COMPUTE2=dict(address='10.0.0.3')),
                        role_specs)
    assert any('cmp1 and compute1 reach the same machine (10.0.0.1, port 22)' in p for p in problems)
    assert any('COMPUTE2 and compute2 name the same Nova host' in p for p in problems)
    # another port on one address is another machine (a lab of containers, a jump host)
    assert cs.check({}, inventory(a=dict(address='10.0.0.1', port=2201), b=dict(address='10.0.0.1', port=2202)),
                    role_specs) == []


def test_vnfm_entries_are_checked_with_the_vnfm_validation(role_specs):
    seen = []

    def vnfm_check(entries):
        seen.append(entries)
        return ['entry 1 (project vnf-a): url has no scheme']

    problems = cs.check(dict(escalator_vnfm=[{'project': 'vnf-a', 'url': 'vnfm:80'}]), inventory(**LAB), role_specs,
                        vnfm_check=vnfm_check)
    assert problems == ['escalator_vnfm: entry 1 (project vnf-a): url has no scheme']
    assert seen[0] == [{'project': 'vnf-a', 'url': 'vnfm:80'}]


def test_the_same_problem_on_every_host_is_reported_once(role_specs):
    hosts = {name: dict(settings=dict(escalator_verify_canary='maybe')) for name in ('c1', 'c2', 'c3')}
    problems = cs.check({}, inventory(**hosts), role_specs)
    assert len(problems) == 1 and problems[0].endswith('(hosts c1, c2, c3)')


def test_every_documented_setting_of_the_example_inventory_is_known(role_specs):
    with open(os.path.join(ROOT, 'inventories', 'example', 'group_vars', 'all.yml'), encoding='utf-8') as handle:
        example = yaml.safe_load(handle)
    problems = [p for p in cs.check(example, inventory(**LAB), role_specs) if 'unknown setting' in p]
    assert problems == []


def test_the_batch_size_is_auto_or_an_integer_and_its_cap_a_percentage(role_specs):
    for good in ('auto', 'AUTO', 4, '4'):
        assert cs.check(dict(escalator_max_batch_size=good, escalator_max_batch_percent=25), inventory(**LAB),
                        role_specs) == [], good
    for bad, message in (('fast', "escalator_max_batch_size must be 'auto' or an integer >= 1, got 'fast'"),
                         (True, "escalator_max_batch_size must be 'auto' or an integer >= 1, got True"),
                         (0, 'escalator_max_batch_size must be >= 1, got 0')):
        assert cs.check(dict(escalator_max_batch_size=bad), inventory(**LAB), role_specs) == [message], bad
    assert cs.check(dict(escalator_max_batch_percent=0), inventory(**LAB), role_specs) == [
        'escalator_max_batch_percent must be >= 1, got 0']
    assert cs.check(dict(escalator_max_batch_percent=101), inventory(**LAB), role_specs) == [
        'escalator_max_batch_percent must be <= 100, got 101']


def test_every_setting_of_the_example_inventory_passes(role_specs):
    with open(os.path.join(ROOT, 'inventories', 'example', 'group_vars', 'all.yml'), encoding='utf-8') as handle:
        example = yaml.safe_load(handle)
    settings = {name: value for name, value in example.items() if name.startswith(cs.PREFIX)}
    assert settings['escalator_max_batch_size'] == 'auto' and settings['escalator_max_batch_percent'] == 25
    assert cs.check(settings, inventory(**LAB), role_specs) == []


def test_the_metrics_settings_are_known(role_specs):
    """escalator_metrics_* (docs/metrics.md) are read by the status callback; the settings check must not refuse
    them as unknown (it did before metrics_settings joined the spec)."""
    settings = dict(escalator_campaign_id='c1', escalator_metrics_pushgateway_url='http://127.0.0.1:9091',
                    escalator_metrics_textfile='/var/lib/node_exporter/escalator.prom')
    assert cs.check(settings, inventory(**LAB), role_specs) == []
