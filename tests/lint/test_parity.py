"""Parity with squawk: every case of tests/lint/parity/squawk_cases.toml agrees (scored by bench/lint_parity.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_parity", REPO / "bench" / "lint_parity.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lint_parity"] = mod
    spec.loader.exec_module(mod)
    return mod


PARITY = _scorer()
RULES = PARITY.builtin_rules()
EQUIVALENTS = PARITY.equivalents(RULES)
CASES = PARITY.load_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{i + 1}-{c.rule}" for i, c in enumerate(CASES)])
def test_case_agrees(case: object) -> None:
    got = PARITY.reported(case, RULES, EQUIVALENTS[case.rule])  # type: ignore[attr-defined]
    assert got == case.fires, case  # type: ignore[attr-defined]


def test_every_squawk_rule_named_by_a_rule_has_cases_both_ways() -> None:
    named = {n for n in EQUIVALENTS}
    for name in named:
        fires = {c.fires for c in CASES if c.rule == name}
        assert fires == {True, False}, name


def test_the_issue_s_missing_squawk_rules_have_an_equivalent() -> None:
    for name in ("prefer-robust-stmts", "ban-drop-not-null", "ban-drop-constraint",
                 "require-concurrent-partition-detach", "ban-alter-domain-with-add-constraint",
                 "ban-create-domain-with-constraint", "require-enum-value-ordering", "require-table-schema",
                 "require-statement-timeout", "ban-uncommitted-transaction", "ban-duplicate-column-assignments"):
        assert EQUIVALENTS.get(name), name


def test_scorer_prints_recall_and_precision_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert PARITY.main([]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["squawk", "rule"] and "recall" in lines[0] and "precision" in lines[0]
    total = lines[-1].split()
    assert total[0] == "total" and total[-2:] == ["100.0%", "100.0%"]
    assert any(line.startswith("require-table-schema ") and "CF207" in line for line in lines)


def test_scorer_reports_a_disagreeing_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nrule = "ban-drop-table"\nsql = "DROP TABLE t;"\nfires = false\n', "utf-8")
    assert PARITY.main(["--cases", str(cases), "--verbose"]) == 1
    out = capsys.readouterr().out
    assert "wrongly reported: ban-drop-table" in out and "DROP TABLE t;" in out
    assert out.splitlines()[-4].split()[-2:] == ["100.0%", "0.0%"]
