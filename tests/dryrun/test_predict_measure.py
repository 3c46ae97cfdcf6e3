"""Predictions from several sample sizes: the fit, the noise, and the timed real applies on copies of a shadow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.dryrun import shadow
from confiture_core.dryrun.facts import read_target_facts
from confiture_core.dryrun.measure import measure, timed_apply
from confiture_core.dryrun.predict import Point, fit_points
from confiture_core.dryrun.run import dry_run
from confiture_core.dryrun.sample import match_parallel_degree, parallel_workers_for
from confiture_core.dryrun.shadow import ShadowServer
from confiture_core.hookcaller import Hooks

from ..conftest import Server, write


def test_three_points_on_a_line_give_the_line() -> None:
    # 5 ms fixed + 2 µs per row at 2,500, 5,000 and 10,000 rows: 2,005 ms at a million
    points = [Point(2500, 10.0), Point(5000, 15.0), Point(10000, 25.0)]
    predicted, low, high = fit_points("update", points, 1_000_000)
    assert predicted == pytest.approx(2005.0)
    # the interval spans the proportional model through the largest sample (2,500 ms) and at least ±20%
    assert (low, high) == (pytest.approx(2005.0 - 495.0), pytest.approx(2500.0))


def test_the_interval_is_at_least_the_measured_noise() -> None:
    points = [Point(10000, 20.0)]
    predicted, low, high = fit_points("rewrite", points, 1_000_000, noise=0.45)
    assert predicted == pytest.approx(2000.0)
    assert (low, high) == (pytest.approx(1100.0), pytest.approx(2900.0))


def test_a_cost_per_row_growing_with_the_size_scales_from_the_largest_sample() -> None:
    # a line through these would have a negative fixed cost: proportional through the largest sample instead
    points = [Point(2500, 2.0), Point(10000, 12.0)]
    assert fit_points("validate", points, 100_000)[0] == pytest.approx(120.0)


def _hooks() -> Hooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Hooks(pm)


@pytest.fixture
def table_project(project: Path, db: psycopg.Connection[Any]) -> Path:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g % 7 FROM generate_series(1, 2000) g")
    write(project / "migrations", "001_two.up.sql",
          "ALTER TABLE t ADD COLUMN b int;\nUPDATE t SET b = a * 2;\nCREATE INDEX t_a ON t (a);\n")
    write(project / "migrations", "002_concurrently.up.sql", "CREATE INDEX CONCURRENTLY t_b ON t (b);\n")
    return project


def test_timed_apply_commits_each_migration_and_keys_match_the_dry_run(
        table_project: Path, db: psycopg.Connection[Any]) -> None:
    config = load_config(cwd=table_project)
    report = dry_run(db, config, _hooks())
    skipped = [(m.version, i) for m in report.migrations for i, s in enumerate(m.statements) if not s.executed]
    assert skipped == [(2, 0)]  # CREATE INDEX CONCURRENTLY cannot run in the dry run's transaction
    ms = timed_apply(db, config)
    assert set(ms) == {(1, 0), (1, 1), (1, 2), (2, 0)}  # the same positions as the report's statements
    assert all(v >= 0 for v in ms.values())
    by_key = {(m.version, i): s.sql for m in report.migrations for i, s in enumerate(m.statements)}
    assert "UPDATE" in by_key[(1, 1)] and "CONCURRENTLY" in by_key[(2, 0)]
    # applied for real: the column, both indexes and the tracking rows are there
    assert db.execute("SELECT count(*) FROM t WHERE b = a * 2").fetchone() == (2000,)
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 't' AND indexname IN ('t_a', 't_b')"
                      ).fetchone() == (2,)


def test_measure_applies_on_throwaway_copies(table_project: Path, database_url: str, pg_server: Server,
                                             db: psycopg.Connection[Any]) -> None:
    config = load_config(cwd=table_project)
    db.close()  # a template database must have no other connection
    server = ShadowServer(pg_server.url("postgres"), "test server")
    ms = measure(server, database_url, config, None, repeats=2)
    assert {k: len(v) for k, v in ms.items()} == {(1, 0): 2, (1, 1): 2, (1, 2): 2, (2, 0): 2}
    with psycopg.connect(database_url, autocommit=True) as conn:  # the source itself is untouched
        assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' "
                            "AND column_name = 'b'").fetchone() == (0,)
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [shadow.PREFIX + "%"]).fetchall()
    assert left == []


def test_parallel_workers_follow_the_size_as_postgresql_plans_them() -> None:
    # min_parallel_table_scan_size 8 MB = 1,024 pages: none below, one from there, one more per tripling
    assert [parallel_workers_for(p, 1024) for p in (10, 1023, 1024, 3071, 3072, 9216, 300_000)] == \
        [0, 0, 1, 1, 2, 3, 6]


def test_the_shadow_gets_the_targets_parallel_degree(db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE big (id int)")
    db.execute("CREATE TABLE own (id int) WITH (parallel_workers = 5)")
    db.execute("CREATE TABLE small (id int)")
    facts = read_target_facts(db)
    pages = {"big": 300_000, "own": 300_000, "small": 10}
    for t in facts.tables.values():
        t.pages = pages[t.name]  # the target's sizes (relpages), as the preflight read them
    match_parallel_degree(db, facts)
    got = dict(db.execute("SELECT relname, reloptions FROM pg_class WHERE relname IN ('big', 'own', 'small')"
                          ).fetchall())
    assert got == {"big": ["parallel_workers=6"], "own": ["parallel_workers=5"], "small": None}


def test_the_emptied_tables_measure_the_fixed_cost() -> None:
    # 16 ms on empty tables (a parallel worker's start, the commit), then 0.4 µs per row: 416 ms at a million,
    # where scaling the 10,000-row sample's 20 ms in proportion would say 2,000 ms
    points = [Point(0, 16.0), Point(5000, 18.0), Point(10000, 20.0)]
    predicted, low, high = fit_points("rewrite", points, 1_000_000)
    assert predicted == pytest.approx(416.0, rel=1e-3)
    # the line through the fixed cost and the largest sample agrees: the interval is the ±20% floor
    assert (low, high) == (pytest.approx(332.8, rel=1e-3), pytest.approx(499.2, rel=1e-3))


def test_without_a_plausible_line_the_measured_fixed_cost_is_still_not_scaled() -> None:
    # noise: the middle sample slower than the largest (slope through the three ≤ 0 or a fixed cost above 90%)
    points = [Point(0, 19.0), Point(5000, 21.0), Point(10000, 20.0)]
    assert fit_points("rewrite", points, 1_000_000)[0] == pytest.approx(119.0)  # 19 + 1 ms per 10,000 rows
