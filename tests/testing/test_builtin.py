"""The built-in tests, run by pytest inside pytest: they pass on a good project and fail clearly on broken downs."""

from __future__ import annotations

import re

import pytest

from .helpers import FORGETS_COLUMN, FORGETS_GRANT, FORGETS_INDEX, write_project

pytest_plugins = ["pytester"]


def test_all_pass_on_a_good_project(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path)
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_down_reverts_exactly PASSED*", "*test_hooks_load PASSED*",
                                 "*test_lint_clean PASSED*", "*test_stairway PASSED*", "*test_upgrade PASSED*"])


def test_a_down_that_forgets_a_column(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, downs=FORGETS_COLUMN)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "stairway or reverts or upgrade")
    result.assert_outcomes(passed=1, failed=2)
    # the stairway trips over the column the down left behind, when it applies the up again
    result.stdout.fnmatch_lines([
        "*test_stairway*",
        'migration 2 (contact_columns), up, stairway: up again after down: migrations/2_contact_columns.up.sql:2: '
        'column "phone" of relation "customer" already exists*'])
    # the exact-revert check names the column, before the stairway would fail
    result.stdout.fnmatch_lines([
        "*test_down_reverts_exactly*",
        "migration 2 (contact_columns): down does not revert up exactly; after up then down the schema differs "
        "from before up in 1 place(s):",
        "  - column public.customer.phone: not there before up, there after up then down: text"])
    out = result.stdout.str()
    assert "Traceback" not in out and "another exception occurred" not in out and not re.search(r"\.py:\d", out)


def test_a_down_that_forgets_an_index(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, downs=FORGETS_INDEX)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "stairway or reverts")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        'migration 3 (email_index), up, stairway: up again after down: *relation "customer_email_idx" already exists*'])
    result.stdout.fnmatch_lines([
        "migration 3 (email_index): down does not revert up exactly;*in 1 place(s):",
        "  - index public.customer_email_idx: not there before up, there after up then down: "
        "CREATE INDEX customer_email_idx ON public.customer USING btree (email)"])


def test_a_down_that_forgets_a_grant(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, downs=FORGETS_GRANT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-v", "-k", "stairway or reverts")
    # GRANT twice is no error: the stairway alone cannot see it, the exact-revert check does
    result.stdout.fnmatch_lines(["*test_stairway PASSED*"])
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "migration 4 (public_read): down does not revert up exactly;*in 1 place(s):",
        "  - grant on table public.customer to PUBLIC: not there before up, there after up then down: SELECT"])


def test_upgrade_names_the_failing_migration(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, ups={3: "CREATE INDEX CONCURRENTLY customer_email_idx ON customer (emial);"})
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "upgrade")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['migration 3 (email_index), up, on an empty database: '
                                 'migrations/3_email_index.up.sql:1: column "emial" does not exist*'])


def test_lint_clean_fails_at_the_configured_level(pytester: pytest.Pytester, server_env: str) -> None:
    # CF123 (prefer text) is a warning: clean at the default level, a failure at "warning"
    write_project(pytester.path, ups={2: "ALTER TABLE customer ADD COLUMN note varchar(20);\n"
                                         "ALTER TABLE customer ADD COLUMN phone text;"})
    pytester.runpytest("-p", "no:cacheprovider", "-k", "lint").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nconfiture_lint_fail_on = warning\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "lint")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["lint findings at or above warning (confiture_lint_fail_on) in the migrations of *",
                                 "*2_contact_columns.up.sql:1:*CF123*"])


def test_lint_clean_fails_on_an_error(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, ups={3: "CREATE INDEX customer_email_idx ON customer (email);"})
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "lint")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*3_email_index.up.sql:1:*CF101*"])


def test_hooks_load_fails_on_a_broken_plugin(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path, config='[plugins]\ndir = "plugins"\n')
    (pytester.path / "plugins").mkdir()
    (pytester.path / "plugins" / "audit.py").write_text("import no_such_module_here\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "hooks")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["the project's plugins do not all load under --strict-plugins: *audit*"
                                 "no_such_module_here*"])
    (pytester.path / "plugins" / "audit.py").write_text("def confiture_configure(config):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "hooks")
    result.assert_outcomes(failed=1)  # named like a hook but not marked @hookimpl: an error under strict
    result.stdout.fnmatch_lines(["*--strict-plugins*"])


def test_the_shop_example_passes(pytester: pytest.Pytester, server_env: str) -> None:
    from ..conftest import REPO

    result = pytester.runpytest("-p", "no:cacheprovider", "-v", str(REPO / "examples" / "shop" / "tests"))
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["rootdir: */examples/shop", "configfile: pytest.ini"])


def test_a_migration_without_down(pytester: pytest.Pytester, server_env: str) -> None:
    write_project(pytester.path)
    (pytester.path / "migrations" / "5_seed.py").write_text(
        "def up(conn):\n    conn.execute(\"INSERT INTO customer (email) VALUES ('a@example.com')\")\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "stairway")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["migration 5 (seed) has no down migration: the stairway cannot revert it; write "
                                 "one, or list 5 in the confiture_irreversible ini option to apply it without "
                                 "reverting"])
    pytester.makeini("[pytest]\nconfiture_irreversible = 5\n")
    pytester.runpytest("-p", "no:cacheprovider", "-k", "stairway").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nconfiture_irreversible = five\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "stairway")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # said once, at start-up
    result.stderr.fnmatch_lines(["*confiture_irreversible = 'five': expected a migration version*"])


def test_a_prelude_is_loaded_before_the_migrations(pytester: pytest.Pytester, server_env: str) -> None:
    # the migrations expect a schema made outside them (an extension, a legacy table...)
    write_project(pytester.path, ups={1: "CREATE TABLE customer (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                                         "email text NOT NULL, account bigint REFERENCES legacy.account);"})
    (pytester.path / "prelude.sql").write_text("CREATE SCHEMA legacy;\nCREATE TABLE legacy.account (id bigint "
                                               "PRIMARY KEY);\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "upgrade or stairway or reverts")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(['*1_customers.up.sql:1: schema "legacy" does not exist*'])
    pytester.makeini("[pytest]\nconfiture_prelude = prelude.sql\n")
    pytester.runpytest("-p", "no:cacheprovider", "-k", "upgrade or stairway or reverts").assert_outcomes(passed=3)
    (pytester.path / "prelude.sql").write_text("CREATE SCHEMA legacy;\nCREATE TABLE legacy.account (id bigint);\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "upgrade")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['migration 1 (customers), up, *: migrations/1_customers.up.sql:1: there is no '
                                 'primary key for referenced table "account"*'])
    (pytester.path / "prelude.sql").write_text("CREATE SCHEMA legacy;\nCREATE TABEL legacy.account (id bigint);\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "upgrade")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*prelude.sql: the prelude failed: syntax error at or near "TABEL"'])
