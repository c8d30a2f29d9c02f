"""The WebSocket tracker (WebTorrent's protocol): pure parser and writers, relay, server glue.

JSON text messages. An `announce` may carry WebRTC `offers`; the tracker hands each to a
different random peer of the swarm, and relays the `answer` back to the offerer. Binary
strings (info_hash, peer_id, offer_id) are 20 characters with code points 0-255.
Interoperates with the npm `bittorrent-tracker` client (inside `webtorrent`) and with
libtorrent 2.1's WebTorrent client.
"""
from __future__ import annotations

import asyncio
import json
import functools
import logging
import time
import typing
from dataclasses import dataclass

from .address import forwarded_client, is_trusted, unmapped
from .announce import (RATE_LIMITED, UNKNOWN_LEFT, UNKNOWN_TORRENT, Announce, ClientError, Event,
                       Scrape)

log = logging.getLogger("torrentweb.tracker.websocket")
# the `websockets` library logs every connection opened, rejected and closed at INFO: on a busy
# site that is a line per visitor, so its own logger starts at WARNING (lower it to debug one)
connections_log = logging.getLogger("torrentweb.tracker.websocket.connections")
connections_log.setLevel(logging.WARNING)
_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))

MAX_SCRAPE = 100
INTERNAL = "internal error in the tracker; it has been logged"
IDLE = "idle: no announce for too long"

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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
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


def parse_message(text: typing.Union[str, bytes], max_offers: int = 10):
    """One WebSocket message -> WsAnnounce | Answer | WsScrape, or ClientError."""
    if isinstance(text, bytes):         # a binary frame: JSON must still be UTF-8
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError("invalid message: expected JSON in UTF-8") from None
    try:
        msg = json.loads(text)
    except ValueError as e:
        raise ClientError(f"invalid JSON: {e}"[:200]) from None
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
        announce = Announce(info_hash, peer_id, b"", 0, _count(msg, "left", UNKNOWN_LEFT), ev, numwant)
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


def _guess(text) -> typing.Tuple[str, typing.Optional[str]]:
    """The action and info_hash of a message we could not parse, so the client can match the failure."""
    try:
        msg = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except ValueError:              # UnicodeDecodeError is one
        return "announce", None
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
    return _dumps({"action": "announce", "interval": interval, "info_hash": info_hash,
                       "complete": complete, "incomplete": incomplete})


def write_offer(info_hash: str, from_peer_id: str, offer: Offer) -> str:
    return _dumps({"action": "announce", "offer": offer.offer, "offer_id": offer.offer_id,
                       "peer_id": from_peer_id, "info_hash": info_hash})


def write_answer(a: Answer) -> str:
    return _dumps({"action": "announce", "answer": a.answer, "offer_id": a.offer_id,
                       "peer_id": a.peer_id, "info_hash": a.info_hash_text})


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
        try:
            msg = parse_message(text, self.max_offers)
            if isinstance(msg, WsAnnounce):
                return self._announce(conn, msg)
            if isinstance(msg, Answer):
                target = self.sockets.get((msg.info_hash, msg.to_peer_id))
                return [(target, write_answer(msg))] if target is not None else []
            return [(conn, write_scrape(msg, self.swarms.scrape(msg.scrape)))]
        except ClientError as e:
            return [(conn, write_failure(str(e), *_guess(text)))]
        except Exception:
            log.exception("internal error answering a WebSocket message from %s", conn.client)
            return [(conn, write_failure(INTERNAL, *_guess(text)))]

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


# --- the socket side (the `websockets` library) ------------------------------------------

class WsServer:
    """Serves WsTracker over `websockets`; started and stopped by server.Tracker."""

    def __init__(self, tracker: WsTracker, config):
        self.tracker = tracker
        self.server = None
        self._closing: typing.Set[asyncio.Task] = set()
        self.configure(config)

    def configure(self, config):
        """The idle timeout applies at once; max_message_size once the listener is bound again
        (the `websockets` server takes it when it is created)."""
        self.max_size = int(config.max_message_size)
        self.idle_timeout = float(config.ws_idle_timeout or 2 * config.interval)

    async def start(self, host: str, port: int):
        from websockets.asyncio.server import serve
        self.server = await serve(self._serve, host, port, max_size=self.max_size, compression=None,
                                  logger=connections_log, server_header=None)
        return self.server.sockets[0].getsockname()[:2]

    async def _serve(self, socket):
        forwarded = socket.request.headers.get("X-Forwarded-For") if socket.request else None
        remote = socket.remote_address
        conn = self.tracker.connect(socket, remote[0] if remote else "0.0.0.0", forwarded)
        from websockets.exceptions import ConnectionClosed
        try:
            async for message in socket:
                if not self.tracker.allowed(conn):
                    await socket.close(1008, RATE_LIMITED)
                    break
                for target, text in self.tracker.handle(conn, message):
                    try:
                        await target.socket.send(text)
                    except ConnectionClosed:
                        if target is conn:
                            raise
        except ConnectionClosed:
            pass
        finally:
            self.tracker.disconnect(conn)

    def drop_idle(self):
        for conn in self.tracker.idle(self.idle_timeout):
            self.tracker.disconnect(conn)
            task = asyncio.ensure_future(conn.socket.close(1000, IDLE))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def stop(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self._closing):
            await task
