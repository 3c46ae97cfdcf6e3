"""A dry run on a copy names every relation a DROP of a sub-partitioned table drops, as a real apply measures it."""

from __future__ import annotations

from pathlib import Path

import psycopg

from ..conftest import write
from .test_batched_copy import _copy, _facts, _real


def test_dropping_a_sub_partitioned_table_reports_the_sub_partitions_indexes(project: Path,
                                                                            database_url: str) -> None:
    # regression: the names read followed one level of pg_inherits, so the index of a partition of a partition
    # (dropped with the table) went unnamed and its lock unreported on a copy
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ev (id bigint, at date, k int) PARTITION BY RANGE (at); "
                     "CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') "
                     "PARTITION BY LIST (k); "
                     "CREATE TABLE ev_2024_k1 PARTITION OF ev_2024 FOR VALUES IN (1); "
                     "CREATE INDEX ev_at ON ev (at)")
    write(project / "migrations", "1_drop.up.sql", "DROP TABLE ev;\n")
    rep = _copy(project, database_url)
    assert rep.ok, rep.error
    (drop,) = rep.migrations[0].statements
    locks = {(lk.relation, lk.kind, lk.mode) for lk in drop.locks}
    assert ("ev_2024_k1_at_idx", "index", "ACCESS EXCLUSIVE") in locks
    assert ("ev_2024_k1", "table", "ACCESS EXCLUSIVE") in locks
    assert _facts(rep.migrations[0]) == _facts(_real(project, database_url)[1])
