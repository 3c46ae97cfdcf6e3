"""A table never vacuumed nor analyzed (right after a bulk load) is sized from disk and the planner's estimate,
not taken as empty: its prediction scales to its rows, and it is sampled like any large table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.dryrun.facts import read_target_facts

from ..conftest import Server, write
from .test_shadow import run_main


def _bulk_loaded(db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t2 (id bigint, c int) WITH (autovacuum_enabled = off)")
    db.execute("INSERT INTO t2 SELECT g, g % 97 FROM generate_series(1, 50000) g")
    db.execute("CREATE TABLE empty_one (id int) WITH (autovacuum_enabled = off)")


def test_facts_estimate_rows_and_sizes_from_disk(db: psycopg.Connection[Any]) -> None:
    _bulk_loaded(db)
    facts = read_target_facts(db)
    t2, empty = facts.by_name("t2"), facts.by_name("empty_one")
    assert t2 is not None and empty is not None
    assert 25_000 <= t2.rows <= 100_000, t2.rows  # the planner's estimate of the 50,000 rows
    assert t2.pages > 0 and t2.bytes >= t2.pages * 8192
    assert empty.rows == 0 and empty.bytes == 0
    assert db.execute("SELECT reltuples FROM pg_class WHERE relname = 't2'").fetchone() == (-1,)  # nothing analyzed


def test_the_prediction_is_not_for_zero_rows(project: Path, db: psycopg.Connection[Any], pg_server: Server,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)
    _bulk_loaded(db)
    write(project / "migrations", "1_index.up.sql", "CREATE INDEX t2_c ON t2 (c);\n")
    code, out, err = run_main(capsys, "-C", str(project), "migrate", "up", "--dry-run", "--shadow-url",
                              pg_server.url("postgres"), "--format", "json")
    assert code == 0, err
    statement = json.loads(out)["migrations"][0]["statements"][0]
    assert 25_000 <= statement["target_rows"] <= 100_000, statement
    assert statement["predicted_ms"] is not None and statement["predicted_ms"] > 0


def test_no_timed_applies_when_no_pending_work_scales(project: Path, db: psycopg.Connection[Any], pg_server: Server,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the migration works on a table copied whole (1,000 rows at most) and on a new one: the shadow holds them
    # at their target size, so the sample sizes are not measured (each measure makes five database copies)
    from confiture_core.dryrun import preflight

    calls: list[str] = []
    real = preflight.measure_alternated

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append("measure")
        return real(*args, **kw)

    monkeypatch.setattr(preflight, "measure_alternated", counted)
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)
    db.execute("CREATE TABLE small (id int PRIMARY KEY, c int)")
    db.execute("INSERT INTO small SELECT g, g FROM generate_series(1, 500) g")
    db.execute("ANALYZE small")
    write(project / "migrations", "1_small.up.sql", "CREATE INDEX small_c ON small (c);\nCREATE TABLE n (id int);\n")
    code, out, err = run_main(capsys, "-C", str(project), "migrate", "up", "--dry-run", "--shadow-url",
                              pg_server.url("postgres"), "--format", "json")
    assert code == 0, err
    assert calls == []
    assert json.loads(out)["migrations"][0]["status"] == "applied"
    _bulk_loaded(db)  # a pending migration on a table the sample thins: measured
    write(project / "migrations", "2_big.up.sql", "CREATE INDEX t2_c ON t2 (c);\n")
    code, out, err = run_main(capsys, "-C", str(project), "migrate", "up", "--dry-run", "--shadow-url",
                              pg_server.url("postgres"), "--format", "json")
    assert code == 0, err
    assert calls  # the full sample and the thinner ones
