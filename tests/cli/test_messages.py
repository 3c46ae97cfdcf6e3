"""Messages a person can act on: the review gate's list, the pre-flight dry run, files with no
statement, backfill progress after a revert, -C and --fail-on, -v/-q, completion, --format json,
out_of_order and mixed (issue 10, point 3)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pexpect
import psycopg
import pytest
from click.testing import CliRunner, Result

from confiture_core.cli import cli
from confiture_core.errors import HistoryError, MigrationFileError
from confiture_core.lint import replay

from ..conftest import invoke, write
from ..plugins.helpers import add_plugin, configure, rows
from ..runner.test_runner import history, tables


def invoke_cli(project: Path, *args: str) -> Result:
    """``confiture -C PROJECT ARGS`` in process (a ConfitureError is left in ``result.exception``)."""
    return CliRunner().invoke(cli, ["-C", str(project), *args])


def indexes(project: Path, n: int) -> None:
    """Applied: table t. Pending: two safe migrations, then ``n`` CREATE INDEX (blocks-writes) ones."""
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (id int, a int, b int);\n")
    assert invoke("migrate", "up", "--yes", cwd=project).code == 0
    write(m, "2_s.up.sql", "CREATE TABLE s (id int);\n")
    write(m, "3_u.up.sql", "CREATE TABLE u (id int);\n")
    for i in range(n):
        write(m, f"{10 + i}_idx_with_a_rather_long_descriptive_name_{i}.up.sql",
              f"CREATE INDEX t_{i} ON t (id, a, b);\n")


# ------------------------------------------------------------ 1. the gate's list


def test_gate_without_terminal_lists_every_risky_migration_one_per_line(project: Path,
                                                                       db: psycopg.Connection[Any]) -> None:
    indexes(project, 9)
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1
    lines = r.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    assert lines[first].startswith("error: 9 migrations at or above [review] confirm_level blocks-writes, and "
                                   "no terminal to confirm them (nothing was applied)")
    assert "pass --yes" in lines[first]
    listed = lines[first + 1:first + 10]
    assert [line.split(" (")[0] for line in listed] == [f"  {10 + i} idx_with_a_rather_long_descriptive_name_{i}"
                                                       for i in range(9)]
    assert all("(blocks-writes: SHARE on t" in line for line in listed)
    assert max(len(line) for line in lines) < 250
    assert history(db) == [(1, True)]
    # the JSON error document carries the whole message
    r = invoke("migrate", "up", "--format", "json", cwd=project)
    doc = json.loads(r.stdout)
    assert r.code == 1 and doc["ok"] is False and doc["exit_code"] == 1
    assert doc["error"].splitlines()[1:] == listed


def test_dry_run_fail_on_lists_every_migration_at_the_level(project: Path, db: psycopg.Connection[Any]) -> None:
    indexes(project, 7)
    r = invoke("migrate", "up", "--dry-run", "--fail-on", "blocks-writes", cwd=project)
    assert r.code == 1
    lines = r.stderr.splitlines()
    first = lines.index("error: dry run: 7 migrations reach --fail-on blocks-writes:")
    assert [line.split(" (")[0] for line in lines[first + 1:first + 8]] == [
        f"  {10 + i} idx_with_a_rather_long_descriptive_name_{i}" for i in range(7)]
    assert all("(blocks-writes: SHARE on t" in line for line in lines[first + 1:first + 8])


# ------------------------------------------------------- 2. the pre-flight dry run


def test_preflight_says_it_runs_and_sums_up(project: Path, db: psycopg.Connection[Any]) -> None:
    indexes(project, 1)
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 1
    assert "dry run of 3 pending migrations before applying (pass --yes to skip it)" in r.stderr
    assert "dry run: 2 safe, 1 blocks-writes" in r.stderr
    assert r.stderr.index("dry run: 2 safe") < r.stderr.index("error: 1 migration at")
    r = invoke("migrate", "up", "--yes", cwd=project)  # --yes: no pre-flight, so nothing said about one
    assert r.code == 0 and "dry run" not in r.stderr
    assert history(db) == [(1, True), (2, True), (3, True), (10, True)]


def test_preflight_shows_a_progress_bar_in_a_terminal(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    for i in range(1, 9):
        write(m, f"{i}_t{i}.up.sql", f"CREATE TABLE t{i} (id int);\n")
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    env.update(COLUMNS="80", NO_COLOR="1", TERM="xterm")
    child = pexpect.spawn(exe, ["migrate", "up"], cwd=str(project), env=env, encoding="utf-8", timeout=60,
                          dimensions=(24, 80))
    child.expect("dry run of 8 pending migration")
    child.expect(r"dry run[ \d\w]*\s+\S*━")  # the bar, labelled "dry run"
    child.expect("dry run: 8 safe")
    child.expect("applied 8 migration")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "internal error" not in (child.before or "")
    assert len(history(db)) == 8


# ---------------------------------------------------- 3. files with no statement


@pytest.mark.parametrize("text", ["", "  \n\t\n", "-- b (up)\n", "/* nothing */\n-- still nothing\n",
                                  "BEGIN;\nCOMMIT;\n"])
def test_up_file_without_statement_is_refused_before_anything_runs(project: Path, db: psycopg.Connection[Any],
                                                                   text: str) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_b.up.sql", text)
    r = invoke_cli(project, "migrate", "up", "--yes")
    assert isinstance(r.exception, MigrationFileError)
    assert str(r.exception).endswith("2_b.up.sql: has no SQL statement yet (it is empty or holds only comments): "
                                     "write the migration in it, or delete it")
    assert tables(db) == ["confiture_migrations"] and history(db) == []


def test_migrate_new_then_up_names_the_file_to_write(project: Path, db: psycopg.Connection[Any]) -> None:
    r = invoke("migrate", "new", "add users", cwd=project)
    assert r.code == 0
    up = Path(r.stdout.splitlines()[0])
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 2
    assert f"{up.name}: has no SQL statement yet" in r.stderr and "write the migration in it, or delete it" \
        in r.stderr
    assert "applied" not in r.stderr and history(db) == []
    # status and validate read such a file without crashing; validate names it
    r = invoke("migrate", "status", "--format", "json", cwd=project)
    assert r.code == 0 and json.loads(r.stdout)["pending"] == 1
    r = invoke("migrate", "validate", cwd=project)
    assert r.code == 1 and f"{up.name}: has no SQL statement yet" in r.stderr and "Traceback" not in r.stderr



def test_migrate_new_python_then_up_names_the_function_to_write(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: the Python template ran ``SELECT 1`` and was recorded as applied (and reverted) doing nothing."""
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    r = invoke("migrate", "new", "seed", "--python", cwd=project)
    assert r.code == 0
    made = Path(r.stdout.splitlines()[0]).name
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 2, r.stderr
    assert f"{made}:4: up() has no code yet (only a docstring, pass or ...): write the migration in it" in r.stderr
    assert history(db) == []  # refused before anything ran, the SQL migration before it included
    path = project / "migrations" / made
    path.write_text(path.read_text().replace("    ...\n\n\ndef down", "    conn.execute('CREATE TABLE s (x int)')"
                                                                         "\n\n\ndef down", 1))
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    r = invoke("migrate", "down", cwd=project)
    assert r.code in (1, 2) and "down() has no code yet" in r.stderr and "remove down()" in r.stderr
    assert len(history(db)) == 2

