"""The WebSocket tracker (WebTorrent's protocol): pure parser and writers, relay, server glue.

The socket side runs the `websockets` library's Sans-I/O protocol in a plain asyncio.Protocol:
no task and no await per message, and a relayed message never waits for its target.

JSON text messages. An `announce` may carry WebRTC `offers`; the tracker hands each to a
different random peer of the swarm, and relays the `answer` back to the offerer. Binary
strings (info_hash, peer_id, offer_id) are 20 characters with code points 0-255.
Interoperates with the npm `bittorrent-tracker` client (inside `webtorrent`) and with
libtorrent 2.1's WebTorrent client.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import typing
from dataclasses import dataclass

from websockets.frames import BINARY, CONT, TEXT
from websockets.http11 import Request
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from .address import forwarded_client, is_trusted, unmapped
from .announce import (RATE_LIMITED, TOO_MANY, UNKNOWN_LEFT, UNKNOWN_TORRENT, Announce, ClientError, Event,
                       Scrape)
from .ratelimit import LogLimiter

log = logging.getLogger("torrentweb.tracker.websocket")
# the `websockets` library logs every connection opened, rejected and closed at INFO: on a busy
# site that is a line per visitor, so its own logger starts at WARNING (lower it to debug one)
connections_log = logging.getLogger("torrentweb.tracker.websocket.connections")
connections_log.setLevel(logging.WARNING)
# one encoder for every message (json.dumps with options builds a new one per call); NaN and
# Infinity, which Python's decoder accepts, are not JSON a browser could read
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

MAX_SCRAPE = 100
MAX_BUFFERED = 1024 * 1024   # bytes waiting for a peer that does not read, before it is dropped
CLOSE_TIMEOUT = 10.0         # seconds a peer has to finish the closing handshake
# seconds between keepalive pings (the `websockets` default): between announces a connection is
# silent for `interval`, longer than proxies (Apache's Timeout: 60 s unless set) and NATs keep it
PING_INTERVAL = 20.0
INTERNAL = "internal error in the tracker; it has been logged"
IDLE = "idle: no announce for too long"
TOO_DEEP = "invalid JSON: nested too deeply"
SHUTDOWN = "the tracker is shutting down"

_EVENTS = {None: Event.NONE, "": Event.NONE, "update": Event.NONE, "paused": Event.NONE,
           "started": Event.STARTED, "completed": Event.COMPLETED, "stopped": Event.STOPPED}


@dataclass(frozen=True, slots=True)
class Offer:
    offer_id: str            # 20 characters, relayed as given
    offer: typing.Any        # the SDP object, relayed as given


@dataclass(frozen=True, slots=True)
class WsAnnounce:
    announce: Announce
    info_hash: str           # as the client wrote it, echoed back
    peer_id: str
    offers: typing.Tuple[Offer, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """A WebRTC answer to relay to the peer whose offer it answers."""
    info_hash: bytes
    info_hash_text: str
    peer_id: str
    to_peer_id: bytes
    offer_id: str
    answer: typing.Any


@dataclass(frozen=True, slots=True)
class WsScrape:
    scrape: Scrape
    info_hashes: typing.Tuple[str, ...]


# --- parsing ---------------------------------------------------------------------------

def _binary(msg: dict, name: str) -> typing.Tuple[str, bytes]:
    text = msg.get(name)
    if text is None:
        raise ClientError(f"missing {name}")
    if not isinstance(text, str):
        raise ClientError(f"invalid {name}: expected a string of 20 characters")
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise ClientError(f"invalid {name}: expected 20 characters with codes 0 to 255") from None
    if len(raw) != 20:
        raise ClientError(f"invalid {name}: expected 20 bytes, got {len(raw)}")
    return text, raw


def _count(msg: dict, name: str, default: int) -> int:
    value = msg.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ClientError(f"invalid {name}: expected a number, got {value!r}"[:200])
    return int(value) if value >= 0 else default


def _offers(msg: dict, max_offers: int) -> typing.Tuple[Offer, ...]:
    offers = msg.get("offers")
    if offers is None:
        return ()
    if not isinstance(offers, list):
        raise ClientError("invalid offers: expected a list of {offer, offer_id}")
    out = []
    for item in offers[:max_offers]:          # the cap: extra offers are not relayed
        if not isinstance(item, dict) or not isinstance(item.get("offer"), dict):
            raise ClientError("invalid offers: expected a list of {offer, offer_id}")
        out.append(Offer(_binary(item, "offer_id")[0], item["offer"]))
    return tuple(out)


def decode(text: typing.Union[str, bytes, bytearray]):
    """A message's JSON, or ClientError: bad UTF-8, bad JSON, or nesting deeper than Python recurses."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError("invalid message: expected JSON in UTF-8") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise ClientError(f"invalid JSON: {e}"[:200]) from None
    except RecursionError:
        raise ClientError(TOO_DEEP) from None


