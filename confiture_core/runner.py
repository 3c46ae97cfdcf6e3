"""The runner: plan -> validate -> run phases -> record; status, down, repair, baseline.

Transactions. Each transactional migration runs with its hooks and its tracking
row in one transaction, committed on its own (``BEGIN`` ... ``COMMIT``). A
migration holding statements that cannot run in a transaction block (CREATE
INDEX CONCURRENTLY, VACUUM, ...) runs in autocommit, one statement at a time; its
tracking row is first written as failed ("in progress") and set to success at
the end, so a failure or a kill midway blocks later runs until
``confiture migrate repair``.

Session state. Between migrations the session is reset (``RESET ALL``, ``SET
SESSION AUTHORIZATION DEFAULT``, ``DEALLOCATE ALL``, ``CLOSE ALL``, ``UNLISTEN
*``, ``DISCARD PLANS``, ``DISCARD SEQUENCES``) and the configured
``lock_timeout`` / ``statement_timeout`` are set again, so a migration's
``SET search_path`` never leaks into the next. ``DISCARD ALL`` is not used: it
would also release the runners' advisory lock.

Commit guard. While plugin hooks run inside a migration's transaction, a row
sits in a temporary table whose deferred constraint trigger raises at COMMIT:
a hook that sends ``COMMIT`` therefore fails and rolls everything back instead
of committing half a migration.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import psycopg
from pglast import ast
from pglast.enums import ObjectType, TransactionStmtKind
from psycopg import pq, sql

from .backfill import BackfillStore, UnfinishedBackfill
from .config import Config
from .db import settle
from .errors import ConfigError, ConfitureError, HistoryError, MigrationFailed, MigrationFileError
from .history import AdvisoryLock, AppliedRow, History
from .hookcaller import HookFailed, Hooks
from .hookspecs import Backfill, BackfillBatch, Finding, HookContext, MigrationResult
from .migrations import Direction, Migration, discover, shown
from .sql import Statement, trusted_parsing

Conn = psycopg.Connection[Any]

_SKIP_TX = {
    TransactionStmtKind.TRANS_STMT_BEGIN,
    TransactionStmtKind.TRANS_STMT_START,
    TransactionStmtKind.TRANS_STMT_COMMIT,
}
_REFUSE_TX = {
    TransactionStmtKind.TRANS_STMT_ROLLBACK,
    TransactionStmtKind.TRANS_STMT_PREPARE,
    TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
    TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
}


class Reporter(Protocol):
    """Receives progress from the runner (the CLI draws it with rich)."""

    def start(self, total: int, direction: Direction) -> None:
        """A run of ``total`` migrations begins."""

    def migration_started(self, migration: Migration) -> None:
        """One migration begins."""

    def migration_done(self, result: MigrationResult) -> None:
        """One migration ended (applied, reverted or failed)."""

    def info(self, message: str) -> None:
        """A one-line notice for people (stderr)."""

    def warn(self, message: str) -> None:
        """A one-line warning for people (stderr)."""

    def finish(self) -> None:
        """The run ended."""


class StatementObserver(Protocol):
    """Sees every statement the runner executes (the dry run measures through it)."""

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        """Just before ``statement`` is sent."""

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                        rowcount: int) -> None:
        """Just after ``statement`` succeeded: its duration (ms) and rows affected (-1: n/a)."""

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        """``statement`` was not executed (transaction control, or a dry run's autocommit-only one)."""

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                         error: str) -> None:
        """``statement`` was sent and failed after ``duration_ms`` (ms); ``error`` is the one-line message."""


class NullReporter:
    """A reporter that drops everything (library use)."""

    def start(self, total: int, direction: Direction) -> None:
        pass

    def migration_started(self, migration: Migration) -> None:
        pass

    def migration_done(self, result: MigrationResult) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class StatusEntry:
    """One line of ``migrate status``.

    :ivar state: ``applied``, ``pending``, ``failed``, ``changed`` (file edited
        after it was applied), ``missing`` (applied, file gone), ``baseline`` (the
        baseline marker), ``below-baseline`` (covered by the baseline) or
        ``backfill-unfinished`` (applied, but a batched backfill it started has not
        finished: ``error`` says which, and whether its plugin is loaded).
    :ivar backfills: the unfinished backfills of an applied migration.
    """

    version: int
    name: str
    applied: bool
    state: str
    applied_at: str | None = None
    execution_ms: float | None = None
    applied_by: str | None = None
    file: str | None = None
    error: str | None = None
    backfills: list[UnfinishedBackfill] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The JSON object of ``migrate status --format json`` (version as a string)."""
        return {
            "version": str(self.version),
            "name": self.name,
            "applied": self.applied,
            "state": self.state,
            "applied_at": self.applied_at,
            "execution_ms": self.execution_ms,
            "applied_by": self.applied_by,
            "file": self.file,
            "error": self.error,
        }


@dataclass
class Problem:
    """A disagreement between the tracking table and the files (``migrate validate``)."""

    version: int
    kind: Literal["changed", "missing", "failed", "invalid", "finding", "backfill"]
    message: str
    level: str = "error"


@dataclass
class RunResult:
    """What ``up`` or ``down`` did."""

    direction: Direction
    results: list[MigrationResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dry_run: bool = False
    #: every migration the run planned, in order (those after a failure have no result)
    planned: list[Migration] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether a migration failed."""
        return any(r.status == "failed" for r in self.results)


