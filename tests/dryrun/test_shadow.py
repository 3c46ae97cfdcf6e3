"""The shadow preflight on a real PostgreSQL: the target is only read (ACCESS SHARE at most, watched in pg_locks),
the shadow holds the schema and a sample with consistent foreign keys, it is dropped, predictions are reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from confiture_core.cli import main
from confiture_core.dryrun import shadow

from ..conftest import REPO, Server, write

#: the prefix a confiture process names its scratch databases with (in-process tests get their own)
PROCESS_PREFIX = shadow.PREFIX

SCHEMA = json.loads((REPO / "docs" / "dry-run.schema.json").read_text())


@pytest.fixture(autouse=True)
def _shadow_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests exercise the default ("auto": a shadow, the target not being the embedded dev server)."""
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The console script's ``main(ARGS)`` in process: exit code, stdout, stderr."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def populate(db: psycopg.Connection[Any]) -> None:
    """customers (3,000 rows) and orders (30,000, each referencing a customer): large enough to be sampled."""
    db.execute("CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)")
    db.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, "
               "amount int NOT NULL, doubled int GENERATED ALWAYS AS (amount * 2) STORED)")
    db.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 3000) g")
    db.execute("INSERT INTO orders (customer_id, amount) SELECT 1 + (g * 7919) % 3000, g "
               "FROM generate_series(1, 30000) g")
    db.execute("ANALYZE")


def shadows_left(server: Server, prefix: str | None = None) -> list[str]:
    """The scratch databases named with ``prefix`` (default: this test's own) still on ``server``."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           [(prefix or shadow.PREFIX) + "%"]).fetchall()]


class LockWatch:
    """Polls pg_locks of the target database from another connection, collecting every lock other sessions hold."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: set[tuple[str, str]] = set()
        self.details: set[tuple[str, str, str, str | None]] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # every lock of every client session on the target's database (autovacuum, a background worker, is not
        # ours: its ANALYZE after populate() takes SHARE UPDATE EXCLUSIVE and writes pg_statistic)
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT l.locktype, l.mode, a.application_name, l.relation::regclass::text FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.pid <> pg_backend_pid() "
                    "AND a.backend_type = 'client backend' AND a.datname = current_database() "
                    "AND l.locktype NOT IN ('virtualxid')").fetchall()
                self.seen.update((r[0], r[1]) for r in rows)
                self.details.update(rows)

    def __enter__(self) -> LockWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def shop(project: Path, db: psycopg.Connection[Any]) -> Iterator[Path]:
    populate(db)
    write(project / "migrations", "001_rewrite.up.sql",
          "ALTER TABLE orders ADD COLUMN r float8 DEFAULT random();\nCREATE INDEX orders_amount ON orders (amount);\n"
          "UPDATE orders SET amount = amount + 1;\n")
    yield project


