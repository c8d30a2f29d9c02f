"""Cold, then hot, as a site's visitors meet it (pages.p2p: auto, nothing else set about pages):
the real daemon decides from Apache's request log, Apache serves the copy of the page's state,
the real loader in Chromium does the rest. The daemon's seeder offers no WebRTC here
(`seeder.webtorrent: false`), so what a tab gets from the swarm came from another tab."""
from __future__ import annotations

import hashlib
import shutil

import pytest

from harness.apache import grant_web_access, http_get
from harness.daemon import daemon_behind_apache, make_site
from support.loadersite import DEMO
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb import config as twconfig
from torrentweb.page.loadertag import default_loader_dir

pytestmark = pytest.mark.slow
IMAGES = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg")
# SHA-256 of every image the tab shows (decoded, not the 1x1 placeholder)
SHOWN = """async () => {
  const out = []
  for (const img of document.querySelectorAll('main img')) {
    if (!img.complete || img.naturalWidth <= 1) continue
    const buf = await (await fetch(img.currentSrc)).arrayBuffer()
    out.push([...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
      .map(b => b.toString(16).padStart(2, '0')).join(''))
  }
  return out
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hot-cold-chain")
    port = free_port()
    site = make_site(tmp, base_url=f"http://127.0.0.1:{port}/",
                     tracker={"websocket": f"127.0.0.1:{free_port()}", "announce": []},
                     seeder={"listen": f"127.0.0.1:{free_port()}", "webtorrent": False},
                     pages={"hot": {"views": 3, "window": 60, "cool_down": 600}},
                     loader={"deadline": 20},
                     rules=[{"mimetype": "image/*", "min_size": "64KiB"}, {"mimetype": "video/*"}])
    shutil.copytree(DEMO, site.docroot, dirs_exist_ok=True)
    # the demo's images only: a cold tab seeds whole pieces, and the demo page's video (played
    # in part) would leave the piece it shares with the last image unverifiable
    figures = "".join(f'<figure><img src="{rel}" alt="{rel}"></figure>' for rel in IMAGES)
    site.add("photos.html", f"<!DOCTYPE html><html><head><title>Photos</title></head><body><main>"
                            f"{figures}</main></body></html>".encode())
    grant_web_access(twconfig.load(site.config_path), default_loader_dir())
    with daemon_behind_apache(site, tmp, port=port) as (server, daemon):
        daemon.wait_log("bundle ", timeout=60, count=2)
        yield site, server, daemon


def get(port, path) -> bytes:
    return http_get(port, path)[2]

def test_a_cold_visitor_seeds_and_once_the_page_is_hot_the_next_takes_the_images_from_it(browser, site):
    site, server, daemon = site
    # not by asking for the page: every view counts towards hot
    wait_for(lambda: (site.state / "pages" / "photos.html").exists(), 60, what="the page's copy")
    want = {rel.split("/")[-1]: hashlib.sha256((site.docroot / rel).read_bytes()).hexdigest() for rel in IMAGES}
    mark = len(server.access_log_lines())
    with browser.context() as first_ctx, browser.context() as second_ctx:
        first = first_ctx.new_page()
        first.goto(server.url + "photos.html")
        assert first.locator("[data-torrent-src]").count() == 0          # cold: plain <img src>
        wait_for(lambda: first.evaluate("window.torrentweb.state") == "seeding", 60,
                 what="the cold tab seeding what it loaded")
        for rel in IMAGES:                          # by HTTP, once each, from that tab
            assert sum(f"GET /{rel} " in line for line in server.access_log_lines()[mark:]) == 1, rel
        for _ in range(3):                          # more visitors: the page turns hot
            get(server.port, "/photos.html")
        daemon.wait_log("page /photos.html is hot")
        wait_for(lambda: b"data-torrent-src" in get(server.port, "/photos.html"), 10, what="the hot copy")
        after = len(server.access_log_lines())
        second = second_ctx.new_page()
        blocked = []
        second.route("**/img/*.jpg", lambda r: (blocked.append(r.request.url), r.abort()))
        second.route("**/.torrentweb/seed/**", lambda r: (blocked.append(r.request.url), r.abort()))
        second.goto(server.url + "photos.html")
        assert second.locator('[data-torrent-src]').count() >= len(IMAGES)     # hot: swapped
        log = []
        second.on("console", lambda m: log.append(m.text))
        try:
            wait_for(lambda: set(want.values()) <= set(second.evaluate(SHOWN)), 90, interval=0.5,
                     what="the hot tab showing every image, the bytes matching")
        except AssertionError:
            state = second.evaluate("JSON.stringify({s: window.torrentweb.state, e: window.torrentweb.elements,"
                                    " f: window.torrentweb.fallbacks, m: window.torrentweb.mode})")
            first_state = first.evaluate("JSON.stringify({s: window.torrentweb.state, c: window.torrentweb.cached})")
            raise AssertionError(f"hot tab: {state}; cold tab: {first_state}; log: {log[-20:]}; blocked: {blocked}")
        via = {e["url"].rsplit("/", 1)[-1]: e["via"] for e in second.evaluate("window.torrentweb.elements")}
    assert all(via[name] == "swarm" for name in want), via        # from the cold tab, not the origin
    assert not [l for l in server.access_log_lines()[after:] if ".jpg" in l]
