"""Round 5 newcomer's fixes: counted nouns in run summaries, `confiture plugins` wrapped under its labels at a
terminal, `--config pyproject.toml` without [tool.confiture] refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from confiture_core.cli.main import interrupted_message
from confiture_core.cli.output import Output
from confiture_core.words import count, count_or_none
from tests.conftest import invoke, write

from .terminal import Terminal


def test_count_reads_as_english() -> None:
    assert [count(n, "migration") for n in (0, 1, 2)] == ["0 migrations", "1 migration", "2 migrations"]
    assert count_or_none(0, "migration") == "no migration" and count_or_none(3, "plugin") == "3 plugins"
    assert count(2, "index", "indexes") == "2 indexes"


def test_run_summaries_count_migrations(project: Path) -> None:
    for v in (1, 2):
        write(project / "migrations", f"{v}_t{v}.up.sql", f"CREATE TABLE t{v} (id bigint);\n")
        write(project / "migrations", f"{v}_t{v}.down.sql", f"DROP TABLE t{v};\n")
    r = invoke("-C", str(project), "migrate", "up", "--yes")
    assert r.code == 0, r.stderr
    assert "applied 2 migrations" in r.stderr and "(s)" not in r.stderr
    r = invoke("-C", str(project), "migrate", "down")
    assert r.code == 0, r.stderr
    assert "reverted 1 migration\n" in r.stderr and "(s)" not in r.stderr


@pytest.mark.parametrize(("tally", "said"), [
    (("down", 0), "interrupted: no migration reverted before it, the one in progress rolled back"),
    (("up", 1), "interrupted: 1 migration applied before it"),
    (("up", 3), "interrupted: 3 migrations applied before it"),
])
def test_an_interrupt_counts_what_was_done(tally: tuple[str, int], said: str) -> None:
    out = Output()
    out.run_tally = tally
    assert interrupted_message(out, "migrate").startswith(said)


def test_plugins_wrap_under_their_labels_at_80_columns(tmp_path: Path) -> None:
    s = Terminal(tmp_path, cols=80, no_color=True).run("plugins")
    s.assert_sane(no_color=True)
    lines = [line for line in s.lines if line.strip()]
    assert lines[0].endswith("loaded") and "(s)" not in lines[0]
    rules = [i for i, line in enumerate(lines) if line.startswith("    lint rules: ")]
    assert rules, s.screen
    # every line is a plugin's first line, or indented under it: a long list of rule codes continues under
    # its label, not at the first column
    starts = [line for line in lines[1:] if not line.startswith(" ")]
    assert all(line.split()[0].startswith("confiture_") for line in starts), s.screen
    long_list = next(i for i in rules if lines[i].rstrip().endswith(","))
    assert lines[long_list + 1].startswith(" " * 16 + "CF"), s.screen


def test_plugins_stay_one_line_each_in_a_pipe(tmp_path: Path) -> None:
    r = invoke("-C", str(tmp_path), "plugins")
    assert r.code == 0, r.stderr
    rules = [line for line in r.stderr.splitlines() if line.startswith("    lint rules: CF101")]
    assert rules and rules[0].count("CF1") > 20  # a log keeps the whole list on one line


def test_config_pyproject_without_a_confiture_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n')
    (tmp_path / "migrations").mkdir()
    r = invoke("--config", str(tmp_path / "pyproject.toml"), "migrate", "status")
    assert r.code == 2
    assert r.stderr.strip() == (f"error: {(tmp_path / 'pyproject.toml').resolve()}: has no [tool.confiture] table; "
                                "add one (even empty) or give --config a confiture.toml")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n[tool.confiture]\nmigrations_dir = "db"\n')
    (tmp_path / "db").mkdir()
    r = invoke("--config", str(tmp_path / "pyproject.toml"), "lint", "--no-cache", "--pg-version", "16")
    assert r.code == 0, r.stderr


def test_status_counts_missing_files_in_the_plural(project: Path) -> None:
    for v in (1, 2, 3):
        write(project / "migrations", f"{v}_t{v}.up.sql", f"CREATE TABLE t{v} (id bigint);\n")
    assert invoke("-C", str(project), "migrate", "up", "--yes").code == 0
    for v in (2, 3):
        (project / "migrations" / f"{v}_t{v}.up.sql").unlink()
    r = invoke("-C", str(project), "migrate", "status")
    assert r.code == 0, r.stderr
    assert "3 applied (2 files missing), 0 pending" in r.stderr, r.stderr


@pytest.mark.parametrize(("n", "said"), [(1, "dry run of 1 pending migration first; the 1 migration left"),
                                         (2, "dry run of 2 pending migrations first; the 2 migrations left")])
def test_a_dry_run_announce_counts_in_english(n: int, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    from confiture_core.cli.dryrun import DryRunReporter

    DryRunReporter(Output(), "dry run of {pending} first; the {migrations} left").start(n, "up")
    assert said in capsys.readouterr().err


def test_at_a_terminal_an_error_wraps_indented_and_folds_a_long_path(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich (and Output.plain) take stderr for a terminal
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("NO_COLOR", "1")
    out = Output()
    path = "/tmp/" + "a-very-long-folder-name/" * 4 + "x.sql"
    out.error(f"refusing to migrate (1 problem):\n  {path}: has no SQL statement yet: write it", 2)
    out.warn("the shadow server runs PostgreSQL 18, the target 15: locks and timings may differ")
    lines = capsys.readouterr().err.splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    start = next(i for i, line in enumerate(lines) if line.startswith("  /tmp/"))
    end = next(i for i, line in enumerate(lines) if line.startswith("warning: "))
    assert lines[0].startswith("error: refusing") and all(line.startswith("    ") for line in lines[1:start])
    assert all(line.startswith("      ") for line in lines[start + 1:end])  # the listing's line, indented
    assert "".join(line.strip() for line in lines[start:end]).startswith(path)  # folded, not cut
    assert end < len(lines) - 1 and all(line.startswith("    ") for line in lines[end + 1:])


def test_verbose_statement_lines_count_rows(project: Path) -> None:
    write(project / "migrations", "1_t.up.sql",
          "CREATE TABLE t (id bigint);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2), (3);\n")
    r = invoke("-C", str(project), "-v", "migrate", "up", "--yes")
    assert r.code == 0, r.stderr
    assert re.search(r"1_t\.up\.sql:2: INSERT INTO t VALUES \(1\) \([\d.]+ ms, 1 row\)\n", r.stderr), r.stderr
    assert re.search(r"1_t\.up\.sql:3: INSERT INTO t VALUES \(2\), \(3\) \([\d.]+ ms, 2 rows\)\n", r.stderr)


@pytest.mark.parametrize("extra", [(), ("--shadow",), ("--on-target",)])
def test_dry_run_with_yes_is_a_usage_error(project: Path, extra: tuple[str, ...]) -> None:
    write(project / "migrations", "1_t.up.sql", "CREATE TABLE t (id bigint);\n")
    r = invoke("-C", str(project), "migrate", "up", "--dry-run", "--yes", *extra)
    assert r.code == 2
    assert "--dry-run only reports (nothing is applied) and --yes applies without asking; give one" in r.stderr
    r = invoke("-C", str(project), "migrate", "status")
    assert "0 applied, 1 pending" in r.stderr
