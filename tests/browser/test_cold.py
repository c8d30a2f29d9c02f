"""A cold page in headless Chromium: links and the loader, nothing swapped. The images come by
plain HTTP (one GET each in Apache's log); after the page's load event the tab seeds them from its
HTTP cache, checked against the torrents' piece hashes. The daemon's seeder offers no WebRTC here
(`seeder.webtorrent: false`; its WebSocket tracker still introduces the tabs), so whatever a
browser gets from the swarm came from another tab."""
from __future__ import annotations

import hashlib

import libtorrent as lt
import pytest

from support.loadersite import IMAGES, start_loader_site
from harness.processes import wait_for
from test_loader import SWARM_DEADLINE, open_page, shown_images

pytestmark = pytest.mark.slow

# Decoded <img>s, without fetching anything (a fetch could reach the origin a second time).
DECODED = "[...document.querySelectorAll('body img')].filter(i => i.complete && i.naturalWidth > 1).length"
# Resource timing of what the loader itself fetched: the bundle and the .torrent files.
LOADER_FETCHES = """(() => {
  const load = performance.getEntriesByType('navigation')[0].loadEventStart
  return performance.getEntriesByType('resource')
    .filter(e => /webtorrent|\\.torrent$/.test(e.name)).map(e => [e.name, e.startTime >= load])
})()"""


@pytest.fixture(scope="module")
def loader_site(tmp_path_factory):
    yield from start_loader_site(tmp_path_factory.mktemp("cold-site"), seeder={"webtorrent": False})


def own_copies(site, folder):
    """Copies of the demo images under folder/ (swarms of their own test); {rel: bytes}."""
    data = {f"{folder}/{i}.jpg": (site.site.docroot / src).read_bytes() + folder.encode()
            for i, src in enumerate(IMAGES)}
    for rel, body in data.items():
        site.site.add(rel, body)
    for rel in data:
        site.wait_torrent(rel)
    return data


def gets(site, rel, mark):
    return [line.split('"')[1] for line in site.requests_for(rel, mark)]


def wait_state(page, *states, timeout=30):
    return wait_for(lambda: (lambda s: s if s in states else None)(page.evaluate("window.torrentweb.state")),
                    timeout, what=f"the loader's state in {states}")


@pytest.mark.parametrize("torrents", ["one per image", "one bundle, pieces across files"])
def test_a_cold_tab_seeds_what_it_got_by_http_to_a_hot_tab(browser, loader_site, torrents):
    folder = "cold" if torrents == "one per image" else "cold-bundle"
    data = own_copies(loader_site, folder)
    rels = list(data)
    if torrents == "one per image":
        metas = {rel: loader_site.site.torrent(rel) for rel in rels}
        links = {}
    else:
        links = {"bundle": loader_site.bundle_torrent(rels, f"t/{folder}.torrent")}
        metas = {"bundle": (loader_site.site.docroot / links["bundle"].lstrip("/")).read_bytes()}
    cold = loader_site.write_page(f"{folder}.html", rels, cold=True, upload_limit=0, **links)
    hot = loader_site.write_page(f"{folder}-hot.html", rels, deadline=SWARM_DEADLINE, **links)
    infos = {k: lt.torrent_info(lt.bdecode(meta)) for k, meta in metas.items()}
    hashes = {k: bytes(t.info_hash().to_bytes()) for k, t in infos.items()}
    before = {k: loader_site.scrape(h)[b"complete"] for k, h in hashes.items()}
    mark = loader_site.log_mark()
    log1, log2 = [], []
    with browser.context() as first:
        page1 = open_page(first, cold, log1)
        wait_for(lambda: page1.evaluate(DECODED) == len(rels), 30, what="the cold page's images shown")
        assert wait_state(page1, "seeding", "off:not-cached", "off:error") == "seeding", \
            (page1.evaluate("window.torrentweb"), log1)
        cached = page1.evaluate("window.torrentweb.cached")
        assert (cached["pieces"], cached["bytes"]) == \
            (sum(t.num_pieces() for t in infos.values()), sum(map(len, data.values()))), cached
        fetched = page1.evaluate(LOADER_FETCHES)        # nothing of the loader's before `load`
        assert len(fetched) == 1 + len(metas) and all(after for _, after in fetched), fetched
        for k in metas:                                 # the tab joined each swarm as a seeder
            wait_for(lambda: loader_site.scrape(hashes[k])[b"complete"] > before[k], 30,
                     what=f"the cold tab counted as a seeder of {k}")
        for rel in rels:
            assert gets(loader_site, rel, mark) == [f"GET /{rel} HTTP/1.1"]

        mark = loader_site.log_mark()
        blocked = []
        with browser.context() as second:
            # the assets and their web seed (a single-file torrent's url-list: the same URLs)
            second.route(f"**/{folder}/*.jpg", lambda route: (blocked.append(route.request.url), route.abort()))
            page2 = open_page(second, hot, log2)
            shown = shown_images(page2, len(rels), timeout=60)
            assert {a: s["sha256"] for a, s in shown.items()} == \
                {rel: hashlib.sha256(body).hexdigest() for rel, body in data.items()}, log2
            assert {s["via"] for s in shown.values()} == {"swarm"}, (shown, log2)
        assert page1.evaluate("window.torrentweb.client.torrents.reduce((n, t) => n + t.uploaded, 0)") \
            >= sum(map(len, data.values()))
    for rel in rels:
        assert loader_site.requests_for(rel, mark) == []