def parse_message(text: typing.Union[str, bytes, bytearray], max_offers: int = 10):
    """One WebSocket message -> WsAnnounce | Answer | WsScrape, or ClientError."""
    return parse_object(decode(text), max_offers)


def parse_object(msg, max_offers: int = 10):
    """A decoded message -> WsAnnounce | Answer | WsScrape, or ClientError."""
    if not isinstance(msg, dict):
        raise ClientError("invalid message: expected a JSON object")
    action = msg.get("action")
    if action == "announce":
        info_hash_text, info_hash = _binary(msg, "info_hash")
        peer_id_text, peer_id = _binary(msg, "peer_id")
        if "answer" in msg:
            to_peer = _binary(msg, "to_peer_id")[1]
            offer_id = _binary(msg, "offer_id")[0]
            return Answer(info_hash, info_hash_text, peer_id_text, to_peer, offer_id, msg["answer"])
        event = msg.get("event")
        ev = _EVENTS.get(event) if isinstance(event, (str, type(None))) else None
        if ev is None:
            raise ClientError(f"invalid event: expected started, completed, stopped or nothing, got {event!r}"[:200])
        offers = _offers(msg, max_offers)
        # a WebTorrent peer meets others only through its offers: no more peers than offers
        numwant = _count(msg, "numwant", -1)
        numwant = len(offers) if numwant < 0 else min(numwant, len(offers))
        announce = Announce(info_hash, peer_id, b"", 0, _count(msg, "left", UNKNOWN_LEFT), ev, numwant,
                            max(_count(msg, "uploaded", 0), 0))
        return WsAnnounce(announce, info_hash_text, peer_id_text, offers)
    if action == "scrape":
        hashes = msg.get("info_hash")
        if hashes is None:
            raise ClientError("missing info_hash: full scrapes are not served, name the torrents")
        hashes = hashes if isinstance(hashes, list) else [hashes]
        if len(hashes) > MAX_SCRAPE:
            raise ClientError(f"too many info_hash: at most {MAX_SCRAPE} per scrape, got {len(hashes)}")
        parsed = [_binary({"info_hash": h}, "info_hash") for h in hashes]
        return WsScrape(Scrape(tuple(raw for _, raw in parsed)), tuple(t for t, _ in parsed))
    raise ClientError(f"invalid action: expected announce or scrape, got {action!r}"[:200])


def _guess(msg) -> typing.Tuple[str, typing.Optional[str]]:
    """The action and info_hash of a decoded message we could not answer, so the client can match
    the failure (None: it was not even JSON)."""
    if not isinstance(msg, dict):
        return "announce", None
    action = msg.get("action") if msg.get("action") in ("announce", "scrape") else "announce"
    ih = msg.get("info_hash")
    return action, ih if isinstance(ih, str) else None


# --- writing ---------------------------------------------------------------------------

