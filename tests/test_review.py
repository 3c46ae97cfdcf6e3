"""The review gate of ``migrate up``: prompts on a real pseudo-terminal, refusal without one, --yes."""

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

from .conftest import invoke, write


@pytest.fixture
def risky(project: Path, db: psycopg.Connection[Any]) -> Path:
    """Applied: table t. Pending: 2 (safe), 3 (CREATE INDEX: blocks-writes), 4 (safe)."""
    m = project / "migrations"
    write(m, "1_t.up.sql", "CREATE TABLE t (id int);\n")
    assert invoke("migrate", "up", cwd=project).code == 0  # safe: no prompt needed
    write(m, "2_a.up.sql", "CREATE TABLE a (id int);\n")
    write(m, "3_idx.up.sql", "CREATE INDEX t_id ON t (id);\n")
    write(m, "4_b.up.sql", "CREATE TABLE b (id int);\n")
    return project


def applied(db: psycopg.Connection[Any]) -> list[int]:
    return [int(r[0]) for r in db.execute("SELECT version FROM confiture_migrations ORDER BY 1").fetchall()]


def spawn(project: Path, *args: str) -> pexpect.spawn:
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    env["COLUMNS"] = "200"
    return pexpect.spawn(exe, ["migrate", "up", *args], cwd=str(project), env=env, encoding="utf-8", timeout=60)


def test_no_terminal_refuses_and_explains_yes(risky: Path, db: psycopg.Connection[Any]) -> None:
    r = invoke("migrate", "up", cwd=risky)
    assert r.code == 1
    assert "confirm_level blocks-writes" in r.stderr and "--yes" in r.stderr
    assert "3 idx (blocks-writes: SHARE on t)" in r.stderr and "Traceback" not in r.stderr
    assert applied(db) == [1]
    r = invoke("migrate", "up", "--interactive", cwd=risky)
    assert r.code == 2 and "needs a terminal" in r.stderr and "--yes" in r.stderr
    r = invoke("migrate", "up", "--yes", cwd=risky)
    assert r.code == 0, r.stderr
    assert applied(db) == [1, 2, 3, 4]


