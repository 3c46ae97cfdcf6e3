"""The runner: lock -> plan -> validate -> hooks -> body -> record, under the transaction policy it is given.

The policy (:mod:`.transactions`) decides how work is grouped into transactions
and whether it is kept. With the default, :class:`~.transactions.CommitEach`,
each transactional migration runs with its hooks and its tracking row in one
transaction, committed on its own (``BEGIN`` ... ``COMMIT``). A migration holding
statements that cannot run in a transaction block (CREATE INDEX CONCURRENTLY,
VACUUM, ...) runs in autocommit, one statement at a time; its tracking row is
first written as failed ("in progress") and set to success at the end, so a
failure or a kill midway blocks later runs until ``confiture migrate repair``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import pq

from ..config import Config
from ..db import settle
from ..errors import ConfitureError, HistoryError, MigrationFailed
from ..history import AdvisoryLock, History
from ..hookcaller import Hooks
from ..hookspecs import Backfill, Finding, HookContext, MigrationResult
from ..migrations import Direction, Migration
from ..words import count
from . import gcpause
from .backfills import Backfills
from .body import Body, changes_role, failure_message
from .events import NullReporter, Reporter, RunResult, StatementObserver
from .invalid_indexes import restart_interrupted
from .plan import Planner, Problem, StatusEntry, refusal
from .prefetch import Prefetch
from .record import Recorder
from .retry import ApplySettings, SafeApply
from .session import GUARDED_HOOKS, CommitGuard, Session, riders_of
from .transactions import CommitEach, TransactionPolicy

Conn = psycopg.Connection[Any]


class Runner:
    """Applies and reverts migrations on one database.

    :param conn: a psycopg connection in autocommit mode (the transaction policy issues
        BEGIN and COMMIT itself); the advisory lock lives in its session.
    :param config: the project's configuration.
    :param hooks: the savepoint-isolating hook facade (see :mod:`confiture_core.hookcaller`).
    :param reporter: progress sink; :class:`NullReporter` by default.
    :param observer: optional statement observer (measurements).
    :param migrations: already discovered migrations (else discovered on first use).
    :param plan_notices: report the plan's notices ("nothing to migrate", the
        out-of-order warning); ``False`` for a run that precedes another one reporting them.
    :param policy: the transaction policy; :class:`~.transactions.CommitEach` by default.
    :param guard: the commit guard of the connection's session, to share it with a hook
        facade that arms it itself; a new one by default.
    :raises ValueError: ``conn`` is not in autocommit mode.
    """

    def __init__(
        self,
        conn: Conn,
        config: Config,
        hooks: Hooks,
        reporter: Reporter | None = None,
        observer: StatementObserver | None = None,
        migrations: list[Migration] | None = None,
        plan_notices: bool = True,
        policy: TransactionPolicy | None = None,
        guard: CommitGuard | None = None,
    ) -> None:
        if not conn.autocommit:
            raise ValueError("the runner needs an autocommit connection")
        self.conn = conn
        self.config = config
        self.hooks = hooks
        self.reporter: Reporter = reporter or NullReporter()
        self.observer = observer
        self.policy: TransactionPolicy = policy or CommitEach()
        self.plan_notices = plan_notices
        self.history = History(conn, config)
        self.guard = guard or CommitGuard(conn)
        self.session = Session(conn, config)
        self.planner = Planner(conn, config, hooks, self.history, migrations)
        self.recorder = Recorder(conn, self.history, hooks)
        self.body = Body(conn, self.reporter, observer, self.guard, self.recorder, self.planner)
        #: safe apply (:mod:`.retry`): only for work that is kept
        self.safe = self.body.safe = SafeApply(conn, ApplySettings.of(config) if self.policy.commits else None,
                                               self.reporter)
        self.backfills = Backfills(conn, config, hooks, self.history, self.reporter, self.policy, self.guard,
                                   self.planner)

    # ----------------------------------------------------------------- reads (see Planner)

    def migrations(self) -> list[Migration]:
        """The migrations on disk, by version (discovered once per runner)."""
        return self.planner.migrations()

    def status(self) -> list[StatusEntry]:
        """Every migration on disk and every tracking row, merged by version."""
        return self.planner.status()

    def problems(self, entries: Sequence[StatusEntry] | None = None) -> list[Problem]:
        """See :meth:`Planner.problems`."""
        return self.planner.problems(entries)

    def plan_up(self, target: int | None, entries: Sequence[StatusEntry] | None = None) -> list[Migration]:
        """The pending migrations ``up(target)`` would apply, in order (see :meth:`Planner.plan_up`)."""
        return self.planner.plan_up(target, entries)

    def check_target(self, target: int | None, direction: Direction) -> None:
        """See :meth:`Planner.check_target`.

        :raises ConfigError: no migration has version ``target``.
        """
        self.planner.check_target(target, direction)

    # ----------------------------------------------------------------- session

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the runners' advisory lock (polled; see :class:`~confiture_core.history.AdvisoryLock`).

        Meanwhile psycopg prepares no statement on the connection (``prepare_threshold = None``, put back
        after): the session reset between migrations (``DEALLOCATE ALL``) often rides in messages the body
        sends itself, whose results psycopg does not read, so a statement psycopg prepared would be gone
        while psycopg still counted on it. The last reset, sent through psycopg, makes it forget any it
        prepared before."""
        lock = AdvisoryLock(self.conn, self.config, on_wait=lambda pid: self.reporter.info(
            f"waiting for another runner (pid {pid}) to release the migration lock..."))
        lock.acquire()
        threshold, self.conn.prepare_threshold = self.conn.prepare_threshold, None
        try:
            yield
        finally:
            settle(self.conn)
            self.conn.prepare_threshold = threshold  # first: psycopg reads the last reset's results
            if not self.conn.closed and self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
                riders_of(self.conn).flush()  # the last session reset, before the lock is let go
            riders_of(self.conn).drop()
            lock.release()

    def prepare_guard(self) -> None:
        """Create the commit guard's session objects once (see :meth:`CommitGuard.prepare`); a no-op
        when no hook runs in a transaction and no migration is in Python."""
        if not any(self.hooks.has(f"confiture_{h}") for h in GUARDED_HOOKS) and \
                not any(m.kind == "python" for m in self.migrations()):
            return
        self.guard.prepare()

    def reset_session(self) -> None:
        """See :meth:`Session.reset`."""
        self.session.reset()

    def apply_timeouts(self) -> None:
        """See :meth:`Session.apply_timeouts`."""
        self.session.apply_timeouts()

    # ----------------------------------------------------------------- up

    def up(self, target: int | None = None) -> RunResult:
        """Apply pending migrations (up to and including ``target``).

        :param target: highest version to apply, or ``None`` for all.
        :returns: the :class:`RunResult`; a failed migration is in ``results``.
        :raises ConfigError: no migration has version ``target``.
        :raises HistoryError: changed, missing or failed migrations block the run.
        :raises MigrationFileError: a pending file cannot be parsed or mixes
            transactional and non-transactional statements.
        :raises MigrationFailed: validation findings at error level.
        :raises HookFailed: a hook failed before any migration, or (when the policy
            commits) closed the connection; otherwise a migration whose hook closed it
            is a failed result, as any other failure.
        """
        self.check_target(target, "up")  # before waiting for the lock: a typo is said at once
        with self.locked():
            self.policy.prepare(self.history)
            self.prepare_guard()
            return self._up_locked(target)

    def _up_locked(self, target: int | None) -> RunResult:
        with gcpause.paused():  # the pre-flight parses every pending file (see .gcpause)
            entries = self.status()  # one read of the tracking table for the whole pre-flight
            if self.policy.commits and self._restart_interrupted(entries):
                entries = self.status()
            blocking = self.planner.blocking_problems(entries)
            if blocking:
                raise refusal("refusing to migrate", [p.message for p in blocking],
                              files_only=all(p.kind == "invalid" for p in blocking))
            plan = self.plan_up(target, entries)  # its files checked by blocking_problems, under the pause

        warning = self.planner.check_order(plan, entries)
        if warning and self.plan_notices:
            self.reporter.warn(warning)
        with gcpause.frozen():
            return self._up_planned(plan, entries)

    def _up_planned(self, plan: list[Migration], entries: list[StatusEntry]) -> RunResult:
        """Everything ``up`` does after the pre-flight: backfills resumed, validation, the plan run."""
        result = RunResult("up", rolled_back=not self.policy.commits, planned=list(plan))
        run_ctx = self._context("up", {}, plan)
        with self.policy.run(self.conn, self.history):
            try:
                self.backfills.resume(run_ctx, entries)
                if not plan:
                    if self.plan_notices:
                        self.reporter.info("nothing to migrate: the database is up to date")
                    return result
                try:
                    result.findings = self.validate(run_ctx, plan)
                    errors = [f for f in result.findings if f.level == "error"]
                    if errors:
                        raise MigrationFailed("validation failed, nothing was applied: " + "; ".join(
                            f"[{f.plugin}] migration {f.version}: {f.message}" for f in errors))
                except ConfitureError as exc:
                    self._on_run_error(run_ctx, exc)
                    raise
                self._run_plan(plan, run_ctx, result)
            finally:
                settle(self.conn)
        return result

    def _restart_interrupted(self, entries: Sequence[StatusEntry]) -> bool:
        """Failed migrations that only build indexes concurrently: their INVALID indexes dropped, pending
        again (see :func:`.invalid_indexes.restart_interrupted`); whether there was any."""
        failed = [(e.version, self.planner.by_version().get(e.version)) for e in entries if e.state == "failed"]
        if not failed:
            return False

        def forget(version: int) -> None:
            with self.policy.unit(self.conn):
                self.history.delete(version)

        return bool(restart_interrupted(self.conn, failed, self.config.mixed, forget, self.reporter.warn))

    def _context(self, direction: Direction, state: dict[str, Any], plan: Sequence[Migration],
                 m: Migration | None = None) -> HookContext:
        """A hook context; its rolled-back flag is the policy's (``not commits``)."""
        return HookContext(self.conn, self.config, direction, not self.policy.commits, state, plan, m)

    def validate(self, run_ctx: HookContext, plan: Sequence[Migration]) -> list[Finding]:
        """Call ``confiture_validate`` for each migration of ``plan``, in a unit that is always undone
        (see :meth:`TransactionPolicy.scratch`), under the commit guard.

        :param run_ctx: the run-level context (its state is shared with the per-migration ones).
        :returns: the findings, tagged with plugin and version.
        :raises HookFailed: an implementation raised or returned something else than findings.
        """
        if not self.hooks.has("confiture_validate"):
            return []
        findings: list[Finding] = []
        with self.policy.scratch(self.conn), self.guard.armed(hooks=True):
            for m in plan:
                findings.extend(self.hooks.validate(replace(run_ctx, migration=m)))
        return findings

    def _run_plan(self, plan: Sequence[Migration], run_ctx: HookContext, result: RunResult) -> None:
        """before_migrate, each migration in order (stopping at the first failure), after_migrate."""
        try:
            self._run_level_hook(run_ctx, "before_migrate")
        except ConfitureError as exc:
            self._on_run_error(run_ctx, exc)
            raise
        self.reporter.start(len(plan), run_ctx.direction)
        self.body.meanwhile = prefetch = Prefetch(plan, run_ctx.direction)  # parses while the server works
        try:
            for m in plan:
                prefetch.ready(m)
                res = self._apply_one(m, run_ctx.direction, run_ctx)
                result.results.append(res)
                if res.status == "failed":
                    break
        finally:
            self.body.meanwhile = None
            settle(self.conn)
            self._run_level_hook(run_ctx, "after_migrate", result.results, soft=True)
            self.reporter.finish()

    def _on_run_error(self, run_ctx: HookContext, error: BaseException) -> None:
        """``confiture_on_error`` with ``context.migration`` ``None``: the run failed before any migration."""
        if not self.conn.closed:
            self.hooks.on_error(run_ctx, error)

    def _run_level_hook(self, ctx: HookContext, which: str, results: Sequence[MigrationResult] = (),
                        soft: bool = False) -> None:
        name = f"confiture_{which}"
        if not self.hooks.has(name):
            return
        if self.conn.closed:  # a hook closed it: the run stops with that hook's error
            self.reporter.warn(f"{name} was not called: a hook closed the runner's connection")
            return
        try:
            with self.policy.unit(self.conn), self.guard.armed(hooks=True):
                if which == "before_migrate":
                    self.hooks.before_migrate(ctx)
                else:
                    self.hooks.after_migrate(ctx, results)
        except ConfitureError as exc:
            if not soft:
                raise
            self.reporter.warn(str(exc))

    # ----------------------------------------------------- one migration

    def _apply_one(self, m: Migration, direction: Direction, run_ctx: HookContext) -> MigrationResult:
        ctx = replace(run_ctx, direction=direction, migration=m)
        self.reporter.migration_started(m)
        t0 = time.perf_counter()
        backfills: list[tuple[str, Backfill]] = []
        try:
            if m.is_transactional(direction, mixed=self.config.mixed):
                backfills = self.safe.transactional(m, lambda: self._run_transactional(m, direction, ctx, t0))
            else:
                riders_of(self.conn).flush()  # its statements run in autocommit: the reset first
                backfills = self.safe.autocommit(m, lambda: self._run_autocommit(m, direction, ctx, t0))
        except (psycopg.Error, ConfitureError) as exc:
            return self._failed(ctx, exc, self.safe.explain(failure_message(m, direction, exc)),
                                (time.perf_counter() - t0) * 1000)
        finally:
            settle(self.conn)
            if not self.conn.closed and self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
                self.session.reset_later()  # sent with the next BEGIN (or before the lock's release)
        ms = (time.perf_counter() - t0) * 1000  # the backfills' batches are not counted
        if backfills:
            try:
                self.backfills.run(m, backfills, ctx)
            except (psycopg.Error, ConfitureError) as exc:
                return self._failed(ctx, exc, f"backfill of migration {m.version} ({m.name}) failed: {exc}", ms)
        res = MigrationResult(m.version, m.name, "applied" if direction == "up" else "reverted", ms)
        self.reporter.migration_done(res)
        return res

    def _failed(self, ctx: HookContext, exc: BaseException, message: str, ms: float) -> MigrationResult:
        """The failed result of ``ctx.migration``, after ``confiture_on_error``.

        :raises: ``exc`` again when the connection is closed and the policy commits: nothing more
            can run, and the run stops with this error (naming the hook that closed it); when
            nothing is kept it is reported as the failed migration.
        """
        m = ctx.migration
        assert m is not None
        if not self.conn.closed:
            self.policy.abandon(self.conn)
            self.hooks.on_error(ctx, exc)
        res = MigrationResult(m.version, m.name, "failed", ms, message)
        self.reporter.migration_done(res)
        if self.conn.closed and self.policy.commits:
            raise exc
        return res

    def _run_transactional(self, m: Migration, direction: Direction, ctx: HookContext,
                           t0: float) -> list[tuple[str, Backfill]]:
        try:
            first, last = self._body_rides(m, direction)
            with self._migration_unit(m, first):
                if self.hooks.has("confiture_before_migration"):
                    with self.guard.armed(hooks=True):
                        self.hooks.before_migration(ctx)
                self.body.run(m, direction, transactional=True,
                              python_conn=self.policy.python_connection(self.conn, m), last_rides=last)
                if first and not last:
                    riders_of(self.conn).flush()  # BEGIN, if the body sent nothing, before the hooks that follow
                if changes_role(m, direction):
                    # the hooks and the tracking row run as the login role again
                    self.conn.execute("SET SESSION AUTHORIZATION DEFAULT")
                return self._finish(m, direction, ctx, t0, transactional=True)
        except psycopg.errors.UndefinedTable as exc:  # the tracking row, sent with the COMMIT
            raise MigrationFailed(self.recorder.tracking_table_gone(m, direction)) from exc

    def _body_rides(self, m: Migration, direction: Direction) -> tuple[bool, bool]:
        """Under :class:`CommitEach`, for transactional SQL migration ``m`` applied ``up`` that sets no role
        (nothing to undo after its body): whether its ``BEGIN`` goes with the body's first message (always: a
        ``confiture_before_migration`` hook that sends a statement sends it first, with its ``SAVEPOINT``; one that
        sends nothing costs nothing), and whether the body's last message goes
        with the tracking row and the ``COMMIT`` (no ``confiture_after_migration`` or ``confiture_backfill``
        hook after it). Without such hooks, one message for most migrations (two round trips less)."""
        if not (isinstance(self.policy, CommitEach) and m.kind == "sql" and direction == "up"
                and not changes_role(m, direction)):
            return False, False
        # a before_migration hook that queries sends the BEGIN with its first SAVEPOINT (CommitGuard.armed)
        return True, not self.hooks.has("confiture_after_migration") and not self.hooks.has("confiture_backfill")

    def _migration_unit(self, m: Migration, lazy: bool) -> AbstractContextManager[None]:
        """The policy's unit for transactional migration ``m``; ``lazy`` (see :meth:`_body_rides`): its
        ``BEGIN`` waits for the body's first message."""
        policy = self.policy
        if lazy and isinstance(policy, CommitEach):
            return policy.migration(self.conn, m, lazy_begin=True)
        return policy.migration(self.conn, m)

    def _finish(self, m: Migration, direction: Direction, ctx: HookContext,
                t0: float, *, transactional: bool) -> list[tuple[str, Backfill]]:
        """In the migration's (or its closing) transaction: after_migration and backfill hooks, the
        tracking row (with the COMMIT, when the policy is :class:`CommitEach`), the backfills to run;
        returns those backfills."""
        backfills: list[tuple[str, Backfill]] = []
        if self.hooks.has("confiture_after_migration") or self.hooks.has("confiture_backfill"):
            with self.guard.armed(hooks=True):
                self.hooks.after_migration(ctx)
                if direction == "up":
                    backfills = self.hooks.backfill(ctx)
        self.recorder.done(m, direction, t0, backfills, defer=isinstance(self.policy, CommitEach) and transactional)
        return backfills

    def _run_autocommit(self, m: Migration, direction: Direction, ctx: HookContext,
                        t0: float) -> list[tuple[str, Backfill]]:
        reason = self.policy.autocommit_skip_reason
        if reason is not None:
            # the policy keeps these statements from running: report them
            self.body.skip(m, direction, reason)
            return []
        if self.hooks.has("confiture_before_migration"):
            with self.policy.unit(self.conn), self.guard.armed(hooks=True):
                self.hooks.before_migration(ctx)
        if direction == "up":
            self.recorder.in_progress(m)
        body_done = False
        try:
            self.body.run(m, direction, transactional=False)
            body_done = True
            with self.policy.unit(self.conn):
                backfills = self._finish(m, direction, ctx, t0, transactional=False)
        except (psycopg.Error, ConfitureError) as exc:
            if direction != "up" or (isinstance(exc, MigrationFailed) and exc.recorded) or self.conn.closed:
                raise
            # the tracking row still says "interrupted": record what really happened
            ran = ("its statements ran and were committed" if body_done
                   else "it runs outside a transaction, so part of it may have run")
            msg = (f"{failure_message(m, direction, exc)}; {ran}. It is recorded as failed: check the database, "
                   "then run `confiture migrate repair`")
            self.recorder.failure(m, msg)
            raise MigrationFailed(msg, recorded=True) from exc
        return backfills

    # ----------------------------------------------------------------- down, repair, baseline

    def down(self, target: int | None = None) -> RunResult:
        """Revert applied migrations newer than ``target`` (default: the latest one).

        :param target: the version to keep (everything above it is reverted).
        :raises ConfigError: no migration has version ``target`` (0 reverts everything).
        :raises HistoryError: nothing to revert past a baseline, a failed row, or a
            migration without a down file (checked before anything runs).
        """
        self.check_target(target, "down")
        with self.locked():
            self.policy.prepare(self.history)
            self.prepare_guard()
            with self.policy.run(self.conn, self.history):
                plan = self.planner.plan_down(target)
                result = RunResult("down", rolled_back=not self.policy.commits, planned=list(plan))
                if not plan:
                    self.reporter.info("nothing to revert")
                    return result
                self._run_plan(plan, self._context("down", {}, plan), result)
                return result

    def repair(self) -> list[str]:
        """Realign the tracking table with the files, after review.

        Removes failed rows (those migrations become pending again), updates the
        checksum and name of changed ones, and removes rows whose file is gone.

        :returns: one line per change made.
        :raises HistoryError: a failed migration left an INVALID index (a CREATE INDEX
            CONCURRENTLY that failed or was killed) that the re-run would trip over: the
            message gives the DROP INDEX CONCURRENTLY to run first; nothing is changed.
        """
        with self.locked():
            self.policy.prepare(self.history)
            done: list[str] = []
            files = self.planner.by_version()
            with self.policy.run(self.conn, self.history), self.policy.unit(self.conn):
                for r in self.history.rows():
                    if r.kind == "baseline":
                        continue
                    m = files.get(r.version)
                    if not r.success:
                        left = self.planner.invalid_index_hint(m) if m is not None else ""
                        if left:  # `up` would trip over it ("relation ... already exists"): nothing is repaired
                            raise HistoryError(f"cannot repair migration {r.version} ({r.name}): "
                                               f"{left.removeprefix('; ')}; nothing was changed")
                        self.history.delete(r.version)
                        done.append(f"removed failed migration {r.version} ({r.name}): it is pending again")
                    elif m is None:
                        self.history.delete(r.version)
                        done.append(f"removed migration {r.version} ({r.name}): its file is gone")
                    elif r.checksum != m.checksum:
                        self.history.update_checksum(r.version, m.name, m.checksum)
                        done.append(f"updated the checksum of migration {r.version} ({m.name})")
            return done

    def baseline(self, version: int) -> None:
        """Mark an existing database as already at ``version``.

        Migrations up to and including ``version`` count as applied and never run.

        :raises HistoryError: the tracking table already has rows.
        :raises ConfigError: no migration file has ``version`` but some are below it (see
            :meth:`Planner.check_baseline`).
        """
        self.planner.check_baseline(version)
        with self.locked():
            self.policy.prepare(self.history)
            with self.policy.run(self.conn, self.history):
                rows = self.history.rows()
                if rows:
                    raise HistoryError(f"cannot baseline: {self.history.display_name} already has "
                                       f"{count(len(rows), 'row')}; baseline only an unmanaged database")
                files = self.planner.by_version()
                name = files[version].name if version in files else "baseline"
                with self.policy.unit(self.conn):
                    self.history.record(version, name, None, 0, True, kind="baseline")
