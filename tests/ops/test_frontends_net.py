"""Two frontends on an emulated network (bench/net.py namespaces): each its own Apache + daemon
on its own copy of the same site (other docroot names and paths), one shared tracker (Debian's
opentracker, whitelist fed by `torrentweb info-hashes`). A native visitor takes pieces from both
seeders; when frontend A dies (SIGKILL of its daemon and Apache) mid-download, it finishes from B."""
from __future__ import annotations

import base64
import contextlib
import os
import hashlib
from pathlib import Path
import signal
import time
import urllib.parse
import urllib.request

import libtorrent as lt
import pytest

from harness.apache import grant_web_access, start_apache
from harness.browser import chromium
from harness.daemon import make_site, start_daemon
from support.lt_client import sha256
from harness.ports import free_port
from harness.processes import wait_for
from support.scripts import script_module
from torrentweb import cli
from torrentweb.config import load as load_config
from torrentweb.page.loadertag import default_loader_dir

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

    def __init__(self, host, root, docroot_name, port, web_seeds, announce, content, settings):
        self.host, self.port = host, port
        self.site = make_site(root, base_url=f"http://{host.ip}:{port}/", docroot_name=docroot_name,
                              torrents={"web_seeds": web_seeds},
                              seeder={"listen": f"{host.ip}:{free_port()}"},
                              access={"check": "probe"})
        self.site.write_config(tracker={**self.site.settings["tracker"], "announce": announce},
                               **settings)
        for rel, data in content.items():
            self.site.add(rel, data)
        self.server = self.daemon = None

    def start(self, workdir, published):
        cfg = load_config(self.site.config_path)
        grant_web_access(cfg, default_loader_dir())
        with self.host.entered():
            self.server = start_apache(workdir, cfg, port=self.port,
                                       extra=f"Listen {self.host.ip}:{self.port}")
            self.daemon = start_daemon(self.site, workdir / "daemon.log")
        wait_for(lambda: published(self.site), 60, what="the site's files and bundle published")

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


def big_file_published(site) -> bool:
    return BIG in site.catalogue() and bool(site.bundles())


@contextlib.contextmanager
def two_frontends(net, tmp_path, content=None, settings=None, published=big_file_published, ws=False):
    """Frontends a and b and the shared tracker; yields (network, {name: Frontend}).
    settings: name -> YAML sections of that frontend; ws: the torrents also list a's WebSocket
    tracker (through a's Apache), the browsers' shared tracker."""
    content = content or {BIG: blob(SIZE), "index.html": PAGE}
    frontend = net.Profile("frontend", down_mbit=50, up_mbit=8, delay_ms=5)
    hosts = [("a", frontend), ("b", frontend), ("tracker", net.PROFILES["lan"]), ("v", net.PROFILES["lan"])]
    with net.Network(hosts) as n, opentracker(n["tracker"], tmp_path) as (announce, whitelist, tracker):
        ports = {"a": free_port(), "b": free_port()}
        web_seeds = [f"http://{n[h].ip}:{ports[h]}/" for h in ("a", "b")]
        announce = [announce, *([f"ws://{n['a'].ip}:{ports['a']}/announce"] if ws else [])]
        fronts = {name: Frontend(n[name], root, docroot, ports[name], web_seeds, announce, content,
                                 (settings or {}).get(name, {}))
                  for name, root, docroot in (("a", tmp_path / "a" / "var" / "www", "html"),
                                              ("b", tmp_path / "b" / "srv", "site-copy"))}
        try:
            for name, f in fronts.items():
                f.start(tmp_path / name, published)
            # the shared tracker's whitelist: what a frontend published (both have the same)
            lists = {}
            for name, f in fronts.items():
                out = tmp_path / f"{name}-whitelist.txt"
                assert cli.main(["info-hashes", "-c", str(f.site.config_path), "-o", str(out)]) == 0
                lists[name] = out.read_text()
            assert lists["a"] == lists["b"] and len(lists["a"].split()) >= 2     # files + bundle
            whitelist.write_text(lists["a"])
            os.kill(tracker.popen.pid, signal.SIGHUP)
            ih = lists["a"].split()[0]
            wait_for(lambda: scrape(n["tracker"], announce[0], ih) == 2, 120, interval=1,
                     what="both seeders announced to the shared tracker")
            yield n, fronts
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
    with two_frontends(net, tmp_path) as (n, fronts), visitor(n["v"], tmp_path / "v") as ses:
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
    with two_frontends(net, tmp_path) as (n, fronts), visitor(n["v"], tmp_path / "v") as ses:
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


