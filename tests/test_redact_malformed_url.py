"""A database URL whose password has an unescaped ``/``, ``?``, ``#`` or ``@`` (or whose scheme lacks a
slash) never shows its password, nor a piece of it, in any output: libpq reads such a URL another way and
quotes the password's pieces as a host or a port in its error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confiture_core.config import redact_url, scrub

from .conftest import invoke

SECRET = "Zq9Fake"
TAIL = "Tk7Fake"

MALFORMED = [
    f"postgresql://app:{SECRET}/{TAIL}@127.0.0.1:1/prod",
    f"postgresql://app:{SECRET}?{TAIL}@127.0.0.1:1/prod",
    f"postgresql://app:{SECRET}#{TAIL}@127.0.0.1:1/prod",
    f"postgresql://app:{SECRET}@{TAIL}@127.0.0.1:1/prod",
    f"postgresql:/app:{SECRET}{TAIL}@127.0.0.1:1/prod",
]


@pytest.mark.parametrize("url", MALFORMED)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_malformed_url_never_shows_its_password(tmp_path: Path, url: str, fmt: str) -> None:
    (tmp_path / "migrations").mkdir()
    r = invoke("-C", str(tmp_path), "--database-url", url, "-v", "migrate", "status", "--format", fmt)
    assert r.code == 2, r.stderr
    both = r.stdout + r.stderr
    assert SECRET not in both and TAIL not in both, both
    assert "error: cannot connect to " in r.stderr and "Traceback" not in both
    assert "app:***@127.0.0.1:1/prod" in r.stderr  # the URL is still recognisable
    if fmt == "json":
        assert json.loads(r.stdout)["exit_code"] == 2


@pytest.mark.parametrize("url, shown", [
    ("postgresql://app:s3c/ret@db/prod", "postgresql://app:***@db/prod"),
    ("postgresql://app:p@ss@db:5432/prod?sslmode=require", "postgresql://app:***@db:5432/prod?sslmode=require"),
    ("postgresql://app@db/prod?password=x1y2&sslmode=require", "postgresql://app@db/prod?password=***&sslmode=require"),
    # no password: shown as written (a socket folder in the query, an @ in the query, IPv6)
    ("postgresql:///prod?host=/var/run/postgresql", "postgresql:///prod?host=/var/run/postgresql"),
    ("postgresql://db:5432/prod?application_name=a@b", "postgresql://db:5432/prod?application_name=a@b"),
    ("postgresql://[::1]:5432/prod", "postgresql://[::1]:5432/prod"),
    ("host=db password='a b' dbname=prod", "host=db password=*** dbname=prod"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_an_empty_password_does_not_scrub_everything() -> None:
    assert scrub("connection refused", "postgresql://app:@db/prod") == "connection refused"


def test_an_at_sign_in_the_query_does_not_hide_the_host() -> None:
    assert redact_url("postgresql://app:pw@db/prod?application_name=deploy@ci") == \
        "postgresql://app:***@db/prod?application_name=deploy@ci"
