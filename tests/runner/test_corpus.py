"""Every shared corpus applied through the CLI, then reverted as far as its SOURCE.md says works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.sql import parse_sql_text

from ..conftest import CORPUS, Server, invoke


def corpus_project(tmp_path: Path, database_url: str, name: str) -> Path:
    src = CORPUS / name
    assert (src / "migrations").is_dir(), f"shared corpus {src} missing"
    (tmp_path / "confiture.toml").write_text(
        f'database_url = "{database_url}"\nmigrations_dir = "{src / "migrations"}"\n')
    prelude = src / "prelude.sql"
    if prelude.is_file():
        with psycopg.connect(database_url, autocommit=True) as conn:
            for st in parse_sql_text(prelude.read_text()).statements:
                conn.execute(st.sql.encode())
    return tmp_path


def status(project: Path) -> list[dict[str, Any]]:
    r = invoke("migrate", "status", "--format", "json", cwd=project)
    assert r.code == 0, r.stderr
    migrations: list[dict[str, Any]] = json.loads(r.stdout)["migrations"]
    return migrations


def expected_versions(name: str) -> list[str]:
    order = (CORPUS / name / "order-up.txt").read_text().split()
    return [str(int(f.split("_", 1)[0])) for f in order]


@pytest.mark.slow
def test_ente_up_then_down_to_93(tmp_path: Path, database_url: str) -> None:
    project = corpus_project(tmp_path, database_url, "ente")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    st = status(project)
    assert [m["version"] for m in st] == expected_versions("ente")
    assert all(m["applied"] for m in st) and len(st) == 124
    r = invoke("migrate", "down", "--to", "93", cwd=project)
    assert r.code == 0, r.stderr
    st = status(project)
    assert [m["version"] for m in st if m["applied"]][-1] == "93"
    assert sum(m["applied"] for m in st) == 93
    # going to 0 would need two down files PostgreSQL cannot parse: refused before anything runs
    r = invoke("migrate", "down", "--to", "0", cwd=project)
    assert r.code == 2 and "44_trash_add_index.down.sql:1:15: SQL syntax error" in r.stderr
    assert sum(m["applied"] for m in status(project)) == 93
    # 93's own down file fails upstream: the runner stops there, 93 stays applied
    r = invoke("migrate", "down", cwd=project)
    assert r.code == 1
    assert "93_emergency_contact.down.sql" in r.stderr
    assert "cannot drop function trigger_updated_at_microseconds_column()" in r.stderr
    assert sum(m["applied"] for m in status(project)) == 93


#: the first lemmy migration that needs PostgreSQL 16: a subquery in FROM without an alias
LEMMY_NEEDS_PG16 = "20250801000016"
#: the first lemmy down migration (newest first) that needs PostgreSQL 18's named NOT NULL constraints
LEMMY_PG18_DOWN = "20250801000012"


@pytest.mark.slow
def test_lemmy_up_then_down_to_70(tmp_path: Path, database_url: str, pg_server: Server) -> None:
    project = corpus_project(tmp_path, database_url, "lemmy")
    # --yes: migration 20250801000017 puts a trigger on the prelude's (pre-existing) diesel table,
    # SHARE ROW EXCLUSIVE = blocks-writes, which the review gate would otherwise ask about
    r = invoke("migrate", "up", "--yes", cwd=project)
    versions = expected_versions("lemmy")
    st = status(project)
    assert [m["version"] for m in st] == versions
    if pg_server.major >= 16:
        assert r.code == 0, r.stderr
        assert all(m["applied"] for m in st) and len(st) == 342
    else:
        # upstream lemmy requires PostgreSQL 16 from this migration on: the runner stops there, with
        # the file and line, and everything before it stays applied
        assert r.code == 1
        assert f"{LEMMY_NEEDS_PG16}_smoosh-tables-together.up.sql:13: subquery in FROM must have an alias" \
            in r.stderr
        applied = [m["version"] for m in st if m["applied"]]
        assert applied == versions[: versions.index(LEMMY_NEEDS_PG16)]
    r = invoke("migrate", "down", "--to", "20210202153240", cwd=project)
    if pg_server.major < 18:
        # this upstream down drops the NOT NULL constraint by the name PostgreSQL 18 gives it; older
        # servers have no such constraint, so the revert stops there and the migration stays applied
        assert r.code == 1
        assert f"{LEMMY_PG18_DOWN}_no-individual-inboxes.down.sql:4: constraint " \
               '"person_shared_inbox_url_not_null" for table "person" does not exist' in r.stderr
        assert [m["version"] for m in status(project) if m["applied"]][-1] == LEMMY_PG18_DOWN
        return
    assert r.code == 0, r.stderr
    applied = [m["version"] for m in status(project) if m["applied"]]
    assert len(applied) == 70 and applied[-1] == "20210202153240"
    r = invoke("migrate", "down", cwd=project)
    assert r.code == 1
    assert "20210202153240_apub_columns.down.sql" in r.stderr
    assert "cannot drop column inbox_url of table user_" in r.stderr
    assert len([m for m in status(project) if m["applied"]]) == 70
