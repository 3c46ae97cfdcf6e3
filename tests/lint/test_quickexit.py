"""A lint console-script process ends without the interpreter's teardown (``confiture_core.lint.quickexit``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# a plugin loaded during the run: its exit handler (registered after the console script armed the quick
# exit) must still run; an object it keeps says on stderr when the interpreter tears the module down
PLUGIN = '''
import atexit, os, sys

atexit.register(lambda: sys.stderr.write("plugin exit handler ran\\n"))


class _Torn:
    def __del__(self, write=os.write):  # bound now: the module's globals are gone by then
        write(2, b"interpreter teardown\\n")


kept = _Torn()
'''


def _lint_process(tmp_path: Path, call: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_index.up.sql").write_text("CREATE INDEX orders_c ON orders (c);\n" * 40)
    (tmp_path / "quick_exit_probe.py").write_text(PLUGIN)
    args = ["-p", "quick_exit_probe", "--project", str(tmp_path), "lint", "--no-cache", "--format", "json"]
    code = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nsys.argv = ['confiture', *{args!r}]\n" + call
    # not measured by coverage: with coverage in the process the quick exit stays off (its data must be saved)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVERAGE", "COV_CORE"))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          check=False)


def test_the_console_script_ends_without_teardown_after_every_exit_handler(tmp_path: Path) -> None:
    done = _lint_process(tmp_path, "from confiture_core.entry import main\nmain()\n")
    assert done.returncode == 1, done.stderr  # findings: CF101 on each CREATE INDEX
    report = json.loads(done.stdout)  # the whole report was flushed before the process ended
    assert len(report["violations"]) == 40 and report["summary"]["errors"] == 40
    assert "plugin exit handler ran" in done.stderr
    assert "interpreter teardown" not in done.stderr


def test_a_usage_error_keeps_its_exit_code(tmp_path: Path) -> None:
    done = _lint_process(tmp_path, "from confiture_core.entry import main\nsys.argv += ['--select', 'NOPE']\n"
                                   "main()\n")
    assert done.returncode == 2
    assert "matches no rule" in done.stderr


@pytest.mark.parametrize("call", [
    # arguments given (a test, an embedding program): the process lives on after the run
    "from confiture_core.entry import main\nmain(sys.argv[1:])\n",
    # python -m confiture_core.cli: not the console script
    "from confiture_core.cli import main\nmain()\n",
], ids=["argv-given", "cli-module"])
def test_elsewhere_the_interpreter_ends_the_process_as_usual(tmp_path: Path, call: str) -> None:
    done = _lint_process(tmp_path, call)
    assert done.returncode == 1, done.stderr
    assert len(json.loads(done.stdout)["violations"]) == 40
    assert "plugin exit handler ran" in done.stderr
    assert "interpreter teardown" in done.stderr
