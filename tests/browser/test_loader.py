"""The loader in headless Chromium against a real site: Apache, the daemon's libtorrent seeder
and its WebSocket tracker. What the visitor sees (the bytes shown) and what the origin served."""
from __future__ import annotations

import hashlib
import re

import pytest

from support.loadersite import IMAGES, VIDEO
from harness.browser import webtorrent_fetch
from harness.ports import free_port
from harness.processes import wait_for

pytestmark = pytest.mark.slow
# Tests that assert "from the swarm" give it time: the suite shares 2 cores with other suites,
# and the 3 s default deadline would then hand a slow start to the web seed.
SWARM_DEADLINE = 20

SHOWN = """async () => {
  const out = {}
  for (const img of document.querySelectorAll('body img')) {
    if (!img.complete || img.naturalWidth <= 1) continue
    const buf = await (await fetch(img.currentSrc, { cache: 'force-cache' })).arrayBuffer()
    const hex = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
      .map(b => b.toString(16).padStart(2, '0')).join('')
    out[img.alt] = { sha256: hex, via: img.dataset.torrentState || 'plain', width: img.naturalWidth }
  }
  return out
}"""


def shown_images(page, count, timeout=30):
    """{alt: {sha256, via, width}} once `count` images are decoded on the page."""
    return wait_for(lambda: (lambda s: s if len(s) >= count else None)(page.evaluate(SHOWN)),
                    timeout, interval=0.2, what=f"{count} images shown")


def open_page(ctx, url, log):
    page = ctx.new_page()
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.goto(url)
    return page


# when each request for the bundle started, and when the page's parsing ended (deferred
# scripts, the loader among them, run only after that)
BUNDLE_FETCHES = """() => [performance.getEntriesByType('resource')
  .filter(e => e.name.endsWith('/webtorrent.min.js')).map(e => e.startTime),
  performance.getEntriesByType('navigation')[0].domInteractive]"""


def test_images_come_from_the_libtorrent_seeder_not_the_origin(browser, loader_site):
    """...and the hot tag's preload starts the bundle's fetch while the page parses, before
    the deferred loader runs, whose import takes that response: one request for it."""
    url = loader_site.write_page("swarm.html", IMAGES, deadline=SWARM_DEADLINE)
    mark = loader_site.log_mark()
    log = []
    with browser.context() as ctx:
        page = open_page(ctx, url, log)
        shown = shown_images(page, len(IMAGES))
        assert {alt: s["sha256"] for alt, s in shown.items()} == \
            {rel: loader_site.sha256(rel) for rel in IMAGES}, log
        assert {s["via"] for s in shown.values()} == {"swarm"}, (shown, log)
        fetches, parsed = page.evaluate(BUNDLE_FETCHES)
    for rel in IMAGES:
        assert loader_site.requests_for(rel, mark) == [], loader_site.apache.access_log_lines()[mark:]
    assert len(fetches) == 1 and fetches[0] < parsed, (fetches, parsed, log)
    bundle = [l for l in loader_site.apache.access_log_lines()[mark:] if "/webtorrent.min.js " in l]
    assert len(bundle) == 1 and '" 200 ' in bundle[0], bundle


def test_a_second_browser_gets_the_images_from_the_first_with_the_seeder_gone(browser, loader_site):
    # Files of their own (a JPEG decodes the same with bytes after its end), so withdrawing
    # them stops libtorrent seeding them without touching the other tests' swarms.
    rels = [f"p2p/{i}.jpg" for i in range(len(IMAGES))]
    data = {rel: (loader_site.site.docroot / src).read_bytes() + b"p2p" * 7
            for rel, src in zip(rels, (loader_site.site.docroot / r for r in IMAGES))}
    for rel, body in data.items():
        loader_site.site.add(rel, body)
    hrefs = {}
    for rel in rels:
        loader_site.wait_torrent(rel)
        hrefs[rel] = loader_site.torrent_copy(rel, f"t/{rel}.torrent")
    url = loader_site.write_page("p2p.html", rels, hrefs=hrefs, upload_limit=0,
                                 deadline=SWARM_DEADLINE)
    want = {rel: hashlib.sha256(body).hexdigest() for rel, body in data.items()}
    log1, log2 = [], []
    with browser.context() as first:
        page1 = open_page(first, url, log1)
        assert {a: s["sha256"] for a, s in shown_images(page1, len(rels)).items()} == want, log1
        for rel in rels:                       # the origin has them no more: no seeder, no web seed
            (loader_site.site.docroot / rel).unlink()
        for rel in rels:
            loader_site.daemon.wait_log(f"withdrawn {rel} ")
        mark = loader_site.log_mark()
        with browser.context() as second:
            page2 = open_page(second, url, log2)
            shown = shown_images(page2, len(rels), timeout=60)
            assert {a: s["sha256"] for a, s in shown.items()} == want, log2
            assert {s["via"] for s in shown.values()} == {"swarm"}, (shown, log2)
        assert page1.evaluate("window.torrentweb.client.torrents.reduce((n, t) => n + t.uploaded, 0)") \
            >= sum(map(len, data.values()))
    for rel in rels:
        assert loader_site.requests_for(rel, mark) == []


