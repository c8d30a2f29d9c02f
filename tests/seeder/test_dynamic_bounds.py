"""The daemon's work for dynamic pages is bounded: only pages the filter asked for, at most
pages.dynamic.fetches_per_minute fetches, at most pages.dynamic.max_pages pages; markers it
cannot trust are dropped. The real DynamicPages on a real state directory, with markers as
the Lua filter writes them; nothing listens at base_url, so each fetch fails (and is logged)."""
from __future__ import annotations

import time

from torrentweb.config import load
from torrentweb.page import dynamic as fmt
from torrentweb.seeder.dynamic import DynamicPages


def drop(state, target, name=None):
    path = fmt.requests_dir(state) / (name or fmt.file_name(*target.split("?", 1)))
    path.write_text(target, encoding="latin-1")
    return path


def pages(site, **dynamic):
    site.write_config(pages={"dynamic": dynamic})
    d = DynamicPages(load(site.config_path))
    d.start()
    return d


def settle(d, turns=40):
    for _ in range(turns):
        d.next_scan = 0.0
        d.tick()
        time.sleep(0.02)


def test_fetches_per_minute_caps_the_fetches_and_the_rest_wait(site):
    d = pages(site, fetches_per_minute=3)
    try:
        for i in range(10):
            drop(site.state, f"/page.php?n={i}")
        settle(d)
        assert len(d.fetch_times) == 3
        assert len(d.queue) == 7 and len(d.pages) == 10
        assert not list(fmt.requests_dir(site.state).iterdir())       # every marker taken
    finally:
        d.stop()


def test_max_pages_keeps_the_most_recently_requested(site):
    d = pages(site, max_pages=4, fetches_per_minute=1)
    try:
        for i in range(6):
            drop(site.state, f"/p?n={i}")
            settle(d, 2)
        assert sorted(p.target for p in d.pages.values()) == [f"/p?n={i}" for i in range(2, 6)]
    finally:
        d.stop()


def test_markers_it_cannot_trust_are_dropped_unread(site):
    d = pages(site)
    try:
        bad = [drop(site.state, "/ok", name="not-a-sha1"),                 # not a page's name
               drop(site.state, "http://elsewhere.example/"),          # not origin-form
               drop(site.state, "/a b"),                               # not a request target
               drop(site.state, "/" + "x" * fmt.MAX_TARGET)]           # too long
        settle(d, 3)
        assert not d.pages and not d.fetch_times
        assert not any(p.exists() for p in bad)
    finally:
        d.stop()


def test_stop_removes_every_instruction(site):
    d = pages(site)
    (fmt.pages_dir(site.state) / (fmt.file_name("/x") + ".lua")).write_bytes(fmt.nothing_file())
    drop(site.state, "/y")
    d.stop()
    assert not list(fmt.pages_dir(site.state).iterdir())
    assert not list(fmt.requests_dir(site.state).iterdir())


def test_only_the_daemon_may_write_what_pages_get(site):
    d = pages(site)
    try:
        assert fmt.pages_dir(site.state).stat().st_mode & 0o777 == 0o755
        assert fmt.requests_dir(site.state).stat().st_mode & 0o777 == 0o775
    finally:
        d.stop()
