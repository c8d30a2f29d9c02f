"""Prometheus metrics: what a scrape of the running daemon shows after a real download."""
import os
import re
import socket
import subprocess
import textwrap
import urllib.request

import pytest

from harness.daemon import TORRENTWEB, make_site, start_daemon
from support.lt_client import Client
from harness.ports import free_port
from harness.processes import wait_for
from torrentweb import config
from torrentweb.errors import ConfigError
from torrentweb.seeder.heat import EgressNow, HeatStatus, PageStatus
from torrentweb.seeder.metrics import Figures, figures, offload
from torrentweb.seeder.session import SeededTorrent
from torrentweb.seeder.status import Status
from torrentweb.seeder.tracker.swarm import SwarmStats, TrackerStats

def status(**parts) -> Status:
    base = dict(pid=1, started=0.0, ready=True, config="tw.yaml", addresses={}, hashing=(),
                loop_lag_max=0.0, nofile=1024, updated=1.0, torrents=0, peers=0, uploaded=0,
                upload_rate=0, per_torrent=())
    return Status(**{**base, **parts})


def swarm(ih, seeders, leechers, completed):
    return SwarmStats(ih, seeders, leechers, completed)


STATUS = status(
    torrents=2, peers=3, uploaded=1_000, upload_rate=250,
    per_torrent=(SeededTorrent("aa" * 20, "a.jpg", 2, 600, "seeding", 1_000, held_back=True),
                 SeededTorrent("bb" * 20, "b.jpg", 1, 400, "seeding", 500)),
    tracker=TrackerStats((swarm("aa" * 20, 3, 1, 3), swarm("bb" * 20, 1, 0, 2), swarm("cc" * 20, 0, 0, 9)),
                         1.5, 40, 2, 1, 4, 1),
    heat=HeatStatus((PageStatus("/a.html", "hot", 5.0, 9), PageStatus("/b.html", "cold", None, 1)),
                    EgressNow(100, 200, 300, 0), ()))


def test_figures_from_a_status():
    f = figures(STATUS)
    # delivered: 3 x 1000 + 2 x 500 (cc is not seeded here: no size, no bytes)
    assert f == Figures(ready=True, torrents=2, peers=3, uploaded=1_000, upload_rate=250,
                        delivered=4_000, offload=0.75, announces=40, announces_per_second=1.5,
                        scrapes=2, refused=1, seeders=4, leechers=1, completed=14,
                        egress_http=100, egress_seeder=200, egress_visitors=300, held_back=1,
                        hot_pages=("/a.html",), cold_pages=("/b.html",))


def test_a_status_without_tracker_or_torrents_counts_zero():
    assert figures(status(ready=False)) == Figures()


def test_status_json_is_plain_data_the_cli_and_the_status_page_read():
    import json
    data = json.loads(json.dumps(STATUS.as_json()))
    assert data["per_torrent"][0] == {"info_hash": "aa" * 20, "name": "a.jpg", "peers": 2, "uploaded": 600,
                                      "state": "seeding", "size": 1_000, "upload_rate": 0,
                                      "held_back": True}
    assert data["tracker"]["torrents"][2] == {"info_hash": "cc" * 20, "seeders": 0, "leechers": 0,
                                              "completed": 9}
    assert data["heat"]["pages"][0] == {"path": "/a.html", "state": "hot", "since": 5.0, "views": 9}
    assert "webrtc" not in data                      # absent parts are left out
    assert Status.from_json(data) == STATUS          # `torrentweb status` reads it back


def test_offload_stays_within_zero_and_one():
    assert offload(0, 0) == 0.0
    assert offload(500, 0) == 0.0            # nothing completed yet
    assert offload(3_000, 1_000) == 0.0      # the seeder also fed peers still downloading
    assert offload(0, 1_000) == 1.0


def _yaml(tmp_path, listen):
    (tmp_path / "www").mkdir(exist_ok=True)
    p = tmp_path / "tw.yaml"
    p.write_text(textwrap.dedent(f"""\
        docroot: www
        base_url: https://www.example.org
        metrics:
          listen: {listen}
        """))
    return p


