"""A configuration file saved with a UTF-8 BOM (as Windows editors save it) is read, as migration files are:
tomllib alone refused it with 'Invalid statement (at line 1, column 1)'."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.config import load_config
from confiture_core.errors import ConfigError

BOM = b"\xef\xbb\xbf"


def test_confiture_toml_with_a_bom_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_bytes(BOM + b'migrations_dir = "db"\r\ntracking_table = "app.mig"\r\n')
    cfg = load_config(cwd=tmp_path, env={})
    assert cfg.migrations_dir == tmp_path / "db" and cfg.tracking_table == "app.mig"


def test_pyproject_with_a_bom(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(BOM + b'[tool.confiture]\nmigrations_dir = "db"\n')
    assert load_config(cwd=tmp_path, env={}).migrations_dir == tmp_path / "db"


def test_invalid_utf8_after_a_bom_names_the_byte_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_bytes(BOM + b'migrations_dir = "migr\xe9"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(cwd=tmp_path, env={})
    assert "confiture.toml: not valid UTF-8 at byte 25; TOML files are UTF-8" in str(exc.value)
