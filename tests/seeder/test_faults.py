"""Faults that crashed, froze or lost before (issue 12), each named after what broke, against
the real daemon. Each failed on the code before its fix."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest
import yaml

from harness.daemon import TORRENTWEB, make_site
from support.lt_client import Client
from harness.processes import Process, wait_for
from torrentweb.cli import main


def seeder_address(site):
    return ("127.0.0.1", int(site.settings["seeder"]["listen"].split(":")[1]))


def bundles(site) -> list[tuple]:
    with sqlite3.connect(f"file:{site.state / 'catalogue.sqlite'}?mode=ro", uri=True) as db:
        return [(ih, tuple(json.loads(f))) for ih, f in db.execute("SELECT info_hash, files FROM bundles")]


def test_sighup_during_the_first_scan_deletes_no_fresh_torrent(site, daemons):
    """Reload used to remove 'orphan' torrents while the hash pool was writing them."""
    for i in range(1500):
        site.add(f"img/{i // 100}/{i}.png", os.urandom(2048))
    d = daemons(site)
    reloads = 0
    while len(site.catalogue()) < 1500 and reloads < 200:
        d.proc.proc.send_signal(signal.SIGHUP)
        reloads += 1
        time.sleep(0.15)
    wait_for(lambda: len(site.catalogue()) == 1500, 120, what="1,500 files catalogued")
    assert reloads > 3
    rows = site.catalogue()
    missing = [p for p, r in rows.items() if not (site.state / r[5]).is_file()]
    assert missing == []
    assert "failed" not in d.log()


@pytest.mark.parametrize("damage", [b"", b"d8:announce", os.urandom(300)], ids=["empty", "truncated", "garbage"])
def test_a_damaged_torrent_in_the_state_directory_is_rebuilt_at_start(site, daemons, damage):
    site.add("img/a.png", os.urandom(50_000))
    d = daemons(site, log="first.log")
    wait_for(lambda: "img/a.png" in site.catalogue(), 30, what="img/a.png published")
    good = site.torrent("img/a.png")
    d.stop()
    (site.state / "torrents" / "img" / "a.png.torrent").write_bytes(damage)
    again = daemons(site, log="second.log")
    wait_for(lambda: site.torrent("img/a.png") == good, 30, what="the torrent rebuilt")
    assert "damaged torrent torrents/img/a.png.torrent for img/a.png: it is built again" in again.log()


def test_identical_files_in_two_directories_keep_seeding_when_one_goes(site, daemons, tmp_path):
    """Same bytes, same name: one info-hash. Deleting a/ used to unseed b/'s copy too."""
    data = os.urandom(200_000)
    site.add("a/logo.png", data)
    site.add("b/logo.png", data)
    d = daemons(site)
    wait_for(lambda: {"a/logo.png", "b/logo.png"} <= set(site.catalogue()), 30, what="both published")
    cat = site.catalogue()
    assert cat["a/logo.png"][3] == cat["b/logo.png"][3]
    torrent = site.torrent("b/logo.png")
    (site.docroot / "a" / "logo.png").unlink()
    d.wait_log("withdrawn a/logo.png ")
    client = Client(tmp_path / "dl")
    try:
        h = client.add(torrent, web_seeds=False)          # the tracker and the seeder, no web seed
        client.wait_seeding(h, timeout=60, peers=[seeder_address(site)])
    finally:
        client.close()
    assert (tmp_path / "dl" / "logo.png").read_bytes() == data


@pytest.mark.parametrize("text, message", [
    ("seeder:\n  connections_limit: 100.5\n", "4:22: seeder.connections_limit: expected a whole number of connections, got 100.5"),
    ("seeder:\n  unchoke_slots: 2.5\n", "4:18: seeder.unchoke_slots: expected a whole number of slots, got 2.5"),
    ("apache:\n  processes: 2.5\n", "4:14: apache.processes: expected a whole number of processes, got 2.5"),
    ("apache:\n  threads: 0\n", "4:12: apache.threads: expected at least 1 threads, got 0"),
    ("torrents:\n  hash_threads: 0\n", "4:17: torrents.hash_threads: expected at least 1 threads, got 0"),
    ("tracker:\n  http: 999.1.1.1:6969\n", "4:9: tracker.http: expected an IP address or a host name before the port, got '999.1.1.1'"),
    ("tracker:\n  min_interval: 200\n", "4:17: tracker.min_interval: must not exceed tracker.interval (120), got 200"),
    ("tracker:\n  numwant_default: 90\n", "4:20: tracker.numwant_default: must not exceed tracker.numwant_max (80), got 90"),
])
def test_check_config_refuses_numbers_libtorrent_and_httpd_would_not_take(tmp_path, capsys, text, message):
    (tmp_path / "www").mkdir()
    path = tmp_path / "torrentweb.yaml"
    path.write_text(f"docroot: www\nbase_url: http://x/\n{text}")
    assert main(["check-config", "-c", str(path)]) == 2
    assert capsys.readouterr().err == f"torrentweb: {path}:{message}\n"


