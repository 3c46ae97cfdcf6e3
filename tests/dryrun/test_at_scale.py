"""What the target's table meets that its sample never did: checkpoints, a spilled sort, a foreign key's parents."""

from __future__ import annotations

import math
from typing import Any

import psycopg
import pytest

from confiture_core.dryrun.atscale import (
    checkpoint_distance,
    past_checkpoints,
    per_byte,
    sort_run_rows,
    sort_size,
)
from confiture_core.dryrun.facts import TableFacts, TargetFacts, read_settings, read_target_facts
from confiture_core.dryrun.predict import Point, Sample, fit_points, lower, predict
from confiture_core.dryrun.report import DryRunReport, MigrationReport, StatementReport
from confiture_core.dryrun.work import first_node, foreign_key_parent_of

GB = 1024.0**3


def _facts(**settings: float) -> TargetFacts:
    return TargetFacts(150000, {}, [], [], {}, dict(settings))


def test_the_target_settings_are_read_in_bytes(db: psycopg.Connection[Any]) -> None:
    got = read_settings(db)
    row = db.execute("SELECT pg_size_bytes(current_setting('max_wal_size')), "
                     "pg_size_bytes(current_setting('maintenance_work_mem')), "
                     "pg_size_bytes(current_setting('shared_buffers')), "
                     "current_setting('checkpoint_completion_target')::float8").fetchone()
    assert row is not None
    assert (got["max_wal_size"], got["maintenance_work_mem"], got["shared_buffers"]) == tuple(map(float, row[:3]))
    assert got["checkpoint_completion_target"] == pytest.approx(row[3])
    assert read_target_facts(db).settings == got


def test_checkpoints_are_requested_past_max_wal_size_over_one_plus_the_completion_target() -> None:
    facts = _facts(max_wal_size=1 * GB, checkpoint_completion_target=0.9)
    assert checkpoint_distance(facts) == pytest.approx(GB / 1.9)
    assert past_checkpoints(facts, 0.5 * GB, 3 * GB, 1e-6) == (0.0, 0.0)  # below the distance: nothing changes
    share, extra = past_checkpoints(facts, 3 * GB, 2 * GB, 1e-6)
    assert share == pytest.approx(1 - 1 / (3 * 1.9))
    assert extra == pytest.approx(1e-6 * 2 * GB * share)
    assert past_checkpoints(facts, 3 * GB, 2 * GB, None) == (pytest.approx(share), 0.0)  # no flush cost measured
    assert checkpoint_distance(_facts()) == pytest.approx(GB / 1.9)  # PostgreSQL's defaults when unread


def test_the_cost_of_a_byte_flushed_is_the_commits_difference_over_the_wals() -> None:
    assert per_byte([12.0, 13.0, 14.0], [2.0, 3.0, 4.0], [1_000_000], [0]) == pytest.approx(10 / 1e6)
    assert per_byte([3.0], [3.0], [1_000_000], [0]) is None  # no more time on the full sample
    assert per_byte([], [3.0], [1], [0]) is None


def test_a_sort_past_maintenance_work_mem_grows_with_its_runs_not_the_table() -> None:
    facts = _facts(maintenance_work_mem=64 * 1024.0**2)
    run = sort_run_rows(facts, 40)  # 40-byte rows and their 24-byte SortTuple
    assert run == pytest.approx(64 * 1024**2 / 64)
    n = 10_000
    assert sort_size(n, run) == pytest.approx(n * math.log2(n + 1))  # in memory: n·log2 n
    assert sort_size(4 * run, run) == pytest.approx(2 * sort_size(2 * run, run))  # past it: linear in n
    assert sort_size(4 * run, None) > sort_size(4 * run, run)


