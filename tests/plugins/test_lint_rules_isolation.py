"""A pack whose ``confiture_lint_rules`` fails is named and skipped (an error under --strict-plugins)."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import run_cli, write
from .helpers import add_plugin, configure

GOOD = """
from confiture_core.lint.rule import LintRule

class NoDrop(LintRule):
    code = 'GD001'
    name = 'good.no-drop'
    groups = ('good',)
    summary = 'no DROP'

    def check(self, statement, ctx):
        if statement.kind == 'DropStmt':
            yield self.violation(statement, ctx)

@hookimpl
def confiture_lint_rules():
    return [NoDrop]
"""


def setup(project: Path) -> None:
    configure(project)
    write(project / "migrations", "1_a.up.sql", "DROP TABLE IF EXISTS x;\n")
    add_plugin(project, "good", GOOD)
    add_plugin(project, "broken", """
        @hookimpl
        def confiture_lint_rules():
            raise RuntimeError("rules module missing")
        """)
    add_plugin(project, "wrongtype", """
        @hookimpl
        def confiture_lint_rules():
            return 42
        """)


def test_failing_pack_is_named_and_skipped_others_still_load(project: Path) -> None:
    setup(project)
    r = run_cli("lint", "--select", "GD001", "--format", "json", cwd=project)
    assert "plugin 'broken': confiture_lint_rules failed (RuntimeError: rules module missing); its lint rules " \
           "are skipped" in r.stderr
    assert "plugin 'wrongtype': confiture_lint_rules failed (TypeError: returned int, expected a list of lint " \
           "rule classes)" in r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert "GD001" in json.dumps(doc), r.stdout  # the good pack's rule still ran


def test_failing_pack_is_an_error_under_strict_plugins(project: Path) -> None:
    setup(project)
    r = run_cli("--strict-plugins", "lint", cwd=project)
    assert r.code == 2, r.stderr
    assert "plugin 'broken': confiture_lint_rules failed (RuntimeError: rules module missing)" in r.stderr
    assert "(--strict-plugins)" in r.stderr and "Traceback" not in r.stderr


def test_plugins_lists_the_good_packs_rules(project: Path) -> None:
    setup(project)
    r = run_cli("plugins", "--format", "json", cwd=project)
    assert r.code == 0, r.stderr
    infos = {p["name"]: p for p in json.loads(r.stdout)["plugins"]}
    assert infos["good"]["lint_rules"] == ["GD001"]
    assert infos["broken"]["lint_rules"] == []
    assert "plugin 'broken': confiture_lint_rules failed" in r.stderr
