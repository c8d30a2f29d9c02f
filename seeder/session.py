"""The libtorrent session that seeds every catalogued torrent, to native clients and browsers.

WebRTC costs libtorrent ~10 UDP sockets and ~340 kB per torrent it announces over WebSocket
(its offers), so torrents are added without their ws:// and wss:// trackers: `offer_webrtc`
puts them back in the swarms browsers want data from, `withdraw_webrtc` takes them out again
(seeder/webrtc.py decides which).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt

from torrentweb.config import SeederConfig
from torrentweb.naming import SEEDER_PEER_ID_PREFIX

log = logging.getLogger("torrentweb.session")

QUERY_NAME = 64        # torrent_handle::query_name, which the Python bindings do not export
WEB_SCHEMES = ("ws://", "wss://")


@dataclass(frozen=True)
class SeededTorrent:
    info_hash: str
    name: str
    peers: int
    uploaded: int           # bytes, all time (this session)
    state: str
    size: int = 0           # bytes of the torrent's content (offload = 1 - uploaded / delivered)
    upload_rate: int = 0    # bytes/s
    held_back: bool = False  # seeder.hold_back: its visitors carry the swarm


@dataclass(frozen=True)
class SessionStats:
    torrents: int
    peers: int
    uploaded: int
    upload_rate: int
    listen_port: int


REFUSED_RETRY = 20    # seconds before a tracker that refused a torrent is asked again
# seeder.hold_back: the seeder's upload in a swarm its visitor seeders can carry. Next to nothing,
# not a trickle: a trickle (32 KiB/s was tried) kept a starved tab's stall clock alive, so it never
# took the web seed (the loader does after 3 s without a byte): p95 26 s for 4 tabs, not 7 s.
HELD_BACK_RATE = 1             # bytes/s (0 would be libtorrent's "unlimited")
# ...where a swarm's visitor seeders are at least this many times its leechers. At one to one a
# tab's uplink carried what the seeder's would have: 2 Chromium tabs on home links took p95
# 12.3-18.6 s held, 9.3-11.8 s not (plain HTTP 8.7 s; bench/RESULTS.md, Chromium on emulated links)
HOLD_RATIO = 2
# ...or where this many of its visitors hold pieces, and every piece between them: from then on the
# seeder sent only pieces the swarm had, as fast as its slots let it (N = 32 on home lines: 0.5-1
# copy of the page after every piece was out, of 2.2-2.8 in all), while their uplinks are many
# times its own; held here too, 0.1-0.3 copies fewer for 0.5-1 s more p95 (bench/RESULTS.md,
# N = 32). Fewer tabs lean on it (two: see HOLD_RATIO).
HOLD_CROWD = 8


@dataclass(frozen=True)
class Feed:
    """What the seeder can give a crowd's swarms: the origin's uplink budget in bytes/s
    (seeder.upload_limit, else pages.uplink; 0 = not known) and how long a visitor waits for
    the swarm before it takes the web seed (loader.deadline)."""
    budget: int = 0
    deadline: float = 0.0

    @classmethod
    def of(cls, config) -> "Feed":
        return cls(config.seeder.upload_limit or config.pages.uplink, config.loader.deadline)


FEED_BYTES = 256 * 1024      # what a fed visitor gets within half the deadline to be worth a slot
# How long (a share of the loader's deadline) a swarm's share must allow more slots before it
# gets them. Until then one visitor is fed, and the rest wait on its uplink: a third rather
# than a whole deadline took one page's crowd of 32 on home lines from p95 18.0-18.6 s to
# 15.9-17.2 s; a crowd over 20 pages arriving within 0, 2 or 5 s stayed at 1.01 copies.
FAT_WAIT = 1 / 3


def fed_at_once(feed: Feed, unchoke_slots: int, swarms: int) -> int:
    """How many visitors of a swarm the seeder feeds at once: as many as its share of the
    budget brings FEED_BYTES each within half the loader's deadline, at least one, at most
    `unchoke_slots`. A visitor with pieces passes them on; one without takes the web seed. One
    slot per thin swarm sends each piece about once, since the fed visitor asks for what the
    others lack: a crowd over 20 pages on a 20 Mbit/s origin (1 Mbit/s a swarm) took 1.00
    seeder copies with one slot, 1.5-1.6 with two (bench/RESULTS.md, a crowd over many pages).
    But one fed visitor passes pieces on at its own uplink: one page's crowd of 32 on home
    links took p95 41 s with one slot, 21 s with two. A byte count, not pieces: those runs had
    256 KiB pieces; with 64 KiB ones a piece-count rule gave the 20 pages two slots each.
    Without a budget: `unchoke_slots`."""
    if not feed.budget:
        return unchoke_slots
    share = feed.budget / max(1, swarms)
    return max(1, min(unchoke_slots, int(share * feed.deadline / 2 / FEED_BYTES)))


def session_slots(fed: typing.Iterable[int]) -> int:
    """libtorrent's session-wide unchoke_slots_limit for the swarms that download, `fed` their
    own slots (max_uploads). Its choker keeps a fifth of the limit (at least one) for optimistic
    unchokes, sticky for 30 s, and rotates the rest over the peers it ranks best, each torrent
    up to its own slots. A one-slot swarm needs a rotating slot: with a fifth of 20 thin swarms
    left to optimistic unchokes, 34 of 60 visitors took the web seed (1.88 copies; 1.02 with a
    rotating slot each). A swarm with more rotates one less, the optimistic unchoke being the
    other: a page's crowd of 32 on home links took p95 26-28 s with two rotating, 20-22 s with
    one rotating and one optimistic."""
    rotating = sum(max(1, n - 1) for n in fed)
    return max(2, rotating + max(1, -(-rotating // 4)))


class TorrentTrackers(typing.NamedTuple):
    """A seeded torrent's announce URLs as the session split them, (url, tier)s each."""
    native: typing.Sequence  # http, udp: given to libtorrent
    web: typing.Sequence     # ws, wss: given to libtorrent only while WebRTC is offered
    own: bool                # the daemon's own tracker was stripped: presence enters the seeder there


