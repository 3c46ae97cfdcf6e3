"""Benchmark ``confiture lint`` against squawk and sqlfluff on the same files (not a test).

Run (needs the ``bench`` extra: ``pip install -e '.[bench]'``)::

    python bench/lint_bench.py [--repeat 3] [--sqlfluff-sample 12] [--editable]

Targets: each shared corpus (``../shared/corpus/*/migrations``; ``--only lemmy`` for one) and a
generated tree of 1,500 schema files (about 10,000 statements). Every tool runs as a command-line
process on the same files, as a user would run it, timed wall-clock in this same run, **alternated**
(each round runs every command once, in turn: cold, squawk, warm, warm without replay, so a
machine that gets busier slows them all alike), and the **median** of ``--repeat`` rounds is
reported:

- confiture cold: ``confiture lint --no-cache --select safety,CF133 --include-down --format json``
  (every ``*.sql`` file, down files too, as squawk is given them; CF133, statement-timeout, is off by
  default and selected by name, as squawk's default set has require-statement-timeout);
- confiture warm: the same with the result cache, on an unchanged tree. Two
  untimed runs come first, 2.5 s apart (an input changed in the last 2 s is never
  trusted): the first fills the per-file cache, the second (every file answered
  from it) leaves the run memo that later identical runs replay
  (``confiture_core/lint/replay.py``);
- confiture warm without replay: the same through ``python -m confiture_core.cli``,
  which skips the replay and answers every file from the per-file cache (what a
  warm run costs when anything at all changed);
- squawk: ``squawk --reporter json FILES`` (its default rule set, the one
  ``safety`` mirrors);
- floors, alternated with the others: start-up alone (the cold command on an empty folder:
  interpreter, imports, plugins and rules, an empty report) and reading and parsing every file
  alone (one process, pglast's fast path, no rule, no output); a cold run on two CPUs takes
  about the start-up plus half of the rest of its work;
- sqlfluff: ``sqlfluff lint --dialect postgres --format json`` on a sample of
  ``--sqlfluff-sample`` files, scaled to the whole target by bytes (sqlfluff is
  too slow to run on every file; the output says so), once.

Confiture is first installed from this checkout into a new virtual environment
with ``pip install`` (not editable, byte-compiled; ~20 s), so the timings are those
of a user's installation: an editable install adds a finder that costs ~15 ms at
every start-up. ``--editable`` times this environment's Confiture instead.
Ratios are confiture's time over the other tool's (< 1: confiture is faster). Targets from the
issue: cold <= 1.5x squawk's time, warm < 1x squawk's, sqlfluff's time >= 20x confiture's cold.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


#: Reads and parses every file named on its command line as a lint run does (one process, no rules, no output).
PARSE_ONLY = (
    "import sys\n"
    "from pathlib import Path\n"
    "from confiture_core.errors import ConfitureError\n"
    "from confiture_core.migrations import read_text\n"
    "from confiture_core.sql import parse_sql_text, trusted_parsing\n"
    "with trusted_parsing():\n"
    "    for name in sys.argv[1:]:\n"
    "        try:\n"
    "            parse_sql_text(read_text(Path(name)), name)\n"
    "        except ConfitureError:\n"
    "            pass\n"
)


def generate_tree(root: Path, files: int = 1500, seed: int = 7) -> int:
    """Write ``files`` schema files under ``root`` (in 30 folders); returns the statement count."""
    rnd = random.Random(seed)
    types = ["bigint", "text", "timestamptz", "integer", "varchar(80)", "boolean", "jsonb", "numeric(12,2)",
             "timestamp", "uuid"]
    count = 0
    for i in range(files):
        folder = root / f"module_{i % 30:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        t = f"app_{i:04d}"
        stmts = ["SET lock_timeout = '2s'"] if i % 3 == 0 else []
        cols = ",\n".join(f"    c{j} {rnd.choice(types)}{' NOT NULL' if rnd.random() < .3 else ''}"
                          for j in range(rnd.randint(3, 9)))
        stmts.append(f"CREATE TABLE IF NOT EXISTS {t} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
                     f"    tenant_id bigint NOT NULL,\n{cols}\n)")
        stmts.append(f"COMMENT ON TABLE {t} IS 'generated table {i}'")
        stmts.append(f"CREATE INDEX {t}_tenant ON {t} (tenant_id)")
        other = f"app_{rnd.randrange(max(i, 1)):04d}"
        stmts.append(f"ALTER TABLE {other} ADD COLUMN extra_{i} text DEFAULT 'x'")
        stmts.append(f"CREATE INDEX CONCURRENTLY {other}_extra_{i} ON {other} (extra_{i})"
                     if rnd.random() < .5 else f"CREATE INDEX {other}_extra_{i} ON {other} (extra_{i})")
        if rnd.random() < .5:
            stmts.append(f"ALTER TABLE {other} ADD CONSTRAINT {other}_fk_{i} FOREIGN KEY (tenant_id) "
                         f"REFERENCES tenants (id){' NOT VALID' if rnd.random() < .5 else ''}")
        if rnd.random() < .4:
            stmts.append(f"ALTER TABLE {other} ALTER COLUMN extra_{i} SET NOT NULL")
        if rnd.random() < .3:
            stmts.append(f"CREATE OR REPLACE VIEW {t}_v AS SELECT id, tenant_id FROM {t} WHERE id > 0")
        if rnd.random() < .2:
            stmts.append(f"ALTER TABLE {other} RENAME COLUMN extra_{i} TO extra_{i}_renamed")
        count += len(stmts)
        (folder / f"{i:04d}_{t}.sql").write_text(";\n\n".join(stmts) + ";\n")
    return count


def timed(cmd: Sequence[str], repeat: int, cwd: Path | None = None) -> float:
    """Median wall-clock seconds of ``repeat`` runs of ``cmd`` (output discarded)."""
    return statistics.median(once(cmd, cwd) for _ in range(repeat))


def once(cmd: Sequence[str], cwd: Path | None = None) -> float:
    """Wall-clock seconds of one run of ``cmd`` (output discarded)."""
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def alternated(commands: dict[str, tuple[Sequence[str], Path | None]], rounds: int) -> dict[str, float]:
    """Median wall-clock seconds of each command over ``rounds`` rounds, each round running every
    command once, in turn (A B C A B C ...)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (cmd, cwd) in commands.items():
            times[name].append(once(cmd, cwd))
    return {name: statistics.median(t) for name, t in times.items()}