def test_empty_down_file_is_refused_and_nothing_is_reverted(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "1_a.down.sql", "DROP TABLE a;\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    write(m, "2_b.down.sql", "-- b (down)\n")
    assert invoke_cli(project, "migrate", "up", "--yes").exit_code == 0
    r = invoke_cli(project, "migrate", "down")
    assert isinstance(r.exception, MigrationFileError)
    assert str(r.exception).endswith("2_b.down.sql: has no SQL statement yet (it is empty or holds only comments): "
                                     "write the statements that revert version 2 in it, or delete it (the "
                                     "migration then cannot be reverted)")
    assert "reverted" not in r.stderr
    assert history(db) == [(1, True), (2, True)] and tables(db) == ["a", "b", "confiture_migrations"]


def test_down_names_every_refused_file_at_once(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "1_a.down.sql", "DROP TABLE a;\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")
    write(m, "2_b.down.sql", "")
    write(m, "3_c.up.sql", "CREATE TABLE c (id int);\n")
    write(m, "3_c.down.sql", "DROP INDEX CONCURRENTLY IF EXISTS nothing;\nDROP TABLE c;\n")
    assert invoke_cli(project, "migrate", "up", "--yes").exit_code == 0
    r = invoke_cli(project, "migrate", "down", "--to", "0")
    assert isinstance(r.exception, MigrationFileError)  # bad files only: exit 2, as for one bad file
    lines = str(r.exception).splitlines()
    assert lines[0] == "refusing to revert (2 problems, nothing was changed):"
    assert lines[1].endswith("3_c.down.sql:1: DROP INDEX CONCURRENTLY cannot run in a transaction block, but this "
                             "file also has 1 other statement(s); split it into two migrations, or put '-- "
                             "confiture: no-transaction' at the top of the file (or mixed = true in the project's "
                             "configuration) to run every statement in autocommit, one at a time")
    assert "2_b.down.sql: has no SQL statement yet" in lines[2]
    assert history(db) == [(1, True), (2, True), (3, True)]


def test_python_migration_is_not_affected(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_py.py", "def up(conn):\n    conn.execute('CREATE TABLE p (id int)')\n")
    assert invoke_cli(project, "migrate", "up", "--yes").exit_code == 0
    assert history(db) == [(1, True)]


# ------------------------------------------------------------- 4. backfill progress

FILL = """
@hookimpl
def confiture_backfill(context):
    if context.migration.version != 1:
        return None

    def batch(b):
        last = b.state.get("last", 0)
        got = b.connection.execute(
            "WITH p AS (SELECT id FROM t WHERE id > %s ORDER BY id LIMIT 10) "
            "UPDATE t SET v = t.id FROM p WHERE t.id = p.id RETURNING t.id", [last]).fetchall()
        if got:
            b.state["last"] = max(r[0] for r in got)
        return len(got)

    return Backfill("fill_v", batch)
"""


def test_down_clears_backfill_progress_so_reapplying_fills_every_row(project: Path,
                                                                     db: psycopg.Connection[Any]) -> None:
    configure(project)
    add_plugin(project, "filler", FILL)
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY, v int);\n"
                           "INSERT INTO t (id) SELECT g FROM generate_series(1, 35) g;\n")
    write(m, "1_t.down.sql", "DROP TABLE t;\n")
    assert invoke_cli(project, "migrate", "up", "--yes").exit_code == 0
    assert rows(db, "SELECT count(*) FILTER (WHERE v = id) FROM t") == [(35,)]
    r = invoke_cli(project, "migrate", "down")
    assert r.exit_code == 0, r.output
    assert rows(db, "SELECT count(*) FROM confiture_migrations_backfills") == [(0,)]
    assert invoke_cli(project, "migrate", "up", "--yes").exit_code == 0
    assert rows(db, "SELECT count(*) FILTER (WHERE v = id) FROM t") == [(35,)]  # all of them again
    assert rows(db, "SELECT rows, done FROM confiture_migrations_backfills") == [(35, True)]


