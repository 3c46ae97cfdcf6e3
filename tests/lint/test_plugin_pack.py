"""A third-party rule pack, pip-installed into a fresh venv, is found by ``confiture lint``.

The venv gets this test interpreter's site-packages through a ``.pth`` file (so
psycopg, pglast, click... need no download), then Confiture itself and
``examples/lint-pack`` are pip-installed into it (non-editable, no
dependencies; pip fetches setuptools for the isolated build from PyPI),
and the venv's own ``confiture`` console script is run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from confiture_core.lint.docs import DEFAULT_OUTPUT, builtin_rules, main, render
from tests.lint.helpers import REPO


@pytest.mark.venv
@pytest.mark.plugin_autoload  # the pack is found through its entry point
def test_installed_pack_is_found_by_the_cli(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_confiture_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    build = tmp_path / "build-src"
    # build from a copy, so no build/ or egg-info folders are left in the repository
    shutil.copytree(REPO, build, ignore=shutil.ignore_patterns(".git", ".confiture", "build", "*.egg-info",
                                                               "__pycache__", ".mypy_cache", ".ruff_cache",
                                                               ".pytest_cache"))
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "-q",
         str(build), str(build / "examples" / "lint-pack")],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert pip.returncode == 0, pip.stderr[-3000:]
    project = tmp_path / "proj"
    (project / "migrations").mkdir(parents=True)
    (project / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (project / "migrations" / "1_drop.up.sql").write_text("DROP SCHEMA legacy CASCADE;\n")
    exe = env_dir / "bin" / "confiture"
    listing = subprocess.run([str(exe), "--project", str(project), "lint", "--list-rules"],
                             capture_output=True, text=True, env=env, cwd=project)
    assert listing.returncode == 0, listing.stderr
    assert "EX101" in listing.stdout and "confiture_lint_example" in listing.stdout
    assert "CF101" in listing.stdout  # the built-in packs came through their entry points too
    run = subprocess.run([str(exe), "--project", str(project), "lint", "--select", "ALL", "--format", "json"],
                         capture_output=True, text=True, env=env, cwd=project)
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    (v,) = [v for v in doc["violations"] if v["code"] == "EX101"]
    assert v["path"] == "migrations/1_drop.up.sql" and v["line"] == 1
    assert "DROP SCHEMA legacy" in v["message"]
    # the package was imported from the venv, not from the repository
    where = subprocess.run([str(py), "-c", "import confiture_lint_example as m; print(m.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path).stdout
    assert str(env_dir) in where and sys.prefix not in where


def test_rules_doc_is_up_to_date() -> None:
    assert DEFAULT_OUTPUT == REPO / "docs" / "lint-rules.md"
    assert DEFAULT_OUTPUT.read_text("utf-8") == render(builtin_rules()), \
        "docs/lint-rules.md is stale: run python -m confiture_core.lint.docs"
    assert main(["--check"]) == 0


def test_docs_check_detects_staleness(tmp_path: Path) -> None:
    stale = tmp_path / "rules.md"
    stale.write_text("# old\n")
    assert main(["--check", "--output", str(stale)]) == 1
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0
    text = stale.read_text()
    for r in builtin_rules():
        assert f"## {r.code}" in text and r.name in text
