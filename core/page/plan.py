"""What a page links: its assets split into one page bundle and single-file torrents of large
files, and the markup that goes into its <head>. Shared by the filter, the middleware and the
daemon (which builds bundles and rendered copies with the same code)."""
from __future__ import annotations

import html
from dataclasses import dataclass

from torrentweb.catalogue import FileRow, bundle_key
from torrentweb.naming import torrent_url


@dataclass(frozen=True)
class PagePlan:
    bundled: tuple[FileRow, ...]      # into the page bundle (sorted by path)
    large: tuple[FileRow, ...]        # linked by their own single-file torrent

    @property
    def key(self) -> str | None:
        return bundle_key(self.bundled) if self.bundled else None


def plan(assets, large_file_size: int) -> PagePlan:
    ordered = sorted(assets, key=lambda a: a.path)
    return PagePlan(tuple(a for a in ordered if a.size <= large_file_size),
                    tuple(a for a in ordered if a.size > large_file_size))


def link_tag(href: str) -> bytes:
    return (f'<link type="application/x-bittorrent" rel="torrent" href="{html.escape(href)}">'
            .encode("ascii"))


def head_html(prefix: str, bundle_torrent: str | None, large: tuple[FileRow, ...],
              loader_tag: str | None = None) -> bytes:
    """The markup injected into <head>: the torrent links, then the browser loader's <script>
    (loadertag.py) when it is on; b"" when the page has nothing to link."""
    hrefs = ([torrent_url(prefix, bundle_torrent)] if bundle_torrent else []) + \
            [torrent_url(prefix, a.torrent) for a in large]
    if not hrefs:
        return b""
    tags = [link_tag(h) for h in hrefs]
    if loader_tag:
        tags.append(loader_tag.encode("utf-8"))
    return b"\n" + b"\n".join(tags) + b"\n"
