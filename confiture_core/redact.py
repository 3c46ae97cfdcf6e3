"""Hiding a database password: in a libpq URL or key/value DSN, and wherever it appears in a text."""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote, urlsplit

#: the scheme of a URL, ``postgresql://``, also mistyped with one slash or none (``postgresql:/``)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*")


def _written_password(url: str) -> tuple[int, int] | None:
    """Where the password of a URL is as a person wrote it: from the first ``:`` of the user
    information to the last ``@``, even when an unescaped ``/``, ``?``, ``#`` or ``@`` in it
    makes libpq and ``urlsplit`` read the URL another way (the password then ends up in a host,
    port or path that error messages quote). ``None``: no password written.
    """
    m = _SCHEME.match(url)
    if m is None or "=" in url[:m.end()]:
        return None
    rest_start = m.end()
    authority = re.split(r"[/?#]", url[rest_start:], maxsplit=1)[0]
    if "@" in authority:  # the usual case (an @ in the password included): the last @ before the path
        at = rest_start + authority.rfind("@")
    elif re.fullmatch(r"[^:]*:\d*", authority):
        return None  # host:port, and maybe an @ further on (in the query): no password
    else:  # a / ? or # in the password ended the authority early: the password runs to the last @
        at = url.rfind("@", rest_start)
        if at < 0:
            return None
    userinfo = url[rest_start:at]
    colon = userinfo.find(":")
    if colon < 0 or any(c in userinfo[:colon] for c in "/?#"):
        return None
    return rest_start + colon + 1, at


def redact_url(url: str) -> str:
    """Hide the password of a libpq URL or key/value DSN (``***``), also in a URL whose password
    has an unescaped ``/``, ``?``, ``#`` or ``@``, or whose scheme lacks a slash.

    >>> redact_url("postgresql://app:s3cret@db:5432/prod")
    'postgresql://app:***@db:5432/prod'
    >>> redact_url("postgresql://app:s3c/ret@db/prod")
    'postgresql://app:***@db/prod'
    """
    span = _written_password(url)
    if span is not None:
        url = url[:span[0]] + "***" + url[span[1]:]
    if span is not None or "://" in url:
        return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)  # the rest of the URL as written
    return _KV_PASSWORD.sub(r"\1***", url)


#: ``password=value`` in a libpq key/value DSN: a single-quoted value, or an unquoted one in
#: which a backslash escapes the next character (a space included), as libpq parses it
#: (PostgreSQL docs, libpq "Connection Strings", 34.1.1.1 Keyword/Value Connection Strings).
_KV_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|(?:\\.|[^\s\\])+)")


def _password_forms(url: str) -> list[str]:
    """Every spelling of ``url``'s password: as libpq reads it first, then as written."""
    forms: list[str] = []
    try:
        from psycopg.conninfo import conninfo_to_dict

        parsed = conninfo_to_dict(url).get("password")
        if parsed:
            forms.append(str(parsed))
    except Exception:  # not parsable by libpq: the patterns below still find it
        pass
    span = _written_password(url)
    if span is not None:
        written = url[span[0]:span[1]]
        # its pieces too: libpq splits such a password at the delimiter and quotes the rest as a host or port
        forms += [written, unquote(written)] + [p for p in re.split(r"[@/?#:]", written) if len(p) >= 2]
    if "://" in url:
        try:
            raw = urlsplit(url).password
        except ValueError:
            raw = None
        m = re.search(r"(?i)password=([^&]*)", url.split("?", 1)[1] if "?" in url else "")
        forms += [f for f in (raw, m.group(1) if m else None) if f]
    else:
        m = _KV_PASSWORD.search(url)
        if m:
            forms.append(m.group(2).strip("'"))
    return list(dict.fromkeys(f for f in forms if f))


def scrub(text: str, url: str | None) -> str:
    """Remove every occurrence of ``url``'s password (and the URL itself) from ``text``."""
    if not url:
        return text
    shown, forms = _scrub_plan(url)
    text = text.replace(url, shown)
    for pw in forms:
        text = text.replace(pw, "***")
    return text


@functools.lru_cache(maxsize=16)
def _scrub_plan(url: str) -> tuple[str, tuple[str, ...]]:
    """``url`` redacted, and its password's spellings longest first: worked out once per URL (every line the
    CLI writes is scrubbed, twice per migration during ``migrate up``)."""
    return redact_url(url), tuple(sorted(_password_forms(url), key=len, reverse=True))


def unescaped_in_password(url: str) -> list[str]:
    """The characters of ``url``'s password, as written, that end it early for libpq: ``/`` and ``@``, which a
    URL must percent-encode (``%2F``, ``%40``; PostgreSQL docs, libpq 34.1.1.2 "Connection URIs"). libpq then
    reads part of the password as a host, a port or a database name, and its error says nothing of the password.

    :returns: those characters found, ``[]`` for none (or no password, or a key/value DSN).
    """
    span = _written_password(url)
    written = "" if span is None else url[span[0]:span[1]]
    return [c for c in "/@" if c in written]