NO_TRACKERS = TorrentTrackers((), (), False)


def settings_for(config: SeederConfig, verbose: bool = False, fed: typing.Iterable[int] = ()) -> dict:
    """libtorrent settings: see shared/notes/webtorrent-interop.md for why each is there.
    `verbose`: state changes too (log_level debug); 10,000 torrents make 50,000 of them at start.
    `fed`: the slots of the torrents that have peers that download (see `session_slots`)."""
    s = {
        "listen_interfaces": str(config.listen),
        "allow_multiple_connections_per_ip": True,   # visitors behind one NAT share an address
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "upload_rate_limit": config.upload_limit,
        "connections_limit": config.connections_limit,
        "webtorrent_stun_server": config.stun_server,
        "validate_https_trackers": config.validate_https_trackers,
        "alert_mask": lt.alert_category.error | (lt.alert_category.status if verbose else 0),
        "user_agent": "torrentweb/0.1 libtorrent/" + lt.__version__,
        "peer_fingerprint": SEEDER_PEER_ID_PREFIX.decode(),   # trackers tell it from visitors
        "active_seeds": -1, "active_limit": -1, "active_tracker_limit": -1,
        "active_downloads": -1,
        # anti_leech: the slots go to the peers holding the fewest pieces (and those about to
        # finish). fastest_upload fed the same two fast visitors all along; the rest of a flash
        # crowd could only copy what those two had, all the same pieces at the same time, and
        # had nothing to trade (bench/flashcrowd.py --net home, N = 8: p95 15.2-16.4 s, with
        # anti_leech 11.1-12.3 s; N = 32: 29.8-29.9 s, 21.9-24.9 s; bench/RESULTS.md)
        "seed_choking_algorithm": 2,
        "auto_manage_startup": 0,
        "max_webtorrent_offers": 10,
        # BEP 6 allowed-fast pieces are served even to choked peers, outside the choker: in a
        # flash crowd every visitor pulls its 5 from the seeder at once (all the same 5 for
        # visitors sharing a /24, a NAT or loopback): up to 5 copies of the page at N = 32.
        "allowed_fast_set_size": 0,
        # Torrents list http:// and ws:// announce URLs in separate tiers; libtorrent announces
        # only to the first working tier by default, so browsers (ws://) never met the seeder.
        "announce_to_all_tiers": True, "announce_to_all_trackers": True,
    }
    if config.unchoke_slots:
        s["unchoke_slots_limit"] = session_slots(fed)
        s["choking_algorithm"] = 0
        s["unchoke_interval"] = max(1, round(config.unchoke_interval))
    if config.outgoing_interface:
        s["outgoing_interfaces"] = config.outgoing_interface
    if not config.webtorrent:
        s["max_webtorrent_offers"] = 0
    return s


