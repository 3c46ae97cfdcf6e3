"""``confiture lint`` options that need a database: ``--pending`` and the server's version."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.conftest import invoke, write


def test_pending_lints_only_unapplied_migrations(project: Path) -> None:
    mig = project / "migrations"
    write(mig, "1_create.up.sql", "CREATE TABLE t (id bigint PRIMARY KEY, c bigint);\nCREATE INDEX t_c ON t (c);\n")
    write(mig, "2_drop.up.sql", "ALTER TABLE t DROP COLUMN c;\n")
    write(mig, "2_drop.down.sql", "ALTER TABLE t ADD COLUMN c bigint;\n")
    write(mig, "3_index.up.sql", "CREATE INDEX t_id2 ON t (id);\n")
    up = invoke("migrate", "up", "--to", "2", cwd=project)
    assert up.code == 0, up.stderr
    r = invoke("lint", "--pending", "--format", "json", "--no-cache", cwd=project)
    assert r.code == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [f["path"] for f in doc["files"]] == ["migrations/3_index.up.sql"]
    # no CF120: the project's runner bounds the index build with [apply] lock_timeout (5s by default)
    assert {v["code"] for v in doc["violations"]} == {"CF101"}
    # without --pending every up file is linted, applied ones included (down files with --include-down)
    r = invoke("lint", "--format", "json", "--no-cache", cwd=project)
    assert len(json.loads(r.stdout)["files"]) == 3
    r = invoke("lint", "--format", "json", "--no-cache", "--include-down", cwd=project)
    assert len(json.loads(r.stdout)["files"]) == 4


def test_pending_with_nothing_pending_is_clean(project: Path) -> None:
    write(project / "migrations", "1_create.up.sql", "CREATE TABLE t (id bigint PRIMARY KEY);\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    r = invoke("lint", "--pending", cwd=project)
    assert r.code == 0, r.stdout + r.stderr
    assert "No findings in 0 files" in r.stdout


def test_pg_version_defaults_to_the_connected_server(project: Path, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        major = conn.info.server_version // 10000
    write(project / "migrations", "1_a.up.sql", "SELECT 1;\n")
    r = invoke("lint", "--format", "json", cwd=project)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["pg_version"] == major
    text = invoke("lint", cwd=project)
    assert f"linting for PostgreSQL {major} (from the connected server)" in text.stderr
    # an explicit --pg-version wins over the server
    r = invoke("lint", "--format", "json", "--pg-version", "10", cwd=project)
    assert json.loads(r.stdout)["pg_version"] == 10


def test_unreachable_server_falls_back_to_config(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text(
        'database_url = "postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2"\n[lint]\npg_version = 13\n')
    write(tmp_path / "migrations", "1_a.up.sql", "SELECT 1;\n")
    r = invoke("lint", "--format", "json", cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["pg_version"] == 13
    assert "secret" not in r.stdout + r.stderr
