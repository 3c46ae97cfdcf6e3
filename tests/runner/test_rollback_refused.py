"""A ROLLBACK (or prepared-transaction statement) in a transactional migration is refused before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write


def test_rollback_in_a_later_file_stops_the_run_before_the_first(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_g.up.sql", "CREATE TABLE g (id int);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\nROLLBACK;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 2, r.stderr
    assert "migrations/2_g.up.sql:4: ROLLBACK is not allowed in a migration that runs in a transaction; remove it" \
        in r.stderr
    assert db.execute("SELECT to_regclass('a')").fetchone() == (None,)  # nothing applied, not even 1


def test_rollback_in_a_no_transaction_file_is_left_to_the_server(project: Path) -> None:
    write(project / "migrations", "1_g.up.sql",
          "-- confiture: no-transaction\nCREATE TABLE g (id int);\nROLLBACK;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr  # autocommit: the server only warns that no transaction is in progress
