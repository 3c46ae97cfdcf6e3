"""The project under test: its configuration, its migrations and its plugins, loaded once per session."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from confiture_core.config import Config, load_config
from confiture_core.migrations import Migration, discover

if TYPE_CHECKING:
    import pluggy

    from confiture_core.hookcaller import Hooks
    from confiture_core.plugins import PluginLoader


class PluginWarning(UserWarning):
    """A Confiture plugin of the project was skipped (it failed to import, or implements an unknown hook)."""


@dataclass
class ConfitureProject:
    """A Confiture project as the tests see it.

    :ivar config: its configuration, read as ``confiture`` reads it (``confiture.toml`` or
        ``[tool.confiture]`` in ``pyproject.toml``), with **no** database URL: tests run on
        the test server only, never on the database the project deploys to.
    :ivar root: the folder the configuration was searched from.
    """

    config: Config
    root: Path
    _migrations: list[Migration] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, root: Path, config_file: Path | None = None) -> ConfitureProject:
        """Read the project's configuration, searching upwards from ``root``.

        :param root: the project folder (``--confiture-project``, else pytest's rootdir).
        :param config_file: an explicit config file instead of the search.
        :raises ConfigError: unreadable or invalid configuration (the file is named).
        """
        config = load_config(config_file, cwd=root, env={})  # env={}: DATABASE_URL & co. are ignored
        return cls(replace(config, database_url=None, database_url_source="none"), root)

    @property
    def migrations(self) -> list[Migration]:
        """The migrations on disk, by version (discovered once).

        :raises MigrationFileError: no migrations folder, or a misnamed or unreadable file.
        """
        if self._migrations is None:
            self._migrations = discover(self.config.migrations_dir)
        return self._migrations

    @property
    def head(self) -> int:
        """The newest version on disk, 0 when there is no migration."""
        return self.migrations[-1].version if self.migrations else 0

    def migration(self, version: int) -> Migration:
        """The migration of ``version``.

        :raises KeyError: no migration has that version.
        """
        for m in self.migrations:
            if m.version == version:
                return m
        raise KeyError(f"no migration has version {version} in {self.config.migrations_dir}")

    def previous_version(self, version: int) -> int:
        """The version just before ``version`` on disk, 0 for the first one."""
        older = [m.version for m in self.migrations if m.version < version]
        return older[-1] if older else 0

    def load_plugins(self, *, strict: bool = False) -> PluginLoader:
        """Load the project's Confiture plugins as ``confiture`` does (entry points, ``[plugins] dir``).

        Skipped plugins are reported as :class:`PluginWarning` warnings (pytest shows them).

        :param strict: ``--strict-plugins``: a skipped plugin raises instead.
        :raises ConfigError: with ``strict``, every problem at once; or a wrong ``[plugins]`` table.
        """
        from confiture_core.plugins import PluginLoader, PluginOptions

        loader = PluginLoader(self.config, PluginOptions(strict=strict),
                              warn=lambda message: warnings.warn(message, PluginWarning, stacklevel=2))
        loader.load()
        return loader

    @cached_property
    def _loader(self) -> PluginLoader:
        from confiture_core.hookcaller import Hooks

        loader = self.load_plugins()
        Hooks(loader.pm).configure(self.config)
        return loader

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The loaded plugin manager (loaded once, ``confiture_configure`` called)."""
        return self._loader.pm

    def hooks(self) -> Hooks:
        """A savepoint-isolating hook facade over the loaded plugins (non-fatal ones only warn)."""
        from confiture_core.hookcaller import Hooks

        return Hooks(self._loader.pm, self._loader.non_fatal,
                     warn=lambda message: warnings.warn(message, PluginWarning, stacklevel=2))
