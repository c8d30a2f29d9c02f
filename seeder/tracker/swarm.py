"""The transport-free tracker logic: who is in which swarm, and which peers to hand out.

Peers are kept per swarm in four pools (IPv4/IPv6 x seeding/leeching) holding their
compact bytes in plain lists, so an announce is answered by slicing a window at a
random start and joining it: no per-peer objects are touched on the hot path.
WebTorrent peers (no address, reached through relayed offers) live beside them.

Tolerant of event order (bittorrent-tracker's swarm.js): a `started` from a peer we
already know is an update, a `completed` or a plain update from a peer we do not know
adds it, a `stopped` from a stranger is ignored.
"""
from __future__ import annotations

import random
import time
import typing
from dataclasses import dataclass

from .announce import (UNKNOWN_TORRENT, Announce, AnnounceReply, ClientError, Event, Scrape,
                       ScrapeEntry)

# stats: announces per second over this many whole seconds
RATE_WINDOW = 10


class _Peer:
    __slots__ = ("compact", "pool", "index", "expires", "counted")

    def __init__(self, compact, expires):
        self.compact = compact
        self.pool = None
        self.index = -1
        self.expires = expires
        self.counted = False     # its `completed` has been counted


class _Pool:
    """Peers of one family and state, with O(1) add/remove and cheap random windows."""
    __slots__ = ("peers", "compacts")

    def __init__(self):
        self.peers: typing.List[_Peer] = []
        self.compacts: typing.List[bytes] = []

    def __len__(self):
        return len(self.peers)

    def add(self, peer):
        peer.pool, peer.index = self, len(self.peers)
        self.peers.append(peer)
        self.compacts.append(peer.compact)

    def remove(self, peer):
        i = peer.index
        last, last_compact = self.peers.pop(), self.compacts.pop()
        if last is not peer:
            self.peers[i], self.compacts[i] = last, last_compact
            last.index = i
        peer.pool, peer.index = None, -1

    def window(self, k: int, exclude: bytes) -> typing.List[bytes]:
        """Up to k compact peers from a random start, never `exclude` (the asker itself)."""
        c = self.compacts
        n = len(c)
        if n <= k:
            out = c[:]
            if exclude in out:
                out.remove(exclude)
            return out
        start = random.randrange(n)
        out = c[start:start + k + 1]
        if len(out) <= k:
            out += c[:k + 1 - len(out)]
        if exclude in out:
            out.remove(exclude)
        else:
            out.pop()
        return out


class _WebPeer:
    __slots__ = ("seeder", "expires", "counted")

    def __init__(self, seeder, expires):
        self.seeder, self.expires, self.counted = seeder, expires, False


class Swarm:
    """One info-hash: native peers in pools, WebTorrent peers by peer id, the completed count."""
    __slots__ = ("peers", "seed4", "leech4", "seed6", "leech6", "web", "web_seeders", "completed")

    def __init__(self):
        self.peers: typing.Dict[bytes, _Peer] = {}
        self.seed4, self.leech4, self.seed6, self.leech6 = _Pool(), _Pool(), _Pool(), _Pool()
        self.web: typing.Dict[bytes, _WebPeer] = {}
        self.web_seeders = 0
        self.completed = 0

    @property
    def complete(self) -> int:
        return len(self.seed4) + len(self.seed6) + self.web_seeders

    @property
    def incomplete(self) -> int:
        return len(self.leech4) + len(self.leech6) + len(self.web) - self.web_seeders

    def __len__(self):
        return len(self.peers) + len(self.web)

    def pool_for(self, compact: bytes, seeder: bool) -> _Pool:
        if len(compact) == 6:
            return self.seed4 if seeder else self.leech4
        return self.seed6 if seeder else self.leech6

    def leave(self, peer_id: bytes):
        peer = self.peers.pop(peer_id, None)
        if peer is not None:
            peer.pool.remove(peer)

    def leave_web(self, peer_id: bytes):
        peer = self.web.pop(peer_id, None)
        if peer is not None and peer.seeder:
            self.web_seeders -= 1

    def expire(self, now: float):
        for peer_id in [p for p, peer in self.peers.items() if peer.expires < now]:
            self.leave(peer_id)
        for peer_id in [p for p, peer in self.web.items() if peer.expires < now]:
            self.leave_web(peer_id)


