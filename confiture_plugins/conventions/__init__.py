"""The lint rule pack ``conventions`` (CF2xx), a plugin: schema naming and hygiene.

Off by default: turn them on with ``--select conventions`` or ``[lint] select =
["safety", "conventions"]``. Everything is read from the AST, so schema-qualified
and quoted names are handled as PostgreSQL handles them (a quoted ``"UserName"``
keeps its capitals, an unquoted ``UserName`` is folded to ``username``).

Settings, in ``[lint.conventions]``:

- ``sensitive_words``: substrings that make a column name look sensitive
  (default: password, passwd, secret, token, api_key, apikey, private_key, ssn,
  credit_card, card_number).
- ``sensitive_allowed_suffixes``: name endings that say the value is already
  protected (default: _hash, _hashed, _digest, _encrypted, _enc, _ciphertext, _id,
  _expires_at, _at).

Each rule is a module of this package named after the rule (``conventions.snake-case`` is
:mod:`snake_case`); the rule modules are imported when the rules are asked for, not when the
plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.rule import LintRule


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The conventions rules (CF201-CF208), off by default."""
    from .enum_value_ordering import EnumValueOrdering
    from .primary_key import PrimaryKey
    from .robust_statements import RobustStatements
    from .security_definer_search_path import SecurityDefinerSearchPath
    from .sensitive_column import SensitiveColumn
    from .snake_case import SnakeCase
    from .table_comment import TableComment
    from .table_schema import TableSchema

    return [SnakeCase, PrimaryKey, TableComment, SensitiveColumn, SecurityDefinerSearchPath, RobustStatements,
            TableSchema, EnumValueOrdering]
