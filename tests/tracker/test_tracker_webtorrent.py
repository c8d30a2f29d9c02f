"""libtorrent's own WebTorrent client finds a libtorrent seeder through our WebSocket tracker.

The torrent lists only our ws:// tracker: the two sessions meet over WebRTC after the
tracker relayed the offers and answers between them (both directions of the relay).
"""
import pytest

from support.trackers import RunningTracker, Seeder, info_hash, loopback_config, make_torrent, random_file, sha256
from harness.processes import wait_for

pytestmark = pytest.mark.slow


def test_libtorrent_webtorrent_client_downloads_via_our_ws_tracker(tmp_path):
    seeder, client = Seeder(webtorrent=True), Seeder(webtorrent=True)
    try:
        with RunningTracker(loopback_config(http=None, udp=None)) as tracker:
            content = random_file(tmp_path / "seed", "webrtc.bin", 2 * 1024 * 1024 + 99)
            torrent = make_torrent(content, [tracker.url("websocket")], piece_length=256 * 1024)
            tracker.known.add(info_hash(torrent))
            seeder.add(torrent, content.parent)
            wait_for(lambda: tracker.stats().seeders == 1, 20, what="the seeder's WebSocket announce")
            # no TCP between them: the client does not know the seeder's address, only the tracker does
            h = client.add(torrent, tmp_path / "out", seed=False)
            wait_for(lambda: h.status().is_seeding, 60,
                     what=f"the WebRTC download (progress {h.status().progress:.2f}, "
                          f"alerts {client.poll_alerts()[-5:]})")
            assert sha256(tmp_path / "out" / content.name) == sha256(content)
            wait_for(lambda: [(t.seeders, t.completed) for t in tracker.stats().torrents] == [(2, 1)], 10,
                     what="the client's `completed` announce")
    finally:       # after the tracker stopped (see Seeder.close)
        client.close()
        seeder.close()
