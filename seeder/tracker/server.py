"""The tracker component the daemon composes: every configured listener over one set of swarms.

Runs on the caller's asyncio loop (never its own thread or loop): `await start()` binds
HTTP, UDP and WebSocket listeners (a None address turns one off), `await stop()` closes them.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import typing

from torrentweb.config import Address, TrackerConfig

from .errors import BindError
from .http import HttpProtocol, HttpTracker, close_idle
from .ratelimit import RateLimiter
from .swarm import Swarms, TrackerStats
from .udp import UdpProtocol, UdpTracker
from .websocket import WsServer, WsTracker

log = logging.getLogger("torrentweb.tracker")


class Tracker:
    def __init__(self, config: TrackerConfig, is_known: typing.Callable[[bytes], bool],
                 clock=time.monotonic):
        """`is_known(info_hash)`: is this 20-byte v1 info-hash one of our torrents (ignored when open).
        It is called on every announce: keep it an in-memory lookup."""
        self.config = config
        self.swarms = Swarms(config, is_known, clock)
        self.limiter = RateLimiter(config.rate_limit, config.rate_burst, clock) if config.rate_limit else None
        self.http = HttpTracker(self.swarms, config, self.limiter)
        self.udp = UdpTracker(self.swarms, config, self.limiter)
        self.ws = WsTracker(self.swarms, config, self.limiter, clock)
        self.addresses: typing.Dict[str, Address] = {}
        self._listeners: typing.Dict[str, tuple] = {}      # protocol -> (handle, bound, configured)
        self._http_connections: set = set()
        self._housekeeping: typing.Optional[asyncio.Task] = None

    async def start(self) -> None:
        """Bind every configured listener; BindError names the one that failed (nothing stays bound)."""
        c = self.config
        try:
            for protocol in ("http", "udp", "websocket"):
                address = getattr(c, protocol)
                if address is not None:
                    self._listeners[protocol] = await self._open(protocol, address)
                    self.addresses[protocol] = self._listeners[protocol][1]
        except BaseException:
            await self.stop()
            raise
        self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep(),
                                                                   name="tracker housekeeping")
        log.info("tracker listening: %s (%s)", ", ".join(f"{k} {v}" for k, v in self.addresses.items())
                 or "no listeners", "open" if c.open else "this site's torrents only")

    async def reload(self, config: TrackerConfig) -> None:
        """Apply a new configuration, keeping swarms and connections. A listener whose address
        changed is bound anew before the old one is closed: if that bind fails, BindError is
        raised and every listener stays as it was (the other settings are applied)."""
        self.config = config
        self.swarms.configure(config)
        if not config.rate_limit:
            self.limiter = None
        elif self.limiter is None or (self.limiter.rate, self.limiter.burst) != (config.rate_limit,
                                                                               max(1.0, config.rate_burst)):
            self.limiter = RateLimiter(config.rate_limit, config.rate_burst, self.swarms.clock)
        self.http.configure(config, self.limiter)
        self.udp.configure(config, self.limiter)
        self.ws.configure(config, self.limiter)
        if "websocket" in self._listeners:
            self._listeners["websocket"][0].configure(config)
        opened, failure = {}, None
        for protocol in ("http", "udp", "websocket"):
            wanted, current = getattr(config, protocol), self._listeners.get(protocol)
            if wanted is not None and (current is None or current[2] != wanted):
                try:
                    opened[protocol] = await self._open(protocol, wanted)
                except BindError as e:
                    failure = e
                    break
        if failure is not None:
            for protocol, handle in opened.items():
                await self._close(handle[0], protocol, connections=False)
            raise failure
        for protocol in ("http", "udp", "websocket"):
            wanted, current = getattr(config, protocol), self._listeners.get(protocol)
            if current is not None and (wanted is None or protocol in opened):
                await self._close(current[0], protocol)
                del self._listeners[protocol]
            if protocol in opened:
                self._listeners[protocol] = opened[protocol]
        self.addresses = {p: listener[1] for p, listener in self._listeners.items()}
        log.info("tracker reloaded: %s (%s)", ", ".join(f"{k} {v}" for k, v in self.addresses.items())
                 or "no listeners", "open" if config.open else "this site's torrents only")

    async def _open(self, protocol: str, address: Address):
        """-> (server handle, bound address, configured address)."""
        loop = asyncio.get_running_loop()
        try:
            if protocol == "http":
                server = await loop.create_server(lambda: HttpProtocol(self.http, self._http_connections),
                                                  address.host, address.port, backlog=1024)
                return server, _bound(server.sockets[0]), address
            if protocol == "udp":
                transport, _ = await loop.create_datagram_endpoint(lambda: UdpProtocol(self.udp),
                                                                   local_addr=(address.host, address.port))
                return transport, _bound(transport.get_extra_info("socket")), address
            server = WsServer(self.ws, self.config)
            host, port = await server.start(address.host, address.port)
            return server, Address(host, port), address
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise BindError(protocol, address, reason) from None

    async def _close(self, handle, protocol: str, connections: bool = True):
        """Close a listener; with `connections`, the HTTP connections it accepted too."""
        if protocol == "websocket":
            await handle.stop()
        elif protocol == "udp":
            handle.close()
        else:
            handle.close()
            if connections:
                for connection in list(self._http_connections):
                    connection.transport.close()
            await handle.wait_closed()

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            try:
                await self._housekeeping
            except asyncio.CancelledError:
                pass
            self._housekeeping = None
        for protocol in ("websocket", "udp", "http"):
            listener = self._listeners.pop(protocol, None)
            if listener is not None:
                await self._close(listener[0], protocol)
        self.addresses = {}

    async def _housekeep(self):
        """Expire peers, forget refilled rate buckets, close stalled and idle connections, ping
        WebSocket peers.

        Expiry goes a slice of the swarms at a time, so that a full pass takes about
        `expire_every` seconds and never blocks the loop for long.
        """
        while True:
            c = self.config
            idle = float(c.ws_idle_timeout or 2 * c.interval)
            period = max(0.2, min(1.0, c.interval / 2, idle / 4))
            expire_every = max(1.0, min(30.0, float(c.interval)))
            await asyncio.sleep(period)
            try:
                now = asyncio.get_running_loop().time()
                if "websocket" in self._listeners:
                    self._listeners["websocket"][0].housekeep(now)
                close_idle(self._http_connections, now)
                share = max(16, math.ceil(len(self.swarms.swarms) * period / expire_every))
                self.swarms.expire(max_swarms=share)
                if self.limiter is not None and not self.swarms._sweep:
                    self.limiter.sweep()
            except Exception:
                log.exception("tracker housekeeping failed; it will run again")

    def stats(self) -> TrackerStats:
        return self.swarms.stats()


def _bound(sock) -> Address:
    host, port = sock.getsockname()[:2]
    return Address(host, port)
