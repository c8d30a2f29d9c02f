"""Pages no file holds get their torrent links too: PHP through mod_php (prefork) and php-fpm
(event), a CGI script, and an app behind ProxyPass answering gzip and chunked; real httpd with
the snippet's mod_lua filter, the real daemon fetching each requested page as the anonymous
visitor, aria2c taking the bundle from the web seed.

Each page's bytes are known (the PHP, CGI and upstream pages send files of raw/ as they are),
so what arrives is compared byte for byte: the page as the static filter would render those
bytes (the same link, loader and swap), or exactly those bytes when it must pass unchanged.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import threading
import urllib.parse
from pathlib import Path

import libtorrent as lt
import pytest

from harness.apache import grant_web_access, http_get
from support.clients import aria2c_download
from harness.daemon import daemon_behind_apache, make_site
from harness.php import MOD_PHP, php_fpm
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.config import load
from torrentweb.naming import BUNDLE_NAME
from torrentweb.page.loadertag import default_loader_dir
from torrentweb.page.render import PageFilter, Settings

MAX_PAGE = 64 * 1024
REVALIDATE = 2
ASSETS = {"img/a.png": 1, "img/a2x.png": 2, "img/pic.png": 3, "video/clip.webm": 4}
PROTECTED = "priv/secret.png"


def data(seed: int, size: int = 40_000) -> bytes:
    return hashlib.sha256(b"%d" % seed).digest() * (size // 32)


def page(title: str, extra: str = "") -> bytes:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>\n'
            f'<body><h1>{title}</h1>\n<img src="/img/a.png" srcset="/img/a2x.png 2x" alt="a">\n'
            '<picture><source srcset="/img/pic.png" type="image/png"><img src="/img/pic.png" alt="p"></picture>\n'
            '<video src="/video/clip.webm" controls></video>\n'
            f'<img src="/{PROTECTED}" alt="secret">{extra}\n</body></html>\n').encode()


RAW = {
    "page": page("Dynamic"),
    "split": page("Split"),                       # sent in two parts, cut inside "<head>"
    "big": page("Big", "<p>" + "x" * MAX_PAGE + "</p>"),     # over pages.max_page_size
    "binary": b"<!doctype html><html><head>" + bytes(range(256)) * 64,   # not HTML, sent as text/html
    "personal": page("Hello"),                    # a cookie changes what a visitor gets
    "changing": page("Changing"),                 # its assets change while it is served
}
PHP = {
    "page.php": '<?php readfile(__DIR__ . "/raw/page.txt");',
    "split.php": '<?php $b = file_get_contents(__DIR__ . "/raw/split.txt"); $i = strpos($b, "<he") + 3;'
                 ' echo substr($b, 0, $i); flush(); usleep(100000); echo substr($b, $i);',
    "big.php": '<?php readfile(__DIR__ . "/raw/big.txt");',
    "gzip.php": '<?php ob_start("ob_gzhandler"); readfile(__DIR__ . "/raw/page.txt");',
    "prepend.php": '<?php echo basename(ini_get("auto_prepend_file"));',
    "changing.php": '<?php readfile(__DIR__ . "/raw/changing.txt");',
    "staff/page.php": '<?php readfile(__DIR__ . "/../raw/page.txt");',
    "etag.php": '<?php header("ETag: \\"v7\\""); readfile(__DIR__ . "/raw/page.txt");',
    "binary.php": '<?php header("Content-Type: text/html"); readfile(__DIR__ . "/raw/binary.txt");',
    "personal.php": '<?php $b = file_get_contents(__DIR__ . "/raw/personal.txt");'
                    ' if (isset($_COOKIE["who"])) { $b = str_replace("<html lang=\\"en\\">", '
                    '"<html lang=\\"en\\" class=\\"member\\">", $b); }'
                    ' if (isset($_COOKIE["extra"])) { $b = str_replace("</h1>", '
                    '"</h1><img src=\\"/img/you.png\\">", $b); } echo $b;',
}
CGI = ("#!/bin/sh\nprintf 'Content-Type: text/html\\r\\n\\r\\n'\n"
       "head -c 30 \"{raw}\"\nsleep 0.1\ntail -c +31 \"{raw}\"\n")


class Upstream(http.server.BaseHTTPRequestHandler):
    """A small app behind ProxyPass: /app/page gzip-compressed and chunked, /app/br "brotli"."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/app/page":
            body, encoding = gzip.compress(RAW["page"]), "gzip"
        elif self.path == "/app/br":
            body, encoding = b"\x1b\x2f\x00\x00" + data(9, 3000), "br"   # bytes no filter can read
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Encoding", encoding)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), 700):
            piece = body[i:i + 700]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


