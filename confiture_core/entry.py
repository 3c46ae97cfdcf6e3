"""The ``confiture`` console script: replay an unchanged lint run, else run the CLI.

Only the standard library is imported before :func:`confiture_core.lint.replay.replay`
has had its chance: a warm ``confiture lint`` on an unchanged tree never imports
click, pluggy, pglast or rich.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (see :func:`confiture_core.cli.main`).

    :param argv: the arguments after the program name (default ``sys.argv[1:]``).
    """
    started_ns = time.time_ns()
    args = list(sys.argv[1:] if argv is None else argv)
    from .lint import replay

    code = replay.replay(args)
    if code is not None:
        raise SystemExit(code)
    from .lint import memo

    memo.start_recording(args, started_ns)
    try:
        from .cli import main as cli_main

        cli_main(args)
    finally:
        memo.stop_recording()


if __name__ == "__main__":  # pragma: no cover
    main()
