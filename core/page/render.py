"""The filter proper, transport-free: page bytes in, page bytes with torrent links out.

The WSGI handler (static pages), the middleware (WSGI apps) and the daemon's rendered copies
all call PageFilter.render(); it never hashes: a page whose bundle is not built yet is served
without its link and the bundle is queued for the daemon.
"""
from __future__ import annotations

import collections
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from torrentweb.catalogue import CatalogueReader
from torrentweb.errors import CatalogueUnavailable

from . import loadertag, scan
from .inject import inject
from .plan import head_html, plan as make_plan
from .swap import swap

log = logging.getLogger("torrentweb.apache")

@dataclass(frozen=True)
class Settings:
    """What the filter needs; from SetEnv lines in the httpd snippet or from the YAML config."""
    docroot: Path
    state_dir: Path
    prefix: str
    large_file_size: int
    max_page_size: int
    p2p: str                             # pages.p2p: auto (hot pages swapped), always, off
    loader_tag: str | None               # the loader's <script> (loadertag.py), unless p2p is off
    base_path: str = "/"                 # URL path the document root is served under
    origin: str | None = None            # scheme://host[:port] of base_url (None: relative URLs only)
    # No other defaults: every value comes from the YAML (from_config) or from the SetEnv lines
    # the snippet renders from it (from_environ), so they cannot drift from core/config.py.

    @property
    def catalogue_path(self) -> Path:
        return self.state_dir / "catalogue.sqlite"

    @classmethod
    def from_config(cls, config) -> "Settings":
        parts = urlsplit(config.base_url)
        return cls(docroot=Path(config.docroot), state_dir=Path(config.state_dir),
                   prefix=config.apache.prefix, base_path=parts.path or "/",
                   origin=f"{parts.scheme}://{parts.netloc}",
                   large_file_size=config.pages.large_file_size,
                   max_page_size=config.pages.max_page_size,
                   p2p=config.pages.p2p, loader_tag=_config_loader_tag(config))

    @classmethod
    def from_environ(cls, environ) -> "Settings":
        """From the TORRENTWEB_* variables the snippet sets; KeyError names a missing one."""
        def get(name):
            try:
                return environ[f"TORRENTWEB_{name}"]
            except KeyError:
                raise KeyError(f"TORRENTWEB_{name} is not set: include the snippet printed by "
                               "`torrentweb apache-config`") from None
        return cls(docroot=Path(get("DOCROOT")), state_dir=Path(get("STATE_DIR")),
                   prefix=get("PREFIX"), large_file_size=int(get("LARGE_FILE_SIZE")),
                   max_page_size=int(get("MAX_PAGE_SIZE")),
                   p2p=get("P2P"), loader_tag=loadertag.tag_from_environ(environ))


def _config_loader_tag(config) -> str | None:
    if config.pages.p2p == "off":
        return None
    try:
        return loadertag.loader_tag(config.apache.prefix, loadertag.default_loader_dir(),
                                    loadertag.parse_settings(loadertag.settings_env(config.loader)))
    except FileNotFoundError:
        log.warning("pages.p2p is %s but the loader is not installed in %s", config.pages.p2p,
                    loadertag.default_loader_dir())
        return None


@dataclass(frozen=True)
class Rendered:
    body: bytes
    injected: bool
    etag_seed: str          # what changes whenever the injected markup does
    built: float            # when the newest linked bundle was built (0: none)
    waiting: bool = False   # its bundle is not built yet (asked of the daemon)
    assets: tuple = ()      # the candidate asset paths the page embeds
    bundle_key: str | None = None   # the page bundle it links (or waits for)
    hot: bool = False       # rendered for a hot page: its assets swapped for the swarm


