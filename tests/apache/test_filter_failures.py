"""A broken filter never breaks the site: the page is served as on disk and the reason logged."""
import http.client

from conftest import image, make_site
from support.apache import start_apache
from support.processes import wait_for

PAGE = b"<html><head><title>x</title></head><body><img src='a.jpg'></body></html>"


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


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
