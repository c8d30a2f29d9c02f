"""Two frontends on an emulated network (bench/net.py namespaces): each its own Apache + daemon
on its own copy of the same site (other docroot names and paths), one shared tracker (Debian's
opentracker, whitelist fed by `torrentweb info-hashes`). A native visitor takes pieces from both
seeders; when frontend A dies (SIGKILL of its daemon and Apache) mid-download, it finishes from B."""
from __future__ import annotations

import contextlib
import os
import signal
import time
import urllib.parse
import urllib.request

import libtorrent as lt
import pytest

from support.apache import start_apache
from support.daemon import make_site, start_daemon
from support.lt_client import sha256
from support.ports import free_port
from support.processes import wait_for
from support.scripts import script_module
from torrentweb import cli
from torrentweb.config import load as load_config

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
                                 reason="network namespaces and TUN need root")]

BIG = "media/big.jpg"
SIZE = 8 * 2**20
PAGE = b'<!DOCTYPE html><html><head><title>P</title></head><body><img src="media/big.jpg"></body></html>\n'


def blob(size: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


@pytest.fixture(scope="module")
def net():
    with script_module("bench/net.py", "benchnet") as module:
        yield module


@contextlib.contextmanager
def opentracker(host, root):
    """Debian's opentracker (built whitelist-only) inside `host`; yields (announce URL, HUP)."""
    port = free_port()
    chroot = root / "opentracker"
    chroot.mkdir(parents=True)
    os.chmod(chroot, 0o755)
    (chroot / "whitelist.txt").write_text("")
    (root / "opentracker.conf").write_text(
        f"listen.tcp_udp {host.ip}:{port}\ntracker.rootdir {chroot}\naccess.whitelist /whitelist.txt\n")
    proc = host.run(["opentracker", "-f", str(root / "opentracker.conf")])
    try:
        with host.entered():
            wait_for(lambda: _answers(f"http://{host.ip}:{port}/stats"), 20, what="opentracker")
        yield f"http://{host.ip}:{port}/announce", chroot / "whitelist.txt", proc
    finally:
        proc.stop()


def _answers(url) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Frontend:
    """Apache + daemon inside one host, serving its own copy of the site."""

    def __init__(self, host, root, docroot_name, port, web_seeds, announce):
        self.host, self.port = host, port
        self.site = make_site(root, base_url=f"http://{host.ip}:{port}/", docroot_name=docroot_name,
                              torrents={"web_seeds": web_seeds},
                              seeder={"listen": f"{host.ip}:{free_port()}"},
                              access={"check": "probe"})
        self.site.write_config(tracker={**self.site.settings["tracker"], "announce": [announce]})
        self.site.add(BIG, blob(SIZE))
        self.site.add("index.html", PAGE)
        self.server = self.daemon = None

    def start(self, workdir):
        with self.host.entered():
            self.server = start_apache(workdir, load_config(self.site.config_path), port=self.port,
                                       extra=f"Listen {self.host.ip}:{self.port}")
            self.daemon = start_daemon(self.site, workdir / "daemon.log")
        wait_for(lambda: BIG in self.site.catalogue() and self.site.bundles(), 60,
                 what=f"{BIG} and the page's bundle published")

    def kill(self):
        """SIGKILL of the daemon's and Apache's process groups: a machine that died."""
        self.daemon.stop(signal.SIGKILL)
        self.server.process.stop(signal.SIGKILL)

    def stop(self):
        for part in (self.daemon, self.server):
            if part is not None:
                part.stop()


def scrape(tracker_host, announce: str, info_hash: str) -> int:
    """Seeders the tracker knows for info_hash (0 while it refuses it)."""
    url = announce.replace("/announce", "/scrape") + "?info_hash=" + \
        urllib.parse.quote(bytes.fromhex(info_hash))
    try:
        with tracker_host.entered():
            with urllib.request.urlopen(url, timeout=5) as r:
                files = lt.bdecode(r.read()).get(b"files", {})
    except OSError:
        return 0
    return next(iter(files.values()), {}).get(b"complete", 0)


@contextlib.contextmanager
def two_frontends(net, tmp_path):
    frontend = net.Profile("frontend", down_mbit=50, up_mbit=8, delay_ms=5)
    hosts = [("a", frontend), ("b", frontend), ("tracker", net.PROFILES["lan"]), ("v", net.PROFILES["lan"])]
    with net.Network(hosts) as n, opentracker(n["tracker"], tmp_path) as (announce, whitelist, tracker):
        ports = {"a": free_port(), "b": free_port()}
        web_seeds = [f"http://{n[h].ip}:{ports[h]}/" for h in ("a", "b")]
        fronts = {"a": Frontend(n["a"], tmp_path / "a" / "var" / "www", "html", ports["a"], web_seeds, announce),
                  "b": Frontend(n["b"], tmp_path / "b" / "srv", "site-copy", ports["b"], web_seeds, announce)}
        try:
            for name, f in fronts.items():
                f.start(tmp_path / name)
            # the shared tracker's whitelist: what a frontend published (both have the same)
            lists = {}
            for name, f in fronts.items():
                out = tmp_path / f"{name}-whitelist.txt"
                assert cli.main(["info-hashes", "-c", str(f.site.config_path), "-o", str(out)]) == 0
                lists[name] = out.read_text()
            assert lists["a"] == lists["b"] and len(lists["a"].split()) == 2     # file + bundle
            whitelist.write_text(lists["a"])
            os.kill(tracker.popen.pid, signal.SIGHUP)
            ih = fronts["a"].site.catalogue()[BIG][3]
            wait_for(lambda: scrape(n["tracker"], announce, ih) == 2, 120, interval=1,
                     what="both seeders announced to the shared tracker")
            yield n, fronts, ih
        finally:
            for f in fronts.values():
                f.stop()


@contextlib.contextmanager
def visitor(host, save_path):
    with host.entered():
        ses = lt.session({"listen_interfaces": f"{host.ip}:{free_port()}",
                          "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                          "enable_natpmp": False, "max_webtorrent_offers": 0, "alert_mask": 0})
    try:
        yield ses
    finally:
        del ses


def add(ses, torrent: bytes, save_path, web_seeds=True):
    ti = lt.torrent_info(torrent)
    if not web_seeds:
        ti.set_web_seeds([])
    atp = lt.add_torrent_params()
    atp.ti, atp.save_path = ti, str(save_path)
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    return ses.add_torrent(atp)


def from_peers(h) -> dict:
    """Payload bytes per peer address (libtorrent's peer stats; web seeds have their URL's host)."""
    out = {}
    for p in h.get_peer_info():
        out[p.ip[0]] = out.get(p.ip[0], 0) + p.total_download
    return out


def test_a_native_visitor_takes_pieces_from_both_frontends_seeders(net, tmp_path):
    with two_frontends(net, tmp_path) as (n, fronts, ih), visitor(n["v"], tmp_path / "v") as ses:
        torrent = fronts["a"].site.torrent(BIG)
        h = add(ses, torrent, tmp_path / "v", web_seeds=False)     # peers only: the seeders
        got = {}

        def done():
            got.update({ip: max(b, got.get(ip, 0)) for ip, b in from_peers(h).items()})
            return h.status().is_seeding
        wait_for(done, 120, interval=0.2, what="the visitor's download")
        assert sha256(tmp_path / "v" / "big.jpg") == sha256(fronts["b"].site.docroot / BIG)
        print(f"bytes per seeder: {got}")
        assert got.get(n["a"].ip, 0) > 0 and got.get(n["b"].ip, 0) > 0, got


def test_a_frontend_killed_mid_download_loses_nothing(net, tmp_path):
    with two_frontends(net, tmp_path) as (n, fronts, ih), visitor(n["v"], tmp_path / "v") as ses:
        torrent = fronts["a"].site.torrent(BIG)                       # as published: both web seeds
        h = add(ses, torrent, tmp_path / "v")
        wait_for(lambda: h.status().progress >= 0.2, 60, interval=0.05, what="a fifth of the download")
        assert not h.status().is_seeding
        a_web = sum(1 for l in fronts["a"].server.access_log_lines() if f"/{BIG}" in l)
        a_peer = from_peers(h).get(n["a"].ip, 0)
        assert a_web or a_peer, "frontend A gave nothing before it died"
        fronts["a"].kill()
        left = SIZE - h.status().total_wanted_done
        b_mark = len(fronts["b"].server.access_log_lines())
        wait_for(lambda: h.status().is_seeding, 120, interval=0.2,
                 what=f"the download after A died (progress {h.status().progress:.2f})")
        assert sha256(tmp_path / "v" / "big.jpg") == sha256(fronts["b"].site.docroot / BIG)
        b_web = sum(1 for l in fronts["b"].server.access_log_lines()[b_mark:] if f"/{BIG}" in l)
        print(f"before the kill A gave {a_peer} bytes as a peer, {a_web} web seed requests; "
              f"{left} bytes were left, taken from B ({b_web} web seed requests, the rest its seeder)")
        assert left > 0
