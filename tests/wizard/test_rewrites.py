"""The wizard's safe rewrites: their SQL (pglast), and applied to tables with rows, the locks they take."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.hookcaller import Hooks
from confiture_core.migrations import discover
from confiture_core.risk import MODE_NAMES, MODES
from confiture_core.runner import Runner
from confiture_core.sql import parse_sql_text
from confiture_core.wizard.drafts import put_in_place, stage
from confiture_core.wizard.rewrites import rewrite

from ..conftest import write

ROWS = 100_000

SETUP = f"""
CREATE TABLE customers (id bigint PRIMARY KEY);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total numeric, note text);
CREATE TABLE audit_log (id bigint, msg text);
INSERT INTO customers SELECT g FROM generate_series(1, 1000) g;
INSERT INTO orders SELECT g, 1 + g % 1000, g, 'n' || g FROM generate_series(1, {ROWS}) g;
INSERT INTO audit_log SELECT g, 'm' FROM generate_series(1, 20000) g;
"""

#: one risky migration of each kind, and what must hold once its rewrite is applied
KINDS = {
    "index": ("CREATE INDEX orders_customer ON orders (customer_id);",
              "SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_customer'::regclass"),
    "foreign_key": ("ALTER TABLE orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) "
                    "REFERENCES customers (id);",
                    "SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_fkey'"),
    "check": ("ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);",
              "SELECT convalidated FROM pg_constraint WHERE conname = 'orders_total_check'"),
    "not_null": ("ALTER TABLE orders ALTER COLUMN note SET NOT NULL;",
                 "SELECT attnotnull AND NOT EXISTS (SELECT 1 FROM pg_constraint "
                 "WHERE conname = 'orders_note_not_null_check') "
                 "FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note'"),
    "volatile_default": ("ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
                         "SELECT count(*) = 0 FROM orders WHERE token IS NULL"),
    "update": ("UPDATE orders SET total = total * 100;", f"SELECT max(total) = {ROWS * 100} FROM orders"),
    "delete": ("DELETE FROM audit_log;", "SELECT count(*) = 0 FROM audit_log"),
}


def test_each_kind_is_rewritten_with_the_parser() -> None:
    for kind, (sql, _) in KINDS.items():
        rw = rewrite(parse_sql_text(sql).statements, {"orders": "id"})
        assert rw.rewrites, kind
        for text in [rw.first or ""] + [s.up for s in rw.steps]:
            if text and not text.startswith('"""'):
                parse_sql_text(text)  # every SQL file written parses
    rw = rewrite(parse_sql_text(KINDS["index"][0]).statements)
    assert rw.first is None and rw.steps[0].up.startswith("-- confiture: no-transaction\nCREATE INDEX CONCURRENTLY")
    rw = rewrite(parse_sql_text(KINDS["not_null"][0]).statements)
    assert "CHECK (note IS NOT NULL) NOT VALID" in (rw.first or "")
    assert [s.up.strip() for s in rw.steps] == [
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_note_not_null_check;",
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n"
        "ALTER TABLE orders DROP CONSTRAINT orders_note_not_null_check;"]


def test_a_batched_update_that_reads_the_row_warns_that_a_rerun_repeats_it() -> None:
    reads = rewrite(parse_sql_text("UPDATE orders SET total = total * 100;").statements, {"orders": "id"})
    assert any("a second time" in g for g in reads.guidance)
    assert "start again from the first key" in reads.steps[0].up
    same = rewrite(parse_sql_text("UPDATE orders SET total = 0;").statements, {"orders": "id"})
    assert not any("a second time" in g for g in same.guidance)


def test_set_not_null_uses_the_validated_check_instead_of_a_scan(db: psycopg.Connection[Any]) -> None:
    """Regression: SET NOT NULL and DROP CONSTRAINT in one ALTER TABLE scanned the table (the check was gone
    before SET NOT NULL could use it); PostgreSQL says at DEBUG1 which of the two it did."""
    db.execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")
    db.execute("INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 100) g")
    rw = rewrite(parse_sql_text(KINDS["not_null"][0]).statements)
    notices: list[str] = []
    db.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    db.execute("SET client_min_messages = debug1")
    for text in [rw.first or ""] + [step.up for step in rw.steps]:
        notices.clear()  # what the last step (SET NOT NULL, then the check dropped) made PostgreSQL do
        for st in parse_sql_text(text).statements:
            db.execute(st.sql)
    assert any("sufficient to prove" in n for n in notices), notices
    assert not any(n.startswith("verifying table") for n in notices), notices


def test_renames_and_drops_get_guidance_only() -> None:
    rw = rewrite(parse_sql_text("ALTER TABLE orders RENAME COLUMN note TO remark;\n"
                                "ALTER TABLE orders DROP COLUMN total;\nDROP TABLE audit_log;\n").statements)
    assert not rw.rewrites and len(rw.guidance) == 3
    assert "Expand/contract" in rw.guidance[0] and "expand/contract" in rw.guidance[1]


def test_update_without_a_primary_key_gets_guidance() -> None:
    rw = rewrite(parse_sql_text("UPDATE audit_log SET msg = upper(msg);").statements, {})
    assert not rw.rewrites and "no single-column primary key" in rw.guidance[0]


class LockWatch:
    """Polls, from a second connection, the strongest lock the watched session holds on ``orders`` or
    ``audit_log`` (granted or awaited)."""

    def __init__(self, url: str, application: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.application = application
        self.seen: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stop.is_set():
            for (mode,) in self.conn.execute(
                    "SELECT l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE a.application_name = %s AND l.locktype = 'relation' "
                    "AND l.relation IN ('orders'::regclass, 'audit_log'::regclass)", [self.application]):
                self.seen.append(MODE_NAMES[mode])

    def __enter__(self) -> LockWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()

    def strongest(self) -> str | None:
        return max(self.seen, key=MODES.index) if self.seen else None


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_rewrite_applies_and_takes_no_lock_stronger_than_promised(
        kind: str, project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    db.execute(SETUP)
    sql, check = KINDS[kind]
    folder = project / "migrations"
    write(folder, "10_risky.up.sql", sql + "\n")
    m = discover(folder)[0]
    rw = rewrite(m.sql("up").statements, {"orders": "id"})
    draft = stage(project, folder, m, rw, [10])
    put_in_place(draft, folder)
    promises = ([rw.first_promise] if rw.first is not None else []) + [s.promise for s in rw.steps]
    assert len(promises) == len(draft.versions)
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    app = f"watched-{kind}"
    with psycopg.connect(database_url, autocommit=True, application_name=app) as conn:
        runner = Runner(conn, load_config(cwd=project), Hooks(pm))
        for version, promise in zip(draft.versions, promises, strict=True):
            with LockWatch(database_url, app) as watch:
                result = runner.up(version)
            assert [r.status for r in result.results] == ["applied"], result.results
            seen = watch.strongest()
            assert seen is None or MODES.index(seen) <= MODES.index(promise), (kind, version, seen, promise)
    assert db.execute(check).fetchone() == (True,), kind
