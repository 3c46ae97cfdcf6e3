"""The plugin's fixtures, by pytest in pytest: on the suite's server, the embedded one, under xdist, free unused."""

from __future__ import annotations

import psycopg
import pytest

from ..conftest import Server
from .helpers import write_project

pytest_plugins = ["pytester"]

USES_FIXTURES = '''
import os
from pathlib import Path

def test_db_is_at_head(confiture_db, confiture_server):
    Path("token").write_text(confiture_server.token)
    assert confiture_db.version == 4
    assert confiture_db.applied_versions() == [1, 2, 3, 4]
    confiture_db.conn.execute("INSERT INTO customer (email) VALUES ('a@example.com')")

def test_each_test_gets_a_fresh_copy(confiture_db):
    assert confiture_db.conn.execute("SELECT count(*) FROM customer").fetchone() == (0,)

def test_db_at_a_version(confiture_db_at):
    db = confiture_db_at(1)
    columns = lambda: [r[0] for r in db.conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'customer'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum")]
    assert columns() == ["id", "email"]
    db.migrate("up", 2)
    assert columns() == ["id", "email", "note", "phone"]
    assert confiture_db_at(0).fingerprint().objects["table"] == {}

def test_runner(confiture_runner):
    assert [e.version for e in confiture_runner.status() if e.applied] == [1, 2, 3, 4]
    result = confiture_runner.down(2)
    assert [r.version for r in result.results] == [4, 3]

def test_names_carry_the_worker(confiture_db):
    assert confiture_db.name.startswith("confiture_test_" + os.environ.get("PYTEST_XDIST_WORKER", "main") + "_")
'''


def _left_over(pg_server: Server, token: str) -> list[str]:
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           [f"confiture_test_%{token}%"])]


def test_fixtures_on_the_server_of_the_environment(pytester: pytest.Pytester, server_env: str,
                                                   pg_server: Server) -> None:
    write_project(pytester.path, tests=USES_FIXTURES)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    assert _left_over(pg_server, (pytester.path / "token").read_text()) == []  # templates and copies dropped


def test_the_server_url_option_wins(pytester: pytest.Pytester, pg_server: Server,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFITURE_TEST_SERVER_URL", "postgresql://nobody@127.0.0.1:1/postgres")
    write_project(pytester.path, tests=USES_FIXTURES)
    result = pytester.runpytest("-p", "no:cacheprovider", "--confiture-server-url", pg_server.url("postgres"),
                                "-k", "head or fresh")
    result.assert_outcomes(passed=2)


def test_an_unreachable_server_is_one_clear_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFITURE_TEST_SERVER_URL", "postgresql://app:s3cret-pw@127.0.0.1:1/postgres")
    write_project(pytester.path, tests=USES_FIXTURES)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "head")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["confiture: cannot connect to the test server postgresql://app:***@127.0.0.1:1/"
                                 "postgres (from CONFITURE_TEST_SERVER_URL): *"])
    assert "s3cret-pw" not in result.stdout.str() and "another exception occurred" not in result.stdout.str()


def test_a_migration_that_fails_in_the_template(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, tests=USES_FIXTURES,
                  ups={3: "CREATE INDEX CONCURRENTLY customer_email_idx ON customer (emial);"})
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "head or fresh")
    result.assert_outcomes(errors=2)  # said for each test, built once
    result.stdout.fnmatch_lines(['migration 3 (email_index), up, building the template database at version 4: '
                                 'migrations/3_email_index.up.sql:1: column "emial" does not exist*'])
    assert "another exception occurred" not in result.stdout.str()


def test_fixtures_on_the_embedded_server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    from confiture_core.embedded import stop_server

    monkeypatch.delenv("CONFITURE_TEST_SERVER_URL", raising=False)
    data = tmp_path_factory.mktemp("embedded") / "pgdata"
    write_project(pytester.path, tests=USES_FIXTURES, config=f'embedded_dir = "{data}"\n')
    try:
        result = pytester.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(passed=5)
        result.stdout.fnmatch_lines([f"confiture: started the embedded PostgreSQL server in {data}; it stays "
                                     "running for the next runs: stop it with `confiture -C * server stop`"])
        # the next run finds it running: nothing to start, nothing said
        again = pytester.runpytest("-p", "no:cacheprovider", "-k", "fresh")
        again.assert_outcomes(passed=1)
        assert "started the embedded" not in again.stdout.str()
    finally:
        stop_server(data)


def test_unused_it_costs_nothing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # an unreachable server and no embedded server: a session that uses no confiture_* fixture never asks
    monkeypatch.setenv("CONFITURE_TEST_SERVER_URL", "postgresql://nobody@127.0.0.1:1/postgres")
    pytester.makepyfile(test_plain='''
        import sys

        def test_plain():
            heavy = [m for m in ("confiture_core.runner", "confiture_core.migrations", "confiture_core.embedded",
                                 "pglast", "confiture_plugins.testing.databases") if m in sys.modules]
            assert heavy == []
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".confiture").exists()
    assert "confiture" in pytester.runpytest_subprocess("--help").stdout.str()


def test_the_options_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--confiture-project=DIR*", "*--confiture-server-url=URL*",
                                 "*confiture_stairway_start*", "*confiture_lint_fail_on*"])


def test_under_xdist_each_worker_has_its_own_databases(pytester: pytest.Pytester, server_env: str,
                                                       pg_server: Server) -> None:
    write_project(pytester.path, tests=USES_FIXTURES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=5)
    assert _left_over(pg_server, (pytester.path / "token").read_text()) == []


def test_the_project_option(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path / "app", tests=USES_FIXTURES)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_m.py").write_text(USES_FIXTURES)
    result = pytester.runpytest("-p", "no:cacheprovider", "tests", "-k", "head")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["confiture: *migrations*"])  # the rootdir has no project
    result = pytester.runpytest("-p", "no:cacheprovider", "tests", "-k", "head", "--confiture-project", "app")
    result.assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nconfiture_project = app\n")
    pytester.runpytest("-p", "no:cacheprovider", "tests", "-k", "head").assert_outcomes(passed=1)


def test_a_database_url_of_the_project_is_never_used(pytester: pytest.Pytester, server_env: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://prod@127.0.0.1:1/prod")
    write_project(pytester.path, tests=USES_FIXTURES, config='database_url = "postgresql://prod@127.0.0.1:1/p"\n')
    pytester.runpytest("-p", "no:cacheprovider", "-k", "head or runner").assert_outcomes(passed=2)


