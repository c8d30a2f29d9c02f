"""How torrents and their web seeds are named, for the daemon that builds them and the Apache
side that serves and links them (shared, standard library only).

Nothing machine-specific goes into an info dict: a page bundle's name is BUNDLE_NAME on every
frontend, a single file's torrent is named after the file, so frontends whose document roots,
state directories or addresses differ build the same info-hashes for the same bytes. What
differs per frontend (its web seed URL) lives in the url-list, outside the info dict."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

BUNDLE_NAME = "site"
# Every torrentweb seeder's peer id starts so (libtorrent's peer_fingerprint, the daemon's own
# tracker entries): a swarm's tracker tells the site's seeders, on any frontend, from visitors.
SEEDER_PEER_ID_PREFIX = b"-TW0100-"


def seed_name(config) -> str:
    """The page bundles' torrent name: BUNDLE_NAME, the same on every frontend whatever its
    document root is called. A web seed URL of <prefix>seed/ + name + / + path maps onto the
    document root; the daemon seeds bundles from the docroot itself (bundles.renamed_files)."""
    return BUNDLE_NAME


def bundle_seed_url(base_url: str, prefix: str) -> str:
    """A page bundle's BEP 19 web seed (ends in /) on the frontend whose document root is at
    base_url: the client appends name/path, which the httpd snippet maps onto the docroot."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{quote(prefix)}seed/"


def bundle_seed_urls(config) -> list[str]:
    """Page bundles' url-list: one entry per frontend (torrents.web_seeds)."""
    return [bundle_seed_url(base, config.apache.prefix) for base in config.web_seed_bases()]


def web_seed_url(base_url: str, rel: str) -> str:
    """A single file's web seed: its public URL on the origin (WebTorrent needs the full URL)."""
    return base_url + quote(rel)


def web_seed_urls(config, rel: str) -> list[str]:
    """A single file's url-list: its public URL on every frontend (torrents.web_seeds)."""
    return [web_seed_url(base, rel) for base in config.web_seed_bases()]


def torrent_url(prefix: str, torrent: str) -> str:
    """URL path of a .torrent from its catalogue path (relative to the state directory):
    bundles/<ih>/<ih>.torrent -> <prefix>t/<ih>/<ih>.torrent,
    torrents/a/b.jpg.torrent -> <prefix>files/a/b.jpg.torrent."""
    top, _, rest = torrent.partition("/")
    where = {"bundles": "t/", "torrents": "files/"}.get(top)
    if where is None or not rest:
        raise ValueError(f"torrent path outside bundles/ and torrents/: {torrent!r}")
    return prefix + where + quote(rest)
