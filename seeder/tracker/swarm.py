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

import math
import random
import time
import typing
from dataclasses import dataclass

from torrentweb.naming import SEEDER_PEER_ID_PREFIX

from .announce import (UNKNOWN_TORRENT, Announce, AnnounceReply, ClientError, Event, Scrape,
                       ScrapeEntry)

def _visitor(peer_id: bytes) -> bool:
    """A visitor's peer, not a torrentweb seeder's (this or another frontend's)."""
    return not peer_id.startswith(SEEDER_PEER_ID_PREFIX)


# stats: announces per second over this many whole seconds
RATE_WINDOW = 10


class _Pool:
    """Peers of one family and state: parallel lists of peer ids and compact addresses,
    with O(1) add/remove (swap with the last) and cheap random windows."""
    __slots__ = ("ids", "compacts")

    def __init__(self):
        self.ids: typing.List[bytes] = []
        self.compacts: typing.List[bytes] = []

    def __len__(self):
        return len(self.ids)

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
    __slots__ = ("seeder", "expires", "counted", "uploaded")

    def __init__(self, seeder, expires):
        self.seeder, self.expires, self.counted, self.uploaded = seeder, expires, False, 0


# A native peer is a tuple of plain values, which the garbage collector stops tracking:
# a million peers then cost no time in Python's full collections.
_COMPACT, _POOL, _INDEX, _EXPIRES, _COUNTED, _UPLOADED = range(6)
SEED4, LEECH4, SEED6, LEECH6 = range(4)


class Swarm:
    """One info-hash: native peers in pools, WebTorrent peers by peer id, the completed count."""
    __slots__ = ("peers", "pools", "web", "web_seeders", "completed")

    def __init__(self):
        self.peers: typing.Dict[bytes, tuple] = {}     # peer id -> (compact, pool, index, expires, counted, uploaded)
        self.pools = (_Pool(), _Pool(), _Pool(), _Pool())
        self.web: typing.Dict[bytes, _WebPeer] = {}
        self.web_seeders = 0
        self.completed = 0

    @property
    def complete(self) -> int:
        return len(self.pools[SEED4].ids) + len(self.pools[SEED6].ids) + self.web_seeders

    @property
    def incomplete(self) -> int:
        return len(self.pools[LEECH4].ids) + len(self.pools[LEECH6].ids) + len(self.web) - self.web_seeders

    def __len__(self):
        return len(self.peers) + len(self.web)

    def add(self, peer_id: bytes, compact: bytes, seeder: bool, expires: float, counted: bool,
            uploaded: int = 0):
        number = (SEED4 if seeder else LEECH4) if len(compact) == 6 else (SEED6 if seeder else LEECH6)
        pool = self.pools[number]
        self.peers[peer_id] = (compact, number, len(pool.ids), expires, counted, uploaded)
        pool.ids.append(peer_id)
        pool.compacts.append(compact)

    def leave(self, peer_id: bytes):
        peer = self.peers.pop(peer_id, None)
        if peer is not None:
            self._unlist(peer)

    def _unlist(self, peer: tuple):
        pool, i = self.pools[peer[_POOL]], peer[_INDEX]
        last_id, last_compact = pool.ids.pop(), pool.compacts.pop()
        if i < len(pool.ids):          # it was not the last: the last takes its place
            pool.ids[i], pool.compacts[i] = last_id, last_compact
            moved = self.peers[last_id]
            self.peers[last_id] = (moved[0], moved[1], i, moved[3], moved[4], moved[5])

    def leave_web(self, peer_id: bytes):
        peer = self.web.pop(peer_id, None)
        if peer is not None and peer.seeder:
            self.web_seeders -= 1

    def expire(self, now: float):
        for peer_id in [p for p, peer in self.peers.items() if peer[_EXPIRES] < now]:
            self.leave(peer_id)
        for peer_id in [p for p, peer in self.web.items() if peer.expires < now]:
            self.leave_web(peer_id)


@dataclass(frozen=True, slots=True)
class SwarmStats:
    info_hash: str            # 40 hex digits
    seeders: int
    leechers: int
    completed: int


