"""A database URL of another scheme (mysql://) is named as such, not with libpq's 'missing "=" after' message."""

from __future__ import annotations

from pathlib import Path

from ..conftest import invoke


def test_a_mysql_url_is_refused_saying_what_a_postgresql_url_looks_like(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text('database_url = "mysql://app:s3cret-pw@db.example:3306/shop"\n')
    r = invoke("migrate", "status", cwd=tmp_path)
    assert r.code == 2, r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("error: cannot connect to mysql://app:***@db.example:3306/shop (from "), line
    assert line.endswith("confiture.toml): not a PostgreSQL URL (it starts with mysql://): write "
                         "postgresql://user:password@host:port/database"), line
    assert "s3cret-pw" not in r.stdout + r.stderr
