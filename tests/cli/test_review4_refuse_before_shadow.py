"""A pending file that cannot run is refused before the dry run starts a shadow server or copies the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..conftest import invoke, write


@pytest.fixture(autouse=True)
def _shadow_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)  # the default: a shadow database


def five_files(project: Path, third: str) -> None:
    for i in range(1, 6):
        write(project / "migrations", f"{i}_t{i}.up.sql", third if i == 3 else f"CREATE TABLE t{i} (id bigint);\n")


@pytest.mark.parametrize("args", [("migrate", "up"), ("migrate", "up", "--dry-run")])
def test_a_syntax_error_in_file_3_of_5_is_refused_before_any_shadow(project: Path, db: psycopg.Connection[Any],
                                                                     args: tuple[str, ...]) -> None:
    five_files(project, "CREATE TABLE t3 (id bigint;\n")
    r = invoke(*args, cwd=project)
    assert r.code == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        'error: refusing to migrate: migrations/3_t3.up.sql:1:27: SQL syntax error: syntax error at or near ";"']
    assert not (project / ".confiture" / "pgdata").exists()  # no shadow server was started for it
    assert db.execute("SELECT to_regclass('t1')").fetchone() == (None,)  # nothing half-applied


def test_every_file_that_cannot_run_is_named_at_once(project: Path, db: psycopg.Connection[Any]) -> None:
    five_files(project, "CREATE TABLE t3 (id bigint;\n")
    write(project / "migrations", "6_mixed.up.sql", "CREATE TABLE m (a int);\nCREATE INDEX CONCURRENTLY mi ON m (a);\n")
    r = invoke("migrate", "up", "--dry-run", cwd=project)
    assert r.code == 2, r.stderr
    assert "refusing to migrate (2 problems, nothing was changed):" in r.stderr
    assert "migrations/3_t3.up.sql:1:27" in r.stderr and "migrations/6_mixed.up.sql" in r.stderr
    assert not (project / ".confiture" / "pgdata").exists()
