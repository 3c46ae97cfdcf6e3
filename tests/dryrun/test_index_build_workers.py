"""A timed apply's index builds get the target's parallel workers: PostgreSQL's rule on maintenance_work_mem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.config import load_config
from confiture_core.dryrun.measure import timed_apply
from confiture_core.dryrun.sample import index_build_workers_cap, match_index_build_workers

from ..conftest import write


def test_the_cap_leaves_each_participant_32_mb() -> None:
    # 64 MB: two participants (leader + 1 worker) of 32 MB; 1 GB would allow 31, capped by the setting
    assert index_build_workers_cap(64 * 1024, 2) == 1
    assert index_build_workers_cap(1024 * 1024, 2) == 2
    assert index_build_workers_cap(96 * 1024, 4) == 2
    assert index_build_workers_cap(32 * 1024, 4) == 0  # the leader alone
    assert index_build_workers_cap(1024 * 1024, 0) == 0


def test_the_session_gets_the_cap(db: psycopg.Connection[Any]) -> None:
    db.execute("SET maintenance_work_mem = '64MB'")
    db.execute("SET max_parallel_maintenance_workers = 4")
    assert match_index_build_workers(db) == 1
    assert db.execute("SHOW max_parallel_maintenance_workers").fetchone() == ("1",)
    db.execute("SET maintenance_work_mem = '1GB'")
    db.execute("SET max_parallel_maintenance_workers = 0")
    assert match_index_build_workers(db) == 0  # never more than the server allows


def test_a_timed_apply_runs_with_the_cap(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "001_seen.up.sql",
          "CREATE TABLE seen AS SELECT current_setting('max_parallel_maintenance_workers') AS workers;\n")
    db.execute("SET maintenance_work_mem = '64MB'")
    db.execute("SET max_parallel_maintenance_workers = 3")
    ms = timed_apply(db, load_config(cwd=project))
    assert set(ms) == {(1, 0)}
    assert db.execute("SELECT workers FROM seen").fetchone() == ("1",)
