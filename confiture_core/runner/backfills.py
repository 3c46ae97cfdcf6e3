"""Batched backfills after their migration: each batch a unit of work, progress saved, resumed after a kill."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from ..backfill import BackfillStore
from ..config import Config
from ..errors import ConfitureError, MigrationFailed
from ..history import History
from ..hookcaller import HookFailed, Hooks
from ..hookspecs import Backfill, BackfillBatch, HookContext
from ..migrations import Migration
from ..words import count
from .events import Reporter
from .plan import Planner, StatusEntry
from .session import CommitGuard
from .transactions import TransactionPolicy

Conn = psycopg.Connection[Any]


class Backfills:
    """Runs the batched backfills plugins return from ``confiture_backfill``.

    :param conn: the runner's connection.
    :param config: the project's configuration.
    :param hooks: the hook facade.
    :param history: the tracking table (the backfill table sits beside it).
    :param reporter: receives the notices about resumed and orphaned backfills.
    :param policy: each batch is one of its units; when it does not commit, progress
        is neither read nor saved and nothing is resumed.
    :param guard: the commit guard, armed around the ``confiture_backfill`` call of a resume.
    :param planner: describes unfinished backfills.
    """

    def __init__(self, conn: Conn, config: Config, hooks: Hooks, history: History, reporter: Reporter,
                 policy: TransactionPolicy, guard: CommitGuard, planner: Planner) -> None:
        self.conn = conn
        self.config = config
        self.hooks = hooks
        self.history = history
        self.reporter = reporter
        self.policy = policy
        self.guard = guard
        self.planner = planner

    def run(self, m: Migration, backfills: Sequence[tuple[str, Backfill]], ctx: HookContext) -> None:
        """Run each backfill batch by batch until a batch returns 0.

        :raises MigrationFailed: a backfill did not finish within its ``max_batches``.
        :raises HookFailed: a batch raised or broke the contract of :class:`Backfill`.
        """
        store = BackfillStore(self.conn, self.history)
        keep = self.policy.commits
        for plugin, b in backfills:
            saved = store.load(m.version, plugin, b.name) if keep else None
            state: dict[str, Any] = dict(saved or {})
            batches = 0
            while True:
                if batches >= b.max_batches:
                    raise MigrationFailed(f"backfill {b.name!r} of plugin {plugin!r} did not finish in "
                                          f"{b.max_batches} batches")
                with self.policy.unit(self.conn):
                    call = BackfillBatch(self.conn, state, m, not keep)
                    try:
                        rows = checked_batch(b, call, b.batch(call))
                    except psycopg.Error:
                        raise
                    except (Exception, SystemExit) as exc:
                        raise HookFailed(plugin, "confiture_backfill (batch)", f" for migration {m.up_path.name}",
                                         exc) from exc
                    state = call.state  # the batch may have replaced the dict
                    batches += 1
                    done = rows == 0
                    if keep:
                        store.save(m.version, plugin, b.name, state, rows, done)
                if done:
                    break

    def resume(self, run_ctx: HookContext, entries: Sequence[StatusEntry]) -> None:
        """Finish the backfills a killed run left unfinished; warn about those nothing can finish
        (their plugin is not loaded, or no longer returns them). Nothing when the policy does not commit."""
        if not self.policy.commits:
            return
        by_v = self.planner.by_version()
        loaded = self.hooks.implementers("confiture_backfill")
        for e in entries:
            m = by_v.get(e.version)
            if not e.backfills or m is None:
                continue
            orphans = [b for b in e.backfills if b.plugin not in loaded]
            for b in orphans:
                self.reporter.warn(f"migration {e.version} ({e.name}): {self.planner.describe_unfinished(b)}: it "
                                   f"stays unfinished until `confiture migrate up` runs with plugin {b.plugin!r} "
                                   "loaded")
            wanted = {(b.plugin, b.name) for b in e.backfills if b.plugin in loaded}
            if not wanted:
                continue
            ctx = HookContext(self.conn, self.config, "up", False, {**run_ctx.state, "resuming": True},
                              run_ctx.migrations, m)
            try:
                with self.policy.unit(self.conn), self.guard.armed(hooks=True):
                    found = self.hooks.backfill(ctx)
                todo = [(p, b) for p, b in found if (p, b.name) in wanted]
                for p, n in sorted(wanted - {(p, b.name) for p, b in todo}):
                    self.reporter.warn(f"migration {e.version} ({e.name}): backfill {n!r} of plugin {p!r} is "
                                       "unfinished, but the plugin no longer returns it from confiture_backfill: "
                                       "it stays unfinished")
                if todo:
                    self.reporter.info(f"resuming {count(len(todo), 'unfinished backfill')} of migration {e.version}")
                    self.run(m, todo, ctx)
            except (psycopg.Error, ConfitureError) as exc:
                if not self.conn.closed:
                    self.hooks.on_error(ctx, exc)
                raise


def checked_batch(b: Backfill, call: BackfillBatch, rows: Any) -> int:
    """A batch's return value and state, checked: a row count (``int`` >= 0) and a JSON-able dict.

    :raises TypeError, ValueError: the batch broke the contract of :class:`Backfill`.
    """
    if isinstance(rows, bool) or not isinstance(rows, int):
        raise TypeError(f"backfill {b.name!r}: batch returned {type(rows).__name__}, expected the number of rows "
                        "it touched (an int, 0 when done)")
    if rows < 0:
        raise ValueError(f"backfill {b.name!r}: batch returned {rows}, expected the number of rows it touched "
                         "(0 or more, 0 when done)")
    if not isinstance(call.state, dict):
        raise TypeError(f"backfill {b.name!r}: its state is {type(call.state).__name__}, expected a dict")
    try:
        json.dumps(call.state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"backfill {b.name!r}: its state cannot be saved as JSON ({exc})") from exc
    return rows
