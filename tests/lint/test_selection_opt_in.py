"""A rule off by default in a group that is on (CF133) runs only when named: not by its group, prefix or default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from confiture_core.cli import cli
from confiture_core.lint.rule import LintRule
from confiture_core.lint.selection import opt_in_by_name, select_rules
from tests.lint.helpers import ALL_RULES, BY_CODE


def _codes(select: list[str], ignore: tuple[str, ...] = ()) -> set[str]:
    return {r.code for r in select_rules(ALL_RULES, select, ignore)}


def test_statement_timeout_is_the_built_in_rule_selected_only_by_name() -> None:
    assert opt_in_by_name(ALL_RULES) == {BY_CODE["CF133"]}


@pytest.mark.parametrize("select", [["safety"], ["CF1"], ["CF13"], [], ["safety", "conventions"]])
def test_a_group_a_prefix_or_the_default_leave_it_off(select: list[str]) -> None:
    chosen = _codes(select)
    assert "CF133" not in chosen
    prefix = select[0] if select and select[0].startswith("CF") else "CF1"
    assert {r.code for r in ALL_RULES if r.code.startswith(prefix) and r.default_enabled} <= chosen  # those still run


@pytest.mark.parametrize("select", [["CF133"], ["cf133"], ["safety.statement-timeout"], ["safety", "CF133"], ["ALL"]])
def test_its_code_its_name_or_all_turn_it_on(select: list[str]) -> None:
    assert "CF133" in _codes(select)


def test_ignore_still_wins_over_naming() -> None:
    assert "CF133" not in _codes(["safety", "CF133"], ("CF133",))


@pytest.mark.parametrize("group", ["conventions", "tenancy", "cqrs"])
def test_a_pack_whose_rules_are_all_off_is_turned_on_by_its_group(group: str) -> None:
    members = {r.code for r in ALL_RULES if group in r.groups}
    assert members and _codes([group]) == members


def test_a_third_party_pack_follows_the_same_rule() -> None:
    class On(LintRule):
        code, name, groups, summary = "EX001", "ex.on", ("ex",), "on"

    class Off(LintRule):
        code, name, groups, summary, default_enabled = "EX002", "ex.off", ("ex",), "off", False

    assert {r.code for r in select_rules([On, Off], ["ex"])} == {"EX001"}
    assert {r.code for r in select_rules([On, Off], ["ex", "EX002"])} == {"EX001", "EX002"}


def test_through_the_cli_and_the_config(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\nselect = ["safety"]\n')
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.up.sql").write_text("SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c int;\n")

    def found(*args: str) -> set[str]:
        result = CliRunner().invoke(cli, ["--project", str(tmp_path), "lint", "--format", "json", "--no-cache", *args],
                                    catch_exceptions=False)
        return {v["code"] for v in json.loads(result.stdout)["violations"]}

    assert "CF133" not in found()  # [lint] select = ["safety"]
    assert "CF133" not in found("--select", "safety")
    assert "CF133" in found("--select", "safety,CF133")
    listed = CliRunner().invoke(cli, ["--project", str(tmp_path), "lint", "--list-rules"]).stdout
    assert [line.split()[1] for line in listed.splitlines() if line.startswith("CF133")] == ["off"]
