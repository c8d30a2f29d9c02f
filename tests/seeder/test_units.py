"""The daemon's parts one at a time, with real files, a real SQLite catalogue and a real
libtorrent session (no daemon process): the debouncer, the publisher, the bundler's storage,
and the rendered copies."""
from __future__ import annotations

import os

import pytest

from harness.daemon import make_site
from support.lt_client import info_hash
from torrentweb.catalogue import Catalogue
from torrentweb.config import load
from torrentweb.seeder.bundles import RenderedCopies, build_bundle, remove_bundle, store_bundle
from torrentweb.seeder.publisher import Publisher
from torrentweb.seeder.session import SeedingSession
from torrentweb.seeder.watcher import Change, Debouncer


# --- the debouncer: pure timing ---------------------------------------------------------------

def test_a_path_is_due_once_it_has_been_quiet_for_settle_and_only_once():
    d = Debouncer(settle=0.5, open_write_timeout=30)
    d.touch("a.png", Change.CHANGED, now=10.0)
    assert d.due(10.4) == []
    assert d.due(10.5) == ["a.png"]
    assert d.due(20.0) == []


def test_every_event_starts_the_quiet_period_again():
    d = Debouncer(settle=0.5, open_write_timeout=30)
    for t in (0.0, 0.25, 0.5, 0.75):                   # exact in binary: no rounding at the edge
        d.touch("a.png", Change.WRITTEN if t else Change.CHANGED, now=t)
        d.touch("a.png", Change.CLOSED, now=t)
    assert d.due(1.125) == []
    assert d.due(1.25) == ["a.png"]


def test_a_file_still_open_for_writing_waits_for_its_close_or_the_timeout():
    d = Debouncer(settle=0.5, open_write_timeout=5)
    d.touch("slow.bin", Change.WRITTEN, now=0.0)
    d.touch("gone.bin", Change.WRITTEN, now=0.0)
    d.touch("gone.bin", Change.GONE, now=0.1)           # deleted: no writer to wait for
    assert d.due(1.0) == ["gone.bin"]
    assert d.due(4.9) == []
    assert d.due(5.0) == ["slow.bin"]                    # the writer never closed it: give up waiting


# --- the publisher: catalogue, torrent files and session in step ------------------------------

@pytest.fixture
def publishing(tmp_path):
    site = make_site(tmp_path)
    config = load(site.config_path)
    catalogue = Catalogue(config.catalogue_path)
    seeder = SeedingSession(config.seeder)
    publisher = Publisher(config, catalogue, seeder)
    yield site, config, catalogue, seeder, publisher
    seeder.close()
    catalogue.close()


def test_a_new_file_is_hashed_catalogued_written_and_seeded(publishing):
    site, config, catalogue, seeder, publisher = publishing
    site.add("img/a.png", os.urandom(40_000))
    row = publisher.update("img/a.png")
    assert catalogue.file("img/a.png") == row
    assert info_hash((config.state_dir / row.torrent).read_bytes()) == row.info_hash
    assert row.info_hash in seeder.info_hashes() and bytes.fromhex(row.info_hash) in publisher.known


def test_an_unchanged_file_is_not_hashed_again_and_a_changed_one_replaces_its_torrent(publishing):
    site, config, catalogue, seeder, publisher = publishing
    path = site.add("img/a.png", os.urandom(40_000))
    first = publisher.update("img/a.png")
    assert publisher.update("img/a.png") == first                   # same row: no new hash
    path.write_bytes(os.urandom(41_000))
    second = publisher.update("img/a.png")
    assert second.info_hash != first.info_hash
    assert seeder.info_hashes() == {second.info_hash}
    assert bytes.fromhex(first.info_hash) not in publisher.known


def test_a_file_that_no_rule_takes_any_more_is_withdrawn_with_its_torrent(publishing):
    site, config, catalogue, seeder, publisher = publishing
    path = site.add("img/a.png", os.urandom(40_000))
    row = publisher.update("img/a.png")
    path.unlink()
    assert publisher.update("img/a.png") is None
    assert catalogue.file("img/a.png") is None and not (config.state_dir / row.torrent).exists()
    assert seeder.info_hashes() == set() and publisher.known == set()