class Runner:
    """Applies and reverts migrations on one database.

    :param conn: a psycopg connection in autocommit mode (the runner issues BEGIN
        and COMMIT itself); the advisory lock lives in its session.
    :param config: the project's configuration.
    :param hooks: the savepoint-isolating hook facade (see :mod:`confiture_core.hookcaller`).
    :param reporter: progress sink; :class:`NullReporter` by default.
    :param observer: optional statement observer (dry-run measurements).
    :param migrations: already discovered migrations (else discovered on first use).
    :param plan_notices: report the plan's notices ("nothing to migrate", the
        out-of-order warning); ``False`` for the review gate's dry run, since the
        real run that follows reports them.
    """

    #: The savepoints a dry run holds around hook calls: validation (always rolled back), and each
    #: migration or run-level hook call (see :meth:`_scratch_tx`, :meth:`_tx`).
    SCRATCH_SAVEPOINT = "confiture_scratch"
    MIGRATION_SAVEPOINT = "confiture_migration"

    def __init__(
        self,
        conn: Conn,
        config: Config,
        hooks: Hooks,
        reporter: Reporter | None = None,
        observer: StatementObserver | None = None,
        migrations: list[Migration] | None = None,
        plan_notices: bool = True,
    ) -> None:
        if not conn.autocommit:
            raise ValueError("the runner needs an autocommit connection")
        self.conn = conn
        self.config = config
        self.hooks = hooks
        self.reporter: Reporter = reporter or NullReporter()
        self.observer = observer
        self.history = History(conn, config)
        self._guard_ready = False
        self._dry_run = False
        self._migrations: list[Migration] | None = migrations
        self.plan_notices = plan_notices

    # ----------------------------------------------------------------- reads

    def migrations(self) -> list[Migration]:
        """The migrations on disk, by version (see :func:`confiture_core.migrations.discover`).

        Discovered once per runner, so each file is read, parsed or imported once.
        """
        if self._migrations is None:
            self._migrations = discover(self.config.migrations_dir)
        return self._migrations

    def status(self) -> list[StatusEntry]:
        """Every migration on disk and every tracking row, merged by version."""
        files = {m.version: m for m in self.migrations()}
        rows = {r.version: r for r in self.history.rows()}
        unfinished: dict[int, list[UnfinishedBackfill]] = {}
        if rows:
            for b in BackfillStore(self.conn, self.history).unfinished():
                unfinished.setdefault(b.version, []).append(b)
        baseline = max((r.version for r in rows.values() if r.kind == "baseline"), default=None)
        out: list[StatusEntry] = []
        for v in sorted(set(files) | set(rows)):
            m, r = files.get(v), rows.get(v)
            name = m.name if m else (r.name if r else "")
            rel = str(m.up_path.relative_to(self.config.project_dir)) if m and m.up_path.is_relative_to(
                self.config.project_dir) else (str(m.up_path) if m else None)
            if r is None:
                below = baseline is not None and v <= baseline
                out.append(StatusEntry(v, name, below, "below-baseline" if below else "pending", file=rel))
                continue
            if r.kind == "baseline":
                state = "baseline"
            elif not r.success:
                state = "failed"
            elif m is None:
                state = "missing"
            elif r.checksum != m.checksum:
                state = "changed"
            else:
                state = "applied"
            error = r.error
            if state == "failed" and m is not None:
                error = f"{error or 'no detail'}{self._invalid_index_hint(m)}"
            backfills = unfinished.get(v, [])
            if state == "applied" and backfills:
                state = "backfill-unfinished"
                error = "; ".join(self._describe_unfinished(b) for b in backfills)
            out.append(StatusEntry(
                v, name, r.success, state, r.applied_at.isoformat(), round(r.execution_ms, 3),
                r.applied_by, rel, error, backfills,
            ))
        return out

    def _describe_unfinished(self, b: UnfinishedBackfill) -> str:
        loaded = b.plugin in self.hooks.implementers("confiture_backfill")
        return (f"backfill {b.name!r} of plugin {b.plugin!r} is unfinished ({b.batches} batch(es), {b.rows} "
                f"row(s) so far)" + ("" if loaded else f", and plugin {b.plugin!r} is not loaded"))

    def problems(self, entries: Sequence[StatusEntry] | None = None) -> list[Problem]:
        """Changed, missing and failed migrations, unparsable pending files, and
        unfinished backfills (their data change is incomplete: a problem, though
        ``migrate up`` resumes rather than refuses them)."""
        entries = self.status() if entries is None else entries
        out = self._blocking_problems(entries)
        for e in entries:
            if e.state == "backfill-unfinished":
                missing = sorted({b.plugin for b in e.backfills}
                                 - self.hooks.implementers("confiture_backfill"))
                todo = (f"load plugin(s) {', '.join(map(repr, missing))}, then run `confiture migrate up` to finish "
                        "it" if missing else "run `confiture migrate up` to finish it")
                out.append(Problem(e.version, "backfill", f"migration {e.version} ({e.name}): {e.error}; {todo}"))
        return out

    def _blocking_problems(self, entries: Sequence[StatusEntry]) -> list[Problem]:
        """Changed, missing and failed migrations, and unparsable pending files: what blocks ``up``."""
        out: list[Problem] = []
        for e in entries:
            if e.state == "failed":
                todo = "" if e.error and (_INVALID_INDEX_MARK in e.error or "confiture migrate repair" in e.error) \
                    else "; fix the database by hand, then run `confiture migrate repair`"
                out.append(Problem(e.version, "failed",
                                   f"migration {e.version} ({e.name}) failed: {e.error or 'no detail'}{todo}"))
            elif e.state == "changed":
                out.append(Problem(e.version, "changed",
                                   f"{e.file}: changed after it was applied (checksum differs); revert the edit "
                                   "or, after review, run `confiture migrate repair`"))
            elif e.state == "missing":
                out.append(Problem(e.version, "missing",
                                   f"migration {e.version} ({e.name}) was applied but its file is gone; restore "
                                   "it or run `confiture migrate repair`"))
        files = {m.version: m for m in self.migrations()}
        pending = [files[e.version] for e in entries if e.state == "pending"]
        parse_errors: dict[int, MigrationFileError] = {}
        with trusted_parsing():  # nothing but parsing in this block (see trusted_parsing)
            for m in pending:
                if m.kind == "sql":
                    try:
                        m.sql("up")
                    except MigrationFileError as exc:
                        parse_errors[m.version] = exc
        for m in pending:
            try:
                if m.version in parse_errors:
                    raise parse_errors[m.version]
                m.is_transactional("up", mixed=self.config.mixed)
            except MigrationFileError as exc:
                out.append(Problem(m.version, "invalid", str(exc)))
        return out

    # ----------------------------------------------------------------- plan

    def _plan_up(self, target: int | None, entries: Sequence[StatusEntry]) -> list[Migration]:
        by_version = {e.version: e for e in entries}
        return [
            m for m in self.migrations()
            if by_version[m.version].state == "pending" and (target is None or m.version <= target)
        ]

    def _applied_rows(self) -> dict[int, AppliedRow]:
        return {r.version: r for r in self.history.rows()}

    # ----------------------------------------------------------------- lock

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the runners' advisory lock (polled; see :class:`~confiture_core.history.AdvisoryLock`)."""
        lock = AdvisoryLock(self.conn, self.config, on_wait=lambda pid: self.reporter.info(
            f"waiting for another runner (pid {pid}) to release the migration lock..."))
        lock.acquire()
        try:
            yield
        finally:
            settle(self.conn)
            lock.release()

    # ----------------------------------------------------------------- up

    def up(self, target: int | None = None, *, dry_run: bool = False) -> RunResult:
        """Apply pending migrations (up to and including ``target``).

        :param target: highest version to apply, or ``None`` for all.
        :param dry_run: run everything inside one transaction that is rolled back.
        :returns: the :class:`RunResult`; a failed migration is in ``results``.
        :raises HistoryError: changed, missing or failed migrations block the run.
        :raises MigrationFileError: a pending file cannot be parsed or mixes
            transactional and non-transactional statements.
        :raises MigrationFailed: validation findings at error level.
        :raises HookFailed: a hook failed before any migration, or (in a real run)
            closed the connection; in a dry run a migration whose hook closed it is a
            failed result, as any other failure.
        """
        self.check_target(target, "up")  # before waiting for the lock: a typo is said at once
        with self.locked():
            if not dry_run:
                self.history.ensure()
            self.prepare_guard()
            return self._up_locked(target, dry_run)

    def check_target(self, target: int | None, direction: Direction) -> None:
        """Refuse a ``--to`` version that no migration has (a typo would otherwise apply or revert
        everything). Known: the versions of the files and of the tracking table's rows; for ``down``, also
        0 (revert everything).

        :raises ConfigError: naming the version and the nearest known ones.
        """
        if target is None or (direction == "down" and target == 0):
            return
        known = {m.version for m in self.migrations()} | {r.version for r in self.history.rows()}
        if target in known:
            return
        below = max((v for v in known if v < target), default=None)
        above = min((v for v in known if v > target), default=None)
        near = ", ".join(f"{v} {where}" for v, where in ((below, "below"), (above, "above")) if v is not None)
        everything = "; --to 0 reverts every migration" if direction == "down" else ""
        raise ConfigError(f"--to {target}: no migration has version {target} (nearest: {near or 'none'}); give a "
                          f"migration's version{everything}")

    def _up_locked(self, target: int | None, dry_run: bool) -> RunResult:
        entries = self.status()  # one read of the tracking table for the whole pre-flight
        blocking = self._blocking_problems(entries)
        if blocking:
            # files that cannot run only: a usage error (exit 2), as when reverting; history problems: exit 1
            kind = MigrationFileError if all(p.kind == "invalid" for p in blocking) else HistoryError
            raise kind(refusal("refusing to migrate", [p.message for p in blocking]))
        plan = self._plan_up(target, entries)
        self._check_order(plan, entries)
        result = RunResult("up", dry_run=dry_run, planned=list(plan))
        state: dict[str, Any] = {}
        run_ctx = HookContext(self.conn, self.config, "up", dry_run, state, plan)
        self._dry_run = dry_run
        if dry_run:
            self.conn.execute("BEGIN")
            self.history.ensure()  # rolled back with everything else
        try:
            self._resume_backfills(run_ctx, entries)
            if not plan:
                if self.plan_notices:
                    self.reporter.info("nothing to migrate: the database is up to date")
                return result
            try:
                result.findings = self._validate(run_ctx, plan)
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
            if dry_run and not self.conn.closed:
                self.conn.execute("ROLLBACK")
        return result

    def _check_order(self, plan: Sequence[Migration], entries: Sequence[StatusEntry]) -> None:
        """Apply ``out_of_order`` to pending migrations older than the newest applied one.

        :raises HistoryError: ``out_of_order = "refuse"`` and there are some (every one named).
        """
        newest = max((e.version for e in entries if e.applied), default=None)
        late = [m for m in plan if newest is not None and m.version < newest]
        if not late or self.config.out_of_order == "allow":
            return
        where = self.config.config_file.name if self.config.config_file else "the configuration"
        if self.config.out_of_order == "refuse":
            files = "\n".join(f"  {shown(m.up_path)}" for m in late)
            raise HistoryError(f"refusing to migrate: {len(late)} pending migration(s) older than the newest applied "
                               f"one ({newest}), and out_of_order = \"refuse\" in {where}: give them versions above "
                               f"{newest}, or set out_of_order = \"allow\" (nothing was changed):\n{files}")
        if self.plan_notices:
            self.reporter.warn(f"{len(late)} pending migration(s) are older than the newest applied one "
                               f"({newest}), e.g. {shown(late[0].up_path)}; applying them out of order "
                               f'(out_of_order = "allow" in {where} silences this, "refuse" stops the run)')

    def _run_plan(self, plan: Sequence[Migration], run_ctx: HookContext, result: RunResult) -> None:
        """before_migrate, each migration in order (stopping at the first failure), after_migrate."""
        try:
            self._run_level_hook(run_ctx, "before_migrate")
        except ConfitureError as exc:
            self._on_run_error(run_ctx, exc)
            raise
        self.reporter.start(len(plan), run_ctx.direction)
        try:
            for m in plan:
                res = self._apply_one(m, run_ctx.direction, run_ctx)
                result.results.append(res)
                if res.status == "failed":
                    break
        finally:
            settle(self.conn)
            self._run_level_hook(run_ctx, "after_migrate", result.results, soft=True)
            self.reporter.finish()

    def _on_run_error(self, run_ctx: HookContext, error: BaseException) -> None:
        """``confiture_on_error`` with ``context.migration`` ``None``: the run failed before any migration."""
        if not self.conn.closed:
            self.hooks.on_error(run_ctx, error)

    def _validate(self, run_ctx: HookContext, plan: Sequence[Migration]) -> list[Finding]:
        if not self.hooks.has("confiture_validate"):
            return []
        findings: list[Finding] = []
        with self._scratch_tx(run_ctx.dry_run), self._guarded():
            for m in plan:
                ctx = HookContext(self.conn, self.config, run_ctx.direction, run_ctx.dry_run, run_ctx.state,
                                  run_ctx.migrations, m)
                findings.extend(self.hooks.validate(ctx))
        return findings

    @contextmanager
    def _scratch_tx(self, dry_run: bool) -> Iterator[None]:
        """A transaction (or, in a dry run, a savepoint) that is always rolled back."""
        if dry_run:
            self.conn.execute(f"SAVEPOINT {self.SCRATCH_SAVEPOINT}")
        else:
            self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if not self.conn.closed:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {self.SCRATCH_SAVEPOINT}" if dry_run else "ROLLBACK")

    def _run_level_hook(self, ctx: HookContext, which: str, results: Sequence[MigrationResult] = (),
                        soft: bool = False) -> None:
        name = f"confiture_{which}"
        if not self.hooks.has(name):
            return
        if self.conn.closed:  # a hook closed it: the run stops with that hook's error
            self.reporter.warn(f"{name} was not called: a hook closed the runner's connection")
            return
        try:
            with self._tx(ctx.dry_run):
                with self._guarded():
                    if which == "before_migrate":
                        self.hooks.before_migrate(ctx)
                    else:
                        self.hooks.after_migrate(ctx, results)
        except ConfitureError as exc:
            if not soft:
                raise
            self.reporter.warn(str(exc))

    # ------------------------------------------------------- transactions

    @contextmanager
    def _tx(self, dry_run: bool) -> Iterator[None]:
        """BEGIN/COMMIT, or in a dry run SAVEPOINT/RELEASE inside the outer transaction."""
        if dry_run:
            self.conn.execute(f"SAVEPOINT {self.MIGRATION_SAVEPOINT}")
        else:
            self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            settle(self.conn)
            if not self.conn.closed and self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {self.MIGRATION_SAVEPOINT}" if dry_run else "ROLLBACK")
                if dry_run:
                    self.conn.execute(f"RELEASE SAVEPOINT {self.MIGRATION_SAVEPOINT}")
            raise
        if dry_run:
            self.conn.execute(f"RELEASE SAVEPOINT {self.MIGRATION_SAVEPOINT}")
        else:
            # one round trip: let the commit guard pass, then commit
            self.conn.execute("SELECT set_config('confiture.commit_ok', 'on', true); COMMIT")

    def prepare_guard(self) -> None:
        """Create the commit guard's session objects (a temp table, its function and
        deferred trigger) once, in autocommit, so they outlive any rolled-back
        migration. A no-op when no hook is implemented and no migration is in
        Python, or when already done."""
        if self._guard_ready or self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return
        if not any(self.hooks.has(f"confiture_{h}") for h in _GUARDED_HOOKS) and \
                not any(m.kind == "python" for m in self.migrations()):
            return
        self._ensure_guard()
        self._guard_ready = True

    def _ensure_guard(self) -> None:
        self.conn.execute(
            """
            SET client_min_messages = warning;
            CREATE TEMP TABLE IF NOT EXISTS confiture_commit_guard (id int);
            CREATE OR REPLACE FUNCTION pg_temp.confiture_commit_guard() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_temp.confiture_commit_guard WHERE id = NEW.id)
                 AND current_setting('confiture.commit_ok', true) IS DISTINCT FROM 'on' THEN
                RAISE EXCEPTION 'confiture: a plugin hook or Python migration issued COMMIT inside a migration; %',
                  'refused and rolled back'
                  USING HINT = 'hooks and transactional Python migrations must not commit, roll back or '
                               'close the runner''s connection';
              END IF;
              RETURN NULL;
            END $$;
            DROP TRIGGER IF EXISTS confiture_commit_guard ON pg_temp.confiture_commit_guard;
            CREATE CONSTRAINT TRIGGER confiture_commit_guard AFTER INSERT ON pg_temp.confiture_commit_guard
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.confiture_commit_guard();
            RESET client_min_messages;
            """
        )

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Arm the commit guard while hooks run in the current transaction."""
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            yield
            return
        if not self._guard_ready:
            # created inside this transaction: not marked ready, since a rollback
            # of the transaction drops it again (prepare_guard() avoids this cost)
            self._ensure_guard()
        self.conn.execute("INSERT INTO pg_temp.confiture_commit_guard VALUES (1)")
        yield
        if self.conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            try:
                self.conn.execute("DELETE FROM pg_temp.confiture_commit_guard")
            except psycopg.errors.InsufficientPrivilege as exc:
                raise MigrationFailed(
                    "the runner lost its login role's privileges while plugin hooks or a Python migration ran "
                    f"({exc.diag.message_primary or exc}): one of them ran SET ROLE and left it set; it must "
                    "RESET ROLE before returning") from exc

    def reset_session(self) -> None:
        """Reset session state a migration may have changed, keeping the advisory lock.

        One round trip: the resets and :meth:`apply_timeouts`' settings in one string.
        """
        self.conn.execute(sql.SQL("; ").join([
            sql.SQL("RESET ALL; SET SESSION AUTHORIZATION DEFAULT; DEALLOCATE ALL; CLOSE ALL; UNLISTEN *; "
                    "DISCARD PLANS; DISCARD SEQUENCES"),
            *self._timeout_statements(),
        ]))

    def apply_timeouts(self) -> None:
        """SET the configured ``lock_timeout`` and ``statement_timeout`` for this session.

        Also sets ``client_connection_check_interval`` to 1 s (PostgreSQL 14 and
        later): when the runner is killed mid-statement, its backend notices the
        lost client within a second and rolls back, releasing the advisory lock,
        instead of running on to the end of a long statement.
        """
        statements = self._timeout_statements()
        if statements:
            self.conn.execute(sql.SQL("; ").join(statements))

    def _timeout_statements(self) -> list[sql.Composable]:
        settings: list[tuple[str, str | None]] = [("lock_timeout", self.config.lock_timeout),
                                                  ("statement_timeout", self.config.statement_timeout)]
        if self.conn.info.server_version >= 140000:
            settings.append(("client_connection_check_interval", "1s"))
        return [sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(str(value)))
                for name, value in settings if value is not None]

    # ----------------------------------------------------- one migration

    def _apply_one(self, m: Migration, direction: Direction, run_ctx: HookContext) -> MigrationResult:
        ctx = HookContext(self.conn, self.config, direction, run_ctx.dry_run, run_ctx.state,
                          run_ctx.migrations, m)
        self.reporter.migration_started(m)
        t0 = time.perf_counter()
        backfills: list[tuple[str, Backfill]] = []
        try:
            if m.is_transactional(direction, mixed=self.config.mixed):
                backfills = self._run_transactional(m, direction, ctx, t0)
            else:
                backfills = self._run_autocommit(m, direction, ctx, t0)
        except (psycopg.Error, ConfitureError) as exc:
            ms = (time.perf_counter() - t0) * 1000
            message = self._failure_message(m, direction, exc)
            if not self.conn.closed:
                if not run_ctx.dry_run and self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    self.conn.execute("ROLLBACK")
                self.hooks.on_error(ctx, exc)
            res = MigrationResult(m.version, m.name, "failed", ms, message)
            self.reporter.migration_done(res)
            if self.conn.closed and not run_ctx.dry_run:
                # nothing more can run: the run stops with this error (naming the hook that closed it); a dry
                # run reports it as the failed migration (its hooks facade stops calling hooks)
                raise
            return res
        finally:
            settle(self.conn)
            if not self.conn.closed and self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
                self.reset_session()
        ms = (time.perf_counter() - t0) * 1000
        if backfills:
            try:
                self._run_backfills(m, backfills, ctx)
            except (psycopg.Error, ConfitureError) as exc:
                message = f"backfill of migration {m.version} ({m.name}) failed: {exc}"
                if not self.conn.closed:
                    if not run_ctx.dry_run and self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                        self.conn.execute("ROLLBACK")
                    self.hooks.on_error(ctx, exc)
                res = MigrationResult(m.version, m.name, "failed", ms, message)
                self.reporter.migration_done(res)
                if self.conn.closed and not run_ctx.dry_run:
                    raise
                return res
        res = MigrationResult(m.version, m.name, "applied" if direction == "up" else "reverted", ms)
        self.reporter.migration_done(res)
        return res

    def _failure_message(self, m: Migration, direction: Direction, exc: BaseException) -> str:
        if isinstance(exc, ConfitureError):
            return str(exc)
        path = m.path_for(direction) or m.up_path
        return f"{path.name}: {exc}"

    def _record_done(self, m: Migration, direction: Direction, t0: float) -> None:
        if direction == "up":
            self.history.record(m.version, m.name, m.checksum, (time.perf_counter() - t0) * 1000, True)
        else:
            self.history.delete(m.version)
            # a reverted migration's backfills start over when it is applied again
            BackfillStore(self.conn, self.history).forget(m.version)

    def _run_transactional(self, m: Migration, direction: Direction, ctx: HookContext,
                           t0: float) -> list[tuple[str, Backfill]]:
        # A Python migration could end the runner's transaction (conn.rollback(), a ROLLBACK statement) and go
        # on writing in autocommit: while it runs, a transaction it did not open is read-only, so nothing it
        # writes after that can be committed (the commit guard covers COMMIT).
        read_only_after = m.kind == "python" and not ctx.dry_run
        if read_only_after:
            self.conn.execute("SET default_transaction_read_only = on")
        try:
            with self._tx(ctx.dry_run):
                if read_only_after:
                    self.conn.execute("SET TRANSACTION READ WRITE")  # the runner's own transaction
                if self.hooks.has("confiture_before_migration"):
                    with self._guarded():
                        self.hooks.before_migration(ctx)
                self._execute_body(m, direction, transactional=True)
                if _changes_role(m, direction):
                    # the hooks and the tracking row run as the login role again
                    self.conn.execute("SET SESSION AUTHORIZATION DEFAULT")
                backfills = self._finish(m, direction, ctx, t0)
        finally:
            if read_only_after and not self.conn.closed and \
                    self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
                self.conn.execute("RESET default_transaction_read_only")
        return backfills

    def _finish(self, m: Migration, direction: Direction, ctx: HookContext,
                t0: float) -> list[tuple[str, Backfill]]:
        """In the migration's (or its closing) transaction: after_migration and backfill hooks, the
        tracking row, the backfills to run; returns those backfills."""
        backfills: list[tuple[str, Backfill]] = []
        if self.hooks.has("confiture_after_migration") or self.hooks.has("confiture_backfill"):
            with self._guarded():
                self.hooks.after_migration(ctx)
                if direction == "up":
                    backfills = self.hooks.backfill(ctx)
        try:
            self._record_done(m, direction, t0)
        except psycopg.errors.UndefinedTable as exc:  # the only table _record_done touches
            raise MigrationFailed(self._tracking_table_gone(m, direction)) from exc
        if backfills:
            BackfillStore(self.conn, self.history).register(m, backfills)
        return backfills

    def _tracking_table_gone(self, m: Migration, direction: Direction) -> str:
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

    def _run_autocommit(self, m: Migration, direction: Direction, ctx: HookContext,
                        t0: float) -> list[tuple[str, Backfill]]:
        if ctx.dry_run:
            # nothing of it can run inside the dry run's transaction: report it
            self._execute_body(m, direction, transactional=False, dry_run=True)
            return []
        if self.hooks.has("confiture_before_migration"):
            with self._tx(False), self._guarded():
                self.hooks.before_migration(ctx)
        if direction == "up":
            self.history.record(m.version, m.name, m.checksum, 0, False,
                                error="interrupted while in progress (it runs outside a transaction); some of its "
                                      "statements may have run")
        body_done = False
        try:
            self._execute_body(m, direction, transactional=False)
            body_done = True
            with self._tx(False):
                backfills = self._finish(m, direction, ctx, t0)
        except (psycopg.Error, ConfitureError) as exc:
            if direction != "up" or (isinstance(exc, MigrationFailed) and exc.recorded) or self.conn.closed:
                raise
            # the tracking row still says "interrupted": record what really happened
            ran = ("its statements ran and were committed" if body_done
                   else "it runs outside a transaction, so part of it may have run")
            msg = (f"{self._failure_message(m, direction, exc)}; {ran}. It is recorded as failed: check the "
                   "database, then run `confiture migrate repair`")
            self._record_failure(m, msg)
            raise MigrationFailed(msg, recorded=True) from exc
        return backfills

    def _execute_body(self, m: Migration, direction: Direction, *, transactional: bool,
                      dry_run: bool = False) -> None:
        if m.kind == "python":
            fn = m.python_callable(direction)
            if dry_run:
                if self.observer:
                    self.observer.skipped_statement(m, _python_pseudo_statement(m), "not executed in dry-run")
                return
            if self.observer:
                self.observer.before_statement(m, _python_pseudo_statement(m))
            t = time.perf_counter()
            if self._dry_run:
                fn = _dry_run_callable(fn, m)
            try:
                self._call_python(m, direction, fn, transactional)
            except MigrationFailed as exc:
                if self.observer:
                    self.observer.failed_statement(m, _python_pseudo_statement(m),
                                                   (time.perf_counter() - t) * 1000, str(exc))
                raise
            if self.observer:
                self.observer.after_statement(m, _python_pseudo_statement(m), (time.perf_counter() - t) * 1000, -1)
            return
        path = m.path_for(direction)
        assert path is not None
        statements = m.sql(direction).statements
        for i, st in enumerate(statements):
            if transactional and isinstance(st.node, ast.TransactionStmt):
                kind = st.node.kind
                if kind in _SKIP_TX:
                    self.reporter.info(f"{path.name}:{st.line}: skipped {st.sql.split()[0].upper()}: the "
                                       "migration already runs in its own transaction")
                    if st.node.options:
                        self.reporter.warn(f"{path.name}:{st.line}: the options of {st.sql!r} are ignored; the "
                                           "runner's transaction uses the server's defaults (put SET TRANSACTION "
                                           "... as the migration's first statement instead)")
                    if self.observer:
                        self.observer.skipped_statement(m, st, "transaction control (runner's transaction)")
                    continue
                if kind in _REFUSE_TX:
                    raise MigrationFailed(
                        f"{shown(path)}:{st.line}: {st.sql.split()[0].upper()} is not allowed in a migration that runs "
                        "in a transaction; remove it (the runner rolls back on failure)")
            if dry_run:
                if self.observer:
                    self.observer.skipped_statement(m, st, "not executed in dry-run")
                continue
            if self.observer:
                self.observer.before_statement(m, st)
            t = time.perf_counter()
            try:
                cur = self._execute(st)
            except psycopg.Error as exc:
                message = self._statement_error(m, path, statements, i, exc, transactional)
                if self.observer:
                    self.observer.failed_statement(m, st, (time.perf_counter() - t) * 1000, message)
                raise MigrationFailed(message, recorded=not transactional) from exc
            if self.observer:
                self.observer.after_statement(m, st, (time.perf_counter() - t) * 1000, cur.rowcount)

    def _call_python(self, m: Migration, direction: Direction, fn: Callable[..., Any], transactional: bool) -> None:
        """Run a Python migration's ``up``/``down`` with the same guards as plugin hooks.

        Its output goes to stderr (stdout is reserved for ``--format json``). In a
        transactional migration the commit guard is armed, and a function that
        commits, rolls back or closes the connection fails the migration, which is
        then recorded as failed (part of its work may have been committed).

        :raises MigrationFailed: the function raised (``SystemExit`` included) or
            broke the runner's transaction; the message names the file and line.
        """
        where = shown(m.up_path)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                if transactional:
                    with self._guarded():
                        fn(self.conn)
                else:
                    fn(self.conn)
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as exc:
            line = _traceback_line(exc, m.up_path)
            at = f"{where}:{line}" if line else where
            if transactional and isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) and not self.conn.closed \
                    and self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
                raise MigrationFailed(f"{at}: {direction}() {self._ENDED_TX}") from exc
            if isinstance(exc, psycopg.Error):
                primary = exc.diag.message_primary or str(exc).splitlines()[0]
                raise MigrationFailed(f"{at}: {direction}() failed: {primary}"
                                      + (f" [{exc.sqlstate}]" if exc.sqlstate else "")) from exc
            what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else \
                f"raised {type(exc).__name__}: {exc}"
            raise MigrationFailed(f"{at}: {direction}() {what}") from exc
        if transactional and not self.conn.closed and \
                self.conn.info.transaction_status == pq.TransactionStatus.INERROR:
            # nothing was committed: the migration's transaction is rolled back, nothing is recorded
            raise MigrationFailed(
                f"{where}: {direction}() caught a database error and went on, which leaves the transaction "
                "aborted; nothing was applied. Let the error propagate, or catch it around a savepoint "
                "(with conn.transaction(): ...)")
        if transactional and not self.conn.closed and \
                self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            # rolled back: what ran before is gone, and what ran after could not write (see _run_transactional)
            raise MigrationFailed(f"{where}: {direction}() {self._ENDED_TX}")
        if transactional and self.conn.closed:
            msg = (f"{where}: {direction}() closed the runner's connection; a Python migration must not do that "
                   "(set transactional = False to manage transactions yourself)")
            raise MigrationFailed(msg, recorded=True)

    #: a transactional Python migration ended the runner's transaction (and went on, or returned)
    _ENDED_TX = ("rolled back the runner's transaction (conn.rollback() or a ROLLBACK statement); nothing it did was "
                 "applied: a transactional Python migration must not end its transaction (raise to fail it, or set "
                 "transactional = False to manage transactions yourself)")

    def _execute(self, st: Statement) -> psycopg.Cursor[Any]:
        cur = self.conn.cursor()
        if st.copy_data is not None:
            with cur.copy(st.sql) as copy:
                copy.write(st.copy_data.encode())
        else:
            cur.execute(st.sql.encode(), prepare=False)
        return cur

    def _statement_error(self, m: Migration, path: Any, statements: Sequence[Statement], i: int,
                         exc: psycopg.Error, transactional: bool) -> str:
        st = statements[i]
        line = st.line
        pos = exc.diag.statement_position
        if pos and pos.isdigit():
            line = st.line_of(int(pos))
        primary = exc.diag.message_primary or str(exc).splitlines()[0]
        code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        msg = f"{shown(path)}:{line}: {primary}{code}"
        if exc.diag.message_hint:
            msg += f" (hint: {exc.diag.message_hint})"
        if st.copy_data is not None and exc.diag.context:
            msg += f" ({exc.diag.context.splitlines()[0]})"
        if not transactional:
            n = len(statements)

            def span(a: int, b: int) -> str:
                return f"statement {a}" if a == b else f"statements {a}-{b}"

            ran = (f"{span(1, i)} ran and {'was' if i == 1 else 'were'} committed" if i
                   else "no statement had run")
            rest = f", {span(i + 2, n)} did not run" if i + 1 < n else " (the last one)"
            msg += f"; this migration runs outside a transaction: {ran}, statement {i + 1} failed{rest}"
            hint = self._invalid_index_hint(m) if not self.conn.closed else ""
            self._record_failure(m, msg)  # the hint is read again when shown: the index may be dropped by then
            msg += (f". It is recorded as failed{hint}" if hint else
                    ". It is recorded as failed: fix the database by hand, then run `confiture migrate repair`")
        return msg

    def _invalid_index_hint(self, m: Migration) -> str:
        """``"; it left invalid index ...: run DROP INDEX CONCURRENTLY IF EXISTS ...; then repair"``, for the
        indexes that ``m``'s CREATE INDEX CONCURRENTLY statements name and that are INVALID (a failed,
        cancelled or killed build leaves one behind); ``""`` when there is none. A catalog read (pg_index)."""
        if m.kind != "sql" or self.conn.info.transaction_status == pq.TransactionStatus.INERROR:
            return ""
        try:
            statements = m.sql("up").statements
        except MigrationFileError:
            return ""
        wanted = [(st.node.relation.schemaname if st.node.relation else None, st.node.idxname) for st in statements
                  if isinstance(st.node, ast.IndexStmt) and st.node.concurrent and st.node.idxname]
        if not wanted:
            return ""
        rows = self.conn.execute(
            "SELECT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT i.indisvalid AND c.relname = ANY(%s) ORDER BY 1, 2", [[name for _, name in wanted]]).fetchall()
        from pglast.stream import maybe_double_quote_name as q  # quotes only where PostgreSQL needs it

        found = [f"{q(schema)}.{q(name)}" for schema, name in rows
                 if any(name == n and (s is None or s == schema) for s, n in wanted)]
        if not found:
            return ""
        drops = " ".join(f"DROP INDEX CONCURRENTLY IF EXISTS {f};" for f in found)
        return (f"; {_INVALID_INDEX_MARK} {', '.join(found)}: run `{drops}` then `confiture migrate repair`, "
                "which makes the migration pending again")

    def _record_failure(self, m: Migration, msg: str) -> None:
        try:
            if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")
            self.history.record(m.version, m.name, m.checksum, 0, False, error=msg)
        except psycopg.Error:
            pass

    # ----------------------------------------------------------- backfill

    def _run_backfills(self, m: Migration, backfills: Sequence[tuple[str, Backfill]], ctx: HookContext) -> None:
        store = BackfillStore(self.conn, self.history)
        for plugin, b in backfills:
            saved = store.load(m.version, plugin, b.name) if not ctx.dry_run else None
            state: dict[str, Any] = dict(saved or {})
            batches = 0
            while True:
                if batches >= b.max_batches:
                    raise MigrationFailed(f"backfill {b.name!r} of plugin {plugin!r} did not finish in "
                                          f"{b.max_batches} batches")
                with self._tx(ctx.dry_run):
                    call = BackfillBatch(self.conn, state, m, ctx.dry_run)
                    try:
                        rows = _checked_batch(b, call, b.batch(call))
                    except psycopg.Error:
                        raise
                    except (Exception, SystemExit) as exc:
                        raise HookFailed(plugin, "confiture_backfill (batch)", f" for migration {m.up_path.name}",
                                         exc) from exc
                    state = call.state  # the batch may have replaced the dict
                    batches += 1
                    done = rows == 0
                    if not ctx.dry_run:
                        store.save(m.version, plugin, b.name, state, rows, done)
                if done:
                    break

    def _resume_backfills(self, run_ctx: HookContext, entries: Sequence[StatusEntry]) -> None:
        """Finish the backfills a killed run left unfinished; warn about those nothing can finish
        (their plugin is not loaded, or no longer returns them)."""
        if run_ctx.dry_run:
            return
        by_v = {m.version: m for m in self.migrations()}
        loaded = self.hooks.implementers("confiture_backfill")
        for e in entries:
            m = by_v.get(e.version)
            if not e.backfills or m is None:
                continue
            orphans = [b for b in e.backfills if b.plugin not in loaded]
            for b in orphans:
                self.reporter.warn(f"migration {e.version} ({e.name}): {self._describe_unfinished(b)}: it stays "
                                   f"unfinished until `confiture migrate up` runs with plugin {b.plugin!r} loaded")
            wanted = {(b.plugin, b.name) for b in e.backfills if b.plugin in loaded}
            if not wanted:
                continue
            ctx = HookContext(self.conn, self.config, "up", False, {**run_ctx.state, "resuming": True},
                              run_ctx.migrations, m)
            try:
                with self._tx(False), self._guarded():
                    found = self.hooks.backfill(ctx)
                todo = [(p, b) for p, b in found if (p, b.name) in wanted]
                for p, n in sorted(wanted - {(p, b.name) for p, b in todo}):
                    self.reporter.warn(f"migration {e.version} ({e.name}): backfill {n!r} of plugin {p!r} is "
                                       "unfinished, but the plugin no longer returns it from confiture_backfill: "
                                       "it stays unfinished")
                if todo:
                    self.reporter.info(f"resuming {len(todo)} unfinished backfill(s) of migration {e.version}")
                    self._run_backfills(m, todo, ctx)
            except (psycopg.Error, ConfitureError) as exc:
                if not self.conn.closed:
                    self.hooks.on_error(ctx, exc)
                raise

    # ----------------------------------------------------------------- down

    def down(self, target: int | None = None) -> RunResult:
        """Revert applied migrations newer than ``target`` (default: the latest one).

        :param target: the version to keep (everything above it is reverted).
        :raises HistoryError: nothing to revert past a baseline, a failed row, or a
            migration without a down file (checked before anything runs).
        """
        self.check_target(target, "down")
        with self.locked():
            self.history.ensure()
            self.prepare_guard()
            rows = self._applied_rows()
            failed = [r for r in rows.values() if not r.success]
            if failed:
                raise HistoryError(f"migration {failed[0].version} ({failed[0].name}) is marked failed; run "
                                   "`confiture migrate repair` first")
            applied = sorted((v for v, r in rows.items() if r.kind == "migration"), reverse=True)
            if target is None:
                to_revert = applied[:1]
            else:
                to_revert = [v for v in applied if v > target]
            baselines = [v for v, r in rows.items() if r.kind == "baseline"]
            if target is not None and baselines and target < max(baselines):
                raise HistoryError(f"cannot revert below the baseline at version {max(baselines)}")
            files = {m.version: m for m in self.migrations()}
            plan: list[Migration] = []
            refused: list[ConfitureError] = []
            for v in to_revert:  # every migration checked before anything runs; every refusal named at once
                m = files.get(v)
                if m is None:
                    refused.append(HistoryError(f"migration {v} ({rows[v].name}) is applied but its file is gone; "
                                                "cannot revert it"))
                elif not m.has_down():
                    refused.append(HistoryError(f"{shown(m.up_path)}: no down migration; add {v}_{m.name}.down.sql "
                                                "or stop the revert above it with --to"))
                else:
                    try:
                        m.is_transactional("down", mixed=self.config.mixed)
                    except MigrationFileError as exc:
                        refused.append(exc)
                    plan.append(m)
            if len(refused) == 1:
                raise refused[0]
            if refused:
                # bad files only: a usage error (exit 2), as one bad file is
                kind = MigrationFileError if all(isinstance(e, MigrationFileError) for e in refused) else HistoryError
                raise kind(refusal("refusing to revert", [str(e) for e in refused]))
            result = RunResult("down", planned=list(plan))
            if not plan:
                self.reporter.info("nothing to revert")
                return result
            self._run_plan(plan, HookContext(self.conn, self.config, "down", False, {}, plan), result)
            return result

    # ------------------------------------------------------ repair/baseline

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
            self.history.ensure()
            done: list[str] = []
            files = {m.version: m for m in self.migrations()}
            with self._tx(False):
                for r in self.history.rows():
                    if r.kind == "baseline":
                        continue
                    m = files.get(r.version)
                    if not r.success:
                        left = self._invalid_index_hint(m) if m is not None else ""
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
        """
        with self.locked():
            self.history.ensure()
            rows = self.history.rows()
            if rows:
                raise HistoryError(f"cannot baseline: {self.history.display_name} already has {len(rows)} "
                                   "row(s); baseline only an unmanaged database")
            files = {m.version: m for m in self.migrations()}
            name = files[version].name if version in files else "baseline"
            with self._tx(False):
                self.history.record(version, name, None, 0, True, kind="baseline")


