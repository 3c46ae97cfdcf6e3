"""SQL callback files (the first-party ``confiture_callbacks`` plugin): fired, isolated, checked, listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg

from ..conftest import run_cli, write
from .helpers import applied, rows, tables

LOG = "CREATE TABLE cblog (id serial PRIMARY KEY, event text, version text, name text, direction text)"
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


def callbacks(project: Path, files: dict[str, str], folder: str = "callbacks") -> None:
    for name, text in files.items():
        write(project / folder, name, text)


def logger(event: str) -> str:
    return f"INSERT INTO cblog (event, version, name, direction) VALUES ('{event}', ${{version}}, ${{name}}, " \
           "${direction});\n"


def two(project: Path) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "1_a.down.sql", "DROP TABLE a;\n")
    write(project / "migrations", "2_b_table.up.sql", "CREATE TABLE b (id int);\n")
    write(project / "migrations", "2_b_table.down.sql", "DROP TABLE b;\n")


def log(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return rows(db, "SELECT event, version, name, direction FROM cblog ORDER BY id")


def test_callbacks_fire_with_their_placeholders(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute(LOG)
    two(project)
    callbacks(project, {f"{e}.sql": logger(e) for e in ("before_migrate", "before_each_migration",
                                                          "after_each_migration", "after_migrate")}
              | {"after_each_migration.down.sql": logger("down-only")})
    r = run_cli("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert log(db) == [("before_migrate", None, None, "up"),
                       ("before_each_migration", "1", "a", "up"), ("after_each_migration", "1", "a", "up"),
                       ("before_each_migration", "2", "b_table", "up"),
                       ("after_each_migration", "2", "b_table", "up"),
                       ("after_migrate", None, None, "up")]
    db.execute("TRUNCATE cblog")
    r = run_cli("migrate", "down", cwd=project)
    assert r.code == 0, r.stderr
    assert [e for e, *_ in log(db)] == ["before_migrate", "before_each_migration", "after_each_migration",
                                        "down-only", "after_migrate"]


def test_a_failing_callback_names_file_and_line_and_undoes_the_migration(project: Path,
                                                                        db: psycopg.Connection[Any]) -> None:
    db.execute(LOG)
    two(project)
    callbacks(project, {"after_each_migration.sql": logger("after") + "\nSELECT nope\n  FROM cblog;\n",
                        "on_error.sql": logger("on_error")})
    r = run_cli("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "callbacks/after_each_migration.sql:3: column \"nope\" does not exist [42703]" in r.stderr, r.stderr
    assert "plugin 'confiture_callbacks' failed in confiture_after_migration for migration 1_a.up.sql" in r.stderr
    assert "Traceback" not in r.stderr
    assert applied(db) == [] and "a" not in tables(db)
    assert log(db) == [("on_error", "1", "a", "up")]  # the after callback's write went with the migration


def test_callbacks_fire_in_a_dry_run_and_are_rolled_back(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute(LOG)
    two(project)
    callbacks(project, {"after_each_migration.sql": logger("after") + "SELECT 1/0 FROM cblog WHERE version = '2';\n"})
    r = run_cli("migrate", "up", "--dry-run", "--format", "json", cwd=project)
    # it fired for migration 1 (no row: 1/0 only on version 2's row) and failed on migration 2, naming the file
    assert "callbacks/after_each_migration.sql:2: division by zero" in r.stdout + r.stderr, r.stdout + r.stderr
    assert log(db) == [] and applied(db) == []


def test_broken_callback_files_are_configuration_errors(project: Path) -> None:
    two(project)
    cases = {
        "before_migrate.sql": ("SELECT 1;\nSELEC 2;\n", "callbacks/before_migrate.sql:2"),
        "after_migrate.sql": ("SELECT ${nope};\n", "callbacks/after_migrate.sql:1: unknown placeholder ${nope}"),
        "before_each_migration.sql": ("BEGIN;\nSELECT 1;\n", "callbacks/before_each_migration.sql:1: BEGIN is "
                                                              "not allowed in a callback file"),
        "after_each_migraton.sql": ("SELECT 1;\n", "callbacks/after_each_migraton.sql: not a callback file name"),
    }
    for name, (text, expected) in cases.items():
        shutil.rmtree(project / "callbacks", ignore_errors=True)
        callbacks(project, {name: text})
        r = run_cli("migrate", "validate", cwd=project)
        assert r.code == 2, (name, r.stderr)
        assert expected in r.stderr and "Traceback" not in r.stderr, (name, r.stderr)


def test_callbacks_dir_setting_and_plugins_listing(project: Path) -> None:
    cfg = project / "confiture.toml"
    cfg.write_text(cfg.read_text() + 'callbacks_dir = "db/callbacks"\n')
    r = run_cli("plugins", cwd=project)
    assert r.code == 2 and "callbacks_dir = 'db/callbacks': folder" in r.stderr and "not found" in r.stderr
    callbacks(project, {"after_migrate.sql": "SELECT 1;\n", "on_error.up.sql": "SELECT 2;\n"}, "db/callbacks")
    r = run_cli("plugins", "--format", "json", cwd=project)
    assert r.code == 0, r.stderr
    [info] = [p for p in json.loads(r.stdout)["plugins"] if p["name"] == "confiture_callbacks"]
    assert info["hooks"] == ["confiture_after_migrate", "confiture_on_error"] and info["status"] == "loaded"


def test_no_callback_files_no_hooks(project: Path) -> None:
    r = run_cli("plugins", "--format", "json", cwd=project)
    [info] = [p for p in json.loads(r.stdout)["plugins"] if p["name"] == "confiture_callbacks"]
    assert info["hooks"] == []


def test_callbacks_fire_on_a_shared_corpus(project: Path, db: psycopg.Connection[Any]) -> None:
    src = (CORPUS / "ente").resolve()
    db.execute(LOG)
    for st in (src / "prelude.sql").read_text().split(";\n") if (src / "prelude.sql").exists() else ():
        if st.strip():
            db.execute(st)
    cfg = project / "confiture.toml"
    cfg.write_text(cfg.read_text() + f'migrations_dir = "{src / "migrations"}"\n')
    callbacks(project, {"after_each_migration.sql": logger("after")})
    r = run_cli("migrate", "up", "--yes", cwd=project, timeout=600)
    assert r.code == 0, r.stderr[-2000:]
    done = applied(db)
    assert done and [int(v) for _, v, _, _ in log(db)] == done
