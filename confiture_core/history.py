"""The tracking table and the advisory lock that serialises runners.

Tracking table (name configurable, optionally schema-qualified, always quoted):

=============  ==================  ===========================================
column         type                meaning
=============  ==================  ===========================================
version        numeric PRIMARY KEY the migration's version
name           text                its name
checksum       text                SHA-256 of the up file (``NULL`` for baseline)
applied_at     timestamptz         when it was applied
execution_ms   double precision    how long it took, milliseconds
applied_by     text                ``session_user`` (the login role) of the runner
success        boolean             ``false``: failed midway, blocks until repair
kind           text                ``migration`` or ``baseline``
error          text                for a failed row, what ran and what did not
=============  ==================  ===========================================
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from .config import Config
from .errors import LockTimeout

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class AppliedRow:
    """One row of the tracking table."""

    version: int
    name: str
    checksum: str | None
    applied_at: datetime
    execution_ms: float
    applied_by: str
    success: bool
    kind: str
    error: str | None


class History:
    """Reads and writes the tracking table of one database.

    :param conn: a psycopg connection (autocommit or not: writes join the
        caller's transaction when one is open).
    :param config: gives the table name. An unqualified name is pinned to the
        schema that is current when the History is created (normally ``public``).
    """

    def __init__(self, conn: Conn, config: Config) -> None:
        self.conn = conn
        schema, table = config.tracking_table_parts
        if schema is None:
            # pin the schema now: a migration's SET search_path must not move the table
            row = conn.execute("SELECT current_schema()").fetchone()
            schema = row[0] if row and row[0] else "public"
        self.schema: str = schema
        self.table = table
        self.ident = sql.Identifier(schema, table)

    @property
    def display_name(self) -> str:
        """The table name as written in SQL, for messages."""
        return self.ident.as_string(self.conn)

    def exists(self) -> bool:
        """Whether the tracking table exists (a read-only check)."""
        name = self.display_name
        row = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
        return bool(row and row[0])

    def ensure(self) -> None:
        """Create the schema (if named) and the tracking table when missing."""
        if self.exists():
            return
        found = self.conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema]).fetchone()
        if found is None:  # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when it exists
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        self.conn.execute(
            sql.SQL(
                """CREATE TABLE IF NOT EXISTS {} (
                    version numeric PRIMARY KEY,
                    name text NOT NULL,
                    checksum text,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    execution_ms double precision NOT NULL DEFAULT 0,
                    applied_by text NOT NULL DEFAULT current_user,
                    success boolean NOT NULL,
                    kind text NOT NULL DEFAULT 'migration',
                    error text
                )"""
            ).format(self.ident)
        )

    def rows(self) -> list[AppliedRow]:
        """Every row, by version; ``[]`` when the table does not exist yet."""
        if not self.exists():
            return []
        cur = self.conn.execute(
            sql.SQL(
                "SELECT version, name, checksum, applied_at, execution_ms, applied_by, success, kind, error "
                "FROM {} ORDER BY version"
            ).format(self.ident)
        )
        return [AppliedRow(int(r[0]), *r[1:]) for r in cur.fetchall()]

    def record(
        self,
        version: int,
        name: str,
        checksum: str | None,
        execution_ms: float,
        success: bool,
        *,
        kind: str = "migration",
        error: str | None = None,
    ) -> None:
        """Insert or replace the row of ``version`` (the statement of :meth:`record_statement`)."""
        self.conn.execute(self.record_statement(version, name, checksum, execution_ms, success, kind=kind,
                                                error=error))

    def record_statement(
        self,
        version: int,
        name: str,
        checksum: str | None,
        execution_ms: float | sql.Composable,
        success: bool,
        *,
        kind: str = "migration",
        error: str | None = None,
    ) -> str:
        """The statement inserting or replacing the row of ``version``, its values as literals (no parameter):
        it can also be sent in a simple-protocol message with other statements (the runner sends it with the
        ``COMMIT``). ``execution_ms`` may be an SQL expression, worked out by the server."""
        values = [version, name, checksum, execution_ms, success, kind, error]
        return sql.SQL(
            "INSERT INTO {} (version, name, checksum, execution_ms, success, kind, error, applied_by) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, session_user) "
            "ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, "
            "applied_at = now(), execution_ms = EXCLUDED.execution_ms, applied_by = session_user, "
            "success = EXCLUDED.success, kind = EXCLUDED.kind, error = EXCLUDED.error"
        ).format(self.ident, *[v if isinstance(v, sql.Composable) else sql.Literal(v) for v in values]
                 ).as_string(self.conn)

    def delete(self, version: int) -> None:
        """Remove the row of ``version``."""
        self.conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(self.ident), [version])

    def update_checksum(self, version: int, name: str, checksum: str) -> None:
        """Realign a row with its (reviewed) file."""
        self.conn.execute(
            sql.SQL("UPDATE {} SET checksum = %s, name = %s WHERE version = %s").format(self.ident),
            [checksum, name, version],
        )


def advisory_lock_key(database: str, table: str) -> int:
    """A signed 64-bit advisory lock key for (database, tracking table).

    Derived from SHA-256 so that two projects with different tracking tables in
    one database, or one table name in two databases, do not share a lock.
    """
    digest = hashlib.sha256(f"confiture:{database}:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """Session-level PostgreSQL advisory lock, taken by polling.

    ``pg_try_advisory_lock`` is polled rather than calling the blocking
    ``pg_advisory_lock``: a backend blocked in ``pg_advisory_lock`` holds a
    snapshot, and ``CREATE INDEX CONCURRENTLY`` in the runner that owns the lock
    waits for every such snapshot to end, which deadlocks both. (PostgreSQL docs,
    "CREATE INDEX", Building Indexes Concurrently; "Advisory Locks".)

    :param conn: an autocommit connection; the lock belongs to its session.
    :param config: gives the tracking table and ``advisory_lock_wait`` (seconds).
    :param on_wait: called once with the pid of the holder when we have to wait.
    """

    def __init__(self, conn: Conn, config: Config, on_wait: Callable[[int | None], None] | None = None) -> None:
        self.conn = conn
        self.wait_s = config.advisory_lock_wait
        self.table = config.tracking_table
        self.on_wait = on_wait
        self.key: int | None = None

    def acquire(self) -> None:
        """Take the lock, polling every 50-500 ms for up to ``advisory_lock_wait`` s.

        :raises LockTimeout: still held by another session after the wait.
        """
        row = self.conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        self.key = advisory_lock_key(row[0], self.table)
        deadline = time.monotonic() + self.wait_s
        delay = 0.05
        told = False
        while True:
            got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
            if got and got[0]:
                return
            if not told and self.on_wait is not None:
                self.on_wait(self.holder_pid())
                told = True
            if time.monotonic() >= deadline:
                pid = self.holder_pid()
                raise LockTimeout(
                    f"another runner (pid {pid}) holds the migration lock on {self.table}; waited "
                    f"{self.wait_s:g} s. Retry later or raise advisory_lock_wait in confiture.toml"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def holder_pid(self) -> int | None:
        """pid of the backend holding the lock, if visible in pg_locks."""
        if self.key is None:
            return None
        classid = (self.key >> 32) & 0xFFFFFFFF
        objid = self.key & 0xFFFFFFFF
        row = self.conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s::bigint::oid "
            "AND objid = %s::bigint::oid AND objsubid = 1 LIMIT 1",
            [classid, objid],
        ).fetchone()
        return int(row[0]) if row else None

    def release(self) -> None:
        """Release the lock (no-op when not held or the connection is gone)."""
        if self.key is None or self.conn.closed:
            return
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
        except psycopg.Error:
            pass
        self.key = None
