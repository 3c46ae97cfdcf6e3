"""A statement's measured duration on the shadow includes its share of its migration's COMMIT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun.measure import share_commit, timed_apply

from ..conftest import write


def test_the_commit_is_shared_in_proportion_to_the_statements() -> None:
    ms = {(1, 0): 10.0, (1, 1): 30.0, (2, 0): 5.0}
    share_commit(ms, [(1, 0), (1, 1)], 8.0)
    assert ms == {(1, 0): pytest.approx(12.0), (1, 1): pytest.approx(36.0), (2, 0): 5.0}


def test_statements_that_took_no_time_share_it_equally() -> None:
    ms = {(1, 0): 0.0, (1, 1): 0.0}
    share_commit(ms, [(1, 0), (1, 1)], 4.0)
    assert ms == {(1, 0): 2.0, (1, 1): 2.0}


class _Clock:
    """A stand-in for the ``time`` module in ``measure``: ``perf_counter`` advances 1 s per read."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


def test_a_timed_apply_counts_the_commit(project: Path, db: psycopg.Connection[Any],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    write(project / "migrations", "001_a.up.sql", "ALTER TABLE t ADD COLUMN b int;\nALTER TABLE t ADD COLUMN c int;\n")
    write(project / "migrations", "002_b.up.sql", "ALTER TABLE t ADD COLUMN d int;\n")
    from confiture_core.dryrun import measure

    monkeypatch.setattr(measure, "time", _Clock())
    ms = timed_apply(db, load_config(cwd=project))
    # by the stand-in clock, each migration's end (tracking row, COMMIT) took 1 s: shared by its statements
    assert set(ms) == {(1, 0), (1, 1), (2, 0)}
    assert ms[(1, 0)] + ms[(1, 1)] >= 1000.0 and ms[(2, 0)] >= 1000.0
    assert db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'").fetchone() == (4,)

