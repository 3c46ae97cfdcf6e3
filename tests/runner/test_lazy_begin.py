"""A SQL migration without hooks in its transaction: one message, from BEGIN (and the reset) to COMMIT."""

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
from confiture_core.hookspecs import HookContext
from confiture_core.runner import Runner, RunResult

from ..conftest import write
from .test_round_trips import applied, apply, opens

Conn = psycopg.Connection[Any]


def test_one_message_per_migration_and_what_it_holds(project: Path, database_url: str, db: Conn) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"] * 2
    first = next(i for i, t in enumerate(trips) if opens(t))
    one, two = trips[first:-2]
    assert one.startswith("BEGIN\n;\nCREATE TABLE a (id int)\n;\nINSERT INTO a VALUES (1)\n;\nINSERT INTO "), one
    assert one.endswith("\n;\nSELECT set_config('confiture.commit_ok', 'on', true)\n;\nCOMMIT"), one
    # the second migration's message: the session reset the first one left, BEGIN, its body, its tracking row...
    lead, body, row, *_ = two.split("\n;\n")
    assert lead.startswith("RESET ALL;") and lead.endswith("; BEGIN") and body == "CREATE TABLE b (id int)"
    assert row.startswith('INSERT INTO "public"."confiture_migrations"') and two.endswith("COMMIT")
    assert applied(db) == [1, 2]
    # the duration recorded is the server's, from the migration's BEGIN to its tracking row
    durations = [r[0] for r in db.execute("SELECT execution_ms FROM confiture_migrations ORDER BY version")]
    assert all(0 < d < 60_000 for d in durations), durations


def test_tail_failures_are_the_commit_s(project: Path, database_url: str, db: Conn) -> None:
    """A deferred constraint fails at the COMMIT in the same message: the migration fails, nothing is kept;
    a later run applies the fixed file."""
    write(project / "migrations", "1_a.up.sql",
          "CREATE TABLE p (id int PRIMARY KEY);\n"
          "CREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO c VALUES (1);\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.status == "failed" and res.error is not None and "foreign key constraint" in res.error, res.error
    assert applied(db) == [] and db.execute("SELECT to_regclass('p')").fetchone() == (None,)
    write(project / "migrations", "1_a.up.sql",
          "CREATE TABLE p (id int PRIMARY KEY);\n"
          "CREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO c VALUES (1);\n"
          "INSERT INTO p VALUES (1);\n")
    result, _ = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"] and applied(db) == [1]


def test_tracking_table_dropped_in_the_body_is_named(project: Path, database_url: str, db: Conn) -> None:
    """The tracking row in the body's message fails when the body dropped the table: the statement is named."""
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\nDROP TABLE confiture_migrations;\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.status == "failed" and res.error is not None
    assert "1_a.up.sql:2: drops or renames the tracking table" in res.error, res.error
    assert applied(db) == []


def test_error_line_counts_past_the_reset_and_begin(project: Path, database_url: str, db: Conn) -> None:
    """PostgreSQL's error position counts from the start of the message, riders included: still the file's line."""
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\nSELECT id,\n       nope\n  FROM b;\n")
    result, _ = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied", "failed"]
    err = result.results[1].error
    assert err is not None and "2_b.up.sql:3: column \"nope\" does not exist [42703]" in err, err
    assert applied(db) == [1] and db.execute("SELECT to_regclass('b')").fetchone() == (None,)


def test_failed_migration_leaves_no_session_state(project: Path, database_url: str, db: Conn) -> None:
    """The reset that rode with a failed migration's BEGIN was rolled back with it: it is sent again, so the
    session the runner leaves (and the next migration) has no setting of the earlier migration."""
    write(project / "migrations", "1_a.up.sql", "SET search_path = nowhere, public;\nCREATE TABLE public.a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE public.b (id int);\nSELECT nope;\n")
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = conn.execute("SHOW search_path").fetchone()
        result = Runner(conn, load_config(None, cwd=project), Hooks(pm)).up()
        assert [r.status for r in result.results] == ["applied", "failed"]
        assert conn.execute("SHOW search_path").fetchone() == before
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_copy_first_still_runs_in_the_transaction(project: Path, database_url: str, db: Conn) -> None:
    """A first statement that is not batched (COPY FROM stdin) sends the waiting BEGIN on its own first: a later
    failure rolls the copied rows back."""
    db.execute("CREATE TABLE t (id int)")
    write(project / "migrations", "1_a.up.sql", "COPY t (id) FROM stdin;\n1\n2\n\\.\nSELECT nope;\n")
    result, _ = apply(project, database_url)
    assert [r.status for r in result.results] == ["failed"]
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    write(project / "migrations", "1_a.up.sql", "COPY t (id) FROM stdin;\n1\n2\n\\.\nINSERT INTO t VALUES (3);\n")
    result, _ = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"]
    assert db.execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_file_with_its_own_begin_and_commit(project: Path, database_url: str, db: Conn) -> None:
    """BEGIN and COMMIT in the file are skipped (said once each): the statements between them go in the one
    message, as any migration's."""
    write(project / "migrations", "1_a.up.sql",
          "BEGIN;\nCREATE TABLE c (id int);\nINSERT INTO c VALUES (1);\nCOMMIT;\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"]
    first = next(i for i, t in enumerate(trips) if opens(t))
    [one] = trips[first:-2]
    assert one.startswith("BEGIN\n;\nCREATE TABLE c (id int)\n;\nINSERT INTO c VALUES (1)\n;\nINSERT INTO "), one
    assert applied(db) == [1] and db.execute("SELECT count(*) FROM c").fetchone() == (1,)


hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT_NAME)


