"""Browsers (the npm webtorrent bundle in headless Debian Chromium) use our WebSocket tracker.

The torrent has no web seed and only our ws:// tracker, so every byte comes over WebRTC from
a peer the tracker introduced: first the libtorrent seeder, then, with the seeder gone from
the swarm, another browser context.
"""
import hashlib

import pytest

from support.trackers import RunningTracker, Seeder, info_hash, loopback_config, make_torrent, random_file, sha256
from harness.browser import HARNESS_ORIGIN, chromium, serve_harness, webtorrent_fetch
from harness.processes import wait_for

pytestmark = pytest.mark.slow

# Download, then stay in the swarm (webtorrent_fetch destroys its client when done).
DOWNLOAD_AND_SEED = """async ([b64, timeoutMs]) => {
  const { default: WebTorrent } = await import('/dist/webtorrent.min.js')
  const client = window.keep = new WebTorrent({ tracker: { rtcConfig: { iceServers: [] } } })
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0))
  return await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('no complete download after ' + timeoutMs + ' ms')), timeoutMs)
    const torrent = client.add(bytes)
    torrent.on('error', reject)
    torrent.on('done', async () => {
      const digest = await crypto.subtle.digest('SHA-256', await torrent.files[0].arrayBuffer())
      resolve([...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join(''))
    })
  })
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_browsers_find_the_seeder_then_each_other(browser, tmp_path):
    import base64
    seeder = Seeder(webtorrent=True)
    try:
        # a short interval: libtorrent sends no `stopped` over WebSocket when a torrent is
        # removed (and keeps its socket for other torrents), so the tracker's expiry makes it leave
        config = loopback_config(http=None, udp=None, interval=3, min_interval=1, grace=1, ws_idle_timeout=60)
        with RunningTracker(config) as tracker:
            content = random_file(tmp_path / "seed", "movie.bin", 3 * 1024 * 1024 + 7)
            torrent = make_torrent(content, [tracker.url("websocket")], piece_length=256 * 1024)
            ih = info_hash(torrent)
            tracker.known.add(ih)
            handle = seeder.add(torrent, content.parent)
            wait_for(lambda: tracker.stats().seeders == 1, 20, what="the libtorrent seeder's announce")

            with browser.context() as first, browser.context() as second:
                serve_harness(first)
                page = first.new_page()
                page.goto(f"{HARNESS_ORIGIN}/")
                got = page.evaluate(DOWNLOAD_AND_SEED, [base64.b64encode(torrent).decode(), 60000])
                assert got == sha256(content)

                # the seeder leaves; once it has expired, the first browser is the swarm's only seeder
                seeder.session.remove_torrent(handle)
                seeder.handles.clear()
                wait_for(lambda: [(t.seeders, t.leechers) for t in tracker.stats().torrents] == [(1, 0)], 20,
                         what=f"the seeder to leave and the browser to seed: {tracker.stats().torrents}")

                fetched = webtorrent_fetch(second, torrent, web_seeds=False, timeout=60)
                assert fetched.sha256 == hashlib.sha256(content.read_bytes()).hexdigest()
                assert fetched.web_seed_bytes == 0
    finally:        # after the tracker stopped (see Seeder.close)
        seeder.close()
