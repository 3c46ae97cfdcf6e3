"""A pyproject.toml whose ``tool`` or ``tool.confiture`` is no table is a one-line error (exit 2), not an internal
error."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.config import load_config
from confiture_core.errors import ConfigError
from tests.conftest import invoke


@pytest.mark.parametrize(("toml", "message"), [
    ("tool = 3\n", "tool must be a table ([tool]), not int; fix the file"),
    ("[tool]\nconfiture = 3\n", "tool.confiture must be a table ([tool.confiture]), not int; fix the file"),
    ('[tool]\nconfiture = ["x"]\n', "tool.confiture must be a table ([tool.confiture]), not list; fix the file"),
])
@pytest.mark.parametrize("explicit", [False, True])
def test_a_tool_that_is_no_table_is_named(tmp_path: Path, toml: str, message: str, explicit: bool) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path if explicit else None, cwd=tmp_path, database_url="postgresql://elsewhere/db")
    assert str(info.value) == f"{path}: {message}"


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "pyproject.toml").write_text("tool = 3\n")
    r = invoke("migrate", "status", cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path / 'pyproject.toml'}: tool must be a table ([tool]), "
                                             "not int; fix the file"]


def test_a_pyproject_without_the_table_is_still_passed_over(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.ruff]\nline-length = 120\n')
    cfg = load_config(cwd=tmp_path, database_url="postgresql://elsewhere/db")
    assert cfg.config_file != tmp_path / "pyproject.toml"
