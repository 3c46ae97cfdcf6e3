"""The real console script in a child process: replayed runs whose output cannot be written, a
closed stdout, an interrupted lint run.

Memos are only written for inputs settled two seconds before the run (the child
processes use the real delay), so the warm-up waits that out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).parent / "confiture"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="the confiture console script is not installed")


def confiture(proj: Path, *args: str, env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """``confiture --project PROJ lint ARGS`` with Python's import log on stderr (``-X importtime``)."""
    return subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT), "--project", str(proj), "lint", *args],
                          env=env, text=True, stderr=subprocess.PIPE, timeout=120, check=False, **kw)


def ran_the_cli(stderr: str) -> bool:
    """Whether the run imported click (a replayed run does not)."""
    return any(line.startswith("import time:") and line.rstrip().endswith("| click") for line in stderr.splitlines())


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


@pytest.fixture
def warmed(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project with a run memo in place (the last run below was replayed)."""
    proj = tmp_path / "proj"
    (proj / "migrations").mkdir(parents=True)
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    (proj / "migrations" / "1_create.up.sql").write_text("CREATE TABLE t (id bigint PRIMARY KEY, c bigint);\n")
    (proj / "migrations" / "2_index.up.sql").write_text("CREATE INDEX t_c ON t (c);\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    outs = []
    for _ in range(3):
        time.sleep(2.2)  # inputs, then the cache manifest, settle
        done = confiture(proj, env=env, stdout=subprocess.PIPE)
        outs.append((done.returncode, done.stdout, ran_the_cli(done.stderr)))
    assert list((proj / ".confiture" / "lint-cache").glob("run-*.memo"))
    assert outs[2][2] is False and outs[2][:2] == outs[1][:2] and outs[2][0] == 1, outs
    return proj, env


def test_replay_to_a_full_disk_or_a_closed_pipe_fails_in_one_line(warmed: tuple[Path, dict[str, str]]) -> None:
    proj, env = warmed
    with open("/dev/full", "w") as full:
        done = confiture(proj, env=env, stdout=full)
    assert not ran_the_cli(done.stderr)
    assert done.returncode == 1
    assert messages(done.stderr)[-1].startswith("error: internal error: OSError: [Errno 28]")
    assert "Traceback" not in done.stderr

    child = subprocess.Popen([sys.executable, "-X", "importtime", str(SCRIPT), "--project", str(proj), "lint"],
                             env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.close()  # nobody reads: the first write fails with EPIPE
    _, err = child.communicate(timeout=120)
    assert not ran_the_cli(err)
    assert child.returncode == 1
    assert messages(err)[-1].startswith("error: internal error: BrokenPipeError"), err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_closed_stdout_keeps_the_exit_code(warmed: tuple[Path, dict[str, str]]) -> None:
    proj, env = warmed
    done = confiture(proj, env=env, preexec_fn=lambda: os.close(1))
    assert done.returncode == 1  # CF101: the findings still decide the exit code
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_lint_says_interrupted(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.up.sql").write_text("SELECT 1;\n")
    (tmp_path / "stop_here.py").write_text(
        "import os\nfrom confiture_core.hookspecs import hookimpl\n\n"
        f"@hookimpl\ndef confiture_lint_rules():\n    os.kill(os.getpid(), {int(sig)})\n    return []\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([str(SCRIPT), "-p", "stop_here", "--project", str(tmp_path), "lint", "--no-cache"],
                          env=env, text=True, capture_output=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "error: interrupted"
    assert "migration" not in done.stderr
