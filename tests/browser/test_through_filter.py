"""The whole chain a visitor meets: the real filter (pages.loader + pages.swap) injects the page
bundle's <link rel="torrent"> and the loader, the daemon seeds the bundle and runs the tracker
(reached through Apache's WebSocket proxy), and Chromium shows the demo page's assets."""
from __future__ import annotations

import hashlib
import re
import shutil
import urllib.request

import libtorrent as lt
import pytest

from support.loadersite import DEMO
from harness.apache import grant_web_access
from harness.browser import open_swapped, shown_images, webtorrent_fetch
from harness.daemon import daemon_behind_apache, make_site
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb import config as twconfig
from torrentweb.naming import BUNDLE_NAME
from torrentweb.page.loadertag import default_loader_dir

pytestmark = pytest.mark.slow
SWAPPED = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg", "video/mandelbrot.webm")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("filter-chain")
    port = free_port()
    site = make_site(tmp, base_url=f"http://127.0.0.1:{port}/")
    ws = free_port()
    site.write_config(
        # announce derived from base_url: http:// and ws:// through Apache's proxy, one tier each
        # (libtorrent must announce to every tier to meet the browsers: ed1d786)
        tracker={"websocket": f"127.0.0.1:{ws}", "announce": []},
        pages={"p2p": "always"},
        loader={"deadline": 20},         # shared CI cores: give the swarm time (see test_loader)
        rules=[{"mimetype": "image/*", "min_size": "64KiB"}, {"mimetype": "video/*"}])
    shutil.copytree(DEMO, site.docroot, dirs_exist_ok=True)
    cfg = twconfig.load(site.config_path)
    grant_web_access(cfg, default_loader_dir())
    with daemon_behind_apache(site, tmp, port=port) as (server, daemon):
        daemon.wait_log("bundle ", timeout=60)
        yield site, server, daemon


def test_the_demo_page_shows_its_assets_from_the_swarm(browser, demo):
    site, server, daemon = demo
    mark = len(server.access_log_lines())
    log = []
    with browser.context() as ctx:
        page = open_swapped(ctx, server.url + "index.html", len(SWAPPED), log)
        got = shown_images(page)
        elements = page.evaluate("window.torrentweb.elements")
        page.evaluate("document.querySelector('video').play()")   # the demo has no autoplay
        wait_for(lambda: page.evaluate("document.querySelector('video').currentTime") > 0.3, 30,
                 what="the video playing")
    assert sorted((e["url"].split("/", 3)[3], e["via"]) for e in elements) == \
        [(rel, "swarm") for rel in sorted(SWAPPED)], log
    digests = sorted(d for d, width in got if width > 1)
    want = sorted(hashlib.sha256((site.docroot / rel).read_bytes()).hexdigest()
                  for rel in (*SWAPPED[:3], "img/thumb.png"))
    assert digests == want
    served = [l.split('"')[1] for l in server.access_log_lines()[mark:]
              if "/img/" in l or "/video/" in l or "/seed/" in l]
    assert served == ["GET /img/thumb.png HTTP/1.1"]   # only the thumbnail, under the 64 KiB floor


def test_webtorrent_gets_the_page_bundle_from_the_web_seed_alone(browser, demo):
    """No tracker, no peer: WebTorrent in a page of another origin takes the bundle from the web
    seed (the files' own URLs through [PT]), which answers its CORS preflight and byte ranges."""
    site, server, daemon = demo
    with urllib.request.urlopen(server.url + "index.html") as r:
        href = re.search(rb'rel="torrent" href="([^"]+)"', r.read()).group(1).decode()
    with urllib.request.urlopen(server.url + href.lstrip("/")) as r:
        meta = lt.bdecode(r.read())
    for key in (b"announce", b"announce-list"):
        meta.pop(key, None)
    first = b"/".join(meta[b"info"][b"files"][0][b"path"]).decode()
    mark = len(server.access_log_lines())
    with browser.context() as ctx:
        got = webtorrent_fetch(ctx, lt.bencode(meta), timeout=60)
    assert got.sha256 == hashlib.sha256((site.docroot / first).read_bytes()).hexdigest()
    total = sum(f[b"length"] for f in meta[b"info"][b"files"])
    assert got.web_seed_bytes == total and got.log == ("log: wire webSeed ",)   # its only wire
    seeded = [l for l in server.access_log_lines()[mark:] if f"/.torrentweb/seed/{BUNDLE_NAME}/" in l]
    assert seeded and all(" 206 " in l or " 200 " in l for l in seeded), seeded
