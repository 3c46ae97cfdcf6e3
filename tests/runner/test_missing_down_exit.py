"""A missing down file and an empty one are the same kind of refusal: a project error, exit 2, nothing reverted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write
from .test_runner import tables


def _applied_pair(project: Path, down_b: str | None) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "1_a.down.sql", "DROP TABLE a;\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    if down_b is not None:
        write(m, "2_b.down.sql", down_b)
    assert invoke("migrate", "up", "--yes", cwd=project).code == 0


def test_missing_down_file_exits_2_like_an_empty_one(project: Path, db: psycopg.Connection[Any]) -> None:
    _applied_pair(project, None)
    missing = invoke("migrate", "down", "--to", "0", cwd=project)
    assert missing.code == 2, missing.stderr
    assert "2_b.up.sql: no down migration; add 2_b.down.sql" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert tables(db) == ["a", "b", "confiture_migrations"]
    write(project / "migrations", "2_b.down.sql", "")
    empty = invoke("migrate", "down", "--to", "0", cwd=project)
    assert empty.code == missing.code == 2, empty.stderr
    assert tables(db) == ["a", "b", "confiture_migrations"]
