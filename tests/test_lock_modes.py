"""The one table of statement -> lock mode (confiture_core.lock_modes), and the runner's strong locks built on it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pglast import parse_sql

from confiture_core.lock_modes import statement_lock
from confiture_core.risk import MODE_NAMES, MODES
from confiture_core.runner.strong_locks import strong_lock

SETUP = ("CREATE TABLE t (id int PRIMARY KEY, n int); CREATE INDEX t_n ON t (n); "
         "CREATE TABLE p (id int, region int) PARTITION BY LIST (region); "
         "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; "
         "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); "
         "CREATE RULE r AS ON UPDATE TO t DO ALSO NOTIFY t; CREATE POLICY pol ON t USING (true); "
         "ALTER TABLE t ADD CONSTRAINT ck CHECK (n > 0) NOT VALID; CREATE VIEW t_v AS SELECT id FROM t")

#: statement, the mode the table gives; each is run on the server and its strongest lock measured (on t, or on
#: the relation after ``@``)
CASES = [
    ("UPDATE t SET n = 1", "ROW EXCLUSIVE"),
    ("SELECT * FROM t FOR UPDATE", "ROW SHARE"),
    ("CREATE INDEX t_n2 ON t (n)", "SHARE"),
    ("ALTER INDEX t_n RENAME TO t_n3@t_n", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE t SET (fillfactor = 70)", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE t SET (user_catalog_table = true)", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t ADD COLUMN c int", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t VALIDATE CONSTRAINT ck", "SHARE UPDATE EXCLUSIVE"),
    ("DROP TRIGGER tr ON t", "ACCESS EXCLUSIVE"),
    ("DROP RULE r ON t", "ACCESS EXCLUSIVE"),
    ("DROP POLICY pol ON t", "ACCESS EXCLUSIVE"),
    ("ALTER POLICY pol ON t USING (false)", "ACCESS EXCLUSIVE"),
    ("CREATE POLICY pol2 ON t USING (true)", "ACCESS EXCLUSIVE"),
    ("CREATE TRIGGER tr2 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "SHARE ROW EXCLUSIVE"),
    ("COMMENT ON TABLE t IS 'x'", "SHARE UPDATE EXCLUSIVE"),
    ("TRUNCATE t", "ACCESS EXCLUSIVE"),
    ("CREATE OR REPLACE VIEW t_v AS SELECT id, n FROM t@t_v", "ACCESS EXCLUSIVE"),
]


def _node(sql: str) -> Any:
    return parse_sql(sql.split("@")[0])[0].stmt


@pytest.mark.parametrize(("sql", "mode"), CASES)
def test_the_table_gives_the_mode_measured_on_the_server(sql: str, mode: str, db: psycopg.Connection[Any]) -> None:
    sql, _, rel = sql.partition("@")
    db.execute(SETUP)
    db.execute("BEGIN")
    try:
        oid = db.execute("SELECT %s::regclass::oid", [rel or "t"]).fetchone()
        db.execute(sql.encode())
        held = [r[0] for r in db.execute(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = %s", oid).fetchall()]
    finally:
        db.execute("ROLLBACK")
    measured = max((MODE_NAMES[m] for m in held), key=MODES.index)
    assert statement_lock(_node(sql)) == mode == measured


@pytest.mark.parametrize(("sql", "mode"), [
    ("ALTER TABLE t ALTER CONSTRAINT fk DEFERRABLE", "ACCESS EXCLUSIVE"),  # not stated: the cautious mode
    ("REINDEX SCHEMA public", "SHARE"),
    ("REINDEX TABLE CONCURRENTLY t", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", "SHARE UPDATE EXCLUSIVE"),
    ("CREATE INDEX CONCURRENTLY i ON t (n)", None),
    ("CREATE FUNCTION g() RETURNS int LANGUAGE sql AS 'SELECT 1'", None),
])
def test_kinds_the_documentation_does_not_state(sql: str, mode: str | None) -> None:
    assert statement_lock(_node(sql)) == mode


MORE = ["ALTER TABLE t ALTER CONSTRAINT fk DEFERRABLE", "REINDEX SCHEMA public", "CREATE INDEX CONCURRENTLY i ON t (n)"]


@pytest.mark.parametrize("sql", [s for s, _m in CASES] + MORE)
def test_the_runners_strong_lock_is_the_same_table(sql: str) -> None:
    """runner.strong_locks keeps its signatures and answers from the same table: SHARE or stronger, else None."""
    mode = statement_lock(_node(sql))
    lock = strong_lock(_node(sql))
    strong = mode is not None and MODES.index(mode) >= MODES.index("SHARE")
    assert (lock.mode if lock else None) == (mode if strong else None)
