"""Several frontends, one site (README "Scaling past one machine"): two daemons on copies of the
same site, with different document roots, state directories, ports and build order, publish
the same info-hashes for single files and page bundles, and each torrent lists every
frontend as a web seed (outside the info dict)."""
from __future__ import annotations

import dataclasses

import libtorrent as lt
import pytest

from harness.daemon import make_site, start_daemon
from support.lt_client import info_hash
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.catalogue import Catalogue
from torrentweb.config import load as load_config
from torrentweb.naming import BUNDLE_NAME, seed_name
from torrentweb.seeder.builder import build, piece_size_for
from torrentweb.seeder.bundles import store_bundle

pytestmark = pytest.mark.slow


def blob(seed: int, size: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 for i in range(size))


FILES = {
    "img/one.jpg": blob(1, 40_000),
    "img/two with space.png": blob(2, 300_000),
    "gallery/big.jpg": blob(3, 900_000),          # above large_file_size: its own torrent
    "gallery/small.png": blob(4, 20_000),
    "files/archive.zip": blob(5, 150_000),
}
PAGES = {
    "index.html": b'<!DOCTYPE html><html><head><title>A</title></head><body>'
                  b'<img src="img/one.jpg"><img src="img/two%20with%20space.png"></body></html>\n',
    "gallery/index.html": b'<!DOCTYPE html><html><head><title>G</title></head><body>'
                          b'<img src="small.png"><img src="big.jpg"><img src="../img/one.jpg"></body></html>\n',
}
BUNDLES = {("img/one.jpg", "img/two with space.png"), ("gallery/small.png", "img/one.jpg")}


def frontend(root, name, bases):
    return make_site(root, base_url=bases[name], docroot_name={"a": "html", "b": "public"}[name],
                     torrents={"web_seeds": list(bases.values())},
                     pages={"large_file_size": "512KiB"})


@pytest.fixture
def two_sites(tmp_path):
    bases = {"a": "http://127.0.0.11:8001/", "b": "http://127.0.0.12:8002/site/"}
    a = frontend(tmp_path / "one", "a", bases)
    b = frontend(tmp_path / "two" / "srv", "b", bases)
    # the same on both; nothing listens there (traffic stays on loopback)
    port = free_port()
    announce = [f"http://127.0.0.1:{port}/announce", f"ws://127.0.0.1:{port}/announce"]
    for site in (a, b):
        site.write_config(tracker={"announce": announce})
    return a, b


def published(site):
    return (sorted(site.catalogue()) == sorted(FILES)
            and set(site.bundles()) == BUNDLES)


def publish_once(site, log_path):
    """The site's files and pages written, a daemon run until it published them all."""
    for rel, data in {**FILES, **PAGES}.items():
        site.add(rel, data)
    d = start_daemon(site, log_path)
    try:
        wait_for(lambda: published(site), 90, what="the files and bundles")
    finally:
        d.stop()


def test_two_frontends_publish_the_same_info_hashes_whatever_their_paths_and_order(two_sites, tmp_path):
    a, b = two_sites
    for rel, data in {**FILES, **PAGES}.items():          # a: everything there at start (the scan)
        a.add(rel, data)
    da = start_daemon(a, tmp_path / "a.log")
    db = start_daemon(b, tmp_path / "b.log")
    try:
        for rel, data in reversed([*PAGES.items(), *FILES.items()]):   # b: one by one, pages first
            b.add(rel, data)
        wait_for(lambda: published(a) and published(b), 90, what="both frontends' files and bundles")
    finally:
        da.stop()
        db.stop()
    files_a = {rel: row[3] for rel, row in a.catalogue().items()}
    assert files_a == {rel: row[3] for rel, row in b.catalogue().items()}
    assert a.bundles() == b.bundles()
    # the whole .torrent is the same too: same info dict, same trackers, same web seeds
    for rel in FILES:
        assert a.torrent(rel) == b.torrent(rel), rel
        assert info_hash(a.torrent(rel)) == files_a[rel]
    for ih in a.bundles().values():
        path = f"bundles/{ih}/{ih}.torrent"
        assert (a.state / path).read_bytes() == (b.state / path).read_bytes()


