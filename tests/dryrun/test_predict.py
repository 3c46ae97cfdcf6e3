"""Predictions and settings of the shadow preflight, without a database: the model, the work kinds, the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.config import load_config
from confiture_core.dryrun.place import Place, max_table_size, on_shadow, sample, target_statement_timeout
from confiture_core.dryrun.predict import Point, count, describe, fit, seconds
from confiture_core.dryrun.report import LockTaken, StatementReport
from confiture_core.dryrun.work import added_foreign_keys, first_node, work_of
from confiture_core.errors import ConfigError
from confiture_core.sql import parse_sql_text


def test_a_line_through_two_points_is_extended_to_the_target() -> None:
    # 10 ms fixed + 1 µs per row, measured exactly at 2,500 and 10,000 rows: 1,010 ms at a million
    predicted, low, high = fit("rewrite", Point(2500, 12.5), Point(10000, 20.0), 1_000_000)
    assert predicted == pytest.approx(1010.0)
    assert low < predicted < high and high - predicted >= 0.2 * predicted - 1e-9
    # the interval spans the proportional model (no fixed cost), here 2,000 ms
    assert high == pytest.approx(2000.0)


def test_noise_falls_back_to_proportional_scaling() -> None:
    # the smaller sample slower than the larger one: no plausible line, proportional through the larger
    predicted, low, high = fit("update", Point(2500, 30.0), Point(10000, 20.0), 1_000_000)
    assert predicted == pytest.approx(2000.0) and (low, high) == (pytest.approx(1600.0), pytest.approx(2400.0))
    assert fit("update", None, Point(10000, 20.0), 1_000_000)[0] == pytest.approx(2000.0)


def test_index_builds_scale_as_n_log_n() -> None:
    linear = fit("update", None, Point(10_000, 10.0), 1_000_000)[0]
    index = fit("index", None, Point(10_000, 10.0), 1_000_000)[0]
    assert index > linear * 1.4  # log2(1e6) / log2(1e4) = 1.5


@pytest.mark.parametrize(("sql", "expected"), [
    ("ALTER TABLE orders ADD COLUMN r float8 DEFAULT random()", ("rewrite", "orders")),
    ("ALTER TABLE s.orders ALTER COLUMN a TYPE bigint", ("rewrite", "s.orders")),
    ("CREATE INDEX ON orders (a)", ("index", "orders")),
    ("ALTER TABLE o ADD PRIMARY KEY (id)", ("index", "o")),
    ("ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES p (id)", ("validate", "c")),
    ("ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES p (id) NOT VALID", None),
    ("ALTER TABLE c VALIDATE CONSTRAINT f", ("validate", "c")),
    ("ALTER TABLE c ALTER COLUMN x SET NOT NULL", ("validate", "c")),
    ("UPDATE public.o SET a = 1", ("update", "o")),
    ("INSERT INTO o SELECT * FROM p", ("update", "o")),
    ("INSERT INTO o VALUES (1)", None),
    ("ALTER TABLE o ADD COLUMN b int", None),
    ("CREATE TABLE t (id int)", None),
])
def test_work_kinds(sql: str, expected: tuple[str, str] | None) -> None:
    node = first_node(sql)
    assert node is not None and work_of(node) == expected


def test_foreign_keys_a_migration_adds() -> None:
    node = parse_sql_text("ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (a, b) REFERENCES p (x, y), "
                          "ADD FOREIGN KEY (d) REFERENCES q").statements[0].node
    assert added_foreign_keys(node) == [("c", ["a", "b"], "p", ["x", "y"]), ("c", ["d"], "q", [])]


def test_the_text_people_read() -> None:
    s = StatementReport(1, "ALTER TABLE orders ...", "AlterTableStmt", True, duration_ms=400.0,
                        locks=[LockTaken("orders", "table", "SHARE", [], True),
                               LockTaken("orders", "table", "ACCESS EXCLUSIVE", [], True)],
                        predicted_ms=41_000, predicted_ms_low=30_000, predicted_ms_high=55_000,
                        target_rows=12_400_000, target_bytes=1, predicted_table="orders")
    assert describe(s) == "ACCESS EXCLUSIVE on orders for ~41 s (30-55 s), 12.4 M rows"
    assert describe(StatementReport(1, "x", "SelectStmt", True)) is None
    assert [seconds(v) for v in (850, 4_200, 41_000, 720_000, 9_000_000)] == ["850 ms", "4.2 s", "41 s", "12 min",
                                                                                "2.5 h"]
    assert [count(v) for v in (950, 12_400, 250_000, 12_400_000)] == ["950", "12.4 k", "250 k", "12.4 M"]



def test_settings(tmp_path: Path) -> None:
    cfg = load_config(cwd=tmp_path, env={})
    assert on_shadow(cfg, Place(), target_is_dev_server=False, env={})
    assert not on_shadow(cfg, Place(), target_is_dev_server=True, env={})
    assert not on_shadow(cfg, Place(), target_is_dev_server=False, env={"CONFITURE_DRY_RUN_WHERE": "target"})
    assert on_shadow(cfg, Place(where="shadow"), target_is_dev_server=True, env={"CONFITURE_DRY_RUN_WHERE": "target"})
    assert sample(cfg)[0].percent == 1.0 and target_statement_timeout(cfg) == "1min"
    assert max_table_size(cfg) == 1024**3
    (tmp_path / "confiture.toml").write_text('[dry_run]\nsample = 5000\nmax_table_size = "500MB"\n')
    cfg = load_config(cwd=tmp_path, env={})
    assert sample(cfg)[0].rows == 5000 and max_table_size(cfg) == 500 * 1024**2
    (tmp_path / "confiture.toml").write_text('[dry_run]\nwhere = "x"\n')
    with pytest.raises(ConfigError, match=r"\[dry_run\] where = 'x'"):  # checked at load since round 5
        load_config(cwd=tmp_path, env={})
    for bad in ('"0%"', '"150%"', '"lots"', "-3", "true"):
        (tmp_path / "confiture.toml").write_text(f"[dry_run]\nsample = {bad}\n")
        with pytest.raises(ConfigError, match=r"\[dry_run\] sample"):
            sample(load_config(cwd=tmp_path, env={}))
    (tmp_path / "confiture.toml").write_text('[dry_run]\nmax_table_size = "big"\n')
    with pytest.raises(ConfigError, match="max_table_size"):
        max_table_size(load_config(cwd=tmp_path, env={}))
    (tmp_path / "confiture.toml").write_text('[dry_run]\nshadowurl = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(cwd=tmp_path, env={})
