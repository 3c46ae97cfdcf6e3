"""The lock reads of a dry run on a copy: cheap to plan, prepared once per migration, the same facts as a real apply."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.dryrun import batched
from confiture_core.dryrun.blockers import BlockerWatch
from confiture_core.dryrun.devcopy import dev_copy_dry_run
from confiture_core.hookcaller import Hooks
from confiture_core.runner import plan

from ..conftest import write
from .test_batched_copy import _copy, _facts, _real, _seed

KINDS = {
    # a partitioned table and index (no storage), a partition, a mixed-case name with a quote, a view, a
    # materialized view, a sequence advanced: each relation's name and kind as a real apply's observer reads them
    "1_kinds.up.sql": "CREATE TABLE p (id int, n int) PARTITION BY RANGE (id);\n"
                      "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);\n"
                      "CREATE INDEX p_n ON p (n);\nINSERT INTO p VALUES (1, 1);\n"
                      "CREATE TABLE s.\"Odd \"\"Name\"\"\" (id serial PRIMARY KEY, v text);\n"
                      "INSERT INTO s.\"Odd \"\"Name\"\"\" (v) VALUES ('a');\n"
                      "CREATE VIEW tv AS SELECT id, n FROM t;\nCREATE MATERIALIZED VIEW tm AS SELECT id FROM t;\n",
    "2_use.up.sql": "UPDATE p SET n = 2;\nALTER TABLE s.\"Odd \"\"Name\"\"\" ADD COLUMN w int DEFAULT 1;\n"
                    "REFRESH MATERIALIZED VIEW tm;\nSELECT nextval('t_id_seq');\nSELECT * FROM tv;\n",
}


def test_the_reads_name_every_kind_of_relation_as_a_real_apply_does(project: Path, database_url: str) -> None:
    _seed(database_url)
    for name, body in KINDS.items():
        write(project / "migrations", name, body)
    rep = _copy(project, database_url)
    assert rep.ok, rep.error
    real = _real(project, database_url)
    for m in rep.migrations:
        assert _facts(m) == _facts(real[m.version]), m.version
    kinds = {(lk.relation, lk.kind) for m in rep.migrations for s in m.statements for lk in s.locks}
    assert {("p", "partitioned table"), ("p_n", "partitioned index"), ("p1", "table"),
            ('s.Odd "Name"', "table"), ("tv", "view"), ("tm", "materialized view"),
            ("t_id_seq", "sequence")} <= kinds


def _prepares(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(version, PREPAREs in the message) of each message the batched observer lays out."""
    seen: list[tuple[int, int]] = []
    real = batched.BatchedObserver.batch_parts

    def batch_parts(self: Any, migration: Any, statements: Any) -> Any:
        layout = real(self, migration, statements)
        seen.append((migration.version, sum(isinstance(p, str) and p.startswith("PREPARE") for p in layout)))
        return layout

    monkeypatch.setattr(batched.BatchedObserver, "batch_parts", batch_parts)
    return seen


def test_the_read_is_prepared_once_per_migration_and_again_after_a_statement_measured_alone(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database_url)
    m = project / "migrations"
    # 150 statements: two messages (100 to a message), one PREPARE; then a migration with COPY data, measured
    # one statement at a time (it could DEALLOCATE); then transaction control splits a migration in two messages
    write(m, "1_many.up.sql", "".join(f"UPDATE t SET n = n + 1 WHERE id = {i % 20 + 1};\n" for i in range(150)))
    write(m, "2_copy.up.sql", "CREATE TABLE c (a int);\nCOPY c (a) FROM stdin;\n1\n2\n\\.\nDEALLOCATE ALL;\n"
                              "UPDATE t SET n = 0 WHERE id = 1;\n")
    write(m, "3_split.up.sql", "UPDATE t SET n = 1 WHERE id = 1;\nUPDATE t SET n = 2 WHERE id = 2;\n"
                               "UPDATE t SET n = 3 WHERE id = 3;\nBEGIN;\nUPDATE t SET n = 4 WHERE id = 4;\n"
                               "COMMIT;\nCREATE INDEX t_s ON t (s);\n")
    write(m, "4_one.up.sql", "ALTER TABLE c ADD COLUMN b int;\n")
    seen = _prepares(monkeypatch)
    rep = _copy(project, database_url)
    monkeypatch.undo()
    assert rep.ok, rep.error
    assert [len(x.statements) for x in rep.migrations] == [150, 4, 7, 1]
    # a single read in a message is sent as it is (preparing pays from two on)
    assert seen == [(1, 1), (1, 0), (3, 1), (3, 0), (3, 0), (4, 0)]
    real = _real(project, database_url)
    for x in rep.migrations:
        assert _facts(x) == _facts(real[x.version]), x.version


class _Deallocates:
    """A plugin whose after_migration hook drops every prepared statement of the session."""

    @hookspecs.hookimpl
    def confiture_after_migration(self, context: Any) -> None:
        context.connection.execute("DEALLOCATE ALL")


