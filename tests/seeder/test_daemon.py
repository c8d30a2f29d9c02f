"""The real daemon: publishes, follows changes, survives restarts, reloads and SIGKILL."""
import json
import os
import signal
import subprocess
import time

import libtorrent as lt

from harness.daemon import TORRENTWEB
from support.lt_client import Client, info_hash
from harness.processes import wait_for


def seeded(site) -> set:
    """What the running daemon says it seeds (status.json, refreshed every 2 s)."""
    try:
        status = json.loads((site.state / "status.json").read_text())
    except (OSError, ValueError):
        return set()
    return {t["info_hash"] for t in status["per_torrent"]}


def test_a_libtorrent_client_downloads_from_the_seeder_alone(site, daemons, tmp_path):
    data = os.urandom(3 * 2**20 + 123)
    site.add("img/big.jpg", data)
    d = daemons(site)
    d.wait_log("published img/big.jpg ")
    client = Client(tmp_path / "dl")
    try:
        h = client.add(site.torrent("img/big.jpg"), web_seeds=False, trackers=False)
        client.wait_seeding(h, peers=[("127.0.0.1", int(site.settings["seeder"]["listen"].split(":")[1]))])
    finally:
        client.close()
    assert (tmp_path / "dl" / "big.jpg").read_bytes() == data


def test_only_rule_matching_public_files_are_published(site, daemons, tmp_path):
    site.add("img/a.png", os.urandom(5000))
    site.add("img/tiny.png", b"x" * 10)                      # under min_size
    site.add("private/b.png", os.urandom(5000))              # excluded glob
    site.add(".hidden/c.png", os.urandom(5000))              # hidden
    site.add("notes.txt", os.urandom(5000))                  # no rule
    (tmp_path / "outside.png").write_bytes(os.urandom(5000))
    os.symlink(tmp_path / "outside.png", site.docroot / "img" / "escape.png")
    d = daemons(site)
    d.wait_log("published img/a.png ")
    assert sorted(site.catalogue()) == ["img/a.png"]
    assert sorted(p.relative_to(site.state / "torrents").as_posix()
                  for p in (site.state / "torrents").rglob("*.torrent")) == ["img/a.png.torrent"]


def test_changes_are_followed_create_modify_move_delete(site, daemons):
    d = daemons(site)
    first = os.urandom(50_000)
    site.add("a/one.png", first)
    d.wait_log("published a/one.png ")
    old_hash = site.catalogue()["a/one.png"][3]
    assert old_hash == info_hash(site.torrent("a/one.png"))
    wait_for(lambda: old_hash in seeded(site), 10, what="the new torrent seeded")

    site.add("a/one.png", os.urandom(60_000))                 # modified: new torrent, old one stops
    d.wait_log("published a/one.png ", count=2)
    new_hash = site.catalogue()["a/one.png"][3]
    assert new_hash != old_hash and site.catalogue()["a/one.png"][1] == 60_000
    wait_for(lambda: new_hash in seeded(site) and old_hash not in seeded(site), 10,
             what="the old torrent no longer seeded")

    os.rename(site.docroot / "a" / "one.png", site.docroot / "a" / "two.png")   # moved
    d.wait_log("published a/two.png ")
    d.wait_log("withdrawn a/one.png ")
    assert sorted(site.catalogue()) == ["a/two.png"]
    assert not (site.state / "torrents" / "a" / "one.png.torrent").exists()

    os.unlink(site.docroot / "a" / "two.png")                                  # deleted
    d.wait_log("withdrawn a/two.png ")
    assert site.catalogue() == {}
    assert not (site.state / "torrents" / "a" / "two.png.torrent").exists()
    wait_for(lambda: seeded(site) == set(), 10, what="nothing seeded any more")


def test_a_directory_moved_in_and_removed(site, daemons, tmp_path):
    d = daemons(site)
    staging = tmp_path / "staging"
    (staging / "sub").mkdir(parents=True)
    (staging / "sub" / "x.png").write_bytes(os.urandom(8000))
    os.chmod(staging, 0o755)
    os.rename(staging, site.docroot / "gallery")
    d.wait_log("published gallery/sub/x.png ")
    subprocess.run(["rm", "-rf", str(site.docroot / "gallery")], check=True)
    d.wait_log("withdrawn gallery/sub/x.png ")
    assert site.catalogue() == {}


def test_a_file_written_slowly_in_chunks_is_published_once_complete(site, daemons):
    d = daemons(site)
    chunk = os.urandom(100_000)
    path = site.docroot / "slow.png"
    with open(path, "wb") as f:
        for _ in range(8):                       # 0.4 s pauses: longer than the 0.3 s settle time
            f.write(chunk)
            f.flush()
            time.sleep(0.4)
    os.chmod(path, 0o644)
    d.wait_log("published slow.png ")
    time.sleep(1.5)                              # anything further would have been published by now
    assert d.published("slow.png") == 1
    assert site.catalogue()["slow.png"][1] == 800_000
    assert info_hash(site.torrent("slow.png")) == site.catalogue()["slow.png"][3]


