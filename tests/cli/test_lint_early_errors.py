"""Lint refuses its own mistakes before asking the database: a missing path, a pg_version out of range."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import invoke


def _project(tmp_path: Path, extra: str = "") -> Path:
    # a database that refuses the password: lint must not try it before refusing the path
    (tmp_path / "confiture.toml").write_text(
        'database_url = "postgresql://nobody:secret-pw@127.0.0.1:1/nothing"\n' + extra)
    (tmp_path / "migrations").mkdir(exist_ok=True)
    return tmp_path


def test_a_missing_path_is_refused_before_any_connection(tmp_path: Path) -> None:
    r = invoke("lint", "nonexist.sql", cwd=_project(tmp_path))
    assert r.code == 2
    assert r.stderr.strip().splitlines() == ["error: nonexist.sql: no such file or folder"]
    assert "secret-pw" not in r.stderr + r.stdout


@pytest.mark.parametrize("value", ["3", "100", "0"])
def test_pg_version_out_of_range_is_a_config_error(tmp_path: Path, value: str) -> None:
    r = invoke("lint", "--pg-version", "16", "migrations", cwd=_project(tmp_path, f"[lint]\npg_version = {value}\n"))
    assert r.code == 0, r.stderr  # --pg-version wins: the setting is not read
    r = invoke("lint", "migrations", "--no-cache", cwd=_project(tmp_path, f"[lint]\npg_version = {value}\n"))
    assert r.code == 2
    assert "[lint] pg_version must be a major version number such as 16 (9 to 99, as --pg-version)" in r.stderr


def test_pg_version_9_is_any_9x(tmp_path: Path) -> None:
    r = invoke("lint", "migrations", "--no-cache", cwd=_project(tmp_path, "[lint]\npg_version = 9\n"))
    assert r.code == 0, r.stderr
    assert "linting for PostgreSQL 9 (from [lint] pg_version" in r.stderr