class Before:
    """A before_migration hook that runs no query."""

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        return None


class After:
    """An after_migration hook that writes in the migration's transaction."""

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        assert context.migration is not None
        assert context.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        context.connection.execute("INSERT INTO seen VALUES (%s)", [context.migration.version])


def with_plugin(project: Path, url: str, plugin: object) -> tuple[RunResult, list[str]]:
    """``up`` with ``plugin``; the whole text of each message (``Sync`` for an extended-protocol round trip)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="p")
    with tempfile.TemporaryFile("w+") as trace, psycopg.connect(url, autocommit=True) as conn:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        result = Runner(conn, load_config(None, cwd=project), Hooks(pm)).up()
        conn.pgconn.untrace()
        trace.seek(0)
        records = [r.split("\t", 3) for r in re.split(r"\n(?=[FB]\t\d+\t)", trace.read()) if r.startswith("F\t")]
    return result, [r[3].strip(' "\n') if r[2] == "Query" else "Sync" for r in records if r[2] in ("Query", "Sync")]


def test_a_before_migration_hook_that_sends_nothing_costs_nothing(project: Path, database_url: str,
                                                                   db: Conn) -> None:
    """Its BEGIN still rides with the body, whose last message carries the tracking row and COMMIT: one message."""
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    result, trips = with_plugin(project, database_url, Before())
    assert [r.status for r in result.results] == ["applied"]
    [body] = [t for t in trips if "CREATE TABLE a (id int)" in t]
    assert "BEGIN\n;\nCREATE TABLE a (id int)" in body and body.endswith("COMMIT"), trips
    assert not [t for t in trips if t.endswith("BEGIN") or "SAVEPOINT" in t], trips
    assert applied(db) == [1]


def test_an_after_migration_hook_keeps_commit_apart(project: Path, database_url: str, db: Conn) -> None:
    """BEGIN rides with the body; the hook then runs in the migration's transaction, the COMMIT after it."""
    db.execute("CREATE TABLE seen (v bigint)")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\nSELECT nope;\n")
    result, trips = with_plugin(project, database_url, After())
    assert [r.status for r in result.results] == ["applied", "failed"]
    assert "BEGIN\n;\nCREATE TABLE a (id int)" in trips, trips
    assert [r[0] for r in db.execute("SELECT v FROM seen")] == [1]  # committed with migration 1 only
    assert applied(db) == [1]


def test_prepared_statements_survive_the_resets(project: Path, database_url: str, db: Conn) -> None:
    """The resets' DEALLOCATE ALL rides in messages psycopg does not read: psycopg prepares nothing during the run
    and forgets what it prepared before, so the connection works as before afterwards."""
    for v in (1, 2, 3):
        write(project / "migrations", f"{v}_m.up.sql", f"CREATE TABLE t{v} (id int);\n")
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(6):  # prepared by psycopg from the 5th time on
            conn.execute("SELECT %s::int", [1])
        result = Runner(conn, load_config(None, cwd=project), Hooks(pm)).up()
        assert [r.status for r in result.results] == ["applied"] * 3
        assert conn.prepare_threshold == 5
        for _ in range(6):
            assert conn.execute("SELECT %s::int", [2]).fetchone() == (2,)


def test_syntax_error_the_server_alone_rejects_names_its_line(project: Path, database_url: str, db: Conn) -> None:
    """A statement pglast (PostgreSQL 18's grammar) accepts but an older server's parser rejects fails the whole
    message before any of it runs, the riders included: the error still names the file's line, past the riders
    and the statements before it. A server that accepts it applies the file."""
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\nSELECT 1;\nSELECT *\n  FROM (SELECT 1);\n")
    result, _ = apply(project, database_url)
    if db.info.server_version >= 160000:  # a subquery in FROM needs no alias since PostgreSQL 16
        assert [r.status for r in result.results] == ["applied", "applied"]
        return
    assert [r.status for r in result.results] == ["applied", "failed"]
    err = result.results[1].error
    assert err is not None and "2_b.up.sql:4: subquery in FROM must have an alias" in err, err
    assert applied(db) == [1] and db.execute("SELECT to_regclass('b')").fetchone() == (None,)
