"""A URL whose password holds an unescaped / or @ fails with libpq reading a host or port from it: the error says
to percent-encode them, and never shows the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.redact import unescaped_in_password

from ..conftest import Server, invoke


@pytest.mark.parametrize(("password", "hint"), [
    ("Zq9/Xv7Kp3", "the password holds '/', which a URL must percent-encode: write %2F"),
    ("Zq9@Xv7Kp3", "the password holds '@', which a URL must percent-encode: write %40"),
    ("Zq9/Xv7@Kp3", "the password holds '/' and '@', which a URL must percent-encode: write %2F and %40"),
])
def test_the_error_says_to_percent_encode(tmp_path: Path, pg_server: Server, password: str, hint: str) -> None:
    (tmp_path / "migrations").mkdir()
    url = f"postgresql://{pg_server.user}:{password}@{pg_server.host}:{pg_server.port}/postgres"
    r = invoke("migrate", "status", cwd=tmp_path, env={"DATABASE_URL": url, "PGCONNECT_TIMEOUT": "3"})
    assert r.code == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to ") and lines[0].endswith(hint)
    for piece in ("Zq9", "Xv7", "Kp3"):
        assert piece not in r.stderr


@pytest.mark.parametrize(("url", "found"), [
    ("postgresql://app:s3c%2Fret@db/prod", []),  # percent-encoded: fine
    ("postgresql://app:s3c?r#et@db/prod", []),  # libpq reads ? and # in the password as written
    ("postgresql://db:5432/prod?sslmode=require", []),
    ("host=db password=a/b@c", []),  # a key/value DSN has no such rule
    ("postgresql://app:a/b@db/prod", ["/"]),
    ("postgresql://app:a@b@db/prod", ["@"]),
])
def test_unescaped_in_password(url: str, found: list[str]) -> None:
    assert unescaped_in_password(url) == found
