"""The dry run's catalog reads per statement do not grow with the migrations before it (issue 13, linear cost).

Time is measured in bench/dryrun_speed.py; here the work is counted: the number of
catalog reads per statement, and how many relations each read asks about and returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun import DryRunReport, dry_run, observer
from confiture_core.dryrun.catalog import LockRead
from confiture_core.dryrun.references import Context

from ..conftest import write
from .test_exact_locks import hooks


def block(i: int) -> list[tuple[str, str]]:
    """Three migrations of the same shape, on a table of their own and on the pre-existing table base
    (which every block's table references: base's statements must not read them all)."""
    return [(f"{3 * i + 1}_make{i}.up.sql", f"CREATE TABLE t{i} (id serial PRIMARY KEY, n int, "
                                            "base_id int REFERENCES base (id));\n"
                                            f"INSERT INTO t{i} (n, base_id) VALUES (1, 1), (2, 1);\n"),
            (f"{3 * i + 2}_alter{i}.up.sql", f"ALTER TABLE t{i} ADD COLUMN c int;\nCREATE INDEX ON t{i} (n);\n"),
            (f"{3 * i + 3}_touch{i}.up.sql", f"UPDATE t{i} SET n = n + 1 WHERE id = 1;\n"
                                             "UPDATE base SET n = n + 1 WHERE id = 1;\n")]


def measured_run(project: Path, url: str, blocks: int, monkeypatch: pytest.MonkeyPatch,
                 ) -> tuple[DryRunReport, list[int], list[int]]:
    """A dry run of ``blocks`` blocks; the size of every lock read and of every resolution."""
    reads: list[int] = []
    resolves: list[int] = []
    real_read, real_resolve = observer.read_locks, observer.resolve

    def read_locks(conn: Any, want: set[int] | None = None, prior: set[int] | None = None) -> LockRead:
        got = real_read(conn, want, prior)
        reads.append(len(want or ()) + len(prior or ()) + len(got.new) + len(got.relations) + len(got.prior))
        return got

    def resolve(conn: Any, names: list[tuple[str, ...]], functions: list[str], schemas: list[str],
                **kw: bool) -> Context:
        got = real_resolve(conn, names, functions, schemas, **kw)
        resolves.append(len(names) + len(got.relations) + len(got.indexes) + len(got.sequences))
        return got

    monkeypatch.setattr(observer, "read_locks", read_locks)
    monkeypatch.setattr(observer, "resolve", resolve)
    for name in (project / "migrations").glob("*.sql"):
        name.unlink()
    for i in range(blocks):
        for name, body in block(i):
            write(project / "migrations", name, body)
    with psycopg.connect(url, autocommit=True) as conn:
        rep = dry_run(conn, load_config(None, cwd=project), hooks())
    monkeypatch.undo()
    return rep, reads, resolves


def test_reads_per_statement_do_not_grow_with_earlier_migrations(
        project: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    db.execute("CREATE TABLE base (id serial PRIMARY KEY, n int); INSERT INTO base (n) VALUES (1)")
    few, few_reads, few_resolves = measured_run(project, database_url, 2, monkeypatch)
    many, many_reads, many_resolves = measured_run(project, database_url, 12, monkeypatch)
    assert few.ok and many.ok, (few.error, many.error)
    for rep, reads, resolves in ((few, few_reads, few_resolves), (many, many_reads, many_resolves)):
        statements = sum(len(m.statements) for m in rep.migrations)
        # one read before each migration's first statement, one after each statement; one resolution each
        assert len(reads) == statements + len(rep.migrations)
        assert len(resolves) == statements
    # 36 migrations ask about and get back no more than 6 did: nothing is re-read per earlier migration
    assert max(many_reads) == max(few_reads) and max(many_resolves) == max(few_resolves)
    assert sorted(set(many_reads)) == sorted(set(few_reads))
    # and what is reported is the same for each block (the first one takes base's locks, the others re-ask)
    def shape(rep: DryRunReport, version: int) -> list[list[tuple[str, bool]]]:
        [m] = [m for m in rep.migrations if m.version == version]
        return [sorted((lk.mode, lk.inferred) for lk in s.locks) for s in m.statements]
    for v in (4, 5, 6):
        assert shape(many, v + 30) == shape(few, v)