def test_each_torrent_lists_every_frontend_as_a_web_seed_outside_the_info_dict(two_sites, tmp_path):
    a, _ = two_sites
    publish_once(a, tmp_path / "a.log")
    meta = lt.bdecode(a.torrent("img/two with space.png"))
    assert meta[b"url-list"] == [b"http://127.0.0.11:8001/img/two%20with%20space.png",
                                 b"http://127.0.0.12:8002/site/img/two%20with%20space.png"]
    assert b"url-list" not in meta[b"info"]
    (ih,) = [ih for files, ih in a.bundles().items() if "gallery/small.png" in files]
    bundle = lt.bdecode((a.state / f"bundles/{ih}/{ih}.torrent").read_bytes())
    # BEP 19: clients append name/path, which each frontend's httpd snippet maps onto its docroot
    assert bundle[b"url-list"] == [b"http://127.0.0.11:8001/.torrentweb/seed/",
                                   b"http://127.0.0.12:8002/.torrentweb/seed/"]
    assert bundle[b"info"][b"name"] == BUNDLE_NAME.encode()
    assert [b"/".join(f[b"path"]).decode() for f in bundle[b"info"][b"files"]] == \
        ["gallery/small.png", "img/one.jpg"]


def test_a_bundle_named_after_the_docroot_by_an_older_version_is_built_again(tmp_path):
    """Before, bundles were named after the document root's directory: no other frontend has
    that info-hash and no web seed URL serves that name. At start the daemon builds it again."""
    site = make_site(tmp_path, pages={"large_file_size": "512KiB"})
    publish_once(site, tmp_path / "first.log")
    fresh = site.bundles()
    cfg = load_config(site.config_path)
    rows = Catalogue(cfg.catalogue_path)
    try:
        (key, row), = [(k, r) for k, r in rows.bundles().items() if "gallery/small.png" in r.files]
        files = [rows.file(p) for p in row.files]
        old = build(cfg.docroot.parent, [(f"www/{f.path}", f.size) for f in files],
                    piece_size=piece_size_for(sum(f.size for f in files)), announce=cfg.announce_urls())
        rows.remove_bundles([key])
        store_bundle(cfg, rows, key, row.files, old)      # as an older version left it
    finally:
        rows.close()
    assert lt.torrent_info(old.data).name() == "www" and old.info_hash not in fresh.values()
    assert site.bundles() != fresh
    d = start_daemon(site, tmp_path / "second.log")
    try:
        wait_for(lambda: site.bundles() == fresh, 60, what="the bundle built again under its new name")
        d.wait_log(f"its torrent is named after this machine's document root ('www', now {seed_name(cfg)!r}); "
                   "it is built again")
    finally:
        d.stop()


def test_torrents_cut_into_an_older_versions_pieces_are_cut_again_once(tmp_path):
    """The piece size went from 256 KiB to 64 KiB (a crowd trades small pieces faster): a
    frontend upgraded over its catalogue would keep the old info-hashes, which a frontend
    installed fresh never builds. At start the daemon hashes such a file and bundle again,
    to what this version builds, and then never again."""
    site = make_site(tmp_path, pages={"large_file_size": "512KiB"})
    publish_once(site, tmp_path / "first.log")
    fresh_files, fresh_bundles = site.catalogue(), site.bundles()
    cfg = load_config(site.config_path)
    rel = "img/two with space.png"
    rows = Catalogue(cfg.catalogue_path)
    try:
        row = rows.file(rel)
        old = build(cfg.docroot / "img", [("two with space.png", row.size)],
                    piece_size=4 * piece_size_for(row.size), announce=cfg.announce_urls())
        (cfg.state_dir / row.torrent).write_bytes(old.data)
        rows.put_file(dataclasses.replace(row, info_hash=old.info_hash, piece_size=old.piece_size))
        (key, bundle), = [(k, r) for k, r in rows.bundles().items() if "gallery/small.png" in r.files]
        files = [rows.file(p) for p in bundle.files]
        total = sum(f.size for f in files)
        old_bundle = build(cfg.docroot.parent, [(f"www/{f.path}", f.size) for f in files],
                           piece_size=2 * piece_size_for(total), announce=cfg.announce_urls(),
                           name=seed_name(cfg))
        rows.remove_bundles([key])
        store_bundle(cfg, rows, key, bundle.files, old_bundle)
    finally:
        rows.close()
    assert site.catalogue() != fresh_files and site.bundles() != fresh_bundles
    d = start_daemon(site, tmp_path / "second.log")
    try:
        wait_for(lambda: site.catalogue() == fresh_files and site.bundles() == fresh_bundles, 60,
                 what="the file and the bundle cut again as this version cuts them")
        now = piece_size_for(total) // 1024
        d.wait_log(f"its torrent is cut into pieces of another size ({2 * now} KiB, now {now} KiB); "
                   "it is built again")
        assert d.published(rel) == 1
        assert all(d.published(p) == 0 for p in FILES if p != rel)
    finally:
        d.stop()
    again = start_daemon(site, tmp_path / "third.log")
    try:
        wait_for(lambda: "files to hash" in again.log(), 30, what="the third start's catalogue line")
        assert "0 files to hash" in again.log() and "published " not in again.log()
    finally:
        again.stop()
