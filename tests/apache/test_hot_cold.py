"""Hot and cold pages (pages.p2p: auto) with the real daemon beside a real httpd: the origin
decides from Apache's own request log; a cold page keeps its plain <img src>, a hot one is
swapped for the swarm; the switch goes both ways, and the status says so."""
from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from harness.apache import http_get
from harness.daemon import daemon_behind_apache, make_site
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.config import load

LINK = re.compile(rb'<link type="application/x-bittorrent" rel="torrent" href="/\.torrentweb/t/')
LOADER = re.compile(rb'<script defer (?:fetchpriority="low" )?src="/\.torrentweb/js/torrentweb-loader\.js"')
PAGE = b"""<!DOCTYPE html><html><head><title>Photos</title></head><body>
<img src="img/one.jpg"><img src="img/two.jpg"></body></html>
"""


def get(port, path, source="127.0.0.1"):
    status, _, body = http_get(port, path, source=source)
    return status, body

def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def state_of(body: bytes) -> str:
    """What a visitor's browser gets: hot (swapped for the swarm), cold (plain src), or plain."""
    if not (LINK.search(body) and LOADER.search(body)):
        return "plain"
    return "hot" if b"data-torrent-src=" in body else "cold"


def status(site) -> dict:
    try:
        return json.loads((site.state / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def minimal_site(tmp_path, **settings):
    port = free_port()
    site = make_site(tmp_path, base_url=f"http://127.0.0.1:{port}/", **settings)
    site.add("img/one.jpg", bytes(range(256)) * 300)
    site.add("img/two.jpg", bytes(range(255, -1, -1)) * 200)
    site.add("index.html", PAGE)
    return site


@pytest.fixture
def quick(tmp_path):
    """Low thresholds: 4 views within 5 s make the page hot, 3 quiet seconds make it cold."""
    site = minimal_site(tmp_path, pages={"hot": {"views": 4, "window": 5, "cool_down": 3, "swarm": 99}},
                        metrics={"listen": f"127.0.0.1:{free_port()}"})
    with daemon_behind_apache(site, tmp_path) as (server, daemon):
        yield site, server, daemon


def test_a_burst_of_views_turns_the_page_hot_and_quiet_turns_it_cold(quick):
    site, server, daemon = quick
    first = wait_for(lambda: (b := get(server.port, "/index.html")[1]) and state_of(b) != "plain" and b,
                     30, what="the page with its link")
    assert state_of(first) == "cold"                       # an idle origin: plain HTTP at full speed
    assert b'<img src="img/one.jpg">' in first
    assert b'<script defer fetchpriority="low" ' in first  # images are not held back for the loader
    assert b"modulepreload" not in first                   # a cold tab loads no bundle before `load`
    for _ in range(5):                                     # a burst: over pages.hot.views in the window
        get(server.port, "/index.html")
    daemon.wait_log("page /index.html is hot")
    hot = wait_for(lambda: (b := get(server.port, "/index.html")[1]) and state_of(b) == "hot" and b,
                   10, what="the hot copy")
    assert b'data-torrent-src="img/one.jpg"' in hot and b'data-torrent-src="img/two.jpg"' in hot
    assert b'fetchpriority' not in hot                     # the loader shows a hot page's images
    assert b"l.rel='modulepreload'" in hot                # and its bundle is fetched while it parses
    # the copies only through the page's own URL, after its own access rules, never directly
    assert (site.state / "hot" / "index.html").exists()
    for copy in ("/.torrentweb/hot/index.html", "/.torrentweb/pages/index.html"):
        assert get(server.port, copy)[0] == 403, copy
    page = wait_for(lambda: next((p for p in status(site).get("heat", {}).get("pages", ())
                                  if p["path"] == "/index.html" and p["state"] == "hot"), None),
                    10, what="the status naming the page hot")
    assert page["since"] > time.time() - 60
    metrics = f"http://{site.settings['metrics']['listen']}/metrics"
    assert wait_for(lambda: 'torrentweb_page_hot{page="/index.html"} 1.0' in fetch(metrics) or None, 10,
                    what="the metric of the hot page")
    assert re.search(r'torrentweb_egress_bytes_per_second\{source="http"\} [1-9]', fetch(metrics))
    # quiet: cold again after cool_down, and the copy Apache serves says so
    daemon.wait_log("page /index.html is cold", timeout=30)
    body = wait_for(lambda: (b := get(server.port, "/index.html")[1]) and state_of(b) == "cold" and b,
                    10, what="the cold copy again")
    assert b'<img src="img/one.jpg">' in body
    egress = status(site)["heat"]["egress"]
    assert set(egress) >= {"http", "seeder", "visitors", "uplink"}


def test_the_status_page_shows_a_hot_page_and_the_egress_chart(quick, tmp_path):
    from harness.browser import chromium
    site, server, daemon = quick
    wait_for(lambda: state_of(get(server.port, "/index.html")[1]) == "cold", 30, what="the cold page")
    for _ in range(5):
        get(server.port, "/index.html")
    daemon.wait_log("page /index.html is hot")
    with chromium() as browser, browser.context() as ctx:
        page = ctx.new_page()
        page.goto(server.url + ".torrentweb/status")
        page.wait_for_function("() => [...document.querySelectorAll('#pages td.hot')].length > 0",
                               timeout=20_000)
        rows = page.eval_on_selector_all("#pages tbody tr", "rs => rs.map(r => r.innerText)")
        assert any(r.startswith("/index.html\thot") for r in rows), rows
        lines = page.eval_on_selector_all("#chart polyline", "ls => ls.map(l => l.getAttribute('points'))")
        assert len(lines) == 3 and all(len(p.split()) == 61 for p in lines), lines
        egress = page.inner_text("#egress")
        assert "HTTP (Apache)" in egress and "Mbit/s" in egress


def test_sighup_to_p2p_off_forgets_the_hot_pages(quick):
    import os
    import signal
    site, server, daemon = quick
    wait_for(lambda: state_of(get(server.port, "/index.html")[1]) == "cold", 30, what="the cold page")
    for _ in range(5):
        get(server.port, "/index.html")
    wait_for(lambda: state_of(get(server.port, "/index.html")[1]) == "hot", 20, what="the hot page")
    site.write_config(pages=dict(site.settings["pages"], p2p="off"))
    os.kill(daemon.proc.pid, signal.SIGHUP)
    daemon.wait_log("reloaded ")
    body = wait_for(lambda: (b := get(server.port, "/index.html")[1]) and state_of(b) == "plain" and b,
                    20, what="the page with links only")
    assert LINK.search(body) and b'<img src="img/one.jpg">' in body
    assert not list((site.state / "hot").glob("*.html"))


def test_requests_for_images_are_not_page_views(quick):
    site, server, daemon = quick
    wait_for(lambda: state_of(get(server.port, "/index.html")[1]) == "cold", 30, what="the cold page")
    for _ in range(10):
        assert get(server.port, "/img/one.jpg")[0] == 200
    time.sleep(1.5)
    assert "is hot" not in daemon.log()
    assert state_of(get(server.port, "/index.html")[1]) == "cold"


def test_the_daemons_own_fetches_are_not_page_views(tmp_path):
    """The daemon fetches pages itself (access checks, dynamic pages: its probe's User-Agent).
    Apache's request log names the agent; those fetches count as egress, not as views, so a
    dynamic page no longer turned hot at each revalidation with nobody there."""
    from torrentweb.seeder.access import USER_AGENT
    site = minimal_site(tmp_path, pages={"hot": {"views": 4, "window": 60, "cool_down": 3, "swarm": 99}})
    with daemon_behind_apache(site, tmp_path) as (server, daemon):
        wait_for((site.state / "pages" / "index.html").exists, 30, what="the page's rendered copy")
        assert state_of(get(server.port, "/index.html")[1]) == "cold"     # a visitor's view
        for _ in range(6):
            status_code, _, body = http_get(server.port, "/index.html", headers={"User-Agent": USER_AGENT})
            assert status_code == 200 and LINK.search(body)
        get(server.port, "/index.html")                    # a visitor's second view, after them
        page = wait_for(lambda: next((p for p in status(site).get("heat", {}).get("pages", ())
                                      if p["path"] == "/index.html" and p["views"] >= 2), None),
                        20, what="the status counting the visitor's second view")
        assert page["views"] == 2 and page["state"] == "cold", page
        assert "is hot" not in daemon.log()


@pytest.mark.parametrize("p2p, expected", [("always", "hot"), ("off", "plain")])
def test_always_and_off_need_no_decision(tmp_path, p2p, expected):
    site = minimal_site(tmp_path, pages={"p2p": p2p})
    with daemon_behind_apache(site, tmp_path) as (server, daemon):
        if expected == "plain":             # links for native clients, no loader
            body = wait_for(lambda: (b := get(server.port, "/index.html")[1]) and LINK.search(b) and b,
                            30, what="the page with its link")
            assert not LOADER.search(body) and b'<img src="img/one.jpg">' in body
        else:
            wait_for(lambda: state_of(get(server.port, "/index.html")[1]) == expected, 30,
                     what=f"the {expected} page")
        for _ in range(6):
            get(server.port, "/index.html")
        time.sleep(1)
        assert "is hot" not in daemon.log()


def test_a_config_with_only_the_required_keys_gets_the_loader(tmp_path):
    """No pages: and no loader: keys at all: the loader is on, pages cold until hot, images swappable."""
    port = free_port()
    site = make_site(tmp_path, base_url=f"http://127.0.0.1:{port}/")
    config = load(site.config_path)
    assert config.pages.p2p == "auto" and [r.swaps for r in config.rules] == [True, True, False]
    site.add("img/one.jpg", bytes(range(256)) * 300)
    site.add("index.html", PAGE)
    with daemon_behind_apache(site, tmp_path) as (server, daemon):
        # no GET before the page has its bundle: with the default pages.hot.views (1) a view of
        # the plain page would already make it hot for the next visitor
        wait_for((site.state / "pages" / "index.html").exists, 30, what="the page's rendered copy")
        body = get(server.port, "/index.html")[1]
        assert state_of(body) == "cold"
