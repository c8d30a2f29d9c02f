"""Which swarms the seeder offers WebRTC in: those where browsers want data, as many at once
as the process's descriptor limit allows.

libtorrent holds about one UDP socket per WebRTC offer (`max_webtorrent_offers`, 10, per
announce to a ws:// tracker, each kept until answered or `webtorrent_connection_timeout`)
and aborts the whole process when it runs out of descriptors. Announcing every torrent over
WebSocket made the cost follow the catalogue; here it follows the browsers:

- the tracker, in this process, calls `wanted(info_hash)` on each announce of a WebTorrent
  peer that still wants data; a swarm not yet offered gets the seeder's ws:// trackers back
  and an immediate announce, so the browser receives the seeder's offers at once;
- `tick()` withdraws a swarm once it has had no such peer for LINGER seconds; its slot is
  free again when libtorrent's pending offers have timed out;
- at most `cap` swarms hold offers at once (`cap_for`, from RLIMIT_NOFILE).

Runs on the daemon's loop; every libtorrent call goes to `run`, a one-thread executor.
"""
from __future__ import annotations

from dataclasses import dataclass

import logging
import resource
import time
import typing

log = logging.getLogger("torrentweb.webrtc")

OFFERS = 10                       # settings_for()'s max_webtorrent_offers
# Descriptors one offered swarm may hold: a v1 and a v2 announce (hybrid torrents) each make
# OFFERS offers, as do two announces in a row while the first offers still wait; plus margin.
FDS_PER_SWARM = 2 * OFFERS + 2
RESERVE = 256                     # listeners, torrent files, tracker and metrics clients, libtorrent
LINGER = 10.0                     # seconds a swarm stays offered after its last browser wanting data
CAP_LOG_EVERY = 60.0              # seconds between "cap reached" lines


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one (systemd's default soft limit is 1024);
    return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except OSError as e:              # e.g. a seccomp filter without @resources: EPERM
        log.warning("nofile limit stays %d (cannot raise it to %d: %s)", soft, hard, e.strerror or e)
        return soft
    log.info("nofile limit raised from %d to %d", soft, hard)
    return hard


def cap_for(nofile: int, connections_limit: int, configured: int = 0) -> int:
    """Swarms that may hold WebRTC offers at once: what the descriptors left after libtorrent's
    peer connections and a reserve allow, or `configured` (seeder.webrtc_swarms) if lower."""
    derived = max(0, (nofile - RESERVE - connections_limit) // FDS_PER_SWARM)
    return min(derived, configured) if configured > 0 else derived


class WebrtcOffers:
    """The swarms offered WebRTC now, and those whose withdrawn offers still hold sockets."""

    def __init__(self, seeder, demand: typing.Callable[[bytes], int], run, cap: int,
                 offer_timeout: float, clock=time.monotonic):
        """`demand(info_hash)`: WebTorrent peers of that swarm still wanting data;
        `run(fn, *args)`: schedule a libtorrent call off the loop (Executor.submit)."""
        self.seeder, self.demand, self.run, self.cap = seeder, demand, run, cap
        self.offer_timeout, self.clock = offer_timeout, clock
        self.offered: dict[bytes, float] = {}     # info-hash -> last time a browser wanted data
        self.cooling: dict[bytes, float] = {}     # withdrawn info-hash -> when its slot is free
        self._cap_logged = -CAP_LOG_EVERY

    def wanted(self, info_hash: bytes) -> bool:
        """A browser that wants data announced to this swarm (the tracker's hook): True when
        the seeder offers WebRTC there, from now on or already."""
        now = self.clock()
        if info_hash in self.offered:
            self.offered[info_hash] = now
            return True
        if not self.seeder.web_trackers(info_hash.hex()):
            return False                  # not ours, or no ws:// tracker: nothing to offer
        if len(self.offered) + len(self.cooling) >= self.cap:
            self._log_cap(now)
            return False
        self.offered[info_hash] = now
        self.cooling.pop(info_hash, None)
        self.run(self._offer, info_hash)
        return True

    def _offer(self, info_hash: bytes):
        if not self.seeder.offer_webrtc(info_hash.hex()):
            log.debug("no WebRTC to offer in %s", info_hash.hex())

    def _log_cap(self, now: float):
        if now - self._cap_logged >= CAP_LOG_EVERY:
            self._cap_logged = now
            log.warning("WebRTC offered in %d swarms already, the most at once: browsers in other "
                        "swarms get the web seed and native peers until one is withdrawn", self.cap)

    def tick(self):
        """Withdraw swarms whose browsers are gone; free the slots whose offers timed out."""
        now = self.clock()
        for info_hash, seen in list(self.offered.items()):
            if self.demand(info_hash) > 0:
                self.offered[info_hash] = now
            elif now - seen > LINGER:
                self.withdraw(info_hash, now)
        for info_hash, free_at in list(self.cooling.items()):
            if now >= free_at:
                del self.cooling[info_hash]

    def withdraw(self, info_hash: bytes, now: float):
        del self.offered[info_hash]
        self.cooling[info_hash] = now + self.offer_timeout
        self.run(self.seeder.withdraw_webrtc, info_hash.hex())

    def withdraw_all(self):
        """WebRTC turned off on reload."""
        now = self.clock()
        for info_hash in list(self.offered):
            self.withdraw(info_hash, now)

    def stats(self) -> "WebrtcStats":
        return WebrtcStats(len(self.offered), len(self.cooling), self.cap)


@dataclass(frozen=True)
class WebrtcStats:
    offered: int          # swarms the seeder offers WebRTC in now
    withdrawing: int      # withdrawn, their offers' sockets not yet freed
    cap: int              # the most at once (cap_for)
