"""Plugins that break the hook contract on purpose: each failure names the plugin and the hook,
exits 1, calls confiture_on_error and leaves a consistent database. Real PostgreSQL, real CLI."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..conftest import invoke, write
from .helpers import add_plugin, applied, configure, rows, tables

LOG = "CREATE TABLE hooklog (id serial PRIMARY KEY, who text NOT NULL, what text)"

#: a plugin that records every on_error call (it runs in autocommit: the row survives the failure)
NOTIFY = """
@hookimpl
def confiture_on_error(context, error):
    context.connection.execute(
        "INSERT INTO hooklog (who, what) VALUES ('notify', %s)",
        [f"{context.migration.version if context.migration else None}|{type(error).__name__}"])
"""


def setup(project: Path, db: psycopg.Connection[Any], *versions: int) -> None:
    db.execute(LOG)
    configure(project)
    add_plugin(project, "notify", NOTIFY)
    for v in versions or (1, 2, 3):
        write(project / "migrations", f"{v}_m{v}.up.sql", f"CREATE TABLE t{v} (id int);\n")


def notified(db: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in rows(db, "SELECT what FROM hooklog WHERE who = 'notify' ORDER BY id")]


# ------------------------------------------------------------- A: closed connection


@pytest.mark.parametrize("hook", ["confiture_before_migration", "confiture_after_migration", "confiture_backfill"])
def test_closing_the_connection_in_a_per_migration_hook_names_the_plugin(
        project: Path, db: psycopg.Connection[Any], hook: str) -> None:
    setup(project, db)
    add_plugin(project, "nc_plug", f"""
        @hookimpl
        def {hook}(context):
            if context.migration.version == 2:
                context.connection.close()

        @hookimpl
        def confiture_after_migrate(context, results):
            pass
        """)
    expected = f"plugin 'nc_plug' failed in {hook} for migration 2_m2.up.sql: closed the connection"
    r = invoke("migrate", "up", "--dry-run", cwd=project)
    assert r.code == 1
    assert expected in r.stderr and "Traceback" not in r.stderr and "internal error" not in r.stderr
    # without --yes the pre-flight dry run fails the same way: only the reviewed migration is applied
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1
    assert expected in r.stderr and "could not be reviewed" in r.stderr
    assert applied(db) == [1]
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "✗ 2 m2" in r.stderr
    assert expected in r.stderr and "database error" not in r.stderr and "RuntimeError" not in r.stderr
    assert applied(db) == [1]
    assert "t2" not in tables(db)
    assert notified(db) == []  # on_error is documented as not called when a hook closed the connection


# ------------------------------------------------------- B: wrong return types


@pytest.mark.parametrize(("returned", "said"), [
    ("42", "TypeError: returned int, expected a list of Finding"),
    ("Finding('error', 'x')", "TypeError: returned a bare Finding, expected a list of Finding"),
    ("{'error': 'x'}", "TypeError: returned dict, expected a list of Finding"),
    ("['not a finding']", "TypeError: returned a list containing str, expected a list of Finding"),
])
def test_validate_returning_the_wrong_type_is_a_plugin_failure(
        project: Path, db: psycopg.Connection[Any], returned: str, said: str) -> None:
    setup(project, db)
    add_plugin(project, "junk", f"""
        @hookimpl
        def confiture_validate(context):
            return {returned}
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1, r.stderr
    assert f"plugin 'junk' failed in confiture_validate for migration 1_m1.up.sql: {said}" in r.stderr
    assert "internal error" not in r.stderr
    assert applied(db) == []
    # G: the run failed before any migration: on_error gets context.migration None
    assert notified(db) == ["None|HookFailed"]


