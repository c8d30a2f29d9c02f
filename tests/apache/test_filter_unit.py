"""PageFilter in-process, against a real catalogue: the hooks of the browser issue (swap, the
loader's <script>) and the bundle identity shared with the daemon."""
import re

from support.filtersite import LINK_RE, image, make_site
from torrentweb.page.render import PageFilter, Settings
from torrentweb.seeder.bundles import pages_wanted

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><img src='img/a.jpg'>" \
       b"<img src='img/tiny.gif'></body></html>"


def site_with_page(tmp_path, pages=""):
    site = make_site(tmp_path, pages=pages)
    site.add("img/a.jpg", image(1, 5000))
    site.add("img/tiny.gif", image(2, 100))
    site.add("index.html", PAGE)
    site.catalogue_files()
    return site


def test_swap_and_loader_only_once_the_bundle_is_linked(tmp_path):
    site = site_with_page(tmp_path, "  p2p: always\n")
    f = PageFilter(Settings.from_config(site.config))
    first = f.render(PAGE, "/index.html")
    assert first.body == PAGE and first.waiting and not first.injected
    site.build_requested()
    out = f.render(PAGE, "/index.html").body
    assert len(LINK_RE.findall(out)) == 1
    assert re.search(rb"<img data-torrent-src=[\"']img/a\.jpg[\"'] src=[\"']data:image/gif", out), out
    assert b"<noscript><img src='img/a.jpg'></noscript>" in out
    assert b"<img src='img/tiny.gif'>" in out                   # not published: untouched
    assert b"torrentweb-loader.js" in out and b"integrity=\"sha384-" in out
    site.catalogue.close()


def test_daemon_scan_and_filter_agree_on_a_page(tmp_path):
    site = site_with_page(tmp_path)
    assert pages_wanted(site.config, site.docroot / "index.html") == ["img/a.jpg", "img/tiny.gif"]
    f = PageFilter(Settings.from_config(site.config))
    assert f.render(PAGE, "/index.html").assets == ("img/a.jpg", "img/tiny.gif")
    site.catalogue.close()
