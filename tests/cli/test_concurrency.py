"""Two runners at once, and a runner killed with SIGKILL or stopped with SIGTERM mid-migration."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from ..conftest import write
from ..runner.test_runner import history, tables


def _popen(project: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    full_env.update(env or {})
    # --yes: these tests are about the real run, not the pre-flight dry run of the review gate
    return subprocess.Popen([exe, "migrate", "up", "--yes"], cwd=project, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_runners_with_pending_concurrent_index(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t AS SELECT g AS a FROM generate_series(1, 200000) g;\n"
                           "SELECT pg_sleep(1);\n")
    write(m, "2_idx.up.sql", "CREATE INDEX CONCURRENTLY t_a_idx ON t (a);\n")
    write(m, "3_after.up.sql", "CREATE TABLE after_idx (id int);\n")
    a, b = _popen(project), _popen(project)
    out_a, out_b = a.communicate(timeout=120), b.communicate(timeout=120)
    assert (a.returncode, b.returncode) == (0, 0), (out_a, out_b)
    assert history(db) == [(1, True), (2, True), (3, True)]
    valid = db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_idx'::regclass").fetchone()
    assert valid == (True,)
    # one of them did the work, the other waited and found nothing left to do
    assert sum("nothing to migrate" in err for _, err in (out_a, out_b)) == 1


def _five_with_slow_third(project: Path) -> None:
    m = project / "migrations"
    for v, t in ((1, "a"), (2, "b")):
        write(m, f"{v}_{t}.up.sql", f"CREATE TABLE {t} (id int);\n")
    write(m, "3_c.up.sql", "CREATE TABLE c (id int);\nINSERT INTO c VALUES (1);\n"
                           "SELECT pg_sleep(CASE WHEN current_setting('confiture.fast', true) = 'on' THEN 0 "
                           "ELSE 60 END);\n")
    for v, t in ((4, "d"), (5, "e")):
        write(m, f"{v}_{t}.up.sql", f"CREATE TABLE {t} (id int);\n")


def _wait_for_third(db: psycopg.Connection[Any], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # the migration's statements go to the server in one message: the sleep is anywhere in it
        row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%SELECT pg_sleep(CASE%%' "
                         "AND state = 'active' AND pid <> pg_backend_pid()").fetchone()
        if row and row[0]:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("migration 3 never started: " + proc.communicate()[1])


def test_sigkill_mid_transactional_migration_then_rerun(project: Path, db: psycopg.Connection[Any]) -> None:
    _five_with_slow_third(project)
    proc = _popen(project)
    _wait_for_third(db, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # a prefix of the migrations, and a history that matches it
    assert tables(db) == ["a", "b", "confiture_migrations"]
    assert history(db) == [(1, True), (2, True)]
    rerun = _popen(project, {"PGOPTIONS": "-c confiture.fast=on"})
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert tables(db) == ["a", "b", "c", "confiture_migrations", "d", "e"]
    assert history(db) == [(1, True), (2, True), (3, True), (4, True), (5, True)]
    assert db.execute("SELECT count(*) FROM c").fetchone() == (1,)


def test_sigterm_mid_migration_rolls_back_and_exits_1(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: SIGTERM (a cancelled CI job) killed the process without a word or its exit handlers."""
    _five_with_slow_third(project)
    proc = _popen(project)
    _wait_for_third(db, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)  # the 60 s statement is cancelled, not waited for
    assert proc.returncode == 1, err
    assert "interrupted: 2 migrations applied before it, the one in progress rolled back" in err, err
    assert "Traceback" not in err
    assert tables(db) == ["a", "b", "confiture_migrations"]
    assert history(db) == [(1, True), (2, True)]
    rerun = _popen(project, {"PGOPTIONS": "-c confiture.fast=on"})  # the advisory lock was released
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert history(db) == [(1, True), (2, True), (3, True), (4, True), (5, True)]
