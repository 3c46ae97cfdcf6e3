"""``lint --diff BASE``: the files added or changed since a git revision, asked of git itself.

"Changed since BASE" is what a pull request shows: every file that differs between the
merge base of ``BASE`` and ``HEAD`` (``git merge-base BASE HEAD``) and the working tree
(commits of the branch, staged and unstaged edits), plus untracked files that git does not
ignore. Deleted files are left out (nothing to lint); a renamed or copied file counts as
changed. Git runs as a subprocess (``git`` on ``PATH``); its documentation: git-diff(1),
git-merge-base(1), git-ls-files(1).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError


class DiffError(ConfigError):
    """``--diff`` cannot be answered: no git, not a git repository, an unknown revision (exit 2)."""


def _git(args: Sequence[str], cwd: Path, base: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    except FileNotFoundError:
        raise DiffError(f"--diff {base}: git is not installed (not on PATH); install git or lint without --diff") \
            from None
    except OSError as exc:
        raise DiffError(f"--diff {base}: cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        raise _failure(done.stderr, cwd, base, args)
    return done.stdout


def _failure(stderr: str, cwd: Path, base: str, args: Sequence[str]) -> DiffError:
    text = " ".join(stderr.split())
    if "not a git repository" in text:
        return DiffError(f"--diff {base}: {cwd} is not in a git repository; run in a git checkout or lint "
                         "without --diff")
    if "dubious ownership" in text:
        return DiffError(f"--diff {base}: git refuses {cwd} (dubious ownership); run "
                         f"`git config --global --add safe.directory {cwd}`")
    if args and args[0] == "merge-base":
        return DiffError(f"--diff {base}: {base} and HEAD have no common ancestor (a shallow clone? fetch the "
                         "history, e.g. actions/checkout with fetch-depth: 0)")
    return DiffError(f"--diff {base}: git {args[0] if args else ''} failed: {text or 'no message'}")


def changed_files(base: str, cwd: Path) -> set[str]:
    """Real paths of the files added or changed since ``base`` (see the module's docstring).

    :param base: a git revision (``main``, ``origin/main``, ``HEAD~3``, a commit hash).
    :param cwd: a folder inside the repository (the project folder).
    :returns: ``os.path.realpath`` of each file that exists now.
    :raises DiffError: git is missing, ``cwd`` is not in a repository, ``base`` names no commit, or
        ``base`` and ``HEAD`` share no history (exit 2).
    """
    if not base or base.startswith("-"):  # never let a revision be read as one of git's options
        raise DiffError(f"--diff {base!r}: give a git revision such as main or origin/main")
    top = _git(["rev-parse", "--show-toplevel"], cwd, base).strip()
    try:
        _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}"], cwd, base)
    except DiffError:
        raise DiffError(f"--diff {base}: git knows no revision {base!r} here; fetch it first "
                        f"({fetch_hint(base, _remotes(cwd))}; in GitHub Actions, actions/checkout with "
                        "fetch-depth: 0)") from None
    merge_base = _git(["merge-base", "--end-of-options", base, "HEAD"], cwd, base).strip()
    names = _git(["diff", "--name-only", "-z", "--no-relative", "--no-ext-diff", "--diff-filter=ACMRT", merge_base,
                  "--"], cwd, base)
    untracked = _git(["ls-files", "-z", "--others", "--exclude-standard", "--full-name", ":/"], cwd, base)
    out = set()
    for name in (*names.split("\0"), *untracked.split("\0")):
        if name:
            path = os.path.join(top, name)
            if os.path.exists(path):
                out.add(os.path.realpath(path))
    return out


def _remotes(cwd: Path) -> list[str]:
    """The repository's remotes (``git remote``), ``[]`` when git cannot say."""
    try:
        return _git(["remote"], cwd, "").split()
    except DiffError:
        return []


def fetch_hint(base: str, remotes: Sequence[str]) -> str:
    """The command that brings a missing revision ``base`` here, for the error message.

    ``origin/main`` (a remote's branch): ``git fetch origin main``, which also updates ``origin/main``
    (git-fetch(1), "CONFIGURED REMOTE-TRACKING BRANCHES"), not ``git fetch origin origin/main``. A
    commit (hex digits): fetched by its hash, or the whole history of a shallow clone. A name with
    ``~``, ``^`` or ``@`` (older history): the whole history. A branch or tag name: fetched under the
    same name (``git fetch origin main:main``: ``git fetch origin main`` alone leaves no ``main``
    here, only ``origin/main``). No remote: nothing to fetch from.

    :param base: the revision given to ``--diff``.
    :param remotes: the repository's remotes (``origin`` first when there).
    """
    if not remotes:
        return "this repository has no remote to fetch it from: give a branch, tag or commit that exists here"
    remote = "origin" if "origin" in remotes else remotes[0]
    for name in sorted(remotes, key=len, reverse=True):
        if base.startswith(name + "/") and len(base) > len(name) + 1:
            return f"`git fetch {name} {base[len(name) + 1:]}`"
    if len(base) >= 7 and all(c in "0123456789abcdefABCDEF" for c in base):
        return f"`git fetch {remote} {base}`, or in a shallow clone `git fetch --unshallow {remote}`"
    if any(c in base for c in "~^@"):
        return f"in a shallow clone, the whole history: `git fetch --unshallow {remote}`"
    return f"`git fetch {remote} {base}:{base}`, or `git fetch {remote} {base}` and --diff {remote}/{base}"


def only_changed(files: Sequence[Path], changed: set[str]) -> list[Path]:
    """The files among ``files`` whose real path is in ``changed`` (order kept)."""
    return [f for f in files if os.path.realpath(f) in changed]
