"""Never publish what Apache would refuse: one real httpd with Debian's mod_php (prefork), the
site's own rules of every kind, the real daemon, a page that embeds a protected image of each.

For each rule kind the protected image is not published (no catalogue row, no torrent, not in the
page's bundle, 404 from the web seed and the torrent URL), and a libtorrent client given its
info-hash by hand gets nothing from the seeder and no peers from the tracker, while the same
client gets the public image: the check can fail. A published image that one visitor may not
fetch (a per-address rule) gets 403 on every torrentweb URL for that visitor alone.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import libtorrent as lt
import pytest

from harness.apache import start_apache
from harness.daemon import daemon_behind_apache, make_site, start_daemon
from support.lt_client import Client
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.config import load
from torrentweb.seeder import builder

PHP_SECRET = b"hunter2-not-for-the-public"
PUBLIC = ("pub/ok.png", "pub/with space.png")

# kind -> (the protected image, rules in .htaccess beside it, rules in the server config)
KINDS = {
    "htaccess_denied": ("htdeny/x.png", "Require all denied\n", ""),
    "htaccess_basic_auth": ("htauth/x.png", "AuthType Basic\nAuthName private\n"
                            "AuthUserFile {htpasswd}\nRequire valid-user\n", ""),
    "htaccess_deny_from_all": ("htcompat/x.png", "Order deny,allow\nDeny from all\n", ""),
    "directory": ("dir/x.png", "", '<Directory "{docroot}/dir">\n    Require all denied\n</Directory>'),
    "location": ("loc/x.png", "", '<Location "/loc">\n    Require all denied\n</Location>'),
    "locationmatch": ("locm/x.png", "", '<LocationMatch "^/locm/">\n    Require all denied\n</LocationMatch>'),
    "files": ("filesrule/secret.png", "", '<Files "secret.png">\n    Require all denied\n</Files>'),
    "rewrite_forbidden": ("rwf/x.png", "", 'RewriteEngine On\nRewriteRule "^/rwf/" - [F]'),
    "rewrite_gone_htaccess": ("rwg/x.png", "RewriteEngine On\nRewriteRule ^ - [G]\n", ""),
    "require_ip_intranet": ("lan/x.png", "", '<Location "/lan">\n    Require ip 10.0.0.0/8\n</Location>'),
    "require_host": ("host/x.png", "", '<Location "/host">\n    Require host intranet.example.org\n</Location>'),
    "require_local": ("local/x.png", "", '<Location "/local">\n    Require local\n</Location>'),
}
# published (an anonymous visitor may fetch it), but not by a visitor from 127.0.0.3
PARTIAL = ("partial/x.png", '<Location "/partial">\n    <RequireAll>\n        Require all granted\n'
           '        Require not ip 127.0.0.3\n    </RequireAll>\n</Location>')
# Debian's default: directory listings on (mod_autoindex, Options Indexes under /var/www)
AUTOINDEX = "LoadModule autoindex_module /usr/lib/apache2/modules/mod_autoindex.so"
PHP_MODULE = """LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so
<FilesMatch ".+\\.ph(ar|p|tml)$">
    SetHandler application/x-httpd-php
