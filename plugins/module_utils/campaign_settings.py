# SPDX-License-Identifier: Apache-2.0
"""Every campaign setting, checked before anything is touched.

An ``escalator_*`` variable that is misspelt (``escalator_budget`` for
``escalator_budgets``) silently falls back to its default, and a bad value (an
unknown upgrade method, a malformed VNFM URL) used to be found only once the
canary host was disabled and emptied.  ``check()`` reads every ``escalator_*``
variable the controller and the inventory's hosts see, and refuses, with every
reason at once:

* a name that is neither a campaign setting (``CAMPAIGN_SPEC``, below) nor an
  option of one of the roles (their ``meta/argument_specs.yml``, handed in by the
  playbook), with the closest known name;
* a name the playbooks set themselves (``PLAYBOOK_OWNED``): an extra variable
  would override it;
* a value of the wrong type or out of range, per the spec;
* the VNFM entries, through ``vnfm``'s own validation;
* an inventory with no hosts, and two inventory entries that reach the same
  machine (same address and port) or name the same Nova host (Nova's host names
  compare without case).

Pure logic on plain data: the module ``campaign_settings`` adapts it to Ansible.
"""

from __future__ import annotations

import difflib

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.opnfv.escalator.plugins.module_utils import campaign_id as campaign_ids
from ansible_collections.opnfv.escalator.plugins.module_utils.containers import spec as containers_spec
from ansible_collections.opnfv.escalator.plugins.module_utils.control.settings import CONTROL_SPEC
from ansible_collections.opnfv.escalator.plugins.module_utils.metrics_settings import METRICS_SPEC

PREFIX = 'escalator_'

# The campaign-level settings: what the playbooks read (the roles' options come from their argument specs).
# ``minimum`` is checked after the type; the modules that receive a value keep their own checks and defaults.
CAMPAIGN_SPEC = {
    'escalator_campaign_id': dict(type='str'),
    'escalator_cloud': dict(type='raw'),
    'escalator_clouds_yaml': dict(type='str'),
    'escalator_confirm': dict(type='bool'),
    'escalator_state_dir': dict(type='str'),
    'escalator_alert_webhook': dict(type='str'),
    'escalator_max_failed_hosts': dict(type='int', minimum=0),
    'escalator_maintenance_reason': dict(type='str'),
    'escalator_hosts': dict(type='list', elements='str', nonempty=True),
    'escalator_exclude_hosts': dict(type='list', elements='str'),
    # 'auto' (the default: batches as large as budgets, room and az_max_down allow) or an integer >= 1
    'escalator_max_batch_size': dict(type='raw', minimum=1, words=('auto',)),
    'escalator_max_batch_percent': dict(type='int', minimum=1, maximum=100),
    'escalator_canary_hosts': dict(type='int', minimum=0),
    'escalator_default_budget': dict(type='int', minimum=0),
    'escalator_budgets': dict(type='dict'),
    'escalator_az_max_down': dict(type='int', minimum=1),
    'escalator_reserve': dict(type='raw'),
    'escalator_unhealthy_instances': dict(type='str', choices=['stop', 'skip_host']),
    'escalator_plan_fingerprint': dict(type='str'),
    'escalator_plan_file': dict(type='str'),
    'escalator_precheck': dict(type='bool'),
    'escalator_vnfm': dict(type='list', elements='dict'),
    'escalator_vnfm_reply_timeout': dict(type='int', minimum=0),
    'escalator_vnfm_listen_address': dict(type='str'),
    'escalator_vnfm_listen_port': dict(type='int', minimum=0, maximum=65535),
    'escalator_vnfm_reply_base_url': dict(type='str'),
    'escalator_vnfm_listen_tls_cert': dict(type='str'),
    'escalator_vnfm_listen_tls_key': dict(type='str'),
    'escalator_vnfm_unmanaged_action': dict(type='str', choices=['live', 'cold']),
    'escalator_evacuate_max_concurrent': dict(type='int', minimum=1),
    'escalator_migration_timeout': dict(type='int', minimum=1),
    'escalator_evacuate_timeout': dict(type='int', minimum=1),
    'escalator_evacuate_live_failure': dict(type='str', choices=['cold', 'fail']),
    'escalator_evacuate_scheduler_retries': dict(type='int', minimum=0),
    'escalator_evacuate_scheduler_retry_delay': dict(type='int', minimum=0),
    # AWX launch (playbooks/awx_upgrade_compute.yml)
    'escalator_dry_run': dict(type='bool'),
    'escalator_awx_ephemeral_state': dict(type='bool'),
}
# campaign control (windows, pause, alerts): control/settings.py
CAMPAIGN_SPEC.update(CONTROL_SPEC)
# the campaign's metrics (Pushgateway, textfile): metrics_settings.py
CAMPAIGN_SPEC.update(METRICS_SPEC)

