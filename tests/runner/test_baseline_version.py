"""migrate baseline refuses a mistyped version; a revert of a Python migration without down says what to add."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write


def _files(project: Path) -> None:
    for v, t in ((1, "a"), (2, "b"), (3, "c")):
        write(project / "migrations", f"{v}_{t}.up.sql", f"CREATE TABLE {t} (id int);\n")


def test_a_mistyped_version_is_refused_and_nothing_is_recorded(project: Path, db: psycopg.Connection[Any]) -> None:
    _files(project)
    r = invoke("migrate", "baseline", "20", cwd=project)
    assert r.code == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "error: baseline 20: no migration has version 20 (nearest: 3 below); it would mark 3 migrations below "
        "it as applied: give the version of the last migration the database already has")
    assert db.execute("SELECT to_regclass('confiture_migrations')").fetchone() == (None,)
    doc = json.loads(invoke("migrate", "status", "--format", "json", cwd=project).stdout)
    assert {m["state"] for m in doc["migrations"]} == {"pending"}


def test_a_file_version_or_one_below_every_file_is_accepted(project: Path, database_url: str,
                                                             db: psycopg.Connection[Any]) -> None:
    _files(project)
    assert invoke("migrate", "baseline", "0", cwd=project).code == 0  # adopting a database: nothing skipped
    doc = json.loads(invoke("migrate", "status", "--format", "json", cwd=project).stdout)
    assert [m["state"] for m in doc["migrations"] if m["version"] != "0"] == ["pending"] * 3
    db.execute("DROP TABLE confiture_migrations")
    assert invoke("migrate", "baseline", "2", cwd=project).code == 0
    doc = json.loads(invoke("migrate", "status", "--format", "json", cwd=project).stdout)
    assert [(m["version"], m["state"]) for m in doc["migrations"]] == [
        ("1", "below-baseline"), ("2", "baseline"), ("3", "pending")]


def test_a_python_migration_without_down_is_told_to_add_the_function(project: Path) -> None:
    write(project / "migrations", "1_seed.py", "def up(conn):\n    conn.execute('CREATE TABLE s (id int)')\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    r = invoke("migrate", "down", "--to", "0", cwd=project)
    assert r.code == 2
    assert "1_seed.py: no down migration; add a down(conn) function to it or stop the revert above it with --to" \
        in r.stderr
