"""A dry run on a copy sends each migration's statements in one message, as a real apply does, and reports
per statement what the per-statement observer reports on a real apply (issue 13, linear cost <= 1.5x)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun import DryRunReport, MeasuringObserver, MigrationReport, batched
from confiture_core.dryrun.devcopy import dev_copy_dry_run
from confiture_core.runner import Runner

from ..conftest import write
from .test_exact_locks import hooks


def _seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, n int, s text); "
                     "INSERT INTO t (n, s) SELECT g, 'x' FROM generate_series(1, 20) g; "
                     "CREATE INDEX t_n_idx ON t (n); CREATE TABLE gone (id int PRIMARY KEY); "
                     "CREATE TABLE emptied (id int); CREATE SCHEMA s; CREATE TABLE s.\"Mixed\" (id int PRIMARY KEY)")


MIGRATIONS = {
    # three ALTERs of one table in one migration: only the volatile defaults rewrite it, each measured apart
    "1_cols.up.sql": "ALTER TABLE t ADD COLUMN c1 int DEFAULT 42;\n"
                     "ALTER TABLE t ADD COLUMN c2 double precision DEFAULT random();\n"
                     "UPDATE t SET n = n + 1 WHERE id < 5;\n",
    "2_fresh.up.sql": "CREATE TABLE fresh (id bigserial PRIMARY KEY, t_id int REFERENCES t (id));\n"
                      "INSERT INTO fresh (t_id) VALUES (1);\nINSERT INTO fresh (t_id) VALUES (2), (3);\n",
    "3_type.up.sql": "CREATE INDEX t_s_idx ON t (s);\nALTER TABLE t ALTER COLUMN n TYPE bigint;\n",
    "4_drop.up.sql": "DROP TABLE gone;\nDELETE FROM emptied;\nSELECT setval('t_id_seq', 100);\n"
                     "DROP TABLE s.\"Mixed\";\n",
    "5_drop_col.up.sql": "ALTER TABLE t DROP COLUMN s;\nBEGIN;\nCOMMENT ON TABLE t IS 'x';\nCOMMIT;\n",
}


def _facts(m: MigrationReport) -> list[Any]:
    """What a migration's report says per statement (everything but durations)."""
    return [(s.line, s.executed, s.rows, sorted((lk.relation, lk.kind, lk.mode, lk.preexisting, lk.inferred)
                                                for lk in s.locks),
             s.rewritten, [(q.sequence, q.before, q.after) for q in s.sequences], s.risk.label, sorted(s.reasons))
            for s in m.statements]


def _real(project: Path, url: str) -> dict[int, MigrationReport]:
    """Each migration applied for real, measured one statement at a time (the reference)."""
    cfg = load_config(None, cwd=project)
    obs_reports: dict[int, MigrationReport] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        run_start = MeasuringObserver(conn)
        run_start.begin()  # pre-existing means before the run (an index made by migration 3 is new in 5)
        for m in Runner(conn, cfg, hooks()).plan_up(None):
            obs = MeasuringObserver(conn)
            obs.begin()
            obs.start_tables, obs.start_relations = run_start.start_tables, run_start.start_relations
            res = Runner(conn, cfg, hooks(), observer=obs).up(m.version)
            assert not res.failed, res.results[-1].error
            obs_reports[m.version] = obs.reports[m.version]
    return obs_reports


def _copy(project: Path, url: str) -> DryRunReport:
    with psycopg.connect(url, autocommit=True) as conn:
        rep, why = dev_copy_dry_run(conn, url, load_config(None, cwd=project), hooks())
    assert rep is not None, why
    return rep


