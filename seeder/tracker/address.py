"""Which address a request comes from: the socket's peer, or a trusted proxy's X-Forwarded-For."""
from __future__ import annotations

import functools
import ipaddress
import socket
import typing

from .errors import ClientError


def pack_ip(text: str) -> bytes:
    """An IP address as the 4 or 16 bytes compact peer lists carry (IPv4-mapped IPv6 -> 4 bytes)."""
    try:
        return socket.inet_aton(text) if "." in text and ":" not in text else _pack6(text)
    except (OSError, ValueError):       # ValueError: a NUL byte in it
        raise ClientError(f"invalid ip: expected an IPv4 or IPv6 address, got {text[:60]!r}") from None


def _pack6(text: str) -> bytes:
    packed = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return packed[12:]
    return packed


def unmapped(host: str) -> str:
    """'::ffff:1.2.3.4' (a dual-stack socket's view of an IPv4 client) -> '1.2.3.4'."""
    return host[7:] if host.startswith("::ffff:") and "." in host else host


def is_trusted(host: str, trusted: typing.Sequence) -> bool:
    """Is `host` one of the trusted proxies? Asked once per connection: cached."""
    if not trusted:
        return False
    return _is_trusted(host, tuple(trusted))


@functools.lru_cache(maxsize=4096)
def _is_trusted(host: str, trusted: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def forwarded_client(peer: str, forwarded: typing.Optional[str], trusted: typing.Sequence) -> str:
    """The client behind trusted proxies: the rightmost X-Forwarded-For entry that is not one.

    Only called when `peer` itself is trusted; entries left of an untrusted one could be
    forged by the client, so they are never used.
    """
    if not forwarded:
        return peer
    for hop in reversed([h.strip() for h in forwarded.split(",")]):
        hop = unmapped(hop)
        if not hop:
            continue
        if not is_trusted(hop, trusted):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                raise ClientError(f"invalid X-Forwarded-For from the proxy: {hop!r} is not an IP address") \
                    from None
            return hop
    return peer
