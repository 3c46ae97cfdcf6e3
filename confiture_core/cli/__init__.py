"""The ``confiture`` command line: click commands, rich for people, JSON for machines.

Human output and progress go to stderr; ``--format json`` prints exactly one
JSON document on stdout. One module per command group (:mod:`.migrate` with
:mod:`.dryrun`, :mod:`.plugins`, :mod:`.server`, :mod:`.lint`) under the group of
:mod:`.root`; :mod:`.app` holds what commands share, :mod:`.output` everything
they write (scrubbed of passwords), :mod:`.main` runs it all with one-line errors.
"""

from __future__ import annotations

from .main import main
from .migrate import next_version
from .root import cli

__all__ = ["cli", "main", "next_version"]
