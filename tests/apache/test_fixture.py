"""The start_apache fixture itself: a real httpd serving the docroot and the web-seed prefix."""
import hashlib
import urllib.request

from support.apache import start_apache
from support.ports import free_port
from torrentweb.config import loads


def test_httpd_serves_the_docroot_and_the_web_seed_prefix_with_cors(tmp_path):
    (tmp_path / "www" / "img").mkdir(parents=True)
    data = bytes(range(256)) * 40
    (tmp_path / "www" / "img" / "a.jpg").write_bytes(data)
    port = free_port()
    config = loads(f"docroot: {tmp_path}/www\nbase_url: http://127.0.0.1:{port}/\n"
                   f"state_dir: {tmp_path}/state\n")
    server = start_apache(tmp_path, config)
    try:
        with urllib.request.urlopen(server.url + "img/a.jpg") as r:
            assert hashlib.sha256(r.read()).digest() == hashlib.sha256(data).digest()
        req = urllib.request.Request(server.url + ".torrentweb/seed/www/img/a.jpg",
                                     headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 206 and r.read() == data[10:20]
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Content-Range" in r.headers["Access-Control-Expose-Headers"]
    finally:
        server.stop()
    assert not server.process.alive()
    lines = server.access_log_lines()
    assert any('"GET /.torrentweb/seed/www/img/a.jpg HTTP/1.1" 206' in l and '"bytes=10-19"' in l
               for l in lines), lines
