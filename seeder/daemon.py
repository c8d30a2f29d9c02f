"""The seeder daemon's lifecycle: start, ready, reload on SIGHUP, clean stop on SIGTERM.

Parts start in the order of `start()` (catalogue, session, publisher, tracker and presence,
WebRTC, metrics, bundles, threads, heat, watcher), each registered once running; SIGHUP
validates the YAML, then hands each part, in that order, the old and the new config; SIGTERM
stops them in reverse by STOP_DEADLINE (seeder/lifecycle.py).

Which thread runs what:
- the main thread runs one asyncio loop: the tracker's HTTP, UDP and WebSocket servers, the
  daemon's ticks (settled paths, rescans, bundles, WebRTC demand in seeder/webrtc.py, the
  seeder's presence in its swarms, hot/cold decisions, Apache's request log datagrams), signal
  handlers (they only set flags; a second SIGTERM forces the exit). Nothing on it may block:
  no libtorrent call that waits for libtorrent's network thread, no file writes of any size;
- `hash-N` threads (`pool`): hashing and publishing files and bundles, rendering page copies,
  committing hot and cold pages;
- the loop's default executor: restoring the catalogue at start and reload; the parts' blocking
  stop steps (asyncio.to_thread);
- `libtorrent` (one thread, `control`): the calls that put WebRTC offers in and out, and a
  reload's new seeder settings (a changed unchoke_slots is set on every torrent);
- `bundles` (one thread, seeder/bundles.py): page bundles' catalogue rows, torrents and
  .htaccess files, one step per tick; a directory's rescan runs in `pool`;
- `status` (one thread): libtorrent's alerts and per-torrent status, the Prometheus
  figures and status.json, every STATUS_EVERY seconds (longer with many torrents), one write at a time;
- libtorrent's own threads, watchdog's observer thread, the metrics HTTP server's thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import functools
import json
import logging
import os
import signal
import sys
import time

from torrentweb import config as configuration
from torrentweb.catalogue import Catalogue
from torrentweb.config import Config
from torrentweb.errors import BuildError, Cancelled, ConfigError, TorrentwebError

from .access import ApacheUnavailable
from .builder import write_atomically
from .metrics import Metrics, MetricsError
from .heat import Heat
from .lifecycle import Part, Parts
from .presence import Presence, own_tracker, seeder_ips
from .publisher import Publisher
from .requestlog import RequestLog
from .sdnotify import Notifier
from .session import Feed, SeedingSession
from .status import Status
from .tracker.errors import BindError
from .tracker.server import Tracker
from .watcher import Change, Debouncer, Watcher
from .webrtc import WebrtcOffers, cap_for, raise_nofile

log = logging.getLogger("torrentweb.daemon")

TICK = 0.05            # how often settled paths are looked for
STATUS_EVERY = 2.0     # status.json and the watchdog ping
# status.json waits 1 s more per this many torrents: building it for 10,000 (per-torrent figures,
# the tracker's rows, metrics) takes the status thread 50-200 ms of CPU, which the tracker's loop
# then shares; every 2 s that alone put announce p99 at 56-67 ms during a 10,000-torrent start,
# every 30 s at 34-43 ms (bench/hashing.py --webrtc). The watchdog ping keeps STATUS_EVERY.
STATUS_TORRENTS_PER_SECOND = 1000
PROGRESS_EVERY = 5.0   # hashing progress in the log during long scans
RETRY_APACHE = 5.0     # seconds before asking again when Apache could not be asked
ACCESS_FILE = ".htaccess"
WEBRTC_EVERY = 1.0     # browsers gone from an offered swarm are looked for
CHOKER_EVERY = 0.5     # swarms that gained or lost downloaders get their unchoke slots
LAG_EVERY = 0.1        # the loop's lag is sampled this often
# A thread running Python keeps the GIL this long before the loop may have it; the loop gives
# it up at every socket call, so an announce waited up to 5 ms (the default) several times.
GIL_SWITCH = 0.001
STOP_DEADLINE = 30.0   # seconds a clean stop may take (systemd's TimeoutStopSec is 90)


class StateDirBusy(TorrentwebError):
    """Another daemon holds the state directory's lock: two would overwrite each other."""