# ------------------------------------------------------------ 5. -C and --fail-on


def test_lint_paths_are_relative_to_project_and_fail_on(project: Path, tmp_path_factory: Any) -> None:
    write(project / "migrations", "1_i.up.sql", "SET lock_timeout = '1s';\nCREATE INDEX i ON orders (id);\n")
    write(project / "migrations", "2_t.up.sql", "SET lock_timeout = '1s';\nCREATE TABLE t (n int);\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    old = os.getcwd()
    os.chdir(elsewhere)  # relative PATHS must be read from -C DIR, not from here

    def lint(*args: str) -> Result:
        return CliRunner().invoke(cli, ["-C", str(project), "lint", "--no-cache", *args])

    try:
        r = lint("--format", "json", "migrations/1_i.up.sql")
        assert r.exit_code == 1, r.output  # CF101 (error): a non-concurrent index
        assert [f["path"] for f in json.loads(r.stdout)["files"]] == ["migrations/1_i.up.sql"]
        assert lint("--select", "CF122", "migrations/2_t.up.sql").exit_code == 0  # a warning only
        for option in ("--fail-on", "--fail-level"):
            assert lint("--select", "CF122", option, "warning", "migrations/2_t.up.sql").exit_code == 1
        bad = lint("--fail-on", "error", "--fail-level", "warning")
        assert bad.exit_code == 2 and "disagree" in bad.output
        help_text = CliRunner().invoke(cli, ["lint", "--help"]).output
        assert "--fail-on" in help_text and "--fail-level" not in help_text
        # --config relative to -C too
        (project / "alt.toml").write_text((project / "confiture.toml").read_text() + 'migrations_dir = "m2"\n')
        write(project / "m2", "1_x.up.sql", "CREATE TABLE x (id int);\n")
        r = CliRunner().invoke(cli, ["-C", str(project), "--config", "alt.toml", "lint", "--no-cache",
                                     "--format", "json"])
        assert r.exit_code == 0, r.output
        assert [f["path"] for f in json.loads(r.stdout)["files"]] == ["m2/1_x.up.sql"]
        # the replay's reading of the same command line agrees
        inv = replay.parse_invocation(["-C", str(project), "--config", "alt.toml", "lint"])
        assert inv is not None and inv.config == os.path.realpath(project / "alt.toml")
        assert inv.memo_folders() == [os.path.join(os.path.realpath(project), ".confiture", "lint-cache")]
    finally:
        os.chdir(old)


# ------------------------------------------------ 6. -v/-q, completion, --format json


def test_quiet_and_verbose_before_or_after_the_command(project: Path, db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "1_a.down.sql", "DROP TABLE a;\n")
    r = invoke_cli(project, "-q", "migrate", "up", "--yes")
    assert r.exit_code == 0 and r.stderr == ""
    r = invoke_cli(project, "migrate", "down", "-v")
    assert r.exit_code == 0
    assert "1_a.down.sql:1: DROP TABLE a (" in r.stderr and "ms" in r.stderr
    assert "database: " in r.stderr and "reverted 1 migration\n" in r.stderr
    r = invoke_cli(project, "migrate", "up", "--yes", "--quiet")
    assert r.exit_code == 0 and r.stderr == ""
    r = invoke_cli(project, "migrate", "status", "-q")  # the command's own output stays
    assert r.exit_code == 0 and "1 applied" in r.stderr
    r = invoke_cli(project, "-q", "migrate", "up", "-v")
    assert r.exit_code == 2 and "-q/--quiet and -v/--verbose do not go together" in r.stderr
    assert "--quiet" in CliRunner().invoke(cli, ["lint", "--help"]).output
    assert "--verbose" in CliRunner().invoke(cli, ["migrate", "new", "--help"]).output


def test_verbose_hides_passwords_in_statements(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_r.up.sql", "CREATE TABLE r (id int);\nCOMMENT ON TABLE r IS 'x';\n"
                                                "SELECT 'PASSWORD ' || 'no';\n")
    r = invoke_cli(project, "-v", "migrate", "up", "--yes")
    assert r.exit_code == 0 and "1_r.up.sql:2: COMMENT ON TABLE r IS 'x'" in r.stderr


def test_shell_completion(project: Path) -> None:
    r = invoke(cwd=project, env={"_CONFITURE_COMPLETE": "bash_source"})
    assert r.code == 0 and "_confiture_completion" in r.stdout
    r = invoke(cwd=project, env={"_CONFITURE_COMPLETE": "bash_complete", "COMP_WORDS": "confiture mig",
                                  "COMP_CWORD": "1"})
    assert r.code == 0 and "plain,migrate" in r.stdout.splitlines()


def test_format_json_on_init_new_baseline_repair(tmp_path: Path, database_url: str) -> None:
    r = CliRunner().invoke(cli, ["-C", str(tmp_path), "init", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc == {"ok": True, "config_file": str(tmp_path / "confiture.toml"),
                   "migrations_dir": str(tmp_path / "migrations")}
    r = CliRunner().invoke(cli, ["-C", str(tmp_path), "migrate", "new", "first one", "--format", "json"])
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["name"] == "first_one" and len(doc["files"]) == 2
    assert all(Path(f).exists() for f in doc["files"])
    r = CliRunner().invoke(cli, ["-C", str(tmp_path), "--database-url", database_url, "migrate", "baseline", "7",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"ok": True, "baseline": "7", "tracking_table": "confiture_migrations"}
    r = CliRunner().invoke(cli, ["-C", str(tmp_path), "--database-url", database_url, "migrate", "repair",
                                 "--format", "json"])
    assert json.loads(r.stdout) == {"ok": True, "changes": []}


# ------------------------------------------------------------------ 7. out_of_order


def late(project: Path) -> None:
    m = project / "migrations"
    write(m, "3_c.up.sql", "CREATE TABLE c (id int);\n")
    assert invoke("migrate", "up", "--yes", cwd=project).code == 0
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_b.up.sql", "CREATE TABLE b (id int);\n")


def test_out_of_order_warning_is_printed_once(project: Path, db: psycopg.Connection[Any]) -> None:
    late(project)
    r = invoke("migrate", "up", cwd=project)  # the pre-flight dry run, then the real run
    assert r.code == 0, r.stderr
    assert r.stderr.count("older than the newest applied one (3)") == 1
    assert r.stderr.count("nothing to migrate") == 0
    assert history(db) == [(1, True), (2, True), (3, True)]
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0 and r.stderr.count("nothing to migrate") == 1


def test_out_of_order_allow_and_refuse(project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    late(project)
    cfg = project / "confiture.toml"
    cfg.write_text(f'database_url = "{database_url}"\nout_of_order = "refuse"\n')
    r = invoke_cli(project, "migrate", "up", "--yes")
    assert isinstance(r.exception, HistoryError)
    assert str(r.exception).splitlines() == [
        'refusing to migrate: 2 pending migrations older than the newest applied one (3), and out_of_order = '
        '"refuse" in confiture.toml: give them versions above 3, or set out_of_order = "allow" (nothing was '
        'changed):', f"  {project / 'migrations' / '1_a.up.sql'}", f"  {project / 'migrations' / '2_b.up.sql'}"]
    assert history(db) == [(3, True)]
    cfg.write_text(f'database_url = "{database_url}"\nout_of_order = "allow"\n')
    r = invoke_cli(project, "migrate", "up", "--yes")
    assert r.exit_code == 0 and "older than" not in r.stderr
    assert history(db) == [(1, True), (2, True), (3, True)]


def test_out_of_order_bad_value_is_a_config_error(project: Path, database_url: str) -> None:
    (project / "confiture.toml").write_text(f'database_url = "{database_url}"\nout_of_order = "sometimes"\n')
    r = invoke("migrate", "status", cwd=project)
    assert r.code == 2
    assert r.stderr.strip() == (f"error: {project / 'confiture.toml'}: out_of_order = 'sometimes'; expected "
                                '"warn" (apply with a warning), "allow" or "refuse"')


# ------------------------------------------------------------------------ 8. mixed

MIXED = "CREATE TABLE {t} (id int);\nCREATE INDEX CONCURRENTLY {t}_id ON {t} (id);\n"


def test_mixed_files_refused_all_named_unless_mixed_is_set(project: Path, database_url: str,
                                                          db: psycopg.Connection[Any]) -> None:
    m = project / "migrations"
    write(m, "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "2_m.up.sql", MIXED.format(t="m"))
    write(m, "3_n.up.sql", MIXED.format(t="n"))
    r = invoke_cli(project, "migrate", "up", "--yes")
    assert isinstance(r.exception, MigrationFileError)
    lines = str(r.exception).splitlines()
    assert lines[0] == "refusing to migrate (2 problems, nothing was changed):"
    assert "2_m.up.sql:2: CREATE INDEX CONCURRENTLY cannot run in a transaction block" in lines[1]
    assert "3_n.up.sql:2: CREATE INDEX CONCURRENTLY cannot run in a transaction block" in lines[2]
    assert history(db) == []

    def lint_codes() -> list[str]:
        r = CliRunner().invoke(cli, ["-C", str(project), "lint", "--no-cache", "--format", "json", "--select",
                                     "CF1"])
        return sorted(v["code"] for v in json.loads(r.stdout)["violations"])

    assert lint_codes().count("CF003") == 2
    (project / "confiture.toml").write_text(f'database_url = "{database_url}"\nmixed = true\n')
    assert "CF003" not in lint_codes()
    r = invoke("migrate", "up", cwd=project)  # the pre-flight dry run reports them as not executed
    assert r.code == 0, r.stderr
    assert history(db) == [(1, True), (2, True), (3, True)]
    assert rows(db, "SELECT indexname FROM pg_indexes WHERE tablename IN ('m', 'n') ORDER BY 1") == [
        ("m_id",), ("n_id",)]


def test_mixed_must_be_a_boolean(project: Path, database_url: str) -> None:
    (project / "confiture.toml").write_text(f'database_url = "{database_url}"\nmixed = "yes"\n')
    r = invoke("migrate", "status", cwd=project)
    assert r.code == 2 and "mixed = 'yes'; expected true or false" in r.stderr


def test_the_gate_says_notes_and_notices_once(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: the review gate's dry run and the real run both printed each note ("skipped BEGIN") and each
    NOTICE from the server, so every one appeared twice."""
    write(project / "migrations", "1_a.up.sql",
          "BEGIN;\nCREATE TABLE a (id int);\nDO $$ BEGIN RAISE NOTICE 'hello from the migration'; END $$;\nCOMMIT;\n")
    r = invoke("migrate", "up", cwd=project)
    assert r.code == 0, r.stderr
    assert "dry run of 1 pending migration before applying (pass --yes" in r.stderr
    assert r.stderr.count("hello from the migration") == 1, r.stderr
    assert r.stderr.count("skipped BEGIN") == 1, r.stderr
    r = invoke("migrate", "up", "--dry-run", cwd=project)  # the dry run asked for shows them
    assert "nothing to migrate" in r.stderr