</FilesMatch>
"""


def image(seed: int, size: int = 30_000) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32)


def every_image():
    return [*PUBLIC, PARTIAL[0], *(path for path, _, _ in KINDS.values())]


def page() -> bytes:
    imgs = "".join(f'<img src="/{urllib.parse.quote(p)}">' for p in every_image())
    return f"<!doctype html><html><head><title>All</title></head><body>{imgs}</body></html>".encode()


# What Apache sees of a visitor from the Internet (test_nobody_can_borrow_the_probes_identity
# shows that this claim gives nobody more than that)
INTERNET = {"source": "127.0.0.2", "headers": {"X-Torrentweb-Visitor": "203.0.113.9"}}


def get(port, path, source="127.0.0.1", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", urllib.parse.quote(path), headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """One site: PHP, every rule kind, the page; Apache (prefork + mod_php) and the daemon."""
    tmp = tmp_path_factory.mktemp("access")
    port = free_port()
    site = make_site(tmp, base_url=f"http://127.0.0.1:{port}/",
                     rules=[{"mimetype": "image/*"}, {"mimetype": "application/*"}],
                     mimetypes={".php": "application/x-php"})
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text("visitor:{SHA}" + base64.b64encode(hashlib.sha1(b"pw").digest()).decode() + "\n")
    htpasswd.chmod(0o644)
    server_rules = [PARTIAL[1], PHP_MODULE, AUTOINDEX, f'<Directory "{site.docroot}">\n'
                    '    AllowOverride All\n    Options +Indexes\n</Directory>']
    for i, rel in enumerate(every_image()):
        site.add(rel, image(i))
    for path, htaccess, server in KINDS.values():
        if htaccess:
            site.add(str(Path(path).parent / ".htaccess"), htaccess.format(htpasswd=htpasswd).encode())
        if server:
            server_rules.append(server.format(docroot=site.docroot))
    site.add("config.php", b'<?php $db_password = "' + PHP_SECRET + b'"; echo "configured"; ?>\n')
    site.add(".hidden.png", image(99))
    site.add("index.html", page())
    site.add("loc/page.html", page())                     # a protected page: its copy too
    with daemon_behind_apache(site, tmp, port=port, extra="\n".join(server_rules),
                              mpm="prefork") as (server, daemon):
        wait_for(lambda: daemon.published(PARTIAL[0]) and daemon.published(PUBLIC[1]), 60,
                 what="the public images published")
        yield site, server, daemon


@pytest.fixture(scope="module")
def bundle(origin):
    """The page's bundle as a visitor gets it: (its URL, the paths in it)."""
    site, server, daemon = origin

    def linked():
        status, body = get(server.port, "/index.html")
        m = re.search(rb'rel="torrent" href="([^"]+)"', body)
        return m and m.group(1).decode()
    href = wait_for(linked, 60, what="the page's bundle link")
    status, data = get(server.port, href)
    assert status == 200
    meta = lt.bdecode(data)
    return href, sorted(b"/".join(f[b"path"]).decode() for f in meta[b"info"][b"files"])


def test_php_runs_at_its_url_and_no_torrentweb_url_returns_its_source(origin, bundle):
    site, server, daemon = origin
    status, body = get(server.port, "/config.php")
    assert (status, body.strip()) == (200, b"configured")          # Apache runs it ...
    for path in ("/.torrentweb/seed/site/config.php", "/.torrentweb/files/config.php.torrent"):
        status, body = get(server.port, path)
        assert status == 404 and PHP_SECRET not in body, path       # ... torrentweb never shows it
    assert "config.php" not in site.catalogue() and "config.php" not in bundle[1]
    assert ("not published: config.php: Apache does not serve it as the plain file" in daemon.log())


def test_pages_and_hidden_files_are_not_served_by_the_web_seed(origin):
    site, server, daemon = origin
    for path in ("index.html", ".hidden.png", "nothing-here.png", "pub/"):
        assert get(server.port, "/.torrentweb/seed/site/" + path)[0] == 404, path


def test_public_images_are_bundled_and_served_by_the_web_seed(origin, bundle):
    site, server, daemon = origin
    assert bundle[1] == sorted([*PUBLIC, PARTIAL[0]])
    status, body = get(server.port, "/.torrentweb/seed/site/pub/with space.png",
                       headers={"Range": "bytes=0-99"})
    assert status == 206 and body == image(1)[:100]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_protected_image_is_not_published(origin, bundle, kind):
    site, server, daemon = origin
    rel = KINDS[kind][0]
    assert get(server.port, "/" + rel, **INTERNET)[0] in (401, 403, 410)   # the site's own rule
    assert rel not in site.catalogue()
    assert not (site.state / "torrents" / (rel + ".torrent")).exists()
    assert rel not in bundle[1]
    # 403 where this visitor may not fetch the image (-U), 404 where only the publisher knows
    assert get(server.port, f"/.torrentweb/files/{rel}.torrent")[0] in (403, 404)
    assert get(server.port, f"/.torrentweb/seed/site/{rel}")[0] in (403, 404)
    assert f"not published: {rel}: Apache answers" in daemon.log()