def sql_files(target: Path) -> list[Path]:
    return sorted(p for p in target.rglob("*.sql") if p.is_file())


def confiture_cmd(python: str) -> list[str]:
    """The ``confiture`` console script of the environment of ``python``."""
    exe = shutil.which("confiture", path=str(Path(python).parent))
    return [exe] if exe else [python, "-m", "confiture_core.entry"]


def user_install(work: Path) -> str:
    """Install Confiture from this checkout into a new virtual environment, as a user's ``pip install``
    does (not editable, byte-compiled); returns that environment's python."""
    venv = work / "user-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python


def count_statements(files: Sequence[Path]) -> int:
    from confiture_core.errors import ConfitureError
    from confiture_core.migrations import read_text
    from confiture_core.sql import parse_sql_text

    n = 0
    for f in files:
        try:
            n += len(parse_sql_text(read_text(f), str(f)).statements)
        except ConfitureError:
            pass
    return n


def bench_target(name: str, target: Path, repeat: int, sample: int, work: Path, python: str) -> dict[str, float]:
    files = sql_files(target)
    size = sum(f.stat().st_size for f in files)
    proj = work / f"proj-{name}"
    proj.mkdir()
    # --include-down: the same files squawk is given (folder lint leaves *.down.sql out by default)
    # safety and CF133 (statement-timeout, off by default, selected by name only): squawk's default rule set
    # has require-statement-timeout too
    base = [*confiture_cmd(python), "--project", str(proj), "lint", "--select", "safety,CF133", "--include-down",
            "--format", "json"]
    # an unchanged tree: fill the per-file cache, let every input settle (the cache and the run memo
    # do not trust a file changed in the last 2 s: STAT_SETTLE_NS, memo.SETTLE_NS), then leave the memo
    subprocess.run([*base, str(target)], cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    subprocess.run([*base, str(target)], cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    no_replay = [python, "-m", "confiture_core.cli", *base[len(confiture_cmd(python)):]]
    squawk_exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    commands: dict[str, tuple[Sequence[str], Path | None]] = {"cold": ([*base, "--no-cache", str(target)], proj)}
    if squawk_exe:
        commands["squawk"] = ([squawk_exe, "--reporter", "json", *map(str, files)], None)
    commands["warm"] = ([*base, str(target)], proj)
    commands["warm_no_replay"] = ([*no_replay, str(target)], proj)
    # what a cold run cannot go below: its start-up (the same command on an empty folder: interpreter,
    # imports, plugins and rules, an empty report) and reading and parsing every file (pglast, fast path)
    empty = work / f"empty-{name}"
    empty.mkdir()
    commands["startup"] = ([*base, "--no-cache", str(empty)], proj)
    commands["parse_only"] = ([python, "-c", PARSE_ONLY, *map(str, files)], None)
    medians = alternated(commands, repeat)
    cold, warm, warm_no_replay = medians["cold"], medians["warm"], medians["warm_no_replay"]
    squawk = medians.get("squawk", float("nan"))
    fluff_exe = shutil.which("sqlfluff", path=str(Path(sys.executable).parent)) or shutil.which("sqlfluff")
    fluff = float("nan")
    picked: list[Path] = []
    if fluff_exe:
        rnd = random.Random(1)
        picked = rnd.sample(files, min(sample, len(files)))
        t = timed([fluff_exe, "lint", "--dialect", "postgres", "--format", "json", "--processes", "1",
                   *map(str, picked)], 1)
        picked_size = sum(f.stat().st_size for f in picked)
        fluff = t * size / max(picked_size, 1)
    stmts = count_statements(files)
    print(f"\n## {name}: {len(files)} files, {stmts} statements, {size / 1024:.0f} KiB")
    print(f"  confiture cold (--no-cache)  {cold:8.3f} s   (median of {repeat}, alternated with the others)")
    print(f"  confiture warm (cache)       {warm:8.3f} s")
    print(f"  confiture warm, no replay    {warm_no_replay:8.3f} s   (per-file cache only)")
    print(f"  squawk                       {squawk:8.3f} s")
    print(f"  sqlfluff (scaled)            {fluff:8.1f} s   (measured once on {len(picked)} files, scaled by bytes)")
    print(f"  cold / squawk                {cold / squawk:8.2f}x  (target <= 1.5x)")
    print(f"  warm / squawk                {warm / squawk:8.2f}x  (target < 1x)")
    print(f"  warm, no replay / squawk     {warm_no_replay / squawk:8.2f}x")
    print(f"  sqlfluff / cold              {fluff / cold:8.1f}x  (target >= 20x)")
    startup, parse_only = medians["startup"], medians["parse_only"]
    print(f"  floor: start-up alone        {startup:8.3f} s   (= {startup / squawk:.2f}x squawk: the cold command "
          "on an empty folder)")
    print(f"  floor: read + parse alone    {parse_only:8.3f} s   (= {parse_only / squawk:.2f}x squawk: one "
          "process, pglast's fast path, nothing else)")
    return {"cold": cold, "warm": warm, "warm_no_replay": warm_no_replay, "squawk": squawk, "sqlfluff": fluff,
            "startup": startup, "parse_only": parse_only}


def import_report(python: str, target: Path, work: Path) -> None:
    """What a cold lint run imports (``python -X importtime``): total self time, module count, the
    heaviest top-level packages (each run once; import times are noisy, read them as proportions)."""
    proj = work / "proj-importtime"
    proj.mkdir(exist_ok=True)
    done = subprocess.run([python, "-X", "importtime", "-m", "confiture_core.cli", "--project", str(proj), "lint",
                           "--no-cache", "--select", "safety,CF133", "--format", "json", str(target)],
                          cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    by_package: dict[str, int] = {}
    total = count = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line[len("import time:"):].split("|"))
        top = ".".join(name.split(".")[:2]) if name.startswith("confiture") else name.split(".")[0]
        by_package[top] = by_package.get(top, 0) + int(self_us)
        total += int(self_us)
        count += 1
    heaviest = sorted(by_package.items(), key=lambda kv: -kv[1])[:12]
    print(f"\n## imports of a cold lint run: {count} modules, {total / 1000:.0f} ms (self times summed)")
    print("  " + ", ".join(f"{name} {us / 1000:.0f}" for name, us in heaviest) + "  (ms)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="confiture lint vs squawk and sqlfluff")
    parser.add_argument("--repeat", type=int, default=5, help="alternated rounds (the median is reported)")
    parser.add_argument("--only", metavar="NAME", help="only this target (a corpus name, or generated)")
    parser.add_argument("--sqlfluff-sample", type=int, default=12)
    parser.add_argument("--files", type=int, default=1500, help="files in the generated tree")
    parser.add_argument("--editable", action="store_true",
                        help="time the Confiture of this environment (e.g. an editable install) instead of "
                             "installing this checkout into a new virtual environment first")
    args = parser.parse_args(argv)
    print(f"cpus available: {len(os.sched_getaffinity(0))}; python {sys.version.split()[0]}; {_load()}")
    with tempfile.TemporaryDirectory(prefix="confiture-lint-bench-") as tmp:
        work = Path(tmp)
        if args.editable:
            python = sys.executable
            # byte-compiled as `pip install` does: under PYTHONDONTWRITEBYTECODE=1 (set on the development
            # machine) an editable install would otherwise recompile every module on every run (~50 ms)
            subprocess.run([python, "-m", "compileall", "-q", str(REPO / "confiture_core"),
                            str(REPO / "confiture_plugins")], check=True)
            print("confiture: this environment's (--editable)")
        else:
            python = user_install(work)
            print(f"confiture: installed from {REPO} into a new virtual environment (not editable)")
        targets = [(p.parent.name, p) for p in sorted(CORPUS.glob("*/migrations"))]
        if args.only in (None, "generated"):
            tree = work / "tree"
            n = generate_tree(tree, args.files)
            print(f"generated {args.files} files with {n} statements")
            targets.append(("generated", tree))
        targets = [t for t in targets if args.only in (None, t[0])]
        if targets:
            import_report(python, targets[0][1], work)
        for name, target in targets:
            bench_target(name, target, args.repeat, args.sqlfluff_sample, work, python)
    print(f"\nat the end: {_load()} (other work running meanwhile slows every command; confiture cold forks a "
          "second process only onto a CPU that is idle when it starts)")
    return 0


def _load() -> str:
    """The load average and the processes runnable now (other work on the machine skews every figure)."""
    try:
        fields = Path("/proc/loadavg").read_text().split()
        return f"load average {fields[0]} (1 min), runnable now {fields[3]}"
    except (OSError, IndexError):
        return f"load average {os.getloadavg()[0]:.2f} (1 min)" if hasattr(os, "getloadavg") else "load unknown"


if __name__ == "__main__":
    sys.exit(main())