def _every_peer_global() -> "lt.ip_filter":
    """libtorrent exempts local-network peers from rate limits by default; the server's
    upload_limit is its uplink budget, so every peer (LAN, loopback, a proxy) counts."""
    f = lt.ip_filter()
    every = 1 << lt.session.global_peer_class_id
    f.add_rule("0.0.0.0", "255.255.255.255", every)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", every)
    return f


class SeedingSession:
    """Adds and removes torrents in seed mode; never downloads, never writes the docroot."""

    def __init__(self, config: SeederConfig, verbose: bool = False, feed: Feed = Feed()):
        self.config, self.verbose, self.feed = config, verbose, feed
        self.session = lt.session(settings_for(config, verbose))
        self.session.set_peer_class_filter(_every_peer_global())
        self._seeding: set[str] = set()
        self._trackers: dict[str, TorrentTrackers] = {}      # info-hash -> its announce URLs
        self._figures: dict[str, SeededTorrent] = {}          # as of the last state_update_alert
        self._sent: list[tuple[float, int]] = []             # the last two (time, payload bytes sent)
        self._lock = threading.Lock()
        self._listen_port = self.session.listen_port()       # now: nothing keeps libtorrent busy yet
        self._port_stale = False
        # announce URLs of the daemon's own tracker: libtorrent is not given them, the daemon
        # enters the seeder in those swarms itself (seeder/presence.py); set before any add().
        # Which torrents had one: TorrentTrackers.own; which are entered yet: presence.entered.
        self.is_own_tracker: typing.Callable[[str], bool] = lambda url: False
        self._joined: list[tuple[bytes, bool]] = []         # for presence, since its last look
        self._downloading: set[str] = set()                 # torrents with peers that download
        self._crowded: set[str] = set()                     # ...and with leechers, says our tracker
        self._fed: tuple[int, ...] = ()                     # the slots session_slots() is set for
        self._slots: dict[str, int] = {}                    # info-hash -> its max_uploads
        self._fat_since: dict[str, float] = {}              # swarms whose share allows more slots
        self._held: dict[str, "lt.torrent_handle"] = {}     # swarms the seeder holds back in

    def apply(self, config: SeederConfig, feed: Feed | None = None):
        """Reload: new limits and addresses take effect without dropping the swarms. A swarm
        keeps its slots up to the new `unchoke_slots` (libtorrent takes one slot only when a
        torrent is added: at run time at least two)."""
        if config.unchoke_slots != self.config.unchoke_slots:
            with self._lock:
                over = {ih: n for ih, n in self._slots.items()
                        if not config.unchoke_slots or n > config.unchoke_slots}
            for info_hash in over:
                self._set_max_uploads(info_hash, max(2, config.unchoke_slots) if config.unchoke_slots else -1)
        self.config, self.feed = config, feed or self.feed
        self.session.apply_settings(settings_for(config, self.verbose, self._fed))
        self._port_stale = True            # apply_settings is asynchronous: read it in refresh()

    def add(self, info_hash: str, torrent_data: bytes, save_path: Path, renamed: dict | None = None):
        """Seed mode: the data was just hashed (or was catalogued), so no re-check.
        `renamed`: file index -> path under save_path, where it differs from the torrent's.

        Asynchronous: adding 10,000 torrents at start must not wait on each one.
        """
        with self._lock:
            if info_hash in self._seeding:
                return
            self._seeding.add(info_hash)
        atp = lt.load_torrent_buffer(torrent_data)
        atp.save_path = str(save_path)
        if renamed:
            atp.renamed_files = renamed
        native, web = _split_trackers(atp.trackers, atp.tracker_tiers)
        own = [t for t in native if self.is_own_tracker(t[0])]
        native = [t for t in native if t not in own]
        with self._lock:
            self._trackers[info_hash] = TorrentTrackers(native, web, bool(own))
            if own:
                self._joined.append((bytes.fromhex(info_hash), True))
        atp.trackers = [url for url, _ in native]
        atp.tracker_tiers = [tier for _, tier in native]
        # one slot until a share of the budget is known to feed more (fed_at_once, _set_slots)
        slots = (1 if self.feed.budget else self.config.unchoke_slots) or -1
        with self._lock:
            self._slots[info_hash] = slots
        atp.max_uploads = slots
        atp.flags = (lt.torrent_flags.seed_mode | lt.torrent_flags.upload_mode
                     | lt.torrent_flags.override_trackers
                     | lt.torrent_flags.update_subscribe) & ~(   # in refresh()'s state updates
            lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
        self.session.async_add_torrent(atp)

    def joined(self) -> list[tuple[bytes, bool]]:
        """(20-byte info-hash, True when added / False when removed) for the torrents whose own
        tracker the daemon announces to in-process, since the last call."""
        with self._lock:
            out, self._joined = self._joined, []
        return out

    def web_trackers(self, info_hash: str) -> list:
        """The torrent's ws:// and wss:// announce URLs (left out of libtorrent until offered)."""
        with self._lock:
            return [url for url, _ in self._trackers.get(info_hash, NO_TRACKERS).web]

    def offer_webrtc(self, info_hash: str) -> bool:
        """Announce the torrent to its WebSocket trackers now, with WebRTC offers; False when
        there is nothing to offer (WebRTC off, no ws:// tracker, or the torrent is gone)."""
        with self._lock:
            native, web, _ = self._trackers.get(info_hash, NO_TRACKERS)
        h = self._handle(info_hash) if web and self.config.webtorrent else None
        if h is None:
            return False
        for url, tier in web:
            h.add_tracker({"url": url, "tier": tier})
        h.force_reannounce()
        return True

    def withdraw_webrtc(self, info_hash: str):
        """Back to native trackers only: no new offers (pending ones time out in libtorrent)."""
        with self._lock:
            native = self._trackers.get(info_hash, NO_TRACKERS).native
        h = self._handle(info_hash)
        if h is not None:
            h.replace_trackers([_entry(url, tier) for url, tier in native])

    def _carried(self, info_hash: str, seeds: int, leechers: int) -> bool:
        """Whether a swarm's visitors can do without the seeder (hold_back)."""
        if seeds and seeds >= HOLD_RATIO * leechers:
            return True
        return seeds + leechers >= HOLD_CROWD and self._held_by_visitors(info_hash)

    def _held_by_visitors(self, info_hash: str) -> bool:
        """Whether HOLD_CROWD or more of the seeder's peers hold pieces, and between them every
        piece: their uplinks outweigh the seeder's then, where one tab holding all would not."""
        h = self._handle(info_hash)
        holders, missing = 0, None
        for peer in h.get_peer_info() if h is not None else ():
            have = peer.pieces
            if not any(have):
                continue
            holders += 1
            missing = [i for i in (range(len(have)) if missing is None else missing) if not have[i]]
            if holders >= HOLD_CROWD and not missing:
                return True
        return False

    def _handle(self, info_hash: str):
        h = self.session.find_torrent(lt.sha1_hash(bytes.fromhex(info_hash)))
        return h if h.is_valid() else None

    def remove(self, info_hash: str):
        with self._lock:
            self._seeding.discard(info_hash)
            trackers = self._trackers.pop(info_hash, NO_TRACKERS)
            self._figures.pop(info_hash, None)
            self._downloading.discard(info_hash)
            self._crowded.discard(info_hash)
            self._slots.pop(info_hash, None)
            self._fat_since.pop(info_hash, None)
            self._held.pop(info_hash, None)
            if trackers.own:
                self._joined.append((bytes.fromhex(info_hash), False))
        h = self._handle(info_hash)
        if h is not None:
            self.session.remove_torrent(h)

    def is_seeding(self, info_hash: str) -> bool:
        with self._lock:
            return info_hash in self._seeding

    def info_hashes(self) -> set[str]:
        with self._lock:
            return set(self._seeding)

    def offer_timeout(self) -> float:
        """Seconds libtorrent keeps an unanswered WebRTC offer (and its socket)."""
        return float(self.session.get_settings()["webtorrent_connection_timeout"])

    def refresh(self, timeout: float = 1.0) -> list[SeededTorrent]:
        """Every torrent's figures, and libtorrent's alerts logged. Asks libtorrent for a
        state_update_alert (post_torrent_updates: only the torrents that changed) and for its
        session counters, and waits for them, so nothing here is a synchronous call into
        libtorrent's network thread, which with 10,000 torrents is busy for seconds and which
        the bindings wait for holding the GIL."""
        self.session.post_torrent_updates(QUERY_NAME)
        self.session.post_session_stats()
        self._wait_for({"torrents", "session"}, timeout)
        if self._port_stale:
            self._port_stale, self._listen_port = False, self.session.listen_port()
        self._set_slots()
        with self._lock:
            held = self._held.keys()
            return [dataclasses.replace(t, held_back=True) if t.info_hash in held else t
                    for t in self._figures.values()]

    def rebalance(self, crowds: typing.Mapping[str, tuple[int, int]] | None = None,
                  timeout: float = 1.0):
        """Between refresh()es (the daemon's status tick, 2 s): only the torrents that changed,
        so that a swarm whose visitors just arrived has its unchoke slots within a choker
        round; a crowd's visitors take the web seed after 3 s without a byte.
        `crowds`: info-hash -> (visitor seeders, leechers) of the swarms where the daemon's own
        tracker lists a visitor (Swarms.take_crowds): their leechers count at once (slots),
        and they all count for hold_back."""
        self.session.post_torrent_updates(QUERY_NAME)
        self._wait_for({"torrents"}, timeout)
        if crowds is not None:
            with self._lock:
                self._crowded = {ih for ih, (_, leechers) in crowds.items() if leechers}
        self._set_slots()
        if crowds is not None:
            self.hold_back(crowds)

    def hold_back(self, crowds: typing.Mapping[str, tuple[int, int]]):
        """seeder.hold_back: `crowds` info-hash -> (visitor seeders, leechers), as the daemon's
        tracker counts them. In a swarm whose visitor seeders are at least HOLD_RATIO times its
        leechers, or where HOLD_CROWD visitors or more hold every piece between them, the
        seeder holds its upload back (HELD_BACK_RATE); elsewhere it sends all it can. A crowd
        arriving at a page whose first visitor loaded it cold, or after its first
        visitors completed, needs nothing the swarm lacks, yet the seeder sent every newcomer
        what it asked for: 1-2 copies more than the one the swarm already had (bench/
        flashcrowd.py --from-cold). A leecher the seeders do not reach takes the web seed
        after the loader's 3 s without a byte. An upload limit, not super-seeding (BEP 16):
        libtorrent 2.1's super-seeder tells a newcomer of no piece for its first 10 s, and one
        that met it never learns of the seeder's pieces when super-seeding ends.
        Not where the seeder feeds one visitor at a time (fed_at_once): it sends each piece
        about once there, and a held swarm's fed leecher stalls at 1 byte/s (a crowd over 20
        pages: 17-18 web-seed fallbacks with it, 0-4 without)."""
        with self._lock:        # a one-slot swarm is never held: no peer scan for it
            eligible = {ih for ih in crowds.keys() & self._seeding if self._slots.get(ih) != 1} \
                if self.config.hold_back else set()
        held = {ih for ih in eligible if self._carried(ih, *crowds[ih])}
        with self._lock:
            held &= self._seeding
            start, stop = held - self._held.keys(), self._held.keys() - held
            ended = {ih: self._held.pop(ih) for ih in stop}
        for info_hash in start:
            h = self._handle(info_hash)         # a lookup per change, not per tick
            if h is not None:
                log.info("%s: its visitors carry the swarm: the seeder holds back", info_hash)
                h.set_upload_limit(HELD_BACK_RATE)
                with self._lock:
                    if info_hash in self._seeding:
                        self._held[info_hash] = h
        for info_hash, h in ended.items():
            log.info("%s: the seeder seeds at full rate again", info_hash)
            h.set_upload_limit(-1)

    def _wait_for(self, wanted: set, timeout: float):
        deadline, seen = time.monotonic() + timeout, set()
        while not wanted <= seen and time.monotonic() < deadline:
            seen |= self._pop_alerts()
            if not wanted <= seen:
                self.session.wait_for_alert(max(1, int((deadline - time.monotonic()) * 1000)))

    def _set_slots(self):
        """Each swarm that downloads gets the slots its share of the budget feeds (fed_at_once),
        more only once the share has allowed them for FAT_WAIT of the loader's deadline: a crowd
        over many pages arrives over seconds, and a slot given cannot go back to one. Then the
        session's slots for them all (session_slots)."""
        if not self.config.unchoke_slots:
            return
        now = time.monotonic()
        with self._lock:
            downloading = (self._downloading | self._crowded) & self._seeding
            slots = {ih: self._slots.get(ih, self.config.unchoke_slots) for ih in downloading}
            for ih in set(self._fat_since) - downloading:
                del self._fat_since[ih]
        for info_hash, now_slots in slots.items():
            want = fed_at_once(self.feed, self.config.unchoke_slots, len(downloading))
            if want <= now_slots:
                self._fat_since.pop(info_hash, None)
            elif now - self._fat_since.setdefault(info_hash, now) >= self.feed.deadline * FAT_WAIT:
                log.info("%s: its share of the uplink feeds %d visitors at once", info_hash, want)
                self._set_max_uploads(info_hash, want)
                slots[info_hash] = want
        fed = tuple(sorted(slots.values()))
        if session_slots(fed) != session_slots(self._fed):
            self.session.apply_settings({"unchoke_slots_limit": session_slots(fed)})
        self._fed = fed

    def _set_max_uploads(self, info_hash: str, slots: int):
        h = self._handle(info_hash)
        if h is not None:
            h.set_max_uploads(slots)
            with self._lock:
                if info_hash in self._seeding:
                    self._slots[info_hash] = slots

    def _pop_alerts(self) -> set:
        """Log the alerts, take the figures of the state update and the session counters;
        return which of those two came."""
        seen = set()
        for a in self.session.pop_alerts():
            if isinstance(a, lt.state_update_alert):
                self._take(a.status)
                seen.add("torrents")
            elif isinstance(a, lt.session_stats_alert):
                self._sent = [*self._sent[-1:], (time.monotonic(), a.values["net.sent_payload_bytes"])]
                seen.add("session")
            elif a.category() & lt.alert_category.error:
                log.warning("libtorrent: %s", a.message())
                if isinstance(a, lt.tracker_error_alert) and a.failure_reason():
                    # refused (a shared tracker's whitelist not fed yet): libtorrent would wait
                    # an hour; ask again soon (README "Scaling past one machine")
                    a.handle.force_reannounce(REFUSED_RETRY, a.tracker_url())
            else:
                log.debug("libtorrent: %s", a.message())
        return seen

    def _take(self, statuses):
        figures = [SeededTorrent(str(st.info_hashes.v1), st.name, st.num_peers, st.all_time_upload,
                                str(st.state), st.total_wanted, st.upload_payload_rate)
                   for st in statuses]
        downloading = {str(st.info_hashes.v1): st.num_peers > st.num_seeds for st in statuses}
        with self._lock:
            for t in figures:
                if t.info_hash in self._seeding:
                    self._figures[t.info_hash] = t
            for info_hash, busy in downloading.items():
                if busy and info_hash in self._seeding:
                    self._downloading.add(info_hash)
                else:
                    self._downloading.discard(info_hash)

    def listen_port(self) -> int:
        return self._listen_port

    def stats(self, per: list[SeededTorrent]) -> SessionStats:
        """Session totals: payload sent and its rate from libtorrent's counters (as of the last
        refresh), peers from refresh()'s figures."""
        sent, rate = (self._sent[-1][1] if self._sent else 0), 0
        if len(self._sent) == 2 and self._sent[1][0] > self._sent[0][0]:
            (t0, sent0), (t1, sent1) = self._sent
            rate = round((sent1 - sent0) / (t1 - t0))
        return SessionStats(len(self.info_hashes()), sum(t.peers for t in per), sent, rate,
                            self._listen_port)

    def close(self):
        with self._lock:
            self._seeding.clear()
            self._trackers.clear()
            self._figures.clear()
            self._downloading.clear()
            self._crowded.clear()
        self.session.pause()
        for h in self.session.get_torrents():
            self.session.remove_torrent(h)
        del self.session


def _split_trackers(urls: list, tiers: list) -> tuple[list, list]:
    """The torrent's (url, tier)s: native (http, udp) and web (ws, wss)."""
    native, web = [], []
    for url, tier in zip(urls, tiers):
        (web if url.startswith(WEB_SCHEMES) else native).append((url, tier))
    return native, web


def _entry(url: str, tier: int) -> "lt.announce_entry":
    e = lt.announce_entry(url)
    e.tier = tier
    return e
