"""Safe apply on a real PostgreSQL: strong locks bounded by [apply] lock_timeout, retried, the blockers named."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest
from pglast import parse_sql

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.hookcaller import Hooks
from confiture_core.runner import NullReporter, Runner
from confiture_core.runner.retry import ApplySettings
from confiture_core.runner.strong_locks import strong_lock

from ..conftest import CliResult, run_cli, write

EXE = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"


def configure(project: Path, url: str, apply: str, top: str = "") -> None:
    (project / "confiture.toml").write_text(f'database_url = "{url}"\n{top}\n[apply]\n{apply}\n')


@contextmanager
def reader(url: str, table: str, hold_s: float | None) -> Iterator[int]:
    """A session reading ``table`` in an open transaction (ACCESS SHARE held) for ``hold_s`` seconds
    (``None``: until the block ends); yields its pid."""
    conn = psycopg.connect(url, application_name="blocking reader")
    conn.execute(f"SELECT count(*) FROM {table}")
    pid = conn.info.backend_pid
    timer = threading.Timer(hold_s, conn.rollback) if hold_s is not None else None
    if timer:
        timer.start()
    try:
        yield pid
    finally:
        if timer:
            timer.join()
        conn.close()


class Recording(NullReporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def runner(project: Path, url: str, reporter: Recording) -> Runner:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    conn = psycopg.connect(url, autocommit=True)
    r = Runner(conn, load_config(cwd=project), Hooks(pm), reporter=reporter)
    r.apply_timeouts()
    return r


def test_settings_defaults_and_backoff(project: Path, database_url: str) -> None:
    s = ApplySettings.of(load_config(cwd=project))
    assert (s.lock_timeout, s.retries, s.backoff_s) == ("5s", 5, 1.0)
    delays = [s.delay(n) for n in range(1, 9)]
    assert all(0.5 * min(30, 2 ** (n - 1)) <= d <= min(30, 2 ** (n - 1)) for n, d in enumerate(delays, 1))
    configure(project, database_url, 'lock_timeout = "0"\nretries = 0\nretry_backoff = "250ms"')
    s = ApplySettings.of(load_config(cwd=project))
    assert (s.lock_timeout, s.retries, s.backoff_s) == (None, 0, 0.25)
    configure(project, database_url, "", top='lock_timeout = "3s"')
    assert ApplySettings.of(load_config(cwd=project)).lock_timeout == "3s"  # the top-level one, without [apply]


@pytest.mark.parametrize(("bad", "said"), [("retries = -1", "[apply] retries"), ('retries = "5"', "[apply] retries"),
                                           ('retry_backoff = "soon"', "[apply] retry_backoff"),
                                           ('lock_timeout = "5 parsecs"', "[apply] lock_timeout"),
                                           ("tries = 3", "unknown setting(s) in [apply]: tries")])
def test_bad_apply_settings_are_config_errors(project: Path, database_url: str, bad: str, said: str) -> None:
    configure(project, database_url, bad)
    r = run_cli("migrate", "status", cwd=project)
    assert r.code == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize(("sql", "mode"), [
    ("ALTER TABLE t ADD COLUMN c int", "ACCESS EXCLUSIVE"), ("CREATE INDEX i ON t (a)", "SHARE"),
    ("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)", "SHARE ROW EXCLUSIVE"),
    ("CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "SHARE ROW EXCLUSIVE"),
    ("LOCK TABLE t IN SHARE MODE", "SHARE"), ("TRUNCATE t", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t VALIDATE CONSTRAINT c", None), ("CREATE INDEX CONCURRENTLY i ON t (a)", None),
    ("UPDATE t SET a = 1", None), ("SELECT 1", None), ("LOCK TABLE t IN ROW EXCLUSIVE MODE", None),
])
def test_which_statements_are_bounded(sql: str, mode: str | None) -> None:
    lock = strong_lock(parse_sql(sql)[0].stmt)
    assert (lock.mode if lock else None) == mode


def test_blocker_for_3s_then_applied_after_retries(project: Path, database_url: str,
                                                    db: psycopg.Connection[Any]) -> None:
    """The issue's case: a reader holds the table for 3 s, lock_timeout 1s and 5 retries: applied, exit 0,
    each attempt shown with the blocker."""
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    configure(project, database_url, 'lock_timeout = "1s"\nretries = 5\nretry_backoff = "500ms"')
    write(project / "migrations", "1_add.up.sql", "ALTER TABLE t ADD COLUMN note text;\n")
    with reader(database_url, "t", None) as pid:
        proc = subprocess.Popen([EXE, "migrate", "up", "--yes"], cwd=project, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        _wait_for(db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'confiture' "
                      "AND wait_event_type = 'Lock'")  # the runner waits behind the reader: 3 s more
        time.sleep(3)
    _, err = proc.communicate(timeout=120)
    r = CliResult(proc.returncode, "", err)
    print(r.stderr)
    assert r.code == 0, r.stderr
    assert "attempt 1 of 6 gave up waiting for ACCESS EXCLUSIVE on t (lock_timeout 1s)" in r.stderr
    assert f"blocked by pid {pid}, user " in r.stderr and "application 'blocking reader'" in r.stderr
    assert "holding AccessShareLock on t" in r.stderr and "retrying in" in r.stderr
    assert "applied 1 migration\n" in r.stderr
    cols = [c for (c,) in db.execute("SELECT attname FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0")]
    assert "note" in cols


def test_blocker_that_never_ends_names_its_pid(project: Path, database_url: str,
                                               db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int)")
    configure(project, database_url, 'lock_timeout = "300ms"\nretries = 2\nretry_backoff = "100ms"')
    write(project / "migrations", "1_add.up.sql", "CREATE TABLE other (id int);\nALTER TABLE t ADD COLUMN c int;\n")
    with reader(database_url, "t", None) as pid:
        r = run_cli("migrate", "up", "--yes", cwd=project)
        held = db.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()").fetchone()
    print(r.stderr)
    assert r.code == 1, r.stderr
    assert r.stderr.count("gave up waiting for ACCESS EXCLUSIVE on t") == 3
    line = next(x for x in r.stderr.splitlines() if x.startswith("error:"))
    assert "1_add.up.sql:2: canceling statement due to lock timeout [55P03]" in line
    assert "gave up after 3 attempts" in line and f"blocked by pid {pid}" in line
    assert "transaction open since" in line and "state idle in transaction" in line and "query started" in line
    assert held is not None
    assert db.execute("SELECT to_regclass('other')").fetchone() == (None,)  # rolled back as a whole
    assert db.execute("SELECT count(*) FROM confiture_migrations").fetchone() == (0,)


def test_transactional_migration_is_retried_as_a_whole(project: Path, database_url: str,
                                                       db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int); CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)")
    configure(project, database_url, 'lock_timeout = "400ms"\nretries = 5\nretry_backoff = "200ms"')
    write(project / "migrations", "1_two.up.sql",
          "UPDATE counter SET n = n + 1;\nALTER TABLE t ADD COLUMN c int;\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    with reader(database_url, "t", 1.0):
        result = r.up()
    r.conn.close()
    assert [x.status for x in result.results] == ["applied"], rec.warnings
    assert len(rec.warnings) >= 1 and all("the migration's transaction was rolled back" in w for w in rec.warnings)
    assert db.execute("SELECT n FROM counter").fetchone() == (1,)  # the first statement ran once, in the end


def test_statement_outside_a_transaction_is_retried_alone(project: Path, database_url: str,
                                                         db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int); CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)")
    configure(project, database_url, 'lock_timeout = "400ms"\nretries = 5\nretry_backoff = "200ms"')
    write(project / "migrations", "1_nt.up.sql", "-- confiture: no-transaction\n"
          "UPDATE counter SET n = n + 1;\nALTER TABLE t ADD COLUMN c int;\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    with reader(database_url, "t", 1.0):
        result = r.up()
    r.conn.close()
    assert [x.status for x in result.results] == ["applied"], rec.warnings
    assert rec.warnings and all("ALTER at line 3" in w for w in rec.warnings)
    assert db.execute("SELECT n FROM counter").fetchone() == (1,)  # committed once, not retried


def test_retries_0_and_lock_timeout_0_keep_the_old_behaviour(project: Path, database_url: str,
                                                             db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int)")
    configure(project, database_url, 'lock_timeout = "0"\nretries = 0')
    write(project / "migrations", "1_add.up.sql", "ALTER TABLE t ADD COLUMN c int;\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    with reader(database_url, "t", 1.5):  # waits as long as it takes, no lock_timeout, no retry
        result = r.up()
    r.conn.close()
    assert [x.status for x in result.results] == ["applied"] and rec.warnings == []


def test_retries_0_fails_at_once_naming_the_blocker(project: Path, database_url: str,
                                                    db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int)")
    configure(project, database_url, 'lock_timeout = "200ms"\nretries = 0')
    write(project / "migrations", "1_idx.up.sql", "CREATE INDEX t_id ON t (id);\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    with psycopg.connect(database_url, application_name="writer") as writer:
        writer.execute("INSERT INTO t VALUES (1)")  # ROW EXCLUSIVE: conflicts with CREATE INDEX's SHARE
        wpid = writer.info.backend_pid
        result = r.up()
        writer.rollback()
    r.conn.close()
    error = result.results[0].error or ""
    assert result.results[0].status == "failed"
    assert "gave up after 1 attempt " in error and f"pid {wpid}" in error, error
    assert "holding RowExclusiveLock on t" in error and "application 'writer'" in error


def test_a_migration_setting_its_own_lock_timeout_keeps_it(project: Path, database_url: str,
                                                           db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int)")
    configure(project, database_url, 'lock_timeout = "100ms"\nretries = 0')
    write(project / "migrations", "1_add.up.sql", "SET lock_timeout = '5s';\nALTER TABLE t ADD COLUMN c int;\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    with reader(database_url, "t", 1.0):
        result = r.up()
    r.conn.close()
    assert [x.status for x in result.results] == ["applied"], result.results


def test_timed_out_concurrent_index_is_dropped_before_the_retry(project: Path, database_url: str,
                                                                db: psycopg.Connection[Any]) -> None:
    """CREATE INDEX CONCURRENTLY waits for older transactions; a lock timeout there leaves an INVALID index,
    which is dropped before the statement runs again."""
    db.execute("CREATE TABLE t (x int)")
    configure(project, database_url, 'retries = 5\nretry_backoff = "300ms"', top='lock_timeout = "400ms"')
    write(project / "migrations", "1_idx.up.sql", "CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    writer = psycopg.connect(database_url)
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(1.2, writer.rollback).start()
    result = r.up()
    r.conn.close()
    writer.close()
    assert [x.status for x in result.results] == ["applied"], (result.results, rec.warnings)
    assert rec.warnings
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass").fetchone() == (True,)


def _wait_for(db: psycopg.Connection[Any], query: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute(query).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError(f"nothing matched: {query}")


def test_killed_concurrent_index_is_rebuilt_by_the_next_up(project: Path, database_url: str,
                                                           db: psycopg.Connection[Any]) -> None:
    """The issue's case: a CREATE INDEX CONCURRENTLY killed midway leaves an INVALID index; status and validate
    name it, and the next `up` drops it and builds the index."""
    db.execute("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 1000)")
    write(project / "migrations", "1_idx.up.sql", "CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    writer = psycopg.connect(database_url)
    writer.execute("INSERT INTO t VALUES (0)")  # the build waits for this transaction
    proc = subprocess.Popen([EXE, "migrate", "up", "--yes"], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pid = _wait_for(db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'confiture' "
                        "AND query ILIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'")
    db.execute("SELECT pg_terminate_backend(%s)", [pid])
    _, err = proc.communicate(timeout=60)
    writer.rollback()
    writer.close()
    assert proc.returncode == 1, err
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass").fetchone() == (False,)
    for args in (("migrate", "status"), ("migrate", "validate")):
        r = run_cli(*args, cwd=project)
        assert "it left an INVALID index: public.t_x" in r.stderr, (args, r.stderr)
    r = run_cli("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert "dropped the INVALID index(es) it left (DROP INDEX CONCURRENTLY IF EXISTS public.t_x;)" in r.stderr
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass").fetchone() == (True,)
    assert db.execute("SELECT success FROM confiture_migrations").fetchall() == [(True,)]


def test_status_and_validate_name_an_invalid_index_of_an_applied_migration(
        project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (x int)")
    write(project / "migrations", "1_idx.up.sql", "CREATE INDEX CONCURRENTLY t_x ON t (x);\n")
    assert run_cli("migrate", "up", "--yes", cwd=project).code == 0
    db.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_x'::regclass")  # as a killed REINDEX
    r = run_cli("migrate", "validate", cwd=project)
    assert r.code == 1 and "migration 1 (idx): index public.t_x is INVALID" in r.stderr, r.stderr
    r = run_cli("migrate", "status", cwd=project)
    assert "index public.t_x is INVALID" in r.stderr, r.stderr
