# SPDX-License-Identifier: Apache-2.0
"""What the cloud said, when: the timeline the packet probe names an outage's cause from.

The packet probe never decides service from it (packets do); it only asks, for a time window, which
states a server had (status, host, VNF role), whether a host was down, and which migration records cover
the window. Only changes are kept, at most ``max_changes`` per server or host (oldest dropped).
"""

import collections
import threading


class History:
    def __init__(self, max_changes=1000, max_migrations=10000):
        self.max_changes = max_changes
        self.servers = {}           # server id -> deque[(t, state dict)]
        self.hosts = {}             # host -> deque[(t, None or why it is down)]
        self.migrations = collections.OrderedDict()   # id -> record
        self.max_migrations = max_migrations
        self.lock = threading.Lock()

    def _change(self, table, key, t, value):
        changes = table.setdefault(key, collections.deque(maxlen=self.max_changes))
        if not changes or changes[-1][1] != value:
            changes.append((t, value))

    # -- observations ------------------------------------------------------------------------------------------
    def server(self, t, server_id, **state):
        """state: name, status, host, vnf, role, task_state."""
        with self.lock:
            self._change(self.servers, server_id, t, state)

    def host(self, t, host, down):
        """down: None when the host is fine, else why not."""
        with self.lock:
            self._change(self.hosts, host, t, down)

    def migration(self, record):
        """record: id, server, type, status, created, updated (epoch), source, dest."""
        with self.lock:
            self.migrations[record['id']] = record
            self.migrations.move_to_end(record['id'])
            while len(self.migrations) > self.max_migrations:
                self.migrations.popitem(last=False)

    # -- questions -----------------------------------------------------------------------------------------------
    @staticmethod
    def _during(changes, start, end):
        """The values in effect at some moment of [start, end]: the last one before start and every change in it."""
        result = []
        before = []
        for t, value in changes or ():
            if t <= start:
                before = [value]
            elif t <= end:
                result.append(value)
        return before + result

    def server_states(self, server_id, start, end):
        with self.lock:
            return [s for s in self._during(self.servers.get(server_id), start, end) if s is not None]

    def host_downs(self, host, start, end):
        """Why the host was down at some moment of [start, end] (empty: it was never seen down then)."""
        with self.lock:
            return [why for why in self._during(self.hosts.get(host), start, end) if why]

    def migrations_of(self, server_id, start, end, now):
        with self.lock:
            return [dict(m) for m in self.migrations.values() if m['server'] == server_id and m['created'] is not None
                    and m['created'] <= end and (m['updated'] or now) >= start]

    def live_migrations(self):
        with self.lock:
            return [dict(m) for m in self.migrations.values() if m['type'] == 'live-migration']

    def vnf_members(self, vnf):
        with self.lock:
            return [sid for sid, changes in self.servers.items() if any(s.get('vnf') == vnf for _t, s in changes)]

    def names(self):
        with self.lock:
            return {sid: changes[-1][1].get('name') for sid, changes in self.servers.items() if changes}
