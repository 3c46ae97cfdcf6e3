"""`migrate up --dry-run` on the embedded dev server: on a template copy of its database, or rolled back when in use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun.place import Place, on_dev_copy
from confiture_core.embedded import stop_server

from ..conftest import invoke, write


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project with no database URL (the embedded dev server, stopped afterwards), dry runs where they default."""
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)
    write(tmp_path / "migrations", "1_a.up.sql", "CREATE TABLE a (id serial PRIMARY KEY, n int);\n"
                                                 "INSERT INTO a (n) VALUES (1);\n")
    write(tmp_path / "migrations", "2_b.up.sql", "ALTER TABLE a ADD COLUMN c int;\nUPDATE a SET n = 2;\n")
    write(tmp_path / "migrations", "3_c.up.sql", "UPDATE a SET n = 3;\n")
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    yield tmp_path
    stop_server(tmp_path / ".confiture" / "pgdata")


def _dry(dev: Path) -> tuple[dict[str, object], str]:
    got = invoke("migrate", "up", "--dry-run", "--format", "json", cwd=dev)
    assert got.code == 0, got.stderr
    return json.loads(got.stdout), got.stderr


def test_dev_server_dry_runs_on_a_copy_unless_someone_is_connected(dev: Path) -> None:
    doc, _err = _dry(dev)
    assert doc["where"] == "copy"
    migrations = {int(m["version"]): m for m in doc["migrations"]}  # type: ignore[attr-defined]
    locks = {(lk["relation"], lk["mode"], lk["inferred"]) for s in migrations[3]["statements"] for lk in s["locks"]}
    assert ("a", "ROW EXCLUSIVE", False) in locks  # its own lock, measured, not a held ACCESS EXCLUSIVE
    status = invoke("migrate", "status", "--format", "json", cwd=dev)
    url = json.loads(status.stdout)["database"]
    with psycopg.connect(url) as other:  # the dev database was not touched, and is now in use
        assert other.execute("SELECT to_regclass('a') IS NULL").fetchone() == (True,)
        doc, err = _dry(dev)
    assert doc["where"] == "target"
    assert "dry run on the development database itself, rolled back" in err and "other session" in err


def test_where_decides_the_copy(tmp_path: Path) -> None:
    cfg = load_config(None, cwd=tmp_path)
    assert on_dev_copy(cfg, Place(), target_is_dev_server=True, env={})
    assert not on_dev_copy(cfg, Place(where="target"), target_is_dev_server=True, env={})
    assert not on_dev_copy(cfg, Place(), target_is_dev_server=True, env={"CONFITURE_DRY_RUN_WHERE": "target"})
    assert not on_dev_copy(cfg, Place(), target_is_dev_server=False, env={})
