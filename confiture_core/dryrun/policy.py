"""The dry run's transaction policies: rolled back in one transaction (the target), or committed per unit (a copy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import pq

from ..db import settle
from ..errors import MigrationFailed
from ..history import History
from ..migrations import Migration
from ..runner import CommitEach

Conn = psycopg.Connection[Any]

#: the note on statements a dry run leaves out (they cannot run in its transaction)
NOT_EXECUTED = "not executed in dry-run"


class RollbackAll:
    """A :class:`~confiture_core.runner.TransactionPolicy` that keeps nothing.

    The run is one transaction (``BEGIN`` ... ``ROLLBACK``); each migration, hook
    call and backfill batch is a savepoint in it (``SAVEPOINT`` ... ``RELEASE``, or
    ``ROLLBACK TO`` on failure); ``confiture_validate`` runs in a savepoint that is
    always rolled back. Statements that cannot run in a transaction block are not
    executed (:data:`NOT_EXECUTED`). Hooks see ``context.dry_run`` true.
    """

    commits = False
    autocommit_skip_reason: str | None = NOT_EXECUTED

    #: the savepoint held around the ``confiture_validate`` calls (always rolled back)
    SCRATCH_SAVEPOINT = "confiture_scratch"
    #: the savepoint held around each migration, run-level hook call and backfill batch
    MIGRATION_SAVEPOINT = "confiture_migration"

    def prepare(self, history: History) -> None:
        """Nothing before planning: the tracking table is created inside the run's transaction."""

    @contextmanager
    def run(self, conn: Conn, history: History) -> Iterator[None]:
        """``BEGIN`` (and the tracking table, rolled back with everything else) ... ``ROLLBACK``."""
        conn.execute("BEGIN")
        history.ensure()
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute("ROLLBACK")

    def unit(self, conn: Conn) -> AbstractContextManager[None]:
        """``SAVEPOINT`` ... ``RELEASE``, or ``ROLLBACK TO`` then ``RELEASE`` on failure."""
        return self._savepoint(conn, self.MIGRATION_SAVEPOINT)

    @contextmanager
    def scratch(self, conn: Conn) -> Iterator[None]:
        """``SAVEPOINT`` ... ``ROLLBACK TO SAVEPOINT``."""
        conn.execute(f"SAVEPOINT {self.SCRATCH_SAVEPOINT}")
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute(f"ROLLBACK TO SAVEPOINT {self.SCRATCH_SAVEPOINT}")

    def migration(self, conn: Conn, m: Migration) -> AbstractContextManager[None]:
        """A :meth:`unit` (a Python migration gets a connection that refuses to end the transaction)."""
        return self.unit(conn)

    def python_connection(self, conn: Conn, m: Migration) -> Any:
        """The runner's connection, with ``commit``, ``rollback`` and ``close`` refused."""
        return RefusingConnection(conn, m)

    def abandon(self, conn: Conn) -> None:
        """Nothing: the migration's savepoint is already rolled back; the run's transaction goes on."""

    def reopen(self, conn: Conn, *, scratch: bool) -> None:
        """After a hook ended the run's transaction: open an empty one with the savepoint the runner
        is about to leave (the scratch one when ``scratch``), so that its usual clean-up runs as for
        any failing hook; best effort."""
        name = self.SCRATCH_SAVEPOINT if scratch else self.MIGRATION_SAVEPOINT
        try:
            conn.execute(f"BEGIN; SAVEPOINT {name}")
        except psycopg.Error:
            pass

    @staticmethod
    @contextmanager
    def _savepoint(conn: Conn, name: str) -> Iterator[None]:
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            settle(conn)
            if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {name}")


class RefusingConnection:
    """The connection a Python migration gets in a dry run: commit, rollback and close are refused.

    A ``rollback()`` would end the dry run's outer transaction, and whatever the
    migration ran next would be committed in autocommit mode. Everything else is
    the runner's connection.
    """

    def __init__(self, conn: Conn, m: Migration) -> None:
        self._conn = conn
        self._where = m.up_path.name

    def _refuse(self, what: str) -> None:
        raise MigrationFailed(f"{self._where}: {what}() is not allowed in a dry run (it would end the dry run's "
                              "transaction); the runner commits or rolls back itself")

    def commit(self) -> None:
        """Refused (:class:`MigrationFailed`)."""
        self._refuse("commit")

    def rollback(self) -> None:
        """Refused (:class:`MigrationFailed`)."""
        self._refuse("rollback")

    def close(self) -> None:
        """Refused (:class:`MigrationFailed`)."""
        self._refuse("close")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class CommitOnCopy(CommitEach):
    """A :class:`~confiture_core.runner.TransactionPolicy` for a dry run on a scratch copy of the database.

    Each migration, hook call and backfill batch is its own transaction and is committed, as in
    a real run (:class:`~confiture_core.runner.CommitEach`), so that each migration's locks are
    exactly its own (PostgreSQL releases every lock at COMMIT: "Explicit Locking") and
    ``pg_locks`` stays as small as in a real run. Nothing is kept all the same: the database is
    a scratch copy, dropped afterwards; the runner is told so (``commits`` false: hook contexts
    have ``dry_run`` true, no safe-apply retries, saved backfill progress is neither read nor
    written). Statements that cannot run in a transaction block (``CREATE INDEX CONCURRENTLY``,
    ``VACUUM``...) run in autocommit, as in a real run, so that later migrations find what they
    made (their lock, released when they end, is the documented one:
    :data:`~confiture_core.risk.NON_TRANSACTIONAL_LOCKS`). Only for a database nobody else uses.
    """

    commits = False
    autocommit_skip_reason: str | None = None

    def reopen(self, conn: Conn, *, scratch: bool) -> None:
        """After a hook ended the unit's transaction: open an empty one for the runner's clean-up; best effort."""
        try:
            conn.execute("BEGIN")
        except psycopg.Error:
            pass
