"""The request types every front end parses into, and the replies the swarm gives back.

HTTP, UDP and WebSocket each turn their wire format into an `Announce` or a `Scrape`;
`swarm.Swarms` answers them without knowing the transport.
"""
from __future__ import annotations

import enum
import typing
from dataclasses import dataclass

from .errors import ClientError

__all__ = ["Announce", "Scrape", "AnnounceReply", "ScrapeEntry", "Event", "ClientError",
           "UNKNOWN_TORRENT", "RATE_LIMITED", "TOO_MANY", "UNKNOWN_LEFT"]

UNKNOWN_TORRENT = "info-hash not tracked here: this tracker serves only this site's torrents"
RATE_LIMITED = "rate limited: too many requests from your address, retry later"
TOO_MANY = "too many connections to the tracker: retry later"
UNKNOWN_LEFT = -1        # `left` not given (WebTorrent clients that do not know the size yet)


class Event(enum.Enum):
    NONE = ""
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Announce:
    """One peer telling the tracker about itself, whatever the transport.

    `address` is the packed IP (4 or 16 bytes) peers should dial; it is empty for
    WebTorrent peers, which are reached through offers relayed over WebSocket.
    `numwant` is what the client asked for, -1 when it did not say (the swarm caps it).
    """
    info_hash: bytes
    peer_id: bytes
    address: bytes
    port: int
    left: int
    event: Event = Event.NONE
    numwant: int = -1
    uploaded: int = 0          # bytes the peer says it sent to other peers (its total so far)

    @property
    def seeder(self) -> bool:
        return self.left == 0


@dataclass(frozen=True, slots=True)
class Scrape:
    info_hashes: typing.Tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AnnounceReply:
    """Counts and peers: compact IPv4 (BEP 23) and IPv6 (BEP 7) lists, or WebTorrent peer ids."""
    interval: int
    min_interval: int
    complete: int
    incomplete: int
    peers4: bytes = b""
    peers6: bytes = b""
    web_peers: typing.Tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ScrapeEntry:
    """BEP 48 counts for one info-hash; `known` is False for a hash this tracker does not track."""
    info_hash: bytes
    complete: int = 0
    incomplete: int = 0
    downloaded: int = 0
    known: bool = True