def test_sighup_with_a_float_where_an_integer_belongs_keeps_the_daemon_running(site, daemons):
    d = daemons(site)
    settings = yaml.safe_load(site.config_path.read_text())
    settings["seeder"]["connections_limit"] = 100.5
    site.config_path.write_text(yaml.safe_dump(settings))
    d.proc.proc.send_signal(signal.SIGHUP)
    d.wait_log("reload refused, keeping the running configuration")
    site.add("img/after.png", os.urandom(5000))
    d.wait_log("published img/after.png ")              # alive, and still publishing
    assert d.proc.alive()


def test_sighup_applies_log_level(site, daemons):
    d = daemons(site)
    site.write_config(log_level="warning")
    d.proc.proc.send_signal(signal.SIGHUP)
    d.wait_notified("reloaded")
    site.add("img/quiet.png", os.urandom(5000))
    wait_for(lambda: "img/quiet.png" in site.catalogue(), 30, what="img/quiet.png published")
    assert "published img/quiet.png " not in d.log()       # an INFO line, below warning


def test_sighup_refuses_a_new_state_dir(site, daemons, tmp_path):
    d = daemons(site)
    site.write_config(state_dir=str(tmp_path / "elsewhere"))
    d.proc.proc.send_signal(signal.SIGHUP)
    d.wait_log("reload refused, keeping the running configuration: state_dir cannot change while "
               f"the daemon runs ({site.state}, now {tmp_path / 'elsewhere'}); restart the daemon to move it")
    assert not (tmp_path / "elsewhere").exists()
    assert (site.state / "status.json").exists()


def test_a_second_daemon_on_the_same_state_dir_exits_and_says_which_holds_it(site, daemons, tmp_path):
    first = daemons(site)
    other = make_site(tmp_path / "other")
    other.write_config(state_dir=str(site.state))
    second = Process([TORRENTWEB, "seeder", "-c", str(other.config_path)], tmp_path / "second.log")
    wait_for(lambda: not second.alive(), 30, what="the second daemon to exit")
    assert second.proc.returncode == 1
    assert (f"torrentweb: {site.state}: another torrentweb daemon (pid {first.proc.pid}) uses "
            "this state_dir; stop it first, or give this one its own state_dir") in second.log()
    assert first.proc.alive() and (site.state / "status.json").exists()


def test_names_that_are_not_utf8_or_carry_a_newline_are_refused_in_one_escaped_line(site, daemons):
    os.makedirs(site.docroot, exist_ok=True)
    for name in (b"caf\xe9.png", b"evil\n2026-01-01 INFO torrentweb.publisher: published fake.png x.png"):
        with open(os.path.join(bytes(site.docroot), name), "wb") as f:
            f.write(os.urandom(5000))
    site.add("ok.png", os.urandom(5000))
    for run in ("first.log", "second.log"):                   # and again at the next start
        d = daemons(site, log=run)
        d.wait_log("published ok.png ") if run == "first.log" else None
        d.wait_log("not published: caf\\xe9.png: its name is not valid UTF-8; rename the file to publish it")
        d.wait_log("not published: evil\\n2026-01-01 INFO")
        assert not [l for l in d.log().splitlines() if l.startswith("2026-01-01")]   # no forged line
        assert set(site.catalogue()) == {"ok.png"}
        d.stop()


def test_a_directory_named_like_a_torrent_does_not_collide_with_a_files_torrent(site, daemons):
    site.add("img/x.png", os.urandom(5000))
    site.add("img/x.png.torrent/y.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published img/x.png ")
    d.wait_log("not published: img/x.png.torrent/y.png: a directory on its path ends in .torrent")
    assert set(site.catalogue()) == {"img/x.png"}
    assert "failed" not in d.log()


def test_bundles_no_page_links_any_more_are_withdrawn(site, daemons):
    """8 rounds of edits used to leave 7 of 37 bundles catalogued and seeded."""
    site.write_config(pages={"unused_bundle_grace": 0})
    for i in range(6):
        site.add(f"img/{i}.png", os.urandom(5000))
    site.add("page.html", b'<html><head></head><body><img src="img/0.png"><img src="img/1.png"></body></html>')
    d = daemons(site)
    for round in range(1, 5):
        wait_for(lambda: any(files == (f"img/{round - 1}.png", f"img/{round}.png") for _, files in bundles(site)),
                 30, what=f"the bundle of round {round}")
        site.add("page.html", f'<html><head></head><body><img src="img/{round}.png">'
                              f'<img src="img/{round + 1}.png"></body></html>'.encode())
    wait_for(lambda: [f for _, f in bundles(site)] == [("img/4.png", "img/5.png")], 30,
             what=f"only the current page's bundle; catalogue: {bundles(site)}")
    d.wait_log("withdrawn: no page links it any more", count=4)     # the four earlier ones
