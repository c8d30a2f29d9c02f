"""The whole chain with the real daemon (`torrentweb seeder`) beside a real httpd: the daemon
builds the bundles of the pages it sees, so the first visitor already gets the link; clients
download it from the seeder; a changed image gives a new torrent and the old one goes."""
from __future__ import annotations

import re
import time

import libtorrent as lt
import pytest

from harness.apache import http_get
from harness.daemon import daemon_behind_apache, make_site
from support.lt_client import Client, sha256
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.naming import BUNDLE_NAME

LINK = re.compile(rb'<link type="application/x-bittorrent" rel="torrent" href="(/\.torrentweb/t/(\w+)/\w+\.torrent)">')
LOADER = re.compile(rb'<script defer (?:fetchpriority="low" )?src="/\.torrentweb/js/torrentweb-loader\.js"[^>]*></script>\n')
PAGE = b"""<!DOCTYPE html><html><head><title>Photos</title></head><body>
<img src="img/one.jpg"><img src="img/two.jpg"></body></html>
"""


def pixels(seed, size):
    return bytes((seed + i * 13) % 256 for i in range(size))


def without_web_seed(torrent: bytes) -> bytes:
    """The same torrent (same info-hash) minus its url-list: only peers can serve it."""
    meta = lt.bdecode(torrent)
    del meta[b"url-list"]
    return lt.bencode(meta)


get = http_get


@pytest.fixture
def chain(tmp_path):
    port = free_port()
    # these tests view the page several times and compare it with its cold copy: with the
    # default pages.hot.views (1) the second view would already get the hot one
    site = make_site(tmp_path, base_url=f"http://127.0.0.1:{port}/", pages={"hot": {"views": 100}})
    site.add("img/one.jpg", pixels(1, 40_000))
    site.add("img/two.jpg", pixels(2, 70_000))
    site.add("index.html", PAGE)
    with daemon_behind_apache(site, tmp_path) as (server, daemon):
        yield site, server, daemon


def test_first_visitor_gets_the_link_and_a_client_downloads_from_the_seeder(chain, tmp_path):
    site, server, daemon = chain
    daemon.wait_log("bundle ", timeout=60)                   # built from the daemon's own scan
    status, headers, body = get(server.port, "/index.html")
    (m,) = LINK.findall(body)
    (loader,) = LOADER.findall(body)                         # pages.p2p auto: a cold page, not swapped
    assert body == PAGE.replace(b"<head>", b"<head>\n" + LINK.search(body).group(0) + b"\n" + loader, 1)
    # the daemon also wrote the rendered copy, which Apache core serves by itself
    wait_for(lambda: (site.state / "pages" / "index.html").exists(), 30, what="the rendered copy")
    status, headers, copy = get(server.port, "/index.html")
    assert copy == body and headers.get("accept-ranges") == "bytes"   # core, not the handler
    assert get(server.port, "/.torrentweb/pages/index.html")[0] == 403   # only via the page's URL
    _, _, torrent = get(server.port, m[0].decode())
    before = len(server.access_log_lines())
    client = Client(tmp_path / "dl")
    try:
        h = client.add(without_web_seed(torrent))           # the seeder, found via the tracker
        client.wait_seeding(h, timeout=90)
    finally:
        client.close()
    for rel in ("img/one.jpg", "img/two.jpg"):
        assert sha256(tmp_path / "dl" / BUNDLE_NAME / rel) == sha256(site.docroot / rel)
    assert not any("/img/" in l for l in server.access_log_lines()[before:])   # none from Apache


def test_changed_image_gives_a_new_info_hash_and_the_old_torrent_goes(chain):
    site, server, daemon = chain
    daemon.wait_log("bundle ", timeout=60)
    # the filter may trust its last catalogue version for up to a second (VERSION_MAX_AGE)
    (old,) = wait_for(lambda: LINK.findall(get(server.port, "/index.html")[2]), 10, what="the link")
    time.sleep(0.01)
    site.add("img/two.jpg", pixels(3, 70_000))               # same size, new bytes and mtime

    def relinked():
        found = LINK.findall(get(server.port, "/index.html")[2])
        return found and found[0] != old and found[0]
    new = wait_for(relinked, 60, what="the page to link a new bundle")
    assert new[1] != old[1]
    daemon.wait_log(f"bundle {old[1].decode()} withdrawn", timeout=30)
    assert get(server.port, old[0].decode())[0] == 404
    assert get(server.port, new[0].decode())[0] == 200


def test_tracker_is_reachable_through_apache_over_http_and_websocket(chain):
    """The snippet proxies /announce and /scrape to the HTTP tracker and the WebSocket upgrade
    on /announce to the WebSocket tracker (mod_proxy_http, mod_proxy_wstunnel)."""
    import asyncio
    import json
    import websockets

    site, server, daemon = chain
    daemon.wait_log("bundle ", timeout=60)
    (m,) = LINK.findall(get(server.port, "/index.html")[2])
    info_hash = bytes.fromhex(m[1].decode())
    query = ("/announce?info_hash=" + "".join(f"%{b:02x}" for b in info_hash) +
             "&peer_id=-TW0001-abcdefghijkl&port=6000&uploaded=0&downloaded=0&left=100&compact=1")
    status, headers, body = get(server.port, query)
    assert status == 200 and body.startswith(b"d") and b"8:interval" in body, body
    status, _, body = get(server.port, "/scrape?info_hash=" + "".join(f"%{b:02x}" for b in info_hash))
    assert status == 200 and b"5:files" in body, body

    async def ws_announce():
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/announce") as ws:
            await ws.send(json.dumps({"action": "announce", "info_hash": info_hash.decode("latin-1"),
                                      "peer_id": "-WW0001-abcdefghijkl", "numwant": 0,
                                      "uploaded": 0, "downloaded": 0, "left": 100, "offers": []}))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))
    reply = asyncio.run(ws_announce())
    assert reply["action"] == "announce" and "interval" in reply, reply
    wait_for(lambda: any('"GET /announce HTTP/1.1" 101' in l for l in server.access_log_lines()), 10,
             what="the upgraded request in the access log")


def test_edited_page_is_never_served_from_a_stale_rendered_copy(chain):
    site, server, daemon = chain
    copy = site.state / "pages" / "index.html"
    wait_for(copy.exists, 60, what="the rendered copy")
    edited = PAGE.replace(b"</body>", b"<p>Edited.</p></body>")
    site.add("index.html", edited)
    wait_for(lambda: not copy.exists() or b"Edited." in copy.read_bytes(), 10,
             what="the stale copy to go")
    status, headers, body = get(server.port, "/index.html")
    assert b"<p>Edited.</p>" in body and len(LINK.findall(body)) == 1
    wait_for(lambda: copy.exists() and b"Edited." in copy.read_bytes(), 30, what="the new copy")
    assert get(server.port, "/index.html")[2] == copy.read_bytes()


def test_a_page_edited_while_the_daemon_is_stopped_is_not_served_from_its_old_copy(chain):
    site, server, daemon = chain
    copy = site.state / "pages" / "index.html"
    wait_for(copy.exists, 60, what="the rendered copy")
    daemon.stop()                                  # nobody watches the page any more
    time.sleep(1.1)                                # a later second than the copy's mtime
    site.add("index.html", PAGE.replace(b"</body>", b"<p>Edited offline.</p></body>"))
    status, headers, body = get(server.port, "/index.html")
    assert status == 200 and b"<p>Edited offline.</p>" in body
