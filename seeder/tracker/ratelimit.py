"""Per-address token buckets (`rate` requests per second, bursts up to `burst`), and a log limiter."""
from __future__ import annotations

import ipaddress
import socket
import time


def is_own_address(address) -> bool:
    """Loopback, or an address a socket on this machine can bind to (one of its own)."""
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((str(ip), 0))
        except OSError:
            return False
    return True


class RateLimiter:
    """`allow(address)` takes a token; False means the address is over its rate.

    This machine's own addresses are never limited: the seeder announces every torrent it
    seeds to this tracker (directly from loopback, or through Apache, which forwards the
    machine's own address), and a site with thousands of torrents would be throttled by its
    own tracker at every start. The limit is for floods from elsewhere."""

    LOCAL_CACHE = 4096

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self.clock = clock
        self.buckets: dict = {}     # address -> [tokens, last refill time]
        self._local: dict = {}      # address -> is it this machine's?

    def allow(self, address) -> bool:
        if self._is_local(address):
            return True
        now = self.clock()
        bucket = self.buckets.get(address)
        if bucket is None:
            self.buckets[address] = [self.burst - 1.0, now]
            return True
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _is_local(self, address) -> bool:
        known = self._local.get(address)
        if known is None:
            if len(self._local) >= self.LOCAL_CACHE:
                self._local.clear()
            known = self._local[address] = is_own_address(address)
        return known

    def sweep(self):
        """Forget addresses whose bucket has refilled: they are indistinguishable from new ones."""
        now = self.clock()
        full = [a for a, (tokens, last) in self.buckets.items()
                if tokens + (now - last) * self.rate >= self.burst]
        for a in full:
            del self.buckets[a]


class LogLimiter:
    """Logs an internal error's traceback at most once per `every` seconds: a client that keeps
    sending what trips a bug must not fill the disk. The ones held back are counted in the next."""

    def __init__(self, logger, every: float = 60.0, clock=time.monotonic):
        self.logger = logger
        self.every = float(every)
        self.clock = clock
        self.next = float("-inf")
        self.held = 0

    def exception(self, message: str, *args):
        now = self.clock()
        if now < self.next:
            self.held += 1
            return
        self.next = now + self.every
        if self.held:
            message, args = message + " (and %d more not logged since the last one)", args + (self.held,)
            self.held = 0
        self.logger.exception(message, *args)