def test_seeder_and_tracker_give_nothing_for_protected_info_hashes(origin, tmp_path):
    """A client that built each protected image's torrent itself (same bytes, same piece size,
    same name) asks the tracker and dials the seeder: nothing; the public image comes."""
    site, server, daemon = origin
    cfg = load(site.config_path)
    seeder = ("127.0.0.1", int(cfg.seeder.listen.port))
    client = Client(tmp_path / "dl")
    try:
        handles = {}
        for rel in [PUBLIC[0], *(p for p, _, _ in KINDS.values())]:
            built = builder.build_file(site.docroot, rel, (site.docroot / rel).stat().st_size,
                                       base_url=cfg.base_url, announce=cfg.announce_urls(),
                                       web_seed=False)
            handles[rel] = (built.info_hash, client.add(built.data, web_seeds=False))
        assert handles[PUBLIC[0]][0] == site.catalogue()[PUBLIC[0]][3]   # built as the daemon does
        client.wait_seeding(handles[PUBLIC[0]][1], timeout=60, peers=[seeder])
        for rel, (info_hash, handle) in handles.items():
            if rel == PUBLIC[0]:
                continue
            handle.connect_peer(seeder)
            handle.force_reannounce()
        announce = cfg.tracker.http
        for rel, (info_hash, handle) in handles.items():
            query = "info_hash=" + urllib.parse.quote(bytes.fromhex(info_hash)) + \
                    "&peer_id=-TW0001-000000000000&port=1&uploaded=0&downloaded=0&left=1&compact=1"
            conn = http.client.HTTPConnection(announce.host, announce.port, timeout=10)
            conn.request("GET", "/announce?" + query)
            reply = conn.getresponse().read()
            conn.close()
            tracked = b"failure reason" not in reply
            assert tracked == (rel == PUBLIC[0]), (rel, reply)
        wait_for(lambda: all(h.status().num_peers == 0 for r, (_, h) in handles.items() if r != PUBLIC[0]),
                 20, what="the seeder refusing every protected info-hash")
        for rel, (info_hash, handle) in handles.items():
            if rel != PUBLIC[0]:
                st = handle.status()
                assert (st.total_payload_download, st.progress) == (0, 0), rel
    finally:
        client.close()


def test_a_visitor_refused_an_image_is_refused_its_torrent_web_seed_and_bundle(origin, bundle):
    """partial/x.png is public, but not for 127.0.0.3: Apache's own check (-U) on every
    torrentweb URL refuses that visitor what the image's URL refuses it."""
    site, server, daemon = origin
    rel = PARTIAL[0]
    urls = [f"/{rel}", f"/.torrentweb/files/{rel}.torrent", f"/.torrentweb/seed/site/{rel}", bundle[0]]
    assert [get(server.port, u)[0] for u in urls] == [200, 200, 200, 200]
    assert [get(server.port, u, source="127.0.0.3")[0] for u in urls] == [403, 403, 403, 403]
    # a public image's torrent is not refused to that visitor
    assert get(server.port, f"/.torrentweb/files/{PUBLIC[0]}.torrent", source="127.0.0.3")[0] == 200


def test_nobody_can_borrow_the_probes_identity(origin):
    """From the probe's address, a claim to be any other visitor (an intranet one) is refused."""
    site, server, daemon = origin
    claim = {"X-Torrentweb-Visitor": "10.1.2.3"}
    assert get(server.port, "/lan/x.png", source="127.0.0.2", headers=claim)[0] == 403
    assert get(server.port, f"/{PUBLIC[0]}", source="127.0.0.2", headers=claim)[0] == 403
    assert get(server.port, f"/{PUBLIC[0]}", source="127.0.0.2",
               headers={"X-Torrentweb-Visitor": "203.0.113.9"})[0] == 200


@pytest.fixture
def small_origin(tmp_path):
    """A fresh site with two public images, Apache then the daemon, re-checks every 2 s."""
    port = free_port()
    site = make_site(tmp_path, base_url=f"http://127.0.0.1:{port}/", access={"recheck": 2})
    site.add("pub/a.png", image(1))
    site.add("other/b.png", image(2))
    site.add("index.html", b'<html><head></head><body><img src="/pub/a.png"><img src="/other/b.png"></body></html>')
    extra = f'<Directory "{site.docroot}">\n    AllowOverride All\n</Directory>'
    with daemon_behind_apache(site, tmp_path, port=port, extra=extra) as (server, daemon):
        wait_for(lambda: {"pub/a.png", "other/b.png"} <= set(site.catalogue()), 60,
                 what="both images published")
        yield site, server, daemon


