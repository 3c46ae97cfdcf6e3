"""A migration's COMMIT is shared among its statements by the WAL each wrote, measured around each statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun.measure import Key, share_commit, timed_apply, wal_insert_lsn

from ..conftest import write


def test_the_commit_goes_to_the_statements_that_wrote_the_wal() -> None:
    # a statement writing no WAL per row (VALIDATE CONSTRAINT sets hint bits only) took longer on the larger
    # sample: shared by duration it got more of the COMMIT there, which then passed for a cost per row
    small = {(1, 0): 1.0, (1, 1): 0.5}
    large = {(1, 0): 1.0, (1, 1): 4.0}
    wal = {(1, 0): 3000, (1, 1): 1000}
    share_commit(small, [(1, 0), (1, 1)], 4.0, wal)
    share_commit(large, [(1, 0), (1, 1)], 4.0, wal)
    assert small[(1, 1)] - 0.5 == pytest.approx(1.0) and large[(1, 1)] - 4.0 == pytest.approx(1.0)


def test_without_wal_for_every_statement_it_is_shared_by_duration() -> None:
    ms = {(1, 0): 10.0, (1, 1): 30.0}
    share_commit(ms, [(1, 0), (1, 1)], 8.0, {(1, 0): 500})
    assert ms == {(1, 0): pytest.approx(12.0), (1, 1): pytest.approx(36.0)}
    ms = {(1, 0): 10.0, (1, 1): 30.0}
    share_commit(ms, [(1, 0), (1, 1)], 8.0, {(1, 0): 0, (1, 1): 0})
    assert ms == {(1, 0): pytest.approx(12.0), (1, 1): pytest.approx(36.0)}


def test_a_timed_apply_measures_each_statements_wal(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 2000) g")
    db.execute("ALTER TABLE t ADD CONSTRAINT t_a CHECK (a > 0) NOT VALID")
    write(project / "migrations", "001_a.up.sql",
          "UPDATE t SET a = a + 1;\nALTER TABLE t VALIDATE CONSTRAINT t_a;\n")
    before = wal_insert_lsn(db)
    wal: dict[Key, int] = {}
    ms = timed_apply(db, load_config(cwd=project), wal=wal)
    assert set(wal) == set(ms) == {(1, 0), (1, 1)}
    # 2,000 new row versions: at least their tuple headers in WAL; the validation writes a catalog row only
    assert wal[(1, 0)] > 2000 * 24 and wal[(1, 0)] > 4 * wal[(1, 1)]
    assert wal_insert_lsn(db) - before >= wal[(1, 0)] + wal[(1, 1)]