def test_metrics_listen_must_be_loopback(tmp_path):
    p = _yaml(tmp_path, "0.0.0.0:9469")
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert str(e.value) == (f"{p}:4:11: metrics.listen: expected a loopback address such as "
                            "127.0.0.1:9469 or [::1]:9469 (metrics are not for the public), "
                            "got '0.0.0.0:9469'")


def test_metrics_are_off_by_default_and_with_null(tmp_path):
    assert config.load(_yaml(tmp_path, "null")).metrics.listen is None
    assert config.load(_yaml(tmp_path, "'[::1]:0'")).metrics.listen == config.Address("::1", 0)


def scrape(port) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(torrentweb_\w+) (\S+)$", text, re.M)}


def test_a_scrape_shows_the_torrent_the_download_and_the_announces(tmp_path):
    port = free_port()
    site = make_site(tmp_path, metrics={"listen": f"127.0.0.1:{port}"})
    data = os.urandom(2 * 2**20 + 77)
    site.add("img/big.jpg", data)
    daemon = start_daemon(site, tmp_path / "daemon.log")
    client = Client(tmp_path / "dl")
    try:
        daemon.wait_log("published img/big.jpg ")
        assert f"metrics for Prometheus on http://127.0.0.1:{port}/metrics" in daemon.log()
        h = client.add(site.torrent("img/big.jpg"), web_seeds=False)   # the tracker finds the seeder
        client.wait_seeding(h)
        assert (tmp_path / "dl" / "big.jpg").read_bytes() == data
        m = wait_for(lambda: (lambda m: m if m.get("torrentweb_tracker_completed_total") == 1 else None)(
            scrape(port)), 20, what="the completed download in the metrics")
        status = wait_for(lambda: (lambda out: out if "completed downloads: 1 " in out else None)(
            subprocess.run([TORRENTWEB, "status", "-c", str(site.config_path)], capture_output=True,
                           text=True).stdout), 10, what="the download in `torrentweb status`")
    finally:
        client.close()
        daemon.stop()
    assert m["torrentweb_up"] == 1 and m["torrentweb_torrents"] == 1
    assert m["torrentweb_uploaded_bytes_total"] >= len(data)        # the seeder sent it all
    assert m["torrentweb_delivered_bytes_total"] == len(data)
    assert m["torrentweb_offload_ratio"] == 0                        # no other peer helped
    assert m["torrentweb_tracker_announces_total"] >= 2              # seeder + client
    assert "completed downloads: 1 (2.0 MiB), offload: 0% of them from other peers, not the seeder" \
        in status
    with pytest.raises(OSError):                                     # stopped with the daemon
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_taken_metrics_port_stops_the_start_with_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        site = make_site(tmp_path, metrics={"listen": f"127.0.0.1:{port}"})
        daemon = start_daemon(site, tmp_path / "daemon.log", ready=False)
        try:
            wait_for(lambda: not daemon.proc.alive(), 30, what="the daemon to exit")
        finally:
            daemon.stop()
    assert daemon.proc.proc.returncode == 1
    assert (f"torrentweb: metrics.listen 127.0.0.1:{port}: cannot listen there: Address already "
            "in use; choose a free port or set metrics.listen: null") in daemon.log()
    assert not (site.state / "status.json").exists()


def test_sighup_turns_the_metrics_endpoint_on(tmp_path):
    import signal
    site = make_site(tmp_path)
    site.add("a.png", os.urandom(5000))
    daemon = start_daemon(site, tmp_path / "daemon.log")
    try:
        daemon.wait_log("published a.png ")
        port = free_port()
        site.write_config(metrics={"listen": f"127.0.0.1:{port}"})
        os.kill(daemon.proc.pid, signal.SIGHUP)
        daemon.wait_log("reloaded ")
        m = wait_for(lambda: (lambda m: m if m and m.get("torrentweb_torrents") == 1 else None)(
            _try_scrape(port)), 20, what="the metrics endpoint after the reload")
        assert m["torrentweb_torrents"] == 1
    finally:
        daemon.stop()


def _try_scrape(port):
    try:
        return scrape(port)
    except OSError:
        return None
