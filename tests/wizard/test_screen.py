"""The wizard's screen and drafts without a terminal: predictions shown when the report has them, versions."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from confiture_core.dryrun import LockTaken, MigrationReport, StatementReport
from confiture_core.migrations import discover
from confiture_core.risk import Risk
from confiture_core.sql import parse_sql_text
from confiture_core.wizard.drafts import allot_versions, diff, discard, stage
from confiture_core.wizard.rewrites import rewrite
from confiture_core.wizard.screen import choices_line, draw, predictions

from ..conftest import write


def _report(**predicted: float) -> MigrationReport:
    st = StatementReport(1, "CREATE INDEX i ON t (a)", "IndexStmt", True, duration_ms=3.0, rows=None,
                         locks=[LockTaken("t", "table", "SHARE", [], True)], risk=Risk.BLOCKS_WRITES,
                         reasons=["SHARE on t"])
    for name, value in predicted.items():
        setattr(st, name, value)  # the fields the shadow preflight adds
    return MigrationReport(1, "idx", "applied", statements=[st])


def test_predictions_only_when_the_report_has_them() -> None:
    assert predictions(_report()) == []
    lines = predictions(_report(predicted_ms=1500.0, predicted_ms_low=900.0, predicted_ms_high=2400.0,
                                target_rows=1_200_000, target_bytes=85 * 1024 * 1024))
    assert lines == ["line 1: ~1.5 s (900 ms to 2.4 s) on 1,200,000 rows, 85 MB, holding SHARE"]


def test_screen_at_80_columns(tmp_path: Path) -> None:
    write(tmp_path / "migrations", "1_idx.up.sql", "CREATE INDEX i ON t (a);\n")
    m = discover(tmp_path / "migrations")[0]
    out = io.StringIO()
    console = Console(file=out, width=80, no_color=True, force_terminal=False)
    draw(console, m, (1, 3), _report(predicted_ms=120.0), [], rewrite(m.sql("up").statements))
    text = out.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    for token in ("1/3 · 1 idx", "risk: blocks-writes", "SHARE on t: blocks INSERT, UPDATE, DELETE",
                  "on production (predicted):", "line 1: ~120 ms, holding SHARE", "a safe rewrite exists ([r]):"):
        assert token in text, text
    assert choices_line(False) == "[a] apply  [s] show SQL  [d] details  [q] quit"


def test_versions_after_the_original_or_after_the_newest(tmp_path: Path) -> None:
    write(tmp_path / "migrations", "10_idx.up.sql", "CREATE INDEX i ON t (a);\nALTER TABLE t ADD CHECK (a > 0);\n")
    m = discover(tmp_path / "migrations")[0]
    assert allot_versions(m, 2, [10, 20]) == [11, 12]
    assert allot_versions(m, 2, [10, 11, 12]) == [13, 14]  # no room: after the newest
    draft = stage(tmp_path, tmp_path / "migrations", m, rewrite(parse_sql_text(m.up_path.read_text()).statements),
                  [10])
    assert draft.versions == [10, 11, 12]
    assert sorted(draft.files) == ["10_idx.up.sql", "11_index_i.down.sql", "11_index_i.up.sql",
                                   "12_validate_constraints_t.down.sql", "12_validate_constraints_t.up.sql"]
    text = diff(draft, tmp_path / "migrations")
    assert "-CREATE INDEX i ON t (a);" in text and "+++ b/11_index_i.up.sql" in text
    assert (tmp_path / "migrations" / "10_idx.up.sql").read_text().startswith("CREATE INDEX i")  # unchanged
    discard(draft)
    assert not draft.folder.exists()
