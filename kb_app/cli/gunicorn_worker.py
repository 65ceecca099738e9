"""The gunicorn worker `kb serve` runs: gunicorn's threaded worker, except that a new connection
waits in the worker's poller until it sends something, instead of holding a thread.

gunicorn's `gthread` worker hands every accepted connection to a thread, which waits up to five
seconds for the first bytes before giving it back to the poller. A room of idle sockets (browsers
that pre-open connections, a load balancer's spare pool, a hostile client) then keeps every thread
waiting in turn and `/healthz` queues behind them for minutes. Here a connection costs a thread
only once it is readable; one that stays silent for `KB_IDLE_TIMEOUT` seconds is closed, and at
`KB_CONNECTION_LIMIT` open connections per worker the worker stops accepting until some close.

This leans on the worker's pending-connection queue (`pending_conns`, `on_pending_socket_readable`),
which gunicorn uses for connections that stayed silent; where a gunicorn release lacks it, the worker
behaves as plain `gthread`. A client that sends half a request and then stalls still holds a thread
until it finishes or disconnects: production puts a buffering proxy in front (README, "Production").
"""

from __future__ import annotations

import selectors
import time
from functools import partial
from typing import Any


def worker_class(idle_timeout: float) -> type:
    """gunicorn's threaded worker with new connections parked in the poller until they are
    readable, closed after `idle_timeout` seconds of silence. Built here, not at import, because
    gunicorn imports only on POSIX (waitress serves on Windows)."""
    from gunicorn.workers.gthread import TConn, ThreadWorker

    class KbThreadWorker(ThreadWorker):
        def accept(self, listener: Any) -> None:
            if not hasattr(self, "pending_conns") or not hasattr(self, "on_pending_socket_readable"):
                super().accept(listener)  # a gunicorn release without the pending queue
                return
            try:
                client_sock, client_addr = listener.accept()
            except OSError:
                return  # another worker took it, or the client gave up
            self.nr_conns += 1
            conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
            conn.timeout = time.monotonic() + idle_timeout
            self.pending_conns.append(conn)  # stays sorted: every entry waits the same timeout
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    return KbThreadWorker
