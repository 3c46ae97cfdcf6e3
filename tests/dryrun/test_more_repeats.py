"""More timed applies where a statement's per-row part is within its repeats' noise, up to a bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun.measure import Key, measure_alternated
from confiture_core.dryrun.predict import Point, fit_points, median_error, resolved
from confiture_core.dryrun.shadow import ShadowServer, database_of, scratch_database

from ..conftest import Server, write


def test_the_median_error_shrinks_with_the_repeats() -> None:
    assert median_error([10.0]) == 0.0
    five = median_error([9.0, 10.0, 10.0, 11.0, 12.0])
    assert five == pytest.approx(1.253 * 1.4826 / 5 ** 0.5)
    assert median_error([9.0, 10.0, 10.0, 11.0, 12.0] * 4) < five


def test_a_per_row_part_within_the_noise_is_not_resolved() -> None:
    # 10 ms on the full sample, 8 on the emptied copy, each spread by ±3 ms: the 2 ms per-row part is unknown
    assert not resolved([7.0, 13.0, 10.0, 9.0, 12.0], [5.0, 11.0, 8.0, 7.0, 10.0])
    # 60 ms against 8 ms with the same spread: known to a few percent
    assert resolved([57.0, 63.0, 60.0, 59.0, 62.0], [5.0, 11.0, 8.0, 7.0, 10.0])
    # nothing measured on one side: nothing to resolve
    assert resolved([10.0], [])


def test_rounds_go_on_while_asked_up_to_the_bound(project: Path, database_url: str, pg_server: Server,
                                                   db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 200) g")
    write(project / "migrations", "001_one.up.sql", "UPDATE t SET a = a + 1;\n")
    config = load_config(cwd=project)
    db.close()  # a template database must have no other connection
    server = ShadowServer(pg_server.url("postgres"), "test server")
    asked: list[int] = []

    def more(so_far: list[dict[Key, list[float]]]) -> bool:
        asked.append(len(so_far[0][(1, 0)]))
        return True

    with scratch_database(server, template=database_of(database_url)) as other:
        wal: list[dict[Key, list[int]]] = []
        out = measure_alternated(server, [database_url, other], config, None, 2, wal, more, max_repeats=4)
        assert [len(d[(1, 0)]) for d in out] == [4, 4] and asked == [2, 3]
        assert [len(d[(1, 0)]) for d in wal] == [4, 4] and all(b > 0 for d in wal for b in d[(1, 0)])
        out = measure_alternated(server, [database_url, other], config, None, 2, more=lambda so_far: False,
                                 max_repeats=4)
        assert [len(d[(1, 0)]) for d in out] == [2, 2]


def test_the_interval_moves_the_per_row_part_by_twice_its_standard_error() -> None:
    # 17 ms fixed, 20 ms on 8,000 rows: 3 ms per-row part, its standard error 1 ms; at a million rows (125 times)
    # the part is 375 ms, and 1-5 ms of it scaled gives 142-642 ms, wider than the ±20% floor
    predicted, low, high = fit_points("update", [Point(0, 17.0), Point(8000, 20.0)], 1_000_000, part_error=1.0)
    assert predicted == pytest.approx(392.0, rel=1e-3)
    assert (low, high) == (pytest.approx(142.0, rel=1e-3), pytest.approx(642.0, rel=1e-3))
    # a well-resolved part keeps the ±20% floor
    assert fit_points("update", [Point(0, 17.0), Point(8000, 20.0)], 1_000_000, part_error=0.01)[1:] == (
        pytest.approx(392.0 * 0.8, rel=1e-3), pytest.approx(392.0 * 1.2, rel=1e-3))
