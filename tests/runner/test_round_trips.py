"""Fewer round trips per migration: statements several to a message, the reset and tracking row riding along."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pluggy
import psycopg

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.hookcaller import Hooks
from confiture_core.runner import Runner, RunResult

from ..conftest import write

Conn = psycopg.Connection[Any]


def apply(project: Path, url: str, notices: list[str] | None = None) -> tuple[RunResult, list[str]]:
    """Apply the project's migrations in process; returns the result and one entry per round trip."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    with tempfile.TemporaryFile("w+") as trace, psycopg.connect(url, autocommit=True) as conn:
        if notices is not None:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        result = Runner(conn, load_config(None, cwd=project), Hooks(pm)).up()
        conn.pgconn.untrace()
        trace.seek(0)
        text = trace.read()
    # one record per message (a query's text spans lines); each query's whole text, or "Sync"
    records = [r.split("\t", 3) for r in re.split(r"\n(?=[FB]\t\d+\t)", text) if r.startswith("F\t")]
    return result, [r[3].strip(' "\n') if r[2] == "Query" else "Sync" for r in records
                    if r[2] in ("Query", "Sync")]


def opens(trip: str) -> bool:
    """Whether a round trip's message opens a transaction (its first line, the riders', ends with BEGIN)."""
    return trip.split("\n", 1)[0].endswith("BEGIN")


def applied(db: Conn) -> list[int]:
    return [r[0] for r in db.execute("SELECT version FROM confiture_migrations WHERE success ORDER BY 1")]


def test_three_round_trips_per_migration(project: Path, database_url: str, db: Conn) -> None:
    for v in (1, 2, 3):
        write(project / "migrations", f"{v}_m.up.sql",
              f"CREATE TABLE t{v} (id int);\nINSERT INTO t{v} VALUES (1);\nCREATE INDEX ON t{v} (id);\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"] * 3
    first = next(i for i, t in enumerate(trips) if opens(t))
    # per migration one message: [reset;] BEGIN, the body, the tracking row and COMMIT;
    # then the last reset, before the advisory lock's release (one round trip with its Sync)
    per_migration = trips[first:-2]
    assert len(per_migration) == 3 * 1, per_migration
    assert applied(db) == [1, 2, 3]


def test_error_in_a_batch_names_the_statement_line(project: Path, database_url: str, db: Conn) -> None:
    write(project / "migrations", "1_m.up.sql",
          "CREATE TABLE a (id int PRIMARY KEY); -- a comment ends the line\n"
          "INSERT INTO a VALUES (1);\n\n"
          "SELECT id,\n       nope\n  FROM a;\n"
          "CREATE TABLE never (id int);\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.status == "failed"
    assert res.error is not None and "1_m.up.sql:5: column \"nope\" does not exist [42703]" in res.error
    write(project / "migrations", "1_m.up.sql",
          "CREATE TABLE a (id int PRIMARY KEY);\nINSERT INTO a VALUES (1);\nINSERT INTO a\n  VALUES (1);\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.error is not None and "1_m.up.sql:3: duplicate key value violates unique constraint" in res.error
    assert applied(db) == [] and db.execute("SELECT to_regclass('a')").fetchone() == (None,)


def test_copy_and_notices_still_behave(project: Path, database_url: str, db: Conn) -> None:
    write(project / "migrations", "1_m.up.sql",
          "CREATE TABLE a (id int, name text);\n"
          "DO $$ BEGIN RAISE NOTICE 'hello from the body'; END $$;\n"
          "COPY a (id, name) FROM stdin;\n1\tone\n2\ttwo\n\\.\n"
          "INSERT INTO a VALUES (3, 'three');\n"
          "DO $$ BEGIN RAISE NOTICE 'after the copy'; END $$;\n")
    notices: list[str] = []
    result, _ = apply(project, database_url, notices)
    assert [r.status for r in result.results] == ["applied"], result.results
    assert notices == ["hello from the body", "after the copy"]
    assert db.execute("SELECT count(*) FROM a").fetchone() == (3,)


def test_session_reset_rides_with_begin_and_survives_a_failed_migration(project: Path, database_url: str,
                                                                       db: Conn) -> None:
    db.execute("CREATE SCHEMA other")
    write(project / "migrations", "1_m.up.sql", "SET search_path = other;\nCREATE TABLE one (id int);\n")
    write(project / "migrations", "2_m.up.sql", "CREATE TABLE two (id int);\n")
    result, _ = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied", "applied"]
    # the second migration ran with the search_path reset (its table is in public)
    assert db.execute("SELECT to_regclass('public.two') IS NOT NULL, to_regclass('other.one') IS NOT NULL"
                      ).fetchone() == (True, True)


def test_tracking_table_dropped_in_a_batch_is_named(project: Path, database_url: str, db: Conn) -> None:
    write(project / "migrations", "1_m.up.sql", "CREATE TABLE a (id int);\nDROP TABLE confiture_migrations;\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.status == "failed" and res.error is not None
    assert "1_m.up.sql:2: drops or renames the tracking table" in res.error