DEMO = Path(__file__).resolve().parents[2] / "demo" / "site"
SWAPPED = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg", "video/mandelbrot.webm")
SHOWN = "window.torrentweb.elements"


def demo_published(site) -> bool:
    return all(rel in site.catalogue() for rel in SWAPPED) and bool(site.bundles())


def test_a_browser_on_frontend_a_gets_the_images_from_a_tab_that_loaded_them_from_b(net, tmp_path):
    """No seeder talks WebRTC (seeder.webtorrent off): a browser can only have the page's assets
    from the other tab or a web seed. The tab on B takes the web seeds at once (deadline 1 s);
    the tab on A waits 60 s for the swarm, which is B's tab, met through a's WebSocket tracker."""
    content = {str(p.relative_to(DEMO)): p.read_bytes() for p in DEMO.rglob("*") if p.is_file()}
    common = {"pages": {"p2p": "always"}, "seeder": {"webtorrent": False},
              "rules": [{"mimetype": "image/*", "min_size": "64KiB"}, {"mimetype": "video/*"}]}
    settings = {"a": {**common, "loader": {"deadline": 60, "scrape": False}},
                "b": {**common, "loader": {"deadline": 1}}}
    with two_frontends(net, tmp_path, content, settings, demo_published, ws=True) as (n, fronts):
        for f in fronts.values():          # seeder.listen is per frontend: keep it
            assert load_config(f.site.config_path).seeder.webtorrent is False
        logs = {"a": [], "b": []}
        origins = ",".join(f.server.url.replace("127.0.0.1", f.host.ip).rstrip("/") for f in fronts.values())
        # real sites are https://; these private http:// origins must count as secure for WebTorrent
        with n["v"].entered(), chromium([f"--unsafely-treat-insecure-origin-as-secure={origins}"]) as browser:
            with browser.context() as on_b, browser.context() as on_a:
                tab_b = on_b.new_page()
                tab_b.on("console", lambda m: logs["b"].append(m.text))
                tab_b.goto(fronts["b"].server.url.replace("127.0.0.1", n["b"].ip) + "index.html")
                wait_for(lambda: tab_b.locator("[data-torrent-state]").count() == len(SWAPPED), 90,
                         interval=0.2, what=f"tab B's assets; its log: {logs['b']}")
                marks = {name: len(f.server.access_log_lines()) for name, f in fronts.items()}
                tab_a = on_a.new_page()
                tab_a.on("console", lambda m: logs["a"].append(m.text))
                tab_a.goto(fronts["a"].server.url.replace("127.0.0.1", n["a"].ip) + "index.html")
                wait_for(lambda: tab_a.locator("[data-torrent-state]").count() == len(SWAPPED), 90,
                         interval=0.2, what=f"tab A's assets; its log: {logs['a']}")
                elements = tab_a.evaluate(SHOWN)
                # http://10.77.x.x is no secure context (no crypto.subtle): the bytes, in base64
                shown = tab_a.evaluate("""async () => Promise.all(
                  [...document.querySelectorAll('main img')].filter(i => i.dataset.torrentState).map(
                    async i => {
                      const b = new Uint8Array(await (await fetch(i.currentSrc)).arrayBuffer())
                      let s = ''
                      for (let k = 0; k < b.length; k += 0x8000) s += String.fromCharCode(...b.subarray(k, k + 0x8000))
                      return btoa(s)
                    }))""")
                uploaded_b = tab_b.evaluate(
                    "window.torrentweb.client.torrents.reduce((n, t) => n + t.uploaded, 0)")
        print(f"tab B uploaded {uploaded_b} bytes; tab A showed {[(e['url'], e['via']) for e in elements]}")
        assert sorted((e["url"].split("/", 3)[3], e["via"]) for e in elements) == \
            [(rel, "swarm") for rel in sorted(SWAPPED)], (elements, logs["a"])
        assert sorted(hashlib.sha256(base64.b64decode(b)).hexdigest() for b in shown) == \
            sorted(hashlib.sha256(content[rel]).hexdigest() for rel in SWAPPED[:3])
        assert uploaded_b >= sum(len(content[rel]) for rel in SWAPPED)
        for name, f in fronts.items():        # neither origin sent them to tab A
            assert [l for l in f.server.access_log_lines()[marks[name]:]
                    if any(f" /{rel} " in l for rel in SWAPPED) or "/seed/" in l] == [], name
