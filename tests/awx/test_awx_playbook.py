# SPDX-License-Identifier: Apache-2.0
"""playbooks/awx_upgrade_compute.yml, the playbook the AWX job template launches: lint, and its launch checks
run for real (no cloud needed: they stop the job before anything talks to OpenStack, or the job gets as far
as authenticating against a closed local port)."""
import pytest

from ansible_collections.opnfv.escalator.tests.awx.helpers import ansible_env, path, run, tool

PLAYBOOK = 'awx_upgrade_compute.yml'
UNREACHABLE_CLOUD = 'clouds:\n  devstack:\n    auth: {auth_url: "http://127.0.0.1:9/v3", username: u, password: p, project_name: x}\n'
SLICE_OF_THE_TEMPLATE = ('{"awx_job_launch_type": "workflow", "awx_workflow_job_name": "Escalator | upgrade compute hosts",'
                         ' "awx_job_template_name": "Escalator | upgrade compute hosts"}')


def test_lint_clean():
    result = run([tool('ansible-lint'), '--offline', path('playbooks', PLAYBOOK), path('execution-environment.yml'),
                  path('meta', 'execution-environment.yml'), path('awx')])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def launch(tmp_path):
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text(UNREACHABLE_CLOUD)
    (tmp_path / 'state').mkdir()
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text('all:\n  children:\n    compute:\n      hosts:\n        cmp-1: {}\n')

    def go(*extra, state_dir=str(tmp_path / 'state' / 'campaigns')):
        args = [tool('ansible-playbook'), '-i', str(inventory), PLAYBOOK, '-e', 'escalator_campaign_id=awx-test',
                '-e', 'escalator_state_dir=%s' % state_dir]
        for item in extra:
            args += ['-e', item]
        # as in the EE: the status callback on (it records into the state directory as soon as a task ends)
        env = ansible_env(OS_CLIENT_CONFIG_FILE=str(clouds), ANSIBLE_CALLBACKS_ENABLED='opnfv.escalator.campaign_status')
        env.pop('ESCALATOR_STATE_DIR', None)
        result = run(args, cwd=path('playbooks'), env=env, timeout=300)
        return result.returncode, result.stdout + result.stderr
    return go


def test_refuses_a_slice_of_a_sliced_job(launch):
    rc, out = launch('escalator_cloud=devstack', SLICE_OF_THE_TEMPLATE)
    assert rc != 0
    assert 'one slice of a sliced job template' in out
    assert 'Plan the campaign' not in out


def test_refuses_the_confirmation_prompt(launch):
    rc, out = launch('escalator_cloud=devstack', 'escalator_confirm=true')
    assert rc != 0
    assert 'cannot answer the confirmation' in out


def test_refuses_a_cloud_the_credential_does_not_have(launch):
    rc, out = launch('escalator_cloud=mycloud')
    assert rc != 0
    assert "names its cloud 'devstack'" in out


def test_refuses_an_ephemeral_state_dir(launch, tmp_path):
    rc, out = launch('escalator_cloud=devstack', state_dir=str(tmp_path / 'not-mounted' / 'campaigns'))
    assert rc != 0
    assert 'cannot be resumed' in out
    rc, out = launch('escalator_cloud=devstack', 'escalator_awx_ephemeral_state=true',
                     state_dir=str(tmp_path / 'not-mounted' / 'campaigns'))
    assert 'PLAY [Escalator | plan a campaign]' in out


@pytest.mark.parametrize('dry_run, play', [
    (None, 'Escalator | plan a campaign'),             # the default only plans
    ('true', 'Escalator | plan a campaign'),
    ('false', 'Escalator | plan, confirm and lock the campaign'),
])
def test_a_clean_launch_reaches_the_cloud(launch, dry_run, play):
    extra = ['escalator_cloud=devstack', '{"awx_job_launch_type": "workflow", "awx_workflow_job_name": "nightly",'
             ' "awx_job_template_name": "Escalator | upgrade compute hosts"}']
    if dry_run is not None:
        extra.append('escalator_dry_run=%s' % dry_run)
    rc, out = launch(*extra)
    assert 'PLAY [%s]' % play in out, out
    # it got as far as the first OpenStack call, against the closed port of the fake credential
    assert rc != 0 and '127.0.0.1:9' in out