get = http_get

def dynamic_site(tmp, port: int, pages: dict):
    """The assets, the protected image, the raw pages and a CGI script that sends one: (site, CGI
    directory), readable by Apache's user."""
    site = make_site(tmp, base_url=f"http://127.0.0.1:{port}/",
                     rules=[{"mimetype": "image/*"}, {"mimetype": "video/*"}], pages=pages)
    for rel, seed in ASSETS.items():
        site.add(rel, data(seed))
    site.add(PROTECTED, data(99))
    site.add("img/you.png", data(7))
    site.add("priv/.htaccess", b"Require all denied\n")
    for name, body in RAW.items():
        site.add(f"raw/{name}.txt", body)
    cgi = tmp / "cgi-bin"
    cgi.mkdir()
    (cgi / "page.cgi").write_text(CGI.format(raw=site.docroot / "raw" / "page.txt"))
    (cgi / "page.cgi").chmod(0o755)
    grant_web_access(load(site.config_path), default_loader_dir(), cgi)
    return site, cgi


def cgi_config(cgi, module: str, tmp) -> str:
    """mod_cgi (prefork) or mod_cgid (event, with its socket) serving /cgi-bin/."""
    sock = f'ScriptSock "{tmp}/cgid.sock"\n' if module == "cgid" else ""
    return (f"LoadModule {module}_module /usr/lib/apache2/modules/mod_{module}.so\n{sock}"
            f'ScriptAlias "/cgi-bin/" "{cgi}/"\n<Directory "{cgi}">\n    Require all granted\n</Directory>\n')


@pytest.fixture(scope="module", params=["mod_php", "php-fpm"])
def origin(request, tmp_path_factory):
    """mod_php with mpm_prefork (and mod_cgi), or php-fpm with mpm_event (and mod_cgid); both
    with the same site, a CGI script and a ProxyPass'd upstream."""
    tmp = tmp_path_factory.mktemp(request.param)
    port = free_port()
    site, cgi = dynamic_site(tmp, port, {"p2p": "always", "max_page_size": f"{MAX_PAGE // 1024}KiB",
                                         "dynamic": {"revalidate": REVALIDATE, "fetches_per_minute": 600}})
    for name, code in PHP.items():
        site.add(name, code.encode())
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    common = (f'<Directory "{site.docroot}">\n    AllowOverride All\n</Directory>\n'
              '<Location "/staff/">\n    Require ip 127.0.0.1\n</Location>\n'
              f'ProxyPass "/app/" "http://127.0.0.1:{upstream.server_port}/app/"\n')
    try:
        if request.param == "mod_php":
            extra = MOD_PHP + cgi_config(cgi, "cgi", tmp) + common
            with daemon_behind_apache(site, tmp, port=port, extra=extra, mpm="prefork") as (server, daemon):
                yield site, server, daemon
        else:
            with php_fpm(tmp) as fpm:
                extra = fpm.apache_config + cgi_config(cgi, "cgid", tmp) + common
                with daemon_behind_apache(site, tmp, port=port, extra=extra) as (server, daemon):
                    yield site, server, daemon
    finally:
        upstream.shutdown()
        upstream.server_close()


def expected(site, raw: bytes, path: str) -> bytes:
    """The page as the static pages' filter renders these bytes (the same catalogue)."""
    rendered = PageFilter(Settings.from_config(load(site.config_path))).render(raw, path)
    assert rendered.injected, "the static filter links nothing: the test's page is wrong"
    return rendered.body


def linked(server, target, headers=None):
    """The page once the daemon has prepared it (the first requests pass unchanged)."""
    def ready():
        status, hdrs, body = get(server.port, target, headers)
        return (status, hdrs, body) if b'rel="torrent"' in body else None
    return wait_for(ready, 60, interval=0.3, what=f"{target} carrying its torrent link")


@pytest.mark.parametrize("target", ["/page.php", "/cgi-bin/page.cgi", "/app/page"])
def test_a_dynamic_page_gets_the_static_pages_link_loader_and_swap(origin, target):
    site, server, daemon = origin
    status, headers, body = linked(server, target)
    assert status == 200
    assert body == expected(site, RAW["page"], urllib.parse.urlsplit(target).path)
    assert b"torrentweb-loader.js" in body and b'data-torrent-srcset="/img/a2x.png 2x"' in body
    assert b'<source data-torrent-srcset="/img/pic.png"' in body
    assert f'<img src="/{PROTECTED}" alt="secret">'.encode() in body      # not swapped: HTTP
    assert "content-length" not in headers or int(headers["content-length"]) == len(body)


