"""Conditional GETs the filter must answer itself (ETag, Last-Modified, 304): Apache does
not do them for handler output.

Pure functions over header values, tested without a server.
"""
from __future__ import annotations

import email.utils
import hashlib


def etag(size: int, mtime_ns: int, seed: str) -> str:
    """A strong ETag that changes with the file and with the injected markup."""
    digest = hashlib.sha1(f"{size}-{mtime_ns}-{seed}".encode()).hexdigest()[:20]
    return f'"tw{digest}"'


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(int(timestamp), usegmt=True)


def _opaque(tag: str) -> str:
    """Compare ETags weakly, ignoring mod_deflate's -gzip (or -br) suffix inside the quotes."""
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    for suffix in ('-gzip"', '-br"'):
        if tag.endswith(suffix):
            tag = tag[:-len(suffix)] + '"'
    return tag


def not_modified(environ, current_etag: str, last_modified: float) -> bool:
    """RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it."""
    inm = environ.get("HTTP_IF_NONE_MATCH")
    if inm is not None:
        if inm.strip() == "*":
            return True
        mine = _opaque(current_etag)
        return any(_opaque(t) == mine for t in _split_tags(inm))
    ims = environ.get("HTTP_IF_MODIFIED_SINCE")
    if ims:
        try:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(last_modified) <= since
    return False


def _split_tags(header: str) -> list[str]:
    """Split an If-None-Match list (commas may appear inside quoted tags)."""
    tags, current, quoted = [], [], False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            tags.append("".join(current))
            current = []
        else:
            current.append(ch)
    tags.append("".join(current))
    return [t.strip() for t in tags if t.strip()]