def write_failure(reason: str, action: str = "announce", info_hash: typing.Optional[str] = None) -> str:
    msg = {"action": action, "failure reason": reason}
    if info_hash is not None:
        msg["info_hash"] = info_hash
    return _dumps(msg)


def write_announce(info_hash: str, interval: int, complete: int, incomplete: int) -> str:
    """The reply every announce gets: formatted, not built as a dict (the hot path)."""
    return '{"action":"announce","interval":%d,"info_hash":%s,"complete":%d,"incomplete":%d}' % (
        interval, _dumps(info_hash), complete, incomplete)


def _relayed(msg: dict, what: str) -> str:
    """An offer or answer as JSON again; ClientError when it holds NaN or Infinity."""
    try:
        return _dumps(msg)
    except ValueError:
        raise ClientError(f"invalid {what}: NaN and Infinity are not JSON") from None


def write_offer(info_hash: str, from_peer_id: str, offer: Offer) -> str:
    return _relayed({"action": "announce", "offer": offer.offer, "offer_id": offer.offer_id,
                     "peer_id": from_peer_id, "info_hash": info_hash}, "offer")


def write_answer(a: Answer) -> str:
    return _relayed({"action": "announce", "answer": a.answer, "offer_id": a.offer_id,
                     "peer_id": a.peer_id, "info_hash": a.info_hash_text}, "answer")


def write_scrape(s: WsScrape, entries) -> str:
    files = {text: {"complete": e.complete, "incomplete": e.incomplete, "downloaded": e.downloaded}
             for text, e in zip(s.info_hashes, entries) if e.known}
    if not files:
        return write_failure(UNKNOWN_TORRENT, "scrape")
    return _dumps({"action": "scrape", "files": files})


# --- the relay -------------------------------------------------------------------------

class Connection:
    """One browser (or libtorrent) socket and the swarms it announced in."""
    __slots__ = ("socket", "client", "peers", "last_announce")

    def __init__(self, socket, client: str, now: float):
        self.socket = socket
        self.client = client
        self.peers: typing.Set[typing.Tuple[bytes, bytes]] = set()
        self.last_announce = now


class WsTracker:
    """Answers messages and decides what goes to which connection; knows nothing of sockets."""

    def __init__(self, swarms, config, limiter=None, clock=time.monotonic):
        self.swarms = swarms
        self.clock = clock
        self.configure(config, limiter)
        self.sockets: typing.Dict[typing.Tuple[bytes, bytes], Connection] = {}
        self.connections: typing.Set[Connection] = set()
        self.errors = LogLimiter(log)

    def configure(self, config, limiter=None):
        self.max_offers = int(config.max_offers)
        self.trusted = tuple(config.trusted_proxies)
        self.limiter = limiter

    def connect(self, socket, peer: str, forwarded: typing.Optional[str]) -> Connection:
        peer = unmapped(peer)
        client = peer
        if forwarded and is_trusted(peer, self.trusted):
            try:
                client = forwarded_client(peer, forwarded, self.trusted)
            except ClientError:
                client = peer
        conn = Connection(socket, client, self.clock())
        self.connections.add(conn)
        return conn

    def disconnect(self, conn: Connection):
        """Its peers leave their swarms at once (they could not be reached any more)."""
        self.connections.discard(conn)
        for key in conn.peers:
            if self.sockets.get(key) is conn:
                del self.sockets[key]
                self.swarms.leave_web(*key)
        conn.peers.clear()

    def allowed(self, conn: Connection) -> bool:
        return self.limiter is None or self.limiter.allow(conn.client)

    def handle(self, conn: Connection, text) -> typing.List[typing.Tuple[Connection, str]]:
        """-> the messages to send, as (connection, text)."""
        msg = None
        try:
            msg = decode(text)
            parsed = parse_object(msg, self.max_offers)
            if isinstance(parsed, WsAnnounce):
                return self._announce(conn, parsed)
            if isinstance(parsed, Answer):
                target = self.sockets.get((parsed.info_hash, parsed.to_peer_id))
                return [(target, write_answer(parsed))] if target is not None else []
            return [(conn, write_scrape(parsed, self.swarms.scrape(parsed.scrape)))]
        except ClientError as e:
            return [(conn, write_failure(str(e), *_guess(msg)))]
        except RecursionError:          # an offer or answer too deep to be written out again
            return [(conn, write_failure(TOO_DEEP, *_guess(msg)))]
        except Exception:
            self.errors.exception("internal error answering a WebSocket message from %s", conn.client)
            return [(conn, write_failure(INTERNAL, *_guess(msg)))]

    def _announce(self, conn: Connection, msg: WsAnnounce):
        a = msg.announce
        reply = self.swarms.announce_web(a)
        key = (a.info_hash, a.peer_id)
        conn.last_announce = self.clock()
        if a.event is Event.STOPPED:
            if self.sockets.get(key) is conn:
                del self.sockets[key]
            conn.peers.discard(key)
        else:
            old = self.sockets.get(key)
            if old is not None and old is not conn:
                old.peers.discard(key)          # the same peer reconnected
            self.sockets[key] = conn
            conn.peers.add(key)
        out = [(conn, write_announce(msg.info_hash, reply.interval, reply.complete, reply.incomplete))]
        for offer, peer_id in zip(msg.offers, reply.web_peers):
            target = self.sockets.get((a.info_hash, peer_id))
            if target is not None:
                out.append((target, write_offer(msg.info_hash, msg.peer_id, offer)))
        return out

    def idle(self, timeout: float) -> typing.List[Connection]:
        """Connections that have not announced for `timeout` seconds."""
        now = self.clock()
        return [c for c in self.connections if now - c.last_announce > timeout]