def test_confirm_level_config(risky: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    (risky / "confiture.toml").write_text(f'database_url = "{database_url}"\n[review]\n'
                                          'confirm_level = "blocks-reads-writes"\n')
    r = invoke("migrate", "up", cwd=risky)
    assert r.code == 0, r.stderr
    assert applied(db) == [1, 2, 3, 4]


def test_bad_confirm_level(risky: Path, database_url: str) -> None:
    (risky / "confiture.toml").write_text(f'database_url = "{database_url}"\n[review]\nconfirm_level = "meh"\n')
    r = invoke("migrate", "up", cwd=risky)
    assert r.code == 2 and "[review] confirm_level" in r.stderr and "unknown risk level 'meh'" in r.stderr


def test_interactive_prompt_yes(risky: Path, db: psycopg.Connection[Any]) -> None:
    # --interactive is the wizard (tests/cli/test_wizard_terminal.py): one screen per migration, [a] applies
    child = spawn(risky, "--interactive")
    child.expect("preflight")
    child.expect(r"\[q\] quit \? ")
    child.send("a")
    # lint findings of the pending file are shown on its screen (CF101: non-concurrent index)
    child.expect("3 idx")
    child.expect("CF101")
    for _ in range(2):
        child.expect(r"\[q\] quit \? ")
        child.send("a")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert applied(db) == [1, 2, 3, 4]
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 't_id'").fetchone() == (1,)


def test_interactive_prompt_no_applies_prefix(risky: Path, db: psycopg.Connection[Any]) -> None:
    child = spawn(risky, "-i")
    child.expect(r"\[q\] quit \? ")
    child.send("a")
    child.expect(r"3 idx")
    child.expect(r"\[q\] quit \? ")
    child.send("q")
    child.expect("left pending: 3 idx")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert applied(db) == [1, 2]


def test_end_of_input_at_the_prompt(risky: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: EOF at the prompt said "the migration in progress was rolled back" when none had started."""
    child = spawn(risky)
    child.expect(r"apply 3 idx .*\? \[y/N\]")
    child.sendeof()
    child.expect("no answer at the prompt \\(end of input\\): nothing was applied")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert applied(db) == [1]


def test_terminal_without_interactive_prompts_too(risky: Path, db: psycopg.Connection[Any]) -> None:
    child = spawn(risky)
    child.expect(r"apply 3 idx .*\? \[y/N\]")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert applied(db) == [1, 2, 3, 4]


def test_hook_closing_connection_in_preflight_does_not_break_real_run(project: Path,
                                                                        db: psycopg.Connection[Any]) -> None:
    """Regression: the real run reused the connection a hook had closed during the pre-flight dry run."""
    (project / "closer.py").write_text(
        "import pluggy\nhookimpl = pluggy.HookimplMarker('confiture')\n\n"
        "@hookimpl\ndef confiture_after_migration(context):\n"
        "    if context.dry_run:\n        context.connection.close()\n")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    r = invoke("-p", "closer", "migrate", "up", cwd=project, env={"PYTHONPATH": str(project)})
    # the pre-flight failed, so nothing could be reviewed: without a terminal that needs --yes
    assert r.code == 1 and "could not be reviewed" in r.stderr and "--yes" in r.stderr
    assert db.execute("SELECT to_regclass('a') IS NULL").fetchone() == (True,)
    r = invoke("-p", "closer", "migrate", "up", "--yes", cwd=project, env={"PYTHONPATH": str(project)})
    assert r.code == 0, r.stderr
    assert applied(db) == [1]


def test_unreviewable_migrations_after_a_failed_preflight_need_yes(project: Path,
                                                                   db: psycopg.Connection[Any]) -> None:
    """Regression: a pre-flight stopped by the enum limit let a later DROP TABLE through without --yes."""
    m = project / "migrations"
    write(m, "1_base.up.sql", "CREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE t (n int, m mood);\n"
                              "INSERT INTO t VALUES (1, 'ok');\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    write(m, "2_enum.up.sql", "ALTER TYPE mood ADD VALUE 'happy';\n")
    write(m, "3_use.up.sql", "UPDATE t SET m = 'happy' WHERE n = 1;\n")
    write(m, "6_drop.up.sql", "DROP TABLE t;\n")
    r = invoke("migrate", "up", "--format", "json", cwd=project)
    assert r.code == 1
    assert "the dry run stopped at migration 3 (use)" in r.stderr and "could not be reviewed" in r.stderr
    assert applied(db) == [1, 2]  # the reviewed ones; 3 and the DROP TABLE in 6 were not
    assert db.execute("SELECT to_regclass('t') IS NOT NULL").fetchone() == (True,)
    # regression: the JSON document said "ok": true while the command exited 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and "could not be reviewed" in doc["error"]
    assert [(m["version"], m["status"]) for m in doc["migrations"]] == [("2", "applied")]
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert applied(db) == [1, 2, 3, 6]


def test_interactive_conflicts_are_usage_errors(risky: Path, db: psycopg.Connection[Any]) -> None:
    # regression: `--dry-run --interactive` without a terminal exited 0 and `--interactive --yes` ignored -i
    for extra in (("--dry-run",), ("--yes",)):
        r = invoke("migrate", "up", "--interactive", *extra, cwd=risky)
        assert r.code == 2, (extra, r.stderr)
        assert f"does not go with {extra[0]}" in r.stderr and "Traceback" not in r.stderr
    assert applied(db) == [1]


def test_lock_wait_in_preflight_applies_the_reviewed_ones(risky: Path, database_url: str,
                                                         db: psycopg.Connection[Any]) -> None:
    """Regression: a lock-timeout stop of the pre-flight applied nothing, whereas any other stop applies the
    migrations reviewed before it (docs/dry-run.md); now both do, and the blocked one is never applied."""
    (risky / "confiture.toml").write_text(f'database_url = "{database_url}"\n[dry_run]\nlock_timeout = "300ms"\n')
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        r = invoke("migrate", "up", cwd=risky)
        holder.rollback()
    assert r.code == 1
    assert "migration 3 (idx) waited more than lock_timeout 300ms" in r.stderr and f"pid {pid}" in r.stderr
    assert "not reviewed" in r.stderr and "--yes" in r.stderr and "Nothing was changed" not in r.stderr
    assert "Traceback" not in r.stderr
    assert applied(db) == [1, 2]  # 2 was reviewed (safe); 3 and 4 were not
    # blocked at the first pending migration: nothing to apply
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        r = invoke("migrate", "up", cwd=risky)
        holder.rollback()
    assert r.code == 1 and "migration 3 (idx) waited" in r.stderr and "Nothing was changed" in r.stderr
    assert applied(db) == [1, 2]
    r = invoke("migrate", "up", "--yes", cwd=risky)
    assert r.code == 0, r.stderr
    assert applied(db) == [1, 2, 3, 4]


def test_hook_failing_only_in_the_preflight_does_not_let_the_run_through(project: Path,
                                                                          db: psycopg.Connection[Any]) -> None:
    """Regression: a before_migrate/validate failure that happens only in a dry run let the real run go
    ahead without any review."""
    (project / "dry_only.py").write_text(
        "import pluggy\nhookimpl = pluggy.HookimplMarker('confiture')\n\n"
        "@hookimpl\ndef confiture_before_migrate(context):\n"
        "    if context.dry_run:\n        raise RuntimeError('only in dry runs')\n")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\nDROP TABLE a;\n")
    env = {"PYTHONPATH": str(project)}
    r = invoke("-p", "dry_only", "migrate", "up", cwd=project, env=env)
    assert r.code == 1 and "only in dry runs" in r.stderr and "could not be reviewed" in r.stderr
    exists = db.execute("SELECT to_regclass('confiture_migrations') IS NOT NULL").fetchone()
    assert exists == (False,) or applied(db) == []
    r = invoke("-p", "dry_only", "migrate", "up", "--yes", cwd=project, env=env)
    assert r.code == 0, r.stderr
    assert applied(db) == [1]


def test_render_says_which_migrations_a_stopped_dry_run_did_not_measure() -> None:
    """Regression: after a failed migration, every later one was shown as "safe" and so was the whole run."""
    import io

    from rich.console import Console

    from confiture_core.dryrun import DryRunReport, MigrationReport
    from confiture_core.review import render

    report = DryRunReport([MigrationReport(1, "jwt_secret", status="failed", error="extension not available"),
                           MigrationReport(2, "later_one"), MigrationReport(3, "last_one")], "2s", 180000)
    for width in (80, 160):
        out = io.StringIO()
        render(report, Console(file=out, width=width, color_system=None))
        text = out.getvalue()
        said = " ".join(text.split())
        assert said.count("not measured") == 3 and "safe (until it failed)" in said
        assert "overall risk of the 0 migrations measured in full: safe; 1 failed, 2 not measured" in said
