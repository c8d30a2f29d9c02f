"""Which of a page's heavy inline assets could live in the document root: a pure function.

It only proposes candidate paths; the catalogue (files the YAML rules accepted and the origin
may publish) decides which of them are real assets. The filter runs it per request and the
daemon on every HTML file it sees, with the same tokenizer and resolver as the swap (tokens.py),
so all three agree on a page's assets.

Scanned: img src/srcset, picture/video/audio source src/srcset, video src/poster, audio src,
and <a download href> (a linked download). Not CSS or scripts: small and render-critical. Not
what lies inside noscript (fallback copies), template, svg or math.
"""
from __future__ import annotations

from .tokens import Resolver, decode, srcset_urls, visible_tags

URL_ATTRS = {"img": ("src", "srcset"), "source": ("src", "srcset"), "video": ("src", "poster"),
             "audio": ("src",), "a": ("href",)}
NAMES = frozenset(URL_ATTRS)


def candidate_paths(html: bytes, page_path: str, base_path: str = "/",
                    origin: str | None = None) -> list[str]:
    """Sorted asset paths, relative to the document root and '/'-separated, that the page at
    URL path `page_path` embeds. `base_path` is the URL path the document root is served
    under (base_url's path); `origin` ("https://example.org") also accepts absolute URLs to
    the site itself."""
    text = decode(html)
    if text is None:
        return []
    resolver = Resolver(page_path, base_path, origin)
    found = set()
    for tag in visible_tags(text, NAMES):
        resolver.see(tag)
        if tag.closing or tag.name not in URL_ATTRS:
            continue
        if tag.name == "a" and "download" not in tag.attrs:
            continue
        for name in URL_ATTRS[tag.name]:
            value = tag.value(name)
            if not value:
                continue
            for url in srcset_urls(value) if name == "srcset" else [value]:
                rel = resolver.docroot_path(url)
                if rel:
                    found.add(rel)
    return sorted(found)
