"""The ``confiture-lint`` hook of ``.pre-commit-hooks.yaml``, run by ``pre-commit try-repo`` in a new git repository.

pre-commit (in the ``test`` extra) builds the hook's environment as a user's would: a new
virtualenv into which it pip-installs this repository (a copy of it, committed in a temporary
git repository, so the test does not depend on the checkout's state) with its dependencies
from the package registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lint.helpers import REPO

IGNORED = shutil.ignore_patterns(".git", ".venv", ".confiture", "build", "*.egg-info", "__pycache__", ".mypy_cache",
                                 ".ruff_cache", ".pytest_cache")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=_env(), check=True, capture_output=True, text=True)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL",
                                                            "CONFITURE_DATABASE_URL")}
    env.update({"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_CONFIG_NOSYSTEM": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def try_repo(hook_repo: Path, project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**_env(), "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "confiture-lint",
                           "--all-files", "--color", "never"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.venv
def test_hook_runs_with_pre_commit_try_repo(tmp_path: Path) -> None:
    hook_repo = tmp_path / "confiture"
    shutil.copytree(REPO, hook_repo, ignore=IGNORED)
    git(hook_repo, "init", "-q", "-b", "main")
    git(hook_repo, "add", "-A")
    git(hook_repo, "commit", "-qm", "confiture")
    project = tmp_path / "project"
    (project / "migrations").mkdir(parents=True)
    (project / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (project / "migrations" / "1_index.up.sql").write_text("SET lock_timeout = '2s';\nCREATE INDEX i ON t (a);\n")
    (project / "migrations" / "1_index.down.sql").write_text("DROP INDEX i;\n")  # left out by the hook
    (project / ".gitignore").write_text(".confiture/\n")  # the lint cache (docs/lint-in-ci.md)
    (project / "notes.txt").write_text("CREATE INDEX not_sql ON t (a);\n")  # not *.sql
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    home = tmp_path / "pre-commit-home"

    failed = try_repo(hook_repo, project, home)
    print(failed.stdout, failed.stderr)  # the report shows the hook's output
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "confiture lint" in failed.stdout and "Failed" in failed.stdout
    assert "migrations/1_index.up.sql:2:1: CF101 error (safety.concurrent-index)" in failed.stdout
    assert "in 1 file " in failed.stdout  # the down file and notes.txt were not given to it

    (project / "migrations" / "1_index.up.sql").write_text("CREATE INDEX CONCURRENTLY i ON t (a);\n")
    git(project, "add", "-A")
    passed = try_repo(hook_repo, project, home)
    print(passed.stdout, passed.stderr)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "confiture lint" in passed.stdout and "Passed" in passed.stdout
