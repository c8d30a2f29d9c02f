"""Two frontends on loopback, each a real Apache + daemon on its own copy of the same site
(other document root names, state directories, ports): every torrent lists both as web seeds,
and real clients with no peer and no tracker take the bytes from both (README "Scaling past
one machine": which client uses how many web seeds)."""
from __future__ import annotations

import contextlib
import re
import urllib.request

import libtorrent as lt
import pytest

from support.clients import QBittorrent, aria2c_download, transmission_download
from harness.daemon import daemon_behind_apache, make_site
from support.lt_client import Client, sha256
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.naming import BUNDLE_NAME

pytestmark = pytest.mark.slow

BIG = "media/big.jpg"
IMAGES = ("img/one.jpg", "img/two.jpg")
PAGE = b'<!DOCTYPE html><html><head><title>P</title></head><body>' \
       b'<img src="img/one.jpg"><img src="img/two.jpg"></body></html>\n'
LINK = re.compile(rb'rel="torrent" href="/(\.torrentweb/t/\w+/\w+\.torrent)"')


def blob(seed: int, size: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 for i in range(size))


CONTENT = {BIG: blob(1, 6 * 2**20), IMAGES[0]: blob(2, 1_200_000), IMAGES[1]: blob(3, 900_000),
           "index.html": PAGE}


@contextlib.contextmanager
def two_frontends(tmp_path):
    """(sites, servers): frontends a and b, each listing both in torrents.web_seeds."""
    ports = {"a": free_port(), "b": free_port()}
    bases = [f"http://127.0.0.1:{p}/" for p in ports.values()]
    sites = {}
    for name, docroot in (("a", "html"), ("b", "public")):
        site = make_site(tmp_path / name / "srv", base_url=f"http://127.0.0.1:{ports[name]}/",
                         docroot_name=docroot, torrents={"web_seeds": bases},
                         pages={"large_file_size": "4MiB"})
        for rel, data in CONTENT.items():
            site.add(rel, data)
        sites[name] = site
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(daemon_behind_apache(site, tmp_path / name))[0]
                   for name, site in sites.items()}
        for site in sites.values():
            wait_for(lambda: BIG in site.catalogue() and site.bundles(), 90, what="files and bundle")
        yield sites, servers


@pytest.fixture(scope="module")
def frontends(tmp_path_factory):
    with two_frontends(tmp_path_factory.mktemp("frontends")) as fe:
        yield fe


def web_seeds_only(torrent: bytes) -> bytes:
    meta = lt.bdecode(torrent)
    for key in (b"announce", b"announce-list"):
        meta.pop(key, None)
    return lt.bencode(meta)


def torrents(frontends):
    """The big file's torrent and the page bundle, fetched from frontend a, minus trackers."""
    sites, servers = frontends
    with urllib.request.urlopen(servers["a"].url + f".torrentweb/files/{BIG}.torrent") as r:
        single = r.read()
    with urllib.request.urlopen(servers["a"].url + "index.html") as r:
        (href,) = LINK.findall(r.read())
    with urllib.request.urlopen(servers["a"].url + href.decode()) as r:
        bundle = r.read()
    return web_seeds_only(single), web_seeds_only(bundle)


def served(servers, mark, needle) -> dict:
    """frontend -> how many of its access log lines since `mark` match `needle` with a 2xx."""
    return {name: sum(1 for line in s.access_log_lines()[mark[name]:] if needle in line and '" 20' in line)
            for name, s in servers.items()}


def marks(servers) -> dict:
    return {name: len(s.access_log_lines()) for name, s in servers.items()}


def download(client, data, out):
    (out.parent / f"{out.name}.torrent").write_bytes(data)
    torrent = out.parent / f"{out.name}.torrent"
    if client == "libtorrent":
        c = Client(out)
        try:
            c.wait_seeding(c.add(data, trackers=False), timeout=120)
        finally:
            c.close()
    elif client == "aria2c":
        aria2c_download(torrent, out, timeout=120, extra=["--bt-exclude-tracker=*"])
    elif client == "transmission":
        ti = lt.torrent_info(data)
        rels = [ti.layout().file_path(i) for i in range(ti.num_files())]
        transmission_download(torrent, out, done=lambda: all(
            (out / r).is_file() and (out / r).stat().st_size == ti.layout().file_size(i)
            and not (out / (r + ".part")).exists() for i, r in enumerate(rels)))
        wait_for(lambda: sum((out / r).stat().st_size for r in rels) == ti.total_size(), 30,
                 what="transmission's files")
    else:
        with QBittorrent(out.parent / f"{out.name}-profile") as qbt:
            qbt.download(data, out, str(lt.torrent_info(data).info_hashes().v1), timeout=120)


# What each client does with two web seeds, measured here (README "Scaling past one machine"):
# libtorrent, qBittorrent (libtorrent) and transmission request from both at once; aria2c 1.36
# fetches each file whole from one web seed (even with --split), and another when that one fails.
USES_BOTH = {"libtorrent": True, "transmission": True, "qbittorrent": True, "aria2c": False}


@pytest.mark.parametrize("client", sorted(USES_BOTH))
def test_a_client_takes_a_file_and_a_page_bundle_from_both_frontends_web_seeds(frontends, client, tmp_path):
    sites, servers = frontends
    single, bundle = torrents(frontends)
    assert lt.bdecode(single)[b"url-list"] == [f"{s.url}{BIG}".encode() for s in servers.values()]
    assert lt.bdecode(bundle)[b"url-list"] == [f"{s.url}.torrentweb/seed/".encode() for s in servers.values()]
    mark = marks(servers)
    download(client, single, tmp_path / "single")
    assert sha256(tmp_path / "single" / "big.jpg") == sha256(sites["b"].docroot / BIG)
    got_single = served(servers, mark, f"GET /{BIG}")
    mark = marks(servers)
    download(client, bundle, tmp_path / "bundle")
    assert all(sha256(tmp_path / "bundle" / BUNDLE_NAME / rel) == sha256(sites["b"].docroot / rel)
               for rel in IMAGES)
    got_bundle = served(servers, mark, f"GET /.torrentweb/seed/{BUNDLE_NAME}/img/")
    print(f"{client}: single-file requests per frontend {got_single}, bundle {got_bundle}")
    if USES_BOTH[client]:
        assert all(got_single.values()) and all(got_bundle.values()), (got_single, got_bundle)
    else:                          # one request per file, each from either frontend
        assert sum(got_single.values()) == 1 and sum(got_bundle.values()) == len(IMAGES), \
            (got_single, got_bundle)


@pytest.mark.parametrize("client", sorted(USES_BOTH))
def test_a_client_finishes_from_the_other_web_seed_when_one_frontend_is_down(frontends, client, tmp_path):
    """A frontend that is down (nothing listens at its URL, first in the url-list): every
    client finishes from the other one."""
    sites, servers = frontends
    single, _ = torrents(frontends)
    meta = lt.bdecode(single)
    meta[b"url-list"] = [f"http://127.0.0.1:{free_port()}/{BIG}".encode(), meta[b"url-list"][1]]
    mark = marks(servers)
    download(client, lt.bencode(meta), tmp_path / "single")
    assert sha256(tmp_path / "single" / "big.jpg") == sha256(sites["b"].docroot / BIG)
    assert served(servers, mark, f"GET /{BIG}")["b"] > 0
