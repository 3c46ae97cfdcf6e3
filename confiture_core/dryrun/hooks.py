"""The dry run's hook facade: a hook that ends the dry run's one transaction stops it, naming the hook."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from ..errors import ConfitureError
from ..hookcaller import HookFailed, Hooks
from ..hookspecs import Backfill, BackfillBatch, Finding, HookContext, MigrationResult
from ..runner import CommitGuard
from .policy import CommitOnCopy, RollbackAll

Conn = psycopg.Connection[Any]
T = TypeVar("T")


class DryRunEnded(ConfitureError):
    """A plugin hook (or backfill batch) committed, rolled back or closed the connection in a dry run (exit 1).

    That ends the dry run's one transaction (a COMMIT is refused by the runner's
    commit guard, so it rolls back): the dry run stops at that migration.
    """

    exit_code = 1


class DryRunHooks(Hooks):
    """The hook facade of a dry run: the plugins and failure policy of ``inner``, plus what a dry run needs.

    - A hook that ended the dry run's transaction (COMMIT, ROLLBACK, close) fails with
      :class:`DryRunEnded`, naming the plugin, the hook and the migration, and saying
      that nothing was changed; no further hook runs (:meth:`has` answers ``False``).
      The policy then opens an empty transaction with the savepoint the runner is
      about to leave (:meth:`RollbackAll.reopen`), so that the runner's usual clean-up
      runs as for any failing hook and the hook's error is the one shown.
    - Backfill batches run under the runner's commit guard (as hooks do), so a batch
      that commits cannot commit the dry run's work; one that ends the transaction
      fails the same way.

    :param inner: the facade of a real run (its plugin manager, ``non_fatal`` plugins and warning sink).
    :param conn: the runner's connection.
    :param policy: the dry run's transaction policy.
    :param guard: the runner's commit guard.
    """

    def __init__(self, inner: Hooks, conn: Conn, policy: RollbackAll | CommitOnCopy, guard: CommitGuard) -> None:
        super().__init__(inner.pm, inner.non_fatal, inner.warn)
        self.conn = conn
        self.policy = policy
        self.guard = guard
        self.ended: DryRunEnded | None = None

    def has(self, name: str) -> bool:
        """As :meth:`Hooks.has`, but ``False`` for every hook once the dry run's transaction was ended."""
        return self.ended is None and super().has(name)

    def validate(self, ctx: HookContext) -> list[Finding]:
        """See :meth:`Hooks.validate`; guarded (see the class)."""
        return self._guard("confiture_validate", lambda: super(DryRunHooks, self).validate(ctx))

    def before_migrate(self, ctx: HookContext) -> None:
        """See :meth:`Hooks.before_migrate`; guarded (see the class)."""
        self._guard("confiture_before_migrate", lambda: super(DryRunHooks, self).before_migrate(ctx))

    def after_migrate(self, ctx: HookContext, results: Sequence[MigrationResult]) -> None:
        """See :meth:`Hooks.after_migrate`; guarded (see the class)."""
        self._guard("confiture_after_migrate", lambda: super(DryRunHooks, self).after_migrate(ctx, results))

    def before_migration(self, ctx: HookContext) -> None:
        """See :meth:`Hooks.before_migration`; guarded (see the class)."""
        self._guard("confiture_before_migration", lambda: super(DryRunHooks, self).before_migration(ctx))

    def after_migration(self, ctx: HookContext) -> None:
        """See :meth:`Hooks.after_migration`; guarded (see the class)."""
        self._guard("confiture_after_migration", lambda: super(DryRunHooks, self).after_migration(ctx))

    def backfill(self, ctx: HookContext) -> list[tuple[str, Backfill]]:
        """See :meth:`Hooks.backfill`; guarded, and so is each batch (see the class)."""
        found = self._guard("confiture_backfill", lambda: super(DryRunHooks, self).backfill(ctx))
        return [(plugin, replace(b, batch=self._guarded_batch(b.batch))) for plugin, b in found]

    def _gone(self) -> bool:
        return self.conn.closed or self.conn.info.transaction_status in (pq.TransactionStatus.IDLE,
                                                                          pq.TransactionStatus.UNKNOWN)

    def _end(self, message: str, hook: str) -> DryRunEnded:
        closed = self.conn.closed
        self.ended = DryRunEnded(
            f"{message}; in a dry run that ends the dry run's transaction: the dry run stopped there and everything "
            f"it did was rolled back, nothing was {'committed' if closed else 'changed'}")
        if not closed:
            self.policy.reopen(self.conn, scratch=hook == "confiture_validate")
        return self.ended

    def _guard(self, hook: str, call: Callable[[], T]) -> T:
        try:
            out = call()
        except HookFailed as exc:
            if self.ended is None and self._gone():
                raise self._end(str(exc), hook) from exc
            raise
        if self.ended is None and self._gone():
            raise self._end(f"a plugin's {hook} ended the runner's transaction", hook)
        return out

    def _guarded_batch(self, batch: Callable[[BackfillBatch], Any]) -> Callable[[BackfillBatch], int]:
        def run(arg: BackfillBatch) -> int:
            try:
                with self.guard.armed():
                    rows = batch(arg)
            except Exception as exc:
                if self.ended is None and self._gone():
                    raise self._end(f"the batch committed, rolled back or closed the runner's connection "
                                    f"({type(exc).__name__}: {exc})", "confiture_backfill") from exc
                raise
            if self.ended is None and self._gone():
                raise self._end("the batch committed, rolled back or closed the runner's connection",
                                "confiture_backfill")
            return int(rows or 0)

        return run
