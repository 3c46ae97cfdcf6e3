"""The plugin's tests run pytest inside pytest (pytester, in-process) on the suite's server.

An in-process run forgets the modules first imported during it; pglast's compiled
parser keeps the classes of the ``pglast.ast`` it first saw, so a module imported
again in a later run would no longer match them. Everything the inner runs use is
therefore imported here first, once, and stays.
"""

from __future__ import annotations

import importlib
import importlib.metadata

import pytest

import confiture_core.cli.lint
import confiture_core.lint.engine
import confiture_core.lint.reporters
import confiture_core.runner  # noqa: F401
import confiture_plugins.testing.builtin
import confiture_plugins.testing.checks
import confiture_plugins.testing.plugin
import confiture_plugins.testing.walk  # noqa: F401

from ..conftest import Server

for _ep in importlib.metadata.entry_points(group="confiture"):
    if _ep.module.startswith("confiture_plugins."):
        importlib.import_module(_ep.module)


@pytest.fixture
def server_env(pg_server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``CONFITURE_TEST_SERVER_URL`` set to the suite's server (the inner runs make their databases there)."""
    url = pg_server.url("postgres")
    monkeypatch.setenv("CONFITURE_TEST_SERVER_URL", url)
    return url
