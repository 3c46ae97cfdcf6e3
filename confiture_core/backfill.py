"""Progress of batched backfills (see ``confiture_backfill`` in :mod:`confiture_core.hookspecs`).

One row per (migration version, plugin, backfill name) in ``<tracking table>_backfills``,
next to the tracking table: its saved ``state`` (JSON), batches and rows done, and
whether it finished. Each batch's progress is saved in the batch's own
transaction, so a killed backfill resumes from the last committed batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .history import History
from .hookspecs import Backfill
from .migrations import Migration

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class UnfinishedBackfill:
    """A backfill whose progress row says it has not finished.

    :ivar version: its migration's version.
    :ivar plugin: the plugin that returned it.
    :ivar name: its name (the resume key).
    :ivar batches: batches done so far.
    :ivar rows: rows touched so far.
    """

    version: int
    plugin: str
    name: str
    batches: int
    rows: int


class BackfillStore:
    """Progress of batched backfills, in ``<tracking table>_backfills`` next to the tracking table."""

    def __init__(self, conn: Conn, history: History) -> None:
        self.conn = conn
        name = f"{history.table}_backfills"
        self.ident = sql.Identifier(history.schema, name)

    def ensure(self) -> None:
        """Create the progress table when missing."""
        if self.exists():
            return
        self.conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version numeric NOT NULL, plugin text NOT NULL, name text NOT NULL, "
            "state jsonb NOT NULL DEFAULT '{{}}', batches integer NOT NULL DEFAULT 0, "
            "rows bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false, "
            "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (version, plugin, name))"
        ).format(self.ident))

    def register(self, m: Migration, backfills: Sequence[tuple[str, Backfill]]) -> None:
        """Record (in the migration's transaction) that these backfills must run."""
        self.ensure()
        for plugin, b in backfills:
            self.conn.execute(sql.SQL(
                "INSERT INTO {} (version, plugin, name) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
            ).format(self.ident), [m.version, plugin, b.name])

    def exists(self) -> bool:
        """Whether the progress table exists."""
        row = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", [self.ident.as_string(self.conn)]).fetchone()
        return bool(row and row[0])

    def load(self, version: int, plugin: str, name: str) -> dict[str, Any] | None:
        """The saved state of a backfill, or ``None``."""
        if not self.exists():
            return None
        row = self.conn.execute(sql.SQL(
            "SELECT state FROM {} WHERE version = %s AND plugin = %s AND name = %s").format(self.ident),
            [version, plugin, name]).fetchone()
        return dict(row[0]) if row else None

    def save(self, version: int, plugin: str, name: str, state: dict[str, Any], rows: int, done: bool) -> None:
        """Save progress after a batch (in the batch's transaction)."""
        from psycopg.types.json import Jsonb

        self.ensure()
        self.conn.execute(sql.SQL(
            "INSERT INTO {} AS b (version, plugin, name, state, batches, rows, done) "
            "VALUES (%s, %s, %s, %s, 1, %s, %s) "
            "ON CONFLICT (version, plugin, name) DO UPDATE SET state = EXCLUDED.state, batches = b.batches + 1, "
            "rows = b.rows + EXCLUDED.rows, done = EXCLUDED.done, updated_at = now()").format(self.ident),
            [version, plugin, name, Jsonb(state), rows, done])

    def forget(self, version: int) -> None:
        """Drop the progress of every backfill of ``version`` (its migration was reverted), in the
        caller's transaction; a no-op when the progress table does not exist."""
        if self.exists():
            self.conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(self.ident), [version])

    def unfinished(self) -> list[UnfinishedBackfill]:
        """Every unfinished backfill, by version, plugin and name."""
        if not self.exists():
            return []
        rows = self.conn.execute(sql.SQL(
            "SELECT version, plugin, name, batches, rows FROM {} WHERE NOT done ORDER BY version, plugin, name"
        ).format(self.ident)).fetchall()
        return [UnfinishedBackfill(int(v), p, n, int(b), int(r)) for v, p, n, b, r in rows]