def test_each_statement_reports_what_a_real_apply_measures_one_statement_at_a_time(
        project: Path, database_url: str) -> None:
    _seed(database_url)
    for name, body in MIGRATIONS.items():
        write(project / "migrations", name, body)
    rep = _copy(project, database_url)
    assert rep.ok, rep.error
    real = _real(project, database_url)
    for m in rep.migrations:
        assert _facts(m) == _facts(real[m.version]), m.version
        assert all(s.duration_ms is not None and s.duration_ms >= 0 for s in m.statements if s.executed)
    by = {m.version: m for m in rep.migrations}
    const, rnd, upd = by[1].statements
    assert const.rewritten == [] and rnd.rewritten == ["t"] and upd.rows == 4
    assert [(q.sequence, q.before, q.after) for s in by[2].statements for q in s.sequences] == [
        ("fresh_id_seq", None, 1), ("fresh_id_seq", 1, 3)]
    assert ("t_n_idx", "ACCESS EXCLUSIVE") in {(lk.relation, lk.mode) for lk in by[3].statements[1].locks}
    drop, delete, _setval, mixed = by[4].statements
    assert drop.risk.label == "destructive" and delete.risk.label == "destructive"
    assert ("gone", "ACCESS EXCLUSIVE") in {(lk.relation, lk.mode) for lk in drop.locks}
    assert mixed.risk.label == "destructive" and ("s.Mixed", "ACCESS EXCLUSIVE") in {
        (lk.relation, lk.mode) for lk in mixed.locks}
    assert [s.executed for s in by[5].statements] == [True, False, True, False]


def test_one_round_trip_per_migration_body_and_no_read_per_earlier_migration(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's connection sends as many messages as a real apply's, plus a constant: the reads ride in
    the body's message; the per-statement catalog resolution and lock read are never called."""
    _seed(database_url)

    def sent(n: int) -> int:
        for f in (project / "migrations").glob("*.sql"):
            f.unlink()
        for i in range(1, n + 1):
            write(project / "migrations", f"{i}_m{i}.up.sql",
                  f"CREATE TABLE x{i} (id serial PRIMARY KEY, n int);\nINSERT INTO x{i} (n) VALUES (1);\n"
                  f"UPDATE t SET n = n + 1 WHERE id = {i};\n")
        count = [0]
        main = threading.main_thread()
        real_execute, real_parts = psycopg.Connection.execute, batched.BatchedObserver.batch_parts

        def execute(self: Any, *a: Any, **kw: Any) -> Any:
            count[0] += threading.current_thread() is main
            return real_execute(self, *a, **kw)

        def batch_parts(self: Any, *a: Any, **kw: Any) -> Any:  # one message, sent right after
            count[0] += 1
            return real_parts(self, *a, **kw)

        def never(*a: Any, **kw: Any) -> Any:
            raise AssertionError("a per-statement read on a copy")

        monkeypatch.setattr(psycopg.Connection, "execute", execute)
        monkeypatch.setattr(batched.BatchedObserver, "batch_parts", batch_parts)
        monkeypatch.setattr(batched.MeasuringObserver, "before_statement", never)
        rep = _copy(project, database_url)
        monkeypatch.undo()
        assert rep.ok, rep.error
        assert all(len(m.statements) == 3 for m in rep.migrations)
        return count[0]

    few, many = sent(3), sent(12)
    # per migration one message: the session reset, BEGIN, the body, the tracking row and COMMIT
    assert many - few == 1 * (12 - 3)


def test_a_failing_statement_in_the_message_is_reported_with_what_ran_before_it(
        project: Path, database_url: str) -> None:
    _seed(database_url)
    write(project / "migrations", "1_bad.up.sql",
          "UPDATE t SET n = n + 1 WHERE id < 3;\nALTER TABLE t ADD COLUMN c int;\nUPDATE t SET nope = 1;\n"
          "UPDATE t SET n = 0;\n")
    rep = _copy(project, database_url)
    [m] = rep.migrations
    assert m.status == "failed" and "1_bad.up.sql:3" in (m.error or "")
    upd, alter, bad = m.statements
    assert ("t", "ROW EXCLUSIVE") in {(lk.relation, lk.mode) for lk in upd.locks} and upd.rows == 2
    assert ("t", "ACCESS EXCLUSIVE") in {(lk.relation, lk.mode) for lk in alter.locks}
    assert bad.line == 3 and (bad.note or "").startswith("failed: ") and bad.duration_ms is not None
