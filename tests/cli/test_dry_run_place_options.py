"""`migrate up`'s options for where the dry run goes: contradictions are usage errors, never a silent choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import invoke


@pytest.mark.parametrize(("args", "says"), [
    (("--dry-run", "--shadow", "--on-target"), "--shadow and --on-target contradict each other"),
    (("--dry-run", "--on-target", "--shadow", "--on-target"), "--shadow and --on-target contradict each other"),
    (("--dry-run", "--on-target", "--shadow-url", "postgresql://u:pw@h/db"), "it does not go with --on-target"),
    (("--yes", "--on-target"), "--on-target chooses where the dry run goes, and --yes applies without one"),
    (("--yes", "--shadow"), "--shadow chooses where the dry run goes"),
])
def test_contradicting_options_exit_2(project: Path, args: tuple[str, ...], says: str) -> None:
    r = invoke("migrate", "up", *args, cwd=project)
    assert r.code == 2, r.stderr
    assert says in r.stderr
    assert "pw@" not in r.stderr
