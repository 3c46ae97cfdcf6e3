"""Every case of every built-in rule: the SQL it must flag and the SQL it must accept.

A rule's cases live in ``tests/lint/rules/<pack>/<module>.toml``, beside nothing but mirroring
the rule's module ``confiture_plugins/<pack>/<module>.py`` (as sqlfluff keeps
``test/fixtures/rules/std_rule_cases/<rule>.yml``). Each TOML table is one case:

- ``fail``: SQL the rule must flag (at least one finding of the rule's code; every such finding has
  the rule's name and severity, a position, and a message that says why and what to do);
- ``pass``: SQL the rule must not flag; a case has ``fail``, ``pass`` or both;
- ``pg``: the target PostgreSQL major version (default 18);
- ``rules``: the codes run together (default: only this rule);
- ``config``: the ``[lint]`` table (e.g. ``{tenancy = {column = "org_id"}}``);
- ``lock_timeout``: the project's ``lock_timeout`` setting;
- ``count``: the exact number of the rule's findings in ``fail``;
- ``findings``: the rule's findings in ``fail``, exactly and in order, each checked on the keys it
  gives: ``line``, ``column``, ``starts`` (the message's beginning), ``has`` (substrings of the message).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from confiture_core.lint.rule import LintRule
from tests.lint.helpers import ALL_RULES, BY_CODE, run

CASES_DIR = Path(__file__).resolve().parent / "rules"
_KEYS = {"fail", "pass", "pg", "rules", "config", "lock_timeout", "count", "findings"}
_FINDING_KEYS = {"line", "column", "starts", "has"}


def case_file(rule: type[LintRule]) -> Path:
    """``tests/lint/rules/<pack>/<module>.toml`` for the rule defined in ``confiture_plugins.<pack>.<module>``."""
    _, pack, module = rule.__module__.split(".")
    return CASES_DIR / pack / f"{module}.toml"


@dataclass(frozen=True)
class Case:
    """One case of one rule (see the module's docstring for the keys)."""

    code: str
    name: str
    data: dict[str, Any]

    def lint(self, sql: str) -> list[Any]:
        """The findings of the case's rule in ``sql``, run with the case's options."""
        d = self.data
        rules = [BY_CODE[c] for c in d.get("rules", [self.code])]
        found = run(sql, rules, pg=d.get("pg", 18), config=d.get("config"), lock_timeout=d.get("lock_timeout"))
        return [v for v in found if v.code == self.code]


def load_cases() -> list[Case]:
    """Every case of every built-in rule, in code order then file order."""
    out = []
    for rule in sorted(ALL_RULES, key=lambda r: r.code):
        path = case_file(rule)
        if path.exists():
            with path.open("rb") as f:
                out += [Case(rule.code, name, data) for name, data in tomllib.load(f).items()]
    return out


CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{c.name}" for c in CASES])
def test_rule_case(case: Case) -> None:
    d = case.data
    assert set(d) <= _KEYS and ("fail" in d or "pass" in d), f"{case.code} [{case.name}]: bad keys {sorted(d)}"
    rule = BY_CODE[case.code]
    if "fail" in d:
        found = case.lint(d["fail"])
        assert found, f"{case.code} did not flag: {d['fail']}"
        for v in found:
            assert (v.name, v.severity) == (rule.name, rule.severity)
            assert v.line >= 1 and v.column >= 1
            assert len(v.message) > 40  # says why and what to do
        if "count" in d:
            assert len(found) == d["count"], [v.message for v in found]
        if "findings" in d:
            assert len(found) == len(d["findings"]), [v.message for v in found]
            for v, want in zip(found, d["findings"], strict=True):
                assert set(want) <= _FINDING_KEYS, want
                assert v.line == want.get("line", v.line) and v.column == want.get("column", v.column), v
                assert v.message.startswith(want.get("starts", "")), v.message
                for part in want.get("has", ()):
                    assert part in v.message, (part, v.message)
    if "pass" in d:
        assert [v.message for v in case.lint(d["pass"])] == []


def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    for rule in ALL_RULES:
        cases = [c.data for c in CASES if c.code == rule.code]
        assert any("fail" in c for c in cases) and any("pass" in c for c in cases), case_file(rule)


def test_every_case_file_belongs_to_a_rule() -> None:
    assert sorted(CASES_DIR.rglob("*.toml")) == sorted(case_file(r) for r in ALL_RULES)


def test_each_rule_module_is_named_after_the_rule() -> None:
    # safety.concurrent-index is confiture_plugins.safety.concurrent_index, and is alone there
    for rule in ALL_RULES:
        assert rule.__module__ == "confiture_plugins." + rule.name.replace("-", "_"), rule.code
    assert len({r.__module__ for r in ALL_RULES}) == len(ALL_RULES)


def test_every_rule_is_documented() -> None:
    for r in ALL_RULES:
        r.validate_class()
        assert r.explanation and "Instead" in r.explanation, r.code


def test_pg_version_bounds_filter_rules() -> None:
    from confiture_core.lint.engine import Linter
    from confiture_core.lint.options import LintOptions

    class Old(LintRule):
        code, name, groups, summary = "XX001", "x.old", ("x",), "only before 12"
        max_pg_version = 11

    assert [r.code for r in Linter([Old], LintOptions(pg_version=11), jobs=1).rules] == ["XX001"]
    assert Linter([Old], LintOptions(pg_version=12), jobs=1).rules == []