def test_the_tab_seeds_at_the_cap_until_its_visitor_leaves(browser, loader_site):
    """Leaving the page ends the tab's seeding: the tracker counts it no more. (The loader destroys
    its client on pagehide; Chromium closing the page's sockets has the same effect here, so this
    guards the outcome, e.g. against seeding moved into a worker that outlives the page.)"""
    rel = "leave/0.jpg"                  # a swarm of its own: only the seeder and this tab
    loader_site.site.add(rel, (loader_site.site.docroot / IMAGES[0]).read_bytes() + b"leave")
    loader_site.wait_torrent(rel)
    info_hash = bytes.fromhex(loader_site.site.catalogue()[rel][3])

    def seeders():
        return loader_site.scrape(info_hash)[b"complete"]
    # no browser yet: the seeder offers no WebRTC here, so the ws:// swarm is empty (seeder/webrtc.py)
    assert seeders() == 0
    url = loader_site.write_page("leave.html", [rel], deadline=SWARM_DEADLINE, upload_limit=300_000)
    log = []
    with browser.context() as ctx:
        page = open_page(ctx, url, log)
        assert [s["via"] for s in shown_images(page, 1).values()] == ["swarm"], log
        wait_for(lambda: page.evaluate("window.torrentweb.seeding") is True, 10, what="the tab seeding")
        # it seeds at the site's cap (webtorrent's upload throttle, one for the whole client)
        assert page.evaluate("[window.torrentweb.client.throttleGroups.up.getEnabled(), "
                             "window.torrentweb.client.throttleGroups.up.getRate()]") == [True, 300_000]
        wait_for(lambda: seeders() == 2, 30, what="the seeder and the tab counted as seeders")
        page.goto("about:blank")
        wait_for(lambda: seeders() == 1, 30, what="the tab gone from the swarm")


@pytest.mark.parametrize("case", ["tracker down", "swarm unknown to the tracker"])
def test_without_a_swarm_the_images_come_from_http_before_the_deadline(browser, loader_site, case):
    """Deadline 60 s: the images appear well before it because the loader knows at once that
    the swarm cannot deliver (connection refused / failure reason), and says why."""
    name = "dead" if case == "tracker down" else "unknown"
    hrefs = {}
    for rel in IMAGES:
        if case == "tracker down":
            changes = {"announce": f"ws://127.0.0.1:{free_port()}/announce"}   # nothing listens
        else:
            changes = {"info_key": "nobody seeds this"}
        hrefs[rel] = loader_site.torrent_copy(rel, f"t/{name}/{rel}.torrent", **changes)
    url = loader_site.write_page(f"{name}.html", IMAGES, hrefs=hrefs, deadline=60)
    reasons = {"tracker-error"} if case == "tracker down" else {"no-seeders"}
    mark = loader_site.log_mark()
    log = []
    with browser.context() as ctx:
        page = open_page(ctx, url, log)
        shown = shown_images(page, len(IMAGES), timeout=30)
        assert {a: s["sha256"] for a, s in shown.items()} == {r: loader_site.sha256(r) for r in IMAGES}
        assert {s["via"] for s in shown.values()} == {"webseed"}, (shown, log)
        assert {f["reason"] for f in page.evaluate("window.torrentweb.fallbacks")} <= reasons, log
    for rel in IMAGES:
        assert loader_site.requests_for(rel, mark), f"no web seed request for {rel}"