# Set by the playbooks while they run; a user's value (an extra variable outranks set_fact) would take over the
# campaign's own bookkeeping, for example escalator_done_hosts would skip hosts.
PLAYBOOK_OWNED = frozenset((
    'escalator_run', 'escalator_plan', 'escalator_done_hosts', 'escalator_serial', 'escalator_previous',
    'escalator_new_plan', 'escalator_host', 'escalator_so_far', 'escalator_upgrade_started',
    'escalator_rolled_back', 'escalator_maintenance', 'escalator_vnfm_reply', 'escalator_evacuation',
    'escalator_final', 'escalator_confirmation', 'escalator_released', 'escalator_vnfm_complete',
    'escalator_record_phases', 'escalator_lock', 'escalator_failed_this_run', 'escalator_rollback_hosts',
    'escalator_rollback_plan', 'escalator_rollback_started', 'escalator_drain_plan',
))
# Set by the AWX launch play before the campaign's own plays (facts of localhost by then).
AWX_OWNED = frozenset(('escalator_awx_clouds', 'escalator_awx_state'))

_EXTRA_KEYS = ('minimum', 'maximum', 'nonempty', 'words')


def role_options(role_specs):
    """The options of every role's ``main`` entry point, as one argument spec: ``{name: spec}``.

    ``role_specs`` maps a role name to the content of its ``meta/argument_specs.yml``. ``required`` and
    ``default`` are dropped: here only the values a user gave are checked (the role fills in the rest).
    """
    options = {}
    for role in sorted(role_specs or {}):
        spec = ((role_specs[role] or {}).get('argument_specs') or {}).get('main') or {}
        for name, option in (spec.get('options') or {}).items():
            options[name] = _given_only(option)
    return options


def _given_only(option):
    option = {k: v for k, v in dict(option).items() if k not in ('required', 'default', 'description')}
    if isinstance(option.get('options'), dict):
        option['options'] = {k: _given_only(v) for k, v in option['options'].items()}
    return option


def _closest(name, known):
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return ' (did you mean %s?)' % match[0] if match else ''


def _extra_checks(name, spec, value):
    if value is None:
        return None
    if spec.get('nonempty') and not value:
        return '%s is empty: it selects nothing (leave it out to select every host)' % name
    if 'words' in spec:
        value = _word_or_int(name, spec, value)
        if isinstance(value, str):
            return value
    if not isinstance(value, int) or isinstance(value, bool):
        pass    # a bounded setting of the wrong type: Ansible's validation said so already
    elif 'minimum' in spec and value < spec['minimum']:
        return '%s must be >= %d, got %r' % (name, spec['minimum'], value)
    elif 'maximum' in spec and value > spec['maximum']:
        return '%s must be <= %d, got %r' % (name, spec['maximum'], value)
    if name == 'escalator_campaign_id':
        return campaign_ids.problem(value)
    return None


def _word_or_int(name, spec, value):
    """A setting that takes a word (max_batch_size: auto) or an integer: the integer, None for a word, or the
    problem as a sentence."""
    if isinstance(value, str) and value.strip().lower() in spec['words']:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return '%s must be %s or an integer >= %d, got %r' % (
            name, ' or '.join("'%s'" % word for word in spec['words']), spec['minimum'], value)
    return value


