"""One measured dry run: the runner under a dry-run policy (rolled back, or committed on a copy), measured."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg

from ..config import Config, check_duration
from ..errors import ConfitureError
from ..hookcaller import Hooks
from ..hookspecs import MigrationResult
from ..migrations import Direction, Migration
from ..runner import CommitGuard, NullReporter, Reporter, Runner, RunResult, Session
from .batched import BatchedObserver
from .blockers import BlockerWatch, LockBlocked, is_lock_timeout
from .hooks import DryRunHooks
from .observer import MeasuringObserver
from .policy import CommitOnCopy, RollbackAll
from .report import DryRunReport, attach_report, build_report
from .sequences import restore_sequences

Conn = psycopg.Connection[Any]

DEFAULT_LOCK_TIMEOUT = "2s"


def dry_run_lock_timeout(config: Config) -> str:
    """``[dry_run] lock_timeout`` (default ``"2s"``), validated.

    :raises ConfigError: not a duration.
    """
    value = config.section("dry_run").get("lock_timeout", DEFAULT_LOCK_TIMEOUT)
    return check_duration(value, f"{config.config_file}: [dry_run] lock_timeout")


def _set_sequences(report: DryRunReport, restored: list[str], skipped: list[tuple[str, str]]) -> None:
    report.sequences_restored = restored
    report.sequences_not_restored = [n for n, _ in skipped]
    report.sequences_not_restored_reasons = dict(skipped)


class _RecordingReporter(NullReporter):
    """Forwards to the CLI's reporter and remembers which migrations started and how each ended."""

    def __init__(self, inner: Reporter | None) -> None:
        self.inner: Reporter = inner or NullReporter()
        self.started: list[Migration] = []
        self.results: list[MigrationResult] = []

    def start(self, total: int, direction: Direction) -> None:
        self.inner.start(total, direction)

    def migration_started(self, migration: Migration) -> None:
        self.started.append(migration)
        self.inner.migration_started(migration)

    def migration_done(self, result: MigrationResult) -> None:
        self.results.append(result)
        self.inner.migration_done(result)

    def info(self, message: str) -> None:
        self.inner.info(message)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def finish(self) -> None:
        self.inner.finish()


def _partial(observer: MeasuringObserver, runner: Runner, rec: _RecordingReporter, target: int | None,
             server_version: int, timeout: str, exc: BaseException) -> DryRunReport:
    error = str(exc).strip() or type(exc).__name__
    observer.flush()
    planned: dict[int, Migration] = {m.version: m for m in rec.started}
    if not runner.conn.closed:
        try:
            planned.update((m.version, m) for m in runner.plan_up(target))
        except (psycopg.Error, ConfitureError):
            pass
    results = list(rec.results)
    done = {r.version for r in results}
    results.extend(MigrationResult(m.version, m.name, "failed", 0.0, error) for m in rec.started
                   if m.version not in done)
    report = build_report(observer.reports, RunResult("up", results=results, rolled_back=True,
                                                      planned=[planned[v] for v in sorted(planned)]),
                          server_version, timeout)
    report.error = error
    return report


