"""Which of a page's heavy inline assets could live in the document root: a pure function.

Regex-level on purpose (html.parser costs ~450 µs per page, this ~10 µs): the filter runs it
per request and the daemon runs it on every HTML file it sees, so both agree on a page's
bundle. It only proposes candidate paths; the catalogue (files the YAML rules accepted and
the origin may publish) decides which of them are real assets.

Scanned: img src/srcset, picture/video/audio source src/srcset, video src/poster, audio src,
and <a download href> (a linked download). Not CSS or scripts: small and render-critical.
"""
from __future__ import annotations

import html as _html
import posixpath
import re
from urllib.parse import unquote, urljoin, urlsplit

_HIDDEN = re.compile(rb"<!--.*?-->|<script\b.*?</script\s*>|<style\b.*?</style\s*>|<template\b.*?</template\s*>",
                     re.I | re.S)
_TAG = re.compile(rb"<(img|source|video|audio|a|base)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_ATTR = re.compile(rb"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")
_URL_ATTRS = {b"img": (b"src", b"srcset"), b"source": (b"src", b"srcset"),
              b"video": (b"src", b"poster"), b"audio": (b"src",), b"a": (b"href",)}
_FAKE_ORIGIN = "http://torrentweb.invalid"


def candidate_paths(html: bytes, page_path: str, base_path: str = "/",
                    origin: str | None = None) -> list[str]:
    """Sorted asset paths, relative to the document root and '/'-separated, that the page at
    URL path `page_path` embeds. `base_path` is the URL path the document root is served
    under (base_url's path); `origin` ("https://example.org") also accepts absolute URLs to
    the site itself."""
    visible = _HIDDEN.sub(b"", html)
    page_url = _FAKE_ORIGIN + page_path
    found = set()
    for tag, attrs in _tags(visible):
        if tag == b"base":
            href = attrs.get(b"href")
            if href is not None:
                page_url = urljoin(page_url, _text(href))
            continue
        if tag == b"a" and b"download" not in attrs:
            continue
        for name in _URL_ATTRS[tag]:
            value = attrs.get(name)
            if not value:
                continue
            urls = _srcset(value) if name == b"srcset" else [value]
            for url in urls:
                rel = _docroot_path(urljoin(page_url, _text(url)), base_path, origin)
                if rel:
                    found.add(rel)
    return sorted(found)


def _tags(html: bytes):
    for m in _TAG.finditer(html):
        attrs = {}
        for a in _ATTR.finditer(m.group(2)):
            name = a.group(1).lower()
            if name not in attrs:             # the first of duplicate attributes wins, as in HTML
                value = a.group(2) or b""
                if value[:1] in (b'"', b"'"):
                    value = value[1:-1]
                attrs[name] = value
        yield m.group(1).lower(), attrs


def _srcset(value: bytes) -> list[bytes]:
    return [part.split()[0] for part in value.split(b",") if part.split()]


def _text(value: bytes) -> str:
    text = value.decode("utf-8", "replace").strip()
    return _html.unescape(text) if "&" in text else text


def _docroot_path(url: str, base_path: str, origin: str | None) -> str | None:
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" not in (_FAKE_ORIGIN, origin):
        return None
    path = unquote(parts.path)
    if not path.startswith(base_path) or "\x00" in path or "\\" in path:
        return None
    rel = path[len(base_path):]
    if not rel or rel.endswith("/"):
        return None
    norm = posixpath.normpath(rel)
    if norm != rel or norm.startswith(("../", "/")) or norm == ".." or \
            any(seg.startswith(".") for seg in norm.split("/")):
        return None
    return norm