@dataclass(frozen=True, slots=True)
class TorrentStats:
    info_hash: str            # 40 hex digits
    seeders: int
    leechers: int
    completed: int


@dataclass(frozen=True, slots=True)
class TrackerStats:
    """What `torrentweb status` shows about the tracker."""
    torrents: typing.Tuple[TorrentStats, ...]
    announces_per_second: float      # over the last RATE_WINDOW seconds
    announces: int                   # since start
    scrapes: int
    refused: int                     # announces and scrapes for info-hashes not tracked here
    seeders: int
    leechers: int


class Swarms:
    """Every swarm, answering announces and scrapes from any front end.

    `allowed(info_hash)` decides whether an info-hash is tracked (the whitelist);
    `clock` is injectable so that tests can expire peers without sleeping.
    """

    def __init__(self, config, allowed: typing.Callable[[bytes], bool], clock=time.monotonic):
        self.interval = int(config.interval)
        self.min_interval = int(config.min_interval)
        self.ttl = config.interval + config.grace
        self.numwant_default = int(config.numwant_default)
        self.numwant_max = int(config.numwant_max)
        self.open = config.open
        self.allowed = allowed
        self.clock = clock
        self.swarms: typing.Dict[bytes, Swarm] = {}
        self.announces = self.scrapes = self.refused = 0
        self._second = 0
        self._per_second = [0] * (RATE_WINDOW + 1)

    # --- announces ---------------------------------------------------------------------

    def _swarm(self, info_hash: bytes) -> Swarm:
        if not self.open and not self.allowed(info_hash):
            self.refused += 1
            raise ClientError(UNKNOWN_TORRENT)
        swarm = self.swarms.get(info_hash)
        if swarm is None:
            swarm = self.swarms[info_hash] = Swarm()
        return swarm

    def _count(self, now):
        self.announces += 1
        second = int(now)
        if second != self._second:
            gap = min(second - self._second, RATE_WINDOW + 1)
            for i in range(1, gap + 1):
                self._per_second[(self._second + i) % (RATE_WINDOW + 1)] = 0
            self._second = second
        self._per_second[second % (RATE_WINDOW + 1)] += 1

    def numwant(self, asked: int) -> int:
        return self.numwant_default if asked < 0 else min(asked, self.numwant_max)

    def announce(self, a: Announce) -> AnnounceReply:
        """Record a native (addressed) peer and pick peers for it."""
        if not a.address:
            return self.announce_web(a)
        now = self.clock()
        swarm = self._swarm(a.info_hash)
        self._count(now)
        if a.event is Event.STOPPED:
            swarm.leave(a.peer_id)
            return AnnounceReply(self.interval, self.min_interval, swarm.complete, swarm.incomplete)
        compact = a.address + a.port.to_bytes(2, "big")
        seeder = a.left == 0
        peer = swarm.peers.get(a.peer_id)
        if peer is None:
            peer = swarm.peers[a.peer_id] = _Peer(compact, now + self.ttl)
            swarm.pool_for(compact, seeder).add(peer)
        else:
            peer.expires = now + self.ttl
            pool = swarm.pool_for(compact, seeder)
            if pool is not peer.pool or peer.compact != compact:
                peer.pool.remove(peer)
                peer.compact = compact
                pool.add(peer)
        if a.event is Event.COMPLETED and not peer.counted:
            peer.counted = True
            swarm.completed += 1
        k = self.numwant(a.numwant)
        peers4, peers6 = self._pick(swarm, seeder, k, compact)
        return AnnounceReply(self.interval, self.min_interval, swarm.complete, swarm.incomplete,
                             peers4, peers6)

    @staticmethod
    def _pick(swarm: Swarm, seeder: bool, k: int, me: bytes):
        """Seeders get leechers only; leechers get seeders first. Own family first."""
        v6 = len(me) == 18
        if seeder:
            order = (swarm.leech6, swarm.leech4) if v6 else (swarm.leech4, swarm.leech6)
        elif v6:
            order = (swarm.seed6, swarm.leech6, swarm.seed4, swarm.leech4)
        else:
            order = (swarm.seed4, swarm.leech4, swarm.seed6, swarm.leech6)
        got4, got6 = [], []
        for pool in order:
            if k <= 0:
                break
            if pool.compacts:
                picked = pool.window(k, me)
                k -= len(picked)
                if pool is swarm.seed4 or pool is swarm.leech4:
                    got4 += picked
                else:
                    got6 += picked
        return b"".join(got4), b"".join(got6)

    def announce_web(self, a: Announce) -> AnnounceReply:
        """Record a WebTorrent peer; `web_peers` are the peer ids its offers may go to."""
        now = self.clock()
        swarm = self._swarm(a.info_hash)
        self._count(now)
        if a.event is Event.STOPPED:
            swarm.leave_web(a.peer_id)
            return AnnounceReply(self.interval, self.min_interval, swarm.complete, swarm.incomplete)
        seeder = a.left == 0
        peer = swarm.web.get(a.peer_id)
        if peer is None:
            peer = swarm.web[a.peer_id] = _WebPeer(seeder, now + self.ttl)
            swarm.web_seeders += seeder
        else:
            peer.expires = now + self.ttl
            if peer.seeder != seeder:
                swarm.web_seeders += 1 if seeder else -1
                peer.seeder = seeder
        if a.event is Event.COMPLETED and not peer.counted:
            peer.counted = True
            swarm.completed += 1
        k = self.numwant(a.numwant)
        others = [p for p, other in swarm.web.items()
                  if p != a.peer_id and not (seeder and other.seeder)]
        if len(others) > k:
            others = random.sample(others, k)
        return AnnounceReply(self.interval, self.min_interval, swarm.complete, swarm.incomplete,
                             web_peers=tuple(others))

    def leave_web(self, info_hash: bytes, peer_id: bytes):
        """A WebTorrent peer's socket closed."""
        swarm = self.swarms.get(info_hash)
        if swarm is not None:
            swarm.leave_web(peer_id)

    # --- scrapes -----------------------------------------------------------------------

    def scrape(self, s: Scrape) -> typing.Tuple[ScrapeEntry, ...]:
        self.scrapes += 1
        out = []
        for ih in s.info_hashes:
            if not self.open and not self.allowed(ih):
                self.refused += 1
                out.append(ScrapeEntry(ih, known=False))
                continue
            swarm = self.swarms.get(ih)
            out.append(ScrapeEntry(ih) if swarm is None else
                       ScrapeEntry(ih, swarm.complete, swarm.incomplete, swarm.completed))
        return tuple(out)

    # --- housekeeping ------------------------------------------------------------------

    def expire(self):
        """Drop peers that stopped announcing (interval + grace); drop empty swarms when open."""
        now = self.clock()
        for ih, swarm in list(self.swarms.items()):
            swarm.expire(now)
            if not swarm and (self.open or not swarm.completed):
                del self.swarms[ih]

    def stats(self) -> TrackerStats:
        now = self.clock()
        second = int(now)
        # the ring holds the seconds _second-RATE_WINDOW .. _second; later ones saw no announce
        total = sum(self._per_second[s % (RATE_WINDOW + 1)]
                    for s in range(second - RATE_WINDOW, second)
                    if self._second - RATE_WINDOW <= s <= self._second)
        torrents = tuple(TorrentStats(ih.hex(), s.complete, s.incomplete, s.completed)
                         for ih, s in sorted(self.swarms.items()))
        return TrackerStats(torrents, total / RATE_WINDOW, self.announces, self.scrapes,
                            self.refused, sum(t.seeders for t in torrents),
                            sum(t.leechers for t in torrents))