def _check_values(given, spec):
    """Problems with the ``given`` values under ``spec`` (Ansible's own argument spec validation)."""
    plain = {name: {k: v for k, v in option.items() if k not in _EXTRA_KEYS} for name, option in spec.items()}
    values = {name: value for name, value in given.items() if name in plain}
    result = ArgumentSpecValidator(plain).validate(values)
    problems = [str(error) for error in result.errors]
    for name in sorted(values):
        if name in result.validated_parameters:
            problem = _extra_checks(name, spec[name], result.validated_parameters[name])
            if problem:
                problems.append(problem)
    return problems


def _unknown_names(names, known):
    problems = []
    for name in sorted(names):
        if name in PLAYBOOK_OWNED:
            problems.append('%s is set by the playbook itself; do not set it (a value given here would take over '
                            "the campaign's own bookkeeping)" % name)
        elif name not in known and name not in AWX_OWNED:
            problems.append('unknown setting %s%s' % (name, _closest(name, sorted(known))))
    return problems


def _duplicates(inventory):
    problems = []
    by_address, by_name = {}, {}
    for name in sorted(inventory):
        entry = inventory[name] or {}
        address = (str(entry.get('address') or name).lower(), str(entry.get('port') or 22))
        by_address.setdefault(address, []).append(name)
        by_name.setdefault(name.lower(), []).append(name)
    for (address, port), names in sorted(by_address.items()):
        if len(names) > 1:
            problems.append('inventory hosts %s reach the same machine (%s, port %s): one machine would be upgraded '
                            'as two hosts; keep one entry' % (' and '.join(names), address, port))
    for names in sorted(by_name.values()):
        if len(names) > 1:
            problems.append('inventory hosts %s name the same Nova host (Nova compares host names without case); '
                            'keep one entry' % ' and '.join(names))
    return problems


def _method_problems(given):
    """Rules across the upgrade method's fields that no argument spec can say: the containers method needs its
    containers, each with a tag or a digest (containers/spec.py, the check the host-side module makes too)."""
    if given.get('escalator_upgrade_method') != 'containers':
        return []
    return containers_spec.problems(given.get('escalator_upgrade_containers') or [],
                                    given.get('escalator_upgrade_container_engine') or 'podman')


def check(settings, inventory, role_specs=None, vnfm_check=None):
    """Every problem with the campaign's settings, as sentences (empty: all is well).

    ``settings``: the ``escalator_*`` variables the controller sees (extra variables, group_vars/all).
    ``inventory``: ``{host: {"address", "port", "settings"}}`` for every inventory host, ``settings`` being
    that host's ``escalator_*`` variables. ``role_specs``: ``{role: argument_specs.yml content}``.
    ``vnfm_check``: called with the VNFM entries, returns a list of problems (vnfm's validation).
    """
    spec = dict(CAMPAIGN_SPEC)
    spec.update(role_options(role_specs))
    known = set(spec)
    problems = []
    if not inventory:
        problems.append('the inventory has no hosts: check -i (an inventory file with a YAML error is skipped by '
                        'Ansible with only a warning)')
    problems.extend(_duplicates(inventory or {}))

    # the same value usually reaches every host (group_vars/all, extra variables): report each problem once
    seen = {}
    scopes = [('the controller', settings or {})]
    scopes += [('host %s' % host, (inventory[host] or {}).get('settings') or {}) for host in sorted(inventory or {})]
    for scope, given in scopes:
        given = {name: value for name, value in given.items() if name.startswith(PREFIX)}
        found = _unknown_names(given, known) + _check_values(given, spec)
        # per host only: its method and containers may come from the controller's scope (group_vars/all, extra
        # variables) or its own groups (the containers of a group of hosts)
        if scope != 'the controller':
            found += _method_problems(dict(settings or {}, **given))
        if vnfm_check is not None and given.get('escalator_vnfm'):
            found += ['escalator_vnfm: %s' % problem for problem in vnfm_check(given['escalator_vnfm'])]
        for problem in found:
            seen.setdefault(problem, []).append(scope)
    for problem, where in seen.items():
        hosts = [scope for scope in where if scope != 'the controller']
        if len(hosts) == len(where) and hosts:
            problem += ' (%s)' % (hosts[0] if len(hosts) == 1 else 'hosts %s' % ', '.join(
                scope.split(' ', 1)[1] for scope in hosts))
        problems.append(problem)
    return problems
