"""Bad input found by trying to break Confiture (issue 10, point 4): each case gets a one-line
error naming the path, exit 2 (bad input or config) or 1 (a failed migration), no traceback, and
nothing half-applied."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.errors import ConfigError, MigrationFileError
from confiture_core.migrations import discover

from ..conftest import CliResult, invoke, write
from ..runner.test_runner import history, tables


def one_line_error(r: CliResult, code: int) -> str:
    """The run's only error line (asserting the exit code and that no traceback was printed)."""
    assert r.code == code, (r.code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    # `lint` reports usage errors as click does ("Error: ...")
    errors = ["error: " + line[7:] for line in r.stderr.splitlines() if line.startswith(("error: ", "Error: "))]
    assert len(errors) == 1, r.stderr
    return errors[0]


# ---------------------------------------------------------------- migration files


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: (d / "2_b.up.sql").mkdir(),
     "migrations/2_b.up.sql: is a folder, not a file, but named like a migration; rename or remove it"),
    (lambda d: (d / "2_b.up.sql").symlink_to("nowhere.sql"),
     "migrations/2_b.up.sql: symbolic link to nowhere.sql, which does not exist; point it at the migration file "
     "or remove it"),
    (lambda d: (d / "2_b.up.sql").symlink_to("2_b.up.sql"),
     "migrations/2_b.up.sql: symbolic link loop (it never reaches a file); point it at the migration file or "
     "remove it"),
    (lambda d: os.mkfifo(d / "2_b.py"),
     "migrations/2_b.py: is a FIFO, socket or device, not a file, but named like a migration; rename or remove it"),
], ids=["folder", "dangling-symlink", "symlink-loop", "fifo"])
def test_migration_entry_that_is_not_a_file_is_refused(project: Path, db: psycopg.Connection[Any], make: Any,
                                                       expected: str) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (x int);\n")
    make(project / "migrations")
    for args in (("migrate", "status"), ("migrate", "up", "--yes")):
        r = invoke(*args, cwd=project)
        assert one_line_error(r, 2) == f"error: {expected}"
    assert tables(db) == []  # nothing applied, not even the tracking table


def test_folders_not_named_like_migrations_and_good_symlinks_still_work(project: Path, tmp_path: Path) -> None:
    mig = project / "migrations"
    (mig / "archive").mkdir()
    (mig / "__pycache__").mkdir()
    write(tmp_path, "shared.sql", "CREATE TABLE s (x int);\n")
    (mig / "1_s.up.sql").symlink_to(tmp_path / "shared.sql")
    assert [m.version for m in discover(mig)] == [1]


def test_python_migration_generator_up_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_gen.py",
          "def up(conn):\n    conn.execute('CREATE TABLE g (x int)')\n    yield\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert one_line_error(r, 2) == ("error: refusing to migrate: migrations/1_gen.py:1: up() is a generator "
                                    "function (it uses yield), so calling it would run none of its body: remove "
                                    "the yield")
    assert history(db) == []
    with pytest.raises(MigrationFileError, match=r"1_gen.py:1: up\(\) is a generator function"):
        discover(project / "migrations")[0].module()


def test_python_migration_down_generator_is_refused(project: Path) -> None:
    write(project / "migrations", "1_gen.py",
          "def up(conn):\n    pass\n\n\ndef down(conn):\n    yield conn.execute('DROP TABLE g')\n")
    with pytest.raises(MigrationFileError, match=r"1_gen.py:5: down\(\) is a generator function"):
        discover(project / "migrations")[0].module()


def test_python_migration_not_utf8_is_refused_like_sql(project: Path, db: psycopg.Connection[Any]) -> None:
    mig = project / "migrations"
    mig.joinpath("1_latin.py").write_bytes(b"# caf\xe9\ndef up(conn):\n    conn.execute('CREATE TABLE g (x int)')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert one_line_error(r, 2) == ("error: refusing to migrate: migrations/1_latin.py:1: not valid UTF-8 at byte 5; "
                                    "save the file as UTF-8")
    assert history(db) == [] and tables(db) == ["confiture_migrations"]
    mig.joinpath("1_latin.py").unlink()
    mig.joinpath("1_latin.up.sql").write_bytes(b"-- caf\xe9\nCREATE TABLE g (x int);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert one_line_error(r, 2) == ("error: refusing to migrate: migrations/1_latin.up.sql:1: not valid UTF-8 at "
                                    "byte 6; save the file as UTF-8")


# ---------------------------------------------------------------- configuration