def target_state(db: psycopg.Connection[Any]) -> Any:
    return (db.execute("SELECT relname, relfilenode FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                       "ORDER BY 1").fetchall(),
            db.execute("SELECT sum(amount), count(*) FROM orders").fetchone())


def test_the_target_is_only_read_access_share_at_most(shop: Path, database_url: str, pg_server: Server,
                                                      db: psycopg.Connection[Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = target_state(db)
    with LockWatch(database_url) as watch:
        code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--shadow-url",
                                  pg_server.url("postgres"), "--format", "json")
    assert code == 0, err
    assert ("relation", "AccessShareLock") in watch.seen  # the watch saw the preflight read the target, and only
    assert {mode for kind, mode in watch.seen if kind == "relation"} == {"AccessShareLock"}, watch.details
    assert not [s for s in watch.seen if s[0] in ("advisory", "transactionid", "tuple")]  # no runner, no write
    assert target_state(db) == before
    assert shadows_left(pg_server) == []
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["where"] == "shadow" and doc["ok"]
    assert doc["shadow"]["sample"] == "1%" and doc["shadow"]["target_server_version"] == db.info.server_version
    statements = doc["migrations"][0]["statements"]
    assert [s["kind"] for s in statements] == ["AlterTableStmt", "IndexStmt", "UpdateStmt"]
    for s in statements:  # each is scaled to the target's 30,000 rows from a sample of about 1%
        assert s["target_rows"] == 30000 and s["target_bytes"] > 0
        assert 0 <= s["predicted_ms_low"] <= s["predicted_ms"] <= s["predicted_ms_high"]
        assert s["rows"] is None or s["rows"] < 3000  # measured on the sample, not on the target
    password = conninfo_to_dict(database_url).get("password")
    assert not password or (password not in out and password not in err)


def test_the_sample_keeps_foreign_keys_consistent(shop: Path, pg_server: Server, db: psycopg.Connection[Any],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # every sampled order's customer is in the shadow: the migration that counts orphans finds none, and the
    # post-data restore (which validates orders_customer_id_fkey) succeeded; the tracking table is copied whole
    write(shop / "migrations", "002_check.up.sql",
          "DO $$ BEGIN IF (SELECT count(*) FROM orders) NOT BETWEEN 30 AND 3000 THEN RAISE EXCEPTION 'sample %', "
          "(SELECT count(*) FROM orders); END IF; IF EXISTS (SELECT FROM orders o LEFT JOIN customers c "
          "ON c.id = o.customer_id WHERE c.id IS NULL) THEN RAISE EXCEPTION 'orphans'; END IF; END $$;\n")
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--shadow-url",
                              pg_server.url("postgres"), "--format", "json")
    assert code == 0, err
    assert [m["status"] for m in json.loads(out)["migrations"]] == ["applied", "applied"]


def test_a_failing_migration_leaves_no_shadow_and_the_report(shop: Path, pg_server: Server,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    write(shop / "migrations", "002_bad.up.sql", "ALTER TABLE orders ADD COLUMN missing_type nosuchtype;\n")
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--shadow-url",
                              pg_server.url("postgres"), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["where"] == "shadow" and [m["status"] for m in doc["migrations"]] == ["applied", "failed"]
    assert "nosuchtype" in err
    assert shadows_left(pg_server) == []


def test_no_shadow_server_says_so_and_how_to_get_one(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "s3cretFAKEpw"
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--shadow-url",
                              f"postgresql://app:{secret}@127.0.0.1:1/x")
    assert code == 2
    assert "cannot connect to the shadow server" in err and secret not in err + out
    # and the review gate does not apply without the review
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--shadow-url",
                              f"postgresql://app:{secret}@127.0.0.1:1/x")
    assert code == 2 and "cannot connect to the shadow server" in err and secret not in err + out


def test_where_setting_and_flags_choose_the_target(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = shop / "confiture.toml"
    config.write_text(config.read_text() + '[dry_run]\nwhere = "target"\n')
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["where"] == "target"
    config.write_text(config.read_text().replace('"target"', '"nowhere"'))
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--on-target")
    assert code == 2 and "[dry_run] where = 'nowhere'" in err  # checked at load, whatever the flags (round 5)
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run")
    assert code == 2 and "[dry_run] where = 'nowhere'" in err


def test_on_the_target_large_tables_are_refused_unless_allowed(shop: Path, db: psycopg.Connection[Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = shop / "confiture.toml"
    config.write_text(config.read_text() + '[dry_run]\nmax_table_size = "64kB"\n')
    before = target_state(db)
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--on-target")
    assert code == 1
    assert "001_rewrite.up.sql:1: the dry run on the target would rewrite table orders" in err
    assert "--allow-large-tables" in err
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--on-target",
                              "--allow-large-tables", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["where"] == "target"
    assert target_state(db) == before


def test_default_shadow_is_the_embedded_server(shop: Path, db: psycopg.Connection[Any],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "-C", str(shop), "migrate", "up", "--dry-run", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["where"] == "shadow" and "embedded server" in doc["shadow"]["server"]
    target_major, shadow_major = db.info.server_version // 10000, doc["shadow"]["server_version"] // 10000
    assert ("runs PostgreSQL" in err) == (target_major != shadow_major)
    assert doc["migrations"][0]["statements"][0]["predicted_ms"] is not None


def test_ctrl_c_drops_the_shadow(shop: Path, pg_server: Server) -> None:
    # a real process (signals): interrupted while a migration runs in the shadow, it drops the shadow and exits 1
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    write(shop / "migrations", "002_slow.up.sql", "SELECT pg_sleep(60);\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    proc = subprocess.Popen([exe, "-C", str(shop), "migrate", "up", "--dry-run", "--shadow-url",
                             pg_server.url("postgres")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until the slow migration runs in a shadow database
                if conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname LIKE %s AND query LIKE "
                                "'%%pg_sleep%%'", [PROCESS_PREFIX + "%"]).fetchone():
                    break
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)
            else:
                pytest.fail("the slow migration never ran in a shadow database")
            # this run's scratch databases are among these (another xdist worker's may be too)
            at_sigint = {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                    [PROCESS_PREFIX + "%"]).fetchall()}
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "interrupted" in err.lower()
    deadline = time.monotonic() + 60  # another worker's scratch databases go when its own run ends
    while (left := at_sigint & set(shadows_left(pg_server, PROCESS_PREFIX))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left

