# SPDX-License-Identifier: Apache-2.0
"""The campaign_settings module: every problem at once, E_INVALID_INPUT, and no secret of the settings in its
result (the settings carry a dict cloud, VNFM tokens and webhook passwords)."""
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.opnfv.escalator.plugins.modules import campaign_settings

SECRETS = ('cloud-pw-4711', 'vnfm-token-0815', 'hook-pw-1234', 'host-vnfm-pw-42')


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            campaign_settings.main()
    return json.loads(capsys.readouterr().out)


def settings(**extra):
    base = dict(escalator_campaign_id='c1',
                escalator_cloud=dict(auth=dict(auth_url='https://keystone:5000/v3', username='admin',
                                               password=SECRETS[0])),
                escalator_vnfm=[dict(project='vnf-a', url='https://vnfm.example.com/m', token=SECRETS[1])],
                escalator_alert_webhook='https://ops:%s@hooks.example.com/escalator' % SECRETS[2])
    base.update(extra)
    return base


def inventory():
    return dict(compute1=dict(address='10.0.0.1', port=22, settings=dict(
        escalator_vnfm=[dict(project='vnf-b', url='https://vnfm-b.example.com/m', username='u', password=SECRETS[3])])))


def test_good_settings_pass_and_no_secret_is_returned(capsys):
    result = run(capsys, settings=settings(), inventory=inventory())
    assert not result.get('failed'), result
    assert not [s for s in SECRETS if s in json.dumps(result)], json.dumps(result)


def test_every_problem_at_once_and_no_secret_in_the_failure(capsys):
    result = run(capsys, settings=settings(escalator_max_batch_sise=2, escalator_max_batch_size='abc'),
                 inventory=inventory())
    assert result['failed'] and result['error_code'] == 'E_INVALID_INPUT'
    assert len(result['problems']) == 2 and 'escalator_max_batch_sise' in result['msg']
    assert not [s for s in SECRETS if s in json.dumps(result)], json.dumps(result)
