"""An index (or sequence) that existed before the run is reported as pre-existing, not "(new)": found by the review
(an UPDATE of a table with a primary key showed "ROW EXCLUSIVE on orders_pkey (new)")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.config import load_config
from confiture_core.dryrun.devcopy import dev_copy_dry_run

from ..conftest import write
from .test_exact_locks import hooks, migration, run_dry


def _project(project: Path, url: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:  # closed after: a copy needs nobody else connected
        db.execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text); "
                   "INSERT INTO orders SELECT g, NULL FROM generate_series(1, 50) g")
    m = project / "migrations"
    write(m, "1_upd.up.sql", "UPDATE orders SET note = 'y' WHERE id < 10;\n")
    write(m, "2_idx.up.sql", "CREATE INDEX orders_note_idx ON orders (note);\n")
    write(m, "3_upd.up.sql", "UPDATE orders SET note = 'z' WHERE id < 5;\n")


def _locks(rep: Any, version: int) -> set[tuple[str, str, bool]]:
    return {(lk.relation, lk.mode, lk.preexisting) for s in migration(rep, version).statements for lk in s.locks}


def _check(rep: Any) -> None:
    assert rep.ok, rep.error
    assert ("orders_pkey", "ROW EXCLUSIVE", True) in _locks(rep, 1)
    assert ("orders", "ROW EXCLUSIVE", True) in _locks(rep, 1)
    # an index the run itself made is new, later in the same run too
    assert ("orders_note_idx", "ROW EXCLUSIVE", False) in _locks(rep, 3)
    assert ("orders_pkey", "ROW EXCLUSIVE", True) in _locks(rep, 3)


def test_on_target_rolled_back(project: Path, database_url: str) -> None:
    _project(project, database_url)
    _check(run_dry(project, database_url))


def test_on_a_copy(project: Path, database_url: str) -> None:
    _project(project, database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        rep, why = dev_copy_dry_run(conn, database_url, load_config(None, cwd=project), hooks())
    assert rep is not None, why
    _check(rep)
