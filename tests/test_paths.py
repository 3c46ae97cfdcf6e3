"""paths.shown: one rule for how every message shows a file's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.hookerrors import describe_import_error
from confiture_core.paths import shown


def test_a_path_under_the_current_folder_is_shown_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "db").mkdir()
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "db" / "001_a.up.sql") == str(Path("db") / "001_a.up.sql")
    assert shown(Path("db/001_a.up.sql")) == str(Path("db") / "001_a.up.sql")
    assert shown(str(tmp_path / "db")) == "db"
    assert shown(tmp_path) == "."
    assert shown(Path(".")) == "."
    assert shown(None) == "-"


def test_a_path_outside_the_current_folder_is_shown_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert shown(tmp_path / "elsewhere.sql") == str(tmp_path / "elsewhere.sql")
    assert shown(Path("../elsewhere.sql")) == str(Path("../elsewhere.sql"))


def test_a_symbolic_link_is_shown_as_listed_not_as_its_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real.sql").write_text("SELECT 1;")
    (tmp_path / "001_a.up.sql").symlink_to(tmp_path / "real.sql")
    (tmp_path / "loop.sql").symlink_to(tmp_path / "loop.sql")
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "001_a.up.sql") == "001_a.up.sql"
    assert shown(tmp_path / "loop.sql") == "loop.sql"


def test_a_plugin_syntax_error_is_shown_at_its_file_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        compile("def f(:\n", str(tmp_path / "plugin_mod.py"), "exec")
    except SyntaxError as exc:
        assert describe_import_error(exc).endswith("(at plugin_mod.py:1)"), describe_import_error(exc)
    else:
        raise AssertionError("compile accepted a syntax error")