def test_without_script_the_noscript_copies_load_by_plain_http(browser, loader_site):
    url = loader_site.write_page("noscript.html", IMAGES)
    mark = loader_site.log_mark()
    with browser.context(javascript=False) as ctx:
        page = ctx.new_page()
        page.goto(url)
        widths = lambda: [page.locator(f'noscript img[src="/{rel}"]').evaluate(
            "i => i.complete && i.naturalWidth") for rel in IMAGES]
        wait_for(lambda: all(w > 1 for w in widths()), 20, what="the noscript images decoded")
        assert page.locator("img[data-torrent-src]").count() == len(IMAGES)   # placeholders stay
    for rel in IMAGES:
        assert [l.split('"')[1] for l in loader_site.requests_for(rel, mark)] == [f"GET /{rel} HTTP/1.1"]


@pytest.mark.parametrize("how", ["opt-out flag", "optOut() API", "Save-Data"])
def test_opt_out_and_save_data_open_no_websocket_and_load_no_bundle(browser, loader_site, how):
    url = loader_site.write_page("optout.html", IMAGES)
    origin = loader_site.url.rstrip("/")
    options = {"Save-Data": {"save_data": True},
               "opt-out flag": {"local_storage": {origin: {"torrentweb-opt-out": "1"}}}}.get(how, {})
    sockets, requests, log = [], [], []
    with browser.context(**options) as ctx:
        if how == "optOut() API":              # the visitor opts out on a first visit...
            first = open_page(ctx, url, log)
            first.evaluate("window.torrentweb.optOut()")
            first.close()
        page = ctx.new_page()                  # ...and the next page load has no P2P at all
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        shown = shown_images(page, len(IMAGES))
        state = page.evaluate("window.torrentweb.state")
    reason = "off:save-data" if how == "Save-Data" else "off:opt-out"
    assert (state, sockets) == (reason, [])
    assert {s["via"] for s in shown.values()} == {"http"}
    assert not [u for u in requests if "webtorrent" in u], requests


def test_a_video_plays_from_the_swarm(browser, loader_site):
    url = loader_site.write_page("video.html", [VIDEO], deadline=SWARM_DEADLINE)
    mark = loader_site.log_mark()
    log = []
    with browser.context() as ctx:
        page = open_page(ctx, url, log)
        wait_for(lambda: page.evaluate("document.getElementById('v').currentTime") > 0.5, 30,
                 interval=0.2, what=f"the video playing; page log: {log}")
        wait_for(lambda: page.evaluate("document.getElementById('v').dataset.torrentState"), 30,
                 what="the whole video from the swarm")
        assert page.evaluate("window.torrentweb.elements") == \
            [{"url": loader_site.url + VIDEO, "via": "swarm", "stream": True}], log
        assert page.evaluate("document.getElementById('v').src").startswith("blob:")  # MediaSource
    assert loader_site.requests_for(VIDEO, mark) == []


@pytest.mark.parametrize("broken", ["loader fails its integrity check", "bundle missing",
                                    "a setting missing from its tag"])
def test_a_loader_that_cannot_run_leaves_plain_http(browser, loader_site, broken):
    url = loader_site.write_page("broken.html", IMAGES)
    path = loader_site.site.docroot / "broken.html"
    html = path.read_text()
    if broken == "bundle missing":
        html = html.replace("/webtorrent.min.js", "/no-such-bundle.js")
    elif broken == "a setting missing from its tag":    # the loader guesses no default of its own
        html, n = re.subn(r' data-deadline="[^"]*"', "", html)
        assert n == 1
    else:
        html = re.sub(r'integrity="sha384-[^"]+"', f'integrity="sha384-{"A" * 64}"', html)
    path.write_text(html)
    mark = loader_site.log_mark()
    with browser.context() as ctx:
        page = open_page(ctx, url, [])
        shown = shown_images(page, len(IMAGES))
        assert {a: s["sha256"] for a, s in shown.items()} == {r: loader_site.sha256(r) for r in IMAGES}
        assert page.locator("[data-torrent-src]").count() == 0
    for rel in IMAGES:     # the plain URL (no Range: not the web seed)
        assert {l.split('"')[1] for l in loader_site.requests_for(rel, mark)} == {f"GET /{rel} HTTP/1.1"}


