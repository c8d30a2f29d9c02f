"""Page bundles in the daemon: one multi-file torrent carrying all of a page's assets, and the
rendered copies of pages that Apache core serves by itself.

The daemon drives a Bundler(config, catalogue, seeder, publisher) (see daemon._make_bundler):
restore() at start, tick(pool, stopping) every loop turn, noticed(rel) on each raw change,
configure(config) on reload. Underneath:
  build_bundle(config, rows, cancel) -> Built       hash a bundle (rows: the catalogue's FileRows)
  pages_wanted(config, html_path) -> [path]         candidate assets of an HTML file (the same
                                                    scan code as the Apache filter)
  RenderedCopies(config)                            the pages Apache core serves by itself
Rendering a page through the filter also queues its missing bundle in bundle_requests, so
the daemon builds the bundles of the HTML files it sees with the filter's own code path.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import libtorrent as lt

from torrentweb.catalogue import BundleRow, bundle_key, bundle_torrent_path
from torrentweb.errors import BuildError, CatalogueUnavailable
from torrentweb.naming import bundle_seed_urls, seed_name
from torrentweb.page import scan
from torrentweb.page.render import PageFilter, Settings

from .builder import (Built, build, outer_keys, piece_size_for, read_torrent,
                      with_outer_keys, write_atomically)
from .dynamic import DynamicPages

log = logging.getLogger("torrentweb.bundles")

HTML_SUFFIXES = (".html", ".htm")
RENDER_EVERY = 0.25          # seconds between renderings of pages still waiting for a bundle


def access_rules(config, paths) -> bytes:
    """The bundle's .htaccess: Apache hands the bundle only to a visitor who may fetch every
    file in it, by the files' own URLs (-U runs each URL's whole access check for this visitor).
    Paths were published, so their names are safe inside the quotes (access.SAFE_NAME)."""
    checks = " && ".join(f"-U '{config.base_path}{p}'" for p in sorted(paths))
    return (b"# Written by torrentweb: this page bundle goes only to a visitor who may fetch "
            b"every file in it.\n" + f'Require expr "{checks}"\n'.encode("utf-8"))


def store_bundle(config, catalogue, key: str, paths, built) -> BundleRow:
    """A hashed bundle, published: the guard first, then the torrent (a bundle is never
    served without its check), then its row."""
    torrent = bundle_torrent_path(built.info_hash)
    folder = config.state_dir / torrent.rsplit("/", 1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / ".htaccess", access_rules(config, paths))
    write_atomically(config.state_dir / torrent, built.data)
    row = BundleRow(key, built.info_hash, torrent, tuple(paths), time.time())
    catalogue.put_bundle(row)
    return row


def remove_bundle(config, torrent: str):
    """The torrent first, then its guard and directory."""
    path = config.state_dir / torrent
    path.unlink(missing_ok=True)
    if path.parent != config.state_dir / "bundles":
        shutil.rmtree(path.parent, ignore_errors=True)


def build_bundle(config, rows, cancel: Callable[[], bool] = lambda: False) -> Built:
    """A deterministic multi-file v1 torrent of rows (FileRow-like: path, size, mtime_ns).

    Named BUNDLE_NAME on every frontend (never after this machine's document root), paths
    relative to the document root, so every frontend builds the same info-hash; the daemon
    seeds it from the docroot (renamed_files) and each frontend's web seed (url-list
    <base>/.torrentweb/seed/, torrents.web_seeds) resolves name/path to its files. v1-only and
    no pad files: WebTorrent understands neither v2 nor pad files. Raises BuildError when a
    file changed since it was catalogued (the daemon rebuilds after re-cataloguing it)."""
    rows = sorted(rows, key=lambda r: r.path)
    if not rows:
        raise BuildError(config.docroot, "a page bundle needs at least one file")
    for r in rows:
        _check_unchanged(config.docroot, r)
    total = sum(r.size for r in rows)
    top = config.docroot.name
    built = build(config.docroot.parent, [(f"{top}/{r.path}", r.size) for r in rows],
                  piece_size=piece_size_for(total), announce=config.announce_urls(),
                  url_list=bundle_url_list(config), hybrid=False, name=seed_name(config),
                  cancel=cancel)
    for r in rows:
        _check_unchanged(config.docroot, r)
    return built


def _check_unchanged(docroot: Path, row):
    try:
        st = os.stat(docroot / row.path)
    except OSError as e:
        raise BuildError(docroot / row.path, f"cannot read: {e.strerror}") from None
    if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
        raise BuildError(docroot / row.path, "changed since it was catalogued; not bundled")


def not_cut_as_now(info: "lt.torrent_info", config) -> str | None:
    """Why a bundle is not as this version builds it, None if it is: an older version's name has
    no web seed and no other frontend's info-hash; another piece size (an older version's) no
    other frontend's either."""
    if info.name() != seed_name(config):
        return f"named after this machine's document root ({info.name()!r}, now {seed_name(config)!r})"
    now = piece_size_for(info.total_size())
    if info.piece_length() != now:
        return (f"cut into pieces of another size ({info.piece_length() // 1024} KiB, now "
                f"{now // 1024} KiB)")
    return None


