"""The JSON reporter's hand-made layout is exactly ``json.dumps(..., indent=2)``."""

from __future__ import annotations

import json
from pathlib import Path

from confiture_core.lint.engine import Linter
from confiture_core.lint.reporters import render_json
from tests.lint.helpers import ALL_RULES, CORPUS


def test_render_json_is_json_dumps_indent_2(tmp_path: Path) -> None:
    odd = tmp_path / "odd.sql"
    odd.write_text('CREATE TABLE "t}, {x" (c varchar(9) DEFAULT E\'a\\n}\\n,{"\', d int);\n'
                   "COMMENT ON TABLE \"t}, {x\" IS 'é ☃ \\\";\n")
    report = Linter(ALL_RULES, jobs=1).lint_paths([CORPUS / "ente" / "migrations", odd])
    out = render_json(report, CORPUS)
    assert len(json.loads(out)["violations"]) > 100
    assert out == json.dumps(json.loads(out), indent=2) + "\n"


def test_render_json_odd_values_and_empty_lists_match_json_dumps() -> None:
    """A rule pack may build a Violation with values of other types; empty lists stay ``[]``."""
    from confiture_core.lint.engine import FileResult, LintReport
    from confiture_core.lint.rule import Violation

    odd = Violation("X999", "m\u2603\n\"q\"", "a/b.sql", True, 2.5, "warning", None, 7)  # type: ignore[arg-type]
    report = LintReport([FileResult("a/b.sql", [odd], 3), FileResult("c.sql", [], 0)], [], 18)
    out = render_json(report, None)
    doc = json.loads(out)
    assert doc["violations"] == [{"code": "X999", "message": "m\u2603\n\"q\"", "path": "a/b.sql", "line": True,
                                  "column": 2.5, "severity": "warning", "excerpt": None, "name": 7}]
    assert out == json.dumps(doc, indent=2) + "\n"
    empty = render_json(LintReport([], [], 18), None)
    assert json.loads(empty)["files"] == [] and json.loads(empty)["violations"] == []
    assert empty == json.dumps(json.loads(empty), indent=2) + "\n"
