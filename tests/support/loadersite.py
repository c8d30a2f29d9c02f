"""The browser tests' site: the real daemon (seeding + WebSocket tracker), real Apache serving
the loader through the shipped fragment, and pages rendered with the filter's own functions
(swap + loader_tag). `start_loader_site(tmp)` starts it; tests/browser/conftest.py holds the
module fixtures."""
from __future__ import annotations

import hashlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

import libtorrent as lt

from harness.apache import ApacheServer, grant_web_access, start_apache
from harness.daemon import Daemon, Site, make_site, start_daemon
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb import config as twconfig
from torrentweb.page.loadertag import (default_loader_dir, hot, loader_tag, parse_settings, settings_env,
                                         snippet_values)
from torrentweb.apache.templates import render
from torrentweb.page.swap import swap
from torrentweb.seeder.builder import build

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "tests" / "browser" / "httpd-loader.conf.in"
DEMO = ROOT / "demo" / "site"
IMAGES = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg")
VIDEO = "video/mandelbrot.webm"
PREFIX = "/.torrentweb/"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
{links}
{loader}
</head><body>
{body}
</body></html>
"""


@dataclass
class LoaderSite:
    site: Site
    daemon: Daemon
    apache: ApacheServer
    ws_tracker: str

    @property
    def url(self) -> str:
        return self.apache.url

    def sha256(self, rel: str) -> str:
        return hashlib.sha256((self.site.docroot / rel).read_bytes()).hexdigest()

    def requests_for(self, rel: str, since: int = 0) -> list[str]:
        """Access-log lines after line `since` that fetched rel (directly or as a web seed)."""
        return [l for l in self.apache.access_log_lines()[since:] if f" /{rel} " in l or f"/{rel}?" in l]

    def torrent_copy(self, rel: str, dest: str, info_key: str = "", **changes) -> str:
        """Copy the daemon's torrent of rel to docroot/dest with top-level keys changed
        (announce=...: same info-hash, other tracker); return its URL path."""
        data = lt.bdecode(self.site.torrent(rel))
        data.pop(b"announce-list", None)
        data.update({k.encode(): [x.encode() for x in v] if isinstance(v, list) else v.encode()
                     for k, v in changes.items()})
        if info_key:     # another info-hash for the same bytes: a swarm nobody seeds
            data[b"info"][b"x-torrentweb-test"] = info_key.encode()
        self.site.add(dest, lt.bencode(data))
        return "/" + dest

    def bundle_torrent(self, rels, dest: str, piece_size: int = 32768) -> str:
        """A v1 multi-file torrent of rels (name = docroot's name, paths from docroot: a page
        bundle's layout) at docroot/dest, announced on the WebSocket tracker; its URL path.
        Small pieces, so that pieces span two files."""
        docroot = self.site.docroot
        built = build(docroot.parent, [(f"{docroot.name}/{rel}", (docroot / rel).stat().st_size) for rel in rels],
                      piece_size=piece_size, announce=[self.ws_tracker])
        self.site.add(dest, built.data)
        return "/" + dest

    def wait_torrent(self, rel: str):
        wait_for(lambda: (self.site.state / "torrents" / (rel + ".torrent")).is_file(), 60,
                 what=f"the daemon's torrent of {rel}")

    def scrape(self, info_hash: bytes) -> dict:
        """The daemon's HTTP tracker's scrape entry for one torrent: complete, incomplete, ..."""
        url = f"http://{self.site.settings['tracker']['http']}/scrape?info_hash={quote_from_bytes(info_hash)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return lt.bdecode(r.read())[b"files"].get(info_hash, {b"complete": 0})

    def log_mark(self) -> int:
        return len(self.apache.access_log_lines())

    def write_page(self, name: str, assets, *, hrefs=None, bundle=None, cold=False, **settings) -> str:
        """Render docroot/name: <link rel=torrent> per asset (the daemon's torrent, or
        hrefs[rel]) or one for them all (bundle: its URL path), the loader tag, swapped elements (a hot page) or, cold=True, the same
        elements left as they are (a cold page: plain HTTP, then the tab seeds its cache).
        settings override the loader's (deadline=..., p2p=0, ...)."""
        cfg = twconfig.load(self.site.config_path)
        values = {**parse_settings(settings_env(cfg.loader)), **{k.replace("_", "-"): str(v)
                                                               for k, v in settings.items()}}
        links = "\n".join(f'<link rel="torrent" type="application/x-bittorrent" '
                          f'href="{bundle or (hrefs or {}).get(rel, f"{PREFIX}files/{rel}.torrent")}">'
                          for rel in ([bundle] if bundle else assets))
        body = "\n".join(_element(rel) for rel in assets)
        tag = loader_tag(PREFIX, default_loader_dir(), values)
        html = PAGE.format(title=name, links=links, body=body, loader=tag if cold else hot(tag))
        page = html.encode() if cold else swap(html.encode(), "/" + name, {"/" + rel for rel in assets})
        (self.site.docroot / name).write_bytes(page)
        (self.site.docroot / name).chmod(0o644)
        return self.url + name


def _element(rel: str) -> str:
    if rel.endswith(".webm"):
        return f'<video id="v" src="/{rel}" muted autoplay loop playsinline width="320"></video>'
    return f'<img src="/{rel}" alt="{rel}" width="200">'


def render_snippet(cfg, loader_dir: Path) -> str:
    text = SNIPPET.read_text()
    for key, value in {"prefix": PREFIX, "state_dir": cfg.state_dir, "docroot": cfg.docroot}.items():
        text = text.replace(f"@{key}@", str(value))
    return render("httpd-torrentweb-loader.conf.in", snippet_values(cfg)) + text


def start_loader_site(tmp: Path, seeder: dict | None = None):
    """Start the daemon and Apache under tmp; a generator: the site, then everything stopped.
    seeder: settings of the daemon's `seeder:` (e.g. {"webtorrent": False}: no WebRTC from it)."""
    port, ws_port = free_port(), free_port()
    ws = f"ws://127.0.0.1:{ws_port}/announce"
    site = make_site(tmp, base_url=f"http://127.0.0.1:{port}/")
    # open: the tracker keeps serving a swarm after the daemon withdraws its torrent (the
    # browser-to-browser test deletes the files: then only a browser can have them)
    site.write_config(tracker={"websocket": f"127.0.0.1:{ws_port}", "announce": [ws], "open": True},
                      rules=[{"mimetype": "image/*", "min_size": "64KiB"}, {"mimetype": "video/*"}],
                      **({"seeder": seeder} if seeder else {}))
    for rel in (*IMAGES, VIDEO):
        site.add(rel, (DEMO / rel).read_bytes())
    daemon = start_daemon(site, tmp / "daemon.log")
    apache = None
    try:
        for rel in (*IMAGES, VIDEO):
            wait_for(lambda: (site.state / "torrents" / (rel + ".torrent")).is_file(), 60,
                     what=f"the daemon's torrent of {rel}")
        cfg = twconfig.load(site.config_path)
        loader_dir = default_loader_dir()
        grant_web_access(cfg, loader_dir)
        snippet = render_snippet(cfg, loader_dir)
        apache = start_apache(tmp, cfg, port=port, snippet=snippet)
        yield LoaderSite(site, daemon, apache, ws)
    finally:
        if apache:
            apache.stop()
        daemon.stop()
