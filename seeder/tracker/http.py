"""The HTTP tracker (BEP 3, 23, 7, 48): pure parsers and writers, then a lean asyncio server.

The server is a bare `asyncio.Protocol` speaking just enough HTTP/1.1 for trackers and
the reverse proxy in front of them (GET, keep-alive, pipelining, no bodies): a tracker
request is one short line, and a general-purpose framework costs more than the work.
"""
from __future__ import annotations

import asyncio
import logging
import typing
from urllib.parse import unquote_to_bytes

from .address import forwarded_client, is_trusted, pack_ip, unmapped
from .announce import (RATE_LIMITED, TOO_MANY, UNKNOWN_TORRENT, Announce, AnnounceReply, ClientError,
                       Event, Scrape, ScrapeEntry)
from .ratelimit import LogLimiter

log = logging.getLogger("torrentweb.tracker.http")

MAX_HEAD = 8 * 1024          # request line + headers
MAX_SCRAPE = 100             # info-hashes in one scrape
KEEPALIVE_TIMEOUT = 30.0     # seconds an idle connection is kept
MAX_DIGITS = 20             # 2**64 - 1: no BitTorrent number is longer
NOT_FOUND = "not found: this tracker answers /announce and /scrape"
INTERNAL = "internal error in the tracker; it has been logged"
HEAD_TOO_LARGE = f"request head larger than {MAX_HEAD} bytes"
HEAD_TIMEOUT = "request head not received in time"

_EVENTS = {b"": Event.NONE, b"started": Event.STARTED, b"completed": Event.COMPLETED,
           b"stopped": Event.STOPPED, b"paused": Event.NONE, b"empty": Event.NONE}


# --- parsing ---------------------------------------------------------------------------

def _twenty(name: str, value: typing.Optional[bytes]) -> bytes:
    if value is None:
        raise ClientError(f"missing {name}")
    raw = unquote_to_bytes(value)
    if len(raw) != 20:
        raise ClientError(f"invalid {name}: expected 20 bytes, got {len(raw)}")
    return raw


def _shown(value: bytes) -> str:
    """A client's value inside a failure reason: cut short, whatever it sent."""
    text = value.decode("latin-1")
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _number(name: str, value: bytes) -> int:
    """Decimal digits only (int() would take '1_0', ' 1' and 4,000 digits)."""
    if not (value.isdigit() and len(value) <= MAX_DIGITS):
        raise ClientError(f"invalid {name}: expected a number that is not negative, got {_shown(value)}")
    return int(value)


def parse_announce(query: bytes, client_ip: str, allow_ip_param: bool = False) -> Announce:
    """The query string of GET /announce -> Announce, or ClientError saying what is wrong."""
    info_hash = peer_id = port = left = event = numwant = ip = uploaded = None
    for part in query.split(b"&"):
        key, _, value = part.partition(b"=")
        if key == b"info_hash":
            info_hash = value
        elif key == b"peer_id":
            peer_id = value
        elif key == b"port":
            port = value
        elif key == b"left":
            left = value
        elif key == b"event":
            event = value
        elif key == b"numwant" or key == b"num_want":
            numwant = value
        elif key == b"ip":
            ip = value
        elif key == b"uploaded":
            uploaded = value
    info_hash = _twenty("info_hash", info_hash)
    peer_id = _twenty("peer_id", peer_id)
    if port is None:
        raise ClientError("missing port")
    port_n = int(port) if port.isdigit() and len(port) <= 5 else 0
    if not 0 < port_n < 65536:
        raise ClientError(f"invalid port: expected a number from 1 to 65535, got {_shown(port)}")
    if left is None:
        raise ClientError("missing left")
    left_n = _number("left", left)
    ev = Event.NONE
    if event is not None:
        ev = _EVENTS.get(event)
        if ev is None:
            raise ClientError("invalid event: expected started, completed, stopped or nothing, "
                              f"got {_shown(unquote_to_bytes(event))}")
    numwant_n = -1 if numwant is None else _number("numwant", numwant)
    if ip is not None and allow_ip_param:
        address = pack_ip(unquote_to_bytes(ip).decode("latin-1"))
    else:
        address = pack_ip(client_ip)
    uploaded_n = 0 if uploaded is None or uploaded == b"0" else _number("uploaded", uploaded)
    return Announce(info_hash, peer_id, address, port_n, left_n, ev, numwant_n, uploaded_n)


