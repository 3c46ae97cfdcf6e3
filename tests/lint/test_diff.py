"""``confiture lint --diff BASE``: only the migrations added or changed since a git revision."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from confiture_core.cli import cli
from confiture_core.lint.diff import DiffError, changed_files

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
BAD = "CREATE INDEX i_{0} ON t ({0});\n"  # CF101 in every file


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def lint(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project", str(project), "lint", "--no-cache", "--format", "json", *args],
                              catch_exceptions=False)


def linted(r: Result) -> list[str]:
    return [f["path"] for f in json.loads(r.stdout)["files"]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose main branch has two migrations, checked out on a feature branch."""
    (tmp_path / "confiture.toml").write_text('migrations_dir = "db/migrations"\n')
    mig = tmp_path / "db" / "migrations"
    mig.mkdir(parents=True)
    (mig / "1_a.up.sql").write_text(BAD.format("a"))
    (mig / "2_b.up.sql").write_text(BAD.format("b"))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    git(tmp_path, "checkout", "-qb", "feature")
    return tmp_path


def test_only_added_and_changed_files_are_linted(repo: Path) -> None:
    mig = repo / "db" / "migrations"
    (mig / "3_committed.up.sql").write_text(BAD.format("c"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "three")
    (mig / "2_b.up.sql").write_text(BAD.format("b") + BAD.format("bb"))  # edited, not staged
    (mig / "4_staged.up.sql").write_text(BAD.format("d"))
    git(repo, "add", str(mig / "4_staged.up.sql"))
    (mig / "5_untracked.up.sql").write_text(BAD.format("e"))
    (mig / "6_ignored.up.sql").write_text(BAD.format("f"))
    (repo / ".gitignore").write_text("6_ignored.up.sql\n")
    r = lint(repo, "--diff", "main")
    assert r.exit_code == 1
    assert linted(r) == ["db/migrations/2_b.up.sql", "db/migrations/3_committed.up.sql",
                         "db/migrations/4_staged.up.sql", "db/migrations/5_untracked.up.sql"]


def test_nothing_changed_lints_nothing_and_passes(repo: Path) -> None:
    r = lint(repo, "--diff", "main")
    assert r.exit_code == 0, r.output
    assert linted(r) == []


def test_main_moving_ahead_does_not_count(repo: Path) -> None:
    # a migration merged into main after the branch started is not the branch's change (merge base)
    git(repo, "checkout", "-q", "main")
    (repo / "db" / "migrations" / "9_on_main.up.sql").write_text(BAD.format("z"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main moved")
    git(repo, "checkout", "-q", "feature")
    (repo / "db" / "migrations" / "3_mine.up.sql").write_text(BAD.format("m"))
    assert linted(lint(repo, "--diff", "main")) == ["db/migrations/3_mine.up.sql"]


def test_paths_and_down_files_still_apply(repo: Path) -> None:
    mig = repo / "db" / "migrations"
    (mig / "3_x.up.sql").write_text(BAD.format("x"))
    (mig / "3_x.down.sql").write_text("DROP INDEX i_x;\n")
    (repo / "other.sql").write_text(BAD.format("o"))
    assert linted(lint(repo, "--diff", "main")) == ["db/migrations/3_x.up.sql"]
    assert linted(lint(repo, "--diff", "main", "--include-down")) == ["db/migrations/3_x.down.sql",
                                                                      "db/migrations/3_x.up.sql"]
    assert linted(lint(repo, "--diff", "main", "other.sql", "db/migrations/1_a.up.sql")) == ["other.sql"]


def test_from_a_subfolder_and_renamed_files(repo: Path) -> None:
    git(repo, "mv", "db/migrations/2_b.up.sql", "db/migrations/2_renamed.up.sql")
    assert changed_files("main", repo / "db") == {os.path.realpath(repo / "db" / "migrations" / "2_renamed.up.sql")}


def test_bad_revision_is_a_one_line_usage_error(repo: Path) -> None:
    r = lint(repo, "--diff", "no-such-branch")
    assert r.exit_code == 2 and r.stdout == ""
    assert "error: --diff no-such-branch: git knows no revision 'no-such-branch' here; fetch it first" in r.stderr
    assert "Traceback" not in r.stderr
    r = lint(repo, "--diff", "--all")
    assert r.exit_code == 2 and "give a git revision such as main" in r.stderr


def test_not_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (tmp_path / "migrations").mkdir()
    r = CliRunner().invoke(cli, ["--project", str(tmp_path), "lint", "--diff", "main"],
                           env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert r.exit_code == 2
    assert f"error: --diff main: {tmp_path} is not in a git repository; run in a git checkout" in r.stderr


def test_unrelated_histories(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "island")
    git(repo, "commit", "-qm", "alone")
    with pytest.raises(DiffError, match="main and HEAD have no common ancestor"):
        changed_files("main", repo)


def test_without_git_on_path(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "empty"))
    with pytest.raises(DiffError, match="git is not installed"):
        changed_files("main", repo)


def test_diff_with_baseline(repo: Path) -> None:
    mig = repo / "db" / "migrations"
    (mig / "3_x.up.sql").write_text(BAD.format("x"))
    assert lint(repo, "--diff", "main", "--write-baseline", "b.json").exit_code == 0
    (mig / "3_x.up.sql").write_text("\n\n" + BAD.format("x"))
    assert lint(repo, "--diff", "main", "--baseline", "b.json").exit_code == 0
    (mig / "3_x.up.sql").write_text(BAD.format("x") + BAD.format("y"))
    r = lint(repo, "--diff", "main", "--baseline", "b.json")
    assert r.exit_code == 1
    assert [v["line"] for v in json.loads(r.stdout)["violations"]] == [2]