@dataclass(frozen=True, slots=True)
class TrackerStats:
    """What `torrentweb status` shows about the tracker."""
    torrents: typing.Tuple[SwarmStats, ...]
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
        self.configure(config)
        self.allowed = allowed
        self.clock = clock
        self.swarms: typing.Dict[bytes, Swarm] = {}
        self.announces = self.scrapes = self.refused = 0
        # bytes visitors reported sending to each other (announces' `uploaded`, as deltas): what
        # the swarm spared the origin (the site's own seeder never announces here)
        self.uploaded = 0
        self._second = 0
        self._per_second = [0] * (RATE_WINDOW + 1)
        self._sweep: typing.List[bytes] = []      # swarms the incremental expiry has yet to visit
        # The seeder's hook (seeder/webrtc.py): a WebTorrent peer that wants data announced;
        # True when the seeder offers WebRTC there (its offers may still be on their way)
        self.on_web_leecher: typing.Optional[typing.Callable[[bytes], bool]] = None
        # swarms a visitor (not a torrentweb seeder) announced in, leecher or seeder, since the
        # daemon last took them (Swarms.take_crowds): the seeder's slots and hold-back follow them
        self.crowded_since: typing.Set[bytes] = set()

    def configure(self, config):
        """Take the settings of a (re)loaded TrackerConfig; the swarms stay."""
        self.interval = int(config.interval)
        self.min_interval = int(config.min_interval)
        self.ttl = config.interval + config.grace
        self.numwant_default = int(config.numwant_default)
        self.numwant_max = int(config.numwant_max)
        self.max_peers = int(config.max_peers_per_swarm)
        self.open = config.open

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

    def _admit(self, swarm: Swarm):
        """A new peer in a full swarm is refused; its peers keep their places (the site's seeder
        among them, which an eviction of the oldest would throw out first), and expiry frees room."""
        if len(swarm) >= self.max_peers:
            raise ClientError(f"swarm full: it has {len(swarm)} peers, the most this tracker keeps; "
                              "retry later")

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
        if _visitor(a.peer_id):
            self.crowded_since.add(a.info_hash)
        expires = now + self.ttl
        peer = swarm.peers.get(a.peer_id)
        if peer is None:
            self._admit(swarm)
        counted = peer is not None and peer[_COUNTED]
        if a.event is Event.COMPLETED and not counted:
            counted = True
            swarm.completed += 1
        uploaded = peer[_UPLOADED] if peer is not None else 0
        if a.uploaded > uploaded:
            self.uploaded += a.uploaded - uploaded
            uploaded = a.uploaded
        if peer is None:
            swarm.add(a.peer_id, compact, seeder, expires, counted, uploaded)
        elif peer[_COMPACT] == compact and (peer[_POOL] in (SEED4, SEED6)) == seeder:
            swarm.peers[a.peer_id] = (compact, peer[_POOL], peer[_INDEX], expires, counted, uploaded)
        else:                          # moved, or finished: into another pool
            swarm._unlist(peer)
            swarm.add(a.peer_id, compact, seeder, expires, counted, uploaded)
        peers4, peers6 = self._pick(swarm, seeder, self.numwant(a.numwant), compact)
        return AnnounceReply(self.interval, self.min_interval, swarm.complete, swarm.incomplete,
                             peers4, peers6)

    @staticmethod
    def _pick(swarm: Swarm, seeder: bool, k: int, me: bytes):
        """Seeders get leechers only; leechers get seeders first. Own family first."""
        v6 = len(me) == 18
        if seeder:
            order = (LEECH6, LEECH4) if v6 else (LEECH4, LEECH6)
        elif v6:
            order = (SEED6, LEECH6, SEED4, LEECH4)
        else:
            order = (SEED4, LEECH4, SEED6, LEECH6)
        got4, got6 = [], []
        for number in order:
            if k <= 0:
                break
            pool = swarm.pools[number]
            if pool.compacts:
                picked = pool.window(k, me)
                k -= len(picked)
                if number == SEED4 or number == LEECH4:
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
        if _visitor(a.peer_id):
            self.crowded_since.add(a.info_hash)
        peer = swarm.web.get(a.peer_id)
        if peer is None:
            self._admit(swarm)
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
        if a.uploaded > peer.uploaded:
            self.uploaded += a.uploaded - peer.uploaded
            peer.uploaded = a.uploaded
        complete = swarm.complete
        if not seeder and self.on_web_leecher is not None and self.on_web_leecher(a.info_hash):
            complete = max(complete, 1)   # a browser seeing no seeder would give up on the swarm
        return AnnounceReply(self.interval, self.min_interval, complete, swarm.incomplete,
                             web_peers=self._pick_web(swarm, a.peer_id, seeder, self.numwant(a.numwant)))

    @staticmethod
    def _pick_web(swarm: Swarm, me: bytes, seeder: bool, k: int) -> typing.Tuple[bytes, ...]:
        """Up to k other WebTorrent peers, in random order; seeders are not offered to seeders."""
        if k <= 0 or len(swarm.web) <= 1:
            return ()
        ids = list(swarm.web)
        if len(ids) > 2 * k + 1:        # big swarm: look at a random sample, not at everyone
            ids = random.sample(ids, 2 * k + 1)
        else:
            random.shuffle(ids)
        web = swarm.web
        return tuple([p for p in ids if p != me and not (seeder and web[p].seeder)][:k])

    def crowd(self, info_hash: bytes) -> typing.Tuple[int, int]:
        """(seeders that are visitors, leechers) of the swarm: a visitor seeder has everything
        and is not the site's seeder on this or another frontend (SEEDER_PEER_ID_PREFIX)."""
        swarm = self.swarms.get(info_hash)
        if swarm is None:
            return 0, 0
        seeds = 0
        if swarm.complete:
            seeds = sum(1 for p, peer in swarm.web.items() if peer.seeder and _visitor(p))
            seeds += sum(1 for pool in (SEED4, SEED6) for p in swarm.pools[pool].ids if _visitor(p))
        return seeds, swarm.incomplete

    def take_crowds(self, known: typing.Iterable[bytes]) -> typing.Dict[bytes, typing.Tuple[int, int]]:
        """crowd() of the swarms that hold a visitor (seeder or leecher) now, of `known` (the
        last answer) and of those a visitor announced in since: a look at a few swarms, not at
        all of them. The seeder counts a crowd's swarms from here the moment it arrives;
        libtorrent's own count follows 0.5-1.5 s later."""
        out = {}
        for ih in set(known) | self.crowded_since:
            counts = self.crowd(ih)
            if any(counts):
                out[ih] = counts
        self.crowded_since.clear()
        return out

    def leave_web(self, info_hash: bytes, peer_id: bytes):
        """A WebTorrent peer's socket closed."""
        swarm = self.swarms.get(info_hash)
        if swarm is not None:
            swarm.leave_web(peer_id)

    def web_leechers(self, info_hash: bytes) -> int:
        """WebTorrent peers of this swarm that still want data (the seeder's WebRTC demand)."""
        swarm = self.swarms.get(info_hash)
        return 0 if swarm is None else len(swarm.web) - swarm.web_seeders

    def snapshot(self) -> "Swarms":
        """A copy of the table (not of each swarm) whose stats() another thread may take while
        the loop goes on announcing: stats() of 10,000 swarms is too long for the loop."""
        copy = object.__new__(Swarms)
        copy.__dict__.update(self.__dict__)
        copy.swarms, copy._per_second, copy._sweep = dict(self.swarms), list(self._per_second), []
        return copy

    def pin(self, info_hash: bytes, peer_id: bytes, compact: bytes):
        """The site's own seeder, entered by the daemon rather than announced (seeder/presence.py):
        it never expires and is never refused for a full swarm."""
        swarm = self.swarms.get(info_hash)
        if swarm is None:
            swarm = self.swarms[info_hash] = Swarm()
        swarm.leave(peer_id)
        swarm.add(peer_id, compact, True, math.inf, False)

    def unpin(self, info_hash: bytes, peer_id: bytes):
        swarm = self.swarms.get(info_hash)
        if swarm is not None:
            swarm.leave(peer_id)

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

    def expire(self, max_swarms: typing.Optional[int] = None):
        """Drop peers that stopped announcing (interval + grace); drop empty swarms when open.

        With `max_swarms`, only that many swarms are looked at, going on from where the last
        call stopped, so that a big tracker never blocks its loop for a whole sweep.
        """
        now = self.clock()
        if max_swarms is None:
            todo, self._sweep = list(self.swarms), []
        else:
            if not self._sweep:
                self._sweep = list(self.swarms)
            todo = self._sweep[-max_swarms:] if max_swarms > 0 else []
            del self._sweep[len(self._sweep) - len(todo):]
        for ih in todo:
            swarm = self.swarms.get(ih)
            if swarm is None:
                continue
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
        torrents = tuple(SwarmStats(ih.hex(), s.complete, s.incomplete, s.completed)
                         for ih, s in sorted(self.swarms.items()))
        return TrackerStats(torrents, total / RATE_WINDOW, self.announces, self.scrapes,
                            self.refused, sum(t.seeders for t in torrents),
                            sum(t.leechers for t in torrents))
