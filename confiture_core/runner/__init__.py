"""Applies and reverts migrations under a transaction policy: the :class:`Runner` and what it reports.

Modules: :mod:`.runner` (lock -> plan -> validate -> hooks -> body -> record), :mod:`.plan` (reads
only), :mod:`.transactions` (the policy), :mod:`.session` (commit guard, reset, timeouts, riders),
:mod:`.body` (SQL or Python body), :mod:`.record` (tracking rows), :mod:`.backfills`,
:mod:`.events` (reporter, statement observer, result), :mod:`.gcpause` (the collector around the pre-flight),
:mod:`.prefetch` (the next files parsed while the server works).
"""

from .events import BatchObserver, NullReporter, Reporter, RunResult, StatementObserver
from .plan import Planner, Problem, StatusEntry, refusal
from .runner import Runner
from .session import CommitGuard, Session
from .transactions import CommitEach, TransactionPolicy

__all__ = [
    "BatchObserver",
    "CommitEach",
    "CommitGuard",
    "NullReporter",
    "Planner",
    "Problem",
    "Reporter",
    "RunResult",
    "Runner",
    "Session",
    "StatementObserver",
    "StatusEntry",
    "TransactionPolicy",
    "refusal",
]
