"""The UDP tracker (BEP 15): pure parsers and writers, keyed-MAC connection ids, the endpoint.

Connection ids are a MAC of the client's IP address under a random secret that is
replaced every `udp_secret_rotation` seconds; ids of the current and the previous
window are accepted. Nothing is stored per client, and an id cannot be forged nor used
from another IP (a spoofer never sees the reply). The source port is left out on purpose:
NATs change it, and libtorrent shares its id cache between sessions of one process.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import struct
import time
import typing
from dataclasses import dataclass

from .address import pack_ip, unmapped
from .announce import (UNKNOWN_TORRENT, Announce, AnnounceReply, ClientError, Event, Scrape,
                       ScrapeEntry)
from .errors import Malformed
from .ratelimit import LogLimiter

log = logging.getLogger("torrentweb.tracker.udp")

PROTOCOL_ID = 0x41727101980
CONNECT, ANNOUNCE, SCRAPE, ERROR = 0, 1, 2, 3
MAX_SCRAPE = 74                # what fits in one reply datagram
BAD_CONNECTION_ID = "connection id expired or not issued to this address: connect again"
INTERNAL = "internal error in the tracker; it has been logged"

_HEADER = struct.Struct("!QII")                    # connection_id, action, transaction_id
_ANNOUNCE = struct.Struct("!20s20sQqQIIIiH")      # after the header: 98 bytes in all
_EVENTS = (Event.NONE, Event.COMPLETED, Event.STARTED, Event.STOPPED)


@dataclass(frozen=True, slots=True)
class Header:
    connection_id: int
    action: int
    transaction_id: int


def parse_header(data: bytes) -> Header:
    """Every request starts with 16 bytes; anything shorter is garbage and gets no reply."""
    if len(data) < 16:
        raise Malformed(f"datagram of {len(data)} bytes is shorter than a request header")
    return Header(*_HEADER.unpack_from(data))


def parse_announce(data: bytes, client_ip: str, allow_ip_param: bool = False) -> Announce:
    if len(data) < 98:
        raise ClientError(f"announce too short: expected 98 bytes, got {len(data)}")
    (info_hash, peer_id, _downloaded, left, uploaded, event, ip, _key, numwant,
     port) = _ANNOUNCE.unpack_from(data, 16)
    if event >= len(_EVENTS):
        raise ClientError(f"invalid event: expected 0 to 3, got {event}")
    if port == 0:
        raise ClientError("invalid port: expected a number from 1 to 65535, got 0")
    address = pack_ip(client_ip)
    if ip and allow_ip_param and len(address) == 4:
        address = ip.to_bytes(4, "big")
    return Announce(info_hash, peer_id, address, port, left if left >= 0 else 1,
                    _EVENTS[event], numwant if numwant >= 0 else -1, max(uploaded, 0))


def parse_scrape(data: bytes) -> Scrape:
    body = data[16:]
    if not body or len(body) % 20:
        raise ClientError(f"invalid scrape: expected a multiple of 20 bytes of info-hashes, got {len(body)}")
    hashes = tuple(body[i:i + 20] for i in range(0, len(body), 20))
    if len(hashes) > MAX_SCRAPE:
        raise ClientError(f"too many info-hashes: at most {MAX_SCRAPE} per scrape, got {len(hashes)}")
    return Scrape(hashes)


def write_connect(transaction_id: int, connection_id: bytes) -> bytes:
    return struct.pack("!II", CONNECT, transaction_id) + connection_id


def write_announce(transaction_id: int, r: AnnounceReply, ipv6: bool) -> bytes:
    """Peers of the request's own address family, as BEP 15 says for IPv4 and IPv6 sockets."""
    return struct.pack("!IIIII", ANNOUNCE, transaction_id, r.interval, r.incomplete, r.complete) + (
        r.peers6 if ipv6 else r.peers4)


def write_scrape(transaction_id: int, entries: typing.Sequence[ScrapeEntry]) -> bytes:
    return struct.pack("!II", SCRAPE, transaction_id) + b"".join(
        struct.pack("!III", e.complete, e.downloaded, e.incomplete) for e in entries)


