"""Dynamic pages in the daemon: pages no file holds (PHP, CGI, proxied apps).

Apache's Lua filter (apache/dynamic.lua) drops a marker for a requested page that has no current
instructions; this component takes the markers, fetches each page through Apache as the
anonymous visitor from the Internet (access.py's probe identity, so the site's own rules
decide what it sees), scans it with the static pages' code (PageFilter.prepare: the same scan,
plan and swap decision) and writes the filter's instructions (torrentweb.page.dynamic). A page
whose bundle is not built yet waits for it (the request queues it, the Bundler builds it).

Bounded: only requested pages, at most pages.dynamic.fetches_per_minute fetches, bodies of at
most pages.max_page_size, at most pages.dynamic.max_pages pages (the least recently requested
go). A page is fetched again when requested after pages.dynamic.revalidate seconds; its
instructions follow the catalogue (a withdrawn bundle or asset takes them with it).

Driven by the Bundler from its own thread (tick, bundle_keys, configure, stop); the
fetches and rendering run on a thread of its own, never on the daemon's loop.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import os
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from torrentweb.errors import CatalogueUnavailable
from torrentweb.page import dynamic as fmt
from torrentweb.page.render import PageFilter, Settings
from torrentweb.page.swap import swap_edits

from .access import AccessCheck, ApacheUnavailable
from .builder import write_atomically

log = logging.getLogger("torrentweb.dynamic")

SCAN_EVERY = 0.25          # seconds between looks at the markers
MARKERS_PER_SCAN = 200     # read at most this many per look (the Bundler's thread reads them)
LINKED = b'type="application/x-bittorrent" rel="torrent"'   # a page already linked elsewhere


@dataclass
class Page:
    name: str                        # its file name (torrentweb.page.dynamic)
    target: str                      # path?query as requested
    path: str                        # its path as the request log has it: the key of its heat
    body: bytes | None = None        # the anonymous view, zlib-compressed (None: not fetched)
    fetched: float = 0.0             # monotonic time of the last fetch
    requested: float = 0.0           # monotonic time of the last marker
    bundle_key: str | None = None    # the bundle its instructions link


class DynamicPages:
    def __init__(self, config):
        self.pages: dict[str, Page] = {}          # file name -> Page
        self.queue: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.fetch_times: collections.deque = collections.deque()
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dynamic")
        self.busy = None
        self.next_scan = 0.0
        self.seen_version = None
        self._unavailable = None
        self.configure(config)

    def configure(self, config):
        self.config = config
        self.settings = config.pages.dynamic
        self.filter = PageFilter(Settings.from_config(config))
        self.access = AccessCheck(config)
        self.pages_dir = fmt.pages_dir(config.state_dir)
        self.requests_dir = fmt.requests_dir(config.state_dir)
        self.seen_version = None                   # re-render every page with the new settings
        if not (config.pages.enabled and self.settings.enabled):
            self.pages.clear()
            self.queue.clear()
            self._clear()                          # switched off: nothing of it stays applied

    def start(self):
        """Instructions from before this start may be stale: they are made again on request."""
        self._clear()
        # Apache's workers (the group) drop markers in requests/ and only read pages/: what a
        # page gets is written by the daemon alone
        for d, mode in ((self.pages_dir, 0o2755), (self.requests_dir, 0o2775)):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)

    def stop(self):
        self.worker.shutdown(wait=True, cancel_futures=True)
        self._clear()

    def _clear(self):
        for d in (self.pages_dir, self.requests_dir):
            for p in d.glob("*") if d.is_dir() else ():
                p.unlink(missing_ok=True)

    def bundle_keys(self) -> set[str]:
        return {p.bundle_key for p in self.pages.values() if p.bundle_key}

    # the Bundler's thread ---------------------------------------------------------------------

    def tick(self):
        if not self.settings.enabled:
            return
        now = time.monotonic()
        if self.busy is not None:
            if not self.busy.done():
                return
            try:
                self.busy.result()
            except Exception:
                log.exception("dynamic pages: preparing failed")
            self.busy = None
        if now >= self.next_scan:
            self.next_scan = now + SCAN_EVERY
            self._take_markers(now)
            self._expire_nothing(now)
        try:
            version = self.filter.reader.version() if self.pages else None
        except CatalogueUnavailable:
            version = self.seen_version          # nothing to render against yet
        due = self._next_fetch(now)
        if due is not None:
            self.busy = self.worker.submit(self._fetch, due)
        elif version != self.seen_version:
            self.seen_version = version
            self.busy = self.worker.submit(self._render_all)

    def _take_markers(self, now: float):
        try:
            with os.scandir(self.requests_dir) as entries:
                markers = list(itertools.islice(entries, MARKERS_PER_SCAN))
        except OSError:
            return
        for entry in markers:
            name = entry.name
            if name.endswith(".tmp"):
                if _age(entry) > 60:                 # a worker died while writing it
                    _unlink(entry.path)
                continue
            try:
                with open(entry.path, "rb") as f:
                    text = f.read(2 * fmt.MAX_TARGET + 2).decode("latin-1")
            except OSError:
                continue
            _unlink(entry.path)
            target, _, path = text.partition("\n")
            if not fmt.valid_target(target) or not fmt.valid_name(name):
                continue
            if not fmt.valid_target(path):     # not ASCII once decoded: its heat is not followed
                path = urlsplit(target).path
            page = self.pages.get(name)
            if page is None:
                page = self.pages[name] = Page(name, target, path, requested=now)
                self._evict()
            page.requested = now
            if page.body is None or now - page.fetched >= self.settings.revalidate:
                self.queue[name] = None

    def _expire_nothing(self, now: float):
        """Pages with nothing to add have an empty file, which keeps the filter (and so its
        marker) away: after revalidate it goes, and the next request asks again."""
        for name, page in self.pages.items():
            if page.bundle_key is None and page.fetched and now - page.fetched >= self.settings.revalidate \
                    and name not in self.queue:
                page.fetched = 0.0
                _unlink(self.pages_dir / f"{name}.lua")

    def _evict(self):
        while len(self.pages) > self.settings.max_pages:
            name = min(self.pages, key=lambda n: self.pages[n].requested)
            del self.pages[name]
            self.queue.pop(name, None)
            _unlink(self.pages_dir / f"{name}.lua")

    def _next_fetch(self, now: float) -> Page | None:
        while self.fetch_times and now - self.fetch_times[0] > 60:
            self.fetch_times.popleft()
        if not self.queue or len(self.fetch_times) >= self.settings.fetches_per_minute:
            return None
        name, _ = self.queue.popitem(last=False)
        self.fetch_times.append(now)
        return self.pages.get(name)

    # the worker thread ------------------------------------------------------------------------

    def _fetch(self, page: Page):
        limit = self.config.pages.max_page_size
        try:
            got = self.access.fetch(page.target, limit)
        except ApacheUnavailable as e:
            if self._unavailable != e.reason:
                self._unavailable = e.reason
                log.warning("%s: %s", page.target, e)
            return
        self._unavailable = None
        page.fetched = time.monotonic()
        kind = got.content_type.split(";")[0].strip().lower()
        if got.status != 200 or got.body is None or got.content_encoding \
                or kind not in self.settings.content_types:
            why = ("longer than pages.max_page_size" if got.body is None and got.status == 200
                   else f"{got.status}, {kind or 'no type'}{', ' + got.content_encoding if got.content_encoding else ''}")
            log.info("dynamic page %s: the anonymous visitor gets %s; passed unchanged", page.target, why)
            page.body = None
            self._write(page, fmt.nothing_file(), None)
            return
        page.body = zlib.compress(got.body, 1)
        self._render(page)

    def _render_all(self):
        for page in list(self.pages.values()):
            if page.body is not None:
                self._render(page)

    def _render(self, page: Page):
        body = zlib.decompress(page.body)
        path = urlsplit(page.target).path      # the document's URL: relative references resolve here
        if LINKED in body:                  # the middleware or a rendered copy links it already
            self._write(page, fmt.nothing_file(), None)
            return
        try:
            p = self.filter.prepare(body, path, self.filter.is_hot(page.path))
        except CatalogueUnavailable as e:
            log.warning("%s; dynamic pages wait", e)
            return
        if p.waiting:                       # its bundle is being built: no stale link meanwhile
            _unlink(self.pages_dir / f"{page.name}.lua")
            page.bundle_key = p.bundle_key
            return
        data = None
        if p.head:
            s = self.filter.settings
            edits = swap_edits(body, path, p.swapped, s.base_path, s.origin) if p.swapped else []
            data = fmt.page_file(body, p.head, edits, p.etag_seed)
            if data is None:
                log.info("dynamic page %s: cannot tell where the <head> starts; passed unchanged",
                         page.target)
        self._write(page, data or fmt.nothing_file(), p.bundle_key if data else None)

    def _write(self, page: Page, data: bytes, bundle_key: str | None):
        path = self.pages_dir / f"{page.name}.lua"
        page.bundle_key = bundle_key
        try:
            with open(path, "rb") as f:
                same = f.read() == data
        except OSError:
            same = False
        if same:
            os.utime(path)                  # current again: the filter asks after revalidate
        else:
            write_atomically(path, data)
            if bundle_key:
                log.info("dynamic page %s: linked to bundle %s", page.target, bundle_key[:12])


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _age(entry) -> float:
    """Seconds since a file was last written (0 if it went meanwhile)."""
    try:
        return time.time() - entry.stat().st_mtime
    except OSError:
        return 0.0
