"""SQL callback files, a first-party plugin: ``callbacks/<event>.sql`` run through the lifecycle hooks.

Flyway's callbacks are the model. Files in the project's callbacks folder
(``callbacks/`` next to ``confiture.toml``; ``callbacks_dir`` in the config) are
named after a lifecycle event, and run by the hook of that event:

=========================== ================================ ==========================
file                         hook                              when
=========================== ================================ ==========================
``before_migrate.sql``       ``confiture_before_migrate``      once, before the first migration
``before_each_migration.sql`` ``confiture_before_migration``   before each migration, in its transaction
``after_each_migration.sql`` ``confiture_after_migration``     after each migration, in its transaction
``after_migrate.sql``        ``confiture_after_migrate``       once, after the last one (even after a failure)
``on_error.sql``             ``confiture_on_error``            after a failure, once rolled back
=========================== ================================ ==========================

``<event>.up.sql`` / ``<event>.down.sql`` run only in that direction; ``<event>.sql`` in both
(the plain file first when both exist). ``${version}``, ``${name}`` and ``${direction}`` are
replaced by quoted literals (``NULL`` for the run-level events, which have no migration).

They run like any plugin's hook: in the hook's savepoint (so a failing callback undoes its own
writes and fails the migration, naming the file and line), in a dry run too (rolled back with
it). The files are split by pglast and checked when plugins load, whatever the command (``migrate
validate``, ``plugins``, ``lint``...): a syntax error, an unknown placeholder, transaction control
or a misnamed file is a configuration error naming the file and line (exit 2). ``confiture
plugins`` lists the hooks that have files. With no callback file the plugin registers no hook,
so it costs nothing.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from confiture_core.hookspecs import HookContext, MigrationResult, hookimpl
from confiture_core.paths import shown

from .files import EVENTS, CallbackFile, discover

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from confiture_core.config import Config


class CallbackFailed(Exception):
    """A statement of a callback file failed; the message names the file and line."""


def plugin(config: Config) -> object:
    """The plugin object for ``config``: one hook implementation per event that has callback files.

    :raises ConfigError: see :func:`.files.discover`.
    """
    by_event: dict[str, list[CallbackFile]] = {}
    for f in discover(config):
        by_event.setdefault(f.event, []).append(f)
    hooks: dict[str, Callable[..., None]] = {}
    for event, files in by_event.items():
        hooks[EVENTS[event]] = _implementation(event, files)
    return SimpleNamespace(**hooks, callback_files=[f.path for fs in by_event.values() for f in fs])


def _implementation(event: str, files: list[CallbackFile]) -> Callable[..., None]:
    if event == "after_migrate":
        def after_migrate(context: HookContext, results: Sequence[MigrationResult]) -> None:
            run(files, context)
        return hookimpl(after_migrate)
    if event == "on_error":
        def on_error(context: HookContext, error: BaseException) -> None:
            run(files, context)
        return hookimpl(on_error)

    def call(context: HookContext) -> None:
        run(files, context)
    return hookimpl(call)


def run(files: list[CallbackFile], context: HookContext) -> None:
    """Run the statements of ``files`` that apply to ``context.direction`` on the runner's connection.

    :raises CallbackFailed: a statement failed: ``file:line: PostgreSQL's message [SQLSTATE]``.
    """
    import psycopg
    from psycopg import sql

    conn = context.connection
    if conn.closed:
        return
    m = context.migration

    def literal(value: Any) -> str:
        return "NULL" if value is None else sql.Literal(str(value)).as_string(conn)

    values = {"version": literal(m.version if m else None), "name": literal(m.name if m else None),
              "direction": literal(context.direction)}
    for f in files:
        if not f.runs_for(context.direction):
            continue
        for st, text in f.rendered(values):
            try:
                conn.execute(text.encode())
            except psycopg.Error as exc:
                pos = exc.diag.statement_position
                line = st.line + (text.count("\n", 0, int(pos) - 1) if pos and pos.isdigit() else 0)
                primary = (exc.diag.message_primary or str(exc)).strip()
                code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
                raise CallbackFailed(f"{shown(f.path)}:{line}: {primary}{code}") from None
