"""The plugin's settings: ini options of the project's pytest configuration, read once per session."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .project import ConfitureProject


@dataclass(frozen=True)
class Settings:
    """What the built-in tests read from the pytest configuration (override the ``confiture_settings``
    fixture to set them in code).

    :ivar stairway_start: the first version the stairway and the exact-revert check walk; older
        migrations are applied once, not reverted (``confiture_stairway_start``; ``None``: all).
    :ivar irreversible: versions the stairway applies without reverting (``confiture_irreversible``).
    :ivar lint_fail_on: ``"error"`` or ``"warning"``: ``test_lint_clean`` fails on a finding at or
        above it (``confiture_lint_fail_on``).
    :ivar prelude: SQL files loaded, in order, into the empty database every other one is copied
        from, before any migration: extensions, schemas or tables the migrations expect to find
        (``confiture_prelude``, paths relative to the ini file).
    """

    stairway_start: int | None = None
    irreversible: frozenset[int] = field(default_factory=frozenset)
    lint_fail_on: str = "error"
    prelude: tuple[Path, ...] = ()

    def start_version(self, project: ConfitureProject) -> int:
        """The version the stairway's database starts at: the one just before :attr:`stairway_start`
        (0 when unset).

        :raises KeyError: no migration has version :attr:`stairway_start`.
        """
        if self.stairway_start is None:
            return 0
        project.migration(self.stairway_start)
        return project.previous_version(self.stairway_start)
