"""Test a project's migrations with pytest: fixtures (the ``pytest11`` plugin) and built-in tests to import.

::

    # tests/test_migrations.py: the stairway, the exact-revert check, all migrations up
    from confiture_plugins.testing import test_down_reverts_exactly, test_stairway, test_upgrade  # noqa: F401

The plugin (:mod:`.plugin`) gives the fixtures ``confiture_project``, ``confiture_server``,
``confiture_settings``, ``confiture_db``, ``confiture_db_at`` and ``confiture_runner``. The
built-in tests (:mod:`.builtin`): ``test_upgrade``, ``test_stairway``,
``test_down_reverts_exactly``, ``test_lint_clean``, ``test_hooks_load``. Guide:
``docs/testing-your-migrations.md``.

Names are loaded on first use: pytest loads this package with the plugin in every
session, which must cost nothing when no ``confiture_*`` fixture is used.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .builtin import test_down_reverts_exactly, test_hooks_load, test_lint_clean, test_stairway, test_upgrade
    from .checks import check_lint, check_plugins
    from .databases import ConfitureDatabase, DatabaseFactory, MigrationCheckFailed, Templates
    from .fingerprint import Difference, Fingerprint, fingerprint
    from .project import ConfitureProject, PluginWarning
    from .server import TestServer
    from .settings import Settings
    from .walk import StairwayResult, walk_stairway

_WHERE = {
    "test_upgrade": "builtin", "test_stairway": "builtin", "test_down_reverts_exactly": "builtin",
    "test_lint_clean": "builtin", "test_hooks_load": "builtin",
    "check_lint": "checks", "check_plugins": "checks",
    "ConfitureDatabase": "databases", "DatabaseFactory": "databases", "MigrationCheckFailed": "databases",
    "Templates": "databases",
    "Difference": "fingerprint", "Fingerprint": "fingerprint", "fingerprint": "fingerprint",
    "ConfitureProject": "project", "PluginWarning": "project",
    "TestServer": "server", "Settings": "settings",
    "StairwayResult": "walk", "walk_stairway": "walk",
}

__all__ = [
    "ConfitureDatabase",
    "ConfitureProject",
    "DatabaseFactory",
    "Difference",
    "Fingerprint",
    "MigrationCheckFailed",
    "PluginWarning",
    "Settings",
    "StairwayResult",
    "Templates",
    "TestServer",
    "check_lint",
    "check_plugins",
    "fingerprint",
    "test_down_reverts_exactly",
    "test_hooks_load",
    "test_lint_clean",
    "test_stairway",
    "test_upgrade",
    "walk_stairway",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> object:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
