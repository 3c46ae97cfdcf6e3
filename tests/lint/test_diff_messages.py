"""``lint --diff``: the fetch hint fits the missing revision; the down-files note counts only changed files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from confiture_core.cli import cli
from confiture_core.lint.diff import fetch_hint
from tests.lint.test_diff import BAD, git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.mark.parametrize(("base", "hint"), [
    ("origin/main", "`git fetch origin main`"),
    ("upstream/feature/x", "`git fetch upstream feature/x`"),
    ("main", "`git fetch origin main:main`, or `git fetch origin main` and --diff origin/main"),
    ("0123abcd", "`git fetch origin 0123abcd`, or in a shallow clone `git fetch --unshallow origin`"),
    ("HEAD~3", "in a shallow clone, the whole history: `git fetch --unshallow origin`"),
])
def test_fetch_hint(base: str, hint: str) -> None:
    assert fetch_hint(base, ["upstream", "origin"]) == hint


def test_fetch_hint_without_origin_or_any_remote() -> None:
    assert fetch_hint("main", ["fork"]) == "`git fetch fork main:main`, or `git fetch fork main` and --diff fork/main"
    assert "no remote" in fetch_hint("origin/main", [])


def _text(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project", str(project), "lint", "--no-cache", *args], catch_exceptions=False)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone (remote ``origin``) on a feature branch; main has an up and a down migration."""
    upstream = tmp_path / "upstream"
    mig = upstream / "migrations"
    mig.mkdir(parents=True)
    (upstream / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (mig / "1_a.up.sql").write_text(BAD.format("a"))
    (mig / "1_a.down.sql").write_text("DROP INDEX i_a;\n")
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-qm", "base")
    git(tmp_path, "clone", "-q", str(upstream), "work")
    work = tmp_path / "work"
    git(work, "checkout", "-qb", "feature")
    return work


def test_a_missing_remote_branch_gets_the_fetch_that_brings_it(clone: Path) -> None:
    r = _text(clone, "--diff", "origin/release")
    assert r.exit_code == 2 and r.stdout == ""
    assert "git knows no revision 'origin/release' here; fetch it first (`git fetch origin release`;" in r.stderr
    assert "git fetch origin origin/release" not in r.stderr


def test_the_down_files_note_counts_only_changed_files(clone: Path) -> None:
    mig = clone / "migrations"
    (mig / "2_b.up.sql").write_text(BAD.format("b"))
    r = _text(clone, "--diff", "origin/main")
    assert r.exit_code == 1 and "2_b.up.sql" in r.stdout and "1_a.up.sql" not in r.stdout
    assert "skipped" not in r.stderr  # 1_a.down.sql did not change: nothing to say about it
    (mig / "2_b.down.sql").write_text("DROP INDEX i_b;\n")
    r = _text(clone, "--diff", "origin/main")
    assert "skipped 1 down migration file " in r.stderr
    r = _text(clone)  # without --diff: every down file found
    assert "skipped 2 down migration files" in r.stderr
