"""The transaction policy: how a run's work is grouped into transactions, and whether it is kept.

The runner is given a policy and never decides this itself (alembic's
``transaction_per_migration``, Flyway's transaction template). :class:`CommitEach`
is the default: every migration, hook call and backfill batch in its own
transaction, committed. Another policy may hold the whole run in one transaction
with a savepoint per unit and roll it back at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

import psycopg
from psycopg import pq

from ..db import settle
from ..history import History
from ..migrations import Migration
from .session import COMMIT_OK, riders_of

Conn = psycopg.Connection[Any]


class TransactionPolicy(Protocol):
    """How the runner's work is grouped into transactions.

    :ivar commits: whether the work is kept. ``False``: everything is rolled back at
        the end; hook contexts and backfill batches then carry a true rolled-back
        flag, saved backfill progress is neither read, written nor resumed, and a
        migration whose hook closed the connection is a failed result rather than
        the end of the run.
    :ivar autocommit_skip_reason: ``None`` when statements that cannot run in a
        transaction block run in autocommit; else they are not executed, and the
        statement observer is told this reason for each.
    """

    commits: bool
    autocommit_skip_reason: str | None

    def prepare(self, history: History) -> None:
        """Before planning, inside the advisory lock (e.g. create the tracking table)."""

    def run(self, conn: Conn, history: History) -> AbstractContextManager[None]:
        """Around everything a run does after planning (hooks, migrations, backfills)."""

    def unit(self, conn: Conn) -> AbstractContextManager[None]:
        """One unit of work (a migration, a run-level hook call, a backfill batch, repair's changes):
        kept when the block ends normally, undone when it raises."""

    def scratch(self, conn: Conn) -> AbstractContextManager[None]:
        """A unit that is always undone (the ``confiture_validate`` calls)."""

    def migration(self, conn: Conn, m: Migration) -> AbstractContextManager[None]:
        """The unit of a transactional migration (a :meth:`unit`, plus any protection a Python
        migration needs against ending the runner's transaction)."""

    def python_connection(self, conn: Conn, m: Migration) -> Any:
        """What a transactional Python migration's ``up``/``down`` receives as its connection."""

    def abandon(self, conn: Conn) -> None:
        """After a failed migration (the connection still open): end what its failure left open."""


class CommitEach:
    """Each migration (with its hooks and tracking row), hook call and backfill batch in its own
    transaction, committed (``BEGIN`` ... ``COMMIT``); statements that cannot run in a transaction
    block run in autocommit."""

    commits = True
    autocommit_skip_reason: str | None = None

    def prepare(self, history: History) -> None:
        """Create the tracking table (committed: a run refused later still leaves it)."""
        history.ensure()

    def run(self, conn: Conn, history: History) -> AbstractContextManager[None]:
        """Nothing around the run: each unit commits on its own."""
        return nullcontext()

    @contextmanager
    def unit(self, conn: Conn, *, lazy_begin: bool = False) -> Iterator[None]:
        """``BEGIN`` ... ``COMMIT`` (the commit guard let through in the same round trip), or ``ROLLBACK``.

        Waiting riders (the session reset, a tracking row: see :class:`~.session.Riders`) go in the
        ``BEGIN`` and ``COMMIT`` messages.

        :param lazy_begin: the ``BEGIN`` waits as a rider too, and goes with the block's first message (see
            :meth:`~.session.Riders.lead`): only for a block whose every statement is sent by the runner's
            body (a SQL migration without hooks in its transaction), which takes the riders first."""
        riders = riders_of(conn)
        carried = riders.texts()
        if lazy_begin:
            riders.add("BEGIN")
        else:
            conn.execute(riders.take("BEGIN"))
        try:
            yield
        except BaseException:
            riders.drop()
            settle(conn)
            if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            for text in carried:  # rolled back with the transaction (RESET is transactional): send them again
                riders.add(text)
            raise
        try:
            riders.commit(COMMIT_OK, "COMMIT")  # with a body's held last message, if any (Riders.hold)
        except BaseException:
            riders.drop()
            settle(conn)
            if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")  # a statement of the held message failed: COMMIT did not run
                for text in carried:
                    riders.add(text)
            raise

    @contextmanager
    def scratch(self, conn: Conn) -> Iterator[None]:
        """``BEGIN`` ... ``ROLLBACK``."""
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute("ROLLBACK")

    @contextmanager
    def migration(self, conn: Conn, m: Migration, *, lazy_begin: bool = False) -> Iterator[None]:
        """A :meth:`unit` (``lazy_begin``: see there); for a Python migration, transactions it did not open are
        read-only meanwhile.

        A Python migration could end the runner's transaction (``conn.rollback()``, a
        ROLLBACK statement) and go on writing in autocommit: nothing it writes after
        that can then be committed (the commit guard covers COMMIT).
        """
        read_only_after = m.kind == "python"
        if read_only_after:  # after the waiting session reset (RESET ALL), not undone by it
            conn.execute(riders_of(conn).take("SET default_transaction_read_only = on"))
        try:
            with self.unit(conn, lazy_begin=lazy_begin and not read_only_after):
                if read_only_after:
                    conn.execute("SET TRANSACTION READ WRITE")  # the runner's own transaction
                yield
        finally:
            if read_only_after and not conn.closed and \
                    conn.info.transaction_status == pq.TransactionStatus.IDLE:
                conn.execute("RESET default_transaction_read_only")

    def python_connection(self, conn: Conn, m: Migration) -> Any:
        """The runner's connection itself."""
        return conn

    def abandon(self, conn: Conn) -> None:
        """``ROLLBACK`` whatever transaction the failure left open."""
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
