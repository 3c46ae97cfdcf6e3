"""The tracking rows a migration leaves: applied, reverted, in progress, failed; and why the table vanished."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from pglast import ast
from pglast.enums import ObjectType
from psycopg import pq, sql

from ..backfill import BackfillStore
from ..errors import MigrationFailed
from ..history import History
from ..hookcaller import Hooks
from ..hookspecs import Backfill
from ..migrations import Direction, Migration
from ..paths import shown
from .session import riders_of

Conn = psycopg.Connection[Any]

#: the error an autocommit migration's row carries while it runs (what a kill midway leaves)
IN_PROGRESS = ("interrupted while in progress (it runs outside a transaction); some of its statements may have "
               "run")

#: a migration's duration in milliseconds as the server sees it, from its transaction's start to the tracking row
#: (PostgreSQL docs, 9.9.5 "Current Date/Time": ``transaction_timestamp()``, ``clock_timestamp()``)
SERVER_MS = sql.SQL("extract(epoch FROM clock_timestamp() - transaction_timestamp()) * 1000")


class Recorder:
    """Writes a migration's tracking row (and its backfills' rows) in the current transaction.

    :param conn: the runner's connection.
    :param history: the tracking table.
    :param hooks: asked which plugins ran, to name them when the tracking table vanished.
    """

    def __init__(self, conn: Conn, history: History, hooks: Hooks) -> None:
        self.conn = conn
        self.history = history
        self.hooks = hooks

    def in_progress(self, m: Migration) -> None:
        """Before an autocommit migration runs: its row, marked failed ("in progress")."""
        self.history.record(m.version, m.name, m.checksum, 0, False, error=IN_PROGRESS)

    def done(self, m: Migration, direction: Direction, t0: float,
             backfills: Sequence[tuple[str, Backfill]] = (), *, defer: bool = False) -> None:
        """The row of an applied migration (with the backfills it starts), or its removal once reverted.

        :param t0: ``time.perf_counter()`` when the migration started.
        :param defer: the row may ride with the transaction's ``COMMIT`` (see :class:`~.session.Riders`);
            then a vanished tracking table is raised by the commit (see :meth:`tracking_table_gone`), and the
            duration recorded is the server's (:data:`SERVER_MS`).
        :raises MigrationFailed: the tracking table is gone (the message says what dropped it).
        """
        if defer and direction == "up" and not backfills:
            # SQL text with literals: it rides in the COMMIT's simple-protocol message (no pipeline needed), which may
            # be the body's last one too: its duration is the server's, from the migration's BEGIN
            riders_of(self.conn).add(self.history.record_statement(m.version, m.name, m.checksum, SERVER_MS, True))
            return
        try:
            if direction == "up":
                self.history.record(m.version, m.name, m.checksum, (time.perf_counter() - t0) * 1000, True)
            else:
                self.history.delete(m.version)
                # a reverted migration's backfills start over when it is applied again
                BackfillStore(self.conn, self.history).forget(m.version)
        except psycopg.errors.UndefinedTable as exc:  # the only table recorded here
            raise MigrationFailed(self.tracking_table_gone(m, direction)) from exc
        if backfills:
            BackfillStore(self.conn, self.history).register(m, backfills)

    def failure(self, m: Migration, msg: str) -> None:
        """Record ``m`` as failed with ``msg`` (after rolling back any open transaction); best effort."""
        try:
            if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")
            self.history.record(m.version, m.name, m.checksum, 0, False, error=msg)
        except psycopg.Error:
            pass

    def tracking_table_gone(self, m: Migration, direction: Direction) -> str:
        """The one-line error when the tracking table vanished while ``m`` ran: the statement of its SQL
        file that dropped or renamed it, else the hooks that ran in its transaction, else the migration."""
        table = self.history.display_name
        path = m.path_for(direction) or m.up_path
        outcome = "nothing was applied" if m.is_transactional(direction) else \
            "its statements ran and were committed, and the record of every applied migration is gone"
        if m.kind == "sql":
            for st in m.sql(direction).statements:
                if _drops_relation(st.node, self.history.schema, self.history.table):
                    return (f"{shown(path)}:{st.line}: drops or renames the tracking table {table}, where Confiture "
                            f"records applied migrations; {outcome}: remove that statement")
        hooks = ["confiture_before_migration", "confiture_after_migration"] + (
            ["confiture_backfill"] if direction == "up" else [])
        ran = [f"plugin {p!r} ({h})" for h in hooks for p in sorted(self.hooks.implementers(h))]
        if ran and (m.kind == "sql"):
            return (f"{' or '.join(ran)} dropped or renamed the tracking table {table} while migration "
                    f"{m.version} ({m.name}) ran; {outcome}: a hook must not touch the tracking table")
        by = f" (or {' or '.join(ran)})" if ran else ""
        return (f"{shown(path)}: {direction}(){by} dropped or renamed the tracking table {table}, where Confiture "
                f"records applied migrations; {outcome}: leave the tracking table alone")


def _drops_relation(node: ast.Node, schema: str, table: str) -> bool:
    """Whether a statement drops or renames table ``schema.table`` (an unqualified name counts), or drops
    its schema."""
    if isinstance(node, ast.DropStmt):
        for obj in node.objects or ():
            names = [getattr(n, "sval", None) for n in obj] if isinstance(obj, tuple | list) else \
                [getattr(obj, "sval", None)]
            if node.removeType == ObjectType.OBJECT_SCHEMA and names == [schema]:
                return True
            if node.removeType == ObjectType.OBJECT_TABLE and names[-1:] == [table] and \
                    (len(names) == 1 or names[-2] == schema):
                return True
    if isinstance(node, ast.RenameStmt | ast.AlterObjectSchemaStmt) and node.relation is not None:
        rel = node.relation
        return bool(rel.relname == table and rel.schemaname in (None, schema))
    return False
