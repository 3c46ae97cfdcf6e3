"""The stairway and the exact-revert check over the revertible range of a shared corpus (ente, 94 to 124)."""

from __future__ import annotations

import pytest

from ..conftest import CORPUS

pytest_plugins = ["pytester"]

#: ente's downs run from 124 back to 94 (93's fails upstream: see tests/test_corpus.py)
ENTE_FIRST_REVERTIBLE = 94


@pytest.mark.slow
def test_ente_stairway_over_its_revertible_range(pytester: pytest.Pytester, server_env: str) -> None:
    (pytester.path / "confiture.toml").write_text(f'migrations_dir = "{CORPUS / "ente" / "migrations"}"\n')
    pytester.makepyfile(test_ente="from confiture_plugins.testing import test_down_reverts_exactly, "
                                  "test_stairway  # noqa: F401\n")
    pytester.makeini(f"[pytest]\nconfiture_stairway_start = {ENTE_FIRST_REVERTIBLE}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "stairway")
    # 94 adds enum labels; its down cannot remove them (PostgreSQL has no ALTER TYPE ... DROP VALUE), so
    # applying it again fails: the stairway finds what `migrate down` alone does not
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['migration 94 (file_data_preview), up, stairway: up again after down: '
                                 '*94_file_data_preview.up.sql:1: enum label "vid_preview" already exists*'])
    # applied once, not reverted: 95 to 124 each go up, down and up again, and revert exactly
    pytester.makeini(f"[pytest]\nconfiture_stairway_start = {ENTE_FIRST_REVERTIBLE}\nconfiture_irreversible = 94\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2)
