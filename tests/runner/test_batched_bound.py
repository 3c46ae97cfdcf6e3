"""Safe apply's bound rides in the batched message: a strong statement costs no round trip of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.runner import RunResult

from ..conftest import write
from .test_retry import Recording, configure, reader, runner
from .test_round_trips import applied, apply, opens

Conn = psycopg.Connection[Any]


def up_while_read(project: Path, url: str, table: str, hold_s: float | None) -> tuple[RunResult, list[str], int]:
    """``up`` in process while another session reads ``table`` (see :func:`reader`); the result, the warnings,
    the reader's pid."""
    rec = Recording()
    r = runner(project, url, rec)
    try:
        with reader(url, table, hold_s) as pid:
            result = r.up()
    finally:
        r.conn.close()
    return result, rec.warnings, pid


def test_bounded_statements_cost_no_round_trip(project: Path, database_url: str, db: Conn) -> None:
    """Strong statements on an existing table (bounded) take as many round trips as statements on tables the
    migration created (not bounded): BEGIN, the body, the tracking row and the COMMIT in one message."""
    db.execute("CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)")
    for v in (1, 2):
        write(project / "migrations", f"{v}_m.up.sql",
              f"ALTER TABLE t{v} ADD COLUMN a int;\nINSERT INTO t{v} VALUES (1);\n"
              f"CREATE INDEX ON t{v} (id);\nALTER TABLE t{v} ADD COLUMN b int;\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"] * 2
    first = next(i for i, t in enumerate(trips) if opens(t))
    per_migration = trips[first:-2]
    assert len(per_migration) == 2 * 1, per_migration
    # each body's message opens the transaction, then the bound
    bodies = [t for t in per_migration if opens(t) and
              t.split("\n;\n")[1].startswith("SELECT set_config('confiture.lock_timeout'")]
    assert len(bodies) == 2, per_migration
    assert applied(db) == [1, 2]


def test_bound_applies_to_strong_statements_only_and_is_restored(project: Path, database_url: str,
                                                                 db: Conn) -> None:
    """The strong statement runs under [apply] lock_timeout, the statements around it under the configured
    lock_timeout, and the next migration starts with the configured one."""
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1); CREATE TABLE seen (k text, v text)")
    configure(project, database_url, 'lock_timeout = "1500ms"', top='lock_timeout = "7s"')
    write(project / "migrations", "1_m.up.sql",
          "INSERT INTO seen VALUES ('before', current_setting('lock_timeout'));\n"
          # a volatile default is evaluated for each row while the ALTER rewrites the table: under its bound
          "ALTER TABLE t ADD COLUMN lt text DEFAULT current_setting('lock_timeout');\n"
          "INSERT INTO seen VALUES ('after', current_setting('lock_timeout'));\n")
    write(project / "migrations", "2_m.up.sql", "INSERT INTO seen VALUES ('next', current_setting('lock_timeout'));\n")
    rec = Recording()
    r = runner(project, database_url, rec)
    result = r.up()
    r.conn.close()
    assert [x.status for x in result.results] == ["applied"] * 2, result.results
    assert dict(db.execute("SELECT k, v FROM seen").fetchall()) == {"before": "7s", "after": "7s", "next": "7s"}
    assert db.execute("SELECT lt FROM t").fetchall() == [("1500ms",)]


def test_lock_timeout_in_a_batch_names_the_statement_and_is_retried(project: Path, database_url: str,
                                                                    db: Conn) -> None:
    """The statement that timed out is found from the batch's results: the retry names it and its line."""
    db.execute("CREATE TABLE t (id int); CREATE TABLE u (id int); CREATE TABLE counter (n int); "
               "INSERT INTO counter VALUES (0)")
    configure(project, database_url, 'lock_timeout = "300ms"\nretries = 5\nretry_backoff = "200ms"')
    write(project / "migrations", "1_m.up.sql",
          "UPDATE counter SET n = n + 1;\nALTER TABLE u ADD COLUMN c int;\n\nALTER TABLE t ADD COLUMN c int;\n"
          "UPDATE counter SET n = n + 10;\n")
    result, warnings, _ = up_while_read(project, database_url, "t", 1.0)
    assert [x.status for x in result.results] == ["applied"], warnings
    assert warnings and all("gave up waiting for ACCESS EXCLUSIVE on t (lock_timeout 300ms) at ALTER at line 4; "
                                "the migration's transaction was rolled back" in w for w in warnings), warnings
    assert db.execute("SELECT n FROM counter").fetchone() == (11,)


