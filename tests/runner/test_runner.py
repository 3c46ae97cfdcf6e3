"""The runner and the CLI on a real PostgreSQL: apply, fail, revert, repair, baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write


def tables(db: psycopg.Connection[Any], schema: str = "public") -> list[str]:
    rows = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema]).fetchall()
    return [r[0] for r in rows]


def history(db: psycopg.Connection[Any], table: str = "confiture_migrations") -> list[tuple[Any, ...]]:
    return [(int(v), s) for v, s in db.execute(f"SELECT version, success FROM {table} ORDER BY version").fetchall()]


def five(project: Path, failing_third: bool = False) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    third = "CREATE TABLE c (id int);\n\nINSERT INTO c\n  SELECT nope FROM a;\n" if failing_third else \
        "CREATE TABLE c (id int);\n"
    write(m, "3_c.up.sql", third)
    write(m, "4_d.up.sql", "CREATE TABLE d (id int);\n")
    write(m, "10_e.up.sql", "CREATE TABLE e (id int);\n")
    for v, t in ((1, "a"), (2, "b"), (3, "c"), (4, "d"), (10, "e")):
        write(m, f"{v}_{t}.down.sql", f"DROP TABLE {t};\n")


def test_up_then_status_json(project: Path, db: psycopg.Connection[Any]) -> None:
    five(project)
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    assert tables(db) == ["a", "b", "c", "confiture_migrations", "d", "e"]
    r = invoke("migrate", "status", "--format", "json", cwd=project)
    doc = json.loads(r.stdout)
    assert [(m["version"], m["name"], m["applied"]) for m in doc["migrations"]] == [
        ("1", "a", True), ("2", "b", True), ("3", "c", True), ("4", "d", True), ("10", "e", True)]
    row = db.execute("SELECT name, checksum, execution_ms >= 0, applied_by, success, applied_at IS NOT NULL "
                     "FROM confiture_migrations WHERE version = 10").fetchone()
    assert row is not None and row[0] == "e" and len(row[1]) == 64 and row[2:] == (True, "postgres", True, True)


def test_failing_statement_in_third_of_five(project: Path, db: psycopg.Connection[Any]) -> None:
    five(project, failing_third=True)
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1
    assert "3_c.up.sql:4:" in r.stderr  # the line of `SELECT nope`, from PostgreSQL's error position
    assert 'column "nope" does not exist' in r.stderr
    assert "Traceback" not in r.stderr
    assert tables(db) == ["a", "b", "confiture_migrations"]
    assert history(db) == [(1, True), (2, True)]


def test_search_path_does_not_leak_into_next_migration(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_schema.up.sql", "CREATE SCHEMA other;\nSET search_path TO other;\nCREATE TABLE inside (id int);\n")
    write(m, "2_plain.up.sql", "CREATE TABLE plain (id int);\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    assert tables(db, "other") == ["inside"]
    assert "plain" in tables(db, "public")


def test_concurrent_index_migration_runs_in_autocommit(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (a int);\n")
    write(m, "2_i.up.sql", "CREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_a2 ON t (a);\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    idx = db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 't' ORDER BY 1").fetchall()
    assert [i[0] for i in idx] == ["t_a", "t_a2"]
    assert history(db) == [(1, True), (2, True)]


def test_autocommit_migration_failing_midway_is_recorded_and_blocks(project: Path,
                                                                    db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (a int);\n")
    write(m, "2_i.up.sql", "-- confiture: no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n"
                           "CREATE INDEX CONCURRENTLY t_b ON t (nope);\nCREATE TABLE never (id int);\n")
    write(m, "3_z.up.sql", "CREATE TABLE z (id int);\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1
    assert "2_i.up.sql:3:" in r.stderr
    assert "statement 1 ran and was committed, statement 2 failed, statement 3 did not run" in r.stderr
    assert history(db) == [(1, True), (2, False)]
    assert "never" not in tables(db) and "z" not in tables(db)
    # blocked until repair
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1 and "confiture migrate repair" in r.stderr
    # fix by hand, repair, rerun
    write(m, "2_i.up.sql", "-- confiture: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n"
                           "CREATE INDEX CONCURRENTLY t_b ON t (a);\nCREATE TABLE never (id int);\n")
    r = invoke("migrate", "repair", cwd=project)
    assert r.code == 0 and "removed failed migration 2" in r.stderr
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    assert history(db) == [(1, True), (2, True), (3, True)]


def test_changed_and_missing_files_block_up_and_are_listed_by_validate(project: Path,
                                                                       db: psycopg.Connection[Any]) -> None:
    five(project)
    assert invoke("migrate", "up", cwd=project).code == 0
    m = project / "migrations"
    # CRLF re-save is not a change
    p = m / "1_a.up.sql"
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    r = invoke("migrate", "validate", cwd=project)
    assert r.code == 0, r.stderr
    # an edit is
    write(m, "2_b.up.sql", "CREATE TABLE b (id bigint);\n")
    (m / "4_d.up.sql").unlink()
    (m / "4_d.down.sql").unlink()
    write(m, "11_f.up.sql", "CREATE TABLE f (id int);\n")
    r = invoke("migrate", "validate", "--format", "json", cwd=project)
    assert r.code == 1
    doc = json.loads(r.stdout)
    assert sorted((p["version"], p["kind"]) for p in doc["problems"]) == [("2", "changed"), ("4", "missing")]
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1 and "2_b.up.sql: changed after it was applied" in r.stderr
    assert "f" not in tables(db)
    r = invoke("migrate", "repair", "--format", "json", cwd=project)
    assert json.loads(r.stdout)["changes"] == [
        "updated the checksum of migration 2 (b)", "removed migration 4 (d): its file is gone"]
    assert invoke("migrate", "up", cwd=project).code == 0
    assert "f" in tables(db)


def test_down_one_and_down_to(project: Path, db: psycopg.Connection[Any]) -> None:
    five(project)
    assert invoke("migrate", "up", cwd=project).code == 0
    r = invoke("migrate", "down", cwd=project)
    assert r.code == 0, r.stderr
    assert "e" not in tables(db)
    r = invoke("migrate", "down", "--to", "2", cwd=project)
    assert r.code == 0, r.stderr
    assert tables(db) == ["a", "b", "confiture_migrations"]
    assert history(db) == [(1, True), (2, True)]
    r = invoke("migrate", "up", "--to", "3", cwd=project)
    assert r.code == 0 and history(db) == [(1, True), (2, True), (3, True)]


def test_down_without_down_file_refuses_before_running(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "1_a.down.sql", "DROP TABLE a;\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    r = invoke("migrate", "down", "--to", "0", cwd=project)
    assert r.code == 2 and "2_b.up.sql: no down migration" in r.stderr  # a project error, as an empty down file
    assert tables(db) == ["a", "b", "confiture_migrations"]


def test_baseline_marks_existing_database(project: Path, db: psycopg.Connection[Any]) -> None:
    five(project)
    db.execute("CREATE TABLE a (id int); CREATE TABLE b (id int);")
    r = invoke("migrate", "baseline", "2", cwd=project)
    assert r.code == 0, r.stderr
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    doc = json.loads(invoke("migrate", "status", "--format", "json", cwd=project).stdout)
    assert [(m["version"], m["state"]) for m in doc["migrations"]] == [
        ("1", "below-baseline"), ("2", "baseline"), ("3", "applied"), ("4", "applied"), ("10", "applied")]


def test_begin_commit_in_file_are_skipped_inside_the_runner_transaction(project: Path,
                                                                       db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\n")
    write(m, "2_b.up.sql", "BEGIN;\nINSERT INTO a VALUES (2);\nSELECT 1/0;\nCOMMIT;\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1 and "2_b.up.sql:3: division by zero" in r.stderr
    assert db.execute("SELECT array_agg(id) FROM a").fetchone() == ([1],)  # 2 rolled back as a whole


def test_copy_from_stdin_and_python_migration(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int, t text);\nCOPY a (id, t) FROM stdin;\n1\tx;y\n2\t\\N\n\\.\n"
                           "INSERT INTO a VALUES (3, 'z');\n")
    write(m, "2_py.py", "transactional = True\n\ndef up(conn):\n    conn.execute(\"INSERT INTO a VALUES (4, 'py')\")\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    assert db.execute("SELECT id, t FROM a ORDER BY id").fetchall() == [(1, "x;y"), (2, None), (3, "z"), (4, "py")]


def test_schema_qualified_quoted_tracking_table(project: Path, db: psycopg.Connection[Any],
                                                database_url: str) -> None:
    (project / "confiture.toml").write_text(f'database_url = "{database_url}"\n'
                                            'tracking_table = \'ops."Schema Log"\'\n')
    five(project)
    assert invoke("migrate", "up", cwd=project).code == 0
    assert history(db, 'ops."Schema Log"')[-1] == (10, True)


def test_password_never_printed(project: Path) -> None:
    (project / "confiture.toml").write_text("")
    url = "postgresql://app:Sup3rS3cret@127.0.0.1:1/prod"
    for args in (("--database-url", url, "migrate", "status"),
                 ("--database-url", url, "migrate", "status", "--format", "json")):
        r = invoke(*args, cwd=project)
        assert r.code == 2
        assert "Sup3rS3cret" not in r.stdout + r.stderr
        assert "cannot connect to postgresql://app:***@127.0.0.1:1/prod" in r.stderr
    r = invoke("migrate", "status", cwd=project, env={"DATABASE_URL": url})
    assert r.code == 2 and "Sup3rS3cret" not in r.stdout + r.stderr and "from DATABASE_URL" in r.stderr
    # regression: libpq reads "S3cret\ PW" as the password "S3cret PW"; " PW" leaked
    dsn = r"host=127.0.0.1 port=1 password=Sup3rS3cret\ Tail dbname=nope"
    for fmt in ("text", "json"):
        r = invoke("--database-url", dsn, "migrate", "status", "--format", fmt, cwd=project)
        assert r.code == 2 and "password=*** dbname=nope" in r.stderr
        assert "Sup3rS3cret" not in r.stdout + r.stderr and "Tail" not in r.stdout + r.stderr
    # percent-encoded in a URL: neither spelling may appear
    r = invoke("--database-url", "postgresql://app:Sup3r%40Tail@127.0.0.1:1/prod", "migrate", "status",
                cwd=project)
    assert r.code == 2 and "Sup3r" not in r.stdout + r.stderr and "Tail" not in r.stdout + r.stderr


def test_usage_and_config_errors_exit_2(project: Path) -> None:
    r = invoke("migrate", "up", "--to", "abc", cwd=project)
    assert r.code == 2 and "version 'abc'" in r.stderr
    r = invoke("migrate", "sideways", cwd=project)
    assert r.code == 2
    (project / "confiture.toml").write_text("migrations_dir = [\n")
    r = invoke("migrate", "status", cwd=project)
    assert r.code == 2 and "confiture.toml: invalid TOML" in r.stderr and "Traceback" not in r.stderr
    (project / "confiture.toml").write_bytes(b'migrations_dir = "caf\xe9"\n')  # Latin-1, not UTF-8
    r = invoke("migrate", "status", cwd=project)
    assert r.code == 2 and "confiture.toml: not valid UTF-8 at byte 21" in r.stderr and "internal" not in r.stderr
    (project / "confiture.toml").write_text('migration_dir = "x"\n')
    r = invoke("migrate", "status", cwd=project)
    assert r.code == 2 and "unknown setting(s) migration_dir" in r.stderr
    # regression: a misspelt [review] key was silently ignored (the gate kept its default)
    (project / "confiture.toml").write_text('[review]\nconfirm_levle = "destructive"\n')
    r = invoke("migrate", "status", cwd=project)
    assert r.code == 2 and "unknown setting(s) in [review]: confirm_levle; known: confirm_level" in r.stderr


def test_bad_migration_file_name_exit_2(project: Path) -> None:
    write(project / "migrations", "first.up.sql", "SELECT 1;")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 2 and "first.up.sql: cannot parse the file name" in r.stderr


def test_syntax_error_in_pending_file_applies_nothing(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\nCREAT TABLE c ();\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code in (1, 2) and "2_b.up.sql:2:1: SQL syntax error" in r.stderr
    assert tables(db) == ["confiture_migrations"]


def test_init_and_new(tmp_path: Path) -> None:
    assert invoke("init", cwd=tmp_path).code == 0
    assert (tmp_path / "confiture.toml").is_file() and (tmp_path / "migrations").is_dir()
    r = invoke("migrate", "new", "Add users", cwd=tmp_path)
    assert r.code == 0
    names = sorted(p.name for p in (tmp_path / "migrations").iterdir())
    assert len(names) == 2 and names[0].endswith("_add_users.down.sql") and names[1].endswith("_add_users.up.sql")
    r = invoke("init", cwd=tmp_path)
    assert r.code == 2 and "already exists" in r.stderr


def test_async_or_odd_python_migrations_are_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: ``async def up`` was recorded as applied without running; ``transactional = "no"`` was truthy."""
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_async.py", "import asyncio\n\n\nasync def up(conn):\n    conn.execute('CREATE TABLE never (id int)')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code in (1, 2) and "Traceback" not in r.stderr
    assert "2_async.py:4: up() is defined with async def" in r.stderr and "def up(conn)" in r.stderr
    assert db.execute("SELECT to_regclass('a') IS NULL AND to_regclass('never') IS NULL").fetchone() == (True,)
    write(m, "2_async.py", "transactional = 'no'\n\n\ndef up(conn):\n    conn.execute('CREATE TABLE never (id int)')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code in (1, 2) and "2_async.py: transactional = 'no'; it must be True or False" in r.stderr
    assert db.execute("SELECT to_regclass('a') IS NULL AND to_regclass('never') IS NULL").fetchone() == (True,)


def test_python_migration_swallowing_a_database_error(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: it was reported as "committed, rolled back or closed" and recorded as failed (blocking)."""
    m = project / "migrations"
    write(m, "1_swallow.py", "def up(conn):\n    conn.execute('CREATE TABLE swl (id int)')\n    try:\n"
                             "        conn.execute('SELECT 1 / 0')\n    except Exception:\n        pass\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1 and "Traceback" not in r.stderr
    assert "1_swallow.py: up() caught a database error and went on" in r.stderr and "nothing was applied" in r.stderr
    assert db.execute("SELECT to_regclass('swl') IS NULL").fetchone() == (True,)
    assert db.execute("SELECT count(*) FROM confiture_migrations").fetchone() == (0,)
    write(m, "1_swallow.py", "def up(conn):\n    conn.execute('CREATE TABLE swl (id int)')\n    try:\n"
                             "        with conn.transaction():\n            conn.execute('SELECT 1 / 0')\n"
                             "    except Exception:\n        pass\n")
    r = invoke("migrate", "up", "--yes", cwd=project)  # not blocked; the savepoint route works
    assert r.code == 0, r.stderr
    assert db.execute("SELECT to_regclass('swl') IS NOT NULL").fetchone() == (True,)


def test_autocommit_failures_record_the_real_error(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: the tracking row kept "interrupted while in progress" instead of what failed."""
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (n int);\n")
    write(m, "2_py.py", "transactional = False\n\n\ndef up(conn):\n    conn.execute('CREATE TABLE p (id int)')\n"
                        "    conn.execute('SELECT 1 / 0')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1 and "division by zero" in r.stderr and "confiture migrate repair" in r.stderr
    row = db.execute("SELECT success, error FROM confiture_migrations WHERE version = 2").fetchone()
    assert row is not None and row[0] is False
    assert "2_py.py:6: up() failed: division by zero" in row[1] and "part of it may have run" in row[1]
    r = invoke("migrate", "status", "--format", "json", cwd=project)
    assert "division by zero" in r.stdout
    r = invoke("migrate", "status", cwd=project)  # regression: the summary left failed ones out
    assert "1 applied, 0 pending, 1 failed" in r.stderr


def test_hook_failing_after_an_autocommit_migration(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: the index was committed, the row said "interrupted", the message did not say to repair."""
    (project / "after_boom.py").write_text(
        "import pluggy\nhookimpl = pluggy.HookimplMarker('confiture')\n\n"
        "@hookimpl\ndef confiture_after_migration(context):\n"
        "    if context.migration.version == 2:\n        raise ValueError('boom')\n")
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (n int);\n")
    write(m, "2_cic.up.sql", "CREATE INDEX CONCURRENTLY t_n ON t (n);\n")
    r = invoke("-p", "after_boom", "migrate", "up", "--yes", cwd=project, env={"PYTHONPATH": str(project)})
    assert r.code == 1 and "Traceback" not in r.stderr
    assert "plugin 'after_boom' failed in confiture_after_migration" in r.stderr
    assert "its statements ran and were committed" in r.stderr and "confiture migrate repair" in r.stderr
    row = db.execute("SELECT success, error FROM confiture_migrations WHERE version = 2").fetchone()
    assert row is not None and row[0] is False and "ValueError: boom" in row[1]
    assert db.execute("SELECT to_regclass('t_n') IS NOT NULL").fetchone() == (True,)
