"""A broken filter never breaks the site: the page is served as on disk and the reason logged."""

from support.filtersite import image, make_site
from harness.apache import start_apache, http_get
from harness.processes import wait_for
from torrentweb.page.render import PageFilter, Settings

PAGE = b"<html><head><title>x</title></head><body><img src='a.jpg'></body></html>"


def get(port, path, source="127.0.0.1"):
    status, _, body = http_get(port, path, source=source)
    return status, body

def test_missing_then_corrupt_catalogue_serves_pages_unchanged_and_logs_why(tmp_path):
    site = make_site(tmp_path)
    site.catalogue.close()
    site.config.catalogue_path.unlink()
    for suffix in ("-wal", "-shm"):
        (site.config.state_dir / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    site.add("a.jpg", image(1, 5000))
    site.add("index.html", PAGE)
    server = start_apache(tmp_path, site.config)
    try:
        assert get(server.port, "/index.html") == (200, PAGE)
        wait_for(lambda: "no catalogue yet (is the seeder daemon running?); pages are served "
                         "without torrent links" in server.error_log(), 10, what="the warning")
        site.config.catalogue_path.write_bytes(b"this is not a database" * 100)
        site.config.catalogue_path.chmod(0o664)
        assert get(server.port, "/index.html") == (200, PAGE)
        wait_for(lambda: "file is not a database" in server.error_log(), 10, what="the second warning")
        assert get(server.port, "/index.html") == (200, PAGE)
        assert server.error_log().count("file is not a database") == 1    # once, not per request
    finally:
        server.stop()


def test_catalogue_the_web_server_cannot_write_still_links_built_bundles(tmp_path):
    """The read-only side of the WAL trap: with the daemon's connection open, the filter reads;
    it only cannot queue new bundles, and says what to fix."""
    import os
    site = make_site(tmp_path)
    site.add("img/a.jpg", image(1, 5000))
    site.add("img/b.jpg", image(2, 5000))
    site.add("built.html", b"<html><head></head><body><img src='img/a.jpg'></body></html>")
    site.add("new.html", b"<html><head></head><body><img src='img/b.jpg'></body></html>")
    site.catalogue_files()
    PageFilter(Settings.from_config(site.config)).render((site.docroot / "built.html").read_bytes(),
                                                         "/built.html")    # queues its bundle
    assert len(site.build_requested()) == 1
    server = start_apache(tmp_path, site.config)
    try:
        for path in [site.config.state_dir, *site.config.state_dir.glob("catalogue.sqlite*")]:
            os.chown(path, 0, 0)
            path.chmod(0o755 if path.is_dir() else 0o644)
        status, body = get(server.port, "/built.html")
        assert status == 200 and b'rel="torrent"' in body
        assert get(server.port, "/new.html")[1] == \
            b"<html><head></head><body><img src='img/b.jpg'></body></html>"
        wait_for(lambda: "cannot queue page bundles" in server.error_log(), 10, what="the warning")
        assert "make the state directory group-writable" in server.error_log()
    finally:
        server.stop()
        site.catalogue.close()