def tracked(site, rel) -> bool:
    """Does the daemon's tracker answer an announce for rel's catalogued (or last) info-hash?"""
    cfg = load(site.config_path)
    info_hash = builder.build_file(site.docroot, rel, (site.docroot / rel).stat().st_size,
                                   base_url=cfg.base_url, announce=cfg.announce_urls()).info_hash
    query = ("info_hash=" + urllib.parse.quote(bytes.fromhex(info_hash)) +
             "&peer_id=-TW0001-000000000001&port=1&uploaded=0&downloaded=0&left=1&compact=1")
    conn = http.client.HTTPConnection(cfg.tracker.http.host, cfg.tracker.http.port, timeout=10)
    conn.request("GET", "/announce?" + query)
    reply = conn.getresponse().read()
    conn.close()
    return b"failure reason" not in reply


def bundled(server) -> list[str] | None:
    """The paths in the bundle that index.html links now (None while it links none)."""
    status, body = get(server.port, "/index.html")
    m = re.search(rb'rel="torrent" href="([^"]+)"', body)
    if not m:
        return None
    status, data = get(server.port, m.group(1).decode())
    if status != 200:
        return None
    return sorted(b"/".join(f[b"path"]).decode() for f in lt.bdecode(data)[b"info"][b"files"])


def test_an_htaccess_deny_withdraws_the_files_it_governs_and_its_removal_publishes_them(small_origin):
    site, server, daemon = small_origin
    assert tracked(site, "pub/a.png")
    wait_for(lambda: bundled(server) == ["other/b.png", "pub/a.png"], 30, what="the page's bundle")
    htaccess = site.add("pub/.htaccess", b"Require all denied\n")
    wait_for(lambda: "pub/a.png" not in site.catalogue(), 30, what="pub/a.png withdrawn")
    wait_for(lambda: bundled(server) == ["other/b.png"], 30, what="a bundle without pub/a.png")
    assert get(server.port, "/.torrentweb/files/pub/a.png.torrent")[0] in (403, 404)
    assert get(server.port, "/.torrentweb/seed/site/pub/a.png")[0] in (403, 404)
    assert not tracked(site, "pub/a.png")
    assert "other/b.png" in site.catalogue() and tracked(site, "other/b.png")   # only what it governs
    htaccess.unlink()
    wait_for(lambda: "pub/a.png" in site.catalogue(), 30, what="pub/a.png published again")
    wait_for(lambda: tracked(site, "pub/a.png"), 10, what="pub/a.png tracked again")
    assert get(server.port, "/.torrentweb/files/pub/a.png.torrent")[0] == 200
    wait_for(lambda: bundled(server) == ["other/b.png", "pub/a.png"], 30, what="pub/a.png bundled again")


def test_a_server_config_change_is_picked_up_by_the_periodic_recheck(small_origin):
    """access.recheck: a <Location> deny added to httpd's config (graceful restart) withdraws."""
    site, server, daemon = small_origin
    conf = server.root / "httpd.conf"
    conf.write_text(conf.read_text() + '\n<Location "/other">\n    Require all denied\n</Location>\n')
    subprocess.run(["/usr/sbin/apache2", "-f", str(conf), "-k", "graceful"], check=True)
    wait_for(lambda: "other/b.png" not in site.catalogue(), 30, what="other/b.png withdrawn")
    assert not tracked(site, "other/b.png")
    assert "pub/a.png" in site.catalogue()


def test_without_an_answer_from_apache_nothing_is_published(tmp_path):
    """Fail closed: Apache without torrentweb's snippet cannot vouch for anything; the log says
    why and which keys change it."""
    port = free_port()
    site = make_site(tmp_path, base_url=f"http://127.0.0.1:{port}/", access={"check": "probe"})
    site.add("pub/a.png", image(1))
    server = start_apache(tmp_path, load(site.config_path), port=port, snippet="# no torrentweb\n")
    try:
        daemon = start_daemon(site, tmp_path / "daemon.log")
        try:
            daemon.wait_log("does not have torrentweb's snippet")
            assert (f"cannot ask Apache at http://127.0.0.1:{port}/ whether files may be published: "
                    "it does not have torrentweb's snippet for this configuration (access-check "
                    "answered 403 without the snippet's mark; see apache-config); nothing new is published until it answers "
                    "(set access.probe_url to where this server's Apache listens, or access.check: "
                    "off to publish by the YAML rules alone)") in daemon.log()
            assert site.catalogue() == {}
        finally:
            daemon.stop()
    finally:
        server.stop()