def test_config_file_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").mkdir()
    (tmp_path / "migrations").mkdir()
    expected = (f"error: {tmp_path / 'confiture.toml'}: is a folder, not a config file; remove or rename it (the "
                "configuration must be a TOML file)")
    for args in (("migrate", "status"), ("--config", "confiture.toml", "migrate", "status"), ("migrate", "new", "x")):
        r = invoke(*args, cwd=tmp_path)
        assert one_line_error(r, 2) == expected
    assert not (tmp_path / ".confiture").exists()  # no embedded server was started
    assert list((tmp_path / "migrations").iterdir()) == []


def test_config_file_that_is_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").symlink_to("elsewhere.toml")
    with pytest.raises(ConfigError, match=r"confiture.toml: is a symbolic link to nothing, not a config file"):
        load_config(cwd=tmp_path)


def test_config_value_is_checked_at_load_whatever_the_command(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text('[review]\nconfirm_level = "bogus"\n')
    expected = (f"error: {tmp_path / 'confiture.toml'}: [review] confirm_level: unknown risk level 'bogus'; "
                "expected one of safe, blocks-writes, blocks-reads-writes, rewrites-table, destructive")
    for args in (("migrate", "status"), ("migrate", "new", "x"), ("plugins",), ("lint",)):
        r = invoke(*args, cwd=tmp_path)
        assert one_line_error(r, 2) == expected, args
    assert list((tmp_path / "migrations").iterdir()) == []


@pytest.mark.parametrize(("toml", "message"), [
    ('[review]\nconfirm_level = 3\n', "[review] confirm_level must be a risk level (a string), not int"),
    ('[dry_run]\nlock_timeout = "soon"\n',
     "[dry_run] lock_timeout = 'soon' is not a duration; use e.g. \"5s\", \"500ms\" or \"0\""),
    ('[lint]\nselect = 3\n', "[lint] select must be a list of rule codes, groups or names"),
    ('[lint]\nignore = [1]\n', "[lint] ignore must be a list of rule codes, groups or names"),
    ('[lint]\npg_version = "sixteen"\n', "[lint] pg_version must be a major version number such as 16"),
    ('[lint]\ninclude_down = "yes"\n', "[lint] include_down must be true or false"),
    ('[lint]\ncache = 0\n', "[lint] cache must be true or false"),
    ('[lint]\nselct = ["safety"]\n', "unknown [lint] setting(s) selct; known: cache, ignore, include_down, "
                                      "pg_version, select (and [lint.<group or rule>] tables)"),
    ('[plugins]\nallow = "audit"\n', "[plugins] allow must be a list of plugin names"),
    ('[plugins]\ndir = 1\n', "[plugins] dir must be a folder name (a string)"),
    ('[plugins]\nalow = ["audit"]\n', "unknown [plugins] setting(s): alow"),
    ('database_url = 5\n', "database_url must be a non-empty string"),
])
def test_each_setting_is_checked_at_load(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "confiture.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, database_url="postgresql://elsewhere/db")
    assert str(info.value) == f"{tmp_path / 'confiture.toml'}: {message}"


def test_valid_sections_still_load(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text(
        '[review]\nconfirm_level = "rewrites-table"\n[dry_run]\nlock_timeout = "500ms"\n'
        '[lint]\nselect = "safety"\nignore = ["CF101"]\npg_version = 15\ninclude_down = true\ncache = false\n'
        '[lint.tenancy]\ncolumn = "tenant_id"\n[plugins]\nallow = ["audit"]\ndir = "local"\n[plugins.audit]\nx = 1\n')
    assert load_config(cwd=tmp_path).section("review") == {"confirm_level": "rewrites-table"}


# ---------------------------------------------------------------- the tracking table


TRACKING = '"public"."confiture_migrations"'


@pytest.mark.parametrize(("sql", "line"), [
    ("CREATE TABLE a (x int);\n\nDROP TABLE confiture_migrations;\n", 3),
    ("CREATE TABLE a (x int);\nALTER TABLE public.confiture_migrations RENAME TO old;\n", 2),
    ("DROP SCHEMA public CASCADE;\n", 1),
])
def test_migration_dropping_the_tracking_table_is_one_line(project: Path, db: psycopg.Connection[Any], sql: str,
                                                           line: int) -> None:
    write(project / "migrations", "1_drop.up.sql", sql)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert one_line_error(r, 1) == (f"error: migrations/1_drop.up.sql:{line}: drops or renames the tracking table "
                                    f"{TRACKING}, where Confiture records applied migrations; nothing was applied: "
                                    "remove that statement")
    assert "LINE 1" not in r.stderr
    assert tables(db) == ["confiture_migrations"] and history(db) == []


def test_python_migration_dropping_the_tracking_table(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_py.py", "def up(conn):\n    conn.execute('DROP TABLE confiture_migrations')\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert one_line_error(r, 1) == (f"error: migrations/1_py.py: up() dropped or renamed the tracking table "
                                    f"{TRACKING}, where Confiture records applied migrations; nothing was applied: "
                                    "leave the tracking table alone")
    assert tables(db) == ["confiture_migrations"]


def test_hook_dropping_the_tracking_table_names_plugin_and_hook(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_t.up.sql", "CREATE TABLE t (x int);\n")
    write(project, "dropper.py", "from confiture_core.hookspecs import hookimpl\n\n\n@hookimpl\n"
                                 "def confiture_after_migration(context):\n"
                                 "    context.connection.execute('DROP TABLE confiture_migrations')\n")
    r = invoke("-p", "dropper", "migrate", "up", "--yes", cwd=project, env={"PYTHONPATH": str(project)})
    assert one_line_error(r, 1) == (f"error: plugin 'dropper' (confiture_after_migration) dropped or renamed the "
                                    f"tracking table {TRACKING} while migration 1 (t) ran; nothing was applied: a "
                                    "hook must not touch the tracking table")
    assert tables(db) == ["confiture_migrations"] and history(db) == []


# ---------------------------------------------------------------- --to


def three(project: Path) -> None:
    for v in (10, 20, 30):
        write(project / "migrations", f"{v}_t{v}.up.sql", f"CREATE TABLE t{v} (x int);\n")
        write(project / "migrations", f"{v}_t{v}.down.sql", f"DROP TABLE t{v};\n")


def test_up_to_a_version_no_migration_has_is_refused(project: Path, db: psycopg.Connection[Any]) -> None:
    three(project)
    for args, near in ((("--to", "999", "--yes"), "30 below"), (("--to", "15", "--yes"), "10 below, 20 above"),
                       (("--to", "15", "--dry-run"), "10 below, 20 above"), (("--to", "15"), "10 below, 20 above")):
        r = invoke("migrate", "up", *args, cwd=project)
        version = args[1]
        assert one_line_error(r, 2) == (f"error: --to {version}: no migration has version {version} (nearest: "
                                        f"{near}); give a migration's version")
    assert tables(db) == []  # nothing applied, not even the tracking table created
    assert invoke("migrate", "up", "--to", "20", "--yes", cwd=project).code == 0
    assert history(db) == [(10, True), (20, True)]


def test_down_to_a_version_no_migration_has_is_refused_and_0_reverts_everything(
        project: Path, db: psycopg.Connection[Any]) -> None:
    three(project)
    assert invoke("migrate", "up", "--yes", cwd=project).code == 0
    r = invoke("migrate", "down", "--to", "5", cwd=project)
    assert one_line_error(r, 2) == ("error: --to 5: no migration has version 5 (nearest: 10 above); give a "
                                    "migration's version; --to 0 reverts every migration")
    r = invoke("migrate", "down", "--to", "25", cwd=project)
    assert one_line_error(r, 2).startswith("error: --to 25: no migration has version 25 (nearest: 20 below, 30 above)")
    assert len(history(db)) == 3
    r = invoke("migrate", "down", "--to", "0", cwd=project)
    assert r.code == 0, r.stderr
    assert tables(db) == ["confiture_migrations"] and history(db) == []


# ---------------------------------------------------------------- plugins


@pytest.mark.parametrize(("call", "shown_call"), [("sys.exit(5)", "sys.exit(5)"), ("sys.exit()", "sys.exit()"),
                                                  ("sys.exit('bye')", "sys.exit('bye')")])
def test_p_module_calling_sys_exit_at_import_is_named(project: Path, call: str, shown_call: str) -> None:
    write(project, "exiter.py", f"import sys\n\n{call}\n")
    r = invoke("-p", "exiter", "migrate", "status", cwd=project, env={"PYTHONPATH": str(project)})
    assert one_line_error(r, 2) == (f"error: plugin 'exiter' (-p): called {shown_call} while being imported; a "
                                    "plugin must not exit: remove the call, or block the plugin with "
                                    "--disable-plugin exiter")


# ---------------------------------------------------------------- lint


def _lint_project(tmp_path: Path) -> Path:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    write(tmp_path / "migrations" / "sub", "1_a.up.sql", "CREATE TABLE a (x bigint);\n")
    return tmp_path


@pytest.mark.parametrize("unreadable", ["migrations", "migrations/sub"])
def test_lint_on_an_unreadable_folder_fails(tmp_path: Path, unreadable: str) -> None:
    """The real CLI on a chmod 000 folder. Root reads it anyway (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
    as root the command runs under setpriv with both capabilities dropped from its bounding set."""
    proj = _lint_project(tmp_path)
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent))
    assert exe is not None
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux); "
                        "test_lint_folder_that_cannot_be_listed_in_process covers the code path")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    folder = proj / unreadable
    folder.chmod(0)
    try:
        proc = subprocess.run([*prefix, exe, "lint", "--no-cache"], cwd=proj, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "NO_COLOR": "1"})
    finally:
        folder.chmod(0o755)
    r = CliResult(proc.returncode, proc.stdout, proc.stderr)
    assert one_line_error(r, 2) == (f"error: {folder}: cannot read the folder: Permission denied; fix its "
                                    "permissions or give other PATHS")
    assert r.stdout == ""