def test_restart_with_an_unchanged_tree_rehashes_nothing(site, daemons):
    for i in range(30):
        site.add(f"img/{i}.png", os.urandom(20_000))
    d = daemons(site, log="first.log")
    d.wait_log("published img/29.png ") if d.published("img/29.png") == 0 else None
    wait_for(lambda: len(site.catalogue()) == 30, 30, what="30 files catalogued")
    before = site.catalogue()
    assert d.stop() == 0
    again = daemons(site, log="second.log")
    assert "catalogue: 30 torrents seeding, 0 files to hash" in again.log()
    assert "published " not in again.log()
    assert site.catalogue() == before
    wait_for(lambda: len(seeded(site)) == 30, 10, what="all 30 seeded again")


def test_sighup_with_a_bad_file_keeps_the_old_config_and_a_good_one_applies(site, daemons):
    site.add("doc.txt", os.urandom(5000))
    site.add("pic.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published pic.png ")
    good = site.config_path.read_text()
    site.config_path.write_text(good + "seeder:\n  listen: nowhere\n")
    os.kill(d.proc.pid, signal.SIGHUP)
    d.wait_log("reload refused, keeping the running configuration")
    assert f"{site.config_path}:" in d.log() and "seeder.listen" in d.log()
    assert d.proc.alive() and "pic.png" in site.catalogue()

    site.write_config(rules=site.settings["rules"] + [{"mimetype": "text/plain"}])
    os.kill(d.proc.pid, signal.SIGHUP)
    d.wait_log("published doc.txt ")
    assert sorted(site.catalogue()) == ["doc.txt", "pic.png"]


def test_sigkill_while_hashing_loses_nothing(site, daemons):
    for i in range(40):
        site.add(f"v/{i}.mp4", os.urandom(2 * 2**20))
    d = daemons(site, ready=False, log="killed.log")
    d.wait_log("published v/")
    d.stop(signal.SIGKILL)
    again = daemons(site, log="after.log")
    wait_for(lambda: len(site.catalogue()) == 40, 60, what="all 40 files catalogued")
    for rel, row in site.catalogue().items():     # every row has its torrent, and they agree
        assert info_hash((site.state / row[5]).read_bytes()) == row[3], rel
    torrents = {p.relative_to(site.state).as_posix() for p in (site.state / "torrents").rglob("*")
                if p.is_file()}
    assert torrents == {row[5] for row in site.catalogue().values()}   # no orphans, no temp files
    assert again.proc.alive()


def test_sigterm_stops_cleanly_and_status_reports_the_running_daemon(site, daemons):
    site.add("a.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published a.png ")
    wait_for(lambda: seeded(site), 10, what="status.json")

    def status():
        out = subprocess.run([TORRENTWEB, "status", "-c", str(site.config_path)], capture_output=True,
                             text=True)
        return out if out.returncode == 0 and "torrents: 1," in out.stdout else None
    wait_for(status, 10, what="`torrentweb status` reporting the one torrent")
    assert d.stop() == 0
    assert "STOPPING=1" in "".join(d.notifications())
    out = subprocess.run([TORRENTWEB, "status", "-c", str(site.config_path)], capture_output=True,
                         text=True)
    assert out.returncode == 1 and "no running daemon" in out.stderr


def test_a_new_base_url_rewrites_torrents_without_rehashing(site, daemons):
    site.add("img/a.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published img/a.png ")
    before = site.catalogue()["img/a.png"]
    site.write_config(base_url="https://cdn.example.org/site/",
                      tracker=dict(site.settings["tracker"], announce=["https://cdn.example.org/announce"]))
    os.kill(d.proc.pid, signal.SIGHUP)
    d.wait_log("refreshed img/a.png")
    meta = lt.bdecode(site.torrent("img/a.png"))
    assert meta[b"url-list"] == b"https://cdn.example.org/site/img/a.png"
    assert meta[b"announce"] == b"https://cdn.example.org/announce"
    assert info_hash(site.torrent("img/a.png")) == before[3] and site.catalogue()["img/a.png"] == before
    assert d.published("img/a.png") == 1


def test_sighup_moves_the_tracker_to_a_new_port_and_keeps_seeding(site, daemons):
    import urllib.request
    from urllib.parse import quote_from_bytes
    from harness.ports import free_port
    site.add("a.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published a.png ")
    ih = bytes.fromhex(site.catalogue()["a.png"][3])
    port = free_port()
    site.write_config(tracker=dict(site.settings["tracker"], http=f"127.0.0.1:{port}"))
    os.kill(d.proc.pid, signal.SIGHUP)
    d.wait_log("reloaded ")

    def scrape():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/scrape?info_hash={quote_from_bytes(ih)}",
                                        timeout=5) as r:
                return lt.bdecode(r.read())
        except OSError:
            return None
    reply = wait_for(scrape, 10, what="the tracker on its new port")
    assert ih in reply[b"files"]
    assert d.proc.alive() and "a.png" in site.catalogue()