class Daemon:
    def __init__(self, config: Config, log_level: str | None = None):
        self.config = config
        self.log_level = log_level           # the command line's --log-level wins over the YAML's
        self.lock = None
        self.notifier = Notifier()
        self.stopping = asyncio.Event()
        self.reload_requested = False
        self.catalogue: Catalogue | None = None
        self.seeder: SeedingSession | None = None
        self.publisher: Publisher | None = None
        self.watcher: Watcher | None = None
        self.tracker = None
        self.bundler = None
        self.metrics = None
        self.debouncer = Debouncer(config.watch.settle, config.watch.open_write_timeout)
        self.pool = concurrent.futures.ThreadPoolExecutor(config.torrents.hash_threads,
                                                          thread_name_prefix="hash")
        self.control = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="libtorrent")
        self.status_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="status")
        # restore runs here; it asks Apache from access.py's own "access" threads
        self.checks = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="restore")
        self._status_write: concurrent.futures.Future | None = None
        self._status_every = STATUS_EVERY        # seconds between status writes (grows with torrents)
        self._rebalancing: concurrent.futures.Future | None = None
        self._crowds: dict[bytes, tuple] = {}  # swarms holding a visitor (slots, hold_back)
        self.webrtc: WebrtcOffers | None = None
        self.presence: Presence | None = None
        self.heat: Heat | None = None                 # pages.p2p: auto
        self.request_log: RequestLog | None = None
        self._heating = None                          # Future of the last hot/cold commit
        self.nofile = 0
        self.loop_lag_max = 0.0        # seconds the loop was late at worst, since start
        self._lag_task: asyncio.Task | None = None
        self.in_flight: set[str] = set()
        self.rescans: set[str] = set()
        self.started = time.time()
        self.ready = False
        self.next_recheck = float("inf")     # the access re-check (see _recheck)
        self.rechecking = None               # its Future while it runs
        self.apache_down_logged = False
        self.parts = Parts()                 # what runs, in start order (lifecycle.py)

    # lifecycle -----------------------------------------------------------------------------

    async def run(self) -> int:
        self.loop = loop = asyncio.get_running_loop()
        self._install_signals(loop)
        try:
            await self.start()
            await self._main_loop()
        finally:
            await self.stop()
        return 0

    def _install_signals(self, loop):
        def on_term():
            if self.stopping.is_set():
                log.warning("second stop signal: exiting now")
                os._exit(1)
            self.stopping.set()

        def on_hup():
            self.reload_requested = True
        loop.add_signal_handler(signal.SIGTERM, on_term)
        loop.add_signal_handler(signal.SIGINT, on_term)
        loop.add_signal_handler(signal.SIGHUP, on_hup)

    async def start(self):
        cfg = self.config
        log.info("starting with %s", cfg.path)
        for line in configuration.describe(cfg).splitlines():
            log.info("  %s", line)
        self._lag_task = asyncio.get_running_loop().create_task(self._watch_lag(), name="loop lag")
        sys.setswitchinterval(GIL_SWITCH)
        self.nofile = raise_nofile()
        self._prepare_state_dir()
        self._lock_state_dir()
        # the order parts start in; they reload in it and stop in reverse (lifecycle.py)
        self.catalogue = Catalogue(cfg.catalogue_path)
        self.parts.started(Part("catalogue", stop=self.catalogue.close, blocking=True))
        self.seeder = SeedingSession(cfg.seeder, verbose=log.isEnabledFor(logging.DEBUG), feed=Feed.of(cfg))
        self.parts.started(Part("session", stop=self.seeder.close, blocking=True,
                                reload=lambda old, new: self._run_control(self.seeder.apply, new.seeder,
                                                                          Feed.of(new))))
        self.publisher = Publisher(cfg, self.catalogue, self.seeder)
        self.parts.started(Part("publisher", reload=lambda old, new: self.publisher.configure(new)))
        await self._start_tracker()
        self.parts.started(Part("tracker", stop=self._stop_tracker, reload=self._reload_tracker))
        self._start_webrtc(cfg)
        self.parts.started(Part("webrtc", reload=self._reload_webrtc))
        self._start_metrics(cfg)
        self.parts.started(Part("metrics", stop=self._stop_metrics, blocking=True,
                                reload=self._reload_metrics))
        self.bundler = _make_bundler(cfg, self.catalogue, self.seeder, self.publisher)
        if self.bundler:
            self.parts.started(Part("bundles", stop=self.bundler.stop, blocking=True,
                                    reload=lambda old, new: self.bundler.configure(new)))
        # hashing and rendering threads: they stop before the copies go and the session closes
        self.parts.started(Part("threads", stop=self._stop_threads, blocking=True))
        await self._start_heat(cfg)
        self.parts.started(Part("heat", stop=self._stop_heat, reload=self._reload_heat))
        self.watcher = Watcher(cfg.docroot, cfg.watch, self._report)
        self.watcher.start()          # before the scan: nothing written meanwhile is missed
        self.parts.started(Part("watcher", stop=lambda: self.watcher.stop(), blocking=True,
                                reload=self._reload_watcher))
        t0 = time.monotonic()
        if cfg.access.check == "off":
            log.warning("access.check is off: the YAML rules alone decide what to publish; Apache is "
                        "not asked whether an anonymous visitor may fetch each file")
        # the catalogue seeds on its last verdicts; the first access re-check starts right after
        work = await self._restore(first=True, verify=False)
        seeded = len(self.seeder.info_hashes())
        log.info("catalogue: %d torrents seeding, %d files to hash (%.2f s)", seeded, len(work),
                 time.monotonic() - t0)
        self._queue_hashing(work)
        if self.bundler:
            await asyncio.get_running_loop().run_in_executor(None, self.bundler.restore)
        self.ready = True
        self.next_recheck = time.monotonic()       # ask Apache about everything, now, off the loop
        self._write_status()
        self.notifier.ready(f"seeding {seeded} torrents, {len(work)} to hash")
        log.info("ready: seeding %d torrents; listening on %s", seeded, self._addresses())

    def _lock_state_dir(self):
        """One daemon per state directory: a second one exits before it touches anything."""
        path = self.config.state_dir / "daemon.lock"
        self.lock = open(path, "a+")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.seek(0)
            holder = self.lock.read().strip() or "unknown"
            self.lock.close()
            self.lock = None
            raise StateDirBusy(f"{self.config.state_dir}: another torrentweb daemon (pid {holder}) "
                               f"uses this state_dir; stop it first, or give this one its own "
                               f"state_dir") from None
        self.lock.seek(0)
        self.lock.truncate()
        self.lock.write(f"{os.getpid()}\n")
        self.lock.flush()

    async def _restore(self, **how) -> list[str]:
        """Run Publisher.restore (start, reload, re-check) on the `restore` thread, which a stop
        waits for: a re-check that outlived the stop wrote to the closed catalogue and session
        (libtorrent crashed). When Apache cannot be asked, log it and try again soon (published
        files keep their verdict, nothing new is)."""
        loop = asyncio.get_running_loop()
        restore = functools.partial(self.publisher.restore, cancel=self.stopping.is_set, **how)
        try:
            work = await loop.run_in_executor(self.checks, restore)
        except Cancelled:
            return []
        except ApacheUnavailable as e:
            self._apache_down(e)
            self.next_recheck = time.monotonic() + RETRY_APACHE
            return []
        if self.apache_down_logged:
            log.info("Apache answers the access check again")
            self.apache_down_logged = False
        every = self.config.access.recheck
        self.next_recheck = time.monotonic() + every if every else float("inf")
        return work

    def _apache_down(self, e: ApacheUnavailable):
        """Say once that Apache cannot be asked (again only after it has answered since)."""
        if not self.apache_down_logged:
            log.error("%s", e)
            self.apache_down_logged = True

    def _recheck(self, now: float):
        """Every access.recheck seconds (and soon after an .htaccess changed): ask Apache again
        about every file, so a change to the server's config withdraws or publishes files.
        Not while files are being hashed: each is asked about before it is hashed anyway, and
        a re-check then would find them all again as new work."""
        if self.rechecking is not None or now < self.next_recheck or self.in_flight:
            return
        self.next_recheck = float("inf")

        async def run():
            try:
                self._settle(await self._restore(refresh=False))
            finally:
                self.rechecking = None
        self.rechecking = asyncio.ensure_future(run())

    def _settle(self, paths):
        """Work a re-check or a reload found goes through the debouncer like any change: a file
        still being written is not hashed before its writer is done."""
        now = time.monotonic()
        for rel in paths:
            if rel not in self.in_flight:
                self.debouncer.touch(rel, Change.CHANGED, now)

    def _prepare_state_dir(self):
        """Create what is missing, group-shared (setgid) so the web server's group can read
        torrents and queue bundles; an existing directory keeps the mode its operator gave it."""
        sd = self.config.state_dir
        for d in (sd, sd / "torrents"):
            if not d.exists():
                d.mkdir(parents=True)
                os.chmod(d, 0o2775 & ~_umask())

    async def _start_tracker(self):
        cfg = self.config
        if not (cfg.tracker.http or cfg.tracker.udp or cfg.tracker.websocket):
            return
        self.tracker = Tracker(cfg.tracker, self.publisher_known)
        await self.tracker.start()
        self._start_presence(cfg)
        if self.presence:
            self.parts.started(Part("presence", reload=lambda old, new: self.presence.relocate(
                seeder_ips(new) or self.presence.ips)))

    def _start_presence(self, cfg: Config):
        """The seeder enters itself in its own tracker's swarms instead of announcing there."""
        ips = seeder_ips(cfg)
        bound = {p: a for p, a in self.tracker.addresses.items() if p in ("http", "udp")}
        if not bound:
            return
        if not ips:
            log.warning("the seeder announces to its own tracker over HTTP: neither seeder.listen "
                        "nor base_url's host is an address of this machine (set seeder.announce_ip "
                        "to the address visitors reach the seeder at)")
            return
        self.seeder.is_own_tracker = own_tracker(cfg, bound)
        self.presence = Presence(self.tracker.swarms, self.seeder, ips)
        log.info("the seeder is in its own tracker's swarms as %s (no announces to itself)",
                 ", ".join(ips))

    def publisher_known(self, info_hash: bytes) -> bool:
        """The publisher adds a torrent to the seeder, then to `known`: libtorrent's first
        announce can come in between, and a refusal makes it back off for a minute."""
        return info_hash in self.publisher.known or self.seeder.is_seeding(info_hash.hex())

    def _start_webrtc(self, cfg: Config):
        """WebRTC offers follow the browsers the tracker sees, within the descriptors we have."""
        if not cfg.seeder.webtorrent:
            return
        if self.tracker is None or not cfg.tracker.websocket:
            log.warning("WebRTC offered in no swarm: browsers are seen only by this daemon's "
                        "WebSocket tracker, and tracker.websocket is off")
            return
        cap = cap_for(self.nofile, cfg.seeder.connections_limit, cfg.seeder.webrtc_swarms)
        log.info("WebRTC offered in at most %d swarms at once: nofile limit %d%s", cap, self.nofile,
                 f", seeder.webrtc_swarms {cfg.seeder.webrtc_swarms}" if cfg.seeder.webrtc_swarms else "")
        self.webrtc = WebrtcOffers(self.seeder, self.tracker.swarms.web_leechers,
                                   self._run_control, cap, self.seeder.offer_timeout())
        self.tracker.swarms.on_web_leecher = self.webrtc.wanted

    async def _start_heat(self, cfg: Config):
        """Hot or cold per page, from Apache's request log and the seeder's upload."""
        if not (self.bundler and cfg.pages.p2p == "auto"):
            return
        self.heat = Heat(cfg)
        self.heat.restore(self.catalogue.hot_pages())
        self.request_log = RequestLog(cfg.state_dir, self.heat.take)
        await self.request_log.start()

    async def _reload_heat(self, old: Config, new: Config):
        """New thresholds apply at the next decision; pages.p2p leaving auto forgets every
        hot page (the copies follow), coming back to auto starts from cold."""
        if self.heat and new.pages.p2p == "auto":
            self.heat.configure(new)
            return
        if self.heat:
            self._stop_heat()
            await asyncio.get_running_loop().run_in_executor(
                self.pool, lambda: self._commit_heat({}, list(self.catalogue.hot_pages())))
            return
        await self._start_heat(new)

    def _stop_heat(self):
        if self.request_log:
            self.request_log.stop()
        self.heat = self.request_log = None

    def _heat_tick(self):
        """Pages that turned hot or cold go to the catalogue and their copies (_commit_heat),
        off the loop: SQLite and files."""
        if self.tracker:
            self.heat.visitors_sent(time.time(), self.tracker.swarms.uploaded)
        if self._heating is not None and not self._heating.done():
            return
        hot, cold = self.heat.decide(self._page_seeders)
        if not hot and not cold:
            return
        for path in hot:
            log.info("page %s is hot: the swarm first", path)
        for path in cold:
            log.info("page %s is cold: plain HTTP", path)

        self._heating = self.pool.submit(self._commit_heat, hot, cold)
        self._heating.add_done_callback(_log_failure("cannot record hot and cold pages"))

    def _commit_heat(self, hot: dict, cold):
        """In the pool: the catalogue says so first (the filter reads it), then the copies follow."""
        self.catalogue.set_hot(hot, cold)
        self.bundler.reheat([*hot, *cold])

    def _page_seeders(self, page_path: str) -> int:
        """Visitors seeding the page's bundle (the site's own seeder not counted)."""
        ih = self.bundler.page_info_hash(page_path)
        swarm = self.tracker.swarms.swarms.get(ih) if (ih and self.tracker) else None
        if swarm is None:
            return 0
        own = len(self.presence.peer_ids) if self.presence and ih in self.presence.entered else 0
        return swarm.complete - own

    def _on_loop(self, fn, *args):
        """Hand a thread's result to the loop; once the loop is closed the daemon has stopped."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass

    def _run_control(self, fn, *args):
        """A libtorrent call on the `libtorrent` thread; its failure is logged, never lost."""
        self.control.submit(fn, *args).add_done_callback(_log_failure(f"libtorrent: {fn.__name__}"))

    async def stop(self):
        """Every part that started, in reverse, by STOP_DEADLINE; what failed is reported."""
        self.notifier.stopping()
        log.info("stopping")
        if self._lag_task:
            self._lag_task.cancel()
        errors = await self.parts.stop(time.monotonic() + STOP_DEADLINE)
        for pool in (self.checks, self.pool, self.control, self.status_pool):   # a failed start's threads
            pool.shutdown(wait=False, cancel_futures=True)
        if self.lock:                  # what is in the state directory is this daemon's
            (self.config.state_dir / "status.json").unlink(missing_ok=True)
            self.lock.close()
        for e in errors:
            log.error("while stopping %s", e)
        log.info("stopped")

    def _stop_threads(self):
        """Hashing and the access re-check are cancelled (the `stopping` flag), libtorrent
        calls and the status write end."""
        self.checks.shutdown(wait=True, cancel_futures=True)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.control.shutdown(wait=True, cancel_futures=True)
        self.status_pool.shutdown(wait=True, cancel_futures=True)

    def _start_metrics(self, cfg: Config):
        if cfg.metrics.listen:
            metrics = Metrics(cfg.metrics)
            metrics.start()
            self.metrics = metrics

    async def _stop_tracker(self):
        if self.tracker:
            await self.tracker.stop()

    def _stop_metrics(self):
        if self.metrics:
            self.metrics.stop()

    # the loop ------------------------------------------------------------------------------

    async def _main_loop(self):
        last_status = last_progress = last_webrtc = last_choker = last_ping = time.monotonic()
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), TICK)
            except asyncio.TimeoutError:
                pass
            now = time.monotonic()
            if self.reload_requested:
                self.reload_requested = False
                await self.reload()
            self._queue_hashing(self.debouncer.due(now))
            self._queue_rescans()
            self._recheck(now)
            if self.bundler:
                self.bundler.tick(self.pool, self.stopping.is_set)
            if self.presence:
                self.presence.tick()
            if self.heat:
                self._heat_tick()
            if self.webrtc and now - last_webrtc >= WEBRTC_EVERY:
                last_webrtc = now
                self.webrtc.tick()
            if now - last_ping >= STATUS_EVERY:
                last_ping = now
                self.notifier.watchdog()
            if now - last_status >= self._status_every:
                last_status = last_choker = now
                self._write_status()
            elif now - last_choker >= CHOKER_EVERY or self._new_crowd():
                last_choker = now
                self._rebalance()
            if self.in_flight and now - last_progress >= PROGRESS_EVERY:
                last_progress = now
                line = self.publisher.progress.line()
                log.info(line)
                self.notifier.status(line)

    def _report(self, path, change):
        """watchdog's thread: a change goes to the loop."""
        self._on_loop(self._on_change, path, change)

    def _on_change(self, abspath: str, change: Change):
        rel = self.publisher.policy.relpath(abspath)
        if rel is None or rel == ".":
            return
        if change is Change.TREE:
            self.rescans.add(rel)
            return
        if rel.rsplit("/", 1)[-1] == ACCESS_FILE:     # access rules changed: ask Apache again soon
            self.next_recheck = min(self.next_recheck, time.monotonic() + self.config.watch.settle)
            return
        self.debouncer.touch(rel, change, time.monotonic())
        if self.bundler:
            self.bundler.noticed(rel)

    def _queue_rescans(self):
        """A directory appeared or vanished: withdraw what is gone, queue what is new. The walk
        and the catalogue's writes run in the pool (a tree of 10,000 files is not for the loop);
        what it finds comes back through the debouncer."""
        for rel in list(self.rescans):
            self.rescans.discard(rel)
            fut = self.pool.submit(self._rescan, rel)
            fut.add_done_callback(self._rescanned)

    def _rescan(self, rel: str) -> list[str]:
        path = self.config.docroot / rel
        if not path.is_dir():
            self.publisher.withdraw_below(rel, "its directory is gone")
            return []
        return [cand.path for cand in self.publisher.policy.walk(path)]

    def _rescanned(self, fut: concurrent.futures.Future):
        if fut.cancelled():
            return
        if fut.exception() is not None:
            log.error("rescanning a directory failed", exc_info=fut.exception())
            return
        self._on_loop(self._settle, fut.result())

    def _queue_hashing(self, paths):
        progress = self.publisher.progress
        for rel in paths:
            if rel in self.in_flight:     # hashing it right now: look again once that is done
                self.debouncer.touch(rel, Change.CHANGED, time.monotonic())
                continue
            if not self.in_flight:
                progress.started = time.monotonic()
                progress.files_total = progress.files_done = 0
                progress.bytes_total = progress.bytes_done = 0
            self.in_flight.add(rel)
            progress.files_total += 1
            try:
                progress.bytes_total += (self.config.docroot / rel).stat().st_size
            except OSError:
                pass
            fut = self.pool.submit(self._update, rel)
            fut.add_done_callback(lambda f, rel=rel: self._done(rel, f))

    def _update(self, rel: str):
        return self.publisher.update(rel, cancel=self.stopping.is_set)

    def _done(self, rel, fut):
        def finish():
            self.in_flight.discard(rel)
            if fut.cancelled():
                return
            e = fut.exception()
            if isinstance(e, Cancelled):
                return
            if isinstance(e, ApacheUnavailable):
                self._apache_down(e)
                self.debouncer.touch(rel, Change.CHANGED, time.monotonic() + RETRY_APACHE)
            elif isinstance(e, BuildError):
                log.warning("%s", e)
                self.debouncer.touch(rel, Change.CHANGED, time.monotonic())
            elif e is not None:
                log.error("publishing %s failed", rel, exc_info=e)
            elif not self.in_flight:
                log.info("%s; all published", self.publisher.progress.line())
                self.notifier.status(f"seeding {len(self.seeder.info_hashes())} torrents")
        self._on_loop(finish)

    # reload --------------------------------------------------------------------------------

    async def reload(self):
        """Validate first: a bad file is logged and the old settings stay in force."""
        self.notifier.reloading()
        try:
            new = configuration.load(self.config.path)
        except ConfigError as e:
            log.error("reload refused, keeping the running configuration: %s", e)
            self.notifier.status(f"reload refused: {e}")
            self.notifier.send(ready=1)
            return
        if new.state_dir != self.config.state_dir:
            log.error("reload refused, keeping the running configuration: state_dir cannot change "
                      "while the daemon runs (%s, now %s); restart the daemon to move it",
                      self.config.state_dir, new.state_dir)
            self.notifier.status("reload refused: state_dir changed")
            self.notifier.send(ready=1)
            return
        old, self.config = self.config, new
        logging.getLogger().setLevel((self.log_level or new.log_level).upper())
        log.info("reloaded %s", new.path)
        await self.parts.reload(old, new)
        self._settle(await self._restore())
        self.notifier.send(ready=1, status=f"reloaded; seeding {len(self.seeder.info_hashes())}")

    def _reload_watcher(self, old: Config, new: Config):
        self.debouncer.settle = new.watch.settle
        self.debouncer.open_write_timeout = new.watch.open_write_timeout
        if new.docroot != old.docroot or new.watch != old.watch:
            self.watcher.stop()
            self.watcher = Watcher(new.docroot, new.watch, self._report)
            self.watcher.start()

    def _reload_webrtc(self, old: Config, new: Config):
        """After the tracker's reload. WebRTC turned off: every offer withdrawn, no more
        demand taken; turned on, or a WebSocket tracker started: offers follow browsers again."""
        if self.webrtc is not None and not new.seeder.webtorrent:
            self.webrtc.withdraw_all()
            self.tracker.swarms.on_web_leecher = None
            self.webrtc = None
        elif self.webrtc is not None:
            self.webrtc.cap = cap_for(self.nofile, new.seeder.connections_limit, new.seeder.webrtc_swarms)
        elif new.seeder.webtorrent and (not old.seeder.webtorrent or not old.tracker.websocket):
            self._start_webrtc(new)

    async def _reload_tracker(self, old: Config, new: Config):
        """Swarms and connections survive; a listener that cannot move keeps its old address."""
        if new.tracker == old.tracker:
            return
        if self.tracker is None:
            await self._start_tracker()
            return
        try:
            await self.tracker.reload(new.tracker)
        except BindError as e:
            log.error("tracker keeps its old listeners: %s", e)

    def _reload_metrics(self, old_config: Config, new: Config):
        """Bind the new endpoint first; if it cannot be had, the old one stays."""
        if new.metrics == old_config.metrics:
            return
        old = self.metrics
        self.metrics = None
        try:
            self._start_metrics(new)
        except MetricsError as e:
            log.error("metrics keep their old endpoint: %s", e)
            self.metrics = old
            return
        if old:
            old.stop()

    # status --------------------------------------------------------------------------------

    def _addresses(self) -> dict:
        out = {"seeder": f"{self.config.seeder.listen.host}:{self.seeder.listen_port()}"}
        if self.tracker:
            out.update({k: str(v) for k, v in self.tracker.addresses.items()})
        return out

    async def _watch_lag(self):
        """The loop's own lateness: how long a callback waited behind whatever ran before it."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_EVERY
            await asyncio.sleep(LAG_EVERY)
            self.loop_lag_max = max(self.loop_lag_max, loop.time() - due)

    def _loop_status(self) -> dict:
        """What only the loop may read (the tracker's swarms, the daemon's own state): the
        Status fields the status thread completes."""
        return {
            "pid": os.getpid(), "started": self.started,
            "ready": self.ready, "config": str(self.config.path),
            "addresses": self._addresses(), "hashing": tuple(sorted(self.in_flight)[:20]),
            "loop_lag_max": self.loop_lag_max, "nofile": self.nofile,
            "webrtc": self.webrtc.stats() if self.webrtc else None,
            "heat": self.heat.status() if self.heat else None,
            # the table's copy: its stats() are taken in the status thread
            "tracker": self.tracker.swarms.snapshot() if self.tracker else None,
        }

    def _write_status(self):
        """Hand status.json to the `status` thread; skipped while the last one is being written."""
        if self._status_write is not None and not self._status_write.done():
            return
        self._status_write = self.status_pool.submit(self._status_off_loop, self._loop_status())
        self._status_write.add_done_callback(_log_failure("cannot write status.json"))

    def _rebalance(self):
        """The seeder's slots between status ticks, on the same thread (never beside a refresh)."""
        if self._rebalancing is not None and not self._rebalancing.done():
            return
        self._rebalancing = self.status_pool.submit(self.seeder.rebalance, self._crowded_swarms())
        self._rebalancing.add_done_callback(_log_failure("cannot rebalance the seeder's slots"))

    def _new_crowd(self) -> bool:
        """A visitor announced in a swarm the seeder's slots do not count yet: a crowd's first
        visitors of a page are unchoked the moment they are interested, which is a round trip
        or two after their announce, if the session's slots already count their swarm."""
        return bool(self.tracker) and not self.tracker.swarms.crowded_since <= self._crowds.keys()

    def _crowded_swarms(self) -> dict[str, tuple[int, int]] | None:
        """(visitor seeders, leechers) of the swarms in which the daemon's own tracker lists a
        visitor (SeedingSession.rebalance); None without a tracker of its own."""
        if not self.tracker:
            return None
        self._crowds = self.tracker.swarms.take_crowds(self._crowds)
        return {ih.hex(): counts for ih, counts in self._crowds.items()}

    def _status_off_loop(self, fields: dict):
        """On the `status` thread: the tracker's figures (from a snapshot of its table),
        libtorrent's alerts and figures (SeedingSession.refresh), then the metrics and the file."""
        snapshot = fields.pop("tracker")
        per = self.seeder.refresh()
        st = self.seeder.stats(per)
        self._status_every = max(STATUS_EVERY, st.torrents / STATUS_TORRENTS_PER_SECOND)
        if self.heat:
            self._on_loop(self.heat.seeder_sent, time.time(), st.upload_rate)
        status = Status(**fields, tracker=snapshot.stats() if snapshot else None, updated=time.time(),
                        torrents=st.torrents, peers=st.peers, uploaded=st.uploaded,
                        upload_rate=st.upload_rate, per_torrent=tuple(per))
        if self.metrics:
            self.metrics.update(status)
        data = "".join(_json_pieces(status.as_json())).encode()
        write_atomically(self.config.state_dir / "status.json", data)