def dry_run(conn: Conn, config: Config, hooks: Hooks, *, target: int | None = None,
            reporter: Reporter | None = None, watch_url: str | None = None,
            lock_timeout: str | None = None, preflight: bool = False,
            statement_timeout: str | None = None, on_copy: bool = False) -> DryRunReport:
    """Run every pending migration (up to ``target``) in a measured dry run, then roll back.

    Two policies: on the target (``on_copy`` false) the whole run is one transaction rolled
    back at the end (:class:`~.policy.RollbackAll`); on a scratch copy nobody else uses
    (``on_copy``: a shadow database) each migration is committed (:class:`~.policy.CommitOnCopy`),
    so each migration's locks are measured exactly as a real apply takes them and the cost per
    migration does not grow with the migrations before it; there a migration's statements go in one
    message, as the real apply sends them, with the lock reads among them (:class:`~.batched.BatchedObserver`).
    The copy keeps what the run did: drop it afterwards.

    :param conn: an autocommit connection (as :class:`~confiture_core.runner.Runner` needs).
    :param config: the project's configuration; its ``lock_timeout`` is replaced
        by ``lock_timeout`` (default: ``[dry_run] lock_timeout``, ``"2s"``).
    :param hooks: the plugin hooks (they run with ``context.dry_run`` true).
    :param target: highest version to include, ``None`` for all.
    :param watch_url: libpq URL for the second connection that names blocking
        backends; ``None`` disables it.
    :param preflight: the review gate's dry run before a real run: the plan's notices
        (nothing to migrate, out-of-order warning) are left to the real run.
    :param on_copy: ``conn`` is a scratch copy (see above); sequences are then left as the run left them.
    :param statement_timeout: replaces the project's ``statement_timeout`` for the dry run (the
        guard of a dry run on the target, see :func:`~.place.target_statement_timeout`).
    :returns: the :class:`DryRunReport` (a failed migration is in it, not raised).
    :raises LockBlocked: a statement waited longer than ``lock_timeout`` for
        another session's lock; the message names the blockers.
    :raises HistoryError, MigrationFileError, MigrationFailed: as ``Runner.up``; the report of what
        was measured until then is attached (see :func:`~.report.partial_report`).
    """
    timeout = lock_timeout or dry_run_lock_timeout(config)
    cfg = replace(config, lock_timeout=timeout)
    if statement_timeout is not None:
        cfg = replace(cfg, statement_timeout=statement_timeout)
    watch = BlockerWatch(watch_url, conn.info.backend_pid) if watch_url else None
    # on a copy, each migration's statements go in one message as a real apply sends them (.batched); a
    # before_migration hook's locks would be held before them: then one statement at a time, as on the target
    batched = on_copy and not hooks.has("confiture_before_migration")
    observer = (BatchedObserver if batched else MeasuringObserver)(conn, watch, mixed=config.mixed)
    policy: RollbackAll | CommitOnCopy = CommitOnCopy() if on_copy else RollbackAll()
    guard = CommitGuard(conn)
    rec = _RecordingReporter(reporter)
    runner = Runner(conn, cfg, DryRunHooks(hooks, conn, policy, guard), reporter=rec, observer=observer,
                    plan_notices=not preflight, policy=policy, guard=guard)
    server_version = conn.info.server_version
    runner.apply_timeouts()
    start = observer.begin()
    result: RunResult | None = None
    restored: list[str] = []
    skipped: list[tuple[str, str]] = []
    try:
        result = runner.up(target)
    except Exception as exc:
        # whatever stops the run, the CLI still prints the report of what was measured (see partial_report)
        if watch:
            watch.close()
            watch = None
        if not conn.closed and not on_copy:
            try:
                restored, skipped = restore_sequences(conn, start, observer.end_state(), observer.seqs_seen,
                                                      observer.seqs_proven)
            except psycopg.Error:
                pass
        try:
            partial = _partial(observer, runner, rec, target, server_version, timeout, exc)
            _set_sequences(partial, restored, skipped)
            attach_report(exc, partial)
        except Exception:
            pass
        raise
    finally:
        if watch:
            watch.close()
        if not conn.closed:
            try:
                Session(conn, config).apply_timeouts()  # the project's own again
            except psycopg.Error:
                pass
    observer.flush()
    if not conn.closed and not on_copy:
        restored, skipped = restore_sequences(conn, start, observer.end_state(), observer.seqs_seen,
                                              observer.seqs_proven)
    report = build_report(observer.reports, result, server_version, timeout)
    _set_sequences(report, restored, skipped)
    failed = [m for m in report.migrations if m.status == "failed"]
    if failed and is_lock_timeout(failed[0].error):
        blockers = watch.blockers if watch else []
        if blockers:
            waited = blockers[0].waiting_for or "a lock"
            who = "; ".join(b.describe() for b in blockers)
            detail = (f"dry run stopped: migration {failed[0].version} ({failed[0].name}) waited more than "
                      f"lock_timeout {timeout} for {waited}, blocked by {who}.")
        else:
            detail = (f"dry run stopped: migration {failed[0].version} ({failed[0].name}) waited more than "
                      f"lock_timeout {timeout} for a lock held by another session ({failed[0].error}).")
        msg = f"{detail} Nothing was changed."
        report.error = msg
        raise LockBlocked(msg, report, detail)
    return report