def test_a_hook_that_deallocates_between_migrations_leaves_the_next_migration_its_read(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database_url)
    for i in (1, 2):
        write(project / "migrations", f"{i}_m.up.sql",
              "".join(f"UPDATE t SET n = n + 1 WHERE id = {k};\n" for k in range(1, 120)))
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(_Deallocates())
    seen = _prepares(monkeypatch)
    with psycopg.connect(database_url, autocommit=True) as conn:
        rep, why = dev_copy_dry_run(conn, database_url, load_config(None, cwd=project), Hooks(pm))
    monkeypatch.undo()
    assert rep is not None, why
    assert rep.ok, rep.error
    assert seen == [(1, 1), (1, 0), (2, 1), (2, 0)]
    assert [len(m.statements) for m in rep.migrations] == [119, 119]


def test_the_blocker_watch_starts_its_thread_with_the_first_statement(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Until then the process has no other thread: the migration files are parsed on the fast path."""
    before = threading.active_count()
    watch = BlockerWatch(database_url, 0)
    try:
        assert threading.active_count() == before
        watch.arm()
        assert threading.active_count() == before + 1
        watch.disarm()
    finally:
        watch.close()
    assert threading.active_count() == before
    _seed(database_url)
    write(project / "migrations", "1_a.up.sql", "UPDATE t SET n = 1;\n")
    fast: list[bool] = []
    real = plan.trusted_parsing

    def spy() -> Any:
        cm = real()

        class _Spy:
            def __enter__(self) -> bool:
                on = cm.__enter__()
                fast.append(on)
                return on

            def __exit__(self, *exc: Any) -> Any:
                return cm.__exit__(*exc)

        return _Spy()

    monkeypatch.setattr(plan, "trusted_parsing", spy)
    rep = _copy(project, database_url)
    assert rep.ok, rep.error
    assert fast and all(fast)


def test_a_statement_naming_no_relation_has_no_names_read(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DROP FUNCTION names no relation: the names read before it would find nothing; DROP VIEW keeps its read."""
    _seed(database_url)
    write(project / "migrations", "1_f.up.sql", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
                                                "CREATE VIEW tv AS SELECT id FROM t;\n")
    write(project / "migrations", "2_drop.up.sql",
          "DROP FUNCTION f();\nDROP VIEW tv;\nUPDATE t SET n = 1 WHERE id = 1;\n")
    layouts: list[list[Any]] = []
    real_parts = batched.BatchedObserver.batch_parts

    def batch_parts(self: Any, migration: Any, statements: Any) -> Any:
        layouts.append(real_parts(self, migration, statements))
        return layouts[-1]

    monkeypatch.setattr(batched.BatchedObserver, "batch_parts", batch_parts)
    rep = _copy(project, database_url)
    monkeypatch.undo()
    assert rep.ok, rep.error
    names = [p for p in layouts[-1] if isinstance(p, str) and p.startswith("SELECT set_config('confiture.names'")]
    assert len(names) == 1 and '"tv"' in names[0]
    real = _real(project, database_url)
    for m in rep.migrations:
        assert _facts(m) == _facts(real[m.version]), m.version
    assert ("tv", "ACCESS EXCLUSIVE") in {(lk.relation, lk.mode) for lk in rep.migrations[1].statements[1].locks}


def test_a_relation_renamed_or_moved_in_the_migration_is_named_as_it_is_now(project: Path, database_url: str) -> None:
    """A read names only the relations new in the transaction, but after a statement that may rename or move one
    it names them all again: later locks on it carry its new name, as on a real apply."""
    _seed(database_url)
    write(project / "migrations", "1_ren.up.sql",
          "ALTER TABLE t ADD COLUMN z int;\nALTER TABLE t RENAME TO t2;\nCREATE INDEX t2_z ON t2 (z);\n"
          "ALTER INDEX t_n_idx RENAME TO t2_n_idx;\nSELECT count(*) FROM t2 WHERE n > 0;\n"
          "CREATE UNIQUE INDEX u ON t2 (z);\nALTER TABLE t2 ADD CONSTRAINT t2_z_key UNIQUE USING INDEX u;\n"
          "ALTER TABLE t2 SET SCHEMA s;\nUPDATE s.t2 SET z = 1 WHERE id = 1;\n")
    rep = _copy(project, database_url)
    assert rep.ok, rep.error
    real = _real(project, database_url)
    [m] = rep.migrations
    assert _facts(m) == _facts(real[m.version])
    locks = [{(lk.relation, lk.mode) for lk in s.locks} for s in m.statements]
    assert ("t2", "SHARE") in locks[2]
    assert ("s.t2", "ROW EXCLUSIVE") in locks[8] and ("s.t2_z_key", "ROW EXCLUSIVE") in locks[8]
