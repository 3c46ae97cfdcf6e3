"""The lint rule pack ``tenancy`` (CF3xx), a plugin: multi-tenant schemas.

Off by default: turn them on with ``--select tenancy``. Settings, in
``[lint.tenancy]``::

    [lint.tenancy]
    column = "tenant_id"                       # the tenant column (default tenant_id)
    exempt = ["tenants", "public.countries"]   # tables without tenant data

A name in ``exempt`` without a schema matches the table in any schema.
Temporary tables and partitions (which inherit their parent's columns) are skipped. Read models
(views, materialized views, ``CREATE TABLE ... AS``: CQRS's ``v_*`` and ``tv_*``) built from
tables not in ``exempt`` must carry the tenant column too (CF303).

Each rule is a module of this package named after the rule (``tenancy.tenant-column`` is
:mod:`tenant_column`); the rule modules are imported when the rules are asked for, not when the
plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.rule import LintRule


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The tenancy rules (CF301-CF303), off by default."""
    from .read_model_tenant_column import ReadModelTenantColumn
    from .tenant_column import TenantColumn
    from .tenant_index import TenantIndex

    return [TenantColumn, TenantIndex, ReadModelTenantColumn]
