"""The CLI in a real (pseudo-)terminal, as a person uses it: 80 and 160 columns, with and without NO_COLOR.

Each test runs the real console script in a pseudo-terminal, replays what it drew on an
emulated screen and checks what a person would see: no internal error, the progress bar
shown and gone at the end, the cursor shown again (after success, an error and Ctrl-C), no
line wider than the terminal (so no word or version number broken by the terminal), no
styling escape codes under ``NO_COLOR``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pexpect
import psycopg
import pytest

from ..conftest import write
from ..runner.test_runner import history, tables
from .terminal import Session, Terminal, strip_escapes

SHAPES = [pytest.param(80, False, id="80cols"), pytest.param(80, True, id="80cols-NO_COLOR"),
          pytest.param(160, False, id="160cols"), pytest.param(160, True, id="160cols-NO_COLOR")]
BAR = re.compile(r"━")


def migrations(project: Path, n: int, *, start: int = 20240101000001, down: bool = True,
               name: str = "create_table_number") -> list[str]:
    """``n`` migrations with timestamp versions (14 digits: the longest a terminal must not break)."""
    versions = []
    for i in range(n):
        v = str(start + i)
        write(project / "migrations", f"{v}_{name}_{i}.up.sql", f"CREATE TABLE t{i} (id int);\n")
        if down:
            write(project / "migrations", f"{v}_{name}_{i}.down.sql", f"DROP TABLE t{i};\n")
        versions.append(v)
    return versions


def risky(project: Path, version: str = "20240201000001") -> str:
    """A migration that rewrites a table (above the default confirm_level)."""
    write(project / "migrations", f"{version}_retype_the_identifier_column.up.sql",
          "ALTER TABLE t0 ALTER COLUMN id TYPE bigint;\nCREATE INDEX t0_id ON t0 (id);\n")
    return version


@pytest.mark.parametrize(("cols", "no_color"), SHAPES)
def test_init_and_new(tmp_path: Path, cols: int, no_color: bool) -> None:
    term = Terminal(tmp_path, cols=cols, no_color=no_color)
    s = term.run("init")
    s.assert_sane(no_color=no_color)
    s.assert_on_screen("confiture.toml", "migrations/")
    s = term.run("migrate", "new", "add users")
    s.assert_sane(no_color=no_color)
    made = sorted(p.name for p in (tmp_path / "migrations").iterdir())
    assert len(made) == 2 and made[0].endswith("_add_users.down.sql")
    s.assert_on_screen(*(f"migrations/{m}" for m in made))
    s = term.run("migrate", "new", "seed", "--python")
    s.assert_sane(no_color=no_color)
    s = term.run("init")  # a mistake on purpose: already initialised
    s.assert_sane(no_color=no_color, expect_code=2)
    s.assert_on_screen("error: confiture.toml already exists; edit it instead")


@pytest.mark.parametrize(("cols", "no_color"), SHAPES)
@pytest.mark.parametrize("n", [1, 5])
def test_up_status_down(project: Path, db: psycopg.Connection[Any], cols: int, no_color: bool, n: int) -> None:
    versions = migrations(project, n)
    term = Terminal(project, cols=cols, no_color=no_color)
    s = term.run("migrate", "up", "--yes")
    s.assert_sane(no_color=no_color)
    if n >= 5:
        assert BAR.search(s.text), "no progress bar drawn"
        assert not BAR.search(s.screen), f"the progress bar stayed on screen:\n{s.screen}"
    else:
        s.assert_on_screen(f"applied {versions[0]} create_table_number_0")
    s.assert_on_screen(f"applied {n} migration" + ("s" if n > 1 else ""))
    assert len(history(db)) == n

    s = term.run("migrate", "status")
    s.assert_sane(no_color=no_color)
    s.assert_on_screen(*versions, *(f"create_table_number_{i}" for i in range(n)), f"{n} applied")

    s = term.run("migrate", "down", "--to", versions[0])
    s.assert_sane(no_color=no_color)
    s.assert_on_screen(f"reverted {n - 1} migration" + ("s" if n > 2 else "") if n > 1 else "nothing to revert")
    assert len(history(db)) == 1


@pytest.mark.parametrize(("cols", "no_color"), [pytest.param(80, False, id="80cols"),
                                                pytest.param(160, True, id="160cols-NO_COLOR")])
def test_up_400_migrations(project: Path, db: psycopg.Connection[Any], cols: int, no_color: bool) -> None:
    migrations(project, 400, down=False)
    s = Terminal(project, cols=cols, no_color=no_color).run("migrate", "up", "--yes")
    s.assert_sane(no_color=no_color)
    assert re.search(r"\b400/400\b", s.text), "the progress bar never reached 400/400"
    assert not BAR.search(s.screen)
    s.assert_on_screen("applied 400 migrations")
    assert len(history(db)) == 400


@pytest.mark.parametrize(("cols", "no_color"), SHAPES)
def test_dry_run_report(project: Path, db: psycopg.Connection[Any], cols: int, no_color: bool) -> None:
    migrations(project, 2)
    term = Terminal(project, cols=cols, no_color=no_color)
    assert term.run("migrate", "up", "--yes").exit_code == 0
    version = risky(project)
    s = term.run("migrate", "up", "--dry-run")
    s.assert_sane(no_color=no_color)
    s.assert_on_screen(version, "retype_the_identifier_column", "rewrites-table", "EXCLUSIVE",
                       "overall risk: rewrites-table")
    s = term.run("migrate", "up", "--dry-run", "--fail-on", "blocks-writes")
    s.assert_sane(no_color=no_color, expect_code=1)
    s.assert_on_screen(version)
    assert len(history(db)) == 2  # rolled back


def _answer(term: Terminal, answer: str, *args: str) -> tuple[pexpect.spawn, Session]:
    child = term.spawn("migrate", "up", *args)
    child.expect(rb"\[y/N\]")
    seen = (child.before or b"") + child.after
    child.sendline(answer)
    return child, term.finish(child, ["migrate", "up", *args], seen)


@pytest.mark.parametrize(("cols", "no_color"), SHAPES)
def test_interactive_yes_and_no(project: Path, db: psycopg.Connection[Any], cols: int, no_color: bool) -> None:
    migrations(project, 1, down=False)
    assert Terminal(project).run("migrate", "up", "--yes").exit_code == 0
    version = risky(project)
    term = Terminal(project, cols=cols, no_color=no_color)
    _, s = _answer(term, "n")
    s.assert_sane(no_color=no_color, expect_code=1)
    s.assert_on_screen(version, "not confirmed")
    assert len(history(db)) == 1
    _, s = _answer(term, "y")
    s.assert_sane(no_color=no_color)
    s.assert_on_screen(f"applied {version} retype_the_identifier_column")
    assert len(history(db)) == 2


def test_gate_asks_at_a_terminal_without_interactive(project: Path, db: psycopg.Connection[Any]) -> None:
    migrations(project, 1, down=False)
    assert Terminal(project).run("migrate", "up", "--yes").exit_code == 0
    version = risky(project)
    _, s = _answer(Terminal(project), "y")
    s.assert_sane()
    s.assert_on_screen(version)
    assert len(history(db)) == 2


@pytest.mark.parametrize(("cols", "no_color"), SHAPES)
@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_lint_formats(tmp_path: Path, cols: int, no_color: bool, fmt: str) -> None:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\npg_version = 16\n')
    write(tmp_path / "migrations", "20240101000001_orders.up.sql",
          "CREATE TABLE orders (id bigint PRIMARY KEY, customer_identifier bigint);\n")
    write(tmp_path / "migrations", "20240101000002_orders_with_a_rather_long_descriptive_name.up.sql",
          "CREATE INDEX orders_customer_identifier_idx ON orders (customer_identifier);\n"
          "ALTER TABLE orders ALTER COLUMN customer_identifier SET NOT NULL;\n")
    s = Terminal(tmp_path, cols=cols, no_color=no_color).run("lint", "--no-cache", "--format", fmt)
    for marker in ("internal error", "Traceback"):
        assert marker not in s.text
    assert s.exit_code == 1, s.screen
    assert not s.cursor_hidden
    if no_color or fmt != "text":
        assert not re.search(rb"\x1b\[[0-9;:]*m", s.raw), f"styling escapes in {fmt} output"
    if fmt == "text":
        assert not s.too_wide(), s.screen
        s.assert_on_screen("CF101", "20240101000002_orders_with_a_rather_long_descriptive_name.up.sql")
    elif fmt in ("json", "sarif"):
        body = strip_escapes(s.raw).decode().replace("\r\n", "\n")
        json.loads(body[body.index("{"):body.rindex("}") + 1])
    else:
        assert re.search(r"^::(error|warning) file=", s.text, re.M), s.screen


def test_error_mid_run_restores_the_cursor(project: Path, db: psycopg.Connection[Any]) -> None:
    migrations(project, 5, down=False)
    write(project / "migrations", "20240101000006_broken.up.sql",
          "CREATE TABLE ok (id int);\nINSERT INTO nowhere VALUES (1);\n")
    s = Terminal(project).run("migrate", "up", "--yes")
    s.assert_sane(expect_code=1)
    assert BAR.search(s.text)
    s.assert_on_screen("20240101000006_broken.up.sql:2")
    assert len(history(db)) == 5 and "ok" not in tables(db)


def test_ctrl_c_during_a_run(project: Path, db: psycopg.Connection[Any]) -> None:
    migrations(project, 400, down=False)
    for f in (project / "migrations").glob("*.up.sql"):  # ~10 ms each: a fast apply must not end before the ^C
        f.write_text(f.read_text() + "SELECT pg_sleep(0.01);\n")
    s = Terminal(project).interrupt("migrate", "up", "--yes", after=rb"[1-9]\d*/400")
    s.assert_sane(expect_code=1)
    done = history(db)
    assert 0 < len(done) < 400, "interrupted too late or too early to tell"
    said = re.search(r"interrupted: (\d+) migrations? applied before it", " ".join(s.screen.split()))
    assert said, s.screen  # the count reported; one more may have committed an instant before the interrupt
    assert int(said[1]) in (len(done), len(done) - 1), (said[0], len(done))
    assert all(ok for _, ok in done)
    assert len([t for t in tables(db) if t != "confiture_migrations"]) == len(done)  # nothing half-applied


def test_ctrl_c_at_the_prompt(project: Path, db: psycopg.Connection[Any]) -> None:
    migrations(project, 1, down=False)
    assert Terminal(project).run("migrate", "up", "--yes").exit_code == 0
    risky(project)
    s = Terminal(project).interrupt("migrate", "up", after=rb"\[y/N\]")
    s.assert_sane(expect_code=1)
    s.assert_on_screen("error: interrupted at the prompt: nothing was applied")
    assert len(history(db)) == 1


def test_ctrl_c_during_the_pre_flight_dry_run(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: an interrupt before any migration ran said "the migration in progress was rolled back"."""
    migrations(project, 400, down=False)
    s = Terminal(project).interrupt("migrate", "up", after=rb"dry run[^\r\n]*[1-9]\d*/400")
    s.assert_sane(expect_code=1)
    s.assert_on_screen("interrupted: nothing was changed")
    assert tables(db) == []


def test_long_names_never_push_the_counts_off_an_80_column_bar(project: Path, db: psycopg.Connection[Any]) -> None:
    """Regression: a long migration name cut the count and the time at the terminal's edge ("1…", "235/3…")."""
    migrations(project, 30, down=False, name="update_community_aggregates_on_soft_delete_and_more_things")
    s = Terminal(project, cols=80).run("migrate", "up", "--yes")
    s.assert_sane()
    counts = re.findall(r"\b(\d+)/30\b", s.text)
    assert counts and counts[-1] == "30", "the bar's count was cut"
