"""HTTP tracker parsing and writing, without sockets."""
import ipaddress
from urllib.parse import quote_from_bytes

import libtorrent as lt
import pytest

from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.announce import AnnounceReply, ClientError, Event, ScrapeEntry
from torrentweb.seeder.tracker.http import (HttpTracker, parse_announce, parse_scrape, write_announce,
                                            write_failure, write_scrape)
from torrentweb.seeder.tracker.swarm import Swarms

IH = bytes(range(20))
PID = b"-AR1360-abcdefghijkl"


def query(**params) -> bytes:
    base = {"info_hash": IH, "peer_id": PID, "port": b"6000", "left": b"0", "compact": b"1"}
    base.update(params)
    return b"&".join(k.encode() + b"=" + quote_from_bytes(v).encode() for k, v in base.items() if v is not None)


def test_announce_parses_every_field():
    a = parse_announce(query(event=b"started", numwant=b"30", left=b"123"), "10.1.2.3")
    assert (a.info_hash, a.peer_id, a.port, a.left, a.event, a.numwant) == (IH, PID, 6000, 123, Event.STARTED, 30)
    assert a.address == bytes([10, 1, 2, 3])


def test_ipv6_and_mapped_addresses():
    assert parse_announce(query(), "fd00::2").address == ipaddress.IPv6Address("fd00::2").packed
    assert parse_announce(query(), "::ffff:10.0.0.1").address == bytes([10, 0, 0, 1])


@pytest.mark.parametrize("params, reason", [
    (dict(info_hash=None), "missing info_hash"),
    (dict(info_hash=IH[:19]), "invalid info_hash: expected 20 bytes, got 19"),
    (dict(info_hash=IH + b"x"), "invalid info_hash: expected 20 bytes, got 21"),
    (dict(peer_id=None), "missing peer_id"),
    (dict(peer_id=b"short"), "invalid peer_id: expected 20 bytes, got 5"),
    (dict(port=None), "missing port"),
    (dict(port=b"0"), "invalid port: expected a number from 1 to 65535, got '0'"),
    (dict(port=b"65536"), "invalid port: expected a number from 1 to 65535, got '65536'"),
    (dict(port=b"http"), "invalid port: expected a number from 1 to 65535, got 'http'"),
    (dict(left=None), "missing left"),
    (dict(left=b"-5"), "invalid left: expected a number that is not negative, got '-5'"),
    (dict(numwant=b"lots"), "invalid numwant: expected a number that is not negative, got 'lots'"),
    (dict(event=b"exploded"), "invalid event: expected started, completed, stopped or nothing, got 'exploded'"),
])
def test_malformed_announces_say_what_is_wrong(params, reason):
    with pytest.raises(ClientError) as e:
        parse_announce(query(**params), "10.0.0.1")
    assert str(e.value) == reason


def test_ip_parameter_only_when_allowed():
    assert parse_announce(query(ip=b"192.0.2.9"), "10.0.0.1").address == bytes([10, 0, 0, 1])
    assert parse_announce(query(ip=b"192.0.2.9"), "10.0.0.1", allow_ip_param=True).address == bytes([192, 0, 2, 9])
    with pytest.raises(ClientError, match=r"^invalid ip: expected an IPv4 or IPv6 address, got 'nope'$"):
        parse_announce(query(ip=b"nope"), "10.0.0.1", allow_ip_param=True)


def test_scrape_parses_many_and_refuses_none():
    q = b"info_hash=" + quote_from_bytes(IH).encode() + b"&info_hash=" + quote_from_bytes(b"\xff" * 20).encode()
    assert parse_scrape(q).info_hashes == (IH, b"\xff" * 20)
    with pytest.raises(ClientError, match="^missing info_hash: full scrapes are not served, name the torrents$"):
        parse_scrape(b"")


def test_announce_reply_is_valid_bencode_with_compact_peers():
    body = write_announce(AnnounceReply(120, 30, 2, 5, bytes([1, 2, 3, 4, 0x1f, 0x90]), bytes(16) + b"\x00\x50"))
    d = lt.bdecode(body)
    assert d == {b"complete": 2, b"incomplete": 5, b"interval": 120, b"min interval": 30,
                 b"peers": bytes([1, 2, 3, 4, 0x1f, 0x90]), b"peers6": bytes(16) + b"\x00\x50"}
    assert lt.bencode(d) == body            # keys sorted: canonical bencoding


def test_scrape_reply_leaves_unknown_out():
    body = write_scrape([ScrapeEntry(b"\x02" * 20, 1, 2, 3), ScrapeEntry(b"\x01" * 20, known=False)])
    assert lt.bdecode(body) == {b"files": {b"\x02" * 20: {b"complete": 1, b"downloaded": 3, b"incomplete": 2}}}
    assert lt.bdecode(write_scrape([ScrapeEntry(IH, known=False)])) == {
        b"failure reason": b"info-hash not tracked here: this tracker serves only this site's torrents"}


