"""A dry run on a copy commits each migration: its locks are exactly a real apply's, the source is untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.config import load_config
from confiture_core.dryrun import shadow
from confiture_core.dryrun.devcopy import dev_copy_dry_run

from ..conftest import Server, write
from .test_exact_locks import hooks, lockset, migration, real_locks


def _seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, n int, s text); "
                     "INSERT INTO t (n, s) SELECT g, 'x' FROM generate_series(1, 20) g")


def _migrations(m: Path) -> None:
    write(m, "1_alter.up.sql", "ALTER TABLE t ADD COLUMN c int;\n")
    write(m, "2_update.up.sql", "UPDATE t SET n = n + 1 WHERE id < 5;\n")
    write(m, "3_index.up.sql", "CREATE INDEX t_n ON t (n);\n")
    write(m, "4_update_again.up.sql", "UPDATE t SET n = n + 1 WHERE id < 3;\n")
    write(m, "5_new.up.sql", "CREATE TABLE fresh (id bigserial PRIMARY KEY, t_id int REFERENCES t (id));\n"
                             "INSERT INTO fresh (t_id) VALUES (1);\n")
    write(m, "6_drop.up.sql", "ALTER TABLE t DROP COLUMN s;\nDELETE FROM t WHERE id = 20;\n")


def _fingerprint(url: str) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public'), (SELECT last_value FROM t_id_seq), "
            "(SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 't'::regclass "
            "AND attnum > 0 AND NOT attisdropped), (SELECT sum(n) FROM t), "
            "(SELECT to_regclass('confiture_migrations') IS NULL)").fetchone()


def test_locks_on_a_copy_are_each_migrations_own_and_the_source_is_untouched(
        project: Path, database_url: str, pg_server: Server) -> None:
    """Each migration committed on the copy: an UPDATE after an ALTER of the same table is ROW EXCLUSIVE, measured
    (not inferred); every migration's locks equal a real apply of it alone; the database copied is unchanged
    and the copy is gone."""
    _seed(database_url)
    _migrations(project / "migrations")
    before = _fingerprint(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        rep, why = dev_copy_dry_run(conn, database_url, load_config(None, cwd=project), hooks())
        assert conn.closed  # the copy needs the database to itself
    assert rep is not None, why
    assert rep.ok and rep.where == "copy", rep.error
    assert _fingerprint(database_url) == before and before[-1] is True
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        left = admin.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", [shadow.PREFIX + "%"]).fetchone()
    assert left == (0,)
    on_t = {v: {(lk.mode, lk.inferred) for s in migration(rep, v).statements for lk in s.locks if lk.relation == "t"}
            for v in (2, 3, 4)}
    assert on_t == {2: {("ROW EXCLUSIVE", False)}, 3: {("SHARE", False)}, 4: {("ROW EXCLUSIVE", False)}}
    assert [migration(rep, v).risk.label for v in range(1, 7)] == [
        "blocks-reads-writes", "safe", "blocks-writes", "safe", "blocks-writes", "destructive"]
    real = real_locks(project, database_url)
    assert {v: lockset(migration(rep, v)) for v in range(1, 7)} == real


def test_no_copy_while_another_session_uses_the_database(project: Path, database_url: str,
                                                          db: psycopg.Connection[Any]) -> None:
    """``db`` is connected: no copy is made, the reason says why, and the caller's connection stays open."""
    _seed(database_url)
    write(project / "migrations", "1_alter.up.sql", "ALTER TABLE t ADD COLUMN c int;\n")
    with psycopg.connect(database_url, autocommit=True) as conn:
        rep, why = dev_copy_dry_run(conn, database_url, load_config(None, cwd=project), hooks())
        assert rep is None and not conn.closed
    assert "other session" in why


def test_statements_outside_a_transaction_run_on_the_copy(project: Path, database_url: str) -> None:
    """CREATE INDEX CONCURRENTLY runs on the copy (reported with its documented lock): a later ALTER COLUMN TYPE
    that rebuilds that index reports its lock on it, as a real apply does (bench/dryrun_accuracy.py, ente 99)."""
    _seed(database_url)
    m = project / "migrations"
    write(m, "1_idx.up.sql", "CREATE INDEX CONCURRENTLY t_n_idx ON t (n);\n")
    write(m, "2_type.up.sql", "ALTER TABLE t ALTER COLUMN n TYPE bigint;\n")
    with psycopg.connect(database_url, autocommit=True) as conn:
        rep, why = dev_copy_dry_run(conn, database_url, load_config(None, cwd=project), hooks())
    assert rep is not None and rep.ok, why or rep.error
    [st] = migration(rep, 1).statements
    assert st.executed and [(lk.relation, lk.mode) for lk in st.locks] == [("t", "SHARE UPDATE EXCLUSIVE")]
    assert migration(rep, 1).risk.label == "safe"
    assert ("t_n_idx", "ACCESS EXCLUSIVE") in lockset(migration(rep, 2))
    assert lockset(migration(rep, 2)) == real_locks(project, database_url)[2]
