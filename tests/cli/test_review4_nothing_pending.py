"""`migrate up` with nothing pending says so at once: no shadow server started, no schema copied for a dry run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..conftest import invoke, write


def test_up_to_date_starts_no_shadow(project: Path, db: psycopg.Connection[Any],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "migrations", "1_t.up.sql", "CREATE TABLE t (id bigint);\n")
    assert invoke("migrate", "up", "--yes", cwd=project).code == 0
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)  # the default: a shadow database
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    assert r.stderr.strip().splitlines() == ["nothing to migrate: the database is up to date"]
    assert not (project / ".confiture" / "pgdata").exists()  # no embedded server started for a shadow
    r = invoke("migrate", "up", "--to", "9", cwd=project)  # a typo is still said by the run itself
    assert r.code == 2 and "--to 9: no migration has version 9" in r.stderr
    assert not (project / ".confiture" / "pgdata").exists()
