"""Hook order and wrappers around per-implementation savepoints; no savepoint for hooks
nobody implements. In-process (a Runner on a real connection that records what it sends)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pluggy
import psycopg
from psycopg import sql

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.hookcaller import HookFailed, Hooks
from confiture_core.hookspecs import HookContext, hookimpl
from confiture_core.runner import Runner

from ..conftest import write
from .helpers import applied, rows, tables


class RecordingConnection(psycopg.Connection[Any]):
    """A real psycopg connection that remembers the text of every ``execute``."""

    sent: list[str]
    trace: IO[str]

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        if not hasattr(self, "sent"):
            self.sent = []
        text = query.as_string(self) if isinstance(query, sql.Composable) else (
            query.decode() if isinstance(query, bytes) else str(query))
        self.sent.append(text)
        return super().execute(query, params, **kw)


def note(ctx: HookContext, who: str) -> None:
    ctx.connection.execute("INSERT INTO hooklog (who) VALUES (%s)", [who])


class Plain:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        note(context, self.name)


class First:
    @hookimpl(tryfirst=True)
    def confiture_after_migration(self, context: HookContext) -> None:
        note(context, "tryfirst")


class Last:
    @hookimpl(trylast=True)
    def confiture_after_migration(self, context: HookContext) -> None:
        note(context, "trylast")


class NewWrapper:
    @hookimpl(wrapper=True)
    def confiture_after_migration(self, context: HookContext) -> Generator[None, Any, Any]:
        note(context, "new-before")
        try:
            result = yield
        except HookFailed as exc:
            note(context, f"new-caught:{exc.plugin}")
            return []
        note(context, "new-after")
        return result


class OldWrapper:
    @hookimpl(hookwrapper=True)
    def confiture_after_migration(self, context: HookContext) -> Generator[None, Any, None]:
        note(context, "old-before")
        outcome = yield
        note(context, f"old-after:{'error' if outcome.exception else 'ok'}")


class Failing:
    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        note(context, "failing")
        raise RuntimeError("inner")


def make_runner(project: Path, database_url: str, *plugins: tuple[str, object]) -> tuple[Runner, RecordingConnection]:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, obj in plugins:
        pm.register(obj, name=name)
    conn = RecordingConnection.connect(database_url, autocommit=True)
    conn.sent = []
    conn.trace = tempfile.TemporaryFile("w+")
    conn.pgconn.trace(conn.trace.fileno())
    config = load_config(None, cwd=project)
    return Runner(conn, config, Hooks(pm)), conn


def two_migrations(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE hooklog (id serial PRIMARY KEY, who text NOT NULL)")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\n")


ALL = (("tryfirst", First()), ("trylast", Last()), ("p1", Plain("p1")), ("p2", Plain("p2")),
       ("new", NewWrapper()), ("old", OldWrapper()))


def test_order_matches_pluggy(project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    two_migrations(project, db)
    runner, conn = make_runner(project, database_url, *ALL)
    with conn:
        result = runner.up(1)
        assert [r.status for r in result.results] == ["applied"]
        ours = [r[0] for r in rows(db, "SELECT who FROM hooklog ORDER BY id")]
        # pluggy's own call, on the same plugins, as the reference
        db.execute("TRUNCATE hooklog")
        ctx = HookContext(db, runner.config, "up", False)
        runner.hooks.pm.hook.confiture_after_migration(context=ctx)
        theirs = [r[0] for r in rows(db, "SELECT who FROM hooklog ORDER BY id")]
    assert ours == theirs == ["old-before", "new-before", "tryfirst", "p2", "p1", "trylast", "new-after",
                              "old-after:ok"]


def test_wrapper_sees_inner_failure_and_inner_writes_are_rolled_back(project: Path, database_url: str,
                                                                     db: psycopg.Connection[Any]) -> None:
    two_migrations(project, db)
    runner, conn = make_runner(project, database_url, ("p1", Plain("p1")), ("failing", Failing()),
                               ("new", NewWrapper()), ("old", OldWrapper()))
    with conn:
        result = runner.up()
    # the new-style wrapper swallowed the failure (pluggy semantics): both migrations applied
    assert [r.status for r in result.results] == ["applied", "applied"]
    assert applied(db) == [1, 2]
    who = [r[0] for r in rows(db, "SELECT who FROM hooklog ORDER BY id")]
    # "failing" wrote before raising: its savepoint took that write away; p1 never ran (pluggy stops there)
    assert who == ["old-before", "new-before", "new-caught:failing", "old-after:ok"] * 2


def test_failure_through_old_style_wrapper_fails_the_migration(project: Path, database_url: str,
                                                               db: psycopg.Connection[Any]) -> None:
    two_migrations(project, db)
    runner, conn = make_runner(project, database_url, ("failing", Failing()), ("old", OldWrapper()))
    with conn:
        result = runner.up()
    assert [r.status for r in result.results] == ["failed"]
    assert result.results[0].error.startswith(  # then where it raised: " (at tests/plugins/test_ordering.py:N)"
        "plugin 'failing' failed in confiture_after_migration for migration 1_a.up.sql: RuntimeError: inner (at ")
    assert applied(db) == [] and "a" not in tables(db)


def hook_savepoints(conn: RecordingConnection) -> list[str]:
    """Every SAVEPOINT taken for a hook (the runner may send it after the previous RELEASE, in one string;
    a hook's savepoint is sent below ``execute``, so this reads libpq's trace of what was sent)."""
    conn.trace.seek(0)
    return re.findall(r"(?<!RELEASE )SAVEPOINT confiture_hook_\d+", conn.trace.read())


def test_no_implementation_no_savepoint(project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    two_migrations(project, db)
    runner, conn = make_runner(project, database_url)
    with conn:
        runner.up()
        assert not runner.hooks.has("confiture_after_migration")
        assert hook_savepoints(conn) == []
        assert not [s for s in conn.sent if "confiture_commit_guard" in s]
    assert applied(db) == [1, 2]


def test_one_savepoint_per_implementation_and_wrapper_half(project: Path, database_url: str,
                                                           db: psycopg.Connection[Any]) -> None:
    two_migrations(project, db)
    runner, conn = make_runner(project, database_url, ("p1", Plain("p1")))
    with conn:
        runner.up()
        assert runner.hooks.has("confiture_after_migration") and not runner.hooks.has("confiture_before_migration")
        assert len(hook_savepoints(conn)) == 2  # one implementation x two migrations
    runner, conn = make_runner(project, database_url, ("p1", Plain("p1")), ("new", NewWrapper()))
    write(project / "migrations", "3_c.up.sql", "CREATE TABLE c (id int);\n")
    with conn:
        runner.up()
        assert len(hook_savepoints(conn)) == 3  # p1 + the wrapper's two halves, one migration


class OldForcing:
    """An old-style wrapper that replaces the outcome through pluggy's public ``Result`` API."""

    def __init__(self, force: str) -> None:
        self.force = force

    @hookimpl(hookwrapper=True)
    def confiture_after_migration(self, context: HookContext) -> Generator[None, Any, None]:
        outcome = yield
        note(context, f"forcing-saw:{type(outcome.exception).__name__ if outcome.exception else 'ok'}")
        if self.force == "result":
            outcome.force_result([])
        else:
            outcome.force_exception(RuntimeError("forced by the wrapper"))


def test_old_style_wrapper_forces_result_or_exception(project: Path, database_url: str,
                                                      db: psycopg.Connection[Any]) -> None:
    two_migrations(project, db)
    # force_result clears the inner failure: both migrations apply, the failing hook's write rolled back
    runner, conn = make_runner(project, database_url, ("failing", Failing()), ("old", OldForcing("result")))
    with conn:
        result = runner.up()
    assert [r.status for r in result.results] == ["applied", "applied"]
    assert [r[0] for r in rows(db, "SELECT who FROM hooklog ORDER BY id")] == ["forcing-saw:HookFailed"] * 2
    # force_exception is the wrapper's failure (a crash with a traceback before): the migration fails, naming it
    write(project / "migrations", "3_c.up.sql", "CREATE TABLE c (id int);\n")
    runner, conn = make_runner(project, database_url, ("p1", Plain("p1")), ("old", OldForcing("exception")))
    with conn:
        result = runner.up()
    assert [r.status for r in result.results] == ["failed"]
    assert result.results[0].error == ("plugin 'old' failed in confiture_after_migration for migration "
                                       "3_c.up.sql: RuntimeError: forced by the wrapper")
    assert applied(db) == [1, 2] and "c" not in tables(db)
