"""BEP 15 parsing, writing and connection ids, without sockets."""
import struct

import pytest

from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.announce import Event
from torrentweb.seeder.tracker.errors import Malformed
from torrentweb.seeder.tracker.swarm import Swarms
from torrentweb.seeder.tracker.udp import (PROTOCOL_ID, ConnectionIds, UdpTracker, parse_announce,
                                           parse_header)

IH = b"\x07" * 20


class Clock:
    now = 5000.0

    def __call__(self):
        return self.now


def tracker(**config):
    cfg = TrackerConfig(**config)
    clock = Clock()
    t = UdpTracker(Swarms(cfg, lambda ih: ih == IH, clock), cfg,
                   connection_ids=ConnectionIds(cfg.udp_secret_rotation, clock))
    return t, clock


def connect(t, host="10.0.0.1", port=4000, tid=7):
    reply = t.handle(struct.pack("!QII", PROTOCOL_ID, 0, tid), host, port)
    action, got_tid = struct.unpack_from("!II", reply)
    assert (action, got_tid, len(reply)) == (0, tid, 16)
    return reply[8:]


def announce_packet(cid, ih=IH, event=2, port=6881, left=0, numwant=-1, tid=9, ip=0, length=None, peer=b"x"):
    data = cid + struct.pack("!II20s20sQqQIIIiH", 1, tid, ih, b"-UT0001-" + peer * 12, 0, left, 0,
                             event, ip, 0, numwant, port)
    return data if length is None else data[:length]


def error_of(reply):
    action, tid = struct.unpack_from("!II", reply)
    assert action == 3
    return reply[8:].decode()


def test_connect_announce_scrape_round_trip():
    t, _ = tracker()
    cid = connect(t)
    reply = t.handle(announce_packet(cid, left=0), "10.0.0.1", 4000)
    assert struct.unpack("!IIIII", reply) == (1, 9, 120, 0, 1)       # action, tid, interval, leechers, seeders
    cid2 = connect(t, "10.0.0.2", 5000)
    reply = t.handle(announce_packet(cid2, left=5, port=7000, peer=b"y"), "10.0.0.2", 5000)
    assert reply[20:] == bytes([10, 0, 0, 1]) + (6881).to_bytes(2, "big")
    reply = t.handle(cid2 + struct.pack("!II", 2, 11) + IH + b"\x08" * 20, "10.0.0.2", 5000)
    assert struct.unpack("!II6I", reply) == (2, 11, 1, 0, 1, 0, 0, 0)  # seeders, completed, leechers each


def test_connection_ids_cannot_be_forged_moved_or_kept_forever():
    t, clock = tracker(udp_secret_rotation=60)
    cid = connect(t)
    bad = "connection id expired or not issued to this address: connect again"
    assert error_of(t.handle(announce_packet(b"\0" * 8), "10.0.0.1", 4000)) == bad
    assert t.handle(b"\0" * 8 + struct.pack("!II", 2, 1) + IH, "10.0.0.1", 4000) is None   # reply > request
    assert error_of(t.handle(announce_packet(cid), "10.0.0.9", 4000)) == bad     # another address
    assert struct.unpack_from("!I", t.handle(announce_packet(cid), "10.0.0.1", 4001))[0] == 1   # port may change (NAT)
    clock.now += 60                     # the next window: still accepted
    assert struct.unpack_from("!I", t.handle(announce_packet(cid), "10.0.0.1", 4000))[0] == 1
    clock.now += 120                    # two windows on: expired
    assert error_of(t.handle(announce_packet(cid), "10.0.0.1", 4000)) == bad


@pytest.mark.parametrize("packet", [b"", b"\x00" * 15, b"garbage!", struct.pack("!QII", 12345, 0, 1)])
def test_garbage_gets_no_reply(packet):
    t, _ = tracker()
    assert t.handle(packet, "10.0.0.1", 4000) is None


def test_header_needs_16_bytes():
    with pytest.raises(Malformed, match="^datagram of 3 bytes is shorter than a request header$"):
        parse_header(b"abc")


@pytest.mark.parametrize("kwargs, reason", [
    (dict(length=60), "announce too short: expected 98 bytes, got 60"),
    (dict(port=0), "invalid port: expected a number from 1 to 65535, got 0"),
    (dict(event=9), "invalid event: expected 0 to 3, got 9"),
    (dict(ih=b"\x09" * 20), "info-hash not tracked here: this tracker serves only this site's torrents"),
])
def test_bad_announces_get_an_error_action(kwargs, reason):
    t, _ = tracker()
    cid = connect(t)
    assert error_of(t.handle(announce_packet(cid, **kwargs), "10.0.0.1", 4000)) == reason


def test_unknown_action_and_bad_scrape():
    t, _ = tracker()
    cid = connect(t)
    assert t.handle(b"\0" * 8 + struct.pack("!II", 7, 1) + b"x" * 90, "10.0.0.1", 4000) is None   # junk
    assert error_of(t.handle(cid + struct.pack("!II", 7, 1), "10.0.0.1", 4000)) == \
        "unknown action 7: expected 0 (connect), 1 (announce) or 2 (scrape)"
    assert error_of(t.handle(cid + struct.pack("!II", 2, 1) + b"x" * 7, "10.0.0.1", 4000)) == \
        "invalid scrape: expected a multiple of 20 bytes of info-hashes, got 7"


def test_ip_field_only_when_allowed():
    data = announce_packet(b"\0" * 8, ip=0xC0000209)
    assert parse_announce(data, "10.0.0.1").address == bytes([10, 0, 0, 1])
    assert parse_announce(data, "10.0.0.1", allow_ip_param=True).address == bytes([192, 0, 2, 9])
    a = parse_announce(announce_packet(b"\0" * 8, event=3, numwant=-1), "fd00::1")
    assert (a.event, a.numwant, len(a.address)) == (Event.STOPPED, -1, 16)


def test_ipv6_clients_get_ipv6_peers():
    t, _ = tracker()
    t.handle(announce_packet(connect(t, "fd00::1"), left=0), "fd00::1", 4000)
    t.handle(announce_packet(connect(t, "10.0.0.1"), left=0, peer=b"y"), "10.0.0.1", 4000)
    reply = t.handle(announce_packet(connect(t, "fd00::2"), left=3, port=1, peer=b"z"), "fd00::2", 4000)
    assert reply[20:] == bytes.fromhex("fd00" + "00" * 13 + "01") + (6881).to_bytes(2, "big")


def test_flood_is_dropped():
    from torrentweb.seeder.tracker.ratelimit import RateLimiter
    cfg = TrackerConfig()
    t = UdpTracker(Swarms(cfg, None), cfg, RateLimiter(1, 2, clock=lambda: 0.0))
    replies = [t.handle(struct.pack("!QII", PROTOCOL_ID, 0, 1), "10.0.0.1", 1) for _ in range(4)]
    assert [r is not None for r in replies] == [True, True, False, False]
