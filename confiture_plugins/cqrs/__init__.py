"""The lint rule pack ``cqrs`` (CF4xx), a plugin: a write side and read models kept apart (CQRS).

The pack reads a naming convention, FraiseQL's by default: the write side is tables named
``tb_*`` (normalised, the source of truth), the read side is views ``v_*`` and table-backed
read models ``tv_*`` (denormalised tables, rebuilt from the write side by a refresh function
such as ``refresh_tv_user()``). Every rule judges only what the SQL of one migration shows.

Off by default: the rules mean something only in a project that follows the convention, and
in one that does not they would flag every table named ``tv_...`` for reasons it does not
share. Turn them on with ``--select cqrs`` or ``[lint] select = ["safety", "cqrs"]``.
Settings, in ``[lint.cqrs]`` (names are matched without their schema, with shell-style
wildcards)::

    [lint.cqrs]
    write_tables = ["tb_*"]                 # the write side
    views = ["v_*"]                         # read models that are views
    read_tables = ["tv_*"]                  # table-backed read models
    # a read model's refresh function: {name} is the read model (tv_user), {entity} its name
    # without the pattern's fixed parts (user)
    refresh_functions = ["refresh_{name}", "fn_refresh_{name}"]
    # read models built from each write table, besides the one of the same entity (tb_user: tv_user)
    sources = {tb_user = ["tv_user_profile"]}

Each rule is a module of this package named after the rule (``cqrs.read-model-key`` is
:mod:`read_model_key`); the rule modules are imported when the rules are asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.rule import LintRule


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The cqrs rules (CF401-CF405), off by default."""
    from .foreign_key_to_read_model import ForeignKeyToReadModel
    from .read_model_key import ReadModelKey
    from .read_model_refresh import ReadModelRefresh
    from .read_model_write import ReadModelWrite
    from .stale_read_model import StaleReadModel

    return [ForeignKeyToReadModel, ReadModelWrite, ReadModelKey, ReadModelRefresh, StaleReadModel]
