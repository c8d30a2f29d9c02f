"""A PHP page (php-fpm behind mpm_event, as Debian serves PHP) in Chromium: the PHP filter puts
the page bundle's link and the loader into it and swaps its assets, and the tab takes every
torrented image and the video from the swarm, with no GET for them from the tab."""
from __future__ import annotations

import hashlib
import shutil
import urllib.request

import pytest

from harness.apache import grant_web_access
from harness.browser import open_swapped, shown_images
from harness.daemon import daemon_behind_apache, make_site
from support.loadersite import DEMO
from harness.php import php_fpm
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb import config as twconfig
from torrentweb.page.loadertag import default_loader_dir

pytestmark = pytest.mark.slow
SWAPPED = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg", "video/mandelbrot.webm")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dynamic-browser")
    port = free_port()
    site = make_site(tmp, base_url=f"http://127.0.0.1:{port}/")
    site.write_config(tracker={"websocket": f"127.0.0.1:{free_port()}", "announce": []},
                      pages={"p2p": "always"}, loader={"deadline": 20},
                      rules=[{"mimetype": "image/*", "min_size": "64KiB"}, {"mimetype": "video/*"}])
    shutil.copytree(DEMO, site.docroot, dirs_exist_ok=True)
    (site.docroot / "index.html").rename(site.docroot / "demo.txt")     # no static page: PHP's only
    site.add("demo.php", b'<?php readfile(__DIR__ . "/demo.txt");')
    grant_web_access(twconfig.load(site.config_path), default_loader_dir())
    with php_fpm(tmp) as fpm:
        with daemon_behind_apache(site, tmp, port=port, extra=fpm.apache_config) as (server, daemon):
            yield site, server, daemon


def test_a_php_page_shows_its_assets_from_the_swarm_with_no_image_get(browser, demo):
    site, server, daemon = demo

    def linked():
        with urllib.request.urlopen(server.url + "demo.php") as r:
            return b'rel="torrent"' in r.read()
    wait_for(linked, 60, interval=0.5, what="demo.php carrying its torrent link")
    mark = len(server.access_log_lines())
    log = []
    with browser.context() as ctx:
        page = open_swapped(ctx, server.url + "demo.php", len(SWAPPED), log)
        got = shown_images(page)
        elements = page.evaluate("window.torrentweb.elements")
    assert sorted((e["url"].split("/", 3)[3], e["via"]) for e in elements) == \
        [(rel, "swarm") for rel in sorted(SWAPPED)], log
    want = sorted(hashlib.sha256((site.docroot / rel).read_bytes()).hexdigest()
                  for rel in (*SWAPPED[:3], "img/thumb.png"))
    assert sorted(d for d, width in got if width > 1) == want
    served = [l.split('"')[1] for l in server.access_log_lines()[mark:]
              if "/img/" in l or "/video/" in l or "/seed/" in l]
    assert served == ["GET /img/thumb.png HTTP/1.1"]      # only the thumbnail, under the 64 KiB floor
