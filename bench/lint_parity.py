"""Score Confiture's lint rules against squawk's on the parity cases (tests/lint/parity/squawk_cases.toml).

Run::

    python bench/lint_parity.py [--cases FILE] [--verbose]

Each case is one migration, a squawk rule and whether that rule should report it. A case counts as
reported when any Confiture rule whose ``squawk`` attribute names that squawk rule reports it (plus the
engine's CF003 for ``ban-concurrent-index-creation-in-transaction``: a file mixing
``CREATE INDEX CONCURRENTLY`` with other statements cannot run as written). Prints per squawk rule the
cases, recall (reported among those that should be) and precision (right among those reported), then
the totals; exit 1 when any case disagrees. tests/lint/test_parity.py asserts 100% on our own suite.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from confiture_core.lint.engine import lint_text  # noqa: E402
from confiture_core.lint.options import LintOptions  # noqa: E402
from confiture_core.lint.rule import LintRule  # noqa: E402

CASES = REPO / "tests" / "lint" / "parity" / "squawk_cases.toml"
#: Squawk rules whose equivalent is an engine finding, not a rule.
ENGINE_EQUIVALENTS = {"ban-concurrent-index-creation-in-transaction": frozenset({"CF003"})}


@dataclass(frozen=True)
class Case:
    """One parity case: the squawk ``rule``, the migration ``sql``, whether it ``fires``, the target ``pg``."""

    rule: str
    sql: str
    fires: bool
    pg: int = 18
    why: str = ""


def load_cases(path: Path = CASES) -> list[Case]:
    """The cases of ``path`` (a TOML file of ``[[case]]`` tables).

    :raises ValueError: a case with unknown keys or without ``rule``/``sql``/``fires``.
    """
    with path.open("rb") as f:
        raw = tomllib.load(f).get("case", [])
    out = []
    for i, c in enumerate(raw):
        if not {"rule", "sql", "fires"} <= set(c) <= {"rule", "sql", "fires", "pg", "why"}:
            raise ValueError(f"{path}: case {i + 1} has keys {sorted(c)}")
        out.append(Case(c["rule"], c["sql"], bool(c["fires"]), int(c.get("pg", 18)), c.get("why", "")))
    return out


def builtin_rules() -> list[type[LintRule]]:
    """The rules of the built-in safety and conventions packs."""
    from confiture_plugins import conventions, safety

    return [*safety.confiture_lint_rules(), *conventions.confiture_lint_rules()]


def equivalents(rules: Iterable[type[LintRule]]) -> dict[str, frozenset[str]]:
    """Squawk rule name -> the codes of the Confiture rules (and engine findings) equivalent to it."""
    out: dict[str, set[str]] = {k: set(v) for k, v in ENGINE_EQUIVALENTS.items()}
    for r in rules:
        for name in (r.squawk or "").split(","):
            if name.strip():
                out.setdefault(name.strip(), set()).add(r.code)
    return {k: frozenset(v) for k, v in out.items()}


def reported(case: Case, rules: Sequence[type[LintRule]], codes: frozenset[str]) -> bool:
    """Whether linting ``case.sql`` (every rule in ``rules`` that applies to ``case.pg``) reports one of
    ``codes``."""
    instances = [r() for r in rules if r.code in codes and r.applies_to(case.pg)]
    found = lint_text(case.sql, "1_parity.up.sql", instances, LintOptions(pg_version=case.pg)).violations
    return any(v.code in codes for v in found)


def score(cases: Sequence[Case], rules: Sequence[type[LintRule]] | None = None) -> tuple[
        dict[str, dict[str, int]], list[Case]]:
    """Per squawk rule the counts ``tp``/``fp``/``fn``/``tn``, and the cases that disagree.

    :raises KeyError: a case names a squawk rule no Confiture rule is equivalent to.
    """
    rules = list(rules) if rules is not None else builtin_rules()
    eq = equivalents(rules)
    counts: dict[str, dict[str, int]] = {}
    wrong: list[Case] = []
    for case in cases:
        got = reported(case, rules, eq[case.rule])
        key = ("tp" if case.fires else "fp") if got else ("fn" if case.fires else "tn")
        c = counts.setdefault(case.rule, {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        c[key] += 1
        if got != case.fires:
            wrong.append(case)
    return counts, wrong


def ratio(num: int, den: int) -> float:
    """``num / den``, 1.0 when ``den`` is 0."""
    return num / den if den else 1.0


def report(counts: Mapping[str, Mapping[str, int]], eq: Mapping[str, frozenset[str]]) -> str:
    """The per-rule table and the totals, as text."""
    lines = [f"{'squawk rule':<46} {'codes':<18} {'cases':>5} {'recall':>7} {'precision':>9}"]
    tot = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for name in sorted(counts):
        c = counts[name]
        for k in tot:
            tot[k] += c[k]
        lines.append(f"{name:<46} {','.join(sorted(eq.get(name, ()))):<18} {sum(c.values()):>5} "
                     f"{ratio(c['tp'], c['tp'] + c['fn']):>7.1%} {ratio(c['tp'], c['tp'] + c['fp']):>9.1%}")
    lines.append(f"{'total':<46} {'':<18} {sum(tot.values()):>5} {ratio(tot['tp'], tot['tp'] + tot['fn']):>7.1%} "
                 f"{ratio(tot['tp'], tot['tp'] + tot['fp']):>9.1%}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the scores; 1 when a case disagrees."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--verbose", action="store_true", help="print each disagreeing case's SQL")
    args = parser.parse_args(argv)
    rules = builtin_rules()
    counts, wrong = score(load_cases(args.cases), rules)
    print(report(counts, equivalents(rules)))
    for case in wrong:
        what = "missed" if case.fires else "wrongly reported"
        print(f"\n{what}: {case.rule} (pg {case.pg})" + (f"\n{case.sql}" if args.verbose else ""))
    return 1 if wrong else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
