"""A `[lint] select` or `ignore` item matching no rule is named with the configuration file and setting, not as
if it had been typed on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke


@pytest.mark.parametrize("key", ["select", "ignore"])
def test_a_wrong_config_selection_names_the_file_and_the_setting(tmp_path: Path, key: str) -> None:
    config = tmp_path / "confiture.toml"
    config.write_text(f'[lint]\n{key} = ["safety", "CF999"]\n')
    (tmp_path / "migrations").mkdir()
    r = invoke("-C", str(tmp_path), "lint", "--no-cache", "--pg-version", "16")
    assert r.code == 2
    assert r.stderr.startswith(f"error: {config}: [lint] {key} 'CF999' matches no rule; use a code like CF101")
    assert "--select" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_wrong_command_line_selection_still_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    r = invoke("-C", str(tmp_path), "lint", "--no-cache", "--pg-version", "16", "--ignore", "CF998")
    assert r.code == 2 and r.stderr.startswith("error: --select/--ignore 'CF998' matches no rule")


def test_a_settings_table_for_no_known_rule_is_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "confiture.toml"
    config.write_text('[lint.saftey]\nx = 1\n[lint.tenancy]\nexempt = ["a"]\n[lint.CF101]\n')
    (tmp_path / "migrations").mkdir()
    r = invoke("-C", str(tmp_path), "lint", "--no-cache", "--pg-version", "16")
    assert r.code == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {config}: [lint.saftey] names no rule, group or code of the loaded rule packs "
                        "(a typo, or its pack is not loaded: `confiture plugins` lists them); its settings are not "
                        "used"]
