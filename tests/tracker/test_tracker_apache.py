"""Through a real Apache with the project's proxy snippet: tracker URLs on Apache's port.

Apache (mod_proxy_http for /announce and /scrape, the WebSocket upgrade proxied too) stands
between the clients and the tracker, as on a site where one port and one certificate serve
the pages, the torrents and the tracker.
"""
import urllib.request
from urllib.parse import quote_from_bytes

import libtorrent as lt
import pytest

from support.trackers import RunningTracker, Seeder, info_hash, make_torrent, random_file, sha256
from harness.apache import start_apache
from support.clients import aria2c_download
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.config import loads

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("apache-tracker")
    (tmp / "www").mkdir()
    port, http_port, ws_port = free_port(), free_port(), free_port()
    config = loads(f"docroot: {tmp}/www\nbase_url: http://127.0.0.1:{port}/\nstate_dir: {tmp}/state\n"
                   f"tracker:\n  http: 127.0.0.1:{http_port}\n  udp: null\n  websocket: 127.0.0.1:{ws_port}\n"
                   "  trusted_proxies: [127.0.0.1]\n  interval: 30\n")
    server = start_apache(tmp, config)
    try:
        yield config, server
    finally:
        server.stop()


def test_aria2c_downloads_with_the_tracker_on_apaches_port(site, tmp_path):
    config, apache = site
    seeder = Seeder()
    try:
        with RunningTracker(config.tracker) as tracker:
            content = random_file(tmp_path / "seed", "through-apache.bin", 2 * 1024 * 1024 + 5)
            torrent = make_torrent(content, [apache.url + "announce"])
            ih = info_hash(torrent)
            tracker.known.add(ih)
            seeder.wait_announced(seeder.add(torrent, content.parent))
            (tmp_path / "t.torrent").write_bytes(torrent)
            aria2c_download(tmp_path / "t.torrent", tmp_path / "out")
            assert sha256(tmp_path / "out" / content.name) == sha256(content)
            with urllib.request.urlopen(apache.url + "scrape?info_hash=" + quote_from_bytes(ih)) as r:
                assert lt.bdecode(r.read())[b"files"][ih][b"complete"] == 1
            unknown = apache.url + "announce?info_hash=" + "%01" * 20 + "&peer_id=" + "p" * 20 + "&port=1&left=0"
            with urllib.request.urlopen(unknown) as r:
                assert lt.bdecode(r.read()) == {
                    b"failure reason": b"info-hash not tracked here: this tracker serves only this site's torrents"}
    finally:
        seeder.close()
    requests = [line for line in apache.access_log_lines() if '"GET /announce?' in line]
    assert any(" 200 " in line for line in requests), requests    # the announces went through Apache


def test_webtorrent_peers_meet_through_apaches_websocket_proxy(site, tmp_path):
    config, apache = site
    seeder, client = Seeder(webtorrent=True), Seeder(webtorrent=True)
    try:
        with RunningTracker(config.tracker) as tracker:
            content = random_file(tmp_path / "seed", "ws-through-apache.bin", 1024 * 1024 + 3)
            ws_url = apache.url.replace("http://", "ws://") + "announce"
            torrent = make_torrent(content, [ws_url], piece_length=256 * 1024)
            tracker.known.add(info_hash(torrent))
            seeder.add(torrent, content.parent)
            wait_for(lambda: tracker.stats().seeders == 1, 20,
                     what=f"the seeder's announce through Apache ({seeder.poll_alerts()[-3:]})")
            h = client.add(torrent, tmp_path / "out", seed=False)
            wait_for(lambda: h.status().is_seeding, 60, what=f"the WebRTC download ({client.poll_alerts()[-3:]})")
            assert sha256(tmp_path / "out" / content.name) == sha256(content)
    finally:       # after the tracker stopped (see Seeder.close)
        client.close()
        seeder.close()


def test_peers_get_the_client_address_apache_forwards(site):
    """Apache (a trusted proxy on loopback) appends the client to X-Forwarded-For; the tracker
    hands out the rightmost untrusted address, not Apache's 127.0.0.1."""
    config, apache = site
    ih = b"\x55" * 20
    with RunningTracker(config.tracker, known={ih}) as tracker:
        def announce(peer_id, port, left, headers):
            url = (f"{apache.url}announce?info_hash={quote_from_bytes(ih)}&peer_id={peer_id}&port={port}"
                   f"&left={left}&compact=1")
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
                return lt.bdecode(r.read())
        announce("-XF0001-000000000001", 7001, 0, {"X-Forwarded-For": "203.0.113.9"})
        reply = announce("-XF0001-000000000002", 7002, 9, {})
        assert reply[b"peers"] == bytes([203, 0, 113, 9]) + (7001).to_bytes(2, "big")
        assert tracker.stats().announces == 2
