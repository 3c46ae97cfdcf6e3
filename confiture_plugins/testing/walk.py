"""The stairway: each migration up, down, up again, in order, optionally checking that down reverts up exactly."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .databases import ConfitureDatabase, MigrationCheckFailed
from .fingerprint import Difference, without_implied

#: how many differences a failure lists before "and N more"
SHOWN_DIFFERENCES = 25


@dataclass(frozen=True)
class StairwayResult:
    """What a stairway walk did.

    :ivar reverted: versions applied, reverted and applied again, in order.
    :ivar applied_only: versions applied without being reverted (``irreversible``).
    """

    reverted: tuple[int, ...]
    applied_only: tuple[int, ...]


def walk_stairway(db: ConfitureDatabase, *, exact: bool = False, irreversible: Collection[int] = ()) -> StairwayResult:
    """Walk every migration newer than ``db.version``, in order: up, down, up again.

    With ``exact``, the schema's catalog fingerprint (see :mod:`.fingerprint`) after up then
    down must equal the one before up.

    :param db: a database at the version the walk starts from (its migrations stay applied).
    :param exact: also check that each down reverts its up exactly.
    :param irreversible: versions to apply without reverting (no down, or a down known to fail).
    :returns: what was walked.
    :raises MigrationCheckFailed: a step failed, a migration has no down (and is not listed in
        ``irreversible``), or (``exact``) the schema after up then down differs; the message names
        the migration, the direction and what differs.
    """
    __tracebackhide__ = True
    runner = db.runner()
    reverted: list[int] = []
    applied_only: list[int] = []
    for m in db.project.migrations:
        if m.version <= db.version:
            continue
        previous = db.project.previous_version(m.version)
        if m.version in irreversible:
            db.migrate("up", m.version, runner=runner, step="stairway")
            applied_only.append(m.version)
            continue
        if not m.has_down():
            raise MigrationCheckFailed(
                f"migration {m.version} ({m.name}) has no down migration: the stairway cannot revert it; write "
                f"one, or list {m.version} in the confiture_irreversible ini option to apply it without reverting")
        before = db.fingerprint() if exact else None
        db.migrate("up", m.version, runner=runner, step="stairway: first up")
        db.migrate("down", previous, runner=runner, step="stairway: down after up")
        if before is not None:
            _check_exact(m.version, m.name, before.diff(db.fingerprint()))
        db.migrate("up", m.version, runner=runner, step="stairway: up again after down")
        reverted.append(m.version)
    return StairwayResult(tuple(reverted), tuple(applied_only))


def _check_exact(version: int, name: str, found: list[Difference]) -> None:
    """:raises MigrationCheckFailed: ``found`` is not empty; the message lists the differences."""
    __tracebackhide__ = True
    if not found:
        return
    shown = without_implied(found)
    lines = [d.describe("before up", "after up then down") for d in shown[:SHOWN_DIFFERENCES]]
    if len(shown) > SHOWN_DIFFERENCES:
        lines.append(f"... and {len(shown) - SHOWN_DIFFERENCES} more")
    implied = len(found) - len(shown)
    raise MigrationCheckFailed(
        f"migration {version} ({name}): down does not revert up exactly; after up then down the schema differs "
        f"from before up in {len(shown)} place(s)"
        + (f" (plus {implied} {', '.join(sorted({d.category + 's' for d in found if d not in shown}))} of "
           "those objects)" if implied else "") + ":\n" + "\n".join(f"  - {line}" for line in lines))
