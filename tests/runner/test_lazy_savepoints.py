"""Lazy hook savepoints: taken on first use of the connection, whatever the operation; none left open."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.hookcaller import Hooks
from confiture_core.hookspecs import HookContext, hookimpl
from confiture_core.runner import Runner

from ..conftest import write

Conn = psycopg.Connection[Any]


def _execute(conn: Conn, who: str) -> None:
    conn.execute("INSERT INTO hooklog (who) VALUES (%s)", [who])


def _executemany(conn: Conn, who: str) -> None:
    conn.cursor().executemany("INSERT INTO hooklog (who) VALUES (%s)", [(who,), (who,)])


def _copy(conn: Conn, who: str) -> None:
    with conn.cursor().copy("COPY hooklog (who) FROM STDIN") as copy:
        copy.write_row([who])


def _transaction(conn: Conn, who: str) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO hooklog (who) VALUES (%s)", [who])


def _pipeline(conn: Conn, who: str) -> None:
    with conn.pipeline():
        conn.execute("INSERT INTO hooklog (who) VALUES (%s)", [who])
        conn.execute("INSERT INTO hooklog (who) VALUES (%s)", [who])


def _server_cursor(conn: Conn, who: str) -> None:
    with conn.cursor(name="confiture_test_cursor") as cur:
        cur.execute("SELECT log_it(%s)", [who])
        cur.fetchall()


OPERATIONS: dict[str, Callable[[Conn, str], None]] = {
    "execute": _execute, "executemany": _executemany, "copy": _copy, "transaction": _transaction,
    "pipeline": _pipeline, "server_cursor": _server_cursor,
}


class Writer:
    """Writes with one kind of operation (its first use of the connection), then raises when asked."""

    def __init__(self, name: str, op: Callable[[Conn, str], None], fail: bool = False) -> None:
        self.name, self.op, self.fail = name, op, fail

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        self.op(context.connection, self.name)
        if self.fail:
            raise RuntimeError("after writing")


class Quiet:
    """Runs no query."""

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        return None

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        return None


class Ender:
    """Ends the runner's transaction and begins another one (the state checks cannot see it)."""

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        context.connection.execute("ROLLBACK")
        context.connection.execute("BEGIN")


def setup(project: Path, db: Conn) -> None:
    db.execute("CREATE TABLE hooklog (id serial PRIMARY KEY, who text NOT NULL)")
    db.execute("CREATE FUNCTION log_it(w text) RETURNS int LANGUAGE sql AS "
               "$$ INSERT INTO hooklog (who) VALUES (w) RETURNING 1 $$")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\n")


def run(project: Path, url: str, plugins: list[tuple[str, object]], non_fatal: tuple[str, ...] = ()
        ) -> tuple[Any, list[str]]:
    """Apply with ``plugins`` (registered in order: the last one runs first); returns the result and
    one entry per round trip libpq made (from its protocol trace): a simple query's text, or ``Sync``."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, obj in plugins:
        pm.register(obj, name=name)
    with tempfile.TemporaryFile("w+") as trace, psycopg.connect(url, autocommit=True) as conn:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        result = Runner(conn, load_config(None, cwd=project), Hooks(pm, non_fatal)).up()
        conn.pgconn.untrace()
        trace.seek(0)
        text = trace.read()
    # one round trip per simple Query, or per Sync of the extended protocol; the texts of the simple ones
    trips = re.findall(r"^F\t\d+\t(Query\t.*|Sync)$", text, re.M)
    return result, [t.removeprefix("Query\t").strip(' "') for t in trips]


def hook_savepoint_depths(queries: list[str]) -> list[int]:
    """How many hook savepoints are open after each message (SAVEPOINT / RELEASE / COMMIT / ROLLBACK)."""
    depths, open_ = [], 0
    for q in queries:
        for st in (s.strip() for s in q.split(";")):
            if re.fullmatch(r"SAVEPOINT confiture_hook_\d+", st):
                open_ += 1
            elif re.fullmatch(r"RELEASE SAVEPOINT confiture_hook_\d+", st):
                open_ -= 1
            elif st in ("COMMIT", "ROLLBACK"):
                open_ = 0
        depths.append(open_)
    return depths


def logged(db: Conn) -> list[str]:
    return [r[0] for r in db.execute("SELECT who FROM hooklog ORDER BY id").fetchall()]


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_first_use_takes_the_savepoint_whatever_the_operation(project: Path, database_url: str, db: Conn,
                                                              op: str) -> None:
    setup(project, db)
    fn = OPERATIONS[op]
    # run order: first, bad (fails after writing), last (takes the savepoint bad's rollback left clean)
    result, queries = run(project, database_url, [("last", Writer("last", fn)), ("bad", Writer("bad", fn, True)),
                                                  ("first", Writer("first", fn))], non_fatal=("bad",))
    assert [r.status for r in result.results] == ["applied", "applied"]
    per_call = 2 if op in ("executemany", "pipeline") else 1
    assert logged(db) == (["first"] * per_call + ["last"] * per_call) * 2  # bad's writes were rolled back
    depths = hook_savepoint_depths(queries)
    assert max(depths) == 1 and depths[-1] == 0  # one hook savepoint open at a time, none left open


def test_hooks_that_run_no_query_cost_no_round_trip(project: Path, database_url: str, db: Conn) -> None:
    setup(project, db)
    _, without = run(project, database_url, [])
    db.execute("DROP TABLE a, b, confiture_migrations")
    _, with_quiet = run(project, database_url, [(f"q{i}", Quiet()) for i in range(10)])
    # the only additions: the commit guard's creation, once per run, and for each migration its COMMIT in a
    # message of its own (after_migration hooks run between the body and it); the BEGIN still rides with the
    # body (a before_migration hook would send it with its first SAVEPOINT); the guard is armed (and a savepoint
    # taken) only when a hook sends something
    assert len(with_quiet) - len(without) == 1 + 2 * 1
    assert not [q for q in with_quiet if "SAVEPOINT" in q or "INSERT INTO pg_temp.confiture_commit_guard" in q]


def test_savepoint_gone_blames_the_hook_that_ended_the_transaction(project: Path, database_url: str,
                                                                   db: Conn) -> None:
    setup(project, db)
    # the quiet one runs after the ender and never queries: the ended transaction is seen at the guard's RELEASE
    result, _ = run(project, database_url, [("quiet", Quiet()), ("ender", Ender())])
    assert result.results[0].status == "failed"
    assert result.results[0].error.startswith(
        "plugin 'ender' failed in confiture_after_migration for migration 1_a.up.sql: ended the runner's "
        "transaction (its savepoint is gone")
    db.execute("DROP TABLE IF EXISTS confiture_migrations")
    # a later implementation that queries (and swallows the error): still the ender's fault
    swallow = Writer("later", lambda c, w: _swallowing(c, w))
    result, _ = run(project, database_url, [("later", swallow), ("ender", Ender())])
    assert result.results[0].error.startswith(
        "plugin 'ender' failed in confiture_after_migration for migration 1_a.up.sql: ended the runner's")
    assert logged(db) == []


def _swallowing(conn: Conn, who: str) -> None:
    try:
        _execute(conn, who)
    except Exception:
        pass