# --- the socket side: the `websockets` library's Sans-I/O protocol under asyncio ---------

_DATA = (TEXT, BINARY, CONT)


class WsProtocol(asyncio.Protocol):
    """One connection. The library parses and frames; nothing here awaits, so a message for
    another peer goes into that peer's write buffer and the sender is answered at once. A peer
    whose buffer holds more than MAX_BUFFERED bytes does not read: it is dropped."""

    def __init__(self, server: "WsServer"):
        self.server = server
        self.ws = ServerProtocol(max_size=server.max_size, logger=connections_log)
        self.transport = None
        self.conn: typing.Optional[Connection] = None
        self.fragments: typing.Optional[list] = None
        self.timer: typing.Optional[asyncio.TimerHandle] = None
        self.refused = False

    def connection_made(self, transport):
        self.transport = transport
        self.refused = not self.server.admit(self)      # answered 503 once its request is in
        self._deadline(self.server.header_timeout)      # for the opening handshake

    def data_received(self, data: bytes):
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._open(event)
            elif event.opcode in _DATA:
                self._frame(event)
        self._flush()

    def eof_received(self):
        self.ws.receive_eof()
        self._flush()
        return False

    def connection_lost(self, exc):
        if self.timer is not None:
            self.timer.cancel()
        self._leave()
        self.server.lost(self)

    def pause_writing(self):
        self.transport.pause_reading()      # a peer that does not read its replies is not read

    def resume_writing(self):
        self.transport.resume_reading()

    def _open(self, request: Request):
        response = self.ws.reject(503, TOO_MANY + "\n") if self.refused else self.ws.accept(request)
        self.ws.send_response(response)
        if response.status_code == 101:
            self.timer.cancel()
            self.timer = None
            peer = self.transport.get_extra_info("peername")
            # proxies may each add a header: one list, as in HTTP (.get raises on two)
            forwarded = ", ".join(request.headers.get_all("X-Forwarded-For")) or None
            self.conn = self.server.tracker.connect(self, peer[0] if peer else "0.0.0.0", forwarded)

    def _frame(self, frame):
        if frame.fin and frame.opcode is not CONT:
            self.server.message(self, frame.data)
        elif frame.opcode is not CONT:
            self.fragments = [frame.data]
        elif self.fragments is not None:
            self.fragments.append(frame.data)
            if frame.fin:
                message, self.fragments = b"".join(self.fragments), None
                self.server.message(self, message)

    def send(self, text: str):
        if self.ws.state is OPEN:
            self.ws.send_text(text.encode())
            self._flush()

    def ping(self):
        if self.ws.state is OPEN:
            self.ws.send_ping(b"")
            self._flush()

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def close(self, code: int, reason: str):
        """Leave the swarms at once, then the closing handshake (aborted after CLOSE_TIMEOUT)."""
        self._leave()
        if self.ws.state is OPEN:
            self.ws.send_close(code, reason)
            self._flush()
            self._deadline(CLOSE_TIMEOUT)
        else:
            self.abort()

    def abort(self):
        self._leave()
        self.transport.abort()

    def _flush(self):
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif not self.transport.is_closing():   # the library is done: half-close, await theirs
                if self.transport.can_write_eof():
                    self.transport.write_eof()
                else:
                    self.transport.close()
                self._deadline(CLOSE_TIMEOUT)

    def _deadline(self, seconds: float):
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(seconds, self.abort)

    def _leave(self):
        if self.conn is not None:
            self.server.tracker.disconnect(self.conn)
            self.conn = None