def refusal(summary: str, items: Sequence[str]) -> str:
    """An error naming several things: ``summary`` alone when there is one item (``summary: item``),
    else ``summary`` with a count on the first line and one item per line below it."""
    if len(items) == 1:
        return f"{summary}: {items[0]}"
    return f"{summary} ({len(items)} problems, nothing was changed):\n" + "\n".join(f"  {i}" for i in items)


def _checked_batch(b: Backfill, call: BackfillBatch, rows: Any) -> int:
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


def _changes_role(m: Migration, direction: Direction) -> bool:
    """Whether a migration may have run SET ROLE / SET SESSION AUTHORIZATION."""
    if m.kind == "python":
        return True
    return any(
        isinstance(st.node, ast.VariableSetStmt) and (st.node.name in ("role", "session_authorization")
                                                      or st.node.name is None)
        for st in m.sql(direction).statements
    )


def _traceback_line(exc: BaseException, path: Any) -> int | None:
    """The line of ``path`` nearest to where ``exc`` was raised, if it is in the traceback."""
    target = str(path)
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == target:
            line = frame.lineno
    return line


def _python_pseudo_statement(m: Migration) -> Statement:
    return Statement(sql=f"-- python migration {m.up_path.name}", node=ast.SelectStmt(), index=0, offset=0,
                     line=1, column=1)


