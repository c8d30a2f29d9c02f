"""The start_apache fixture itself: a real httpd serving the docroot and the web-seed prefix."""
import hashlib
import urllib.error
import urllib.request

import pytest

from harness.apache import start_apache
from harness.ports import free_port
from torrentweb.config import loads


def test_httpd_serves_the_docroot_and_the_web_seed_prefix_with_cors(tmp_path):
    (tmp_path / "www" / "img").mkdir(parents=True)
    data = bytes(range(256)) * 40
    (tmp_path / "www" / "img" / "a.jpg").write_bytes(data)
    (tmp_path / "www" / "img" / "b.jpg").write_bytes(data)          # not published: no torrent
    (tmp_path / "state" / "torrents" / "img").mkdir(parents=True)
    (tmp_path / "state" / "torrents" / "img" / "a.jpg.torrent").write_bytes(b"d4:infode")  # published
    port = free_port()
    config = loads(f"docroot: {tmp_path}/www\nbase_url: http://127.0.0.1:{port}/\n"
                   f"state_dir: {tmp_path}/state\n")
    server = start_apache(tmp_path, config)
    try:
        with urllib.request.urlopen(server.url + "img/a.jpg") as r:
            assert hashlib.sha256(r.read()).digest() == hashlib.sha256(data).digest()
        req = urllib.request.Request(server.url + ".torrentweb/seed/site/img/a.jpg",
                                     headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 206 and r.read() == data[10:20]
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Content-Range" in r.headers["Access-Control-Expose-Headers"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + ".torrentweb/seed/site/img/b.jpg")
        assert refused.value.code == 404
    finally:
        server.stop()
    assert not server.process.alive()
    lines = server.access_log_lines()
    assert any('"GET /.torrentweb/seed/site/img/a.jpg HTTP/1.1" 206' in l and '"bytes=10-19"' in l
               for l in lines), lines
