"""confiture_validate stops a run before any DDL; batched backfills survive a SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write
from .helpers import add_plugin, applied, configure, rows, tables

VALIDATOR = """
@hookimpl
def confiture_validate(context):
    text = context.migration.up_path.read_text()
    context.connection.execute("CREATE TABLE IF NOT EXISTS validator_scratch (id int)")  # never persists
    if "DROP TABLE" in text:
        return [Finding("error", "drops a table: ship a deprecation first")]
    return [Finding("warning", "looked at it")]
"""


def test_validate_error_stops_before_any_ddl(project: Path, db: psycopg.Connection[Any]) -> None:
    configure(project)
    add_plugin(project, "guard", VALIDATOR)
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\nDROP TABLE a;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "validation failed, nothing was applied: [guard] migration 2: drops a table" in r.stderr
    assert tables(db) == ["confiture_migrations"]
    assert rows(db, "SELECT count(*) FROM confiture_migrations") == [(0,)]
    r = invoke("migrate", "validate", cwd=project)
    assert r.code == 1
    assert "[guard] migration 2: drops a table: ship a deprecation first" in r.stderr
    assert "[guard] migration 1: looked at it" in r.stderr
    r = invoke("migrate", "validate", "--format", "json", cwd=project)
    doc = json.loads(r.stdout)
    assert r.code == 1 and doc["ok"] is False
    assert [(f["level"], f["plugin"], f["version"]) for f in doc["findings"]] == [
        ("warning", "guard", "1"), ("error", "guard", "2")]
    assert tables(db) == ["confiture_migrations"]
    # fixing the file lets the run go on; warnings are shown, not fatal
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert "[guard] migration 1: looked at it" in r.stderr
    assert tables(db) == ["a", "b", "confiture_migrations"] and applied(db) == [1, 2]


def test_validate_returning_junk_is_a_plugin_failure(project: Path, db: psycopg.Connection[Any]) -> None:
    configure(project)
    add_plugin(project, "junk", """
        @hookimpl
        def confiture_validate(context):
            return ["not a finding"]
        """)
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'junk' failed in confiture_validate for migration 1_a.up.sql: TypeError: returned a list " \
           "containing str, expected a list of Finding" in r.stderr
    assert tables(db) == ["confiture_migrations"]


BACKFILL = """
import time

@hookimpl
def confiture_backfill(context):
    if context.migration.version != 1:
        return None

    def batch(b):
        last = b.state.get("last", 0)
        row = b.connection.execute(
            "WITH picked AS (SELECT id FROM t WHERE id > %s ORDER BY id LIMIT 10) "
            "UPDATE t SET v = t.id * 2, fills = fills + 1 FROM picked WHERE t.id = picked.id "
            "RETURNING t.id", [last]).fetchall()
        if row:
            b.state["last"] = max(r[0] for r in row)
            b.connection.execute("SELECT pg_sleep(0.15)")
        return len(row)

    return Backfill("fill_v", batch)
"""


def test_backfill_killed_midway_resumes_and_fills_every_row_once(project: Path,
                                                                 db: psycopg.Connection[Any]) -> None:
    configure(project)
    add_plugin(project, "filler", BACKFILL)
    write(project / "migrations", "1_t.up.sql",
          "CREATE TABLE t (id int PRIMARY KEY, v int, fills int NOT NULL DEFAULT 0);\n"
          "INSERT INTO t (id) SELECT g FROM generate_series(1, 200) g;\n")
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    proc = subprocess.Popen([exe, "migrate", "up", "--yes"], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    batches = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.execute("SELECT to_regclass('confiture_migrations_backfills') IS NOT NULL").fetchone() == (True,):
            got = db.execute("SELECT coalesce(max(batches), 0) FROM confiture_migrations_backfills").fetchone()
            batches = int(got[0]) if got else 0
            if batches >= 4:
                break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # killed midway: the migration is applied, the backfill partly done, nothing filled twice
    assert applied(db) == [1]
    done_rows, done = db.execute("SELECT rows, done FROM confiture_migrations_backfills").fetchone() or (0, True)
    assert 40 <= done_rows < 200 and done is False
    assert db.execute("SELECT max(fills) FROM t").fetchone() == (1,)
    # wait for the killed backend to notice (client_connection_check_interval) and roll back
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert "resuming 1 unfinished backfill of migration 1" in r.stderr
    assert rows(db, "SELECT count(*), min(fills), max(fills), count(*) FILTER (WHERE v = id * 2) FROM t") == [
        (200, 1, 1, 200)]
    assert rows(db, "SELECT plugin, name, rows, done FROM confiture_migrations_backfills") == [
        ("filler", "fill_v", 200, True)]
    # a third run has nothing left to do
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0 and "resuming" not in r.stderr
    assert rows(db, "SELECT max(fills) FROM t") == [(1,)]


def test_commit_in_validate_is_refused_and_its_writes_vanish(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: validate's scratch transaction had no commit guard, so a COMMIT there persisted writes."""
    configure(project)
    add_plugin(project, "sneaky", """
        @hookimpl
        def confiture_validate(context):
            context.connection.execute("CREATE TABLE sneaky_table (id int)")
            context.connection.execute("COMMIT")
        """)
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert "plugin 'sneaky' failed in confiture_validate for migration 1_a.up.sql" in r.stderr
    assert tables(db) == ["confiture_migrations"]


