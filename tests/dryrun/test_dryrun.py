"""Dry runs on a real PostgreSQL: measured locks, rewrites, sequences, rollback, fail-fast locks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest

from confiture_core.risk import Risk, blocked_operations

from ..conftest import REPO, invoke, write


def fingerprint(db: psycopg.Connection[Any]) -> dict[str, Any]:
    """Schema (pg_catalog) and data (md5 of each table's rows) and sequence states of user schemas."""
    user = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"
    fp: dict[str, Any] = {}
    fp["relations"] = db.execute(
        f"SELECT n.nspname, c.relname, c.relkind, c.relfilenode FROM pg_class c JOIN pg_namespace n "
        f"ON n.oid = c.relnamespace WHERE {user} ORDER BY 1, 2").fetchall()
    fp["columns"] = db.execute(
        f"SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        f"pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
        f"AND d.adnum = a.attnum WHERE {user} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2").fetchall()
    fp["constraints"] = db.execute(
        f"SELECT conname, pg_get_constraintdef(co.oid) FROM pg_constraint co JOIN pg_namespace n "
        f"ON n.oid = co.connamespace WHERE {user} ORDER BY 1, 2").fetchall()
    fp["indexes"] = db.execute(
        "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname NOT IN "
        "('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\\_%%' ORDER BY 1, 2").fetchall()
    fp["functions"] = db.execute(
        f"SELECT p.proname, md5(pg_get_functiondef(p.oid)) FROM pg_proc p JOIN pg_namespace n "
        f"ON n.oid = p.pronamespace WHERE {user} AND p.prokind IN ('f', 'p') ORDER BY 1, 2").fetchall()
    fp["types"] = db.execute(
        f"SELECT t.typname, t.typtype, (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum "
        f"WHERE enumtypid = t.oid) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {user} "
        f"ORDER BY 1").fetchall()
    fp["sequences"] = db.execute(
        "SELECT schemaname, sequencename, start_value, increment_by, max_value, last_value FROM pg_sequences "
        "WHERE schemaname NOT LIKE 'pg\\_%%' ORDER BY 1, 2").fetchall()
    data = {}
    for schema, table in db.execute(
            # other sessions' temporary schemas (pg_temp_N) are left out: a session that just ended
            # may still be dropping its temporary tables, which no other session can read
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema') AND schemaname NOT LIKE 'pg\\_%%' ORDER BY 1, 2").fetchall():
        q = f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{schema}"."{table}" t'
        data[f"{schema}.{table}"] = db.execute(q).fetchone()
    fp["data"] = data
    return fp


def dry_json(project: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    r = invoke("migrate", "up", "--dry-run", "--format", "json", *extra, cwd=project)
    doc = json.loads(r.stdout) if r.stdout.strip() else {}
    return r.code, doc, r.stderr


def statements(doc: dict[str, Any], version: str) -> list[dict[str, Any]]:
    [m] = [m for m in doc["migrations"] if m["version"] == version]
    return list(m["statements"])


def locks_of(st: dict[str, Any]) -> set[tuple[str, str]]:
    return {(lk["relation"], lk["mode"]) for lk in st["locks"]}


@pytest.fixture
def seeded(project: Path, db: psycopg.Connection[Any]) -> Path:
    """A project whose database already has tables t (with rows) and parent, applied for real."""
    m = project / "migrations"
    write(m, "1_base.up.sql", "CREATE TABLE parent (id int PRIMARY KEY);\n"
                              "CREATE TABLE t (id serial PRIMARY KEY, parent_id int, n int);\n"
                              "INSERT INTO parent SELECT g FROM generate_series(1, 10) g;\n"
                              "INSERT INTO t (parent_id, n) SELECT g, g FROM generate_series(1, 10) g;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    return project


def test_add_column_volatile_default_rewrites_constant_does_not(seeded: Path, db: psycopg.Connection[Any]) -> None:
    write(seeded / "migrations", "2_cols.up.sql",
          "ALTER TABLE t ADD COLUMN c1 int DEFAULT 42;\n"
          "ALTER TABLE t ADD COLUMN c2 double precision DEFAULT random();\n"
          "ALTER TABLE t ADD COLUMN c3 timestamptz DEFAULT clock_timestamp();\n")
    before = fingerprint(db)
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    const, rnd, clock = statements(doc, "2")
    assert const["rewritten"] == [] and const["executed"] is True
    assert rnd["rewritten"] == ["t"] and clock["rewritten"] == ["t"]
    assert ("t", "ACCESS EXCLUSIVE") in locks_of(const)
    assert rnd["risk"] == "rewrites-table" and const["risk"] == "blocks-reads-writes"
    [m] = doc["migrations"]
    assert m["risk"] == "rewrites-table" and "rewrote t" in m["reasons"]
    assert all(s["duration_ms"] >= 0 for s in m["statements"])
    assert fingerprint(db) == before


def test_create_index_takes_share(seeded: Path, db: psycopg.Connection[Any]) -> None:
    write(seeded / "migrations", "2_idx.up.sql", "CREATE INDEX t_n ON t (n);\n")
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    [st] = statements(doc, "2")
    [lk] = [lk for lk in st["locks"] if lk["relation"] == "t"]
    assert lk["mode"] == "SHARE" and lk["preexisting"] is True and lk["kind"] == "table"
    assert lk["blocks"] == blocked_operations("SHARE")
    assert {"INSERT", "UPDATE", "DELETE"} <= set(lk["blocks"]) and "SELECT" not in lk["blocks"]
    assert st["risk"] == "blocks-writes" and st["rewritten"] == []
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 't_n'").fetchone() == (0,)


def test_foreign_key_and_check_locks(seeded: Path) -> None:
    write(seeded / "migrations", "2_fk.up.sql",
          "ALTER TABLE t ADD CONSTRAINT t_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id);\n"
          "ALTER TABLE t ADD CONSTRAINT t_n_pos CHECK (n > 0);\n")
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    fk, check = statements(doc, "2")
    assert {("t", "SHARE ROW EXCLUSIVE"), ("parent", "SHARE ROW EXCLUSIVE")} <= locks_of(fk)
    assert ("t", "ACCESS EXCLUSIVE") in locks_of(check)
    assert fk["risk"] == "blocks-writes" and check["risk"] == "blocks-reads-writes"


def test_sequence_advance_reported_and_restored(seeded: Path, db: psycopg.Connection[Any]) -> None:
    write(seeded / "migrations", "2_rows.up.sql",
          "INSERT INTO t (parent_id, n) VALUES (1, 1);\nINSERT INTO t (parent_id, n) VALUES (2, 2);\n")
    before = fingerprint(db)
    assert db.execute("SELECT last_value FROM t_id_seq").fetchone() == (10,)
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    one, two = statements(doc, "2")
    assert one["rows"] == 1
    assert one["sequences"] == [{"sequence": "t_id_seq", "before": 10, "after": 11}]
    assert two["sequences"] == [{"sequence": "t_id_seq", "before": 11, "after": 12}]
    assert doc["sequences_restored"] == ["t_id_seq"] and "does not roll back" in doc["sequences_note"]
    assert db.execute("SELECT last_value, is_called FROM t_id_seq").fetchone() == (10, True)
    assert fingerprint(db) == before
    # the real run then gets the next value, as if no dry run had happened
    r = invoke("migrate", "up", "--yes", cwd=seeded)
    assert r.code == 0, r.stderr
    assert db.execute("SELECT max(id) FROM t").fetchone() == (12,)


def test_sequence_several_values_in_one_statement_left_advanced(seeded: Path, db: psycopg.Connection[Any]) -> None:
    """One statement drawing several values cannot be told from a concurrent session drawing some of them:
    the sequence is left advanced (a gap) and the report says why."""
    write(seeded / "migrations", "2_rows.up.sql",
          "INSERT INTO t (parent_id, n) SELECT g, g FROM generate_series(1, 5) g;\n")
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    jsonschema.validate(doc, SCHEMA)
    [st] = statements(doc, "2")
    assert st["rows"] == 5 and st["sequences"] == [{"sequence": "t_id_seq", "before": 10, "after": 15}]
    assert doc["sequences_restored"] == [] and doc["sequences_not_restored"] == ["t_id_seq"]
    assert "a gap" in doc["sequences_not_restored_reasons"]["t_id_seq"]
    assert db.execute("SELECT last_value, is_called FROM t_id_seq").fetchone() == (15, True)
    r = invoke("migrate", "up", "--yes", cwd=seeded)
    assert r.code == 0, r.stderr
    assert db.execute("SELECT min(id), max(id) FROM t WHERE id > 10").fetchone() == (16, 20)


def test_never_used_sequence_restored_to_unused(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE SEQUENCE s START 7")
    write(project / "migrations", "1_use.up.sql", "SELECT nextval('s');\n")
    code, doc, err = dry_json(project)
    assert code == 0, err
    assert statements(doc, "1")[0]["sequences"] == [{"sequence": "s", "before": None, "after": 7}]
    assert db.execute("SELECT nextval('s')").fetchone() == (7,)


def test_error_halfway_leaves_nothing(seeded: Path, db: psycopg.Connection[Any]) -> None:
    m = seeded / "migrations"
    write(m, "2_ok.up.sql", "CREATE TABLE fresh (id serial);\nINSERT INTO fresh DEFAULT VALUES;\n"
                            "INSERT INTO t (parent_id, n) VALUES (1, 1);\nALTER TABLE t ADD COLUMN z int;\n")
    write(m, "3_bad.up.sql", "UPDATE t SET n = n + 1 WHERE id < 5;\nSELECT nope FROM t;\n")
    write(m, "4_never.up.sql", "CREATE TABLE never (id int);\n")
    before = fingerprint(db)
    code, doc, err = dry_json(seeded)
    assert code == 1
    assert [(x["version"], x["status"]) for x in doc["migrations"]] == [("2", "applied"), ("3", "failed"),
                                                                          ("4", "pending")]
    assert 'column "nope" does not exist' in doc["migrations"][1]["error"]
    assert "Traceback" not in err and "nothing was changed" in err
    assert fingerprint(db) == before
    assert db.execute("SELECT count(*) FROM confiture_migrations").fetchone() == (1,)


def test_hooks_see_dry_run_true(seeded: Path, db: psycopg.Connection[Any]) -> None:
    plugin = seeded / "spy_plugin.py"
    plugin.write_text(
        "import pluggy\nhookimpl = pluggy.HookimplMarker('confiture')\n\n"
        "@hookimpl\ndef confiture_before_migration(context):\n"
        "    context.connection.execute('CREATE TABLE IF NOT EXISTS spy (what text, dry boolean)')\n"
        "    context.connection.execute('INSERT INTO spy VALUES (%s, %s)', ['before', context.dry_run])\n"
        "    print('SPY dry_run=%s' % context.dry_run, flush=True)\n")
    write(seeded / "migrations", "2_x.up.sql", "CREATE TABLE x (id int);\n")
    before = fingerprint(db)
    r = invoke("-p", "spy_plugin", "migrate", "up", "--dry-run", "--format", "json", cwd=seeded,
                env={"PYTHONPATH": str(seeded)})
    assert r.code == 0, r.stderr
    assert "SPY dry_run=True" in r.stderr  # hook prints go to stderr
    assert fingerprint(db) == before
    assert db.execute("SELECT to_regclass('spy')").fetchone() == (None,)


def test_non_transactional_statement_not_executed(seeded: Path, db: psycopg.Connection[Any]) -> None:
    write(seeded / "migrations", "2_cic.up.sql", "CREATE INDEX CONCURRENTLY t_c ON t (n);\n")
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    [st] = statements(doc, "2")
    assert st["executed"] is False and st["duration_ms"] is None
    assert st["note"].startswith("not executed in dry-run")
    assert [(lk["relation"], lk["mode"]) for lk in st["locks"]] == [("t", "SHARE UPDATE EXCLUSIVE")]
    assert st["risk"] == "safe"
    # regression: a migration of which nothing ran was reported as "applied"
    assert [m["status"] for m in doc["migrations"]] == ["not-executed"]
    r = invoke("migrate", "up", "--dry-run", cwd=seeded, env={"COLUMNS": "250"})
    assert "not executed" in r.stderr and "SHARE UPDATE EXCLUSIVE" in r.stderr


SCHEMA = json.loads((REPO / "docs" / "dry-run.schema.json").read_text())


def test_failure_report_has_failing_statement_and_unreached(seeded: Path, db: psycopg.Connection[Any]) -> None:
    # regression: the report left out the statement that failed, had "error": null, and
    # did not list the migrations the failure kept from running
    m = seeded / "migrations"
    write(m, "2_b.up.sql", "ALTER TABLE t ADD COLUMN w int;\nSELECT 1 / 0;\n")
    write(m, "3_c.up.sql", "CREATE INDEX CONCURRENTLY t_c ON t (n);\n")
    write(m, "4_d.up.sql", "CREATE TABLE d (id int);\n")
    code, doc, err = dry_json(seeded)
    assert code == 1, err
    jsonschema.validate(doc, SCHEMA)
    assert doc["ok"] is False
    assert doc["error"] is not None and "2_b.up.sql:2" in doc["error"] and "division by zero" in doc["error"]
    assert [(x["version"], x["status"]) for x in doc["migrations"]] == [("2", "failed"), ("3", "pending"),
                                                                          ("4", "pending")]
    first, failing = statements(doc, "2")
    assert (first["line"], first["executed"], first["note"]) == (1, True, None)
    assert (failing["line"], failing["sql"], failing["executed"]) == (2, "SELECT 1 / 0", True)
    assert failing["note"].startswith("failed: ") and "division by zero" in failing["note"]
    assert statements(doc, "3") == [] and statements(doc, "4") == []
    r = invoke("migrate", "up", "--dry-run", cwd=seeded, env={"COLUMNS": "200"})
    assert r.code == 1 and r.stderr.count("not reached") == 2
    assert db.execute("SELECT count(*) FROM information_schema.columns WHERE column_name = 'w'").fetchone() == (0,)


def test_lock_timeout_still_prints_the_report(seeded: Path, database_url: str,
                                              db: psycopg.Connection[Any]) -> None:
    # regression: a lock-timeout stop printed {"ok": false, "error", "exit_code"}, not the report
    (seeded / "confiture.toml").write_text(f'database_url = "{database_url}"\n[dry_run]\nlock_timeout = "300ms"\n')
    write(seeded / "migrations", "2_new.up.sql", "CREATE TABLE fresh (id int);\n")
    write(seeded / "migrations", "3_idx.up.sql", "CREATE INDEX t_n ON t (n);\n")
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        code, doc, err = dry_json(seeded)
        holder.rollback()
    assert code == 1, err
    jsonschema.validate(doc, SCHEMA)
    assert doc["ok"] is False and "lock_timeout 300ms" in doc["error"] and "Nothing was changed" in doc["error"]
    assert [(x["version"], x["status"]) for x in doc["migrations"]] == [("2", "applied"), ("3", "failed")]
    assert "Traceback" not in err and "lock_timeout 300ms" in err


def test_locked_table_fails_fast_naming_blocker(seeded: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    (seeded / "confiture.toml").write_text(f'database_url = "{database_url}"\n[dry_run]\nlock_timeout = "500ms"\n')
    write(seeded / "migrations", "2_idx.up.sql", "CREATE INDEX t_n ON t (n);\n")
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        r = invoke("migrate", "up", "--dry-run", cwd=seeded)
        holder.rollback()
    assert r.code == 1
    assert f"pid {pid}" in r.stderr
    assert "lock_timeout 500ms" in r.stderr and "transaction open since" in r.stderr
    assert "AccessExclusiveLock on t" in r.stderr
    assert "Traceback" not in r.stderr
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 't_n'").fetchone() == (0,)


def test_fail_on_and_bad_input(seeded: Path) -> None:
    write(seeded / "migrations", "2_idx.up.sql", "CREATE INDEX t_n ON t (n);\n")
    r = invoke("migrate", "up", "--dry-run", "--fail-on", "blocks-writes", cwd=seeded)
    assert r.code == 1 and "reach --fail-on blocks-writes" in r.stderr
    r = invoke("migrate", "up", "--dry-run", "--fail-on", "rewrites-table", cwd=seeded)
    assert r.code == 0, r.stderr
    r = invoke("migrate", "up", "--dry-run", "--fail-on", "bogus", cwd=seeded)
    assert r.code == 2 and "unknown risk level 'bogus'" in r.stderr and "Traceback" not in r.stderr
    r = invoke("migrate", "up", "--fail-on", "safe", cwd=seeded)
    assert r.code == 2 and "--fail-on needs --dry-run" in r.stderr


def test_bad_lock_timeout_config(seeded: Path, database_url: str) -> None:
    pw_url = database_url.replace("user=", "password=s3cretpw user=") if "://" not in database_url else database_url
    (seeded / "confiture.toml").write_text(f"database_url = \"{pw_url}\"\n[dry_run]\nlock_timeout = \"soon\"\n")
    r = invoke("migrate", "up", "--dry-run", cwd=seeded)
    assert r.code == 2 and "[dry_run] lock_timeout" in r.stderr and "Traceback" not in r.stderr
    assert "s3cretpw" not in r.stderr


def test_destructive_risk(seeded: Path) -> None:
    write(seeded / "migrations", "2_drop.up.sql", "ALTER TABLE t DROP COLUMN n;\n")
    write(seeded / "migrations", "3_del.up.sql", "DELETE FROM parent;\n")
    code, doc, err = dry_json(seeded)
    assert code == 1 or code == 0, err
    risks = {m["version"]: m["risk"] for m in doc["migrations"]}
    # 3 fails (rows referenced? no FK yet) or succeeds; 2 is destructive either way
    assert risks["2"] == "destructive"
    assert risks.get("3") in ("destructive", None)
    assert Risk.DESTRUCTIVE > Risk.REWRITES_TABLE > Risk.BLOCKS_READS_WRITES > Risk.BLOCKS_WRITES > Risk.SAFE


def test_new_tables_are_safe_and_json_schema(project: Path) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\n"
                           "ALTER TABLE a ADD COLUMN r float DEFAULT random();\n")
    code, doc, err = dry_json(project)
    assert code == 0, err
    assert doc["migrations"][0]["risk"] == "safe"
    assert doc["database"].startswith(("postgresql://", "host=", "user=", "dbname=", "port="))
    schema = json.loads((REPO / "docs" / "dry-run.schema.json").read_text())
    jsonschema.validate(doc, schema)


@pytest.mark.slow
def test_ente_corpus_dry_run_json(tmp_path: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    from ..runner.test_corpus import corpus_project

    project = corpus_project(tmp_path, database_url, "ente")
    r = invoke("migrate", "up", "--yes", "--to", "60", cwd=project)
    assert r.code == 0, r.stderr
    before = fingerprint(db)
    code, doc, err = dry_json(project)
    assert code == 0, err
    jsonschema.validate(doc, json.loads((REPO / "docs" / "dry-run.schema.json").read_text()))
    migs = doc["migrations"]
    assert len(migs) == 64
    for m in migs:  # the CONCURRENTLY ones run outside a transaction: nothing of them ran
        skipped = any((s["note"] or "").startswith("not executed in dry-run") for s in m["statements"])
        assert m["status"] == ("not-executed" if skipped else "applied"), m["version"]
    assert sum(m["status"] == "not-executed" for m in migs) >= 1
    executed = [s for m in migs for s in m["statements"] if s["executed"]]
    assert executed and all(s["duration_ms"] is not None and s["duration_ms"] >= 0 for s in executed)
    pre_locks = [lk for m in migs for lk in m["locks"] if lk["preexisting"]]
    assert any(lk["mode"] == "ACCESS EXCLUSIVE" for lk in pre_locks)
    assert any(m["rewritten"] for m in migs)  # e.g. column type changes on existing tables
    assert {m["risk"] for m in migs} >= {"safe", "blocks-reads-writes"}
    not_executed = [s for m in migs for s in m["statements"] if not s["executed"]]
    assert all(s["note"].startswith(("not executed in dry-run", "transaction control")) for s in not_executed)
    assert any("SHARE UPDATE EXCLUSIVE" in s["note"] for s in not_executed)  # CREATE INDEX CONCURRENTLY
    assert fingerprint(db) == before


def test_python_migration_rollback_cannot_end_the_dry_run(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: conn.rollback() in a Python migration ended the dry run's transaction; what followed committed."""
    write(project / "migrations", "1_py.py",
          "def up(conn):\n    conn.execute('CREATE TABLE r1 (x int)')\n    conn.rollback()\n"
          "    conn.execute('CREATE TABLE r2 (x int)')\n")
    before = fingerprint(db)
    code, doc, err = dry_json(project)
    assert code == 1 and "Traceback" not in err
    assert "rollback() is not allowed in a dry run" in doc["migrations"][0]["error"]
    assert fingerprint(db) == before
    assert db.execute("SELECT to_regclass('r2')").fetchone() == (None,)


def test_late_first_touch_rewrite_and_sequence_detected(seeded: Path, db: psycopg.Connection[Any]) -> None:
    """Tables and sequences are only read once locked: a pre-existing table first touched late in the run
    is still seen rewritten, a sequence advanced again by a later statement is still reported and restored."""
    db.execute("CREATE TABLE late (id int)")
    db.execute("INSERT INTO late SELECT g FROM generate_series(1, 3) g")
    db.execute("CREATE SEQUENCE late_seq")
    m = seeded / "migrations"
    write(m, "2_other.up.sql", "CREATE TABLE other (id serial PRIMARY KEY);\n"
                               "INSERT INTO t (parent_id, n) VALUES (1, 1);\n")
    write(m, "3_more.up.sql", "CREATE INDEX other_id ON other (id);\nSELECT nextval('late_seq');\n")
    write(m, "4_late.up.sql", "INSERT INTO t (parent_id, n) VALUES (2, 2);\n"
                              "ALTER TABLE late ALTER COLUMN id TYPE bigint;\nSELECT nextval('late_seq');\n")
    before = fingerprint(db)
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    ins2, alter, nxt = statements(doc, "4")
    assert alter["rewritten"] == ["late"] and alter["risk"] == "rewrites-table"
    assert ins2["sequences"] == [{"sequence": "t_id_seq", "before": 11, "after": 12}]
    assert statements(doc, "3")[1]["sequences"] == [{"sequence": "late_seq", "before": None, "after": 1}]
    assert nxt["sequences"] == [{"sequence": "late_seq", "before": 1, "after": 2}]
    assert sorted(doc["sequences_restored"]) == ["late_seq", "t_id_seq"]
    assert fingerprint(db) == before
    assert db.execute("SELECT nextval('late_seq')").fetchone() == (1,)


def test_dry_run_report_hides_role_passwords(project: Path, db: psycopg.Connection[Any]) -> None:
    role = f"app_{db.info.dbname}"
    write(project / "migrations", "1_role.up.sql", f"CREATE ROLE {role} LOGIN PASSWORD 'TopSecretRolePw';\n")
    r = invoke("migrate", "up", "--dry-run", "--format", "json", cwd=project)
    assert r.code == 0, r.stderr
    assert "TopSecretRolePw" not in r.stdout + r.stderr
    assert "PASSWORD '***'" in r.stdout
    assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role]).fetchone() == (0,)


def test_sequence_advanced_then_restarted_is_restored(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: nextval (not rolled back) then RESTART (rolled back) left the sequence moved."""
    db.execute("CREATE TABLE t (id serial)")
    db.execute("SELECT setval('t_id_seq', 1000)")
    write(project / "migrations", "1_seq.up.sql",
          "SELECT nextval('t_id_seq');\nALTER SEQUENCE t_id_seq RESTART WITH 5000;\n")
    r = invoke("migrate", "up", "--dry-run", "--format", "json", cwd=project)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["sequences_not_restored"] == []
    assert db.execute("SELECT last_value, is_called FROM t_id_seq").fetchone() == (1000, True)


def test_concurrent_nextval_during_the_dry_run_is_never_rewound(seeded: Path, database_url: str,
                                                               db: psycopg.Connection[Any]) -> None:
    """Regression: another session's nextval during a measured statement was counted as the dry run's own and
    rewound by setval, so its value was handed out a second time (duplicate keys)."""
    import subprocess
    import sys
    import time

    (seeded / "confiture.toml").write_text(f'database_url = "{database_url}"\n[dry_run]\nlock_timeout = "120s"\n')
    db.execute("CREATE SEQUENCE s2")
    write(seeded / "migrations", "2_ins.up.sql",
          "INSERT INTO t (parent_id, n) VALUES (1, 1), (2, 2);\nSELECT nextval('s2');\n"
          "SELECT pg_advisory_xact_lock(424242);\n")
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(424242)")
        exe = str(Path(sys.executable).parent / "confiture")
        proc = subprocess.Popen([exe, "migrate", "up", "--dry-run", "--format", "json"], cwd=seeded,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # wait (no time limit asserted) until the dry run's statement waits on our advisory lock
            while not other.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                                    "AND NOT granted)").fetchone()[0]:  # type: ignore[index]
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
            # meanwhile the application draws from both sequences
            assert other.execute("SELECT nextval('t_id_seq'), nextval('s2')").fetchone() == (13, 2)
        finally:
            other.execute("SELECT pg_advisory_unlock(424242)")
            out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["sequences_restored"] == []
    assert sorted(doc["sequences_not_restored"]) == ["s2", "t_id_seq"]
    assert all("a gap" in why for why in doc["sequences_not_restored_reasons"].values())
    # nothing was rewound: the values the application got are never handed out again
    assert db.execute("SELECT last_value FROM t_id_seq").fetchone() == (13,)
    assert db.execute("SELECT last_value FROM s2").fetchone() == (2,)
    r = invoke("migrate", "up", "--yes", cwd=seeded)
    assert r.code == 0, r.stderr
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM t WHERE id > 10").fetchone() == ([14, 15],)
    assert db.execute("SELECT nextval('s2')").fetchone() == (4,)


def test_lock_held_by_an_earlier_migration_is_still_reported(seeded: Path, database_url: str,
                                                           db: psycopg.Connection[Any]) -> None:
    """Regression: a lock an earlier pending migration already held hid every later migration's lock on the same
    table (one transaction for the whole dry run), and with it DROP COLUMN's destructive level."""
    m = seeded / "migrations"
    write(m, "2_c7.up.sql", "ALTER TABLE t ADD COLUMN c7 int;\n")
    write(m, "3_drop_n.up.sql", "ALTER TABLE t DROP COLUMN n;\n")
    write(m, "4_type.up.sql", "ALTER TABLE t ALTER COLUMN c7 TYPE bigint;\n")
    write(m, "5_rows.up.sql", "INSERT INTO parent VALUES (11);\nUPDATE parent SET id = id WHERE id = 11;\n"
                              "CREATE INDEX parent_id2 ON parent (id);\nCREATE INDEX parent_id3 ON parent (id);\n")
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    jsonschema.validate(doc, SCHEMA)
    risks = {x["version"]: (x["risk"], x["reasons"]) for x in doc["migrations"]}
    assert risks["2"] == ("blocks-reads-writes", ["ACCESS EXCLUSIVE on t"])
    assert risks["3"][0] == "destructive"
    assert "DROP COLUMN (t)" in risks["3"][1] and "ACCESS EXCLUSIVE on t (inferred)" in risks["3"][1]
    [drop] = statements(doc, "3")
    assert [(lk["relation"], lk["mode"], lk["inferred"]) for lk in drop["locks"] if lk["relation"] == "t"] == [
        ("t", "ACCESS EXCLUSIVE", True)]
    [retype] = statements(doc, "4")
    assert retype["rewritten"] == ["t"] and retype["risk"] == "rewrites-table"
    assert ("t", "ACCESS EXCLUSIVE") in locks_of(retype)
    # within one migration a lock is reported once, by the statement that took it (the real run holds it too)
    ins, upd, idx2, idx3 = statements(doc, "5")
    assert ("parent", "ROW EXCLUSIVE") in locks_of(ins) and not any(lk["inferred"] for lk in ins["locks"])
    assert not [lk for lk in upd["locks"] if lk["relation"] == "parent"] and upd["risk"] == "safe"
    assert ("parent", "SHARE") in locks_of(idx2) and idx2["risk"] == "blocks-writes"
    assert not [lk for lk in idx3["locks"] if lk["relation"] == "parent"] and idx3["risk"] == "safe"
    # the CI gate and the review gate see it
    r = invoke("migrate", "up", "--dry-run", "--fail-on", "destructive", cwd=seeded)
    assert r.code == 1 and "\n  3 drop_n (destructive: " in r.stderr, r.stderr
    (seeded / "confiture.toml").write_text(f'database_url = "{database_url}"\n[review]\n'
                                           'confirm_level = "destructive"\n')
    r = invoke("migrate", "up", cwd=seeded)
    assert r.code == 1 and "3 drop_n (destructive" in r.stderr, r.stderr
    assert db.execute("SELECT count(*) FROM confiture_migrations").fetchone() == (1,)


def test_destructive_judged_by_target_not_new_locks(seeded: Path) -> None:
    """DROP TABLE / TRUNCATE / DELETE without WHERE on a table an earlier migration locked are destructive;
    on a table created by the run they are not."""
    m = seeded / "migrations"
    write(m, "2_lock.up.sql", "LOCK TABLE t, parent IN ACCESS EXCLUSIVE MODE;\nCREATE TABLE scratch (id int);\n")
    write(m, "3_wipe.up.sql", "DELETE FROM t;\n")
    write(m, "4_trunc.up.sql", "TRUNCATE parent CASCADE;\n")
    write(m, "5_drop.up.sql", "DROP TABLE t;\nDROP TABLE scratch;\n")
    code, doc, err = dry_json(seeded)
    assert code == 0, err
    risks = {x["version"]: x["risk"] for x in doc["migrations"]}
    assert risks == {"2": "blocks-reads-writes", "3": "destructive", "4": "destructive", "5": "destructive"}
    drop_t, drop_scratch = statements(doc, "5")
    assert drop_t["risk"] == "destructive" and "DROP TABLE (t)" in drop_t["reasons"]
    assert drop_scratch["risk"] == "safe"


HOOK_ENDS_TX = {
    # hook, plugin body; a run-level hook is implemented too: after the per-migration hook ended the dry run's
    # transaction, its SAVEPOINT failed ("SAVEPOINT can only be used in transaction blocks") and hid the cause
    "after_migration": ("@hookimpl\ndef confiture_after_migration(context):\n    context.connection.commit()\n\n"
                        "@hookimpl\ndef confiture_after_migrate(context, results):\n    pass\n"),
    "before_migration": ("@hookimpl\ndef confiture_before_migration(context):\n"
                         "    context.connection.execute('ROLLBACK')\n"),
    "validate": "@hookimpl\ndef confiture_validate(context):\n    context.connection.rollback()\n",
    "backfill": ("from confiture_core.hookspecs import Backfill\n\n"
                 "def batch(b):\n    b.connection.execute('UPDATE t SET n = 0')\n    b.connection.commit()\n"
                 "    return 0\n\n"
                 "@hookimpl\ndef confiture_backfill(context):\n    return [Backfill('zero', batch)]\n"),
}


@pytest.mark.parametrize("hook", sorted(HOOK_ENDS_TX))
def test_hook_ending_the_dry_run_transaction_is_named(seeded: Path, db: psycopg.Connection[Any], hook: str) -> None:
    """Regression: a hook that committed or rolled back in a dry run gave "SAVEPOINT can only be used in
    transaction blocks" naming no plugin (and a backfill batch's COMMIT committed the dry run's work)."""
    (seeded / "ender.py").write_text("import pluggy\nhookimpl = pluggy.HookimplMarker('confiture')\n\n"
                                     + HOOK_ENDS_TX[hook])
    write(seeded / "migrations", "2_add_col.up.sql", "ALTER TABLE t ADD COLUMN c int;\n")
    write(seeded / "migrations", "3_more.up.sql", "CREATE TABLE more (id int);\n")
    before = fingerprint(db)
    r = invoke("-p", "ender", "migrate", "up", "--dry-run", "--format", "json", cwd=seeded,
                env={"PYTHONPATH": str(seeded)})
    assert r.code == 1, r.stderr
    assert f"plugin 'ender' failed in confiture_{hook}" in r.stderr and "2_add_col.up.sql" in r.stderr
    assert "nothing was changed" in r.stderr and r.stderr.count("nothing was changed") == 1
    assert "SAVEPOINT" not in r.stderr and "no transaction in progress" not in r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["ok"] is False and "plugin 'ender'" in doc["error"]
    assert [m["version"] for m in doc["migrations"]] == ["2", "3"]
    assert fingerprint(db) == before
    assert db.execute("SELECT count(*) FROM confiture_migrations").fetchone() == (1,)


@pytest.mark.parametrize("case", ["error finding", "closes connection", "wrong return type"])
def test_json_report_printed_whatever_stops_the_dry_run(seeded: Path, db: psycopg.Connection[Any],
                                                        case: str) -> None:
    """Regression: these printed {"ok": false, "error", "exit_code"} instead of the report document."""
    body = {
        "error finding": ("from confiture_core.hookspecs import Finding\n\n@hookimpl\n"
                          "def confiture_validate(context):\n    return [Finding('error', 'not on Fridays')]\n"),
        "closes connection": ("@hookimpl\ndef confiture_after_migration(context):\n"
                              "    context.connection.close()\n\n"
                              "@hookimpl\ndef confiture_after_migrate(context, results):\n    pass\n"),
        "wrong return type": "@hookimpl\ndef confiture_validate(context):\n    return 5\n",
    }[case]
    (seeded / "stopper.py").write_text("import pluggy\nhookimpl = pluggy.HookimplMarker('confiture')\n\n" + body)
    write(seeded / "migrations", "2_add_col.up.sql", "ALTER TABLE t ADD COLUMN c int;\n")
    write(seeded / "migrations", "3_more.up.sql", "CREATE TABLE more (id int);\n")
    before = fingerprint(db)
    r = invoke("-p", "stopper", "migrate", "up", "--dry-run", "--format", "json", cwd=seeded,
                env={"PYTHONPATH": str(seeded)})
    assert r.code == 1, r.stderr
    doc = json.loads(r.stdout)  # one document, nothing else on stdout
    jsonschema.validate(doc, SCHEMA)
    assert doc["ok"] is False and doc["error"] and doc["error"] in r.stderr
    assert [m["version"] for m in doc["migrations"]] == ["2", "3"]
    expected = {"error finding": "not on Fridays", "closes connection": "closed the connection",
                "wrong return type": "plugin 'stopper' failed in confiture_validate for migration 2_add_col.up.sql: "
                                     "TypeError: returned int, expected a list of Finding"}[case]
    assert expected in doc["error"] and "Traceback" not in r.stderr
    assert fingerprint(db) == before


def test_inferred_locks_follow_schemas_quoting_indexes_and_opaque_code(project: Path,
                                                                      db: psycopg.Connection[Any]) -> None:
    db.execute('CREATE SCHEMA app; CREATE TABLE app."Items" (id int, n int); CREATE INDEX items_n ON app."Items" (n)')
    db.execute("CREATE TABLE public.other (id int)")
    m = project / "migrations"
    write(m, "2_lock.up.sql", 'ALTER TABLE app."Items" ADD COLUMN z int;\nALTER TABLE other ADD COLUMN z int;\n')
    write(m, "3_path.up.sql", 'SET search_path = app, public;\nALTER TABLE "Items" ALTER COLUMN z SET DEFAULT 1;\n')
    write(m, "4_index.up.sql", "DROP INDEX app.items_n;\n")
    write(m, "5_do.up.sql", "DO $$ BEGIN EXECUTE 'ALTER TABLE other ADD COLUMN w int'; END $$;\n")
    write(m, "6_new.up.sql", "CREATE TABLE fresh (id int);\nSELECT 1;\n")
    code, doc, err = dry_json(project)
    assert code == 0, err
    jsonschema.validate(doc, SCHEMA)

    def inferred(version: str) -> set[tuple[str, str]]:
        return {(lk["relation"], lk["mode"]) for s in statements(doc, version) for lk in s["locks"] if lk["inferred"]}

    assert inferred("2") == set()
    assert inferred("3") == {("app.Items", "ACCESS EXCLUSIVE")}  # resolved along the search_path it set
    assert inferred("4") == {("app.Items", "ACCESS EXCLUSIVE")}  # an index counts as its table
    assert inferred("5") == {("app.Items", "ACCESS EXCLUSIVE"), ("other", "ACCESS EXCLUSIVE")}  # code we cannot see
    assert inferred("6") == set()  # names nothing an earlier migration locked
    risks = {x["version"]: x["risk"] for x in doc["migrations"]}
    assert risks == {"2": "blocks-reads-writes", "3": "blocks-reads-writes", "4": "blocks-reads-writes",
                     "5": "blocks-reads-writes", "6": "safe"}
