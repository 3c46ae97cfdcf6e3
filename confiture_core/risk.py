"""Table-level lock modes, what each blocks, and the risk levels of a migration.

Facts come from the PostgreSQL documentation, chapter "Explicit Locking",
section "Table-Level Locks" and its "Conflicting Lock Modes" table
(https://www.postgresql.org/docs/current/explicit-locking.html), plus the
"Notes" of ``ALTER TABLE`` (which subcommand takes which lock, when a table
is rewritten; https://www.postgresql.org/docs/current/sql-altertable.html).
The conflict table has been the same from PostgreSQL 9.x to 18.

Risk levels, from least to most dangerous (each implies the ones below it are
not enough to describe the migration):

``safe``
    No lock that blocks reads or writes of a pre-existing table (e.g. ROW
    EXCLUSIVE of an INSERT, SHARE UPDATE EXCLUSIVE of CREATE INDEX
    CONCURRENTLY), or only objects created by this run were touched.
``blocks-writes``
    A SHARE, SHARE ROW EXCLUSIVE or EXCLUSIVE lock on a pre-existing table:
    INSERT/UPDATE/DELETE wait until the migration commits.
``blocks-reads-writes``
    ACCESS EXCLUSIVE on a pre-existing table: even SELECT waits.
``rewrites-table``
    A pre-existing table got a new relfilenode (the whole table was copied
    while holding ACCESS EXCLUSIVE): the blocking lasts as long as the copy.
``destructive``
    Data is removed from a pre-existing table: DROP TABLE, DROP COLUMN,
    TRUNCATE, DELETE or UPDATE without WHERE, DROP SCHEMA/MATERIALIZED VIEW.
"""

from __future__ import annotations

from enum import IntEnum

from .errors import ConfigError

#: pg_locks ``mode`` -> the SQL name used by the documentation and ``LOCK TABLE``.
MODE_NAMES: dict[str, str] = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}

#: The modes from weakest to strongest (the documentation's order).
MODES: tuple[str, ...] = tuple(MODE_NAMES.values())

#: "Conflicting Lock Modes" (Table 13.2 of the PostgreSQL 18 documentation):
#: requested mode -> the modes it conflicts with (symmetric).
CONFLICTS: dict[str, frozenset[str]] = {
    "ACCESS SHARE": frozenset({"ACCESS EXCLUSIVE"}),
    "ROW SHARE": frozenset({"EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "ROW EXCLUSIVE": frozenset({"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "SHARE UPDATE EXCLUSIVE": frozenset({"SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE",
                                         "ACCESS EXCLUSIVE"}),
    "SHARE": frozenset({"ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE",
                        "ACCESS EXCLUSIVE"}),
    "SHARE ROW EXCLUSIVE": frozenset({"ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
                                      "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "EXCLUSIVE": frozenset({"ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
                            "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "ACCESS EXCLUSIVE": frozenset(MODES),
}

#: Common operations that acquire each mode (from the same documentation section).
OPERATIONS: dict[str, tuple[str, ...]] = {
    "ACCESS SHARE": ("SELECT",),
    "ROW SHARE": ("SELECT FOR UPDATE/SHARE",),
    "ROW EXCLUSIVE": ("INSERT", "UPDATE", "DELETE", "MERGE"),
    "SHARE UPDATE EXCLUSIVE": ("VACUUM", "ANALYZE", "CREATE INDEX CONCURRENTLY", "CREATE STATISTICS",
                               "ALTER TABLE VALIDATE CONSTRAINT"),
    "SHARE": ("CREATE INDEX",),
    "SHARE ROW EXCLUSIVE": ("CREATE TRIGGER", "ALTER TABLE ADD FOREIGN KEY"),
    "EXCLUSIVE": ("REFRESH MATERIALIZED VIEW CONCURRENTLY",),
    "ACCESS EXCLUSIVE": ("DROP TABLE", "TRUNCATE", "VACUUM FULL", "most ALTER TABLE"),
}


def mode_name(pg_locks_mode: str) -> str:
    """The SQL name of a ``pg_locks.mode`` value (``"ShareLock"`` -> ``"SHARE"``); unknown ones unchanged."""
    return MODE_NAMES.get(pg_locks_mode, pg_locks_mode)


def blocked_operations(mode: str) -> list[str]:
    """The common operations other sessions cannot run while ``mode`` is held.

    :param mode: a SQL lock-mode name such as ``"SHARE"`` (see :data:`MODES`).
    :returns: e.g. for ``"SHARE"``: INSERT, UPDATE, DELETE, MERGE, VACUUM, ... in
        the documentation's order; ``[]`` for an unknown mode.
    """
    out: list[str] = []
    for other in MODES:
        if other in CONFLICTS.get(mode, frozenset()):
            out.extend(OPERATIONS[other])
    return out


def strongest(modes: list[str]) -> str | None:
    """The strongest of ``modes`` (SQL names) by the documentation's order, or ``None``."""
    known = [m for m in modes if m in MODES]
    return max(known, key=MODES.index) if known else None


class Risk(IntEnum):
    """Risk level of a statement or migration; ordered, compare with ``>=``."""

    SAFE = 0
    BLOCKS_WRITES = 1
    BLOCKS_READS_WRITES = 2
    REWRITES_TABLE = 3
    DESTRUCTIVE = 4

    @property
    def label(self) -> str:
        """The name used in reports and configuration (``"blocks-writes"``)."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, text: str, where: str = "risk level") -> Risk:
        """Parse a label such as ``"rewrites-table"``.

        :raises ConfigError: unknown label (the message lists the valid ones).
        """
        for r in cls:
            if r.label == text.strip().lower():
                return r
        raise ConfigError(f"{where}: unknown risk level {text!r}; expected one of {', '.join(LEVELS)}")


#: Every risk label, from least to most dangerous.
LEVELS: tuple[str, ...] = tuple(r.label for r in Risk)


def risk_of_mode(mode: str) -> Risk:
    """The risk of holding ``mode`` on a pre-existing table until commit.

    ACCESS EXCLUSIVE blocks reads and writes; SHARE, SHARE ROW EXCLUSIVE and
    EXCLUSIVE block writes (ROW EXCLUSIVE conflicts with them); weaker modes
    block neither.
    """
    if mode == "ACCESS EXCLUSIVE":
        return Risk.BLOCKS_READS_WRITES
    if "ROW EXCLUSIVE" in CONFLICTS.get(mode, frozenset()):
        return Risk.BLOCKS_WRITES
    return Risk.SAFE


#: The lock a statement that cannot run in a transaction block would take
#: (keyed by :func:`confiture_core.sql.no_transaction_reason`), from the
#: documentation of each command: CREATE INDEX ("Building Indexes
#: Concurrently"), DROP INDEX, REINDEX, VACUUM, ALTER TABLE DETACH PARTITION.
NON_TRANSACTIONAL_LOCKS: dict[str, str] = {
    "CREATE INDEX CONCURRENTLY": "SHARE UPDATE EXCLUSIVE",
    "DROP INDEX CONCURRENTLY": "SHARE UPDATE EXCLUSIVE",
    "REINDEX CONCURRENTLY": "SHARE UPDATE EXCLUSIVE",
    "VACUUM": "SHARE UPDATE EXCLUSIVE",
    "VACUUM FULL": "ACCESS EXCLUSIVE",
    "ALTER TABLE ... DETACH PARTITION CONCURRENTLY": "SHARE UPDATE EXCLUSIVE",
}