def test_a_cold_page_whose_images_are_not_cached_seeds_nothing_and_asks_nothing_twice(browser, loader_site):
    """Cache-Control: no-store (the test's snippet, for no-store/): nothing to read back, so the
    tab fetches nothing again, joins no swarm (no WebSocket) and the page is left as it is."""
    data = own_copies(loader_site, "no-store")
    rels = list(data)
    url = loader_site.write_page("no-store.html", rels, cold=True)
    mark = loader_site.log_mark()
    log, sockets = [], []
    with browser.context() as ctx:
        ctx.on("websocket", lambda ws: sockets.append(ws.url))
        page = open_page(ctx, url, log)
        wait_for(lambda: page.evaluate(DECODED) == len(rels), 30, what="the images shown")
        assert wait_state(page, "seeding", "off:not-cached", "off:error") == "off:not-cached", log
        cached = page.evaluate("window.torrentweb.cached")
        assert (cached["pieces"], cached["bytes"], cached["files"]) == (0, 0, [])
        assert {s["reason"].split(":")[0] for s in cached["skipped"]} == {"not cached"}, cached
        assert page.evaluate(DECODED) == len(rels)
    assert sockets == [] and not [line for line in log if line.startswith("pageerror")], (sockets, log)
    for rel in rels:
        assert gets(loader_site, rel, mark) == [f"GET /{rel} HTTP/1.1"]


