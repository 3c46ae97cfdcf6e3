"""The cqrs pack's settings: a bad ``[lint.cqrs]`` value stops the run with a one-line error (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from confiture_core.cli import cli


@pytest.mark.parametrize(("setting", "message"), [
    ('write_tables = 3', "[lint.cqrs] write_tables must be a list of names or patterns"),
    ('sources = {tb_user = "tv_user"}', "[lint.cqrs] sources must map write tables to lists of read models"),
])
def test_bad_setting_is_a_usage_error(tmp_path: Path, setting: str, message: str) -> None:
    (tmp_path / "confiture.toml").write_text(f'migrations_dir = "migrations"\n[lint]\nselect = ["cqrs"]\n'
                                             f"[lint.cqrs]\n{setting}\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.up.sql").write_text("UPDATE tb_user SET a = 1;\n")
    r = CliRunner().invoke(cli, ["--project", str(tmp_path), "lint", "--no-cache"])
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert f"error: {message}" in r.stderr and "Traceback" not in r.stderr


def test_the_pack_is_off_until_selected(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.up.sql").write_text("INSERT INTO tv_user SELECT 1;\n")
    assert CliRunner().invoke(cli, ["--project", str(tmp_path), "lint", "--no-cache"]).exit_code == 0
    r = CliRunner().invoke(cli, ["--project", str(tmp_path), "lint", "--no-cache", "--select", "cqrs"])
    assert r.exit_code == 1 and "CF402 error (cqrs.read-model-write)" in r.stdout
