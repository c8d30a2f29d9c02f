"""The filter in a real httpd + mod_wsgi: what a visitor's browser and client receive."""
from __future__ import annotations

import gzip
import http.client
import json
import re
import sqlite3
import subprocess
import urllib.request

import libtorrent as lt
import pytest

from support.filtersite import LINK_RE, image, make_site
from harness.apache import start_apache
from support.clients import QBittorrent, transmission_download
from support.lt_client import Client, sha256
from harness.ports import free_port
from torrentweb.naming import BUNDLE_NAME

INDEX = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"><title>Gallery</title>
</head>
<body>
<img src="img/a.jpg" alt="a">
<img src="img/tiny.gif" srcset="img/b.png 1x, /img/c.jpg 2x">
<!-- <img src="img/commented.jpg"> -->
<img src="https://elsewhere.example/x.jpg">
<a href="docs/notes.txt" download>notes</a>
</body>
</html>
"""
COPY = b"""<html><head><title>Same images</title></head><body>
<picture><source srcset="../img/c.jpg"><img src="../img/b.png"></picture><img src=/img/a.jpg>
</body></html>
"""
PLAIN = b"<!DOCTYPE html>\n<html><head><title>Words</title></head><body><p>No images.</p></body></html>\n"
VIDEO = b"""<!doctype html><html><head><title>Film</title></head><body>
<video src="media/big.webm" poster="img/a.jpg"></video></body></html>
"""
NOHEAD = b"<p>Just a fragment <img src='img/a.jpg'></p>\n"
UTF16 = "\ufeff<html><head></head><body><img src='img/a.jpg'></body></html>".encode("utf-16-le")


APP = """
from torrentweb.apache import middleware

PAGE = b"<html><head><title>App</title></head><body><img src='/img/a.jpg'><img src='/img/b.png'>" \\
       b"<img src='/img/c.jpg'></body></html>"


def app(environ, start_response):
    if environ["PATH_INFO"] == "/json":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"img": "<img src=/img/a.jpg>"}']
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("ETag", '"v1"'),
                              ("Content-Length", str(len(PAGE)))])
    return [PAGE[:20], PAGE[20:]]


application = middleware(app, "@CONFIG@")
"""
APP_CONF = """
WSGIDaemonProcess testapp user=www-data group=www-data threads=4 lang=C.UTF-8 locale=C.UTF-8
WSGIScriptAlias /app @APP@ process-group=testapp application-group=%{GLOBAL}
<Location /app>
    Require all granted
</Location>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = make_site(tmp_path_factory.mktemp("filter"))
    s.add("img/a.jpg", image(1, 5000))
    s.add("img/b.png", image(2, 3000))
    s.add("img/c.jpg", image(3, 4000))
    s.add("img/tiny.gif", image(4, 100))            # under the rule's min_size: not published
    s.add("media/big.webm", image(5, 300 * 1024))   # over pages.large_file_size: its own torrent
    s.add("docs/notes.txt", b"not an image\n" * 200)
    for rel, body in [("index.html", INDEX), ("sub/copy.html", COPY), ("plain.html", PLAIN),
                      ("video.html", VIDEO), ("nohead.html", NOHEAD), ("utf16.html", UTF16)]:
        s.add(rel, body)
    s.catalogue_files()
    (s.root / "app.wsgi").write_text(APP.replace("@CONFIG@", str(s.root / "torrentweb.yaml")))
    s.server = start_apache(s.root, s.config, extra=APP_CONF.replace("@APP@", str(s.root / "app.wsgi")))
    try:
        yield s
    finally:
        s.server.stop()
        s.catalogue.close()


