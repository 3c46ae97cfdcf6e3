"""A warning about the setup (the shadow server's version) is said once per command, not per preflight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.cli.output import Output

from ..conftest import run_cli, write
from .terminal import Terminal
from .test_wizard_terminal import CHOICES, drive, risky_index


def test_warn_once_says_each_warning_once(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output()
    for message in ("shadow is 18, target 15", "another", "shadow is 18, target 15"):
        out.warn_once(message)
    out.warn("repeated on purpose")
    out.warn("repeated on purpose")  # warn itself never drops a warning
    assert capsys.readouterr().err.splitlines() == [
        "warning: shadow is 18, target 15", "warning: another", "warning: repeated on purpose",
        "warning: repeated on purpose"]


def test_the_shadow_version_warning_is_given_once(project: Path, db: psycopg.Connection[Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two preflights on the embedded shadow (before the first screen, after the apply): the warning that the
    shadow's major version is not the target's, when it is not, is said once, not once per preflight."""
    monkeypatch.delenv("CONFITURE_DRY_RUN_WHERE", raising=False)  # the default: a shadow database
    risky_index(project, db)
    write(project / "migrations", "20_drop.up.sql", "DROP TABLE IF EXISTS audit_log;\n")
    try:
        s = drive(Terminal(project, cols=80, rows=200), [(CHOICES, "a"), (CHOICES, "q")])
    finally:
        run_cli("server", "stop", cwd=project)
    s.assert_sane()
    words = " ".join(s.text.split())  # the lines as wrapped at 80 columns, joined again
    assert words.count("dry run on a shadow database") == 2  # two preflights did run on the shadow
    shadow_major = int((project / ".confiture" / "pgdata" / "PG_VERSION").read_text())
    differs = db.info.server_version // 10000 != shadow_major
    assert words.count("runs PostgreSQL") == (1 if differs else 0), s.screen
