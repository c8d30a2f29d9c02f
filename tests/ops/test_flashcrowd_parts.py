"""bench/flashcrowd.py's parts that decide its figures: which log lines count as the server's
asset bytes, the quantile, and the throttle relaying bytes unchanged."""
import hashlib
import os
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.ports import free_port
from support.processes import Process, wait_for
from support.scripts import script_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def flashcrowd():
    with script_module("bench/flashcrowd.py", "flashcrowd") as module:
        yield module


LOG = [
    '127.0.0.1 "GET /img/crowd-00.jpg HTTP/1.1" 200 700123 "-" 5',
    '127.0.0.1 "GET /img/crowd-01.jpg HTTP/1.1" 206 65800 "bytes=0-65535" 1',
    '127.0.0.1 "GET /.torrentweb/seed/site/img/crowd-00.jpg HTTP/1.1" 206 262400 "bytes=0-262143" 1',
    '127.0.0.1 "GET / HTTP/1.1" 200 2100 "-" 0',                                   # the page
    '127.0.0.1 "GET /announce?info_hash=x HTTP/1.1" 200 254 "-" 0',               # the tracker
    '127.0.0.1 "GET /.torrentweb/t/ab.torrent HTTP/1.1" 200 600 "-" 0',           # the torrent
    '127.0.0.1 "GET /img/other.jpg HTTP/1.1" 200 5000 "-" 0',                     # not an asset of the page
    'garbage line',
]


def test_only_the_pages_assets_and_the_web_seed_count_as_server_egress(flashcrowd):
    paths = {"/img/crowd-00.jpg", "/img/crowd-01.jpg"}
    assert flashcrowd.asset_bytes_in_log(LOG, paths) == 700123 + 65800 + 262400


def test_quantile_is_nearest_rank(flashcrowd):
    assert flashcrowd.quantile([7.0], 0.95) == 7.0
    assert flashcrowd.quantile(range(1, 101), 0.95) == 95
    assert flashcrowd.quantile([3, 1, 2], 0.5) == 2


def test_the_throttle_relays_bytes_unchanged(tmp_path):
    body = os.urandom(3 * 2**20 + 7)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    port = free_port()
    relay = Process([sys.executable, str(ROOT / "bench" / "throttle.py"), "--listen", f"127.0.0.1:{port}",
                     "--to", f"127.0.0.1:{server.server_address[1]}", "--rate", str(64 * 2**20)],
                    tmp_path / "throttle.log")
    try:
        wait_for(lambda: "listening on" in relay.log(), 20, what="the throttle")
        got = urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=30).read()
    finally:
        relay.stop()
        server.shutdown()
        server.server_close()
        thread.join()
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()


def test_the_throttle_refuses_a_rate_that_is_not_positive(tmp_path):
    relay = Process([sys.executable, str(ROOT / "bench" / "throttle.py"), "--listen", "127.0.0.1:0",
                     "--to", "127.0.0.1:1", "--rate", "0"], tmp_path / "throttle.log")
    relay.proc.wait(20)
    assert relay.proc.returncode == 2
    assert "--rate: expected a positive number of bytes per second" in relay.log()
    relay.stop()
