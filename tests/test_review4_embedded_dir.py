"""An ``embedded_dir`` that is a file (or under one) is a one-line error naming it (exit 2), not an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke


@pytest.mark.parametrize(("setting", "message"), [
    ("a_file", "{f}: is a file, not a folder for the embedded server's data; set embedded_dir in confiture.toml "
               "to a folder, or move the file"),
    ("a_file/data", "{f}: cannot create the embedded server's folder (File exists); set embedded_dir in "
                    "confiture.toml to another folder"),
])
@pytest.mark.parametrize("command", [("migrate", "status"), ("server", "start")])
def test_embedded_dir_that_is_a_file(tmp_path: Path, setting: str, message: str, command: tuple[str, ...]) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "a_file").write_text("not a data folder\n")
    (tmp_path / "confiture.toml").write_text(f'embedded_dir = "{setting}"\n')
    r = invoke(*command, cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: " + message.format(f=tmp_path / "a_file")
    assert "internal error" not in r.stderr
    assert (tmp_path / "a_file").read_text() == "not a data folder\n"
