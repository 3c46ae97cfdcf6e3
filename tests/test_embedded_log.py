"""The embedded server's log never keeps a failing statement's text (a password in it would stay on disk)."""

from __future__ import annotations

from pathlib import Path

from .conftest import invoke
from .test_embedded import dev_project  # noqa: F401  (fixture)


def test_a_failing_migration_with_a_password_leaves_it_out_of_the_server_log(dev_project: Path) -> None:  # noqa: F811
    (dev_project / "migrations" / "1_role.up.sql").write_text(
        "CREATE ROLE app LOGIN PASSWORD 'hunter2-secret';\nSELECT no_such_column FROM pg_class;\n")
    r = invoke("migrate", "up", "--yes", cwd=dev_project)
    assert r.code == 1, r.stderr
    assert "hunter2-secret" not in r.stdout + r.stderr
    log = (dev_project / ".confiture" / "pgdata" / "log").read_text(errors="replace")
    assert "no_such_column" in log  # the error itself is still logged...
    assert "hunter2-secret" not in log  # ...but not the statement that held the password
    assert "STATEMENT:" not in log
