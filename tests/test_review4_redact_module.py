"""The password hiding lives in its own module and is still imported from the configuration's."""

from __future__ import annotations

from pathlib import Path

import confiture_core.config as config
import confiture_core.redact as redact


def test_config_reexports_the_redaction_functions() -> None:
    assert config.redact_url is redact.redact_url
    assert config.scrub is redact.scrub
    url = "postgresql://app:s3cret@db:5432/prod"
    assert config.redact_url(url) == "postgresql://app:***@db:5432/prod"
    assert config.scrub(f"cannot connect to {url}: password s3cret refused", url) == \
        "cannot connect to postgresql://app:***@db:5432/prod: password *** refused"


def test_config_module_stays_under_500_lines() -> None:
    lines = Path(config.__file__).read_text(encoding="utf-8").count("\n")
    assert lines < 500, f"config.py has {lines} lines: move one idea out of it"
