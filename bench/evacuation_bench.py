# SPDX-License-Identifier: Apache-2.0
"""Evacuation of one host: Escalator's migration engine (evacuation.evacuate, what compute_evacuate runs) at
max_concurrent 1, 2, 4 against `nova host-evacuate-live` (the scheduler picks the destinations).

For each size N (1, 4, 16 by default) and each method: N m1.tiny servers are booted on the source host (the
lab's last host, emptied of its seeded servers first), the host is disabled, the clock starts, the method
runs, the clock stops when the host is empty and every migration record of those servers is finished (the bench
polls every second for host-evacuate-live; Escalator's engine waits by itself, polling every 2 s as the module
does). The servers are deleted and the host enabled again after each run.
"""
import subprocess
import time

from bench import labkit
from bench.common import BenchError, iso, spread, utcnow
from ansible_collections.opnfv.escalator.plugins.module_utils.evacuation.run import evacuate  # noqa: E402

DEFAULT_SIZES = (1, 4, 16)
DEFAULT_CONCURRENCY = (1, 2, 4)
FLAVOR = 'm1.tiny'
IMAGE = 'lab-image'
PREFIX = 'bench-evac'
REASON = 'escalator:bench-evacuation: evacuation benchmark'
TIMEOUT = 900


def _wait(predicate, timeout, what, interval=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchError('timed out after %ss waiting for %s' % (timeout, what))


def bench_servers(conn):
    return [s for s in conn.compute.servers(all_projects=True, details=True) if (s.name or '').startswith(PREFIX)]


def confirm_resizes(conn, servers):
    for server in servers:
        if server.status == 'VERIFY_RESIZE':
            conn.compute.confirm_server_resize(server)


def empty_host(conn, host, log=print):
    """Move the servers off `host` (the scheduler picks where) so the runs start with exactly N servers on it."""
    moved = []
    for server in labkit.servers_on(conn, host):
        if server.status == 'ACTIVE':
            conn.compute.live_migrate_server(server, host=None, block_migration='auto')
        else:
            conn.compute.migrate_server(server)
        moved.append(server.name)

    def done():
        servers = list(conn.compute.servers(all_projects=True, details=True))
        confirm_resizes(conn, servers)
        return not [s for s in servers if s.compute_host == host] and \
            not [s for s in servers if s.status not in ('ACTIVE', 'SHUTOFF')]
    _wait(done, 300, 'the seeded servers to leave %s' % host, 2)
    if moved:
        log('evacuation: moved %s off %s first' % (', '.join(moved), host))


def delete_bench_servers(conn):
    servers = bench_servers(conn)
    for server in servers:
        conn.compute.delete_server(server)
    _wait(lambda: not bench_servers(conn), 300, 'the bench servers to be deleted')


def boot(conn, host, count, tag):
    """`count` ACTIVE m1.tiny servers on `host` (one request, pinned with the 2.74 host parameter)."""
    flavor = conn.compute.find_flavor(FLAVOR, ignore_missing=False)
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    for _attempt in range(3):
        conn.compute.create_server(name='%s-%s' % (PREFIX, tag), flavor_id=flavor.id, image_id=image.id,
                                   networks='none', host=host, min_count=count, max_count=count)

        def settled():
            servers = bench_servers(conn)
            if len(servers) == count and all(s.status in ('ACTIVE', 'ERROR') for s in servers):
                return servers
            return None
        servers = _wait(settled, 300, '%d bench servers to boot on %s' % (count, host))
        if all(s.status == 'ACTIVE' and s.compute_host == host for s in servers):
            return servers
        delete_bench_servers(conn)   # the scheduler's view lagged (NoValidHost): boot again
        time.sleep(5)
    raise BenchError('could not boot %d servers on %s' % (count, host))


def run_escalator(conn, host, max_concurrent):
    result = evacuate(conn, host, {'max_concurrent': max_concurrent, 'poll_interval': 2.0})
    return {'moved': len(result['moved']), 'engine_duration_s': result['duration']}


def run_host_evacuate_live(conn, host, ids, env):
    proc = subprocess.run(['nova', 'host-evacuate-live', '--strict', host], env=labkit.nova_cli_env(env),
                          capture_output=True, text=True, timeout=300, check=False)
    accepted = proc.stdout.count('| True ')

    def finished():
        servers = [s for s in bench_servers(conn) if s.id in ids]
        if any(s.compute_host == host or s.status != 'ACTIVE' or s.task_state for s in servers):
            return False
        records = [m for m in conn.compute.migrations(source_compute=host) if m.server_id in ids]
        return all(m.status in labkit.DONE_STATES + ('error', 'failed', 'cancelled') for m in records)
    _wait(finished, TIMEOUT, 'host-evacuate-live of %s' % host)
    return {'moved': accepted, 'cli_rc': proc.returncode}


def run_once(conn, env, host, count, method, log=print):
    boot(conn, host, count, '%d-%s' % (count, method))
    ids = {s.id for s in bench_servers(conn)}
    service = labkit.compute_services(conn)[host]
    conn.compute.disable_service(service, disabled_reason=REASON)
    since = iso(utcnow())
    start = time.time()
    try:
        if method == 'host-evacuate-live':
            extra = run_host_evacuate_live(conn, host, ids, env)
        else:
            extra = run_escalator(conn, host, int(method.split('=')[1]))
        wall = time.time() - start
    finally:
        conn.compute.enable_service(labkit.compute_services(conn)[host])
    records = [r for r in labkit.migrations_since(conn, since, ids) if (r['created'] or 0) >= start - 1]
    figures = labkit.migration_figures(records, ids)
    left = [s.name for s in labkit.servers_on(conn, host) if s.id in ids]
    destinations = sorted({r['dest'] for r in records if r['status'] in labkit.DONE_STATES})
    delete_bench_servers(conn)
    result = {'instances': count, 'method': method, 'wall_s': round(wall, 1), 'migrations': figures,
              'destinations': destinations, 'left_on_host': left, 'ok': not left and figures['errors'] == 0}
    result.update(extra)
    log('evacuation: %2d instances, %-18s %6.1fs, %d migrations (%d errors) to %s%s' % (
        count, method, wall, figures['total'], figures['errors'], ','.join(destinations),
        '' if result['ok'] else ' FAILED: left %s' % left))
    return result


def run(env, conn, sizes=DEFAULT_SIZES, concurrency=DEFAULT_CONCURRENCY, baseline=True, log=print,
        reset_first=True):
    """Every size with every method; `lab reset` first (unless the caller just left the lab in a known state)
    and always at the end."""
    if reset_first:
        labkit.lab('reset', timeout=900)
    hosts = sorted(labkit.compute_services(conn))
    host = hosts[-1]
    delete_bench_servers(conn)
    empty_host(conn, host, log=log)
    methods = ['escalator max_concurrent=%d' % c for c in concurrency] + (['host-evacuate-live'] if baseline else [])
    runs = []
    try:
        for count in sizes:
            for method in methods:
                runs.append(run_once(conn, env, host, count, method, log=log))
    finally:
        try:
            delete_bench_servers(conn)
        finally:
            labkit.lab('reset', timeout=900)
    table = {}
    for item in runs:
        table.setdefault(str(item['instances']), {})[item['method']] = {
            'wall_s': item['wall_s'], 'migrations': item['migrations']['total'], 'ok': item['ok'],
            'per_instance_s': round(item['wall_s'] / item['instances'], 2)}
    return {'source_host': host, 'flavor': FLAVOR, 'sizes': list(sizes), 'methods': methods, 'table': table,
            'runs': runs, 'wall_s_all': spread([r['wall_s'] for r in runs])}
