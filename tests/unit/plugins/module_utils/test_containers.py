# SPDX-License-Identifier: Apache-2.0
"""The containers method's core (plugins/module_utils/containers/) against a fake podman/systemctl host."""

from __future__ import annotations

import json

import pytest

from ansible_collections.opnfv.escalator.plugins.module_utils.containers import (
    engine as engines, operations, record, recreate, spec)
from ansible_collections.opnfv.escalator.plugins.module_utils.errors import EscalatorError
from ansible_collections.opnfv.escalator.tests.unit.fake_podman import REGISTRY, FakeContainerHost

LIBVIRT = '10.213.0.1:5000/escalator-lab/nova-libvirt'
IDS = dict(campaign_id='c1', run_id='c1', host='compute4', timestamp='2026-12-03T16:00:00Z')


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def __call__(self):
        return self.now


@pytest.fixture
def lab():
    fake = FakeContainerHost()
    for repo in (REGISTRY, LIBVIRT):
        fake.publish(repo, '1.0')
        fake.publish(repo, '2.0')
    fake.add_container('nova_compute', REGISTRY, '1.0', unit='container-nova_compute.service')
    fake.add_container('nova_libvirt', LIBVIRT, '1.0')
    return fake


def host_of(fake):
    clock = Clock()
    return operations.Host(engines.Engine('podman', fake.run, '/usr/bin/podman'), engines.Systemd(fake.run),
                           health_timeout=20, settle=1, sleep=clock.sleep, clock=clock)


def targets(tag='2.0', **extra):
    return spec.targets([dict(name='nova_compute', image=REGISTRY, tag=tag, unit='container-nova_compute.service',
                              **extra), dict(name='nova_libvirt', image=LIBVIRT, tag=tag)])


