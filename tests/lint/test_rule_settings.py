"""``[lint.<group or rule>]`` keys no rule reads are refused (exit 2) when the rules declare their ``settings``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from confiture_core.cli import cli
from confiture_core.errors import ConfigError
from confiture_core.lint.options import check_rule_settings
from confiture_core.lint.rule import LintRule
from tests.lint.helpers import ALL_RULES


def _project(tmp_path: Path, tables: str) -> Path:
    (tmp_path / "confiture.toml").write_text(f'migrations_dir = "migrations"\n[lint]\nselect = ["cqrs"]\n{tables}')
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.up.sql").write_text("UPDATE tb_user SET a = 1;\n")
    return tmp_path


@pytest.mark.parametrize("select", [["--select", "cqrs"], ["--select", "safety"]])  # checked selected or not
def test_a_misspelt_cqrs_key_is_one_line_naming_the_file_and_key(tmp_path: Path, select: list[str]) -> None:
    proj = _project(tmp_path, '[lint.cqrs]\nwrite_table = ["w_*"]\n')
    r = CliRunner().invoke(cli, ["--project", str(proj), "lint", "--no-cache", *select])
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and str(proj / "confiture.toml") in lines[0]
    assert "[lint.cqrs] has no setting 'write_table'" in lines[0]
    assert "write_tables" in lines[0]  # the known keys, where the right one is


def test_per_rule_tables_are_checked_too(tmp_path: Path) -> None:
    proj = _project(tmp_path, '[lint.CF402]\nviewz = ["x_*"]\n')
    r = CliRunner().invoke(cli, ["--project", str(proj), "lint", "--no-cache"])
    assert r.exit_code == 2 and "[lint.CF402] has no setting 'viewz'" in r.stderr


def test_known_keys_pass(tmp_path: Path) -> None:
    proj = _project(tmp_path, '[lint.cqrs]\nwrite_tables = ["tb_*"]\nviews = ["v_*"]\nread_tables = ["tv_*"]\n'
                              'refresh_functions = ["refresh_{name}"]\nsources = {tb_user = ["tv_x"]}\n')
    r = CliRunner().invoke(cli, ["--project", str(proj), "lint", "--no-cache"])
    assert r.exit_code == 0, r.output


def test_tables_of_rules_that_declare_nothing_are_not_checked() -> None:
    check_rule_settings({"tenancy": {"anything": 1}, "nosuchgroup": {"x": 1}, "select": ["safety"]}, ALL_RULES,
                        "confiture.toml")

    class Loose(LintRule):
        code, name, groups, summary = "EX001", "ex.loose", ("cqrs",), "declares nothing"

    # a third-party rule in the same group that reads anything: the table is not checked
    check_rule_settings({"cqrs": {"mine": 1}}, [*ALL_RULES, Loose], "confiture.toml")
    with pytest.raises(ConfigError, match=r"confiture.toml: \[lint.cqrs\] has no setting 'mine'"):
        check_rule_settings({"cqrs": {"mine": 1}}, ALL_RULES, "confiture.toml")


def test_a_malformed_declaration_is_refused() -> None:
    class Bad(LintRule):
        code, name, groups, summary, settings = "EX002", "ex.bad", ("ex",), "bad", "column"  # type: ignore[assignment]

    with pytest.raises(TypeError, match="settings must be a set of setting names"):
        Bad.validate_class()
