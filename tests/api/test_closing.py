# SPDX-License-Identifier: Apache-2.0
"""escalator commit and escalator rollback --campaign (issue 14): refused before anything runs when the campaign's
state says no, and run with the playbook and variables that do the work."""
import pytest

import escalator
from escalator import api, cli, locate
from escalator.errors import InputError


@pytest.fixture
def store(tmp_path, monkeypatch):
    state_dir = tmp_path / 'state'
    monkeypatch.setenv('ESCALATOR_STATE_DIR', str(state_dir))
    monkeypatch.setenv('ESCALATOR_HOME', str(tmp_path / 'home'))
    state = locate.collection_module('state')
    campaign = state.CampaignStore('c-close', str(state_dir))
    campaign.start(run_id='run-1', plan={'batches': [['h1'], ['h2']]})
    for host in ('h1', 'h2'):
        campaign.update_host(host, state='draining', phase='maintenance')
        campaign.update_host(host, state='verifying', phase='verify')
        campaign.update_host(host, state='done', phase='notify_complete', result='ok')
    campaign.finish()
    return campaign


@pytest.fixture
def runs(monkeypatch):
    """The playbook runs asked for, instead of running them."""
    calls = []
    monkeypatch.setattr(api, 'run_playbook', lambda action, campaign_id, inventory=None, extravars=None, **options:
                        calls.append(dict(action=action, campaign_id=campaign_id, extravars=extravars, **options)))
    return calls


def test_commit_and_campaign_rollback_run_their_playbooks(store, runs):
    assert api.PLAYBOOKS['commit'] == 'commit_campaign.yml'
    escalator.commit('c-close', 'inventory')
    escalator.rollback('c-close', campaign=True)
    assert [(r['action'], r['extravars'], r.get('limit')) for r in runs] == [
        ('commit', None, None), ('rollback', {'escalator_rollback_campaign': True}, None)]
    with pytest.raises(InputError, match='either the hosts or campaign=True'):
        escalator.rollback('c-close', 'h1', campaign=True)
    with pytest.raises(InputError, match='or campaign=True for every host'):
        escalator.rollback('c-close')


def test_a_committed_campaign_cannot_be_rolled_back_or_run_again(store, runs):
    store.commit()
    for call in (lambda: escalator.rollback('c-close', campaign=True), lambda: escalator.rollback('c-close', 'h1'),
                 lambda: escalator.upgrade('c-close', 'inventory')):
        with pytest.raises(InputError, match='campaign c-close is committed .* cannot be (rolled back|run again)'):
            call()
    assert runs == []


def test_only_a_done_campaign_can_be_committed(store, runs, capsys):
    store.update_host('h2', state='failed', error_code='E_TASK', reset=True)
    store.finish()
    with pytest.raises(InputError, match='is failed, not done: it cannot be committed; a host failed'):
        escalator.commit('c-close', 'inventory')
    assert cli.main(['commit', '-c', 'c-close', '-y', '-i', __file__]) == 2
    assert 'cannot be committed' in capsys.readouterr().err
    with pytest.raises(InputError, match='has not been started'):
        escalator.commit('c-unknown', 'inventory')
    assert runs == []


def test_the_cli_takes_hosts_or_the_whole_campaign_not_both(store, runs, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(['rollback', '-c', 'c-close', '--campaign', '--hosts', 'h1', '-y', '-i', __file__])
    assert stop.value.code == 2 and 'not allowed with argument' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(['rollback', '-c', 'c-close', '-y', '-i', __file__])
