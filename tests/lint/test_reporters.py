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
    from confiture_core.lint.results import FileResult, LintReport
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


def test_prepared_json_is_the_same_document(tmp_path: Path) -> None:
    """Findings laid out by the linting processes (``prepare_json``) give the same text as laying them
    out at the end, also when some results come from the cache (no prepared text) or were prepared
    for another base folder."""
    from confiture_core.lint.reporters import prepare_json

    target = CORPUS / "ente" / "migrations"
    plain = Linter(ALL_RULES, jobs=1).lint_paths([target])
    expected = render_json(plain, CORPUS)
    prepared = Linter(ALL_RULES, jobs=2, prepare=prepare_json(CORPUS)).lint_paths([target])
    assert all(f.rendered is not None for f in prepared.files)
    assert render_json(prepared, CORPUS) == expected
    assert render_json(prepared, tmp_path) == render_json(plain, tmp_path)  # prepared for CORPUS: not used
    cache = tmp_path / "cache"
    Linter(ALL_RULES, jobs=1, cache_dir=cache).lint_paths([target])
    mixed = Linter(ALL_RULES, jobs=1, cache_dir=cache, prepare=prepare_json(CORPUS)).lint_paths([target])
    assert mixed.cache_hits == len(mixed.files) and all(f.rendered is None for f in mixed.files)
    uncached = render_json(mixed, CORPUS).replace('"cached": true', '"cached": false')
    assert uncached.replace(f'"cache_hits": {len(mixed.files)}', '"cache_hits": 0') == expected


def test_render_json_container_values_are_laid_out_as_json_dumps_indent_2() -> None:
    """A rule pack's Violation may hold a list, tuple or dict (any key type JSON allows): laid out by
    ``indent=2`` like the rest of the document, not on one line; prepared parts too."""
    from confiture_core.lint.reporters import prepare_json
    from confiture_core.lint.results import FileResult, LintReport
    from confiture_core.lint.rule import Violation

    odd = Violation("X999", ["a", {"k": (1, [])}], "a.sql", 1, 2, "error",
                    {"x": {}, 3: [True], None: 1.5, False: "%s"}, ())  # type: ignore[arg-type]
    plain = FileResult("a.sql", [odd], 1)
    prepared = FileResult("a.sql", [odd], 1)
    prepare_json(None)(prepared)
    for result in (plain, prepared):
        report = LintReport([result], [], 18)
        doc = json.loads(json.dumps(report.violations[0].to_dict()))
        out = render_json(report, None)
        assert json.loads(out)["violations"] == [doc]
        assert out == json.dumps(json.loads(out), indent=2) + "\n"