def bundle_of(server, body):
    href = re.search(rb'rel="torrent" href="([^"]+)"', body).group(1).decode()
    status, _, torrent = get(server.port, href)
    assert status == 200
    return torrent


def test_the_bundle_holds_the_pages_public_assets_and_aria2c_gets_it_from_the_web_seed(origin, tmp_path):
    site, server, daemon = origin
    torrent = bundle_of(server, linked(server, "/page.php")[2])
    files = sorted("/".join(p.decode() for p in f[b"path"]) for f in lt.bdecode(torrent)[b"info"][b"files"])
    assert files == sorted(ASSETS)                      # the protected image is not in it
    (tmp_path / "page.torrent").write_bytes(torrent)
    mark = len(server.access_log_lines())
    aria2c_download(tmp_path / "page.torrent", tmp_path / "aria", extra=("--bt-exclude-tracker=*",))
    for rel, seed in ASSETS.items():
        assert (tmp_path / "aria" / BUNDLE_NAME / rel).read_bytes() == data(seed)
    seeded = [l for l in server.access_log_lines()[mark:] if f"/.torrentweb/seed/{BUNDLE_NAME}/" in l]
    assert seeded and all('" 20' in l for l in seeded), seeded
    assert "priv/secret.png" not in site.catalogue()


def test_head_split_across_buckets_still_gets_the_link(origin):
    site, server, daemon = origin
    status, _, body = linked(server, "/split.php")
    assert body == expected(site, RAW["split"], "/split.php")


def unchanged(server, target, raw, headers=None, settle=("/page.php",)):
    """Requested until the daemon has had its look (it fetched the page), then byte-identical."""
    get(server.port, target, headers)
    for ready in settle:
        linked(server, ready)                   # the daemon works in request order
    wait_for(lambda: any(target in l and l.startswith("203.0.113.9 ")
                         for l in server.access_log.read_text().splitlines()), 60,
             what=f"the daemon's anonymous fetch of {target}")
    for _ in range(3):
        status, headers_, body = get(server.port, target, headers)
        assert status == 200 and body == raw, (target, body[:300])
    return headers_


@pytest.mark.parametrize("name", ["big", "binary"])
def test_a_page_too_large_or_not_html_passes_byte_identical(origin, name):
    site, server, daemon = origin
    unchanged(server, f"/{name}.php", RAW[name])


def test_brotli_from_the_upstream_passes_byte_identical(origin):
    site, server, daemon = origin
    status, headers, body = get(server.port, "/app/br", {"Accept-Encoding": "br"})
    assert headers.get("content-encoding") == "br"
    assert body == b"\x1b\x2f\x00\x00" + data(9, 3000)


def test_gzip_from_the_upstream_is_read_and_the_client_gets_a_readable_page(origin):
    site, server, daemon = origin
    status, headers, body = linked(server, "/app/page", {"Accept-Encoding": "gzip"})
    if headers.get("content-encoding") == "gzip":      # the site's DEFLATE compresses it again
        body = gzip.decompress(body)
    assert body == expected(site, RAW["page"], "/app/page")


def test_a_php_app_that_gzips_its_own_output_gets_a_readable_page_with_its_link(origin):
    site, server, daemon = origin

    def linked_page():
        status, headers, body = get(server.port, "/gzip.php", {"Accept-Encoding": "gzip"})
        assert status == 200
        if headers.get("content-encoding") == "gzip":  # PHP's or the site's DEFLATE
            body = gzip.decompress(body)
        return body if b'rel="torrent"' in body else None
    body = wait_for(linked_page, 60, interval=0.3, what="/gzip.php carrying its torrent link")
    assert body == expected(site, RAW["page"], "/gzip.php")


def test_php_pages_get_the_markup_from_php_and_apache_keeps_its_signal_to_itself(origin):
    """Inside pages.dynamic.paths PHP runs torrentweb's prepend file (no Lua state per request);
    the header that keeps the Lua filter away never reaches the visitor."""
    site, server, daemon = origin
    status, headers, body = get(server.port, "/prepend.php")
    assert status == 200 and body == b"dynamic.php"
    status, headers, body = linked(server, "/page.php")
    assert "x-torrentweb-dynamic" not in headers


def test_a_visitor_whose_page_starts_otherwise_gets_it_unchanged(origin):
    site, server, daemon = origin
    linked(server, "/personal.php")
    member = RAW["personal"].replace(b'<html lang="en">', b'<html lang="en" class="member">')
    for _ in range(3):
        assert get(server.port, "/personal.php", {"Cookie": "who=me"})[2] == member