@pytest.mark.parametrize("site_opts_in", [False, True])
def test_metered_connections_upload_nothing_unless_the_site_opts_in(browser, loader_site, site_opts_in):
    url = loader_site.write_page("metered.html", IMAGES, metered_upload=int(site_opts_in),
                                 deadline=SWARM_DEADLINE)
    with browser.context() as ctx:
        ctx.add_init_script("Object.defineProperty(navigator.connection, 'type', {get: () => 'cellular'})")
        page = open_page(ctx, url, [])
        shown = shown_images(page, len(IMAGES))
        assert {s["via"] for s in shown.values()} == {"swarm"}     # downloading is fine
        seeding = wait_for(lambda: (lambda v: v if v != "undefined" else None)(
            page.evaluate("String(window.torrentweb.seeding)")), 10, what="seeding decided")
        assert (seeding, page.evaluate("window.torrentweb.client.destroyed")) == \
            (str(site_opts_in).lower(), not site_opts_in)


def test_the_harness_fetches_a_file_from_the_seeder_alone(browser, loader_site):
    """harness.browser.webtorrent_fetch, which other parts' tests use: bundle + tracker + seeder."""
    with browser.context() as ctx:
        got = webtorrent_fetch(ctx, loader_site.site.torrent(IMAGES[0]), web_seeds=False)
    assert (got.sha256, got.web_seed_bytes) == (loader_site.sha256(IMAGES[0]), 0)


def test_no_tracker_and_a_dead_web_seed_end_in_the_plain_url(browser, loader_site):
    """Nothing delivers: the web seed is tried at once (tracker down), and when it brings no
    bytes for a deadline each image gets its plain URL. (A single-file torrent's file is found
    by its web seed's path, so the dead web seed keeps the path and loses the server.)"""
    dead = f"http://127.0.0.1:{free_port()}/"
    hrefs = {rel: loader_site.torrent_copy(
        rel, f"t/stall/{rel}.torrent", announce=f"ws://127.0.0.1:{free_port()}/announce",
        **{"url-list": [dead + rel]}) for rel in IMAGES}
    url = loader_site.write_page("stall.html", IMAGES, hrefs=hrefs, deadline=1)
    mark = loader_site.log_mark()
    with browser.context() as ctx:
        tried = []
        ctx.on("requestfailed", lambda r: tried.append(r.url))
        page = open_page(ctx, url, [])
        shown = shown_images(page, len(IMAGES))
        assert {a: s["sha256"] for a, s in shown.items()} == {r: loader_site.sha256(r) for r in IMAGES}
        assert {s["via"] for s in shown.values()} == {"http"}
        assert sorted(f["reason"] for f in page.evaluate("window.torrentweb.fallbacks")) == \
            ["stalled"] * 3 + ["tracker-error"] * 3
        assert {dead + rel for rel in IMAGES} <= set(tried), tried   # the web seed was tried
    for rel in IMAGES:
        assert {l.split('"')[1] for l in loader_site.requests_for(rel, mark)} == {f"GET /{rel} HTTP/1.1"}


def test_an_async_loader_tag_finds_the_elements_parsed_after_it(browser, loader_site):
    """<script async> in <head> may run before the body is parsed (here: the parser waits for a
    script held back by the test while the loader runs); the loader waits for the document."""
    url = loader_site.write_page("async.html", IMAGES, deadline=SWARM_DEADLINE)
    path = loader_site.site.docroot / "async.html"
    html = path.read_text().replace("<script defer ", "<script async ")
    path.write_text(html.replace("</head>", '<script src="/held.js"></script></head>'))
    log, held = [], []
    with browser.context() as ctx:
        ctx.route("**/held.js", lambda route: held.append(route))
        page = ctx.new_page()
        page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
        page.goto(url, wait_until="commit")
        # the loader ran, the body not parsed (polled: no animation frame before the first paint)
        page.wait_for_function("window.torrentweb", polling=50)
        assert page.evaluate("document.readyState") == "loading"
        held[0].fulfill(body="", content_type="text/javascript")
        shown = shown_images(page, len(IMAGES))
        assert {a: s["sha256"] for a, s in shown.items()} == {r: loader_site.sha256(r) for r in IMAGES}
        assert {s["via"] for s in shown.values()} == {"swarm"}, (shown, log)