def test_nothing_under_the_prefix_lists_a_directory_or_serves_what_is_not_for_the_public(origin, bundle):
    site, server, daemon = origin
    href = bundle[0]
    folder = href.rsplit("/", 1)[0]
    for path in ("/.torrentweb/", "/.torrentweb/t/", folder + "/", folder + "/.htaccess",
                 "/.torrentweb/files/", "/.torrentweb/files/pub/", "/.torrentweb/seed/",
                 "/.torrentweb/seed/site/", "/.torrentweb/pages/index.html",
                 "/.torrentweb/catalogue.sqlite", "/.torrentweb/files/../catalogue.sqlite"):
        status, body = get(server.port, path)
        assert status in (403, 404), (path, status, body[:200])
    assert get(server.port, "/pub/")[0] == 200      # the site's own listing is the site's business
    for path in ("/.torrentweb/status", "/.torrentweb/status.json"):   # local visitors only
        assert get(server.port, path, **INTERNET)[0] == 403


def test_a_protected_page_is_served_neither_itself_nor_its_rendered_copy(origin, bundle):
    site, server, daemon = origin
    wait_for(lambda: (site.state / "pages" / "loc" / "page.html").is_file(), 30,
             what="the daemon's rendered copy of loc/page.html")
    assert get(server.port, "/loc/page.html")[0] == 403
    assert get(server.port, "/.torrentweb/pages/loc/page.html")[0] == 403


def test_a_deny_added_while_the_daemon_was_stopped_withdraws_the_file_after_the_next_start(small_origin, tmp_path):
    site, server, daemon = small_origin
    daemon.stop()
    site.add("pub/.htaccess", b"Require all denied\n")
    again = start_daemon(site, tmp_path / "again.log")
    try:
        wait_for(lambda: "pub/a.png" not in site.catalogue(), 30, what="pub/a.png withdrawn after start")
        assert not tracked(site, "pub/a.png") and "other/b.png" in site.catalogue()
    finally:
        again.stop()


def probes_waiting(port: int) -> int:
    """Access probes (from 127.0.0.2) whose request Apache has not read: its side of the
    connection holds unread bytes (an idle kept-alive probe connection holds none)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "src", f"127.0.0.1:{port}",
                          "dst", "127.0.0.2"], capture_output=True, text=True, check=True)
    return sum(1 for line in out.stdout.splitlines() if int(line.split()[0]) > 0)


def test_a_stop_during_an_access_recheck_waits_for_it_and_then_nothing_happens(tmp_path):
    """SIGTERM while the periodic re-check waits for Apache (frozen by SIGSTOP): the daemon
    does not say "stopped" while the probes under way may still answer (a re-check that
    outlived the stop wrote to the closed catalogue and session: libtorrent crashed); once
    Apache answers it starts no other probe, stops cleanly and nothing follows "stopped"."""
    port = free_port()
    site = make_site(tmp_path, base_url=f"http://127.0.0.1:{port}/", access={"recheck": 1, "timeout": 60})
    for i in range(8):
        site.add(f"pub/{i}.png", image(i))
    extra = f'<Directory "{site.docroot}">\n    AllowOverride All\n</Directory>'
    with daemon_behind_apache(site, tmp_path, port=port, extra=extra) as (server, daemon):
        wait_for(lambda: len(site.catalogue()) == 8, 60, what="the images published")
        os.killpg(server.process.pid, signal.SIGSTOP)
        try:
            site.add("pub/.htaccess", b"Require all denied\n")
            wait_for(lambda: probes_waiting(port) > 0, 30, what="a re-check asking the frozen Apache")
            daemon.proc.proc.send_signal(signal.SIGTERM)
            daemon.wait_log("stopping")
            # a stop that does not wait says "stopped" within milliseconds: give it 2 s
            deadline = time.monotonic() + 2
            while "daemon: stopped" not in daemon.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "daemon: stopped" not in daemon.log(), daemon.log()[-2000:]
        finally:
            os.killpg(server.process.pid, signal.SIGCONT)
        assert daemon.proc.proc.wait(60) == 0
        log = daemon.log()
        assert log.rstrip().endswith("INFO torrentweb.daemon: stopped"), log[-3000:]
        assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
