"""The pre-flight without ASTs for plainly transactional files; their parse while the server runs the one before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest

from confiture_core import hookspecs, sql
from confiture_core.config import load_config
from confiture_core.hookcaller import Hooks
from confiture_core.runner import Runner
from confiture_core.runner.prefetch import Prefetch

from ..conftest import write
from .test_round_trips import applied

Conn = psycopg.Connection[Any]


def runner(project: Path, conn: Conn) -> Runner:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Runner(conn, load_config(None, cwd=project), Hooks(pm))


def test_the_preflight_parses_only_what_it_must_look_at(project: Path, database_url: str) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE INDEX CONCURRENTLY b ON a (id);\n")
    write(project / "migrations", "3_c.up.sql", "BEGIN;\nCREATE TABLE c (id int);\nCOMMIT;\n")
    with psycopg.connect(database_url, autocommit=True) as conn:
        r = runner(project, conn)
        assert r.planner.blocking_problems(r.status()) == []
        one, two, three = r.migrations()
        assert not one.parsed("up") and two.parsed("up") and three.parsed("up")
        assert [m.is_transactional("up") for m in (one, two, three)] == [True, False, True]
        assert not one.parsed("up")  # the pre-flight's answer; the AST is built when needed
        assert [st.sql for st in one.sql("up").statements] == ["CREATE TABLE a (id int)"]


def test_a_syntax_error_still_stops_the_run_before_anything_runs(project: Path, database_url: str,
                                                                  db: Conn) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int;\n")
    with psycopg.connect(database_url, autocommit=True) as conn, pytest.raises(Exception) as info:
        runner(project, conn).up()
    assert "2_b.up.sql:1" in str(info.value) and "syntax error" in str(info.value)
    assert db.execute("SELECT to_regclass('a')").fetchone() == (None,)


def test_the_next_files_are_parsed_while_the_server_works(project: Path, database_url: str, db: Conn,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(0.5);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\n")
    write(project / "migrations", "3_c.up.sql", "CREATE TABLE c (id int);\n")
    seen: list[tuple[str, int]] = []
    parse = sql.parse_sql_text
    with psycopg.connect(database_url, autocommit=True) as conn:
        def spy(text: str, path: str | None = None) -> Any:
            seen.append((Path(path or "").name, conn.pgconn.transaction_status))
            return parse(text, path)

        monkeypatch.setattr(sql, "parse_sql_text", spy)
        result = runner(project, conn).up()
    assert [r.status for r in result.results] == ["applied"] * 3 and applied(db) == [1, 2, 3]
    # 1 before it runs; 2 and 3 while the server runs 1's message (a query in flight)
    assert seen == [("1_a.up.sql", psycopg.pq.TransactionStatus.IDLE),
                    ("2_b.up.sql", psycopg.pq.TransactionStatus.ACTIVE),
                    ("3_c.up.sql", psycopg.pq.TransactionStatus.ACTIVE)], seen


def test_a_failure_stops_the_run_though_the_next_file_was_parsed(project: Path, database_url: str,
                                                                 db: Conn) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(0.3);\nSELECT 1/0;\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\n")
    with psycopg.connect(database_url, autocommit=True) as conn:
        r = runner(project, conn)
        result = r.up()
        assert r.migrations()[1].parsed("up")  # parsed while 1 ran
    [res] = result.results
    assert res.status == "failed" and res.error is not None and "1_a.up.sql:3: division by zero" in res.error
    assert applied(db) == [] and db.execute("SELECT to_regclass('a'), to_regclass('b')").fetchone() == (None, None)


def test_ctrl_c_while_parsing_cancels_the_message_in_flight(project: Path, database_url: str, db: Conn,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C landing in the prefetch, between sending a message and reading its results: the server is asked
    to cancel it (else the migration would run on to its COMMIT), its results are read, the interrupt goes on;
    nothing is applied and the connection still works."""
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(2);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\n")

    def interrupted(self: Prefetch, busy: Callable[[], bool]) -> None:
        assert busy()
        raise KeyboardInterrupt

    monkeypatch.setattr(Prefetch, "__call__", interrupted)
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(KeyboardInterrupt):
            runner(project, conn).up()
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert db.execute("SELECT to_regclass('a'), to_regclass('b')").fetchone() == (None, None)
    assert db.execute("SELECT count(*) FROM confiture_migrations").fetchone() == (0,)


def test_trees_parsed_during_a_run_are_frozen_only_inside_it() -> None:
    """The trees built during the run leave the collector's generations as the pre-flight's do (inside
    gcpause.frozen(), unfrozen at the end); outside such a block nothing is frozen (nothing would unfreeze it)."""
    import gc

    from confiture_core.runner import gcpause

    gc.collect()
    before = gc.get_freeze_count()
    gcpause.freeze_more()
    assert gc.get_freeze_count() == before
    with gcpause.frozen():
        inside = gc.get_freeze_count()
        kept = [[n] for n in range(1000)]  # what a parse leaves alive (lists: tracked by the collector)
        gcpause.freeze_more()
        assert gc.get_freeze_count() >= inside + len(kept)
    assert gc.get_freeze_count() == 0
