"""Each in-process test of the dry run names its scratch databases with a prefix of its own, so that a test
asserting that no shadow or copy is left does not see another xdist worker's (same server, same moment)."""

from __future__ import annotations

import uuid

import pytest

from confiture_core.dryrun import shadow


@pytest.fixture(autouse=True)
def _own_scratch_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shadow, "PREFIX", f"{shadow.PREFIX}t{uuid.uuid4().hex[:6]}_")
