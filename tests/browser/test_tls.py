"""An HTTPS page: the loader joins the swarm over wss:// through Apache's TLS proxy, one port for
the page, the assets and the tracker (a self-signed certificate for 127.0.0.1 that the seeder and
Chromium are told to accept)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.apache import grant_web_access
from harness.daemon import daemon_behind_apache, make_site
from support.loadersite import DEMO
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb import config as twconfig
from torrentweb.page.loadertag import default_loader_dir

pytestmark = pytest.mark.slow
SWAPPED = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg", "video/mandelbrot.webm")
TLS = """LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
SSLSessionCache shmcb:{root}/ssl_scache(512000)
SSLEngine on
SSLCertificateFile {cert}
SSLCertificateKeyFile {key}
"""


def self_signed(tmp) -> tuple:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o644)                     # Apache reads it as root before it drops privileges
    return cert, key


def test_an_https_page_gets_its_assets_over_wss_through_apache(browser, tmp_path):
    port = free_port()
    site = make_site(tmp_path, base_url=f"https://127.0.0.1:{port}/")
    site.write_config(
        tracker={"websocket": f"127.0.0.1:{free_port()}", "announce": []},   # derived: https://, wss://
        seeder={"validate_https_trackers": False},                          # the self-signed cert
        pages={"p2p": "always"}, loader={"deadline": 20},
        rules=[{"mimetype": "image/*", "min_size": "64KiB"}, {"mimetype": "video/*"}])
    shutil.copytree(DEMO, site.docroot, dirs_exist_ok=True)
    cfg = twconfig.load(site.config_path)
    assert [u.split(":")[0] for u in cfg.announce_urls()] == ["https", "wss"]
    grant_web_access(cfg, default_loader_dir())
    cert, key = self_signed(tmp_path)
    tls = TLS.format(root=tmp_path, cert=cert, key=key)
    with daemon_behind_apache(site, tmp_path, port=port, extra=tls) as (server, daemon):
        daemon.wait_log("bundle ", timeout=60)
        mark = len(server.access_log_lines())
        sockets, log = [], []
        with browser.context(ignore_https_errors=True) as ctx:
            page = ctx.new_page()
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
            page.goto(f"https://127.0.0.1:{port}/index.html")
            wait_for(lambda: page.locator("[data-torrent-state]").count() == len(SWAPPED), 60,
                     interval=0.2, what=f"the swapped elements shown; page log: {log}")
            elements = page.evaluate("window.torrentweb.elements")
        served = [line.split('"')[1] for line in server.access_log_lines()[mark:]]
    assert sorted((e["url"].split("/", 3)[3], e["via"]) for e in elements) == \
        [(rel, "swarm") for rel in sorted(SWAPPED)], log
    assert sockets and {u.split("/")[2] for u in sockets} == {f"127.0.0.1:{port}"}, sockets
    assert all(u.startswith("wss://") for u in sockets), sockets
    assert not [r for r in served if "/video/" in r or "/seed/" in r or
                any(f"/{rel} " in r for rel in SWAPPED)], served
