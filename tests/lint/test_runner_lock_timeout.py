"""CF120 and the runner's own lock_timeout: a Confiture project's strong statements are already bounded."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from confiture_core.cli import cli

MIGRATION = "ALTER TABLE orders ADD COLUMN note text;\n"


def cf120_count(folder: Path, *args: str) -> int:
    result = CliRunner().invoke(cli, ["--project", str(folder), "lint", "--format", "json", "--no-cache", *args,
                                      str(folder / "1_note.up.sql")], catch_exceptions=False)
    return sum(1 for v in json.loads(result.stdout)["violations"] if v["code"] == "CF120")


def test_a_project_whose_runner_bounds_strong_locks_gets_no_cf120(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "."\n')
    (tmp_path / "1_note.up.sql").write_text(MIGRATION)
    assert cf120_count(tmp_path) == 0  # [apply] lock_timeout defaults to 5s


def test_an_unbounded_apply_brings_cf120_back(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "."\n[apply]\nlock_timeout = "0"\n')
    (tmp_path / "1_note.up.sql").write_text(MIGRATION)
    assert cf120_count(tmp_path) == 1


def test_files_outside_a_project_still_get_cf120(tmp_path: Path) -> None:
    (tmp_path / "1_note.up.sql").write_text(MIGRATION)
    assert cf120_count(tmp_path) == 1