def test_giving_up_in_a_batch_names_the_line_and_the_blocker(project: Path, database_url: str, db: Conn) -> None:
    db.execute("CREATE TABLE t (id int)")
    configure(project, database_url, 'lock_timeout = "200ms"\nretries = 1\nretry_backoff = "100ms"')
    write(project / "migrations", "1_m.up.sql",
          "CREATE TABLE other (id int);\nSELECT 1;\nALTER TABLE t\n  ADD COLUMN c int;\nSELECT 2;\n")
    result, warnings, pid = up_while_read(project, database_url, "t", None)
    [res] = result.results
    assert res.status == "failed" and res.error is not None
    assert "1_m.up.sql:3: canceling statement due to lock timeout [55P03]" in res.error, res.error
    assert "gave up after 2 attempts" in res.error and f"blocked by pid {pid}" in res.error, res.error
    assert ("attempt 1 of 2 gave up waiting for ACCESS EXCLUSIVE on t (lock_timeout 200ms) at ALTER at line 3"
            in warnings[0]), warnings
    assert db.execute("SELECT to_regclass('other')").fetchone() == (None,)


def test_own_lock_timeout_and_no_bound_send_no_set_local(project: Path, database_url: str, db: Conn) -> None:
    db.execute("CREATE TABLE t (id int)")
    write(project / "migrations", "1_m.up.sql", "SET lock_timeout = '3s';\nALTER TABLE t ADD COLUMN a int;\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"]
    assert any("\nSET lock_timeout = '3s'" in t for t in trips), trips
    assert not any("confiture.lock_timeout" in t for t in trips), trips
    configure(project, database_url, 'lock_timeout = "0"')
    write(project / "migrations", "2_m.up.sql", "ALTER TABLE t ADD COLUMN b int;\nSELECT 1;\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"]
    assert any("\nALTER TABLE t ADD COLUMN b" in t for t in trips), trips
    assert not any("confiture.lock_timeout" in t for t in trips), trips


def test_error_positions_count_past_the_bound(project: Path, database_url: str, db: Conn) -> None:
    """PostgreSQL's error position counts from the start of the message, bound included: still the right line."""
    db.execute("CREATE TABLE t (id int)")
    write(project / "migrations", "1_m.up.sql",
          "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t\n  ALTER COLUMN id TYPE text\n  USING (nope);\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.error is not None and "1_m.up.sql:4: column \"nope\" does not exist [42703]" in res.error, res.error
    write(project / "migrations", "1_m.up.sql",
          "ALTER TABLE t ADD COLUMN a int;\nSELECT 1;\nSELECT id,\n       nope\n  FROM t;\n")
    result, _ = apply(project, database_url)
    [res] = result.results
    assert res.error is not None and "1_m.up.sql:4: column \"nope\" does not exist [42703]" in res.error, res.error
    assert applied(db) == []


def test_the_file_run_decides_whether_it_keeps_its_own_lock_timeout(project: Path, database_url: str,
                                                                     db: Conn) -> None:
    """A down file setting lock_timeout does not unbound the up file's strong statements (and `up` does not
    need to read it)."""
    db.execute("CREATE TABLE t (id int)")
    write(project / "migrations", "1_m.up.sql", "ALTER TABLE t ADD COLUMN a int;\nSELECT 1;\n")
    write(project / "migrations", "1_m.down.sql", "SET lock_timeout = '9s';\nALTER TABLE t DROP COLUMN a;\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"]
    assert any("\nSELECT set_config('confiture.lock_timeout'" in t for t in trips), trips


def test_strong_statement_naming_no_relation_is_bounded_too(project: Path, database_url: str, db: Conn) -> None:
    """DROP TRIGGER ... ON t takes ACCESS EXCLUSIVE on t though its syntax tree holds no relation node: it is
    bounded like any strong statement (it used to wait without bound)."""
    db.execute("CREATE TABLE t (id int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN RETURN NEW; END $$; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()")
    configure(project, database_url, 'lock_timeout = "200ms"\nretries = 0')
    write(project / "migrations", "1_m.up.sql", "SELECT 1;\nDROP TRIGGER tr ON t;\n")
    result, _, _ = up_while_read(project, database_url, "t", None)
    [res] = result.results
    assert res.status == "failed" and res.error is not None
    assert "1_m.up.sql:2: canceling statement due to lock timeout [55P03]" in res.error, res.error
    assert "the sessions in the way are not known" in res.error, res.error


def test_strong_statements_on_a_table_the_file_creates_stay_batched(project: Path, database_url: str,
                                                                     db: Conn) -> None:
    write(project / "migrations", "1_m.up.sql", "CREATE TABLE n (id int);\nALTER TABLE n ADD COLUMN a int;\n"
          "CREATE INDEX ON n (a);\nINSERT INTO n VALUES (1, 2);\n")
    result, trips = apply(project, database_url)
    assert [r.status for r in result.results] == ["applied"]
    first = next(i for i, t in enumerate(trips) if opens(t))
    assert len(trips[first:-2]) == 1, trips
