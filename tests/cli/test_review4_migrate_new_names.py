"""`migrate new` with a name too long for a file name is a usage error, and a Python migration's docstring holds any
name (a quote, a backslash) without breaking the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ..conftest import invoke


@pytest.mark.parametrize("name", ["x" * 201, "ü" * 101])
def test_a_name_too_long_for_a_file_name_is_a_usage_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "migrations").mkdir()
    r = invoke("migrate", "new", name, cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert "Invalid value for NAME: too long for a file name" in r.stderr and "internal error" not in r.stderr
    assert list((tmp_path / "migrations").iterdir()) == []


def test_a_long_name_within_the_bound_is_fine(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    assert invoke("migrate", "new", "x" * 200, cwd=tmp_path).code == 0
    assert len(list((tmp_path / "migrations").iterdir())) == 2


@pytest.mark.parametrize("name", ["oops\\", 'say """hi"""', "it's", "plain one"])
def test_the_python_template_parses_whatever_the_name(tmp_path: Path, name: str) -> None:
    (tmp_path / "migrations").mkdir()
    r = invoke("migrate", "new", "--python", name, cwd=tmp_path)
    assert r.code == 0, r.stderr
    (path,) = (tmp_path / "migrations").glob("*.py")
    module = ast.parse(path.read_text())
    assert ast.get_docstring(module) == name
