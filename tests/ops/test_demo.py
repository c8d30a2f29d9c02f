"""`make demo` (demo/run.py): a visitor gets the page with its torrent link, the torrent downloads
from the seeder through the tracker, the status page shows it, and Ctrl-C leaves nothing behind."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import libtorrent as lt
import pytest

from support.lt_client import Client
from harness.ports import free_port
from harness.processes import Process, pid_alive as alive, wait_for

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "demo" / "site"
LINK_RE = re.compile(r'<link type="application/x-bittorrent" rel="torrent" href="([^"]+)">')


def get(url) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


@pytest.fixture(scope="module")
def demo():
    # Not under pytest's basetemp: other pytest sessions on the machine prune it, and Apache
    # (www-data) must keep search permission on every directory above the state dir.
    tmp = Path(tempfile.mkdtemp(prefix="tw-demo-"))
    port = free_port()
    proc = Process([sys.executable, str(ROOT / "demo" / "run.py"), "--port", str(port),
                    "--state", str(tmp / "run")], tmp / "demo.out")
    try:
        url = wait_for(lambda: (lambda m: m and m.group(1))(
            re.search(r"torrentweb demo: open (\S+)", proc.log()) if proc.alive() else _died(proc)),
            120, what="the demo's URL")
        yield proc, url, tmp
    finally:
        proc.stop(signal.SIGINT, timeout=30)
        _kill_leftovers(tmp / "run")              # only if run.py itself failed to stop them
        shutil.rmtree(tmp, ignore_errors=True)


def _kill_leftovers(state: Path):
    for pid_file in (state / "httpd" / "run" / "httpd.pid", state / "state" / "status.json"):
        try:
            text = pid_file.read_text()
            pid = json.loads(text)["pid"] if pid_file.suffix == ".json" else int(text)
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


def _died(proc):
    raise AssertionError(f"demo/run.py exited:\n{proc.log()}")


def test_the_page_links_its_torrent_and_a_native_client_gets_the_bytes_from_the_swarm(demo):
    proc, url, tmp = demo
    assert url.startswith("http://127.0.0.1:")
    page = get(url).decode()
    links = LINK_RE.findall(page)
    assert len(links) == 1, page[:800]
    torrent = get(url.rstrip("/") + links[0])
    info = lt.bdecode(torrent)[b"info"]
    assert info[b"name"] == b"site"
    names = sorted("/".join(p.decode() for p in f[b"path"]) for f in info[b"files"])
    assert names == ["img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg", "video/mandelbrot.webm"]
    client = Client(tmp / "dl")
    try:
        h = client.add(torrent, web_seeds=False)        # peers only: the tracker finds the seeder
        client.wait_seeding(h, timeout=60)
    finally:
        client.close()
    for name in names:
        got = tmp / "dl" / "site" / name
        assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256((SITE / name).read_bytes()).digest()
    status = wait_for(lambda: (lambda s: s if s.get("uploaded", 0) >= 1_600_000 else None)(
        json.loads(get(url + ".torrentweb/status.json"))), 30, what="the upload in status.json")
    assert status["torrents"] == 5 and status["ready"] is True
    assert b"<title>torrentweb status</title>" in get(url + ".torrentweb/status")


def test_ctrl_c_stops_apache_and_the_seeder(demo):
    proc, url, tmp = demo
    daemon_pid = json.loads(get(url + ".torrentweb/status.json"))["pid"]
    httpd_pid = int((tmp / "run" / "httpd" / "run" / "httpd.pid").read_text())
    assert alive(daemon_pid) and alive(httpd_pid)
    os.kill(proc.pid, signal.SIGINT)                   # what Ctrl-C sends to the foreground process
    proc.proc.wait(30)
    assert proc.proc.returncode == 0, proc.log()
    assert proc.log().rstrip().endswith("stopped.")
    wait_for(lambda: not alive(daemon_pid) and not alive(httpd_pid), 10, what="no process left")
    children = subprocess.run(["pgrep", "-f", str(tmp / "run")], capture_output=True, text=True).stdout
    assert children == ""
