"""CF125's pre-filter character class is exactly the set of characters an unquoted identifier may hold."""

from __future__ import annotations

import re

from confiture_plugins.safety.identifier_length import IDENT_RUN


def test_the_class_matches_letters_digits_underscore_dollar_and_every_non_ascii_code_point() -> None:
    one = re.compile(IDENT_RUN.pattern.removesuffix("{16,}"))
    expected = re.compile(r"[A-Za-z0-9_$\u0080-\U0010FFFF]")
    wrong = [c for c in range(0x110000) if (one.fullmatch(chr(c)) is None) != (expected.fullmatch(chr(c)) is None)]
    assert wrong == []
    assert IDENT_RUN.search("x" * 15) is None and IDENT_RUN.search("ж" * 16) is not None
