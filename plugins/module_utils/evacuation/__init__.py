# SPDX-License-Identifier: Apache-2.0
"""Empty a compute host: the migration engine behind ``compute_evacuate``.

Plain Python on an openstacksdk connection (or the unit tests' FakeCloud); every wait takes
injectable ``clock``/``sleep``. One concept a file:

* ``options``    ``normalize_options(options) -> dict``: validate and fill defaults (E_INVALID_INPUT)
* ``preflight``  ``plan_evacuation(conn, host, options) -> dict``: read-only, what moves how and where
* ``run``        ``evacuate(conn, host, options, clock, sleep, check_mode) -> dict``: move everything
  off; raises ``EscalatorError`` whose details carry the same per-instance report as the success result
* ``engine``     the run over the tasks: concurrency, adopted migrations, the overall timeout
* ``tasks``      one instance's task and its state machine (request, watch, retry, fall back, time out)
* ``server_tags`` a server's escalator:action (server metadata) as its method, over the decisions and status_policy
* ``stopping``   escalator:action=stop: the clean stop before the cold migration
* ``sdk``        what is read from Nova: servers, migration records and their statuses, failure reasons
* ``report``     the per-instance report, the summary and the error that carries it

Rules the engine keeps (they are what the operators trust it for):

* Nothing moves unless the preflight finds a destination for every instance it
  must move (enabled, up nova-compute, not the source, group policies counting
  earlier planned moves, Placement capacity).
* A migration is done only when the server's host changed AND its migration
  record says ``completed`` (live) / ``confirmed`` (cold, after we confirm the
  resize); the host field flips first. ``completed`` while the server still sits
  on the source is a failure, a server in ERROR is a failure, never ignored.
* On a failure no new migration starts (unless ``keep_going``); running ones are
  watched to their end, so every server is left on a host, in its old status, or
  clearly reported.
"""