def _log_failure(what: str):
    """A done-callback for work handed to a thread: its exception goes to the log as `what`."""
    def done(fut: concurrent.futures.Future):
        if not fut.cancelled() and fut.exception() is not None:
            log.error("%s", what, exc_info=fut.exception())
    return done


def _json_pieces(value, chunk: int = 256):
    """JSON text in pieces: the C encoder holds the GIL for a whole dumps() (15 ms for 10,000
    torrents), and the loop would wait that long; long lists go `chunk` items at a time."""
    if isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + json.dumps(str(key)) + ":"
            yield from _json_pieces(item, chunk)
        yield "}"
    elif isinstance(value, (list, tuple)) and len(value) > chunk:
        yield "["
        for i in range(0, len(value), chunk):
            yield ("," if i else "") + json.dumps(value[i:i + chunk], default=str)[1:-1]
        yield "]"
    else:
        yield json.dumps(value, default=str)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_bundler(config, catalogue, seeder, publisher):
    """Page bundles (the Apache side's torrents), when that part is installed.

    Contract of `seeder/bundles.py: Bundler(config, catalogue, seeder, publisher)`, all called
    on the daemon's loop thread, none blocking (long work goes to `pool`):
      restore()                at start, after the files are restored: seed catalogued bundles,
                               drop stale ones, scan the docroot's HTML pages
      tick(pool, stopping)     every 50 ms: take bundle_requests and changed pages, submit builds
                               to `pool` (a ThreadPoolExecutor; `stopping()` cancels hashing)
      noticed(rel)             a path in the docroot changed (an asset or an .html page)
      configure(config)        after a valid SIGHUP reload
      stop()                   at a clean stop: withdraw what only a running daemon keeps current
    `publisher.known` is the tracker's whitelist (a set of 20-byte v1 info-hashes): add bundles'.
    """
    try:
        from .bundles import Bundler
    except ImportError:
        return None
    return Bundler(config, catalogue, seeder, publisher)


def run(config: Config, log_level: str | None = None) -> int:
    return asyncio.run(Daemon(config, log_level).run())