class PageFilter:
    """Renders pages against the catalogue, caching by (page identity, catalogue version)."""

    CACHE_SIZE = 512

    def __init__(self, settings: Settings, reader: CatalogueReader | None = None):
        self.settings = settings
        self.reader = reader or CatalogueReader(settings.catalogue_path)
        self._docroot_prefix = str(settings.docroot).rstrip("/") + "/"
        self._request_error = None
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self._hot_version, self._hot = None, {}       # is_hot() per page, at one catalogue version

    def page_path_for(self, filename: str) -> str | None:
        """URL path of a file in the document root (None if outside)."""
        root = self._docroot_prefix
        if not filename.startswith(root) or "/../" in filename or "/./" in filename:
            return None
        return self.settings.base_path + filename[len(root):]

    def render(self, html: bytes, page_path: str, identity=None, hot: bool | None = None) -> Rendered:
        """The page with its links. Raises CatalogueUnavailable if the catalogue is unreadable.

        identity: a hashable that changes whenever the page's bytes do (e.g. (path, size,
        mtime_ns)); with it, results are cached until the catalogue version changes.
        hot: render it as a hot (True) or cold (False) page; None = as the daemon decided."""
        hot = self.is_hot(page_path) if hot is None else hot
        key = None
        if identity is not None:
            key = (identity, page_path, self.reader.version(), hot)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        result = self._render(html, page_path, hot)
        if key is not None:
            with self._lock:
                self._cache[key] = result
                while len(self._cache) > self.CACHE_SIZE:
                    self._cache.popitem(last=False)
        return result

    def _request(self, key: str, paths):
        """Queue a bundle for the daemon. Failing to (a catalogue the web server may read but not
        write) costs only this page's link until the daemon's own page scan builds it."""
        try:
            self.reader.request_bundle(key, paths)
        except CatalogueUnavailable as e:
            if self._request_error != e.reason:
                self._request_error = e.reason
                log.warning("cannot queue page bundles: %s (make the state directory group-writable "
                            "for the web server's group)", e)

    def is_hot(self, page_path: str) -> bool:
        """Swarm first? pages.p2p always: yes; off: no; auto: as the daemon decided."""
        p2p = self.settings.p2p
        if p2p != "auto":
            return p2p == "always"
        version = self.reader.version()          # a stat: the query only after a change
        with self._lock:
            if self._hot_version != version:
                self._hot_version, self._hot = version, {}
            hot = self._hot.get(page_path)
        if hot is None:
            hot = self.reader.is_hot(page_path)
            with self._lock:
                self._hot[page_path] = hot
        return hot

    def prepare(self, html: bytes, page_path: str, hot: bool) -> "Prepared":
        """What the page gets, without applying it: the <head> markup (b"" when nothing to
        link) and the URL paths of the assets to swap (only when hot). Queues a missing bundle.
        Static pages (_render) and dynamic pages (the daemon's instructions) both come from here."""
        s = self.settings
        candidates = tuple(scan.candidate_paths(html, page_path, s.base_path, s.origin))
        if not candidates:
            return Prepared(b"", (), False, 0.0, False, (), None)
        plan = make_plan(self.reader.assets(candidates).values(), s.large_file_size)
        bundle = None
        if plan.key:
            bundle = self.reader.bundle(plan.key)
            if bundle is None:
                self._request(plan.key, [a.path for a in plan.bundled])
        waiting = bool(plan.key) and bundle is None
        hot = hot and s.p2p != "off"
        swapped = ()
        if hot:          # only assets a torrent link now carries: the loader can fetch them
            linked = (plan.bundled if bundle else ()) + plan.large
            swapped = tuple(s.base_path + a.path for a in linked if a.swap)
        tag = s.loader_tag if s.p2p != "off" else None
        if tag is not None and swapped:
            tag = loadertag.hot(tag)
        elif tag is not None and not hot:
            tag = loadertag.cold(tag)     # hot with nothing swapped: the loader's cold path, as is
        head = head_html(s.prefix, bundle.torrent if bundle else None, plan.large, tag)
        hot = bool(head) and hot
        return Prepared(head, swapped, hot, bundle.built if bundle else 0.0, waiting, candidates,
                        plan.key)

    def _render(self, html: bytes, page_path: str, hot: bool) -> Rendered:
        s = self.settings
        p = self.prepare(html, page_path, hot)
        unchanged = Rendered(html, False, "", 0.0, p.waiting, p.candidates, p.bundle_key)
        if not p.head:
            return unchanged
        if p.hot:
            html = swap(html, page_path, p.swapped, s.base_path, s.origin)
        body = inject(html, p.head)
        if body is None:
            log.info("%s: cannot tell where the <head> starts; served unchanged", page_path)
            return unchanged
        return Rendered(body, True, p.etag_seed, p.built, p.waiting, p.candidates, p.bundle_key, p.hot)


@dataclass(frozen=True)
class Prepared:
    head: bytes                  # the markup for <head> (b"": the page links nothing)
    swapped: tuple               # URL paths of the assets to swap (hot pages only)
    hot: bool                    # swarm first: its swappable assets are swapped
    built: float                 # when its bundle was built (0: none)
    waiting: bool                # its bundle is not built yet (asked of the daemon)
    candidates: tuple            # the candidate asset paths the page embeds
    bundle_key: str | None

    @property
    def etag_seed(self) -> str:
        """Changes whenever the injected markup does."""
        if not self.head:
            return ""
        return hashlib.sha1(self.head).hexdigest()[:16] + ("h" if self.hot else "")