def bundle_url_list(config) -> list[str]:
    return bundle_seed_urls(config) if config.torrents.web_seed else []


def save_path(config) -> Path:
    """Where libtorrent finds a bundle's files: the docroot, with renamed_files."""
    return config.docroot


def renamed_files(data: bytes) -> dict[int, str]:
    """A bundle's files at their paths relative to the docroot: name/<path> -> <path>
    (whatever the name, so bundles built before BUNDLE_NAME still seed)."""
    ti = lt.torrent_info(data)
    return {i: ti.layout().file_path(i).split("/", 1)[1] for i in range(ti.num_files())}


def pages_wanted(config, html_path) -> list[str]:
    """Candidate asset paths (relative to the docroot) of an HTML file in the docroot."""
    filt = PageFilter(Settings.from_config(config))
    html = _read_page(html_path, config.pages.max_page_size)
    page_path = filt.page_path_for(str(html_path))
    if html is None or page_path is None:
        return []
    return scan.candidate_paths(html, page_path, filt.settings.base_path, filt.settings.origin)


def _read_page(path, limit: int) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


class RenderedCopies:
    """Injected copies of pages under <state_dir>/pages/, served by Apache core via mod_rewrite.

    A copy exists only while it is current: invalidate() deletes it at the first sign of a
    change to the page or to any file it embeds; refresh_pending() writes it again once the
    page's bundle is built. Not thread-safe: call from the daemon's one worker thread."""

    def __init__(self, config):
        self.config = config
        self.root = Path(config.state_dir) / "pages"
        self.hot_root = Path(config.state_dir) / "hot"     # hot pages' copies (pages.p2p: auto)
        self.filter = PageFilter(Settings.from_config(config))
        self.pending: set[str] = set()
        self._embeds: dict[str, tuple] = {}          # page -> asset paths it embeds
        self._embedded_by: dict[str, set] = {}       # asset path -> pages embedding it
        self._generation: dict[str, int] = {}        # bumped by invalidate()
        self._keys: dict[str, str] = {}              # page -> the bundle key it links
        self._lock = threading.Lock()                # the loop thread invalidates, a pool thread renders

    def adopt(self, old: "RenderedCopies"):
        """Take over another instance's knowledge (after a reload); all its pages are re-rendered."""
        with old._lock:
            pages = set(old._embeds) | old.pending
            embeds = dict(old._embeds)
        with self._lock:
            for page, assets in embeds.items():
                self._set_embeds(page, assets)
            self.pending |= pages

    def pages_embedding(self, paths) -> set[str]:
        with self._lock:
            return {page for p in paths for page in self._embedded_by.get(p, ())}

    def pending_pages(self) -> set[str]:
        with self._lock:
            return set(self.pending)

    def note_page(self, rel: str):
        if rel.endswith(HTML_SUFFIXES):
            with self._lock:
                self.pending.add(rel)

    def invalidate(self, rel: str) -> set[str]:
        """A file changed (or appeared, or went): drop the copies that may now be stale."""
        with self._lock:
            stale = set(self._embedded_by.get(rel, ()))
            if rel.endswith(HTML_SUFFIXES):
                stale.add(rel)
            for page in stale:
                self._remove(page)
                self.pending.add(page)
                self._generation[page] = self._generation.get(page, 0) + 1
        return stale

    def forget(self, rel: str):
        with self._lock:
            self._remove(rel)
            self._set_embeds(rel, ())
            self._keys.pop(rel, None)
            self.pending.discard(rel)

    def bundle_key_of(self, rel: str) -> str | None:
        with self._lock:
            return self._keys.get(rel)

    def bundle_keys(self) -> set[str]:
        """The bundles that the docroot's HTML files link (as last rendered)."""
        with self._lock:
            return set(self._keys.values())

    def _set_embeds(self, page: str, assets):
        for a in self._embeds.pop(page, ()):
            pages = self._embedded_by.get(a)
            if pages is not None:
                pages.discard(page)
                if not pages:
                    del self._embedded_by[a]
        if assets:
            self._embeds[page] = tuple(assets)
            for a in assets:
                self._embedded_by.setdefault(a, set()).add(page)

    def refresh_pending(self, only=None) -> int:
        """Render pending pages (or those of `only`); write the copies that got their links.
        Returns how many copies were written."""
        written = 0
        pages = self.pending_pages() if only is None else set(only) & self.pending_pages()
        for rel in sorted(pages):
            try:
                written += self._refresh(rel)
            except CatalogueUnavailable as e:
                log.warning("%s; rendered copies wait", e)
                break
        return written

    def _refresh(self, rel: str) -> bool:
        """Render one page; True if a copy was written. It stays pending while its bundle is
        not built, or while an asset on disk differs from its catalogue row (being re-hashed)."""
        with self._lock:
            generation = self._generation.get(rel, 0)
        path = self.config.docroot / rel
        html = _read_page(path, self.config.pages.max_page_size)
        if html is None:
            self.forget(rel)
            return False
        page_path = self.filter.page_path_for(str(path))
        auto = self.config.pages.p2p == "auto"
        rendered = self.filter.render(html, page_path, hot=False if auto else None)
        hot = self.filter.render(html, page_path, hot=True) if auto and self.filter.is_hot(page_path) \
            else None
        settled = not rendered.waiting and self._assets_current(rendered.assets)
        write = rendered.injected and settled and self.config.pages.rendered_copies
        with self._lock:
            if self._generation.get(rel, 0) != generation:     # changed while rendering
                return False
            self._set_embeds(rel, rendered.assets)
            if rendered.bundle_key:
                self._keys[rel] = rendered.bundle_key
            else:
                self._keys.pop(rel, None)
            if write and _read_page(path, self.config.pages.max_page_size) == html:
                if hot is not None and hot.injected:     # the hot copy first: a cold one never wins
                    write_atomically(self.hot_root / rel, hot.body)
                else:
                    _unlink(self.hot_root / rel)
                write_atomically(self.root / rel, rendered.body)
            else:
                write = False
                self._remove(rel)
            if settled:
                self.pending.discard(rel)
        return write

    def _assets_current(self, paths) -> bool:
        for asset in self.filter.reader.assets(paths).values():
            try:
                st = os.stat(self.config.docroot / asset.path)
            except OSError:
                return False
            if (st.st_size, st.st_mtime_ns) != (asset.size, asset.mtime_ns):
                return False
        return True

    def _remove(self, rel: str):
        _unlink(self.hot_root / rel)
        _unlink(self.root / rel)

    def remove_all(self):
        shutil.rmtree(self.hot_root, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _unlink(path: Path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _log_step_failure(fut):
    if not fut.cancelled() and fut.exception() is not None:
        log.error("page bundles: a step failed", exc_info=fut.exception())


class Bundler:
    """The daemon's page-bundle component. Its public methods are called on the daemon's loop
    and return at once: the catalogue's reads and writes and the torrent files run on the
    component's own `bundles` thread, one step at a time (so its state needs no lock); hashing
    and page rendering run in the daemon's pool."""

    def __init__(self, config, catalogue, seeder, publisher):
        self.catalogue, self.seeder, self.publisher = catalogue, seeder, publisher
        self.building: dict = {}             # key -> Future of (rows, Built)
        self.rendering = None                # Future of RenderedCopies.refresh_pending()
        self.failed: dict[str, float] = {}   # key -> when its build failed (retried later)
        self.quiet_until: dict[str, float] = {}   # written by the loop, read by the thread
        self._quiet_lock = threading.Lock()
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bundles")
        self._step = None                     # Future of the last tick's work
        self.next_render = 0.0
        self._snapshot: dict = {}           # path -> (size, mtime_ns, info_hash) at the last sweep
        self.seen_version = None
        self.info_hashes: dict[str, bytes] = {}    # bundle key -> info-hash, of those seeded
        self.configure(config)

    def configure(self, config):
        """At start and after a valid reload: every page is rendered again with the new settings
        (prefix, sizes, loader), keeping what is known of which page embeds which file. On the
        bundles thread, after the step running now."""
        if getattr(self, "copies", None) is None:
            self._configure(config)
        else:
            self.worker.submit(self._configure, config)

    def _configure(self, config):
        old = getattr(self, "copies", None)
        self.config = config
        if getattr(self, "dynamic", None) is None:
            self.dynamic = DynamicPages(config)
        else:
            self.dynamic.configure(config)
        self.copies = RenderedCopies(config)
        if old is not None:
            self.copies.adopt(old)
        self.seen_version = None

    # start -----------------------------------------------------------------------------------

    def stop(self):
        """Rendered copies are current only while the daemon watches the pages: without it,
        a page edited on disk would keep being served from its old copy. Apache then sends
        every page through the filter until the next start renders them again."""
        self.worker.shutdown(wait=True, cancel_futures=True)
        self.copies.remove_all()
        self.dynamic.stop()

    def restore(self):
        """Seed the catalogued bundles that are still current, drop the rest, and render every
        HTML page of the docroot (which queues the bundles they lack)."""
        self._drop_stale_bundles()
        unseeded = {row.key: why for row in self.catalogue.bundles().values() if (why := self._seed(row))}
        for row in self.catalogue.remove_bundles(list(unseeded)):   # pages ask for them again
            log.warning("bundle %s: its torrent is %s; it is built again", row.info_hash, unseeded[row.key])
            remove_bundle(self.config, row.torrent)
        self._remove_orphans()
        # copies from before the restart may be stale (pages edited while the daemon was down)
        self.copies.remove_all()
        if not self.config.pages.enabled:
            return
        self.dynamic.start()
        for dirpath, dirnames, names in os.walk(self.config.docroot):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in names:
                if name.endswith(HTML_SUFFIXES) and not name.startswith("."):
                    rel = (Path(dirpath) / name).relative_to(self.config.docroot).as_posix()
                    self.copies.note_page(rel)
        # the first tick's sweep renders them (queueing the bundles they lack)

    def _seed(self, row: BundleRow) -> str | None:
        """Seed a catalogued bundle; or why not (its torrent must be built again)."""
        path = self.config.state_dir / row.torrent
        data = read_torrent(path, row.info_hash)
        if data is None:
            return "missing or damaged"
        why = not_cut_as_now(lt.torrent_info(data), self.config)
        if why:
            return why
        want = outer_keys(self.config.announce_urls(), bundle_url_list(self.config))
        new = with_outer_keys(data, want)
        if new != data:          # torrents.web_seeds, base_url or the announce list changed
            write_atomically(path, new)
            log.info("refreshed bundle %s: announce list or web seeds changed", row.info_hash)
        self.seeder.add(row.info_hash, new, save_path(self.config), renamed_files(new))
        self.publisher.known.add(bytes.fromhex(row.info_hash))
        self.info_hashes[row.key] = bytes.fromhex(row.info_hash)
        return None

    def _remove_orphans(self):
        """Bundles without a row (a kill before the commit), and the flat files of old versions."""
        wanted = {r.torrent for r in self.catalogue.bundles().values()}
        folder = self.config.state_dir / "bundles"
        for p in list(folder.iterdir()) if folder.is_dir() else ():
            torrent = f"bundles/{p.name}/{p.name}.torrent"
            if torrent in wanted:
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    # the loop --------------------------------------------------------------------------------

    def page_info_hash(self, page_path: str) -> bytes | None:
        """The info-hash of the bundle a docroot page links, as last rendered."""
        base = self.config.base_path
        if not page_path.startswith(base):
            return None
        key = self.copies.bundle_key_of(page_path[len(base):])
        return self.info_hashes.get(key) if key else None

    def reheat(self, page_paths):
        """Pages turned hot or cold (URL paths), called after the catalogue says so: their
        copies are rendered again now, in the caller's thread (the pool), so the hot copy
        appears (or goes) within milliseconds: in a flash crowd every visitor served in
        between is a whole copy by HTTP."""
        base = self.config.base_path
        rels = [p[len(base):] for p in page_paths if p.startswith(base)]
        for rel in rels:
            self.copies.note_page(rel)
        try:
            self.copies.refresh_pending(rels)
        except OSError as e:                  # the next tick's sweep tries again
            log.warning("rendering hot and cold copies: %s", e)

    def noticed(self, rel: str):
        """A raw change event: stale rendered copies go at once; pages wait until it settles."""
        if not self.config.pages.enabled:
            return
        self.copies.invalidate(rel)
        with self._quiet_lock:
            self.quiet_until[rel] = time.monotonic() + self.config.watch.settle + 0.2

    def tick(self, pool, stopping):
        """Every 50 ms on the loop: hand the next step to the bundles thread, if it is free."""
        if not self.config.pages.enabled or (self._step is not None and not self._step.done()):
            return
        try:
            self._step = self.worker.submit(self._tick, pool, stopping)
        except RuntimeError:
            return                       # stopping: the worker is shut down
        self._step.add_done_callback(_log_step_failure)

    def _tick(self, pool, stopping):
        self._collect(stopping)
        self._submit_requests(pool, stopping)
        self._submit_sweep(pool)
        self.dynamic.tick()

    def _collect(self, stopping):
        for key, future in list(self.building.items()):
            if not future.done():
                continue
            del self.building[key]
            try:
                rows, built = future.result()
            except Exception as e:    # BuildError, Cancelled, or a bug: the request is retried
                if not stopping():
                    log.warning("bundle %s not built: %s", key[:12], e)
                    self.failed[key] = time.monotonic()
                continue
            row = store_bundle(self.config, self.catalogue, key, [r.path for r in rows], built)
            self._seed(row)
            log.info("bundle %s: %d files, info-hash %s", key[:12], len(rows), built.info_hash)
        if self.rendering is not None and self.rendering.done():
            try:
                self.rendering.result()
            except Exception:
                log.exception("rendering page copies failed")
            self.rendering = None

    def _submit_requests(self, pool, stopping):
        now = time.monotonic()
        known = None
        for key, paths in self.catalogue.bundle_requests():
            if key in self.building or now - self.failed.get(key, -1e9) < 10:
                continue
            known = known if known is not None else self.catalogue.bundles()
            rows = [self.catalogue.file(p) for p in paths]
            if key in known or None in rows or bundle_key(rows) != key:
                self.catalogue.drop_bundle_request(key)     # built already, or stale: the page asks again
                continue
            self.building[key] = pool.submit(lambda r=rows: (r, build_bundle(self.config, r, stopping)))

    def _submit_sweep(self, pool):
        """After the catalogue changed or a page settled: withdraw stale bundles and render the
        pages concerned, in the pool (reading the whole files table is not for the loop)."""
        if self.rendering is not None:
            return
        now = time.monotonic()
        if now < self.next_render:
            return
        with self._quiet_lock:
            for rel, until in list(self.quiet_until.items()):
                if until <= now:
                    del self.quiet_until[rel]
                    self.copies.note_page(rel)
            quiet = set(self.quiet_until)
        version = self.catalogue.version()
        ready = {p for p in self.copies.pending_pages() if p not in quiet}
        if version == self.seen_version and not ready:
            return
        self.seen_version = version
        self.next_render = now + RENDER_EVERY
        self.rendering = pool.submit(self._sweep, ready)

    def _sweep(self, ready: set[str]):
        files = self.catalogue.files()
        state = {p: (r.size, r.mtime_ns, r.info_hash) for p, r in files.items()}
        changed = {p for p in state.keys() | self._snapshot.keys()
                   if state.get(p) != self._snapshot.get(p)}
        self._snapshot = state
        for row in self._drop_stale_bundles(files):
            changed.update(row.files)
        pages = ready | self.copies.pages_embedding(changed)
        for page in pages:
            self.copies.note_page(page)
        self.copies.refresh_pending(pages)
        self._drop_unused()

    def _drop_unused(self):
        """Bundles no HTML file links any more (its page was edited or deleted), once they are
        older than pages.unused_bundle_grace: the swarm and the catalogue do not grow forever."""
        if self.copies.pending_pages():
            return                       # some page's bundle is not known yet
        used = self.copies.bundle_keys() | self.dynamic.bundle_keys()
        cutoff = time.time() - self.config.pages.unused_bundle_grace
        unused = [row.key for row in self.catalogue.bundles().values()
                  if row.key not in used and row.built < cutoff]
        if unused:
            self._withdraw(unused, "no page links it any more")

    def _withdraw(self, keys, reason: str) -> list[BundleRow]:
        """Take bundles out of the catalogue, the session, the tracker and the state directory."""
        gone = self.catalogue.remove_bundles(keys)
        for row in gone:
            self.info_hashes.pop(row.key, None)
            self.seeder.remove(row.info_hash)
            self.publisher.known.discard(bytes.fromhex(row.info_hash))
            remove_bundle(self.config, row.torrent)
            log.info("bundle %s withdrawn: %s", row.info_hash, reason)
        return gone

    def _drop_stale_bundles(self, files=None) -> list[BundleRow]:
        """Bundles whose files changed or went: stop seeding them, delete their torrents."""
        files = self.catalogue.files() if files is None else files
        stale = [row.key for row in self.catalogue.bundles().values()
                 if any(p not in files for p in row.files)
                 or bundle_key([files[p] for p in row.files]) != row.key
                 or row.torrent != bundle_torrent_path(row.info_hash)]   # an older layout, unguarded
        return self._withdraw(stale, "its files changed or were withdrawn") if stale else []
