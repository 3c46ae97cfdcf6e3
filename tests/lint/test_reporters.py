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
