"""The built-in migration tests a project turns on by importing them into one of its test modules.

::

    # tests/test_migrations.py
    from confiture_plugins.testing import test_down_reverts_exactly, test_stairway, test_upgrade  # noqa: F401

Each is an ordinary pytest test function that asks for the plugin's fixtures
(:mod:`confiture_plugins.testing.plugin`). A failure is reported without a
traceback: the migration, the direction and what went wrong or what differs.
"""

from __future__ import annotations

from collections.abc import Callable

from .databases import DatabaseFactory, MigrationCheckFailed
from .project import ConfitureProject
from .server import TestServer
from .settings import Settings


def _check(check: Callable[[], object]) -> None:
    """Run ``check``; a :class:`MigrationCheckFailed` (or an unknown version) fails the test with its
    message alone, no traceback."""
    __tracebackhide__ = True
    try:
        check()
    except MigrationCheckFailed as exc:
        message = str(exc)
    except KeyError as exc:  # a version in the settings that no migration has
        message = str(exc.args[0])
    else:
        return
    import pytest

    pytest.fail(message, pytrace=False)


def test_upgrade(confiture_db_at: DatabaseFactory) -> None:
    """Every migration applies, in one ``up`` run, on an empty database."""
    db = confiture_db_at(0)
    _check(lambda: db.migrate("up", step="on an empty database"))
    applied = set(db.applied_versions())
    missing = [m.version for m in db.project.migrations if m.version not in applied]
    assert not missing, f"up on an empty database left versions {missing} unapplied"


def test_stairway(confiture_db_at: DatabaseFactory, confiture_settings: Settings) -> None:
    """Each migration, in order: up, down, up again (from ``confiture_stairway_start`` on)."""
    from .walk import walk_stairway

    _check(lambda: walk_stairway(confiture_db_at(confiture_settings.start_version(confiture_db_at.project)),
                                 irreversible=confiture_settings.irreversible))


def test_down_reverts_exactly(confiture_db_at: DatabaseFactory, confiture_settings: Settings) -> None:
    """The schema after each migration's up then down equals the schema before its up (a catalog
    fingerprint: tables, columns, types, defaults, constraints, indexes, views, functions, triggers,
    sequences, enums, grants, policies, extensions)."""
    from .walk import walk_stairway

    _check(lambda: walk_stairway(confiture_db_at(confiture_settings.start_version(confiture_db_at.project)),
                                 exact=True, irreversible=confiture_settings.irreversible))


def test_lint_clean(confiture_project: ConfitureProject, confiture_server: TestServer,
                    confiture_settings: Settings) -> None:
    """No lint finding at or above ``confiture_lint_fail_on`` (default ``error``) in any migration,
    pending or applied, with the project's ``[lint]`` rule selection."""
    from .checks import check_lint

    _check(lambda: check_lint(confiture_project, confiture_server, confiture_settings.lint_fail_on))


def test_hooks_load(confiture_project: ConfitureProject) -> None:
    """Every plugin the project configures loads under ``--strict-plugins``."""
    from .checks import check_plugins

    _check(lambda: check_plugins(confiture_project))