def test_a_personalised_page_keeps_the_anonymous_swaps_and_its_own_images_load_by_http(origin):
    site, server, daemon = origin
    anonymous = linked(server, "/personal.php")[2]
    status, _, body = get(server.port, "/personal.php", {"Cookie": "extra=1"})
    assert body == anonymous.replace(b"</h1>", b'</h1><img src="/img/you.png">')


def test_torrentweb_never_sees_the_protected_image_or_the_php_source(origin):
    site, server, daemon = origin
    linked(server, "/page.php")
    catalogue = site.catalogue()
    assert PROTECTED not in catalogue and "page.php" not in catalogue
    for url in (f"/.torrentweb/seed/{BUNDLE_NAME}/page.php", f"/.torrentweb/seed/{BUNDLE_NAME}/{PROTECTED}",
                f"/.torrentweb/files/{PROTECTED}.torrent"):
        assert get(server.port, url)[0] in (403, 404), url


def test_the_pages_etag_changes_with_what_torrentweb_adds(origin):
    site, server, daemon = origin
    status, headers, body = linked(server, "/etag.php")
    assert re.fullmatch(r'"v7-tw[0-9a-f]{8}"', headers["etag"]), headers
    assert body == expected(site, RAW["page"], "/etag.php")


def test_a_page_whose_assets_change_gets_a_new_bundle_once_fetched_again(origin):
    site, server, daemon = origin
    old = bundle_of(server, linked(server, "/changing.php")[2])
    site.add("img/new.png", data(42))
    wait_for(lambda: daemon.published("img/new.png"), 30, what="img/new.png published")
    raw = RAW["changing"].replace(b"</h1>", b'</h1><img src="/img/new.png">')
    site.add("raw/changing.txt", raw)

    def rebuilt():
        status, _, body = get(server.port, "/changing.php")
        if b'rel="torrent"' in body and bundle_of(server, body) != old:
            return body
    body = wait_for(rebuilt, 60, interval=0.5, what="the page linking a new bundle")
    files = {"/".join(p.decode() for p in f[b"path"])
             for f in lt.bdecode(bundle_of(server, body))[b"info"][b"files"]}
    assert files == set(ASSETS) | {"img/new.png"}
    assert body == expected(site, raw, "/changing.php")


def test_a_page_only_some_visitors_may_see_is_never_fetched_for_them_and_passes_unchanged(origin):
    """/staff/ is for this machine's visitors alone: the daemon, asking as a visitor from the
    Internet, is refused, so nothing of the page is prepared and it passes byte-identical."""
    site, server, daemon = origin
    unchanged(server, "/staff/page.php", RAW["page"])
    daemon.wait_log("dynamic page /staff/page.php: the anonymous visitor gets 403")
    assert not any(b"/staff/" in p.read_bytes() for p in (site.state / "dynamic" / "pages").iterdir())


@pytest.fixture(scope="module")
def auto_origin(tmp_path_factory):
    """pages.p2p: auto with low thresholds (4 views within 5 s: hot); the CGI page (mpm_event)."""
    tmp = tmp_path_factory.mktemp("auto")
    port = free_port()
    site, cgi = dynamic_site(tmp, port, {"p2p": "auto", "hot": {"views": 4, "window": 5,
                                                                "cool_down": 3, "swarm": 99}})
    with daemon_behind_apache(site, tmp, port=port, extra=cgi_config(cgi, "cgid", tmp)) as (server, daemon):
        yield site, server, daemon


def test_a_dynamic_page_is_swapped_only_while_it_is_hot(auto_origin):
    site, server, daemon = auto_origin
    cold = linked(server, "/cgi-bin/page.cgi")[2]
    assert b"torrentweb-loader" in cold, cold[:600]
    assert b"data-torrent-src=" not in cold                                    # cold: plain HTTP
    for _ in range(6):
        get(server.port, "/cgi-bin/page.cgi")
    daemon.wait_log("page /cgi-bin/page.cgi is hot: the swarm first")
    hot = wait_for(lambda: (b := get(server.port, "/cgi-bin/page.cgi")[2]) and b"data-torrent-src=" in b and b,
                   30, interval=0.3, what="the hot page's swapped assets")
    want = PageFilter(Settings.from_config(load(site.config_path))).render(
        RAW["page"], "/cgi-bin/page.cgi", hot=True).body
    assert hot == want
    daemon.wait_log("page /cgi-bin/page.cgi is cold: plain HTTP", timeout=60)
    wait_for(lambda: b"data-torrent-src=" not in get(server.port, "/cgi-bin/page.cgi")[2], 30,
             interval=0.3, what="the page plain again once cold")
