"""The dry-run report's title says where it ran and how it ended: committed on a copy or shadow, or rolled back."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from confiture_core.dryrun import DryRunReport
from confiture_core.review import render


@pytest.mark.parametrize(("where", "shadow", "said"), [
    ("target", None, "dry run (rolled back; lock_timeout 2s)"),
    ("copy", None, "dry run (on a copy of the development database, committed there, then dropped; lock_timeout"),
    ("shadow", {"sample": "1%", "server": "embedded server"},
     "times predicted for the target; committed there, then dropped; lock_timeout 2s)"),
])
@pytest.mark.parametrize("width", [80, 200])
def test_the_title_says_how_the_dry_run_ended(where: str, shadow: dict[str, str] | None, said: str,
                                              width: int) -> None:
    out = io.StringIO()
    render(DryRunReport([], "2s", 180000, where=where, shadow=shadow),
           Console(file=out, width=width, no_color=True, soft_wrap=True))
    assert said in " ".join(out.getvalue().split())
