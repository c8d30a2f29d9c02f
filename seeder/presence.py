"""The seeder's place in its own tracker's swarms, written in-process instead of announced.

A seeder that announces each torrent to its own tracker over HTTP sends 10,000 requests at
every start and 10,000 / tracker.interval a second after that (83/s at 120 s), all to the
loop that answers visitors: the start's burst alone put announce p99 near 100 ms
(bench/hashing.py --webrtc). The daemon knows what it seeds, so it enters itself in those
swarms directly: one pinned seeder entry per torrent, which never expires and leaves with
the torrent. Trackers that are not this daemon's own (another frontend's, opentracker) are
still announced to by libtorrent as usual.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import typing
from urllib.parse import urlsplit

from torrentweb.config import Address, Config
from torrentweb.naming import SEEDER_PEER_ID_PREFIX

log = logging.getLogger("torrentweb.presence")

BATCH = 250           # swarm entries written per tick (~1 ms): 10,000 at start take 40 ticks, 2 s
WILDCARDS = ("0.0.0.0", "::")


def own_tracker(config: Config, bound: typing.Mapping[str, Address]) -> typing.Callable[[str], bool]:
    """Is this announce URL this daemon's own tracker? Either the URL torrentweb derives
    (base_url's host, `/announce`, proxied by Apache) or a listener's own address."""
    base = urlsplit(config.base_url)
    own_http = set()
    if "http" in bound:
        own_http.add((base.scheme, base.netloc.lower()))
        own_http |= {("http", f"{h}:{bound['http'].port}") for h in _names(bound["http"].host)}
    own_udp = {f"{h}:{bound['udp'].port}" for h in _names(bound["udp"].host)} if "udp" in bound else set()

    def is_own(url: str) -> bool:
        u = urlsplit(url)
        if u.scheme == "udp":
            return u.netloc.lower() in own_udp
        return u.path == "/announce" and (u.scheme, u.netloc.lower()) in own_http
    return is_own


def _names(host: str) -> set:
    """How an announce URL may name a listener on `host`."""
    if host in WILDCARDS:
        return {"127.0.0.1", "localhost", "[::1]"}
    return {f"[{host}]" if ":" in host else host}


def seeder_ips(config: Config) -> tuple[str, ...]:
    """The addresses visitors reach the seeder at, as its own announce would have shown them:
    `seeder.announce_ip`; else seeder.listen's host; else, when that is a wildcard, what
    base_url's host resolves to. Only addresses of this machine count (an announce from behind
    NAT or a load balancer would show another one): () means announce over HTTP as before."""
    if config.seeder.announce_ip:
        return (config.seeder.announce_ip,)
    host = config.seeder.listen.host
    if host not in WILDCARDS:
        return (host,) if _is_local(host) else ()
    name = urlsplit(config.base_url).hostname or ""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        return ()
    v6 = host == "::"                  # libtorrent's wildcard listens in its own family only
    return tuple(ip for ip in sorted(found) if (":" in ip) == v6 and _is_local(ip))


def _is_local(ip: str) -> bool:
    """Does this machine have the address? Binding to it succeeds only if it does."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    except ValueError:
        return False
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, 0))
        except OSError as e:
            if e.errno != errno.EADDRNOTAVAIL:
                log.debug("cannot tell whether %s is this machine's: %s", ip, e)
            return False
    return True


def compact(ip: str, port: int) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip) + port.to_bytes(2, "big")


class Presence:
    """Keeps the seeder entered in its own tracker's swarms; runs on the tracker's loop.

    `seeder.joined()` hands over what changed since the last call (torrents added or removed
    with an own tracker stripped: the session's `TorrentTrackers.own`); `tick()` writes up to
    BATCH of them, and enters everything anew when the listen port moved (a reload). `entered`
    is the one record of which torrents are pinned in the swarms now (the rest wait in the
    backlog)."""

    def __init__(self, swarms, seeder, ips: typing.Sequence[str]):
        self.swarms, self.seeder = swarms, seeder
        self._identify(ips)
        self.port = seeder.listen_port()
        self.entered: set[bytes] = set()
        self._backlog: list[tuple[bytes, bool]] = []

    def _identify(self, ips: typing.Sequence[str]):
        """One peer id per address the seeder is entered under."""
        self.ips = tuple(ips)
        base = SEEDER_PEER_ID_PREFIX + os.urandom(6).hex().encode()
        self.peer_ids = [base[:-1] + str(i).encode() for i in range(len(self.ips))]

    def tick(self):
        if self.seeder.listen_port() != self.port:
            self.port = self.seeder.listen_port()
            log.info("seeder now listens on port %d: re-entering it in %d swarms", self.port,
                     len(self.entered))
            self._backlog += [(ih, True) for ih in self.entered]
        self._backlog += self.seeder.joined()
        todo, self._backlog = self._backlog[:BATCH], self._backlog[BATCH:]
        compacts = [compact(ip, self.port) for ip in self.ips]
        for info_hash, joined in todo:
            for peer_id, c in zip(self.peer_ids, compacts):
                if joined:
                    self.swarms.pin(info_hash, peer_id, c)
                else:
                    self.swarms.unpin(info_hash, peer_id)
            (self.entered.add if joined else self.entered.discard)(info_hash)

    def relocate(self, ips: typing.Sequence[str]):
        """A reload changed the seeder's address: every entry moves to the new one."""
        if tuple(ips) == self.ips:
            return
        entered = set(self.entered)
        self.leave_all()
        self._identify(ips)
        # what is entered moves first; what was waiting for a tick still waits (it is not lost)
        self._backlog = [(ih, True) for ih in entered] + self._backlog

    def leave_all(self):
        for info_hash in self.entered:
            for peer_id in self.peer_ids:
                self.swarms.unpin(info_hash, peer_id)
        self.entered.clear()