def parse_scrape(query: bytes) -> Scrape:
    """The query string of GET /scrape: one or more info_hash parameters."""
    hashes = []
    for part in query.split(b"&"):
        key, _, value = part.partition(b"=")
        if key == b"info_hash":
            hashes.append(_twenty("info_hash", value))
    if not hashes:
        raise ClientError("missing info_hash: full scrapes are not served, name the torrents")
    if len(hashes) > MAX_SCRAPE:
        raise ClientError(f"too many info_hash: at most {MAX_SCRAPE} per scrape, got {len(hashes)}")
    return Scrape(tuple(hashes))


# --- writing ---------------------------------------------------------------------------

def write_announce(r: AnnounceReply) -> bytes:
    """Bencoded, keys in sorted order; compact peers always (BEP 23), peers6 when any (BEP 7)."""
    body = b"d8:completei%de10:incompletei%de8:intervali%de12:min intervali%de5:peers%d:%s" % (
        r.complete, r.incomplete, r.interval, r.min_interval, len(r.peers4), r.peers4)
    if r.peers6:
        body += b"6:peers6%d:%s" % (len(r.peers6), r.peers6)
    return body + b"e"


def write_scrape(entries: typing.Sequence[ScrapeEntry]) -> bytes:
    """BEP 48 files dict, keys sorted; hashes not tracked here are left out."""
    known = {e.info_hash: e for e in entries if e.known}
    if not known:
        return write_failure(UNKNOWN_TORRENT)
    files = b"".join(b"20:%sd8:completei%de10:downloadedi%de10:incompletei%dee" % (
        ih, known[ih].complete, known[ih].downloaded, known[ih].incomplete) for ih in sorted(known))
    return b"d5:filesd" + files + b"ee"


def write_failure(reason: str) -> bytes:
    raw = reason.encode("utf-8")
    return b"d14:failure reason%d:%se" % (len(raw), raw)


_STATUS = {200: b"200 OK", 400: b"400 Bad Request", 404: b"404 Not Found",
           405: b"405 Method Not Allowed", 408: b"408 Request Timeout",
           431: b"431 Request Header Fields Too Large", 500: b"500 Internal Server Error",
           503: b"503 Service Unavailable"}


def response(body: bytes, status: int = 200, keep_alive: bool = True) -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
        _STATUS[status], len(body), b"" if keep_alive else b"Connection: close\r\n", body)


# --- the request handler -----------------------------------------------------------------

class HttpTracker:
    """Turns one request head into one response; knows nothing of sockets."""

    def __init__(self, swarms, config, limiter=None):
        self.swarms = swarms
        self.errors = LogLimiter(log)
        self.configure(config, limiter)

    def configure(self, config, limiter=None):
        self.trusted = tuple(config.trusted_proxies)
        self.allow_ip_param = config.allow_ip_param
        self.limiter = limiter
        self.header_timeout = float(config.header_timeout)
        self.max_connections = int(config.max_connections)

    def handle(self, head: bytes, peer: str, peer_trusted: bool) -> typing.Tuple[bytes, bool]:
        """-> (response bytes, keep the connection open)."""
        line_end = head.find(b"\r\n")
        parts = (head if line_end < 0 else head[:line_end]).split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return response(write_failure("malformed HTTP request line"), 400, False), False
        method, target, version = parts
        keep = version == b"HTTP/1.1"
        forwarded = None
        if line_end >= 0:
            for line in head[line_end + 2:].split(b"\r\n"):
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"connection":
                    value = value.strip().lower()
                    keep = False if value == b"close" else (True if value == b"keep-alive" else keep)
                elif name == b"x-forwarded-for":
                    forwarded = value if forwarded is None else forwarded + b"," + value
                elif name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
                    return response(write_failure("request bodies are not accepted"), 400, False), False
        if method != b"GET":
            return response(write_failure("only GET is served"), 405, False), False
        path, _, query = target.partition(b"?")
        try:
            client = peer
            if peer_trusted and forwarded is not None:
                client = forwarded_client(peer, forwarded.decode("latin-1"), self.trusted)
            if self.limiter is not None and not self.limiter.allow(client):
                return response(write_failure(RATE_LIMITED)), keep
            if path == b"/announce":
                announce = parse_announce(query, client, self.allow_ip_param)
                return response(write_announce(self.swarms.announce(announce))), keep
            if path == b"/scrape":
                return response(write_scrape(self.swarms.scrape(parse_scrape(query)))), keep
            return response(write_failure(NOT_FOUND), 404), keep
        except ClientError as e:
            return response(write_failure(str(e))), keep
        except Exception:
            self.errors.exception("internal error answering %r from %s", target[:200], peer)
            return response(write_failure(INTERNAL), 500, False), False


