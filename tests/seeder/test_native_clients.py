"""Real clients: aria2c from the seeder alone (through our tracker), then from the web seed alone."""
import os

import libtorrent as lt

from harness.apache import start_apache
from support.clients import aria2c_download
from harness.daemon import make_site, start_daemon
from torrentweb import config


def without_web_seed(torrent: bytes) -> bytes:
    meta = lt.bdecode(torrent)
    meta.pop(b"url-list", None)
    return lt.bencode(meta)


def without_trackers(torrent: bytes) -> bytes:
    meta = lt.bdecode(torrent)
    meta.pop(b"announce", None)
    meta.pop(b"announce-list", None)
    return lt.bencode(meta)


def test_aria2c_downloads_from_the_seeder_then_from_the_web_seed_alone(tmp_path):
    data = os.urandom(5 * 2**20 + 77)
    site = make_site(tmp_path / "site")
    site.add("files/archive.zip", data)
    daemon = start_daemon(site, tmp_path / "daemon.log")
    try:
        daemon.wait_log("published files/archive.zip ")
        peer_only = tmp_path / "peer.torrent"
        peer_only.write_bytes(without_web_seed(site.torrent("files/archive.zip")))
        aria2c_download(peer_only, tmp_path / "from-seeder")
    finally:
        daemon.stop()
    assert (tmp_path / "from-seeder" / "archive.zip").read_bytes() == data

    # the seeder is stopped: only Apache, serving the docroot, can deliver
    apache = start_apache(tmp_path, config.load(site.config_path))
    try:
        seed_only = tmp_path / "webseed.torrent"
        seed_only.write_bytes(without_trackers(site.torrent("files/archive.zip")))
        aria2c_download(seed_only, tmp_path / "from-web-seed")
        ranged = [line for line in apache.access_log_lines() if "/files/archive.zip" in line]
    finally:
        apache.stop()
    assert (tmp_path / "from-web-seed" / "archive.zip").read_bytes() == data
    assert ranged and all(" 206 " in line or " 200 " in line for line in ranged)
