"""Lint's text report at a terminal: a finding wraps under itself (indented), an excerpt line is cut with an
ellipsis, and the summary counts in English; in a pipe each finding stays one line."""

from __future__ import annotations

from pathlib import Path

from confiture_core.lint.engine import Linter
from confiture_core.lint.reporters import render_text
from tests.lint.helpers import ALL_RULES

LONG = ("CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE, "
        "password text);\n")


def _report(tmp_path: Path, sql: str = LONG):  # type: ignore[no-untyped-def]
    f = tmp_path / "1_users.up.sql"
    f.write_text(sql)
    return Linter(ALL_RULES, jobs=1).lint_paths([f])


def test_at_80_columns_findings_wrap_indented_and_excerpts_are_cut(tmp_path: Path) -> None:
    report = _report(tmp_path)
    assert len(report.violations) >= 3
    lines = render_text(report, tmp_path, width=80).splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert all(line == line.rstrip() for line in lines)
    # every line is a finding's first line (the file's name first), one of its continuations (4 spaces), or
    # an excerpt line ("      1 | ...")
    assert all(line.startswith(("1_users.up.sql:", "    ", "Found ")) for line in lines), "\n".join(lines)
    excerpts = [line for line in lines if line.startswith("      1 | ")]
    assert excerpts and all(line.endswith("…") for line in excerpts)
    assert any(line.startswith("    ") and not line.startswith("      1 |") for line in lines)
    summary = "\n".join(lines[next(i for i, line in enumerate(lines) if line.startswith("Found ")):])
    assert "(s)" not in summary and " files " not in summary and "in 1 file (1 statement, " in summary


def test_in_a_pipe_each_finding_is_one_line(tmp_path: Path) -> None:
    report = _report(tmp_path)
    lines = render_text(report, tmp_path, width=None).splitlines()
    findings = [line for line in lines if line.startswith("1_users.up.sql:")]
    assert len(findings) == len(report.violations)
    assert any(len(line) > 120 for line in findings)  # not wrapped
    assert any(line.startswith("      1 | ") and line.endswith("password text)") for line in lines)


def test_no_findings_counts_in_english(tmp_path: Path) -> None:
    report = Linter([], jobs=1).lint_paths([_write(tmp_path, "SELECT 1;\nSELECT 2;\n")])
    text = render_text(report, tmp_path, width=80)
    assert text.strip() == "No findings in 1 file (2 statements, 0 rules, PostgreSQL 18)"


def _write(tmp_path: Path, sql: str) -> Path:
    f = tmp_path / "2_select.up.sql"
    f.write_text(sql)
    return f
