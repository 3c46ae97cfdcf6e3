"""Checks that run no migration: the lint rules over every migration, the plugins under ``--strict-plugins``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from confiture_core.config import Config

from .databases import MigrationCheckFailed
from .project import ConfitureProject
from .server import TestServer

#: the levels ``test_lint_clean`` can fail on: a finding at or above the level fails it
LINT_LEVELS = ("error", "warning")


@dataclass
class _LintApp:
    """What :func:`confiture_core.cli.lint.lint_for_review` asks of the CLI's app, for the test server."""

    config: Config
    project: ConfitureProject
    server: TestServer | None

    def lint_rules(self) -> list[Any]:
        from confiture_core.plugins import collect_lint_rules

        return collect_lint_rules(self.project.plugin_manager)

    def server_major_version(self) -> int | None:
        return self.server.major_version() if self.server is not None else None


def check_lint(project: ConfitureProject, server: TestServer | None, fail_on: str = "error") -> int:
    """Lint every migration (pending and applied: all up files; down files too with ``[lint] include_down``)
    with the project's rule selection (``[lint] select``/``ignore``), for the test server's PostgreSQL
    version (``[lint] pg_version`` without a server), as ``confiture lint`` does.

    :param fail_on: ``"error"`` or ``"warning"``: a finding at or above it fails.
    :returns: the number of files linted.
    :raises ValueError: ``fail_on`` is not a level.
    :raises MigrationCheckFailed: findings at or above ``fail_on``; the message holds ``confiture lint``'s
        report (file, line, rule, message).
    :raises ConfigError: invalid ``[lint]`` settings.
    """
    __tracebackhide__ = True
    from confiture_core.cli.lint import exit_code, lint_for_review
    from confiture_core.lint.reporters import render_text

    if fail_on not in LINT_LEVELS:
        raise ValueError(f"confiture_lint_fail_on = {fail_on!r}; expected one of {', '.join(LINT_LEVELS)}")
    config = project.config
    files = [m.up_path for m in project.migrations if m.kind == "sql"]
    if config.section("lint").get("include_down") is True:
        files += [m.down_path for m in project.migrations if m.kind == "sql" and m.down_path is not None]
    url = server.url("postgres") if server is not None else None
    app = _LintApp(replace(config, database_url=url), project, server)
    report = lint_for_review(app, files)
    if exit_code(report, fail_on):
        text = render_text(report, config.project_dir)
        raise MigrationCheckFailed(f"lint findings at or above {fail_on} (confiture_lint_fail_on) in the "
                                   f"migrations of {config.migrations_dir}:\n{text.rstrip()}")
    return len(files)


def check_plugins(project: ConfitureProject) -> list[str]:
    """Load every plugin of the project as ``confiture --strict-plugins`` does.

    :returns: the names of the plugins loaded.
    :raises MigrationCheckFailed: a plugin failed to import, implements a hook Confiture does not
        have, or a name in ``[plugins]`` matches no plugin (every problem named at once).
    """
    __tracebackhide__ = True
    from confiture_core.errors import ConfigError

    try:
        loader = project.load_plugins(strict=True)
    except ConfigError as exc:
        raise MigrationCheckFailed(f"the project's plugins do not all load under --strict-plugins: {exc}") from None
    return [info.name for info in loader.infos if info.status == "loaded"]
