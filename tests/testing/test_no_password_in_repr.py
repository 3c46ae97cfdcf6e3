"""pytest prints a failing test's fixtures: the plugin's objects never show the server's password."""

from __future__ import annotations

from typing import Any, cast

from confiture_plugins.testing.databases import ConfitureDatabase
from confiture_plugins.testing.server import TestServer

URL = "postgresql://postgres:s3cret-pw@127.0.0.1:5432/postgres"


def test_the_server_and_a_database_hide_the_password() -> None:
    server = TestServer(URL, "CONFITURE_TEST_SERVER_URL")
    db = ConfitureDatabase("confiture_test_x", server.url("confiture_test_x"), cast(Any, None), 0)
    for text in (repr(server), str(server), repr(db)):
        assert "s3cret-pw" not in text
    assert "127.0.0.1" in repr(server)  # still says which server
    assert "confiture_test_x" in repr(db)