class WsServer:
    """Serves WsTracker on an asyncio listener; started and stopped by server.Tracker."""

    def __init__(self, tracker: WsTracker, config):
        self.tracker = tracker
        self.server = None
        self.protocols: typing.Set[WsProtocol] = set()
        self._all_lost: typing.Optional[asyncio.Future] = None
        self._next_ping = 0.0
        self.configure(config)

    def configure(self, config):
        """Applies at once (max_message_size and the limits to connections opened from now on)."""
        self.max_size = int(config.max_message_size)
        self.idle_timeout = float(config.ws_idle_timeout or 2 * config.interval)
        self.header_timeout = float(config.header_timeout)
        self.max_connections = int(config.max_connections)

    async def start(self, host: str, port: int):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: WsProtocol(self), host, port, backlog=1024)
        return self.server.sockets[0].getsockname()[:2]

    def admit(self, protocol: WsProtocol) -> bool:
        """Count a new connection; False when max_connections were open already (or stopping)."""
        admitted = len(self.protocols) < self.max_connections and self._all_lost is None
        self.protocols.add(protocol)
        return admitted

    def lost(self, protocol: WsProtocol):
        self.protocols.discard(protocol)
        if not self.protocols and self._all_lost is not None and not self._all_lost.done():
            self._all_lost.set_result(None)

    def message(self, protocol: WsProtocol, data):
        conn = protocol.conn
        if conn is None:
            return                              # closing: what it still sends is not answered
        if not self.tracker.allowed(conn):
            protocol.close(1008, RATE_LIMITED)
            return
        for target, text in self.tracker.handle(conn, data):
            peer = target.socket
            if peer is not protocol and peer.buffered() > MAX_BUFFERED:
                log.info("dropped WebSocket peer %s: %d bytes relayed to it are still unread",
                         target.client, peer.buffered())
                peer.abort()
            else:
                peer.send(text)

    def housekeep(self, now: float):
        """Close connections that stopped announcing; ping the others every PING_INTERVAL."""
        for conn in self.tracker.idle(self.idle_timeout):
            conn.socket.close(1000, IDLE)
        if now >= self._next_ping:
            self._next_ping = now + PING_INTERVAL
            for protocol in list(self.protocols):
                protocol.ping()

    async def stop(self):
        """Close the listener, then every connection (1001); abort those still open after CLOSE_TIMEOUT."""
        if self.server is None:
            return
        self.server.close()
        self._all_lost = asyncio.get_running_loop().create_future()
        for protocol in list(self.protocols):
            protocol.close(1001, SHUTDOWN)
        if self.protocols:
            await self._all_lost        # each connection's own deadline aborts it at the latest
        await self.server.wait_closed()