FLAKY_FILL = """
import os

@hookimpl
def confiture_backfill(context):
    if context.migration.version != 1:
        return None

    def batch(b):
        last = b.state.get("last", 0)
        got = b.connection.execute(
            "WITH p AS (SELECT id FROM t WHERE id > %s ORDER BY id LIMIT 10) "
            "UPDATE t SET v = t.id FROM p WHERE t.id = p.id RETURNING t.id", [last]).fetchall()
        if got:
            b.state["last"] = max(r[0] for r in got)
        if last >= 20 and os.path.exists(os.path.join(os.path.dirname(__file__), "STOP")):
            raise RuntimeError("worker lost")
        return len(got)

    return Backfill("fill_v", batch)
"""


def test_unfinished_backfill_is_reported_when_its_plugin_is_not_loaded(project: Path,
                                                                       db: psycopg.Connection[Any]) -> None:
    """Regression: with the owning plugin not loaded, an unfinished backfill was invisible: status and
    validate said everything was applied, and `up` went on silently."""
    configure(project)
    add_plugin(project, "filler", FLAKY_FILL)
    (project / "plugins" / "STOP").write_text("")
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY, v int);\n"
                           "INSERT INTO t (id) SELECT g FROM generate_series(1, 50) g;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1 and "RuntimeError: worker lost" in r.stderr
    assert rows(db, "SELECT batches, rows, done FROM confiture_migrations_backfills") == [(2, 20, False)]
    unfinished = "backfill 'fill_v' of plugin 'filler' is unfinished (2 batches, 20 rows so far)"
    for plugin_args in ([], ["--disable-plugin", "filler"]):
        r = invoke(*plugin_args, "migrate", "status", "--format", "json", cwd=project)
        assert r.code == 0, r.stderr
        [entry] = json.loads(r.stdout)["migrations"]
        assert (entry["state"], entry["applied"]) == ("backfill-unfinished", True)
        assert unfinished in entry["error"]
        assert ("and plugin 'filler' is not loaded" in entry["error"]) == bool(plugin_args)
        # validate: an incomplete data change is a problem (exit 1), whether or not `up` could finish it
        r = invoke(*plugin_args, "migrate", "validate", cwd=project)
        assert r.code == 1
        assert f"migration 1 (t): {unfinished}" in r.stderr
        hint = "load plugin 'filler', then run `confiture migrate up`" if plugin_args else \
            "run `confiture migrate up` to finish it"
        assert hint in r.stderr
    r = invoke("migrate", "status", cwd=project, env={"COLUMNS": "200"})
    assert r.code == 0 and "backfill-unfinished" in r.stderr
    # up without the plugin: later migrations apply, with a warning that the backfill stays unfinished
    write(m, "2_u.up.sql", "CREATE TABLE u (id int);\n")
    r = invoke("--disable-plugin", "filler", "migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert f"warning: migration 1 (t): {unfinished}, and plugin 'filler' is not loaded: it stays unfinished " \
           "until `confiture migrate up` runs with plugin 'filler' loaded" in r.stderr
    assert applied(db) == [1, 2]
    # with the plugin loaded again, the backfill resumes and finishes; then everything is clean
    (project / "plugins" / "STOP").unlink()
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert "resuming 1 unfinished backfill of migration 1" in r.stderr
    assert rows(db, "SELECT count(*) FILTER (WHERE v = id) FROM t") == [(50,)]
    assert rows(db, "SELECT done FROM confiture_migrations_backfills") == [(True,)]
    r = invoke("migrate", "validate", cwd=project)
    assert r.code == 0, r.stderr
    r = invoke("--disable-plugin", "filler", "migrate", "up", "--yes", cwd=project)
    assert r.code == 0 and "warning" not in r.stderr