def test_an_index_build_past_memory_is_scaled_with_the_runs_size() -> None:
    points = [Point(0, 20.0), Point(50_000, 40.0), Point(100_000, 60.0)]
    spilled = fit_points("index", points, 20_000_000, run_rows=500_000)[0]
    in_memory = fit_points("index", points, 20_000_000)[0]
    assert spilled < in_memory
    # through the points the two models nearly agree (the runs are larger than the sample)
    assert fit_points("index", points, 100_000, run_rows=500_000)[0] == pytest.approx(60.0, rel=0.05)


def test_the_parent_of_an_added_foreign_key() -> None:
    added = first_node("ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES s.p (id)")
    validated = first_node("ALTER TABLE c VALIDATE CONSTRAINT f")
    assert added is not None and foreign_key_parent_of(added) == "s.p"
    assert validated is not None and foreign_key_parent_of(validated) is None
    assert first_node("not sql at all (") is None and first_node("-- only a comment") is None


def _report(*sql: str) -> DryRunReport:
    statements = [StatementReport(line=1, sql=text, kind="ALTER TABLE", executed=True, rewritten=["orders"])
                  for text in sql]
    return DryRunReport(migrations=[MigrationReport(1, "a", "applied", statements=statements)], lock_timeout=None,
                        server_version=150000)


def _target(**settings: float) -> TargetFacts:
    tables = {1: TableFacts(1, "public", "orders", "r", 1e7, 200_000, int(1.6 * GB), int(0.4 * GB)),
              2: TableFacts(2, "public", "parents", "r", 1e6, 10_000, int(0.1 * GB), int(0.02 * GB))}
    return TargetFacts(150000, tables, [], [], {}, dict(settings))


def test_a_rewrite_past_the_checkpoint_distance_widens_its_interval_upwards() -> None:
    report = _report("ALTER TABLE orders ALTER COLUMN a TYPE bigint")
    key = (1, 0)

    def sample(rows: int, ms: float, wal: int, commit: float) -> Sample:
        return Sample({"orders": (rows, rows * 160)}, {key: [ms] * 5}, {key: [wal] * 5}, {key: [commit] * 5})

    samples = [sample(100_000, 220.0, 100_000 * 150, 12.0), sample(50_000, 120.0, 50_000 * 150, 7.0),
               sample(0, 20.0, 0, 2.0)]
    small_wal = _target(max_wal_size=64 * GB)  # 1.4 GB of WAL on the target: below the distance
    assert predict(report, samples, small_wal) == 1
    calm = report.migrations[0].statements[0]
    assert calm.predicted_ms == pytest.approx(20 + 0.002 * 1e7, rel=0.01)
    high_calm = calm.predicted_ms_high
    assert high_calm is not None
    predict(report, samples, _target(max_wal_size=0.5 * GB, checkpoint_completion_target=0.9))
    busy = report.migrations[0].statements[0]
    assert busy.predicted_ms is not None and busy.predicted_ms_high is not None
    flushed = (10 / (100_000 * 150)) * 2 * GB * (1 - 0.5 * GB / 1.9 / (1e7 * 150))  # ms per byte · bytes · share
    assert busy.predicted_ms == pytest.approx(20 + 0.002 * 1e7 + flushed, rel=0.01)
    assert busy.predicted_ms_high >= busy.predicted_ms * 1.8  # the part past the checkpoints may cost as much again


def test_a_foreign_key_is_scaled_by_its_children_and_parents() -> None:
    report = _report("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (parent_id) REFERENCES parents (id)")
    key = (1, 0)
    # 10 ms fixed, 1 µs per child and per parent; the sample holds as many parents as children, the target a tenth;
    # the sizes thin parents by f and children by f²
    sizes = [(100_000, 100_000), (25_000, 50_000), (6_250, 25_000), (0, 0)]
    samples = [Sample({"orders": (c, 0), "parents": (p, 0)}, {key: [10 + 0.001 * (c + p)] * 5}) for c, p in sizes]
    assert predict(report, samples, _target()) == 1
    s = report.migrations[0].statements[0]
    both = 10 + 0.001 * (1e7 + 1e6)  # parents costing what a child does: both scaled
    children_only = fit_points("validate", [Point(c, 10 + 0.001 * (c + p)) for c, p in sizes], 1e7)[0]
    assert children_only > 1.5 * both  # parents costing nothing: the children alone scaled, as before
    assert s.predicted_ms == pytest.approx((both + children_only) / 2, rel=0.01)
    assert s.predicted_ms_low is not None and s.predicted_ms_high is not None
    assert s.predicted_ms_low <= both * 1.01 and s.predicted_ms_high >= children_only  # the interval spans both


