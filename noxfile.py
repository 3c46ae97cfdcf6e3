"""nox sessions: tests, lint, typecheck, docs, demo, bench (``pip install nox && nox -s tests``)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite on the embedded PostgreSQL 18 (set CONFITURE_TEST_SERVER_URL for another)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the code, tests and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", "confiture_core", "confiture_plugins", "tests", "bench")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the packages (they ship py.typed)."""
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the generated reference pages in docs/."""
    session.install("-e", ".")
    with open("docs/hooks.md", "w") as out:
        session.run("python", "-m", "confiture_core.hookdocs", stdout=out)
    session.run("python", "-m", "confiture_core.lint.docs")


@nox.session
def demo(session: nox.Session) -> None:
    """Apply the example project to the embedded server and show its status."""
    session.install("-e", ".[embedded]")
    session.run("confiture", "-C", "examples/shop", "migrate", "up")
    session.run("confiture", "-C", "examples/shop", "migrate", "status")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (ratios measured in the same run); not tests."""
    session.install("-e", ".[bench,embedded]")
    session.run("python", "bench/apply_bench.py")
