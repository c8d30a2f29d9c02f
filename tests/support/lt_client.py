"""A second, independent libtorrent session acting as a visitor's native client."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import libtorrent as lt

from harness.ports import free_port
from harness.processes import wait_for


class Client:
    def __init__(self, save_path: Path):
        self.save_path = Path(save_path)
        self.session = lt.session({
            "listen_interfaces": f"127.0.0.1:{free_port()}",
            "allow_multiple_connections_per_ip": True,
            "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "max_webtorrent_offers": 0,
            "alert_mask": lt.alert_category.error,
        })
        self.handles = []

    def add(self, torrent: bytes, web_seeds=True, trackers=True):
        ti = lt.torrent_info(torrent)
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = str(self.save_path)
        atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
        h = self.session.add_torrent(atp)
        if not web_seeds:
            for url in h.url_seeds():
                h.remove_url_seed(url)
        if not trackers:
            h.replace_trackers([])
        self.handles.append(h)
        return h

    def wait_seeding(self, handle, timeout=60.0, peers=()):
        """Until complete. Every 2 s: announce again and redial `peers`, because the seeder adds
        a torrent asynchronously after logging it, so a first try can find nobody there yet."""
        last = [0.0]

        def done():
            if handle.status().is_seeding:
                return True
            if time.monotonic() - last[0] >= 2.0:
                last[0] = time.monotonic()
                handle.force_reannounce()
                for peer in peers:
                    handle.connect_peer(peer)
            return False
        wait_for(done, timeout,
                 what=f"the download of {handle.status().name} (progress {handle.status().progress:.2f})")

    def close(self):
        for h in self.handles:
            self.session.remove_torrent(h)
        del self.session


def info_hash(torrent: bytes) -> str:
    """The v1 info-hash of a .torrent file's bytes, as the catalogue writes it."""
    return str(lt.torrent_info(torrent).info_hashes().v1)


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