def get(site, path, headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def paths_in(raw) -> list[str]:
    return [b"/".join(f[b"path"]).decode() for f in raw[b"info"][b"files"]]


def links(body: bytes) -> list[str]:
    return [m.decode() for m in LINK_RE.findall(body)]


def requested(site) -> dict[str, list[str]]:
    with sqlite3.connect(site.config.catalogue_path) as db:
        return {k: json.loads(p) for k, p in db.execute("SELECT key, paths FROM bundle_requests")}


def linked_page(site, path):
    """The page once its bundle is built: the first request queues it, the daemon builds it."""
    status, _, body = get(site, path)
    assert status == 200
    if not links(body) or len(links(body)) < 2 and path == "/video.html":
        site.build_requested()
        status, _, body = get(site, path)
    return body


def test_first_visit_queues_the_bundle_and_serves_the_page_unchanged(site):
    status, headers, body = get(site, "/index.html")
    assert status == 200 and body == INDEX
    assert list(requested(site).values()) == [["img/a.jpg", "img/b.png", "img/c.jpg"]]


def test_page_gets_exactly_one_link_whose_torrent_lists_exactly_its_published_assets(site, lt_torrent):
    body = linked_page(site, "/index.html")
    (href,) = links(body)
    assert href.startswith("/.torrentweb/t/") and href.endswith(".torrent")
    # the only change is the insertion right after <head>: the link, the loader (a cold page)
    loader = re.search(rb'<script defer (?:fetchpriority="low" )?src="/\.torrentweb/js/torrentweb-loader\.js"[^>]*></script>\n', body)
    assert loader, body
    assert body.replace(LINK_RE.search(body).group(0) + b"\n", b"", 1).replace(loader.group(0), b"", 1) == \
        INDEX.replace(b"<head>\n", b"<head>\n\n", 1)
    with urllib.request.urlopen(site.server.url + href.lstrip("/")) as r:
        assert r.headers["Content-Type"] == "application/x-bittorrent"
        assert "immutable" in r.headers["Cache-Control"]
        data = r.read()
    info, raw = lt_torrent(data)
    assert raw[b"info"][b"name"] == BUNDLE_NAME.encode()     # never the docroot's own name
    assert paths_in(raw) == ["img/a.jpg", "img/b.png", "img/c.jpg"]     # no .pad/N entries
    assert not any(f.get(b"attr") for f in raw[b"info"][b"files"])      # no pad attribute
    assert raw[b"url-list"] in (site.server.url.encode() + b".torrentweb/seed/",
                                [site.server.url.encode() + b".torrentweb/seed/"])
    assert b"creation date" not in raw and b"created by" not in raw
    ih = info.info_hashes().v1
    assert href == f"/.torrentweb/t/{ih}/{ih}.torrent"


def test_same_page_twice_and_another_page_with_the_same_assets_share_the_info_hash(site):
    first = links(linked_page(site, "/index.html"))
    assert links(get(site, "/index.html")[2]) == first
    assert links(linked_page(site, "/sub/copy.html")) == first


def test_page_without_published_assets_is_byte_identical(site):
    for path, on_disk in [("/plain.html", PLAIN), ("/utf16.html", UTF16)]:
        status, headers, body = get(site, path)
        assert status == 200 and body == on_disk
        assert headers["content-length"] == str(len(on_disk))


def test_large_asset_is_linked_by_its_own_single_file_torrent(site, lt_torrent):
    body = linked_page(site, "/video.html")
    bundle, single = links(body)
    assert bundle.startswith("/.torrentweb/t/")
    assert single == "/.torrentweb/files/media/big.webm.torrent"
    with urllib.request.urlopen(site.server.url + single.lstrip("/")) as r:
        _, raw = lt_torrent(r.read())
    assert raw[b"info"][b"name"] == b"big.webm" and raw[b"info"][b"length"] == 300 * 1024
    with urllib.request.urlopen(site.server.url + bundle.lstrip("/")) as r:
        _, raw = lt_torrent(r.read())
    assert paths_in(raw) == ["img/a.jpg"]


def test_page_without_head_gets_the_link_where_the_head_would_start(site):
    body = linked_page(site, "/nohead.html")
    (href,) = links(body)
    assert body.endswith(NOHEAD) and body.startswith(b"\n<link ")


def test_head_conditional_get_and_gzip(site):
    status, headers, body = get(site, "/index.html")
    assert links(body)
    etag, length = headers["etag"], headers["content-length"]
    assert int(length) == len(body)
    # HEAD: the same headers, no body
    status, h2, b2 = get(site, "/index.html", method="HEAD")
    assert status == 200 and b2 == b"" and h2["content-length"] == length and h2["etag"] == etag
    # 304 for the current ETag, also in mod_deflate's -gzip form; 200 for another
    assert get(site, "/index.html", {"If-None-Match": etag})[0] == 304
    assert get(site, "/index.html", {"If-None-Match": etag[:-1] + '-gzip"'})[0] == 304
    assert get(site, "/index.html", {"If-None-Match": '"other"'})[0] == 200
    assert get(site, "/index.html", {"If-Modified-Since": headers["last-modified"]})[0] == 304
    assert get(site, "/index.html", {"If-Modified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"})[0] == 200
    # the page without its link has another ETag than the page with it
    assert get(site, "/plain.html")[1]["etag"] != etag
    # mod_deflate still compresses the filter's output
    status, h3, zipped = get(site, "/index.html", {"Accept-Encoding": "gzip"})
    assert status == 200 and h3["content-encoding"] == "gzip"
    assert gzip.decompress(zipped) == body
    assert get(site, "/index.html", {"Accept-Encoding": "gzip",
                                     "If-None-Match": h3["etag"]})[0] == 304


def test_range_on_assets_is_served_by_apache_core(site):
    status, headers, body = get(site, "/img/a.jpg", {"Range": "bytes=100-199"})
    assert status == 206 and body == image(1, 5000)[100:200]
    assert headers["content-range"] == "bytes 100-199/5000"


def test_post_to_a_page_is_refused_and_a_missing_page_is_404(site):
    assert get(site, "/index.html", method="POST")[0] == 405
    assert get(site, "/missing.html")[0] == 404
    assert get(site, "/index.html/extra")[0] == 404       # AcceptPathInfo Off


def test_libtorrent_and_aria2c_download_the_page_bundle_from_the_web_seed_alone(site, tmp_path):
    href = links(linked_page(site, "/index.html"))[0]
    with urllib.request.urlopen(site.server.url + href.lstrip("/")) as r:
        data = r.read()
    expected = {rel: sha256(site.docroot / rel) for rel in ("img/a.jpg", "img/b.png", "img/c.jpg")}
    client = Client(tmp_path / "lt")
    try:
        h = client.add(data, trackers=False)       # no tracker, no peers: the web seed only
        client.wait_seeding(h, timeout=60)
    finally:
        client.close()
    assert {rel: sha256(tmp_path / "lt" / BUNDLE_NAME / rel) for rel in expected} == expected
    (tmp_path / "x.torrent").write_bytes(data)
    port = free_port()
    aria = subprocess.run(
        ["aria2c", "-d", str(tmp_path / "aria"), "--seed-time=0", "--bt-enable-lpd=false",
         "--enable-dht=false", "--enable-dht6=false", "--enable-peer-exchange=false",
         f"--listen-port={port}", f"--dht-listen-port={free_port()}", "--file-allocation=none",
         "--bt-stop-timeout=60", "--summary-interval=0", "--disable-ipv6=true", "--quiet=true",
         "--bt-exclude-tracker=*", str(tmp_path / "x.torrent")],
        timeout=120, capture_output=True, text=True)
    assert aria.returncode == 0, aria.stdout + aria.stderr
    assert {rel: sha256(tmp_path / "aria" / BUNDLE_NAME / rel) for rel in expected} == expected
    seed_lines = [l for l in site.server.access_log_lines() if f"/.torrentweb/seed/{BUNDLE_NAME}/img/" in l]
    assert seed_lines and all('" 20' in l for l in seed_lines)


def test_transmission_and_qbittorrent_download_the_page_bundle_from_the_web_seed_alone(site, tmp_path):
    """The web seed is the files' own URLs ([PT]): the clients that build their requests in
    other ways (transmission: a 32 KiB range per piece) still get exactly the files."""
    href = links(linked_page(site, "/index.html"))[0]
    with urllib.request.urlopen(site.server.url + href.lstrip("/")) as r:
        meta = lt.bdecode(r.read())
    for key in (b"announce", b"announce-list"):
        meta.pop(key, None)                          # no tracker: the web seed alone
    data = lt.bencode(meta)
    (tmp_path / "seed-only.torrent").write_bytes(data)
    expected = {rel: sha256(site.docroot / rel) for rel in ("img/a.jpg", "img/b.png", "img/c.jpg")}

    def got(folder):
        return all((folder / BUNDLE_NAME / rel).is_file() and sha256(folder / BUNDLE_NAME / rel) == digest
                   for rel, digest in expected.items())
    transmission_download(tmp_path / "seed-only.torrent", tmp_path / "tr", done=lambda: got(tmp_path / "tr"))
    with QBittorrent(tmp_path / "qbt") as qbt:
        qbt.download(data, tmp_path / "qb", lt.torrent_info(data).info_hashes().v1.to_bytes().hex())
    assert got(tmp_path / "tr") and got(tmp_path / "qb")
    seed_lines = [l for l in site.server.access_log_lines() if f"/.torrentweb/seed/{BUNDLE_NAME}/img/" in l]
    assert seed_lines and all('" 20' in l for l in seed_lines)


def test_wsgi_app_wrapped_in_the_middleware_gets_the_same_link(site):
    static = links(linked_page(site, "/index.html"))
    status, headers, body = get(site, "/app/page")
    assert status == 200 and links(body) == static
    assert headers["content-length"] == str(len(body))
    assert headers["etag"].startswith('"v1-tw')
    assert get(site, "/app/page", {"If-None-Match": headers["etag"]})[0] == 304
    status, headers, body = get(site, "/app/json")          # not text/html: untouched
    assert body == b'{"img": "<img src=/img/a.jpg>"}'
