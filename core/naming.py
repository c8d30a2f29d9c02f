"""How torrents and their web seeds are named, for the daemon that builds them and the Apache
side that serves and links them (shared, standard library only)."""
from __future__ import annotations

from urllib.parse import quote, urlsplit


def seed_name(config) -> str:
    """The page bundles' torrent name: the document root's own directory name, so a client
    that saves into the docroot's parent finds the files, and a web seed URL of
    <prefix>seed/ + name + / + path maps onto the document root."""
    return config.docroot.name or "site"


def seed_url(config) -> str:
    """The BEP 19 url-list entry of page bundles (ends in /)."""
    parts = urlsplit(config.base_url)
    return f"{parts.scheme}://{parts.netloc}{quote(config.apache.prefix)}seed/"


def web_seed_url(base_url: str, rel: str) -> str:
    """A single file's web seed: its public URL on the origin (WebTorrent needs the full URL)."""
    return base_url + quote(rel)


def torrent_url(prefix: str, torrent: str) -> str:
    """URL path of a .torrent from its catalogue path (relative to the state directory):
    bundles/<ih>/<ih>.torrent -> <prefix>t/<ih>/<ih>.torrent,
    torrents/a/b.jpg.torrent -> <prefix>files/a/b.jpg.torrent."""
    top, _, rest = torrent.partition("/")
    where = {"bundles": "t/", "torrents": "files/"}.get(top)
    if where is None or not rest:
        raise ValueError(f"torrent path outside bundles/ and torrents/: {torrent!r}")
    return prefix + where + quote(rest)
