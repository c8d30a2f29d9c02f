"""Swap mode: hide a page's torrented assets from the preload scanner, for the loader to restore.

A browser requests every `<img src>` before any script runs, so the loader could save the
origin nothing. `swap(html, page_path, assets)` moves `src`/`srcset`/`poster` of the elements
whose URL is one of `assets` into `data-torrent-src`/`-srcset`/`-poster`, gives images an inert
placeholder, and follows each changed element with a `<noscript>` copy of the original, so
browsers without script, crawlers and reader modes still get plain HTTP.

Units: a standalone `<img>`, a whole `<picture>`, a whole `<video>`/`<audio>` (its `<source>`s
included). Everything else is byte-identical. Pure: no I/O, standard library only. Pages are
read with the scan's tokenizer and resolver (tokens.py): the same `<base href>`, the same
elements left out (noscript, template, svg, math, raw text), the same URLs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Optional, Tuple

from .tokens import Resolver, Tag, decode, srcset_urls, start_tag_attributes, visible_tags

# A 1x1 transparent GIF: decodes instantly, fetches nothing.
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

SWAPPED = {"img": ("src", "srcset"), "source": ("src", "srcset"), "video": ("src", "poster"),
           "audio": ("src",)}
CONTAINERS = ("picture", "video", "audio")
NAMES = frozenset(SWAPPED) | frozenset(CONTAINERS)


@dataclass(frozen=True)
class _Unit:
    start: int              # offsets into the text of the element (start tag to end of end tag)
    end: int
    tags: Tuple[Tag, ...]   # its start tags that carry asset URLs


def swap(html: bytes, page_path: str, assets: Collection[str], base_path: str = "/",
         origin: Optional[str] = None) -> bytes:
    """Return `html` with the elements that show one of `assets` (URL paths such as
    /img/a.jpg, as the page torrent lists them) swapped; unchanged when nothing matches or the
    page is not ASCII-compatible (UTF-16/32)."""
    text = decode(html) if assets else None
    if text is None:
        return html
    out, pos = [], 0
    for start, end, rewritten in _edits(text, page_path, assets, base_path, origin):
        out += [text[pos:start], rewritten]
        pos = end
    if not out:
        return html
    out.append(text[pos:])
    return "".join(out).encode("latin-1")


def swap_edits(html: bytes, page_path: str, assets: Collection[str], base_path: str = "/",
               origin: Optional[str] = None) -> list[tuple[bytes, bytes]]:
    """The swap as literal replacements (the element's bytes, what replaces them), in page
    order, for a filter that cannot parse HTML (the mod_lua filter of dynamic pages). Only
    elements whose bytes occur once in the page: a copy inside a script or a comment would be
    replaced too."""
    text = decode(html) if assets else None
    if text is None:
        return []
    edits = []
    for start, end, rewritten in _edits(text, page_path, assets, base_path, origin):
        original = text[start:end]
        if text.count(original) == 1:
            edits.append((original.encode("latin-1"), rewritten.encode("latin-1")))
    return edits


def _edits(text: str, page_path: str, assets, base_path: str, origin):
    """(start, end, replacement) of each swapped unit: the rewritten element and its
    <noscript> copy of the original."""
    resolver = Resolver(page_path, base_path, origin)
    wanted = frozenset(assets)
    for unit in _units(text, resolver):
        rewritten = _rewrite_unit(text, unit, resolver, wanted)
        if rewritten is not None:
            yield unit.start, unit.end, "".join(
                [rewritten, "<noscript>", text[unit.start:unit.end], "</noscript>"])


def _units(text: str, resolver: Resolver):
    """Standalone <img>s and whole <picture>/<video>/<audio> elements, in order."""
    open_ = None                          # [name, start, tags] of the open container
    for tag in visible_tags(text, NAMES):
        resolver.see(tag)
        if tag.closing:
            if open_ is not None and tag.name == open_[0]:
                yield _Unit(open_[1], tag.end, tuple(open_[2]))
                open_ = None
            continue
        if tag.name in CONTAINERS and open_ is None:
            if tag.self_closing:
                continue                  # <video/>: nothing inside, nothing to copy safely
            open_ = [tag.name, tag.start, []]
        if tag.name in SWAPPED:
            if open_ is not None:
                open_[2].append(tag)
            elif tag.name == "img":
                yield _Unit(tag.start, tag.end, (tag,))


def _rewrite_unit(text: str, unit: _Unit, resolver: Resolver, wanted) -> Optional[str]:
    """All or nothing: a unit with any URL outside the torrent stays plain HTTP."""
    for tag in unit.tags:
        if any(tag.value(a) and not _matches(a, tag.value(a), resolver, wanted) for a in SWAPPED[tag.name]):
            return None
    pieces, pos, changed = [], unit.start, False
    for tag in unit.tags:
        new = _swap_tag(text[tag.start:tag.end], tag, resolver, wanted)
        if new is not None:
            pieces += [text[pos:tag.start], new]
            pos, changed = tag.end, True
    if not changed:
        return None
    pieces.append(text[pos:unit.end])
    return "".join(pieces)


def _swap_tag(raw: str, tag: Tag, resolver: Resolver, wanted) -> Optional[str]:
    """The start tag with its asset attributes renamed to data-torrent-*, or None."""
    moved = {a for a in SWAPPED[tag.name] if tag.value(a) and _matches(a, tag.value(a), resolver, wanted)}
    if not moved:
        return None
    out, pos = [], 0
    for m in start_tag_attributes(raw):
        if m.group(1).lower() in moved:
            out += [raw[pos:m.start(1)], "data-torrent-" + m.group(1).lower()]
            pos = m.end(1)
    raw = "".join(out) + raw[pos:]
    if tag.name == "img" and "src" in moved:
        raw = _insert_attr(raw, f'src="{PLACEHOLDER}"')
    return raw


def _insert_attr(tag: str, attr: str) -> str:
    end = len(tag) - 2 if tag.endswith("/>") else len(tag) - 1
    return tag[:end].rstrip() + " " + attr + tag[end:]


def _matches(attr: str, value: str, resolver: Resolver, wanted) -> bool:
    """src/poster: the URL is an asset; srcset: every candidate is one (else HTTP keeps it)."""
    urls = srcset_urls(value) if attr == "srcset" else [value]
    return bool(urls) and all(_url_path(u, resolver) in wanted for u in urls)


def _url_path(url: str, resolver: Resolver) -> Optional[str]:
    rel = resolver.docroot_path(url)
    return resolver.base_path + rel if rel else None