def test_lint_folder_that_cannot_be_listed_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same code path in-process: listing the folder fails (as an I/O error on a broken disk or a
    stale network mount would)."""
    from click.testing import CliRunner

    from confiture_core.cli import cli
    from confiture_core.lint import files as lint_files

    proj = _lint_project(tmp_path)
    broken = str(proj / "migrations" / "sub")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path) == broken:
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        return real_scandir(path)

    monkeypatch.setattr(lint_files.os, "scandir", scandir)
    r = CliRunner().invoke(cli, ["--project", str(proj), "lint", "--no-cache"])
    assert r.exit_code == 2, r.output
    assert f"{broken}: cannot read the folder: Input/output error; fix its permissions or give other PATHS" in r.output
    assert "No findings" not in r.output


# ---------------------------------------------------------------- a Python migration ending its transaction


def test_python_migration_rolling_back_then_going_on_applies_nothing(project: Path,
                                                                     db: psycopg.Connection[Any]) -> None:
    """A ROLLBACK statement, then writes whose error the migration swallows: nothing persists, the run
    fails, the migration stays pending; the session is not left read-only for what follows."""
    write(project / "migrations", "1_py.py",
          "def up(conn):\n    conn.execute('CREATE TABLE r1 (x int)')\n    conn.execute('ROLLBACK')\n"
          "    try:\n        conn.execute('CREATE TABLE r2 (x int)')\n    except Exception:\n        pass\n"
          "    conn.execute('CREATE TEMP TABLE scratch (x int)')\n")
    write(project, "logger.py", "from confiture_core.hookspecs import hookimpl\n\n\n@hookimpl\n"
                                "def confiture_on_error(context, error):\n"
                                "    context.connection.execute('CREATE TABLE error_log (x int)')\n")
    r = invoke("-p", "logger", "migrate", "up", "--yes", cwd=project, env={"PYTHONPATH": str(project)})
    assert one_line_error(r, 1) == ("error: migrations/1_py.py:8: up() rolled back the runner's transaction "
                                    "(conn.rollback() or a ROLLBACK statement); nothing it did was applied: a "
                                    "transactional Python migration must not end its transaction (raise to fail "
                                    "it, or set transactional = False to manage transactions yourself)")
    # the on_error hook could still write (the session is read-write again)
    assert tables(db) == ["confiture_migrations", "error_log"] and history(db) == []
    write(project / "migrations", "1_py.py", "def up(conn):\n    conn.execute('CREATE TABLE ok1 (x int)')\n")
    write(project / "migrations", "2_s.up.sql", "CREATE TABLE ok2 (x int);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert tables(db) == ["confiture_migrations", "error_log", "ok1", "ok2"]
    assert history(db) == [(1, True), (2, True)]


# ---------------------------------------------------------------- an INVALID index left by CREATE INDEX CONCURRENTLY


DROP_HINT = ("it left an INVALID index: public.t_x_uniq: run `DROP INDEX CONCURRENTLY IF EXISTS public.t_x_uniq;` "
             "then `confiture migrate repair`, which makes the migration pending again")


def test_failed_concurrent_index_names_the_invalid_index_everywhere(project: Path,
                                                                    db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (1)")
    write(project / "migrations", "1_idx.up.sql", "CREATE UNIQUE INDEX CONCURRENTLY t_x_uniq ON t (x);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    line = one_line_error(r, 1)
    assert line.startswith('error: migrations/1_idx.up.sql:1: could not create unique index "t_x_uniq" [23505]')
    assert line.endswith(f"It is recorded as failed; {DROP_HINT}")
    for args, code in ((("migrate", "status"), 0), (("migrate", "validate"), 1), (("migrate", "up", "--yes"), 1)):
        r = invoke(*args, cwd=project)
        assert r.code == code and DROP_HINT in r.stderr, (args, r.stderr)
    # regression: repair made the migration pending while the index stayed, so the next up failed with
    # 'relation "t_x_uniq" already exists' and status/validate no longer named the index
    r = invoke("migrate", "repair", cwd=project)
    assert r.code == 1 and "cannot repair migration 1 (idx)" in r.stderr and DROP_HINT in r.stderr
    assert "nothing was changed" in r.stderr
    assert DROP_HINT in invoke("migrate", "status", cwd=project).stderr
    db.execute("DROP INDEX CONCURRENTLY IF EXISTS public.t_x_uniq")
    r = invoke("migrate", "validate", cwd=project)
    assert "INVALID" not in r.stderr and "fix the database by hand" in r.stderr
    assert invoke("migrate", "repair", cwd=project).code == 0


def test_timed_out_concurrent_index_names_the_invalid_index(project: Path, database_url: str,
                                                            db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (x int)")
    (project / "confiture.toml").write_text(f'database_url = "{database_url}"\nstatement_timeout = "500ms"\n')
    write(project / "migrations", "1_idx.up.sql", "CREATE UNIQUE INDEX CONCURRENTLY t_x_uniq ON t (x);\n")
    with psycopg.connect(database_url) as writer:  # an open writing transaction: the build waits for it
        writer.execute("INSERT INTO t VALUES (1)")
        r = invoke("migrate", "up", "--yes", cwd=project)
        writer.rollback()
    line = one_line_error(r, 1)
    assert "canceling statement due to statement timeout [57014]" in line and line.endswith(DROP_HINT)
    r = invoke("migrate", "status", "--format", "json", cwd=project)
    assert DROP_HINT in r.stdout


def test_failed_autocommit_migration_gives_its_advice_once(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: status/validate/up appended "fix the database by hand, then run `confiture migrate repair`"
    to a recorded error that already said to run repair."""
    write(project / "migrations", "1_nt.up.sql",
          "-- confiture: no-transaction\nCREATE TABLE a (id int);\nINSERT INTO nowhere VALUES (1);\n")
    assert invoke("migrate", "up", "--yes", cwd=project).code == 1
    for args in (("migrate", "validate"), ("migrate", "up", "--yes")):
        r = invoke(*args, cwd=project)
        assert r.code == 1 and r.stderr.count("confiture migrate repair") == 1, (args, r.stderr)