@pytest.mark.parametrize("how", ["opt-out flag", "Save-Data", "data-p2p=0", "metered"])
def test_a_cold_page_that_may_not_join_loads_no_bundle_and_opens_no_websocket(browser, loader_site, how):
    url = loader_site.write_page(f"cold-{how.split()[0].lower()}.html", IMAGES, cold=True,
                                 **({"p2p": 0} if how == "data-p2p=0" else {}))
    origin = loader_site.url.rstrip("/")
    options = {"Save-Data": {"save_data": True},
               "opt-out flag": {"local_storage": {origin: {"torrentweb-opt-out": "1"}}}}.get(how, {})
    sockets, requests, log = [], [], []
    mark = loader_site.log_mark()
    with browser.context(**options) as ctx:
        if how == "metered":
            ctx.add_init_script("Object.defineProperty(navigator.connection, 'type', {get: () => 'cellular'})")
        ctx.on("websocket", lambda ws: sockets.append(ws.url))
        ctx.on("request", lambda r: requests.append(r.url))
        page = open_page(ctx, url, log)
        wait_for(lambda: page.evaluate(DECODED) == len(IMAGES), 30, what="the images shown")
        page.wait_for_function("document.readyState === 'complete'")
        page.wait_for_timeout(500)                 # the loader's turn after the load event
        state = page.evaluate("window.torrentweb.state")
    reason = {"opt-out flag": "off:opt-out", "Save-Data": "off:save-data", "data-p2p=0": "off:site",
              "metered": "off:metered"}[how]
    assert (state, sockets) == (reason, []), log
    assert not [u for u in requests if "webtorrent" in u or u.endswith(".torrent")], requests
    for rel in IMAGES:
        assert gets(loader_site, rel, mark) == [f"GET /{rel} HTTP/1.1"]


def test_a_metered_cold_tab_seeds_when_the_site_opts_in(browser, loader_site):
    data = own_copies(loader_site, "metered")
    url = loader_site.write_page("cold-metered-ok.html", list(data), cold=True, metered_upload=1)
    with browser.context() as ctx:
        ctx.add_init_script("Object.defineProperty(navigator.connection, 'type', {get: () => 'cellular'})")
        page = open_page(ctx, url, [])
        assert wait_state(page, "seeding", "off:not-cached", "off:error", "off:metered") == "seeding"
        assert page.evaluate("window.torrentweb.cached.bytes") == sum(map(len, data.values()))


def test_a_cold_tab_stops_seeding_after_the_seed_time(browser, loader_site):
    data = own_copies(loader_site, "seed-time")
    url = loader_site.write_page("cold-seed-time.html", list(data), cold=True, seed_time=1)
    with browser.context() as ctx:
        page = open_page(ctx, url, [])
        assert wait_state(page, "seeding", "stopped", "off:not-cached", "off:error") in ("seeding", "stopped")
        wait_state(page, "stopped")
        assert page.evaluate("[window.torrentweb.seeding, window.torrentweb.client.destroyed]") == [False, True]


@pytest.mark.parametrize("case", ["an image the page does not show", "an image changed since its torrent"])
def test_a_cold_tab_seeds_only_the_whole_pieces_that_match_the_torrent(browser, loader_site, case):
    folder = "partial" if case.startswith("an image the") else "changed"
    data = own_copies(loader_site, folder)
    rels = list(data)
    piece = 32768
    href = loader_site.bundle_torrent(rels, f"t/{folder}.torrent", piece_size=piece)
    offsets = [sum(len(data[r]) for r in rels[:i]) for i in range(len(rels) + 1)]
    pieces = [(start, min(start + piece, offsets[-1])) for start in range(0, offsets[-1], piece)]
    if folder == "partial":                 # the third image's bytes are not in the cache
        shown = rels[:2]
        want = [p for p in pieces if p[1] <= offsets[2]]
    else:                                   # one byte of the second image differs: its piece fails
        shown = rels
        at = offsets[1] + len(data[rels[1]]) // 2
        path = loader_site.site.docroot / rels[1]
        body = bytearray(path.read_bytes())
        body[len(body) // 2] ^= 0xFF
        path.write_bytes(bytes(body))
        want = [p for p in pieces if not p[0] <= at < p[1]]
    url = loader_site.write_page(f"{folder}.html", shown, bundle=href, cold=True)
    with browser.context() as ctx:
        page = open_page(ctx, url, [])
        wait_for(lambda: page.evaluate(DECODED) == len(shown), 30, what="the images shown")
        assert wait_state(page, "seeding", "off:not-cached", "off:error") == "seeding"
        cached = page.evaluate("window.torrentweb.cached")
    assert (cached["pieces"], cached["bytes"]) == (len(want), sum(b - a for a, b in want)), cached
