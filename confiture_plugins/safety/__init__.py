"""The lint rule pack ``safety`` (CF1xx), a plugin: statements that lock, rewrite or break.

On by default. The catalogue follows squawk's (each rule's ``squawk`` attribute
names the equivalent squawk rule) and adds VACUUM FULL/CLUSTER and identifier
length. Lock levels are from the PostgreSQL documentation, chapter 13.3
"Explicit Locking" (table-level lock modes and which commands take them) and the
reference page of each command (``ALTER TABLE``, ``CREATE INDEX``...).

Statements on a table created earlier in the same file are not reported by the
rules about locks and rewrites: nobody else can see or hold that table yet.

Each rule is a module of this package named after the rule (``safety.concurrent-index`` is
:mod:`concurrent_index`); the rule modules are imported when the rules are asked for, not when the
plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.rule import LintRule


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The safety rules (CF101-CF137)."""
    from .char_field import CharField
    from .check_not_valid import CheckNotValid
    from .cluster import Cluster
    from .column_type_change import ColumnTypeChange
    from .concurrent_index import ConcurrentIndex
    from .concurrent_index_drop import ConcurrentIndexDrop
    from .concurrent_partition_detach import ConcurrentPartitionDetach
    from .concurrent_reindex import ConcurrentReindex
    from .domain_add_constraint import DomainAddConstraint
    from .domain_constraint import DomainConstraint
    from .drop_column import DropColumn
    from .drop_constraint import DropConstraint
    from .drop_database import DropDatabase
    from .drop_not_null import DropNotNull
    from .drop_table import DropTable
    from .duplicate_column_assignment import DuplicateColumnAssignment
    from .foreign_key_not_valid import ForeignKeyNotValid
    from .identifier_length import IdentifierLength
    from .lock_timeout import LockTimeout
    from .newer_syntax import NewerSyntax
    from .prefer_bigint import PreferBigint
    from .prefer_bigint_over_smallint import PreferBigintOverSmallint
    from .prefer_identity import PreferIdentity
    from .prefer_text import PreferText
    from .prefer_timestamptz import PreferTimestamptz
    from .rename_column import RenameColumn
    from .rename_table import RenameTable
    from .required_column import AddRequiredColumn
    from .set_not_null import SetNotNull
    from .statement_timeout import StatementTimeout
    from .transaction_nesting import TransactionNesting
    from .truncate_cascade import TruncateCascade
    from .uncommitted_transaction import UncommittedTransaction
    from .unique_constraint import UniqueConstraint
    from .vacuum_full import VacuumFull
    from .validate_same_transaction import ValidateSameTransaction
    from .volatile_default import AddColumnDefault

    return [
        ConcurrentIndex, ConcurrentIndexDrop, ConcurrentReindex, AddColumnDefault, SetNotNull, AddRequiredColumn,
        UniqueConstraint, ForeignKeyNotValid, CheckNotValid, ColumnTypeChange, RenameColumn, RenameTable,
        DropColumn, DropTable, DropDatabase, TruncateCascade, VacuumFull, Cluster, TransactionNesting,
        LockTimeout, PreferIdentity, PreferBigint, PreferText, PreferTimestamptz, IdentifierLength, NewerSyntax,
        ValidateSameTransaction, DropNotNull, DropConstraint, ConcurrentPartitionDetach, DomainAddConstraint,
        DomainConstraint, StatementTimeout, UncommittedTransaction, DuplicateColumnAssignment,
        PreferBigintOverSmallint, CharField,
    ]