def test_lint_refuses_what_migrate_refuses(tmp_path: Path) -> None:
    """Regression: a folder, a dangling symbolic link or a loop named like a migration made `migrate` exit 2,
    but `lint` said "No findings" and exited 0, so CI passed what the deploy then refused."""
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\npg_version = 16\n')
    m = tmp_path / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    (m / "2_b.up.sql").symlink_to("nowhere.sql")
    r = invoke("lint", "--no-cache", cwd=tmp_path)
    assert r.code == 2 and "2_b.up.sql: symbolic link to nowhere.sql, which does not exist" in r.stderr, r.stderr
    (m / "2_b.up.sql").unlink()
    (m / "2_b.up.sql").symlink_to("2_b.up.sql")
    r = invoke("lint", "--no-cache", cwd=tmp_path)
    assert r.code == 2 and "symbolic link loop" in r.stderr


def test_lint_config_errors_read_like_every_other_command(tmp_path: Path) -> None:
    """Regression: lint printed its configuration errors as "Error: ..." (click's style), the other commands
    "error: ..."."""
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\nselect = ["CF999"]\n')
    (tmp_path / "migrations").mkdir()
    r = invoke("lint", "--no-cache", cwd=tmp_path)
    assert r.code == 2 and r.stderr.startswith("error: ") and "Error:" not in r.stderr, r.stderr


def test_a_failed_statement_gives_postgresqls_detail(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: a unique violation named the constraint but not the duplicated key (PostgreSQL's DETAIL)."""
    db.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7), (7)")
    write(project / "migrations", "1_uq.up.sql", "CREATE UNIQUE INDEX t_x ON t (x);\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1 and "Key (x)=(7) is duplicated" in r.stderr, r.stderr
