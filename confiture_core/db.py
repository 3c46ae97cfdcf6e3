"""Connection-state questions and repairs: bringing a connection back to a usable state after an interrupt."""

from __future__ import annotations

import select
import time
from typing import Any

import psycopg
from psycopg import pq

CANCEL_TIMEOUT_S = 5.0
"""How long (seconds) :func:`settle` waits for a cancelled query's end before closing the connection."""

_RECANCEL_S = 0.25  # a cancel request that arrived before the query started cancels nothing: send another


def settle(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` usable again when an interrupt left a query in flight.

    Ctrl-C (``KeyboardInterrupt``) can arrive after psycopg sent a query and before it
    waited for the result; psycopg then leaves the connection busy (transaction status
    ``ACTIVE``) and every later command fails with "another command is already in
    progress", hiding the interrupt behind a database error. This cancels the query in
    the server (a cancel request, as psql's Ctrl-C sends; sent again every 0.25 s, since
    one that arrives before the query starts cancels nothing) and reads its results away,
    for at most :data:`CANCEL_TIMEOUT_S` seconds; then, or on any error, it closes the
    connection, which makes the server roll back its transaction and release its session
    locks (the advisory lock included).

    Does nothing for a closed connection or one with no query in flight.

    :param conn: the connection to check; closed when it cannot be recovered in time.
    """
    if conn.closed or conn.info.transaction_status != pq.TransactionStatus.ACTIVE:
        return
    pgconn = conn.pgconn
    deadline = time.monotonic() + CANCEL_TIMEOUT_S
    try:
        next_cancel = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_cancel:
                conn.cancel_safe(timeout=max(0.1, deadline - time.monotonic()))
                next_cancel = time.monotonic() + _RECANCEL_S
            pgconn.consume_input()
            while not pgconn.is_busy():
                res = pgconn.get_result()
                if res is None:  # every result read: the connection takes commands again
                    if conn.info.transaction_status != pq.TransactionStatus.ACTIVE:
                        return
                    break
                if res.status in (pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_BOTH):
                    pgconn.put_copy_end(b"interrupted")
            select.select([pgconn.socket], [], [], _RECANCEL_S)
    except (psycopg.Error, OSError):
        pass
    conn.close()
