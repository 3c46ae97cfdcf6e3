"""lint says when the configured database could not be reached for its PostgreSQL version (and why)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from confiture_core.lint.rule import NEWEST_PG_VERSION

from ..conftest import invoke


def test_an_unreachable_database_is_named_with_the_version_used(project: Path, database_url: str) -> None:
    info = conninfo_to_dict(database_url)
    info["password"] = "Wr0ngPassw0rd-xyz"
    info["user"] = "no_such_role_here"
    bad = make_conninfo("", **{k: v for k, v in info.items() if v is not None})
    (project / "migrations" / "1_a.up.sql").write_text("SELECT 1;\n")
    r = invoke("lint", cwd=project, env={"DATABASE_URL": bad})
    assert r.code == 0, r.stderr
    assert (f"linting for PostgreSQL {NEWEST_PG_VERSION} (from the default: the newest supported; "
            "the configured database was not reached: cannot connect to") in r.stderr
    assert "Wr0ngPassw0rd-xyz" not in r.stdout + r.stderr
    (project / "confiture.toml").write_text((project / "confiture.toml").read_text() + "\n[lint]\npg_version = 15\n")
    r = invoke("lint", cwd=project, env={"DATABASE_URL": bad})
    assert "linting for PostgreSQL 15 (from [lint] pg_version; the configured database was not reached" in r.stderr
    with psycopg.connect(database_url):  # the good URL still connects: the failure above was the bad one's
        pass
