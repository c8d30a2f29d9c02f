"""Swap mode: hide a page's torrented assets from the preload scanner, for the loader to restore.

A browser requests every `<img src>` before any script runs, so the loader could save the
origin nothing. `swap(html, page_path, assets)` moves `src`/`srcset`/`poster` of the elements
whose URL is one of `assets` into `data-torrent-src`/`-srcset`/`-poster`, gives images an inert
placeholder, and follows each changed element with a `<noscript>` copy of the original, so
browsers without script, crawlers and reader modes still get plain HTTP.

Units: a standalone `<img>`, a whole `<picture>`, a whole `<video>`/`<audio>` (its `<source>`s
included). Everything else is byte-identical. Pure: no I/O, standard library only.
"""
from __future__ import annotations

import html as htmlmod
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Collection, List, Optional, Tuple
from urllib.parse import unquote, urljoin, urlsplit

# A 1x1 transparent GIF: decodes instantly, fetches nothing.
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

SWAPPED = {"img": ("src", "srcset"), "source": ("src", "srcset"), "video": ("src", "poster"),
           "audio": ("src",)}
CONTAINERS = ("picture", "video", "audio")
SKIP = ("noscript", "template", "svg", "math", "script", "style", "textarea")
_ATTR = re.compile(r"""[\s/]*([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")


@dataclass(frozen=True)
class _Unit:
    start: int              # offsets into the text of the element (start tag to end of end tag)
    end: int
    tags: Tuple[Tuple[int, int, str, tuple], ...]   # (start, end, name, attrs) of inner tags


def swap(html: bytes, page_path: str, assets: Collection[str]) -> bytes:
    """Return `html` with the elements that show one of `assets` (URL paths such as
    /img/a.jpg, as the page torrent lists them) swapped; unchanged when nothing matches or the
    page cannot be parsed safely (UTF-16/32 pages, parser errors)."""
    if not assets or html[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in html[:1024]:
        return html
    text = html.decode("latin-1")          # byte-transparent for every ASCII-compatible charset
    wanted = frozenset(assets)
    try:
        units = _Scanner(text).units()
    except (AssertionError, ValueError):   # html.parser's complaints: leave the page alone
        return html
    out, pos = [], 0
    for unit in units:
        original = text[unit.start:unit.end]
        rewritten = _rewrite_unit(text, unit, page_path, wanted)
        if rewritten is None:
            continue
        out.append(text[pos:unit.start])
        out.append(rewritten + "<noscript>" + original + "</noscript>")
        pos = unit.end
    if not out:
        return html
    out.append(text[pos:])
    return "".join(out).encode("latin-1")


def _rewrite_unit(text: str, unit: _Unit, page_path: str, wanted) -> Optional[str]:
    """All or nothing: a unit with any URL outside the torrent stays plain HTTP."""
    for _, _, name, attrs in unit.tags:
        values = dict(attrs)
        if any(values.get(a) and not _matches(a, values[a], page_path, wanted) for a in SWAPPED[name]):
            return None
    pieces, pos, changed = [], unit.start, False
    for start, end, name, attrs in unit.tags:
        tag = _swap_tag(text[start:end], name, dict(attrs), page_path, wanted)
        if tag is not None:
            pieces += [text[pos:start], tag]
            pos, changed = end, True
    if not changed:
        return None
    pieces.append(text[pos:unit.end])
    return "".join(pieces)


def _swap_tag(tag: str, name: str, attrs: dict, page_path: str, wanted) -> Optional[str]:
    """The start tag with its asset attributes renamed to data-torrent-*, or None."""
    moved = {a for a in SWAPPED[name] if attrs.get(a) and _matches(a, attrs[a], page_path, wanted)}
    if not moved:
        return None
    out, pos = [], 0
    for m in _attributes(tag):
        if m.group(1).lower() in moved:
            out += [tag[pos:m.start(1)], "data-torrent-" + m.group(1).lower()]
            pos = m.end(1)
    tag = "".join(out) + tag[pos:]
    if name == "img" and "src" in moved:
        tag = _insert_attr(tag, f'src="{PLACEHOLDER}"')
    return tag


def _attributes(tag: str):
    """The attributes of a start tag, walked in order (values never mistaken for names)."""
    pos = re.match(r"<[^\s/>]+", tag).end()
    while True:
        m = _ATTR.match(tag, pos)
        if not m or not m.group(1):
            return
        yield m
        pos = m.end()


def _insert_attr(tag: str, attr: str) -> str:
    end = len(tag) - 2 if tag.endswith("/>") else len(tag) - 1
    return tag[:end].rstrip() + " " + attr + tag[end:]


def _matches(attr: str, value: str, page_path: str, wanted) -> bool:
    """src/poster: the URL is an asset; srcset: every candidate is one (else HTTP keeps it)."""
    urls = _srcset_urls(value) if attr == "srcset" else [value]
    return bool(urls) and all(_url_path(u, page_path) in wanted for u in urls)


def _srcset_urls(value: str) -> List[str]:
    return [c.strip().split()[0] for c in value.split(",") if c.strip()]


def _url_path(url: str, page_path: str) -> Optional[str]:
    """The same-site path a (relative) URL points to, decoded; None for other hosts/schemes."""
    parts = urlsplit(urljoin("http://site" + page_path, htmlmod.unescape(url.strip())))
    if parts.scheme != "http" or parts.netloc != "site":
        return None
    return unquote(parts.path)


class _Scanner(HTMLParser):
    """Finds the units and their start tags, with offsets into the text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.text = text
        self._lines = [0] + [m.end() for m in re.finditer("\n", text)]
        self._units: List[_Unit] = []
        self._open: Optional[list] = None       # [name, start, tags] of the open container
        self._skip = 0

    def units(self) -> List[_Unit]:
        self.feed(self.text)
        self.close()
        return self._units

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._lines[line - 1] + col

    def handle_starttag(self, tag, attrs):
        start = self._offset()
        end = start + len(self.get_starttag_text())
        if tag in SKIP:
            self._skip += 1
            return
        if self._skip:
            return
        if tag in CONTAINERS and self._open is None:
            self._open = [tag, start, []]
        if tag in SWAPPED:
            entry = (start, end, tag, tuple(attrs))
            if self._open is not None:
                self._open[2].append(entry)
            elif tag == "img":
                self._units.append(_Unit(start, end, (entry,)))

    def handle_startendtag(self, tag, attrs):
        if tag in SKIP:
            return
        self.handle_starttag(tag, attrs)
        if tag in CONTAINERS and self._open and self._open[0] == tag:
            self._open = None      # <video/>: nothing inside, nothing to copy safely

    def handle_endtag(self, tag):
        if tag in SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._open is not None and tag == self._open[0] and not self._skip:
            end = self.text.find(">", self._offset()) + 1
            name, start, tags = self._open
            self._units.append(_Unit(start, end, tuple(tags)))
            self._open = None
