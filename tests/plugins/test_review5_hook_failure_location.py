"""A failing hook is named with the plugin's own file and line, and a database error it caused stays one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.hookerrors import HookContractError, describe_error, raised_at

from ..conftest import invoke, write
from .helpers import add_plugin, applied, configure


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_raising_hook_is_named_at_its_line(project: Path, db: psycopg.Connection[Any]) -> None:
    configure(project)
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id bigint);\n")
    plugin = add_plugin(project, "bad", """
        @hookimpl
        def confiture_before_migration(context):
            raise RuntimeError("boom")
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1 and "Traceback" not in r.stderr
    line = _line_of(plugin, "raise RuntimeError")
    assert (f"plugin 'bad' failed in confiture_before_migration for migration 1_a.up.sql: RuntimeError: boom "
            f"(at plugins/bad.py:{line})") in r.stderr
    assert applied(db) == []


def test_a_failed_query_is_one_line_with_its_sqlstate_at_the_plugins_call(project: Path,
                                                                          db: psycopg.Connection[Any]) -> None:
    configure(project)
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id bigint);\n")
    plugin = add_plugin(project, "bad", """
        @hookimpl
        def confiture_after_migration(context):
            context.connection.execute("SELECT nosuchcol")
        """)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    line = _line_of(plugin, "SELECT nosuchcol")
    assert errors == [f"error: plugin 'bad' failed in confiture_after_migration for migration 1_a.up.sql: "
                      f'UndefinedColumn: column "nosuchcol" does not exist [42703] (at plugins/bad.py:{line})']
    assert "LINE 1" not in r.stderr
    assert applied(db) == []


def test_no_location_for_what_confiture_found_itself() -> None:
    assert raised_at(HookContractError("closed the connection")) is None
    assert describe_error(HookContractError("closed the connection")) == "closed the connection"
    try:
        raise ValueError("x")
    except ValueError as exc:  # raised here, in a test module: that is the "plugin's" code
        at = raised_at(exc)
    assert at is not None and at.startswith("tests/plugins/test_review5_hook_failure_location.py:")


def test_a_plugin_that_fails_to_import_is_named_at_its_line(project: Path) -> None:
    configure(project)
    plugins = project / "plugins"
    (plugins / "typo.py").write_text("x = 1\nsyntax error here\n")
    (plugins / "missing.py").write_text("import nonexistent_module_zz\n")
    (plugins / "raises.py").write_text("x = 1\nraise ValueError('nope')\n")
    r = invoke("plugins", cwd=project)
    assert r.code == 0, r.stderr
    assert "plugin 'typo' (plugins dir): import failed: SyntaxError: invalid syntax (at plugins/typo.py:2)" \
        in r.stderr
    assert ("plugin 'missing' (plugins dir): import failed: ModuleNotFoundError: No module named "
            "'nonexistent_module_zz' (at plugins/missing.py:1)") in r.stderr
    assert "plugin 'raises' (plugins dir): import failed: ValueError: nope (at plugins/raises.py:2)" in r.stderr


def test_a_failing_callback_file_is_named_once_by_its_own_line(project: Path) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id bigint);\n")
    write(project / "callbacks", "after_each_migration.sql", "INSERT INTO audit_nope VALUES (1);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert r.stderr.rstrip().endswith(": CallbackFailed: callbacks/after_each_migration.sql:1: relation "
                                      '"audit_nope" does not exist [42P01]'), r.stderr
