"""Safe apply's quick test for a strong lock agrees with the one table of statement -> lock mode."""

from __future__ import annotations

import pytest

from confiture_core.risk import MODES
from confiture_core.runner.strong_locks import mode_of, takes_strong_lock
from confiture_core.sql import parse_sql_text

from ..conftest import CORPUS

SAMPLES = """
SELECT * FROM t FOR UPDATE;
SELECT * INTO t2 FROM t;
INSERT INTO t SELECT * FROM u JOIN v USING (id);
UPDATE t SET a = (SELECT max(a) FROM u);
DELETE FROM t WHERE id IN (SELECT id FROM u);
MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET a = u.a;
CREATE TABLE t3 AS SELECT * FROM t;
CREATE MATERIALIZED VIEW mv AS SELECT * FROM t;
CREATE VIEW v1 AS SELECT * FROM t JOIN u USING (id);
CREATE OR REPLACE VIEW v2 AS SELECT * FROM t;
CREATE OR REPLACE VIEW s.v3 AS WITH w AS (SELECT * FROM t FOR UPDATE) SELECT * FROM w;
CREATE INDEX i ON t (a);
ALTER TABLE t ADD COLUMN b int;
ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id);
DROP TABLE t;
CREATE TABLE t4 (id int REFERENCES u (id));
REFRESH MATERIALIZED VIEW mv;
COMMENT ON TABLE t IS 'x';
"""


def _expected(node: object) -> bool:
    mode = mode_of(node)  # type: ignore[arg-type]
    return mode is not None and MODES.index(mode) >= MODES.index("SHARE")


def test_samples_agree() -> None:
    statements = parse_sql_text(SAMPLES).statements
    assert len(statements) == 18
    answers = {st.sql.split(" AS ")[0]: takes_strong_lock(st.node) for st in statements}
    for st in statements:
        assert takes_strong_lock(st.node) == _expected(st.node), st.sql
    assert answers["CREATE OR REPLACE VIEW v2"] and not answers["CREATE VIEW v1"]
    assert not answers["INSERT INTO t SELECT * FROM u JOIN v USING (id);"[:-1]]
    assert answers["CREATE INDEX i ON t (a)"] and answers["DROP TABLE t"]


@pytest.mark.parametrize("corpus", ["lemmy", "ente"])
def test_corpus_agrees(corpus: str) -> None:
    root = CORPUS / corpus
    assert (root / "order-up.txt").is_file(), f"shared corpus {root} missing"
    checked = strong = 0
    for path in (root / "migrations" / name for name in (root / "order-up.txt").read_text().split()):
        for st in parse_sql_text(path.read_text(), str(path)).statements:
            assert takes_strong_lock(st.node) == _expected(st.node), f"{path.name}:{st.line}"
            checked += 1
            strong += _expected(st.node)
    assert checked > 400 and 0 < strong < checked
