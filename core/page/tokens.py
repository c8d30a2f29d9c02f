"""One HTML tokenizer and one URL resolver for every reader of a page: the scan (which assets a
page embeds), the swap (which elements the loader takes over) and, through them, the daemon.
Two readers that parse differently disagree (a <base href> one honoured and the other did not).

Regex-level on purpose (html.parser costs ~450 µs per page, this a few µs): the filter runs
per request. Text is the page's bytes decoded as latin-1, which keeps every byte (offsets are
byte offsets) for every ASCII-compatible charset.

What is not markup is skipped: comments (an unterminated one runs to the end), the content of
raw-text elements (script, style, textarea, title...). What the page does not show as its own
is left out by visible_tags(): the inside of noscript (fallback copies), template, svg, math.
"""
from __future__ import annotations

import functools
import html
import posixpath
import re
from typing import Iterator
from urllib.parse import unquote, urljoin, urlsplit

RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"})
INERT = frozenset({"noscript", "template", "svg", "math"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR = re.compile(r"""[\s/]*([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_NAME = re.compile(r"<[a-zA-Z][a-zA-Z0-9-]*")
_FAKE_ORIGIN = "http://torrentweb.invalid"
# an absolute path with no dot segment, query, fragment, escape or backslash: resolves to itself
_PLAIN_PATH = re.compile(r"/(?![/.])(?:[^?#%\\./]|\.(?!\.?(?:/|$))|/(?![/.]))*")


class Tag:
    """A start or end tag: its name, offsets and (parsed on first use) attributes."""

    __slots__ = ("name", "body", "start", "end", "closing", "self_closing", "_attrs")

    def __init__(self, name: str, body: str, start: int, end: int, closing: bool = False):
        self.name, self.body, self.start, self.end, self.closing = name, body, start, end, closing
        self.self_closing = body.endswith("/") or body.rstrip().endswith("/")
        self._attrs = None

    @property
    def attrs(self) -> dict:
        """name -> raw value as written (quotes removed); the first of duplicates wins."""
        if self._attrs is None:
            self._attrs = {} if self.closing else attributes(self.body)
        return self._attrs

    def value(self, attr: str) -> str | None:
        """An attribute's value as the browser reads it: UTF-8, entities decoded, trimmed."""
        raw = self.attrs.get(attr)
        if raw is None:
            return None
        text = raw.encode("latin-1").decode("utf-8", "replace").strip()
        return html.unescape(text) if "&" in text else text


def decode(page: bytes) -> str | None:
    """The text tokens() reads; None for pages that are not ASCII-compatible (UTF-16/32)."""
    if page[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in page[:1024]:
        return None
    return page.decode("latin-1")


@functools.lru_cache(maxsize=16)
def _tag_pattern(names: frozenset | None) -> re.Pattern:
    """A tag at a given '<'; with `names`, only those tags and the ones the tokenizer itself
    must see (raw text, inert elements, <base>): the others are passed over."""
    if names is None:
        return _TAG
    wanted = "|".join(sorted(names | RAW_TEXT | INERT | {"base"}, key=len, reverse=True))
    return re.compile(r"<(/?)(" + wanted + r")(?=[\s/>])((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)


def tokens(text: str, names: frozenset | None = None) -> Iterator[Tag]:
    """Start and end tags in order (all, or those in `names`), outside comments and raw text."""
    pos, find, match = 0, text.find, _tag_pattern(names).match
    while True:
        lt = find("<", pos)
        if lt < 0:
            return
        if text.startswith("<!--", lt):
            close = find("-->", lt + 4)
            if close < 0:
                return                       # an unterminated comment hides the rest
            pos = close + 3
            continue
        m = match(text, lt)
        if m is None:
            pos = lt + 1
            continue
        pos = m.end()
        name = m.group(2).lower()
        tag = Tag(name, m.group(3), lt, pos, bool(m.group(1)))
        yield tag
        if name in RAW_TEXT and not tag.closing and not tag.self_closing:
            end = _raw_text_end(name).search(text, pos)
            pos = end.start() if end else len(text)


@functools.lru_cache(maxsize=None)
def _raw_text_end(name: str) -> re.Pattern:
    return re.compile(rf"</{name}\b", re.I)


def attributes(body: str) -> dict:
    """Attributes of a start tag's body; values never mistaken for names."""
    out = {}
    for m in attribute_matches(body):
        name = m.group(1).lower()
        if name not in out:                  # the first of duplicate attributes wins, as in HTML
            value = m.group(2) or ""
            out[name] = value[1:-1] if value[:1] in "\"'" and len(value) >= 2 else value
    return out


def attribute_matches(text: str, pos: int = 0):
    """Each attribute from `pos` on, as a match (group 1: its name as written, group 2: its
    value with quotes), in order."""
    while True:
        m = _ATTR.match(text, pos)
        if not m or not m.group(1) or m.end() == pos:
            return
        yield m
        pos = m.end()


def start_tag_attributes(tag_text: str):
    """attribute_matches() of a whole start tag (`<img src=...>`), past its name."""
    return attribute_matches(tag_text, _NAME.match(tag_text).end())


def visible_tags(text: str, names: frozenset | None = None) -> Iterator[Tag]:
    """tokens() minus what lies inside noscript, template, svg and math."""
    depth = {}
    for tag in tokens(text, names):
        if tag.name in INERT:
            if tag.closing:
                depth[tag.name] = max(0, depth.get(tag.name, 0) - 1)
            elif not tag.self_closing:
                depth[tag.name] = depth.get(tag.name, 0) + 1
            continue
        if not any(depth.values()):
            yield tag


class Resolver:
    """URLs in a page -> paths of files in the document root, after the page's <base href>.

    base_path: the URL path the document root is served under (base_url's path);
    origin: "https://example.org" also accepts absolute URLs to the site itself."""

    def __init__(self, page_path: str, base_path: str = "/", origin: str | None = None):
        self.page_url = _FAKE_ORIGIN + page_path
        self.base_path, self.origin = base_path, origin
        self._based = False

    def see(self, tag: Tag):
        """Follow a <base href> (the first one counts, as in browsers)."""
        if tag.name == "base" and not tag.closing and not self._based:
            href = tag.value("href")
            if href is not None:
                self.page_url = urljoin(self.page_url, href)
                self._based = True

    def docroot_path(self, url: str) -> str | None:
        """'img/a.jpg' for a URL of a file under the document root, else None."""
        if _PLAIN_PATH.fullmatch(url) and self.page_url.startswith(_FAKE_ORIGIN + "/"):
            path = url                       # nothing to join, decode or normalise (most URLs)
        else:
            parts = urlsplit(urljoin(self.page_url, url))
            if f"{parts.scheme}://{parts.netloc}" not in (_FAKE_ORIGIN, self.origin):
                return None
            path = unquote(parts.path)
        if not path.startswith(self.base_path) or "\x00" in path or "\\" in path:
            return None
        rel = path[len(self.base_path):]
        if not rel or rel.endswith("/"):
            return None
        norm = posixpath.normpath(rel)
        if norm != rel or norm.startswith(("../", "/")) or norm == ".." or \
                any(seg.startswith(".") for seg in norm.split("/")):
            return None
        return norm


def srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset (candidates split on commas; descriptors dropped)."""
    return [c.split()[0] for c in value.split(",") if c.split()]