def test_the_first_restore_deletes_orphan_torrents_and_returns_only_new_work(publishing):
    site, config, catalogue, seeder, publisher = publishing
    site.add("img/a.png", os.urandom(40_000))
    publisher.update("img/a.png")
    orphan = config.state_dir / "torrents" / "img" / "left-by-a-kill.png.torrent"
    orphan.write_bytes(b"d4:infode")
    site.add("img/new.png", os.urandom(5000))
    again = Publisher(config, catalogue, seeder)
    assert again.restore(first=True) == ["img/new.png"]
    assert not orphan.exists() and bytes.fromhex(catalogue.file("img/a.png").info_hash) in again.known


def test_a_name_that_cannot_be_handled_safely_is_refused_with_its_reason(publishing):
    site, config, catalogue, seeder, publisher = publishing
    site.add("img/50%.png", os.urandom(5000))
    assert publisher.update("img/50%.png") is None
    assert publisher.refused["img/50%.png"].startswith("its name has a character (% ? #")
    assert catalogue.files() == {}


# --- bundles and rendered copies --------------------------------------------------------------

def test_a_stored_bundle_is_guarded_first_and_removed_whole(publishing):
    site, config, catalogue, seeder, publisher = publishing
    for rel in ("img/a.png", "img/b c.png"):
        site.add(rel, os.urandom(20_000))
        publisher.update(rel)
    rows = [catalogue.file("img/a.png"), catalogue.file("img/b c.png")]
    row = store_bundle(config, catalogue, "k1", [r.path for r in rows], build_bundle(config, rows))
    folder = (config.state_dir / row.torrent).parent
    assert (folder / ".htaccess").read_text().splitlines()[-1] == \
        "Require expr \"-U '/img/a.png' && -U '/img/b c.png'\""
    assert catalogue.bundles()["k1"] == row and info_hash((config.state_dir / row.torrent).read_bytes()) == row.info_hash
    remove_bundle(config, row.torrent)
    assert not folder.exists()


def test_rendered_copies_appear_when_the_bundle_exists_and_go_at_the_first_change(publishing):
    site, config, catalogue, seeder, publisher = publishing
    site.add("img/a.png", os.urandom(20_000))
    publisher.update("img/a.png")
    site.add("page.html", b'<html><head></head><body><img src="img/a.png"></body></html>')
    copies = RenderedCopies(config)
    copies.note_page("page.html")
    assert copies.refresh_pending() == 0                   # no bundle yet: the request is queued
    (key, paths), = catalogue.bundle_requests()
    rows = [catalogue.file(p) for p in paths]
    store_bundle(config, catalogue, key, paths, build_bundle(config, rows))
    assert copies.refresh_pending() == 1
    copy = config.state_dir / "pages" / "page.html"
    assert b'rel="torrent"' in copy.read_bytes()
    assert copies.invalidate("img/a.png") == {"page.html"}  # an asset changed: the copy goes at once
    assert not copy.exists() and copies.pending_pages() == {"page.html"}


def test_parts_stop_in_reverse_by_the_deadline_and_report_what_failed():
    import asyncio
    import threading
    import time as clock
    from torrentweb.seeder.lifecycle import Part, Parts
    done, release = [], threading.Event()

    async def stuck():
        await asyncio.sleep(60)

    def broken(old, new):
        raise RuntimeError("no")

    parts = Parts()
    parts.started(Part("first", stop=lambda: done.append("first"), blocking=True,
                       reload=lambda old, new: done.append(("first", new))))
    parts.started(Part("hangs", stop=stuck, reload=broken))
    parts.started(Part("thread", stop=lambda: release.wait(30), blocking=True))
    parts.started(Part("fails", stop=lambda: 1 / 0, reload=lambda old, new: done.append(("fails", new))))

    async def run():
        await parts.reload("old", "new")                 # one failing reload does not stop the others
        errors = await parts.stop(clock.monotonic() + 0.5)
        release.set()
        return errors
    errors = asyncio.run(run())
    assert done == [("first", "new"), ("fails", "new"), "first"]
    assert errors == ["fails: division by zero", "thread: not stopped by the deadline",
                      "hangs: not stopped by the deadline"]
    assert parts.names() == []