def test_failure_is_bencoded_utf8():
    assert write_failure("é") == b"d14:failure reason2:\xc3\xa9e"


# --- the request handler: heads in, responses out ----------------------------------------

def handler(**config):
    cfg = TrackerConfig(**config)
    return HttpTracker(Swarms(cfg, lambda ih: ih == IH), cfg)


def head(target: bytes, *headers: bytes, version=b"HTTP/1.1") -> bytes:
    return b"\r\n".join((b"GET " + target + b" " + version, b"Host: t") + headers)


def body(response: bytes):
    return lt.bdecode(response.partition(b"\r\n\r\n")[2])


def test_unknown_info_hash_refused_while_whitelisting():
    r, keep = handler().handle(head(b"/announce?" + query(info_hash=b"\x09" * 20)), "10.0.0.1", False)
    assert r.startswith(b"HTTP/1.1 200 OK\r\n") and keep
    assert body(r) == {b"failure reason": b"info-hash not tracked here: this tracker serves only this site's torrents"}
    r, _ = handler(open=True).handle(head(b"/announce?" + query(info_hash=b"\x09" * 20)), "10.0.0.1", False)
    assert b"failure reason" not in body(r)


def test_forwarded_for_only_from_trusted_proxies():
    h = handler(trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    xff = b"X-Forwarded-For: 198.51.100.7, 203.0.113.5"
    h.handle(head(b"/announce?" + query(left=b"1"), xff), "127.0.0.1", True)
    # a seeder from elsewhere now gets the leecher: the address is the rightmost untrusted hop
    r, _ = h.handle(head(b"/announce?" + query(peer_id=b"S" * 20), xff), "192.0.2.1", False)
    assert body(r)[b"peers"] == bytes([203, 0, 113, 5]) + (6000).to_bytes(2, "big")
    # from an untrusted peer the header is ignored
    h2 = handler(trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    h2.handle(head(b"/announce?" + query(left=b"1"), xff), "192.0.2.50", False)
    r, _ = h2.handle(head(b"/announce?" + query(peer_id=b"S" * 20)), "192.0.2.1", False)
    assert body(r)[b"peers"] == bytes([192, 0, 2, 50]) + (6000).to_bytes(2, "big")


@pytest.mark.parametrize("request_head, status, reason", [
    (b"GARBAGE", b"400 Bad Request", b"malformed HTTP request line"),
    (head(b"/announce").replace(b"GET", b"POST"), b"405 Method Not Allowed", b"only GET is served"),
    (head(b"/announce", b"Content-Length: 10"), b"400 Bad Request", b"request bodies are not accepted"),
])
def test_bad_http_gets_an_error_and_the_connection_closed(request_head, status, reason):
    r, keep = handler().handle(request_head, "10.0.0.1", False)
    assert r.startswith(b"HTTP/1.1 " + status) and b"Connection: close" in r and not keep
    assert body(r) == {b"failure reason": reason}


def test_unknown_path_is_404_with_a_reason():
    r, keep = handler().handle(head(b"/stats"), "10.0.0.1", False)
    assert r.startswith(b"HTTP/1.1 404 Not Found") and keep
    assert body(r) == {b"failure reason": b"not found: this tracker answers /announce and /scrape"}


def test_keep_alive_follows_the_version_and_connection_header():
    h = handler(open=True)
    assert h.handle(head(b"/announce?" + query()), "10.0.0.1", False)[1] is True
    assert h.handle(head(b"/announce?" + query(), version=b"HTTP/1.0"), "10.0.0.1", False)[1] is False
    assert h.handle(head(b"/announce?" + query(), b"Connection: close"), "10.0.0.1", False)[1] is False


def test_flood_from_one_address_is_rate_limited():
    from torrentweb.seeder.tracker.ratelimit import RateLimiter
    now = [0.0]
    cfg = TrackerConfig(open=True)
    h = HttpTracker(Swarms(cfg, None), cfg, RateLimiter(1, 3, clock=lambda: now[0]))
    replies = [body(h.handle(head(b"/announce?" + query()), "10.0.0.1", False)[0]) for _ in range(5)]
    assert [b"failure reason" in r for r in replies] == [False, False, False, True, True]
    assert replies[-1][b"failure reason"] == b"rate limited: too many requests from your address, retry later"
    assert b"failure reason" not in body(h.handle(head(b"/announce?" + query()), "10.0.0.2", False)[0])
    now[0] = 1.0       # one token back after a second
    assert b"failure reason" not in body(h.handle(head(b"/announce?" + query()), "10.0.0.1", False)[0])