#: how a failure message names the invalid indexes a CREATE INDEX CONCURRENTLY left behind
_INVALID_INDEX_MARK = "it left an INVALID index:"

#: hooks that run inside a transaction of the runner, under the commit guard
_GUARDED_HOOKS = ("validate", "before_migrate", "after_migrate", "before_migration", "after_migration", "backfill")

OnWait = Callable[[int | None], None]


class _DryRunConnection:
    """The connection a Python migration gets in a dry run: commit, rollback and close are refused.

    A ``rollback()`` would end the dry run's outer transaction, and whatever the
    migration ran next would be committed in autocommit mode.
    """

    def __init__(self, conn: Conn, m: Migration) -> None:
        self._conn = conn
        self._where = m.up_path.name

    def _refuse(self, what: str) -> None:
        raise MigrationFailed(f"{self._where}: {what}() is not allowed in a dry run (it would end the dry run's "
                              "transaction); the runner commits or rolls back itself")

    def commit(self) -> None:
        self._refuse("commit")

    def rollback(self) -> None:
        self._refuse("rollback")

    def close(self) -> None:
        self._refuse("close")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _dry_run_callable(fn: Callable[..., Any], m: Migration) -> Callable[..., Any]:
    def call(conn: Conn) -> Any:
        return fn(_DryRunConnection(conn, m))

    return call