def test_the_origins_egress_makes_a_viewed_page_hot_what_visitors_send_each_other_does_not(tmp_path):
    """pages.uplink is the origin's budget: Apache's and the seeder's bytes count against it;
    what visitors report sending each other is the saving, never the origin's load."""
    from torrentweb.seeder.heat import Heat, Request
    site = make_site(tmp_path, pages={"uplink": 1000, "hot": {"views": 100, "egress": 0.5}})
    clock = [1000.5]
    heat = Heat(load(site.config_path), clock=lambda: clock[0])
    heat.take(Request(995, 200, 100, "GET", "/index.html", "text/html"))     # one view, small
    heat.visitors_sent(990, 0)
    heat.visitors_sent(995, 1_000_000)                 # visitors trading a lot among themselves
    assert heat.decide(lambda page: 0) == ({}, [])
    for second in range(989, 1000, 2):                 # the status thread's samples: 0.6 x uplink
        heat.seeder_sent(second + 0.9, 600)
    assert heat.decide(lambda page: 0) == ({"/index.html": 1000.5}, [])


def test_a_new_seeder_address_moves_every_entry_and_loses_none_still_waiting(publishing, monkeypatch):
    """presence.relocate() on SIGHUP: entered torrents move to the new address, and torrents
    still waiting their turn (more than BATCH came at once) are entered there too."""
    from torrentweb.config import TrackerConfig
    from torrentweb.seeder import presence as presence_module
    from torrentweb.seeder.tracker.swarm import Swarms
    monkeypatch.setattr(presence_module, "BATCH", 1)   # one entry per tick
    site, config, catalogue, seeder, publisher = publishing
    seeder.is_own_tracker = lambda url: url in config.announce_urls()
    swarms = Swarms(TrackerConfig(), lambda ih: True)
    presence = presence_module.Presence(swarms, seeder, ["127.0.0.1"])
    hashes = []
    for name in ("first", "second"):
        site.add(f"img/{name}.png", os.urandom(20_000))
        hashes.append(bytes.fromhex(publisher.update(f"img/{name}.png").info_hash))
    presence.tick()                                    # `first` entered, `second` waits
    presence.relocate(["127.0.0.3"])
    for _ in range(3):
        presence.tick()
    port = seeder.listen_port().to_bytes(2, "big")
    for ih in hashes:
        assert swarms.swarms[ih].pools[0].compacts == [bytes([127, 0, 0, 3]) + port], ih


def test_the_daemons_own_fetches_are_egress_but_no_page_views(tmp_path):
    """Apache's request log names the User-Agent: the daemon's fetch of a dynamic page (its
    access probe's agent) sends bytes, but with pages.hot.views: 1 it made the page hot once
    per revalidation with nobody there. A line of the older format (no agent) still parses."""
    from torrentweb.seeder.heat import Heat, parse
    site = make_site(tmp_path, pages={"hot": {"views": 1}})
    heat = Heat(load(site.config_path), clock=lambda: 1000.5)
    own = parse(b'999 200 5000 GET "/page.php" "text/html; charset=UTF-8" "torrentweb-access-check/0.1"')
    assert own is not None and own.own and own.size == 5000
    heat.take(own)
    assert heat.decide(lambda page: 0) == ({}, [])
    assert heat.egress.rate(1000.5, 0) > 0
    old = parse(b'999 200 5000 GET "/page.php" "text/html"')
    visitor = parse(b'999 200 5000 GET "/page.php" "text/html" "Mozilla/5.0 (X11; Linux x86_64)"')
    assert old is not None and not old.own and visitor is not None and not visitor.own
    heat.take(visitor)
    assert heat.decide(lambda page: 0) == ({"/page.php": 1000.5}, [])
