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
from .http import HttpProtocol, HttpTracker
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
        self._http_server = None
        self._http_connections: set = set()
        self._udp_transport = None
        self._ws_server: typing.Optional[WsServer] = None
        self._housekeeping: typing.Optional[asyncio.Task] = None

    async def start(self) -> None:
        """Bind every configured listener; BindError names the one that failed (nothing stays bound)."""
        loop = asyncio.get_running_loop()
        c = self.config
        try:
            if c.http is not None:
                self._http_server = await self._bind("http", c.http, loop.create_server(
                    lambda: HttpProtocol(self.http, self._http_connections), c.http.host, c.http.port,
                    backlog=1024))
                self.addresses["http"] = _bound(self._http_server.sockets[0])
            if c.udp is not None:
                self._udp_transport, _ = await self._bind("udp", c.udp, loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self.udp), local_addr=(c.udp.host, c.udp.port)))
                self.addresses["udp"] = _bound(self._udp_transport.get_extra_info("socket"))
            if c.websocket is not None:
                server = WsServer(self.ws, c)
                host, port = await self._bind("websocket", c.websocket, server.start(c.websocket.host,
                                                                                     c.websocket.port))
                self._ws_server = server
                self.addresses["websocket"] = Address(host, port)
        except BaseException:
            await self.stop()
            raise
        self._housekeeping = loop.create_task(self._housekeep(), name="tracker housekeeping")
        log.info("tracker listening: %s (%s)", ", ".join(f"{k} {v}" for k, v in self.addresses.items())
                 or "no listeners", "open" if c.open else "this site's torrents only")

    @staticmethod
    async def _bind(protocol, address, coroutine):
        try:
            return await coroutine
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise BindError(protocol, address, reason) from None

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            try:
                await self._housekeeping
            except asyncio.CancelledError:
                pass
            self._housekeeping = None
        if self._ws_server is not None:
            await self._ws_server.stop()
            self._ws_server = None
        if self._udp_transport is not None:
            self._udp_transport.close()
            self._udp_transport = None
        if self._http_server is not None:
            self._http_server.close()
            for protocol in list(self._http_connections):
                protocol.transport.close()
            await self._http_server.wait_closed()
            self._http_server = None
        self.addresses = {}

    async def _housekeep(self):
        """Expire peers, forget refilled rate buckets, drop idle WebSocket connections.

        Expiry goes a slice of the swarms at a time, so that a full pass takes about
        `expire_every` seconds and never blocks the loop for long.
        """
        c = self.config
        idle = float(c.ws_idle_timeout or 2 * c.interval)
        period = max(0.2, min(1.0, c.interval / 2, idle / 4))
        expire_every = max(1.0, min(30.0, float(c.interval)))
        while True:
            await asyncio.sleep(period)
            try:
                if self._ws_server is not None:
                    self._ws_server.drop_idle()
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
