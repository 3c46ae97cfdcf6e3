"""The engine: noqa, unused noqa, selection, rule crashes, syntax errors, cache, pool, corpora."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from pglast import ast
from pglast.enums import AlterTableType

from confiture_core.errors import ConfigError
from confiture_core.lint.engine import Linter, lint_text
from confiture_core.lint.files import collect_files
from confiture_core.lint.options import LintOptions
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.lint.selection import select_rules
from confiture_core.sql import Statement
from tests.lint.helpers import ALL_RULES, CORPUS, codes, run


def _found(sql: str, *rule_codes: str) -> list[tuple[str, int]]:
    rules = [r for r in ALL_RULES if r.code in rule_codes]
    return [(v.code, v.line) for v in run(sql, rules)]


# ------------------------------------------------------------------ noqa


def test_noqa_on_line_before_statement() -> None:
    sql = "-- confiture: noqa CF101\nCREATE INDEX i ON t (c);\nCREATE INDEX j ON t (c);\n"
    assert _found(sql, "CF101") == [("CF101", 3)]


def test_noqa_trailing_and_inside_statement() -> None:
    sql = ("CREATE INDEX i ON t (c); -- confiture: noqa CF101\n"
           "CREATE INDEX j\n  ON t (c) /* confiture: noqa: CF101 */;\n"
           "CREATE INDEX k ON t (c);\n")
    assert _found(sql, "CF101") == [("CF101", 4)]


def test_noqa_without_codes_suppresses_everything_on_the_statement() -> None:
    sql = "-- confiture: noqa\nALTER TABLE t ADD COLUMN n int NOT NULL;\n"
    assert _found(sql, "CF106", "CF122", "CF120") == []


def test_noqa_other_code_does_not_suppress_and_is_reported_unused() -> None:
    sql = "-- confiture: noqa CF102\nCREATE INDEX i ON t (c);\n"
    found = run(sql, [r for r in ALL_RULES if r.code in ("CF101", "CF102")])
    assert [(v.code, v.line) for v in found] == [("CF002", 1), ("CF101", 2)]
    assert "suppresses no CF102 finding" in found[0].message


def test_noqa_in_string_is_not_a_directive() -> None:
    sql = "SELECT '-- confiture: noqa CF101';\nCREATE INDEX i ON t (c);\n"
    assert _found(sql, "CF101") == [("CF101", 2)]


def test_noqa_file() -> None:
    sql = ("-- confiture: noqa-file CF101, CF120\nCREATE INDEX i ON t (c);\nALTER TABLE t DROP COLUMN x;\n"
           "CREATE INDEX j ON t (c);\n")
    assert _found(sql, "CF101", "CF113", "CF120") == [("CF113", 3)]


def test_unused_noqa_reported_with_line() -> None:
    sql = "CREATE INDEX CONCURRENTLY i ON t (c); -- confiture: noqa CF101\n\n-- confiture: noqa-file CF113\n"
    found = run(sql, [r for r in ALL_RULES if r.code in ("CF101", "CF113")])
    assert [(v.code, v.line, v.severity) for v in found] == [("CF002", 1, "warning"), ("CF002", 3, "warning")]
    assert "in this file" in found[1].message


def test_unknown_code_in_noqa() -> None:
    found = run("-- confiture: noqa ZZ999\nSELECT 1;\n", "CF101")
    assert [(v.code, v.line) for v in found] == [("CF002", 1)]
    assert "unknown rule code" in found[0].message


def test_noqa_for_rule_not_selected_is_not_reported() -> None:
    sql = "-- confiture: noqa CF113\nSELECT 1;\n"
    options = LintOptions()
    result = lint_text(sql, "f.sql", [r() for r in ALL_RULES if r.code == "CF101"], options,
                       known_codes=frozenset(r.code for r in ALL_RULES))
    assert result.violations == []


# ------------------------------------------------------------------ selection


def test_select_by_code_group_name_prefix_and_all() -> None:
    assert [r.code for r in select_rules(ALL_RULES, ["CF101", "conventions.primary-key"])] == ["CF101", "CF202"]
    assert {r.code for r in select_rules(ALL_RULES, ["tenancy"])} == {"CF301", "CF302", "CF303"}
    assert len(select_rules(ALL_RULES, ["CF1"])) == 36  # CF133 is selected by name only (test_selection_opt_in.py)
    assert len(select_rules(ALL_RULES, ["ALL"])) == len(ALL_RULES)


def test_default_selection_is_safety_group() -> None:
    chosen = select_rules(ALL_RULES, None)
    assert {g for r in chosen for g in r.groups} == {"safety"}
    assert len(chosen) == 36


def test_ignore_by_code_group_and_name() -> None:
    chosen = select_rules(ALL_RULES, ["ALL"], ["conventions", "CF120", "tenancy.tenant-index"])
    got = {r.code for r in chosen}
    assert "CF120" not in got and "CF302" not in got and "CF201" not in got
    assert "CF301" in got and "CF101" in got


def test_unknown_selector_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'nosuch' matches no rule"):
        select_rules(ALL_RULES, ["nosuch"])


# ------------------------------------------------------------------ per-statement memo


class MemoWriter(LintRule):
    code = "XX011"
    name = "test.memo-writer"
    groups = ("test",)
    summary = "reports what the memo held, then writes the statement's index into it"

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        yield self.violation(statement, ctx, f"writer saw {sorted(ctx.memo.items())}")
        ctx.memo["test.index"] = ctx.index


class MemoReader(MemoWriter):
    code = "XX012"
    name = "test.memo-reader"

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        yield self.violation(statement, ctx, f"reader saw {sorted(ctx.memo.items())}")


def test_the_memo_is_shared_by_the_rules_of_one_statement_and_emptied_before_the_next() -> None:
    found = run("SELECT 1;\nSELECT 2;\n", [MemoWriter, MemoReader])  # rules run in code order
    assert [(v.line, v.message) for v in found] == [
        (1, "writer saw []"), (1, "reader saw [('test.index', 0)]"),
        (2, "writer saw []"), (2, "reader saw [('test.index', 1)]"),
    ]


# ------------------------------------------------------------------ dispatch


class DropColumnsOnly(LintRule):
    code = "XX002"
    name = "test.drop-columns-only"
    groups = ("test",)
    summary = "reports every statement it is called for"
    node_types = (ast.AlterTableStmt, ast.CreateStmt)
    alter_subtypes = frozenset({AlterTableType.AT_DropColumn})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        yield self.violation(statement, ctx)


def test_alter_subtypes_skip_alter_table_statements_without_those_commands() -> None:
    sql = ("ALTER TABLE t ADD COLUMN c text;\nALTER TABLE t ADD COLUMN d text, DROP COLUMN e;\n"
           "CREATE TABLE u (a int);\nCREATE INDEX i ON t (c);\nALTER TABLE t DROP COLUMN f;\n")
    assert [(v.code, v.line) for v in run(sql, [DropColumnsOnly])] == [("XX002", 2), ("XX002", 3), ("XX002", 5)]


@pytest.mark.parametrize("subtypes", [AlterTableType.AT_DropColumn, frozenset({"AT_DropColumn"}), "AT_DropColumn"])
def test_a_malformed_alter_subtypes_is_a_config_error_naming_the_rule(subtypes: object) -> None:
    """A single member (not a set) made every lint run fail with an unattributed internal error, and
    subtype names (strings) silently kept the rule from ever seeing an ALTER TABLE."""
    from confiture_core.lint.selection import check_rule_classes

    bad = type("BadSubtypes", (DropColumnsOnly,), {"alter_subtypes": subtypes})
    with pytest.raises(ConfigError, match=r"BadSubtypes: alter_subtypes must be"):
        check_rule_classes([bad])
    good = type("IntSubtypes", (DropColumnsOnly,), {"alter_subtypes": [int(AlterTableType.AT_DropColumn)],
                                                       "code": "XX003", "name": "test.int-subtypes"})
    assert check_rule_classes([DropColumnsOnly, good]) == [DropColumnsOnly, good]


@pytest.mark.parametrize("types", [ast.DropStmt, [ast.DropStmt], (ast.DropStmt, "IndexStmt"), (int,)])
def test_a_malformed_node_types_is_a_config_error_naming_the_rule(types: object) -> None:
    """A single class (not a tuple) made every lint run fail with an unattributed internal error."""
    from confiture_core.lint.selection import check_rule_classes

    bad = type("BadTypes", (DropColumnsOnly,), {"node_types": types})
    with pytest.raises(ConfigError, match=r"BadTypes: node_types must be a tuple of pglast.ast classes"):
        check_rule_classes([bad])


@pytest.mark.parametrize("pg", [10, 18])
def test_builtin_alter_subtypes_only_skip_calls_that_find_nothing(pg: int, monkeypatch: pytest.MonkeyPatch) -> None:
    folders = [CORPUS / "ente" / "migrations", CORPUS / "lemmy" / "migrations"]
    options = LintOptions(pg_version=pg)
    dispatched = Linter(ALL_RULES, options, jobs=1).lint_paths(folders).violations
    for rule in ALL_RULES:
        monkeypatch.setattr(rule, "alter_subtypes", frozenset())
    assert Linter(ALL_RULES, options, jobs=1).lint_paths(folders).violations == dispatched


def test_violation_make_builds_what_the_constructor_builds() -> None:
    args = ("CF101", "message", "1_m.up.sql", 3, 4, "warning", "CREATE INDEX i ON t (c)", "safety.concurrent-index")
    made, built = Violation._make(*args), Violation(*args)
    assert made == built and hash(made) == hash(built) and vars(made) == vars(built) and repr(made) == repr(built)
    assert pickle.loads(pickle.dumps(made)) == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.line = 1  # type: ignore[misc]


# ------------------------------------------------------------------ failures


class Crashing(LintRule):
    code = "XX001"
    name = "test.crashing"
    groups = ("test",)
    summary = "always crashes on ALTER TABLE"

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if statement.kind == "AlterTableStmt":
            raise ZeroDivisionError("boom")
        yield from ()


def test_rule_crash_is_an_internal_error_finding() -> None:
    sql = "CREATE INDEX i ON t (c);\nALTER TABLE t ADD COLUMN c text;\nALTER TABLE u ADD COLUMN c text;\n"
    rules = [Crashing, *[r for r in ALL_RULES if r.code == "CF101"]]
    found = run(sql, rules)
    assert [(v.code, v.line) for v in found] == [("CF101", 1), ("CF001", 2)]
    assert "XX001" in found[1].message and "ZeroDivisionError: boom" in found[1].message
    assert found[1].severity == "error"


def test_syntax_error_is_a_finding_with_line_and_column() -> None:
    found = run("SELECT 1;\nALTER TABLE t\n  DROP COLUMN a\n  DROP COLUMN b;\n", "CF101")
    assert [(v.code, v.line, v.column) for v in found] == [("CF000", 4, 3)]
    assert 'syntax error at or near "DROP"' in found[0].message


def test_mixed_transaction_file_is_a_file_error() -> None:
    found = run("CREATE TABLE t (id bigint);\nCREATE INDEX CONCURRENTLY i ON t (id);\n", "CF101")
    assert [(v.code, v.line) for v in found] == [("CF003", 2)]
    assert "split it into two migrations" in found[0].message


def test_invalid_utf8_is_a_file_error(tmp_path: Path) -> None:
    f = tmp_path / "1_bad.up.sql"
    f.write_bytes(b"SELECT '\xff';\n")
    report = Linter(ALL_RULES, jobs=1).lint_paths([f])
    (v,) = report.violations
    assert (v.code, v.line) == ("CF003", 1) and "not valid UTF-8 at byte 8" in v.message


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        collect_files([tmp_path / "nope"])


# ------------------------------------------------------------------ cache


def test_cache_hits_give_same_findings_and_edits_miss(tmp_path: Path) -> None:
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "1_a.up.sql").write_text("CREATE INDEX i ON t (c);\n")
    (mig / "2_b.up.sql").write_text("ALTER TABLE t DROP COLUMN c;\n")
    cache = tmp_path / ".confiture" / "lint-cache"
    first = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([mig])
    assert first.cache_hits == 0 and len(list(cache.glob("*.json"))) == 1
    second = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([mig])
    assert second.cache_hits == 2
    assert second.violations == first.violations
    (mig / "2_b.up.sql").write_text("ALTER TABLE t RENAME COLUMN c TO d;\n")
    third = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([mig])
    assert [f.cached for f in third.files] == [True, False]
    assert "CF111" in [v.code for v in third.violations] and "CF113" not in [v.code for v in third.violations]


def test_cache_key_includes_rules_and_options(tmp_path: Path) -> None:
    f = tmp_path / "1_a.up.sql"
    f.write_text("ALTER TABLE t ADD COLUMN n int DEFAULT 0;\n")
    cache = tmp_path / "cache"
    new = Linter(ALL_RULES, LintOptions(pg_version=16), cache_dir=cache, jobs=1).lint_paths([f])
    old = Linter(ALL_RULES, LintOptions(pg_version=10), cache_dir=cache, jobs=1).lint_paths([f])
    assert old.cache_hits == 0
    assert "CF104" in [v.code for v in old.violations] and "CF104" not in [v.code for v in new.violations]
    fewer = Linter(ALL_RULES[:1], LintOptions(pg_version=16), cache_dir=cache, jobs=1).lint_paths([f])
    assert fewer.cache_hits == 0


# ------------------------------------------------------------------ pool and corpora


def test_process_pool_gives_the_same_result_as_in_process() -> None:
    folder = CORPUS / "lemmy" / "migrations"
    serial = Linter(ALL_RULES, jobs=1).lint_paths([folder])
    pooled = Linter(ALL_RULES, jobs=2).lint_paths([folder])
    assert len(serial.files) == 684
    assert pooled.violations == serial.violations


@pytest.mark.parametrize("corpus", ["ente", "lemmy"])
def test_corpus_lints_without_crash(corpus: str) -> None:
    report = Linter(ALL_RULES, jobs=2).lint_paths([CORPUS / corpus / "migrations"])
    assert not [v for v in report.violations if v.code == "CF001"]
    assert sum(f.statements for f in report.files) > 700
    by_code = {v.code for v in report.violations}
    assert {"CF101", "CF113", "CF120"} <= by_code


def test_ente_unparsable_downs_give_syntax_error_findings() -> None:
    report = Linter(ALL_RULES, jobs=1).lint_paths([CORPUS / "ente" / "migrations"])
    errs = sorted((Path(v.path).name, v.line, v.column) for v in report.violations if v.code == "CF000")
    assert errs == [("3_add_encypted_collection_name.down.sql", 3, 5), ("44_trash_add_index.down.sql", 1, 15)]


def test_codes_helper_sanity() -> None:
    assert codes("SELECT 1;", "CF101") == []


def test_cache_answers_settled_unchanged_files_from_their_stat(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    from confiture_core.lint import cache as lint_cache
    from confiture_core.lint.cache import ResultCache

    monkeypatch.setattr(lint_cache, "STAT_SETTLE_NS", 50_000_000)
    f = tmp_path / "1_a.up.sql"
    f.write_text("CREATE INDEX i ON t (c);\n")
    old = 1_600_000_000_000_000_000
    os.utime(f, ns=(old, old))
    time.sleep(0.2)  # the ctime (set now, by utime) settles too
    cache = tmp_path / "cache"
    first = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    with monkeypatch.context() as m:
        m.setattr(ResultCache, "key", lambda *a: pytest.fail("an unchanged, settled file was read and hashed"))
        second = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    assert second.cache_hits == 1 and second.violations == first.violations
    f.write_text("CREATE INDEX CONCURRENTLY i ON t (c);\n")  # another size and mtime: linted again
    os.utime(f, ns=(old + 10**9, old + 10**9))
    third = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    assert third.cache_hits == 0 and "CF101" not in [v.code for v in third.violations]


def test_cache_does_not_trust_the_stat_of_a_just_modified_file(tmp_path: Path) -> None:
    f = tmp_path / "1_a.up.sql"
    f.write_text("CREATE INDEX i ON t (c);\n")
    cache = tmp_path / "cache"
    Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    manifest = next(cache.glob("*.json")).read_text()
    assert manifest.endswith(",null]}")  # mtime not recorded: too recent to be trusted


def test_cache_sees_a_same_size_edit_whose_mtime_was_restored(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    from confiture_core.lint import cache as lint_cache

    monkeypatch.setattr(lint_cache, "STAT_SETTLE_NS", 50_000_000)
    f = tmp_path / "1_a.up.sql"
    f.write_text("CREATE INDEX i ON t (c);\n")
    time.sleep(0.2)
    cache = tmp_path / "cache"
    first = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    assert "CF101" in [v.code for v in first.violations]
    st = f.stat()
    f.write_text("SELECT 1 FROM t        ;\n")  # same size, then the mtime put back (touch -d, cp -p, rsync -a)
    assert f.stat().st_size == st.st_size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    time.sleep(0.2)
    again = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    assert again.cache_hits == 0 and again.violations == []


def test_cache_is_keyed_on_the_known_rule_codes(tmp_path: Path) -> None:
    f = tmp_path / "1_a.up.sql"
    f.write_text("-- confiture: noqa-file FK001\nSELECT 1;\n")
    cache = tmp_path / "cache"
    before = Linter(ALL_RULES, cache_dir=cache, jobs=1).lint_paths([f])
    assert any("unknown rule code" in v.message for v in before.violations)
    # a rule pack providing FK001 is installed (not selected): the code is known now
    after = Linter(ALL_RULES, cache_dir=cache, jobs=1, known_codes=["FK001"]).lint_paths([f])
    fresh = Linter(ALL_RULES, cache_dir=None, jobs=1, known_codes=["FK001"]).lint_paths([f])
    assert after.cache_hits == 0
    assert [v.message for v in after.violations] == [v.message for v in fresh.violations]
    assert not any("unknown rule code" in v.message for v in after.violations)


def test_fingerprint_covers_the_helpers_a_rule_module_imports(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    from confiture_core.lint import cache as lint_cache

    name = f"acme_helpers_{tmp_path.name.replace('-', '_')}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("def flagged(kind):\n    return kind == 'DropStmt'\n")
    (pkg / "rules.py").write_text(
        "from confiture_core.lint.rule import LintRule\nfrom .helpers import flagged\n\n"
        "class NoDrop(LintRule):\n    code = 'AH001'\n    name = 'acme.no-drop'\n    groups = ('acme',)\n"
        "    summary = 'no DROP'\n\n    def check(self, statement, ctx):\n"
        "        if flagged(statement.kind):\n            yield self.violation(statement, ctx)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rule = importlib.import_module(f"{name}.rules").NoDrop
    options = LintOptions()
    before = lint_cache.ruleset_fingerprint([rule], options)
    (pkg / "helpers.py").write_text("def flagged(kind):\n    return False\n")
    monkeypatch.setattr(lint_cache, "_source_hashes", {})  # a new process: sources hashed again
    assert lint_cache.ruleset_fingerprint([rule], options) != before
    for mod in [m for m in sys.modules if m.startswith(name)]:
        monkeypatch.delitem(sys.modules, mod)


def test_fingerprint_covers_confiture_lint_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from confiture_core.lint import cache as lint_cache

    before = lint_cache.ruleset_fingerprint(ALL_RULES, LintOptions())
    real = lint_cache._source_hash
    monkeypatch.setattr(lint_cache, "_source_hash",
                        lambda src: "edited" if src.endswith("astutil.py") else real(src))
    assert lint_cache.ruleset_fingerprint(ALL_RULES, LintOptions()) != before