# --- the socket side -------------------------------------------------------------------

def close_idle(connections: set, now: float):
    """Called by housekeeping: a head not complete header_timeout after it began gets 408 (a
    client dripping bytes, slowloris); a keep-alive connection silent for KEEPALIVE_TIMEOUT is closed."""
    for connection in list(connections):
        connection.expire(now)


def refusal(reason: str, status: int) -> bytes:
    return response(write_failure(reason), status, False)


class HttpProtocol(asyncio.Protocol):
    """One connection: split request heads, answer each, close when asked to (stalled and idle
    ones are closed by close_idle)."""

    def __init__(self, tracker: HttpTracker, connections: set):
        self.tracker = tracker
        self.connections = connections
        self.transport = None
        self.buffer = b""
        self.peer = ""
        self.peer_trusted = False
        self.loop = asyncio.get_running_loop()
        self.last_active = 0.0
        self.head_started: typing.Optional[float] = None    # waiting for the rest of a head since
        self.refused = False        # over max_connections

    def connection_made(self, transport):
        self.transport = transport
        # answered 503 once its request is in: closing at once would reset the reply away
        self.refused = len(self.connections) >= self.tracker.max_connections
        peername = transport.get_extra_info("peername")
        self.peer = unmapped(peername[0]) if peername else "0.0.0.0"
        self.peer_trusted = is_trusted(self.peer, self.tracker.trusted)
        self.connections.add(self)
        self.last_active = self.head_started = self.loop.time()

    def connection_lost(self, exc):
        self.connections.discard(self)

    def pause_writing(self):
        self.transport.pause_reading()      # a client that does not read gets no more answers

    def resume_writing(self):
        self.transport.resume_reading()

    def expire(self, now: float):
        if self.head_started is not None and now - self.head_started >= self.tracker.header_timeout:
            self._refuse(refusal(HEAD_TIMEOUT, 408))
        elif now - self.last_active >= KEEPALIVE_TIMEOUT:
            self.transport.close()

    def _refuse(self, reply: bytes):
        self.transport.write(reply)
        self.transport.close()
        self.buffer = b""

    def data_received(self, data: bytes):
        if self.refused:
            self._refuse(refusal(TOO_MANY, 503))
            return
        self.last_active = self.loop.time()
        buf = self.buffer + data if self.buffer else data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0 or end > MAX_HEAD:
                break
            reply, keep = self.tracker.handle(buf[:end], self.peer, self.peer_trusted)
            out.append(reply)
            buf = buf[end + 4:]
            if not keep:
                self._refuse(b"".join(out))
                return
        if len(buf) > MAX_HEAD:
            out.append(refusal(HEAD_TOO_LARGE, 431))
            self._refuse(b"".join(out))
            return
        self.buffer = buf
        if not buf:
            self.head_started = None
        elif out or self.head_started is None:      # a new head began
            self.head_started = self.last_active
        if out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
