"""The migration lifecycle contract: every Confiture hook, typed, with its docstring.

Plugins implement these with the :data:`hookimpl` marker::

    from confiture_core.hookspecs import hookimpl

    @hookimpl
    def confiture_after_migration(context):
        context.connection.execute("INSERT INTO audit(version) VALUES (%s)",
                                   [context.migration.version])

A run (``confiture migrate up``) is, in order:

1. :func:`confiture_configure` once, after plugins are loaded.
2. :func:`confiture_validate` for every pending migration, before any DDL runs.
3. :func:`confiture_before_migrate` once.
4. Per migration, inside its transaction: :func:`confiture_before_migration`, the
   migration's statements, :func:`confiture_after_migration`,
   :func:`confiture_backfill`, the tracking row, COMMIT. Batched backfills that a
   ``confiture_backfill`` returned then run, each batch committed on its own.
   :func:`confiture_on_error` when anything fails.
5. :func:`confiture_after_migrate` once, with the results.

Isolation: the runner calls each implementation of a per-migration hook inside
its own ``SAVEPOINT``. When the implementation raises, the runner rolls back to
that savepoint (none of its writes survive) and applies the failure policy:
abort the migration (default) or, for a plugin listed in ``[plugins] non_fatal``,
log a warning and go on. ``sys.exit()`` in a hook is a failure like any
exception (``KeyboardInterrupt`` still interrupts the run). An implementation must
not COMMIT, ROLLBACK or close the connection, nor leave a ``SET ROLE`` in place:
the runner detects it and fails the migration. A closed connection also stops the
run, since nothing more can run on it: ``confiture_after_migrate`` and
``confiture_on_error`` are then not called. A return value of the wrong type is a
plugin failure too, named like an exception.

The savepoint is taken when the implementation first uses the connection
(``execute``, ``executemany``, COPY, ``conn.transaction()``, pipeline mode, a
server-side cursor, ``commit()``: anything that goes through psycopg's
``Connection.wait()``), so an implementation that runs no query costs no round
trip; its ``RELEASE`` is sent with the next statement. At most one hook savepoint
is open at a time. Using libpq directly (``conn.pgconn``) bypasses that: what a
hook sends that way runs under no savepoint of its own (outside the contract;
a transaction it ends is still detected).

Hook order is pluggy's: ``tryfirst`` first, ``trylast`` last, otherwise the plugin
registered last runs first; ``wrapper=True`` (and old-style ``hookwrapper=True``)
implementations wrap the others, each half of a wrapper (before and after its
``yield``) in its own savepoint. A wrapper sees an inner failure as
:class:`~confiture_core.hookcaller.HookFailed` (its ``original`` attribute holds the
exception raised); swallowing it makes the call succeed, as in pluggy. Hooks
nobody implements cost nothing: no savepoint, no round trip.

``confiture migrate down`` calls the same hooks with ``context.direction ==
"down"``, except :func:`confiture_validate` and :func:`confiture_backfill`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pluggy

if TYPE_CHECKING:
    import psycopg

    from .config import Config
    from .lint.rule import LintRule
    from .migrations import Migration

PROJECT_NAME = "confiture"

#: Marks a function in a plugin as a hook implementation (pluggy ``HookimplMarker``).
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
#: Marks a function here as a hook specification (pluggy ``HookspecMarker``).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

Level = Literal["error", "warning", "info"]
#: the levels a :class:`Finding` may have, most severe first
LEVELS: tuple[Level, ...] = ("error", "warning", "info")


@dataclass
class Finding:
    """A problem reported by :func:`confiture_validate`.

    :ivar level: ``"error"`` stops the run before any DDL; ``"warning"`` and
        ``"info"`` are reported only. Any other value (``"fatal"``, ``"Error"``)
        raises ``ValueError`` when the ``Finding`` is made: a plugin failure.
    :ivar message: one line saying what is wrong and what to do.
    :ivar plugin: the reporting plugin's name (filled in by the runner).
    :ivar version: the migration's version (filled in by the runner).
    """

    level: Level
    message: str
    plugin: str | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown Finding level {self.level!r}; expected one of "
                             f"{', '.join(map(repr, LEVELS))}")


@dataclass
class HookContext:
    """What every hook receives as ``context``.

    :ivar connection: the runner's psycopg ``Connection``. Inside per-migration
        hooks it is in the migration's transaction (within the hook's savepoint);
        in run-level hooks it is in autocommit mode (or inside the dry-run's
        outer transaction).
    :ivar config: the project's :class:`~confiture_core.config.Config`;
        ``config.section("plugins")`` etc. give raw settings.
    :ivar direction: ``"up"`` or ``"down"``.
    :ivar dry_run: ``True`` when everything will be rolled back at the end.
    :ivar state: a ``dict`` shared by all hooks of one run (per-run state).
    :ivar migrations: the migrations planned for this run, in order.
    :ivar migration: the current migration (``None`` in run-level hooks).
    """

    connection: psycopg.Connection[Any]
    config: Config
    direction: Literal["up", "down"]
    dry_run: bool
    state: dict[str, Any] = field(default_factory=dict)
    migrations: Sequence[Migration] = ()
    migration: Migration | None = None


@dataclass
class BackfillBatch:
    """What a batched backfill's ``batch`` callable receives.

    :ivar connection: a connection inside a fresh transaction for this batch; the
        runner commits it, together with ``state``, when ``batch`` returns.
    :ivar state: JSON-serialisable ``dict`` persisted after every batch (a keyset
        cursor, say); ``{}`` on the first batch, the saved value when a killed
        backfill resumes.
    :ivar migration: the migration the backfill belongs to.
    :ivar dry_run: ``True`` in a dry run (batches then run inside the outer,
        rolled-back transaction).
    """

    connection: psycopg.Connection[Any]
    state: dict[str, Any]
    migration: Migration
    dry_run: bool


@dataclass
class Backfill:
    """A data backfill run in batches after its migration's DDL has committed.

    :ivar name: unique among the backfills a plugin returns for one migration (two
        of one name are refused); the resume key.
    :ivar batch: called repeatedly; does one batch of work and returns the number
        of rows it touched (``int``, 0 or more). Returning ``0`` ends the
        backfill; returning anything else (``None``, a negative number, a string)
        is a plugin failure.
    :ivar max_batches: safety stop (``int``); the backfill fails beyond it.
    """

    name: str
    batch: Callable[[BackfillBatch], int]
    max_batches: int = 1_000_000


@dataclass
class MigrationResult:
    """The outcome of one migration in a run (passed to :func:`confiture_after_migrate`).

    :ivar version: the migration's version.
    :ivar name: its name.
    :ivar status: ``"applied"``, ``"reverted"``, ``"failed"`` or ``"skipped"``.
    :ivar duration_ms: wall time of the migration (float, milliseconds).
    :ivar error: the one-line error for a failure, else ``None``.
    """

    version: int
    name: str
    status: Literal["applied", "reverted", "failed", "skipped"]
    duration_ms: float
    error: str | None = None


# ---------------------------------------------------------------- run level


@hookspec
def confiture_configure(config: Config) -> None:
    """Called once, after every plugin is registered and before any command runs.

    No database connection exists yet. Read settings (``config.section(...)``),
    check them and raise ``confiture_core.errors.ConfigError`` with a one-line
    message when they are wrong. The return value is ignored.

    :param config: the project's configuration.
    """


@hookspec
def confiture_validate(context: HookContext) -> Iterable[Finding] | None:
    """Called for every pending migration before any migration runs; also by
    ``confiture migrate validate``.

    Runs inside its own savepoint of one transaction, shared by the validation of
    every pending migration and rolled back at the end: it may query the
    database, and its writes (visible to later ``confiture_validate`` calls of the
    same run) never persist. ``context.migration`` is the migration checked; its
    statements have not run. Return a list of findings (or ``None``): any
    ``"error"`` finding stops the run before any DDL is executed, and the CLI
    exits 1; ``"warning"`` and ``"info"`` ones are printed. Raising is a plugin
    failure: the run stops (exit 1) unless the plugin is non-fatal; so is
    returning anything else (a bare ``Finding``, a dict, a number) or a
    ``Finding`` whose level is not one of the three. A run stopped here calls
    :func:`confiture_on_error` with ``context.migration`` ``None``.

    :param context: the run context, with ``migration`` set.
    :returns: a list (any iterable but a string or mapping) of :class:`Finding`,
        or ``None`` for nothing to say.
    """


@hookspec
def confiture_before_migrate(context: HookContext) -> None:
    """Called once per run, after validation, before the first migration.

    Runs in its own savepoint of a short transaction committed before the first
    migration (rolled back in a dry run). Raising aborts the run before any
    migration (unless the plugin is non-fatal), then :func:`confiture_on_error`
    is called with ``context.migration`` ``None``. The return value is ignored.

    :param context: the run context (``migration`` is ``None``).
    """


@hookspec
def confiture_after_migrate(context: HookContext, results: Sequence[MigrationResult]) -> None:
    """Called once per run, after the last migration, even when one failed
    (but not when a hook closed the runner's connection).

    Runs in its own savepoint of a short transaction committed afterwards (rolled
    back in a dry run). A failure here is reported as a warning: the migrations
    are already committed. The return value is ignored.

    :param context: the run context (``migration`` is ``None``).
    :param results: one :class:`MigrationResult` per migration of the run, in order.
    """


# ----------------------------------------------------------- per migration


@hookspec
def confiture_before_migration(context: HookContext) -> None:
    """Called inside the migration's transaction, before its statements.

    For a migration that runs outside a transaction (CREATE INDEX CONCURRENTLY...)
    it runs in its own short transaction first. It may read and write; a raise
    aborts the migration (its transaction is rolled back) unless the plugin is
    non-fatal. The return value is ignored.

    :param context: the run context with ``migration`` set.
    """


@hookspec
def confiture_after_migration(context: HookContext) -> None:
    """Called inside the migration's transaction, after its statements succeeded
    and before its tracking row is written and committed.

    Writes made here commit or roll back with the migration. A raise aborts the
    migration unless the plugin is non-fatal. The return value is ignored.

    :param context: the run context with ``migration`` set.
    """


@hookspec
def confiture_backfill(context: HookContext) -> Iterable[Backfill] | Backfill | None:
    """Called inside the migration's transaction, after
    :func:`confiture_after_migration`, for ``up`` only: the place for data work
    after the DDL.

    Two ways to backfill: do small work right here with ``context.connection``
    (it commits with the migration), or return :class:`Backfill` objects whose
    ``batch`` callables the runner calls after the migration has committed, each
    batch in its own transaction together with its saved progress. A backfill
    killed midway resumes on the next run: the runner calls this hook again for
    that migration (``context.state["resuming"]`` is ``True``) and continues the
    backfills of the same names with their saved ``state``. A batch that raises,
    returns anything but a row count (an ``int``, 0 or more) or leaves a
    ``state`` that is not a JSON-serialisable dict fails the migration's result
    (the migration itself stays applied; its unfinished backfill resumes on the
    next run). Until it finishes, ``confiture migrate status`` shows the
    migration as ``backfill-unfinished``, ``confiture migrate validate`` reports
    it (exit 1), and ``confiture migrate up`` warns when the plugin that owns it
    is not loaded (nothing else can finish it).

    :param context: the run context with ``migration`` set.
    :returns: ``None``, a :class:`Backfill`, or a list of them, with distinct
        names; anything else, or two backfills of one name, is a plugin failure.
    """


@hookspec
def confiture_on_error(context: HookContext, error: BaseException) -> None:
    """Called when a migration, one of its hooks or a backfill failed, after its
    transaction was rolled back; also when the run failed before any migration
    (validation, including an ``"error"`` finding, or :func:`confiture_before_migrate`).

    Runs in autocommit (or inside the dry run's transaction), without savepoint:
    each statement it runs commits at once. Use it to notify or to record the
    failure. It is not called when a hook closed the connection. Its own
    exceptions are reported as warnings and otherwise ignored; the return value
    is ignored.

    :param context: the run context with ``migration`` set (``None`` when the run
        failed before any migration).
    :param error: the exception that failed the migration.
    """


# ------------------------------------------------------------------ lint


@hookspec
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """Return the lint rule classes this plugin brings.

    Called once when ``confiture lint`` (or a command that lints) starts, and by
    ``confiture plugins`` to list each plugin's rules; no database, no
    transaction. Built-in rule packs in ``confiture_plugins`` use this hook too.

    :returns: a sequence of :class:`~confiture_core.lint.rule.LintRule` subclasses.
    """
