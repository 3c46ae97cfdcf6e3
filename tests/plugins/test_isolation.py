"""Savepoint isolation of hook implementations, on a real PostgreSQL, through the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write
from .helpers import add_plugin, applied, configure, rows, tables

LOG = "CREATE TABLE hooklog (id serial PRIMARY KEY, who text NOT NULL, what text)"


def setup(project: Path, db: psycopg.Connection[Any], settings: str = "") -> None:
    db.execute(LOG)
    configure(project, settings)
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")


def logger(name: str, hook: str, extra: str = "") -> str:
    return f"""
@hookimpl
def {hook}(context):
    context.connection.execute("INSERT INTO hooklog (who, what) VALUES (%s, %s)",
                               ["{name}", "{hook}:" + str(context.migration.version if context.migration else "")])
    {extra}
"""


def log(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return rows(db, "SELECT who, what FROM hooklog ORDER BY id")


def test_failing_hook_rolls_back_its_writes_and_the_migration(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "good", logger("good", "confiture_after_migration"))
    add_plugin(project, "bad", logger("bad", "confiture_after_migration",
                                      "if context.migration.version == 2: raise RuntimeError('boom')"))
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'bad' failed in confiture_after_migration for migration 2_b.up.sql: RuntimeError: boom" \
        in r.stderr
    assert "Traceback" not in r.stderr
    assert tables(db) == ["a", "confiture_migrations", "hooklog"]
    assert applied(db) == [1]
    # migration 1: both wrote (good, registered last, ran first); migration 2: nothing survived
    assert log(db) == [("good", "confiture_after_migration:1"), ("bad", "confiture_after_migration:1")]


def test_non_fatal_plugin_failure_is_a_warning(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db, 'non_fatal = ["bad"]\n')
    add_plugin(project, "good", logger("good", "confiture_before_migration"))
    add_plugin(project, "bad", logger("bad", "confiture_before_migration", "raise ValueError('flaky')"))
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert "plugin 'bad' failed in confiture_before_migration for migration 1_a.up.sql (non-fatal, its writes " \
           "were rolled back): ValueError: flaky" in r.stderr
    assert applied(db) == [1, 2]
    assert log(db) == [("good", "confiture_before_migration:1"), ("good", "confiture_before_migration:2")]


def breaks_isolation(project: Path, db: psycopg.Connection[Any], hook: str, action: str) -> str:
    setup(project, db)
    add_plugin(project, "rogue", logger("rogue", hook, action))
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert f"plugin 'rogue' failed in {hook} for migration 1_a.up.sql" in r.stderr
    assert tables(db) == ["confiture_migrations", "hooklog"]
    assert applied(db) == []
    assert rows(db, "SELECT count(*) FROM confiture_migrations") == [(0,)]
    assert log(db) == []
    return r.stderr


def test_raw_commit_in_after_migration_is_refused_and_nothing_persists(project: Path,
                                                                       db: psycopg.Connection[Any]) -> None:
    err = breaks_isolation(project, db, "confiture_after_migration", 'context.connection.execute("COMMIT")')
    assert "a plugin hook or Python migration issued COMMIT inside a migration; refused and rolled back" in err


def test_raw_commit_in_before_migration_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    err = breaks_isolation(project, db, "confiture_before_migration", 'context.connection.execute("COMMIT")')
    assert "COMMIT" in err


def test_commit_swallowed_by_the_hook_is_still_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    err = breaks_isolation(project, db, "confiture_after_migration",
                           'try:\n        context.connection.execute("COMMIT")\n    except Exception:\n        pass')
    assert "ended the runner's transaction" in err


def test_conn_commit_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    breaks_isolation(project, db, "confiture_after_migration", "context.connection.commit()")


def test_rollback_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    err = breaks_isolation(project, db, "confiture_after_migration", 'context.connection.execute("ROLLBACK")')
    # the message says what the hook did, without an invented exception type
    assert "plugin 'rogue' failed in confiture_after_migration for migration 1_a.up.sql: ended the runner's " \
           "transaction (COMMIT or ROLLBACK)" in err
    assert "RuntimeError" not in err


def test_rollback_then_begin_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    breaks_isolation(project, db, "confiture_after_migration",
                     'context.connection.execute("ROLLBACK"); context.connection.execute("BEGIN")')


def test_closing_the_connection_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    err = breaks_isolation(project, db, "confiture_after_migration", "context.connection.close()")
    assert "closed the connection" in err


def test_swallowed_database_error_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    err = breaks_isolation(project, db, "confiture_after_migration",
                           'try:\n        context.connection.execute("SELECT 1/0")\n    except Exception:\n'
                           '        pass')
    assert "error state" in err


def test_failing_hook_after_an_earlier_failure_keeps_the_commit_guard(project: Path,
                                                                      db: psycopg.Connection[Any]) -> None:
    """Regression: the commit guard's temp table was created in the first guarded
    transaction; when that transaction rolled back the guard was gone but marked ready."""
    setup(project, db)
    add_plugin(project, "bad", logger("bad", "confiture_before_migration", "raise RuntimeError('first')"))
    add_plugin(project, "summary", """
        @hookimpl
        def confiture_after_migrate(context, results):
            context.connection.execute("INSERT INTO hooklog (who, what) VALUES ('summary', %s)",
                                       [",".join(r.status for r in results)])
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'bad' failed in confiture_before_migration for migration 1_a.up.sql" in r.stderr
    assert "does not exist" not in r.stderr
    assert log(db) == [("summary", "failed")]
    assert applied(db) == []


def test_on_error_receives_the_error(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    write(project / "migrations", "3_c.up.sql", "CREATE TABLE c (id int);\nSELECT nope FROM c;\n")
    add_plugin(project, "notify", """
        @hookimpl
        def confiture_on_error(context, error):
            context.connection.execute(
                "INSERT INTO hooklog (who, what) VALUES ('notify', %s)",
                [f"{context.migration.version}|{type(error).__name__}|{error}"])
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert applied(db) == [1, 2]
    [(who, what)] = log(db)
    version, cls, message = what.split("|", 2)
    assert (who, version, cls) == ("notify", "3", "MigrationFailed")
    assert "3_c.up.sql:2" in message and 'column "nope" does not exist' in message


def test_on_error_failure_is_only_a_warning(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "bad", logger("bad", "confiture_before_migration", "raise RuntimeError('first')"))
    add_plugin(project, "noisy", """
        @hookimpl
        def confiture_on_error(context, error):
            raise KeyError("notifier down")
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'noisy' failed in confiture_on_error" in r.stderr
    assert "plugin 'bad' failed in confiture_before_migration" in r.stderr
