# SPDX-License-Identifier: Apache-2.0
"""build_environment: what ansible-playbook's environment (recorded by ansible-runner in artifacts/<run>/command)
carries when secrets come in. No playbook is run here."""
import os

import pytest

from escalator import api

CLOUD = {'auth': {'auth_url': 'http://k/v3', 'username': 'u', 'password': 'dict-password-4801'},
         'region_name': 'r1'}


def test_task_arguments_are_never_displayed(tmp_path):
    env, _warnings = api.build_environment({'ANSIBLE_DISPLAY_ARGS_TO_STDOUT': 'True', 'PATH': '/bin'},
                                           str(tmp_path), '/c', '/s')
    assert env['ANSIBLE_DISPLAY_ARGS_TO_STDOUT'] == 'False'
    env, _warnings = api.build_environment({'PATH': '/bin'}, str(tmp_path / 'x'), '/c', '/s')
    assert env['ANSIBLE_DISPLAY_ARGS_TO_STDOUT'] == 'False'


def test_a_cloud_dict_wins_over_os_variables(tmp_path):
    """escalator_cloud as a dict: the OS_* secrets are dropped (no clouds.yaml is written) and no OS_CLOUD is set
    (openstacksdk would look that cloud up instead of using the dict, and fail)."""
    env, warnings = api.build_environment(
        {'OS_PASSWORD': 'env-password-4802', 'OS_TOKEN': 'env-token-4803', 'OS_CLOUD': 'elsewhere', 'PATH': '/bin'},
        str(tmp_path), '/c', '/s', cloud=CLOUD)
    assert not any(k.startswith('OS_') and k != 'OS_CLIENT_CONFIG_FILE' for k in env), sorted(env)
    assert os.listdir(tmp_path) == []
    assert warnings == ['OS_PASSWORD, OS_TOKEN ignored: the cloud given as a dict (escalator_cloud) is used']
    assert 'dict-password-4801' not in repr(env)
    # without secrets in the environment, a stray OS_CLOUD goes too, and clouds_yaml is still passed by path
    env, warnings = api.build_environment({'OS_CLOUD': 'elsewhere', 'PATH': '/bin'}, str(tmp_path), '/c', '/s',
                                          cloud=CLOUD, clouds_yaml='/etc/openstack/clouds.yaml')
    assert 'OS_CLOUD' not in env and env['OS_CLIENT_CONFIG_FILE'] == '/etc/openstack/clouds.yaml' and warnings == []


def test_a_named_cloud_is_still_exported(tmp_path):
    env, warnings = api.build_environment({'OS_PASSWORD': 'pw', 'PATH': '/bin'}, str(tmp_path), '/c', '/s',
                                          cloud='mine')
    assert env['OS_CLOUD'] == 'mine' and 'OS_PASSWORD' not in env and 'OS_PASSWORD' in warnings[0]


class _Stop(Exception):
    pass


def test_run_playbook_hands_an_escalator_cloud_dict_to_build_environment(tmp_path, monkeypatch):
    seen = {}

    def recording(environ, workdir, collections_path, state_dir, cloud=None, clouds_yaml=None):
        seen['cloud'] = cloud
        raise _Stop()       # nothing is run

    monkeypatch.setattr(api, 'build_environment', recording)
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text('all: {}\n')
    project = tmp_path / 'project'
    project.mkdir()
    (project / 'plan.yml').write_text('[]\n')
    with pytest.raises(_Stop):
        api.run_playbook('plan', 'c-dict', str(inventory), {'escalator_cloud': CLOUD}, project_dir=str(project),
                         state_dir=str(tmp_path / 'state'), private_data_dir=str(tmp_path / 'pdd'),
                         environ={'PATH': '/bin', 'OS_PASSWORD': 'pw'})
    assert seen['cloud'] == CLOUD
    with pytest.raises(_Stop):
        api.run_playbook('plan', 'c-name', str(inventory), {'escalator_cloud': CLOUD}, cloud='mine',
                         project_dir=str(project), state_dir=str(tmp_path / 'state'),
                         private_data_dir=str(tmp_path / 'pdd'), environ={'PATH': '/bin'})
    assert seen['cloud'] == 'mine'
