"""Connection-state repairs (confiture_core.db) on a real server."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import pq

from confiture_core import db as db_module
from confiture_core.db import settle


def test_settle_cancels_a_query_left_in_flight(database_url: str) -> None:
    """Regression: Ctrl-C between psycopg sending a query and waiting for it left the connection busy, and the
    runner's ROLLBACK then failed with "another command is already in progress" instead of reporting the
    interrupt."""
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE kept_out (x int)")
        conn.pgconn.send_query(b"SELECT pg_sleep(3600)")  # what an interrupt mid-send leaves behind
        assert conn.info.transaction_status == pq.TransactionStatus.ACTIVE
        settle(conn)
        assert not conn.closed
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR  # cancelled, not finished
        conn.rollback()
        assert conn.execute("SELECT to_regclass('kept_out') IS NULL").fetchone() == (True,)


def test_settle_leaves_a_quiet_connection_alone(db: psycopg.Connection[Any]) -> None:
    db.execute("SELECT 1")
    settle(db)
    assert not db.closed and db.execute("SELECT 2").fetchone() == (2,)
    db.close()
    settle(db)  # closed: nothing to do, no error


def test_settle_closes_a_connection_it_cannot_recover(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel that never takes effect (here: never sent) must not hang the interrupted command: after
    CANCEL_TIMEOUT_S the connection is closed, and the server rolls its transaction back."""
    monkeypatch.setattr(db_module, "CANCEL_TIMEOUT_S", 0.5)
    conn = psycopg.connect(database_url)
    monkeypatch.setattr(conn, "cancel_safe", lambda timeout=0.0: None)
    conn.execute("CREATE TABLE never_committed (x int)")
    conn.pgconn.send_query(b"SELECT pg_sleep(3600)")
    settle(conn)
    assert conn.closed
    with psycopg.connect(database_url, autocommit=True) as other:
        assert other.execute("SELECT to_regclass('never_committed') IS NULL").fetchone() == (True,)