def write_error(transaction_id: int, message: str) -> bytes:
    return struct.pack("!II", ERROR, transaction_id) + message.encode("utf-8")


def _bad_id_reply(transaction_id):
    return write_error(transaction_id, BAD_CONNECTION_ID)


_BAD_ID_REPLY_SIZE = len(_bad_id_reply(0))


class ConnectionIds:
    """Issue and check connection ids: MAC(secret of the time window, client IP)."""

    def __init__(self, rotation: float, clock=time.monotonic, random=os.urandom):
        self.rotation = max(1.0, float(rotation))
        self.clock = clock
        self.random = random
        self.secrets: typing.Dict[int, bytes] = {}

    def _current(self) -> int:
        window = int(self.clock() // self.rotation)
        if window not in self.secrets:
            self.secrets[window] = self.random(32)
            for old in [w for w in self.secrets if w < window - 1]:
                del self.secrets[old]
        return window

    @staticmethod
    def _mac(secret: bytes, host: str) -> bytes:
        return hashlib.blake2b(host.encode(), key=secret, digest_size=8).digest()

    def issue(self, host: str) -> bytes:
        return self._mac(self.secrets[self._current()], host)

    def valid(self, connection_id: bytes, host: str) -> bool:
        window = self._current()
        for w in (window, window - 1):
            secret = self.secrets.get(w)
            if secret is not None and self._mac(secret, host) == connection_id:
                return True
        return False


class UdpTracker:
    """One datagram in, at most one datagram out; knows nothing of sockets."""

    def __init__(self, swarms, config, limiter=None, connection_ids=None):
        self.swarms = swarms
        self.ids = connection_ids or ConnectionIds(config.udp_secret_rotation)
        self.errors = LogLimiter(log)
        self.configure(config, limiter)

    def configure(self, config, limiter=None):
        self.allow_ip_param = config.allow_ip_param
        self.limiter = limiter
        self.ids.rotation = max(1.0, float(config.udp_secret_rotation))

    def handle(self, data: bytes, host: str, port: int) -> typing.Optional[bytes]:
        if self.limiter is not None and not self.limiter.allow(host):
            return None                             # a flood is dropped, never answered
        try:
            h = parse_header(data)
        except Malformed:
            return None
        try:
            if h.action == CONNECT:
                if h.connection_id != PROTOCOL_ID:
                    return None                     # not a BitTorrent client
                return write_connect(h.transaction_id, self.ids.issue(host))
            if not self.ids.valid(data[:8], host):
                # said only when the reply is not bigger than the request: a spoofed source
                # address must not turn us into an amplifier
                if h.action in (ANNOUNCE, SCRAPE) and len(data) >= _BAD_ID_REPLY_SIZE:
                    return _bad_id_reply(h.transaction_id)
                return None
            if h.action not in (ANNOUNCE, SCRAPE):
                raise ClientError(f"unknown action {h.action}: expected 0 (connect), 1 (announce) or 2 (scrape)")
            if h.action == ANNOUNCE:
                reply = self.swarms.announce(parse_announce(data, host, self.allow_ip_param))
                return write_announce(h.transaction_id, reply, ":" in host)
            entries = self.swarms.scrape(parse_scrape(data))
            if not any(e.known for e in entries):
                raise ClientError(UNKNOWN_TORRENT)
            return write_scrape(h.transaction_id, entries)     # zeros where not tracked
        except ClientError as e:
            return write_error(h.transaction_id, str(e))
        except Exception:
            self.errors.exception("internal error answering a UDP request from %s:%d", host, port)
            return write_error(h.transaction_id, INTERNAL)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, tracker: UdpTracker):
        self.tracker = tracker
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        reply = self.tracker.handle(data, unmapped(addr[0]), addr[1])
        if reply is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc):
        log.debug("UDP socket error (an ICMP error for an earlier reply): %s", exc)
