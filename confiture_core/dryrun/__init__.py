"""Measured dry runs: the runner under a rolled-back transaction policy, with a measuring observer.

Modules: :mod:`.run` (:func:`dry_run`), :mod:`.policy` (the rolled-back transaction policy),
:mod:`.hooks` (the dry run's hook facade), :mod:`.observer` (the measuring observer),
:mod:`.catalog` (pg_locks / pg_class / sequence snapshots), :mod:`.references` (what a statement
names), :mod:`.blockers` (who blocks a waiting statement), :mod:`.sequences` (putting sequences
back), :mod:`.report` (the report and its JSON document).
"""

from .blockers import Blocker, BlockerWatch, LockBlocked
from .catalog import SeqState, Snapshot, take_held, take_snapshot
from .hooks import DryRunEnded, DryRunHooks
from .observer import MeasuringObserver
from .policy import RollbackAll
from .report import (
    SEQUENCE_NOTE,
    DryRunReport,
    LockTaken,
    MigrationReport,
    SequenceAdvance,
    StatementReport,
    build_report,
    partial_report,
)
from .run import DEFAULT_LOCK_TIMEOUT, dry_run, dry_run_lock_timeout
from .sequences import restore_sequences

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "SEQUENCE_NOTE",
    "Blocker",
    "BlockerWatch",
    "DryRunEnded",
    "DryRunHooks",
    "DryRunReport",
    "LockBlocked",
    "LockTaken",
    "MeasuringObserver",
    "MigrationReport",
    "RollbackAll",
    "SeqState",
    "SequenceAdvance",
    "Snapshot",
    "StatementReport",
    "build_report",
    "dry_run",
    "dry_run_lock_timeout",
    "partial_report",
    "restore_sequences",
    "take_held",
    "take_snapshot",
]
