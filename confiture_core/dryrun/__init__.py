"""Measured dry runs: the runner under a rolled-back transaction policy, with a measuring observer.

Modules: :mod:`.run` (:func:`dry_run`), :mod:`.policy` (the rolled-back transaction policy),
:mod:`.hooks` (the dry run's hook facade), :mod:`.observer` (the measuring observer), :mod:`.batched`
(its mode on a copy: a migration's statements in one message, the locks read between them),
:mod:`.catalog` (pg_locks / pg_class / sequence snapshots), :mod:`.references` (what a statement
names), :mod:`confiture_core.lock_modes` (the documented lock of each statement kind, a core module), :mod:`.blockers`
(who blocks a waiting statement), :mod:`.sequences` (putting sequences back), :mod:`.report` (the
report and its JSON document).

:func:`dry_run` runs ``Runner.up`` under the :class:`~.policy.RollbackAll`
transaction policy (one transaction, a SAVEPOINT per migration, hooks included
with ``context.dry_run`` true, ROLLBACK at the end) on the target, or under
:class:`~.policy.CommitOnCopy` (each migration committed, as a real apply) on a
scratch copy (a shadow database, :mod:`.preflight`; a template copy of the embedded
development server's database, :mod:`.devcopy`), with a
:class:`~.observer.MeasuringObserver` that reads, on the runner's own connection,
before each statement what it names (:mod:`.references`) and after it only what
is new (:mod:`.catalog`), so that its cost per statement does not grow with the
migrations before it:

- ``pg_locks`` rows of our backend (``locktype = 'relation'``, granted) not seen
  at the previous read (the pairs seen are kept in a transaction-local setting).
  Locks are held to the end of the transaction, so a statement's locks are those
  new since the read just before it (PostgreSQL docs, "Explicit Locking":
  https://www.postgresql.org/docs/current/explicit-locking.html). What each mode
  blocks comes from the conflict table in :mod:`confiture_core.risk`.
- ``pg_class.relfilenode`` of the tables newly locked, or held ACCESS EXCLUSIVE
  and named: a new relfilenode for the same oid means the table was rewritten
  (docs, "Database File Layout": https://www.postgresql.org/docs/current/storage-file-layout.html).
- the state of the sequences newly locked or belonging to the tables named.
  Sequences are not transactional ("Sequence Manipulation Functions": *nextval ...
  is never rolled back*), so the rollback does not undo them: after the rollback
  :func:`dry_run` puts a sequence back with ``setval`` only when every value in
  between is provably its own (:func:`~.sequences.restore_sequences`); otherwise
  it is left advanced (a gap, never a duplicate) and the report says why.

On a copy each migration's locks are exactly its own. On the target, one
transaction for the whole run means a lock an earlier migration took hides
the same lock of a later one (PostgreSQL adds no ``pg_locks`` row for a mode
already held): for the relations a statement names, the mode the documentation
gives for its kind (:mod:`confiture_core.lock_modes`) is reported as ``inferred`` when
that mode is held since before its migration (see :class:`~.report.LockTaken`),
and ``destructive`` is judged from the statement's target relation, resolved
before it runs.

The duration (ms) and rows affected come from the runner. Statements that
cannot run in a transaction block run in autocommit on a copy; on the target
they are not executed, and the report marks them ``not executed in dry-run``;
either way they are reported with their documented lock.

A dry run sets a short ``lock_timeout`` (``[dry_run] lock_timeout``, default
``"2s"``): when a statement waits on another session's lock longer than that,
the run stops and :class:`~.blockers.LockBlocked` names the blocking backends, found with
``pg_blocking_pids`` / ``pg_locks`` / ``pg_stat_activity`` from a second
connection while our statement waits.
"""

from ..blockers import Blocker
from .blockers import BlockerWatch, LockBlocked
from .catalog import LockRead, SeqState, Snapshot, read_locks, take_snapshot
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
    lock_pairs,
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
    "LockRead",
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
    "lock_pairs",
    "partial_report",
    "read_locks",
    "restore_sequences",
    "take_snapshot",
]