def test_an_unresolved_per_row_part_comes_from_the_lower_quartiles() -> None:
    report = _report("CREATE INDEX o_a ON orders (a)")
    key = (1, 0)
    # a 3 ms per-row part beside a 20 ms fixed cost; one repeat in three of each size pays a +10 ms fsync
    noisy = [0.0, 10.0, 0.0, 10.0, 0.0, 10.0]
    samples = [Sample({"orders": (rows, 0)}, {key: [20 + part + n for n in noisy]})
               for rows, part in [(8000, 3.0), (4000, 1.4), (0, 0.0)]]
    samples[0] = Sample(samples[0].sizes, {key: [23.0 + n for n in [0.0, 10.0, 10.0, 0.0, 10.0, 10.0]]})
    assert lower(samples[0].ms[key]) == pytest.approx(23.0)
    predict(report, samples, _target(maintenance_work_mem=64 * 1024.0**2))
    s = report.migrations[0].statements[0]
    by_medians = fit_points("index", [Point(8000, 33.0), Point(4000, 26.4), Point(0, 25.0)], 1e7,
                            run_rows=sort_run_rows(_target(), 1.6 * GB / 1e7))[0]
    assert s.predicted_ms is not None and s.predicted_ms < by_medians
    # the lower quartiles (23, 21.4, 20) moved up by the emptied copy's median less its lower quartile (25 - 20)
    run_rows = sort_run_rows(_target(maintenance_work_mem=64 * 1024.0**2), 1.6 * GB / 1e7)
    by_lower = fit_points("index", [Point(8000, 28.0), Point(4000, 26.4), Point(0, 25.0)], 1e7, run_rows=run_rows)[0]
    assert s.predicted_ms == pytest.approx(by_lower, rel=0.01)


def test_the_lower_quartile_is_never_below_the_fastest_repeat() -> None:
    # regression: with two repeats statistics.quantiles (exclusive) extrapolated: [21, 60] gave 11.25
    assert lower([21.0, 60.0]) == 21.0
    assert lower([20.0, 21.0]) == 20.0
    assert lower([7.0]) == 7.0
    assert lower([23.0, 33.0, 33.0, 23.0, 33.0, 33.0]) == pytest.approx(23.0)  # inside the repeats: unchanged


def test_a_never_analyzed_parent_is_counted_from_its_bytes() -> None:
    report = _report("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (parent_id) REFERENCES parents (id)")
    key = (1, 0)
    sizes = [(100_000, 100_000), (25_000, 50_000), (6_250, 25_000), (0, 0)]

    def samples(parent_bytes_per_row: int) -> list[Sample]:
        return [Sample({"orders": (c, c * 160), "parents": (p, p * parent_bytes_per_row)},
                       {key: [10 + 0.001 * (c + p)] * 5}) for c, p in sizes]

    analyzed = _target()
    predict(report, samples(100), analyzed)
    want = report.migrations[0].statements[0].predicted_ms
    never = _target()
    p = never.tables[2]
    # reltuples -1 (never analyzed, PostgreSQL 14+): its rows from its bytes at the sample's bytes per row
    never.tables[2] = TableFacts(p.oid, p.schema, p.name, p.kind, -1.0, p.pages, int(1e6 * 100), p.index_bytes)
    report = _report("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (parent_id) REFERENCES parents (id)")
    predict(report, samples(100), never)
    got = report.migrations[0].statements[0].predicted_ms
    assert want is not None and got == pytest.approx(want, rel=0.01)