def test_backfill_hook_returning_the_wrong_type_fails_its_migration(project: Path,
                                                                     db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "bf", """
        @hookimpl
        def confiture_backfill(context):
            if context.migration.version == 2:
                context.connection.execute("INSERT INTO hooklog (who) VALUES ('bf')")  # rolled back
                return 5
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "✗ 2 m2" in r.stderr
    assert "plugin 'bf' failed in confiture_backfill for migration 2_m2.up.sql: TypeError: returned int, " \
           "expected a Backfill or a list of Backfill" in r.stderr
    assert "internal error" not in r.stderr
    assert applied(db) == [1] and "t2" not in tables(db) and "t3" not in tables(db)
    assert notified(db) == ["2|HookFailed"]
    assert rows(db, "SELECT count(*) FROM hooklog WHERE who = 'bf'") == [(0,)]


def test_two_backfills_of_the_same_name_are_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "bf", """
        @hookimpl
        def confiture_backfill(context):
            if context.migration.version == 2:
                return [Backfill("fill", lambda b: 0), Backfill("fill", lambda b: 0)]
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'bf' failed in confiture_backfill for migration 2_m2.up.sql: ValueError: returned two " \
           "backfills named 'fill'" in r.stderr
    assert applied(db) == [1]
    assert notified(db) == ["2|HookFailed"]


BATCH = """
@hookimpl
def confiture_backfill(context):
    if context.migration.version != 2:
        return None

    def batch(b):
        {body}

    return Backfill("fill", batch)
"""


@pytest.mark.parametrize(("body", "said"), [
    ("return 'many'", "TypeError: backfill 'fill': batch returned str, expected the number of rows"),
    ("return -1", "ValueError: backfill 'fill': batch returned -1, expected the number of rows it touched "
                  "(0 or more"),
    ("return None", "TypeError: backfill 'fill': batch returned NoneType, expected the number of rows"),
    ("return 2.0", "TypeError: backfill 'fill': batch returned float"),
    ("b.state['x'] = object()\n        return 1", "TypeError: backfill 'fill': its state cannot be saved as JSON"),
])
def test_bad_batch_is_a_plugin_failure_with_consistent_state(project: Path, db: psycopg.Connection[Any],
                                                             body: str, said: str) -> None:
    setup(project, db)
    add_plugin(project, "bf", BATCH.replace("{body}", body))
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1, r.stderr
    assert "✗ 2 m2" in r.stderr and "✓ applied 1 m1" in r.stderr
    assert "backfill of migration 2 (m2) failed: plugin 'bf' failed in confiture_backfill (batch) for migration " \
           f"2_m2.up.sql: {said}" in r.stderr
    assert "internal error" not in r.stderr
    # the DDL committed before the backfill; the backfill is unfinished (its failed batch rolled back)
    assert applied(db) == [1, 2] and "t3" not in tables(db)
    assert rows(db, "SELECT plugin, name, batches, rows, done FROM confiture_migrations_backfills") == [
        ("bf", "fill", 0, 0, False)]
    assert notified(db) == ["2|HookFailed"]


# ----------------------------------------------------------- C: Finding levels


@pytest.mark.parametrize(("code", "said"), [
    ("return [Finding('fatal', 'no')]", "ValueError: unknown Finding level 'fatal'; expected one of 'error', "
                                        "'warning', 'info'"),
    ("f = Finding('error', 'no')\n    f.level = 'Error'\n    return [f]",
     "ValueError: returned a Finding with unknown level 'Error'; expected one of 'error', 'warning', 'info'"),
])
def test_unknown_finding_level_is_a_plugin_failure(project: Path, db: psycopg.Connection[Any], code: str,
                                                   said: str) -> None:
    setup(project, db)
    add_plugin(project, "lv", f"""
@hookimpl
def confiture_validate(context):
    {code}
""")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1, r.stderr
    assert f"plugin 'lv' failed in confiture_validate for migration 1_m1.up.sql: {said}" in r.stderr
    assert applied(db) == []


# -------------------------------------------------- F: SystemExit, KeyboardInterrupt


def test_sys_exit_in_a_hook_is_a_plugin_failure(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "quitter", """
        import sys

        @hookimpl
        def confiture_after_migration(context):
            if context.migration.version == 2:
                context.connection.execute("INSERT INTO hooklog (who) VALUES ('quitter')")
                sys.exit(3)
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'quitter' failed in confiture_after_migration for migration 2_m2.up.sql: called sys.exit(3)" \
        in r.stderr
    assert applied(db) == [1]
    assert notified(db) == ["2|HookFailed"]
    assert rows(db, "SELECT count(*) FROM hooklog WHERE who = 'quitter'") == [(0,)]


def test_sys_exit_in_before_migrate_calls_on_error_without_migration(project: Path,
                                                                     db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "quitter", """
        import sys

        @hookimpl
        def confiture_before_migrate(context):
            sys.exit(0)
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'quitter' failed in confiture_before_migrate: called sys.exit(0)" in r.stderr
    assert applied(db) == []
    assert notified(db) == ["None|HookFailed"]


def test_keyboard_interrupt_in_a_hook_still_interrupts(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "ctrl_c", """
        @hookimpl
        def confiture_after_migration(context):
            if context.migration.version == 2:
                raise KeyboardInterrupt
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "interrupted" in r.stderr and "ctrl_c" not in r.stderr
    assert applied(db) == [1] and "t2" not in tables(db)


# ---------------------------------------------------- G: on_error before any migration


def test_validation_error_finding_calls_on_error_without_migration(project: Path,
                                                                    db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "guard", """
        @hookimpl
        def confiture_validate(context):
            return [Finding("error", "no")] if context.migration.version == 2 else None
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1 and "validation failed, nothing was applied: [guard] migration 2: no" in r.stderr
    assert applied(db) == []
    assert notified(db) == ["None|MigrationFailed"]


# ------------------------------------------------------------------ I: messages


def test_hookwrapper_that_never_yields_is_named(project: Path, db: psycopg.Connection[Any]) -> None:
    setup(project, db)
    add_plugin(project, "wrap", """
        @hookimpl(hookwrapper=True)
        def confiture_after_migration(context):
            if False:
                yield
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'wrap' failed in confiture_after_migration for migration 1_m1.up.sql: hookwrapper did not " \
           "yield" in r.stderr
    assert "StopIteration" not in r.stderr
    assert applied(db) == []


def test_set_role_left_set_by_a_hook_is_named(project: Path, db: psycopg.Connection[Any]) -> None:
    if db.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() != (True,):
        pytest.skip("needs a superuser to create a role")
    role = f"lowpriv_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {role}")
    try:
        setup(project, db)
        add_plugin(project, "roler", f"""
            @hookimpl
            def confiture_after_migration(context):
                if context.migration.version == 2:
                    context.connection.execute("SET ROLE {role}")
            """)
        r = invoke("migrate", "up", "--yes", cwd=project)
        assert r.code == 1
        assert "plugin 'roler' failed in confiture_after_migration for migration 2_m2.up.sql: changed the " \
               "session's role (SET ROLE or SET SESSION AUTHORIZATION) and left it changed" in r.stderr
        assert "permission denied" not in r.stderr
        assert applied(db) == [1] and "t2" not in tables(db)
        assert notified(db) == ["2|HookIsolationError"]
    finally:
        db.execute(f"DROP ROLE {role}")
