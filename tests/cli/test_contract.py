"""The CLI contract under bad input: regression tests for defects found in review.

Each test pins one defect: Python migrations that commit, roll back or exit;
stdout reserved for the JSON document; a JSON document for every error; strict
config values; ``--to ""``; no embedded server outside a project; ``SET ROLE``
in a migration; version numbering of ``migrate new``; a hanging server.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.cli import next_version
from confiture_core.migrations import discover

from ..conftest import invoke, run_cli, write
from ..runner.test_runner import history, tables


def test_python_migration_that_rolls_back_applies_nothing(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_py.py",
          "def up(conn):\n    conn.execute('CREATE TABLE r1 (x int)')\n    conn.rollback()\n"
          "    conn.execute('CREATE TABLE r2 (x int)')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert ("error: migrations/1_py.py:4: up() rolled back the runner's transaction (conn.rollback() or a ROLLBACK "
            "statement); nothing it did was applied") in r.stderr
    # nothing persists (r2, created after the rollback, could not be written): the migration stays pending
    assert tables(db) == ["confiture_migrations"] and history(db) == []


def test_python_migration_commit_is_refused_and_nothing_persists(project: Path,
                                                                db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_py.py",
          "def up(conn):\n    conn.execute('CREATE TABLE t5 (x int)')\n    conn.commit()\n"
          "    conn.execute('CREATE TABLE t5b (x int)')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "1_py.py:3: up() failed: confiture: a plugin hook or Python migration issued COMMIT" in r.stderr
    assert tables(db) == ["confiture_migrations"]
    assert history(db) == []


def test_sys_exit_in_python_migration_fails_the_run(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_py.py",
          "import sys\n\ndef up(conn):\n    conn.execute('CREATE TABLE gone (x int)')\n    sys.exit(0)\n")
    r = run_cli("migrate", "up", "--yes", "--format", "json", cwd=project)
    assert r.code == 1
    assert "1_py.py:5: up() called sys.exit(0)" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["migrations"][0]["status"] == "failed"
    assert tables(db) == ["confiture_migrations"]


def test_prints_from_migrations_and_plugins_stay_off_stdout(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_py.py",
          "print('TOPLEVEL')\n\ndef up(conn):\n    print('noise')\n    conn.execute('CREATE TABLE p (x int)')\n")
    write(project, "p_print.py", "from confiture_core.hookspecs import hookimpl\nprint('import noise')\n\n"
                                 "@hookimpl\ndef confiture_before_migration(context):\n    print('hook noise')\n")
    r = run_cli("-p", "p_print", "migrate", "up", "--format", "json", cwd=project,
                env={"PYTHONPATH": str(project)})
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)  # exactly one JSON document
    assert [m["status"] for m in doc["migrations"]] == ["applied"]
    assert r.stderr.count("TOPLEVEL") == 1  # imported once
    assert "noise" in r.stderr and "hook noise" in r.stderr and "import noise" in r.stderr


def test_errors_before_the_run_still_print_a_json_document(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    write(m, "1_a.up.sql", "CREATE TABLE a (id bigint);\n")
    r = invoke("migrate", "up", "--format", "json", cwd=project)
    assert r.code == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 1 and "changed after it was applied" in doc["error"]
    write(m, "01_b.up.sql", "SELECT 1;\n")
    r = invoke("migrate", "status", "--format", "json", cwd=project)
    assert r.code == 2 and json.loads(r.stdout)["exit_code"] == 2


@pytest.mark.parametrize("target", ["", " 1", "-1", "1e3", "0x10", "abc"])
def test_bad_to_values_are_usage_errors(project: Path, db: psycopg.Connection[Any], target: str) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    for cmd in ("up", "down"):
        r = invoke("migrate", cmd, "--to", target, cwd=project)
        assert r.code == 2, (cmd, target, r.stderr)
        assert f"--to: version {target!r}" in r.stderr
    assert tables(db) == []


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ('tracking_table = "x\\"y"', "expected table or schema.table"),
        ('tracking_table = "public."', "expected table or schema.table"),
        ('tracking_table = ".t"', "expected table or schema.table"),
        ('tracking_table = ""', "tracking_table must be a non-empty string"),
        ("tracking_table = 5", "tracking_table must be a non-empty string"),
        ('tracking_table = "pg_catalog.mig"', "reserved by PostgreSQL"),
        ('lock_timeout = "banana"', "lock_timeout = 'banana' is not a duration"),
        ("migrations_dir = 5", "migrations_dir must be a non-empty string"),
        ("advisory_lock_wait = 1e400", "advisory_lock_wait must be a number of seconds"),
        ("dry_run = true", "dry_run must be a table"),
        ("connect_timeout = 0", "connect_timeout must be a whole number"),
        ("statement_timeout = -1", "statement_timeout = -1 is not a duration"),  # was "must be a non-empty string"
        ('tracking_table = "a.b.c"', "confiture.toml: tracking_table 'a.b.c': expected table or schema.table"),
    ],
)
def test_bad_config_values_exit_2(tmp_path: Path, setting: str, fragment: str) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text(setting + "\n")
    r = invoke("migrate", "status", cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / ".confiture").exists()


def test_status_outside_a_project_starts_no_server(tmp_path: Path) -> None:
    r = invoke("migrate", "status", cwd=tmp_path)
    assert r.code == 2 and "migrations folder not found" in r.stderr
    assert not (tmp_path / ".confiture").exists()


def test_set_role_in_migration_does_not_reach_the_tracking_row(project: Path, db: psycopg.Connection[Any]) -> None:
    role = f"lowpriv_{db.info.dbname}"
    db.execute(f'CREATE ROLE "{role}"')
    try:
        db.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"')
        write(project / "migrations", "1_role.up.sql", f'SET ROLE "{role}";\nCREATE TABLE owned (x int);\n')
        r = invoke("migrate", "up", cwd=project)
        assert r.code == 0, r.stderr
        owner = db.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'owned'").fetchone()
        assert owner == (role,)
        login = db.execute("SELECT session_user").fetchone()
        assert db.execute("SELECT applied_by FROM confiture_migrations").fetchone() == login
    finally:
        db.execute("DROP TABLE IF EXISTS owned")
        db.execute(f'REVOKE ALL ON SCHEMA public FROM "{role}"')
        db.execute(f'DROP ROLE "{role}"')


def test_out_of_order_migration_is_applied_with_a_warning(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0 and "older than the newest applied one (2)" in r.stderr
    assert history(db) == [(1, True), (2, True)]


def test_next_version_numbering(tmp_path: Path) -> None:
    now = datetime(2026, 11, 29, 17, 52, 59, tzinfo=UTC)
    assert next_version([], now) == "20261129175259"
    write(tmp_path / "a", "001_a.up.sql", "")
    write(tmp_path / "a", "002_b.up.sql", "")
    assert next_version(discover(tmp_path / "a"), now) == "003"
    write(tmp_path / "b", "20261129175259_a.up.sql", "")
    assert next_version(discover(tmp_path / "b"), now) == "20261129175300"  # never second 60
    write(tmp_path / "c", "20991231235959_z.up.sql", "")
    assert next_version(discover(tmp_path / "c"), now) == "21000101000000"


def test_silent_server_times_out_with_one_line(tmp_path: Path) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        (tmp_path / "migrations").mkdir()
        (tmp_path / "confiture.toml").write_text("connect_timeout = 1\n")
        r = run_cli("--database-url", f"postgresql://u:Pw0rd@127.0.0.1:{port}/db", "migrate", "status",
                    cwd=tmp_path, timeout=60)
        assert r.code == 2
        assert "cannot connect to postgresql://u:***@127.0.0.1" in r.stderr and "Pw0rd" not in r.stderr
    finally:
        stop.set()
        t.join()
        for c in accepted:
            c.close()
        srv.close()


def test_nul_byte_is_an_error_not_a_silent_cut(project: Path, db: psycopg.Connection[Any]) -> None:
    (project / "migrations" / "1_t.up.sql").write_text("CREATE TABLE t (id int);\n")
    assert invoke("migrate", "up", "--yes", cwd=project).code == 0
    (project / "migrations" / "2_nul.up.sql").write_bytes(b"SELECT 1;\x00\nDROP TABLE t;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 2 and "refusing to migrate: migrations/2_nul.up.sql:1: NUL byte at byte 9" in r.stderr
    assert history(db) == [(1, True)] and "t" in tables(db)
    r = invoke("lint", "migrations", "--format", "json", cwd=project)
    doc = json.loads(r.stdout)
    assert r.code == 1 and any("NUL byte" in v["message"] for v in doc["violations"])


def test_usage_errors_print_a_json_document(project: Path) -> None:
    r = invoke("lint", "/nonexistent/path", "--format", "json", cwd=project)
    assert r.code == 2 and json.loads(r.stdout)["ok"] is False
    r = invoke("migrate", "up", "--dry-run", "--fail-on", "bogus", "--format", "json", cwd=project)
    assert r.code == 2 and "unknown risk level 'bogus'" in json.loads(r.stdout)["error"]


def test_printing_on_error_and_lint_rules_hooks_keep_stdout_clean(project: Path,
                                                                   db: psycopg.Connection[Any]) -> None:
    write(project, "noisy.py", "from confiture_core.hookspecs import hookimpl\n\n"
                               "@hookimpl\ndef confiture_after_migration(context):\n    raise RuntimeError('x')\n\n"
                               "@hookimpl\ndef confiture_on_error(context, error):\n    print('on_error called')\n\n"
                               "@hookimpl\ndef confiture_lint_rules():\n    print('P:lint_rules')\n    return []\n")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    env = {"PYTHONPATH": str(project)}
    r = run_cli("-p", "noisy", "migrate", "up", "--yes", "--format", "json", cwd=project, env=env)
    assert r.code == 1 and json.loads(r.stdout)["ok"] is False and "on_error called" in r.stderr
    r = run_cli("-p", "noisy", "plugins", "--format", "json", cwd=project, env=env)
    assert r.code == 0 and "noisy" in [p["name"] for p in json.loads(r.stdout)["plugins"]]
    r = run_cli("-p", "noisy", "lint", "--format", "json", cwd=project, env=env)
    assert json.loads(r.stdout) is not None and "P:lint_rules" in r.stderr


def test_disable_plugin_with_unknown_name_warns(project: Path) -> None:
    r = invoke("--disable-plugin", "nosuchplugin", "plugins", cwd=project)
    assert r.code == 0 and "--disable-plugin nosuchplugin: no plugin of that name was found" in r.stderr


def test_lint_excerpts_hide_role_passwords(project: Path) -> None:
    write(project / "migrations", "1_role.up.sql", "CREATE ROLE app LOGIN PASSWORD 'TopSecretRolePw';\n"
                                                   "CREATE TABLE t (id serial);\n")
    r = invoke("lint", "--select", "ALL", "--format", "json", cwd=project)
    assert "TopSecretRolePw" not in r.stdout + r.stderr


def test_embedded_database_created_by_a_concurrent_first_run(pg_server: Any) -> None:
    """Regression: two first runs at once; the loser's CREATE DATABASE failed with a unique violation."""
    from confiture_core.embedded import create_database, ensure_database

    name = "t_race_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        try:
            create_database(conn, name)
            create_database(conn, name)  # what the slower process does after its check said "missing"
            ensure_database(conn, name)
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone() == (1,)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_plugins_listing_never_cuts_names(project: Path) -> None:
    """Regression: at 80 columns without a terminal the table cut names to "confiture_…"."""
    r = invoke("plugins", cwd=project, env={"COLUMNS": "60"})
    assert r.code == 0, r.stderr
    for name in ("confiture_lint_conventions", "confiture_lint_safety", "confiture_lint_tenancy"):
        assert f"{name}  loaded" in r.stderr
    assert "lint rules: CF101, CF102" in r.stderr and "…" not in r.stderr
