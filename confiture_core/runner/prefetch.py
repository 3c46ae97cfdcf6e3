"""The next migrations' files parsed while the server runs the current one's message."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from ..errors import ConfitureError
from ..migrations import Direction, Migration
from ..sql import trusted_parsing
from . import gcpause


class Prefetch:
    """Builds the pglast ASTs that the pre-flight left unbuilt (see
    :meth:`~confiture_core.migrations.Migration.preflight`), for the migrations of a plan in order.

    The runner calls it between sending a migration's message and reading its results
    (:attr:`.body.Body.meanwhile`): the client's parse then overlaps the server's work instead of
    adding to it. It only parses (no database, no hook, no output), so what runs and in what order is
    unchanged; a file that fails to parse here is left unparsed and fails when its migration runs,
    as it would without the prefetch. (``busy()`` reads the results that came: the server's notices
    among them are printed then, as psycopg's wait prints them; printing builds no pglast node, which
    :func:`~confiture_core.sql.trusted_parsing` asks of its block.)

    :param plan: the migrations the run applies or reverts, in order.
    :param direction: ``"up"`` or ``"down"``.
    """

    def __init__(self, plan: Sequence[Migration], direction: Direction) -> None:
        self._queue = deque(m for m in plan if m.kind == "sql")
        self._direction = direction

    def _next(self) -> Migration | None:
        """The next migration of the plan whose file is not parsed yet."""
        while self._queue and self._queue[0].parsed(self._direction):
            self._queue.popleft()
        return self._queue[0] if self._queue else None

    def _parse(self, m: Migration) -> None:
        if self._queue and self._queue[0] is m:
            self._queue.popleft()
        try:
            m.sql(self._direction)
        except ConfitureError:
            pass  # said when the migration runs (Migration.sql raises it again)

    def __call__(self, busy: Callable[[], bool]) -> None:
        """Parse the next files not parsed yet, one after the other, as long as ``busy()`` (the server has
        not answered yet)."""
        if self._next() is None or not busy():
            return
        # nothing but parsing in the block (see trusted_parsing); no collection meanwhile, and the trees kept out
        # of later ones (see .gcpause)
        with gcpause.paused(), trusted_parsing():
            while (m := self._next()) is not None:
                self._parse(m)
                if not busy():
                    break
        gcpause.freeze_more()

    def ready(self, m: Migration) -> None:
        """Parse ``m``'s file now, when the server's work left no time to (on the fast path, as the pre-flight
        did)."""
        if m.kind == "sql" and not m.parsed(self._direction):
            with gcpause.paused(), trusted_parsing():
                self._parse(m)
            gcpause.freeze_more()