def failure(call, *args, **kwargs):
    with pytest.raises(EscalatorError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_the_input_is_refused_with_every_problem():
    problems = spec.problems([dict(name='nova_compute', image=REGISTRY + ':2.0'), dict(name='nova_compute', image='x',
                                                                                       tag='2.0', digest='sha256:12')],
                             engine='lxc')
    text = ' '.join(problems)
    for words in ('podman or docker', 'without tag or digest', 'give a tag, a digest', 'listed twice',
                  'sha256:<64'):
        assert words in text
    assert spec.problems([], 'podman') and failure(spec.targets, [], 'podman').code == 'E_INVALID_INPUT'


def test_upgrade_pulls_everything_first_then_recreates_each_container_in_order_on_the_pinned_digest(lab):
    result = operations.upgrade(host_of(lab), targets())
    assert result['changed'] is True
    verbs = [call[1] if call[0] != 'systemctl' else 'systemctl ' + call[1] for call in lab.calls]
    assert verbs.index('pull') < verbs.index('systemctl stop') and verbs.count('pull') == 2
    assert verbs[verbs.index('systemctl stop'):verbs.index('systemctl start') + 1] == [
        'systemctl stop', 'stop', 'rm', 'create', 'systemctl start']
    new = lab.registry[REGISTRY + ':2.0']
    container = lab.containers['nova_compute']
    assert container['Image'] == new['Id'] and container['ImageName'] == new['RepoDigests'][0]
    argv = container['Config']['CreateCommand']
    assert argv[:2] == ['/usr/bin/podman', 'create'] and '-d' not in argv
    assert argv[argv.index('--env=KOLLA_CONFIG_STRATEGY=COPY_ALWAYS') + 1] == new['RepoDigests'][0]
    assert lab.containers['nova_libvirt']['ImageName'].startswith(LIBVIRT + '@sha256:')
    assert [step['action'] for step in result['containers']] == ['recreate', 'recreate']
    again = operations.upgrade(host_of(lab), targets())
    assert again['changed'] is False and [step['action'] for step in again['containers']] == ['none', 'none']


def test_check_mode_pulls_stops_and_creates_nothing_and_says_it_would_change(lab):
    result = operations.upgrade(host_of(lab), targets(), check_mode=True)
    assert result['changed'] is True and not lab.stops()
    assert not [call for call in lab.calls if call[1] in ('pull', 'create')]
    assert 'nova_compute: %s:1.0' % REGISTRY in result['diff']['before']


@pytest.mark.parametrize('case, code', [('unknown container', 'E_CONTAINER_NOT_FOUND'),
                                        ('unknown tag', 'E_IMAGE_NOT_FOUND'),
                                        ('registry down', 'E_REGISTRY'),
                                        ('digest mismatch', 'E_IMAGE_DIGEST')])
def test_bad_input_fails_with_its_code_and_a_hint_before_anything_stops(lab, case, code):
    given = targets()
    if case == 'unknown container':
        given = spec.targets([dict(name='nova_compte', image=REGISTRY, tag='2.0')])
    elif case == 'unknown tag':
        given = targets(tag='9.9')
    elif case == 'registry down':
        lab.registry_down = True
    else:
        given = spec.targets([dict(name='nova_compute', image=REGISTRY, tag='2.0', digest='sha256:' + '0' * 64)])
    error = failure(operations.upgrade, host_of(lab), given)
    assert error.code == code and error.details['hint'] and not lab.stops()
    assert lab.containers['nova_compute']['State']['Running'] is True


@pytest.mark.parametrize('fault', ['broken', 'crashing'])
def test_a_container_that_does_not_come_back_healthy_stops_the_sequence(lab, fault):
    getattr(lab, fault).add(lab.registry[REGISTRY + ':2.0']['Id'])
    error = failure(operations.upgrade, host_of(lab), targets())
    assert error.code == 'E_CONTAINER_UNHEALTHY' and 'nova_compute' in error.msg
    assert lab.containers['nova_libvirt']['ImageName'] == LIBVIRT + ':1.0'    # the next one was not touched


def test_backup_then_rollback_recreates_the_backed_up_digests_from_the_recorded_configuration(lab, tmp_path):
    host = host_of(lab)
    old = lab.containers['nova_compute']['Image']
    saved = operations.backup(host, targets(), str(tmp_path), IDS)
    assert saved['changed'] and saved['containers'][0]['image_id'] == old
    data = record.read(str(tmp_path), 'c1', 'c1', 'compute4')
    assert data['containers'][0]['inspect']['Config']['CreateCommand'][1] == 'run'
    operations.upgrade(host, targets())
    del lab.containers['nova_libvirt']               # an upgrade that stopped between remove and create
    back = operations.rollback(host, data)
    assert back['changed'] and lab.containers['nova_compute']['Image'] == old
    assert lab.containers['nova_libvirt']['State']['Running'] is True
    assert lab.containers['nova_compute']['ImageName'] == '%s@%s' % (REGISTRY, data['containers'][0]['digest'])
    check = operations.verify(host, spec.targets(back['targets']))
    assert check['problems'] == []
    assert operations.rollback(host, data)['changed'] is False


def test_the_backup_record_is_never_overwritten_once_the_manifest_exists(lab, tmp_path):
    host = host_of(lab)
    operations.backup(host, targets(), str(tmp_path), IDS)
    (tmp_path / 'manifest.json').write_text('{}')
    operations.upgrade(host, targets())
    assert operations.backup(host, targets(), str(tmp_path), IDS)['changed'] is False
    assert json.loads((tmp_path / 'containers.json').read_text())['containers'][0]['reference'].endswith(':1.0')
    assert failure(record.read, str(tmp_path), 'c1', 'other-run', 'compute4').code == 'E_INVALID_INPUT'


def test_rollback_without_the_old_image_fails_before_anything_stops(lab, tmp_path):
    host = host_of(lab)
    operations.backup(host, spec.targets([dict(name='nova_libvirt', image=LIBVIRT, tag='2.0')]), str(tmp_path), IDS)
    data = record.read(str(tmp_path), 'c1', 'c1', 'compute4')
    data['containers'][0]['digest'] = None
    lab.images.pop(data['containers'][0]['image_id'])
    assert failure(operations.rollback, host, data).code == 'E_IMAGE_NOT_FOUND' and not lab.stops()


def test_verify_names_a_container_on_the_wrong_image_or_not_running(lab):
    host = host_of(lab)
    lab.local(REGISTRY, '2.0')
    problems = operations.verify(host, targets(tag='2.0')[:1])['problems']
    assert [problem['code'] for problem in problems] == ['E_IMAGE_DIGEST'] and 'not its target' in problems[0]['msg']
    lab.containers['nova_compute']['State']['Running'] = False
    problems = operations.verify(host, targets(tag='1.0')[:1])['problems']
    assert [problem['code'] for problem in problems] == ['E_CONTAINER_UNHEALTHY']


def test_podman_create_command_keeps_every_option_and_replaces_only_the_image():
    inspect = dict(Name='nova_compute', ImageName='registry/kolla/nova-compute:1.0', Config=dict(CreateCommand=[
        'podman', '--log-level=info', 'run', '-dt', '--name', 'nova_compute', '-v', '/run:/run:shared', '--privileged',
        '-e', 'registry/kolla/nova-compute:1.0', '--net=host', 'registry/kolla/nova-compute:1.0', 'kolla_start',
        '--flag']))
    argv = recreate.podman_argv(inspect, 'registry/kolla/nova-compute@sha256:ab', '/usr/bin/podman')
    assert argv == ['/usr/bin/podman', '--log-level=info', 'create', '-t', '--name', 'nova_compute', '-v',
                    '/run:/run:shared', '--privileged', '-e', 'registry/kolla/nova-compute:1.0', '--net=host',
                    'registry/kolla/nova-compute@sha256:ab', 'kolla_start', '--flag']
    bad = dict(Name='x', ImageName='a/b:1', Config=dict(CreateCommand=['podman', 'run', '--unknown-bool', 'a/b:1']))
    assert failure(recreate.podman_argv, bad, 'a/b@sha256:0').code == 'E_CONTAINER_ENGINE'
    assert failure(recreate.podman_argv, dict(Name='x', Config={}), 'a/b@sha256:0').code == 'E_CONTAINER_ENGINE'


def test_docker_create_arguments_are_rebuilt_from_inspect_where_they_differ_from_the_image():
    image = dict(Config=dict(Env=['PATH=/usr/bin'], Labels={'build': '1'}, User='nova', Cmd=['kolla_start'],
                             Entrypoint=['dumb-init', '--single-child', '--'], Volumes={'/var/lib/nova': {}}))
    inspect = dict(Name='/nova_compute', Config=dict(
        Env=['PATH=/usr/bin', 'KOLLA_SERVICE_NAME=nova-compute'], Labels={'build': '1', 'kolla_version': '18'},
        User='nova', Cmd=['kolla_start'], Entrypoint=['dumb-init', '--single-child', '--'],
        Volumes={'/var/lib/nova': {}, '/scratch': {}}),
        HostConfig=dict(Binds=['/etc/kolla/nova-compute/:/var/lib/kolla/config_files/:ro', 'nova_compute:/var/lib/nova'],
                        NetworkMode='host', PidMode='host', IpcMode='private', Privileged=True,
                        RestartPolicy=dict(Name='unless-stopped', MaximumRetryCount=0)))
    argv = recreate.docker_argv(inspect, image, 'kolla/nova-compute@sha256:ab')
    assert argv == ['docker', 'create', '--name', 'nova_compute',
                    '--volume', '/etc/kolla/nova-compute/:/var/lib/kolla/config_files/:ro',
                    '--volume', 'nova_compute:/var/lib/nova', '--volume', '/scratch', '--network', 'host',
                    '--pid', 'host', '--privileged', '--env', 'KOLLA_SERVICE_NAME=nova-compute',
                    '--label', 'kolla_version=18', '--restart', 'unless-stopped', 'kolla/nova-compute@sha256:ab']
    inspect['Config'].update(Entrypoint=['/bin/sh', '-c'], Cmd=['sleep 1'], User='root')
    argv = recreate.docker_argv(inspect, image, 'img@sha256:ab')
    assert argv[-5:] == ['--entrypoint', '/bin/sh', 'img@sha256:ab', '-c', 'sleep 1'] and '--user' in argv


def test_docker_upgrade_uses_the_rebuilt_arguments(lab):
    lab.engine = 'docker'
    host = operations.Host(engines.Engine('docker', lab.run, '/usr/bin/docker'), engines.Systemd(lab.run),
                           health_timeout=5, settle=0, sleep=lambda seconds: None, clock=Clock())
    operations.upgrade(host, targets()[1:])
    argv = lab.containers['nova_libvirt']['Config']['CreateCommand']
    assert argv[:4] == ['/usr/bin/docker', 'create', '--name', 'nova_libvirt'] and '--privileged' in argv


def test_pull_failures_are_told_apart():
    def answer(stderr):
        return engines.Engine('podman', lambda argv: (125, '', stderr))
    assert failure(answer('Error: initializing source: dial tcp: lookup reg: no such host').pull, 'reg/x:1').code \
        == 'E_REGISTRY'
    assert failure(answer('Error: reading manifest 9 in reg/x: manifest unknown').pull, 'reg/x:9').code \
        == 'E_IMAGE_NOT_FOUND'
