"""Connection-state questions and repairs: bringing a connection back to a usable state after an interrupt."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq

CANCEL_TIMEOUT_S = 5.0


def settle(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` usable again when an interrupt left a query in flight.

    Ctrl-C (``KeyboardInterrupt``) can arrive after psycopg sent a query and before it
    waited for the result; psycopg then leaves the connection busy (transaction status
    ``ACTIVE``) and every later command fails with "another command is already in
    progress", hiding the interrupt behind a database error. This cancels the query in
    the server (a cancel request, as psql's Ctrl-C sends) and reads its results away; if
    that fails the connection is closed, which makes the server roll back its transaction
    and release its session locks (the advisory lock included).

    Does nothing for a closed connection or one with no query in flight.

    :param conn: the connection to check; closed when it cannot be recovered.
    """
    if conn.closed or conn.info.transaction_status != pq.TransactionStatus.ACTIVE:
        return
    try:
        conn.cancel_safe(timeout=CANCEL_TIMEOUT_S)
        pgconn = conn.pgconn
        for _ in range(1000):  # each statement of a multi-statement message yields a result; then None
            res = pgconn.get_result()
            if res is None:
                break
            if res.status in (pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_BOTH):
                pgconn.put_copy_end(b"interrupted")
        if conn.info.transaction_status != pq.TransactionStatus.ACTIVE:
            return
    except (psycopg.Error, OSError):
        pass
    conn.close()
