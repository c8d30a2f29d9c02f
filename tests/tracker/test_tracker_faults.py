"""Regression tests for issue 12: faults a client could cause that crashed, froze or filled the log.

Real trackers on loopback ports; raw sockets where a well-behaved client library would hide the fault.
"""
import json
import socket
import struct

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from support.trackers import GAVE_UP, RawWebSocket, RunningTracker, announce_path, bodies, get, http_exchange, loopback_config
from torrentweb.seeder.tracker.udp import PROTOCOL_ID

IH = b"\x55" * 20
IH_TEXT = IH.decode("latin-1")


def ws_announce(peer: str, **extra) -> str:
    return json.dumps({"action": "announce", "info_hash": IH_TEXT, "peer_id": peer, "left": 9, **extra})


def test_a_peer_that_stops_reading_does_not_freeze_the_peers_relaying_to_it():
    offer = {"type": "offer", "sdp": "x" * 40_000}
    with RunningTracker(loopback_config(http=None, udp=None, rate_limit=0), known={IH}) as t:
        slow = RawWebSocket(t.url("websocket"), t.address("websocket"), rcvbuf=4096)
        try:
            slow.send(ws_announce("-SL0001-000000000001"))      # and never reads again
            with ws_connect(t.url("websocket")) as victim:
                replies = []
                for n in range(300):       # each relays a 40 KB offer to the slow peer
                    victim.send(ws_announce("-VI0001-000000000001", numwant=1,
                                            offers=[{"offer": offer, "offer_id": "%020d" % n}]))
                    replies.append(json.loads(victim.recv(GAVE_UP)))
                assert [r.get("interval") for r in replies] == [120] * 300
                assert slow.read_until_closed()
                with ws_connect(t.url("websocket")) as newcomer:
                    for _ in range(2):
                        newcomer.send(ws_announce("-NC0001-000000000001", offers=[
                            {"offer": offer, "offer_id": "n" * 20}]))
                        assert json.loads(newcomer.recv(GAVE_UP))["interval"] == 120
                    torrent, = [x for x in t.stats().torrents if x.info_hash == IH.hex()]
                    assert torrent.leechers == 2              # the victim and the newcomer; the slow one left
        finally:
            slow.close()


def tracker_log(caplog) -> list:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records]


@pytest.mark.parametrize("field, text, reason", [
    ("numwant", "1e999", "invalid numwant: expected a number, got inf"),
    ("left", "-1e999", "invalid left: expected a number, got -inf"),
    ("left", "NaN", "invalid left: expected a number, got nan"),
    ("offers", '[{"offer_id": "%s", "offer": {"sdp": 1e999}}]' % ("o" * 20),
     "invalid offer: NaN and Infinity are not JSON"),
])
def test_websocket_numbers_out_of_range_get_a_failure_reason_and_no_log(caplog, field, text, reason):
    message = ws_announce("-NB0001-000000000001")[:-1] + f', "{field}": {text}}}'
    with RunningTracker(loopback_config(http=None, udp=None, rate_limit=0), known={IH}) as t:
        with ws_connect(t.url("websocket")) as other, ws_connect(t.url("websocket")) as ws:
            other.send(ws_announce("-NB0001-000000000002"))        # a peer for offers to go to
            other.recv(GAVE_UP)
            replies = []
            for _ in range(1000):
                ws.send(message)
                replies.append(json.loads(ws.recv(GAVE_UP)))
    assert replies == [{"action": "announce", "failure reason": reason, "info_hash": IH_TEXT}] * 1000
    assert tracker_log(caplog) == []


def test_websocket_json_nested_5000_deep_gets_a_failure_reason_and_no_log(caplog):
    with RunningTracker(loopback_config(http=None, udp=None, rate_limit=0), known={IH}) as t:
        other = RawWebSocket(t.url("websocket"), t.address("websocket"))      # offers go there, unread
        with ws_connect(t.url("websocket")) as ws:
            for _ in range(3):
                ws.send('{"action": "announce", "offers": ' + "[" * 5000 + "]" * 5000 + "}")
                assert json.loads(ws.recv(GAVE_UP)) == {"action": "announce",
                                                        "failure reason": "invalid JSON: nested too deeply"}
            other.send(ws_announce("-DP0001-000000000002"))
            for depth in range(900, 1100, 4):        # about where decoding or relaying runs out of stack
                text = ws_announce("-DP0001-000000000001")[:-1] + ', "offers": [{"offer_id": "%s", "offer": {"x": %s}}]}' % (
                    "d" * 20, "[" * depth + "]" * depth)
                ws.send(text)
                reply = json.loads(ws.recv(GAVE_UP))
                assert reply.get("interval") == 120 or reply["failure reason"] == "invalid JSON: nested too deeply"
            ws.send(json.dumps({"action": "scrape", "info_hash": IH_TEXT}))     # the socket stays
            assert json.loads(ws.recv(GAVE_UP))["action"] == "scrape"
        other.close()
    assert tracker_log(caplog) == []


@pytest.mark.parametrize("query, reason", [
    (b"&ip=1.2.3.4%00", "invalid ip: expected an IPv4 or IPv6 address, got '1.2.3.4\\x00'"),
    (b"&ip=::1%00", "invalid ip: expected an IPv4 or IPv6 address, got '::1\\x00'"),
    (b"&numwant=" + b"9" * 5000, "invalid numwant: expected a number that is not negative, got '" + "9" * 40 + "...'"),
    (b"&numwant=1e999", "invalid numwant: expected a number that is not negative, got '1e999'"),
    (b"&numwant=nan", "invalid numwant: expected a number that is not negative, got 'nan'"),
    (b"&numwant=-5", "invalid numwant: expected a number that is not negative, got '-5'"),
    (b"&numwant=1_0", "invalid numwant: expected a number that is not negative, got '1_0'"),
])
def test_http_bad_numbers_and_addresses_get_a_failure_reason_and_no_log(caplog, query, reason):
    with RunningTracker(loopback_config(udp=None, websocket=None, allow_ip_param=True), known={IH}) as t:
        raw = http_exchange(t, get(announce_path(ih=IH) + query).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert bodies(raw) == [{b"failure reason": reason.encode()}]
    assert tracker_log(caplog) == []


def udp_announce(t, left: int, numwant: int, port: int) -> bytes:
    a = t.address("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(GAVE_UP)
        s.sendto(struct.pack("!QII", PROTOCOL_ID, 0, 1), (a.host, a.port))
        cid = s.recv(100)[8:]
        s.sendto(cid + struct.pack("!II20s20sQqQIIIiH", 1, 2, IH, b"u" * 20, 0, left, 0, 2, 0, 0, numwant, port),
                 (a.host, a.port))
        return s.recv(1000)


@pytest.mark.parametrize("left, numwant", [(-1, -1), (2**63 - 1, 2**31 - 1), (-2**63, -2**31)])
def test_udp_extreme_numbers_get_an_announce_reply(caplog, left, numwant):
    with RunningTracker(loopback_config(http=None, websocket=None), known={IH}) as t:
        reply = udp_announce(t, left, numwant, 65535)
    assert struct.unpack("!IIIII", reply[:20]) == (1, 2, 120, 1, 0)      # action, transaction, interval, leechers, seeders
    assert tracker_log(caplog) == []


@pytest.mark.parametrize("size", [9 * 1024, 100 * 1024])
def test_an_http_head_over_8_kib_in_one_read_is_refused(size):
    with RunningTracker(loopback_config(udp=None, websocket=None), known={IH}) as t:
        head = get(announce_path(ih=IH) + b"&x=" + b"y" * size)
        raw = http_exchange(t, head)         # returns once the tracker has closed the connection
    assert raw.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert bodies(raw) == [{b"failure reason": b"request head larger than 8192 bytes"}]


def drip(sock, data: bytes, pause: float, most: int) -> bytes:
    """Send a byte every `pause` seconds until the tracker answers or closes; what it sent."""
    sock.settimeout(pause)
    for byte in data[:most]:
        try:
            sock.sendall(bytes([byte]))
            got = sock.recv(65536)
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return b""
        while got and not got.endswith(b"e"):
            got += sock.recv(65536)
        return got
    raise AssertionError(f"the tracker still waits for the head after {most} bytes")


def test_an_http_head_dripped_byte_by_byte_gets_408_and_is_closed():
    with RunningTracker(loopback_config(udp=None, websocket=None, header_timeout=1), known={IH}) as t:
        a = t.address("http")
        with socket.create_connection((a.host, a.port), timeout=GAVE_UP) as s:
            raw = drip(s, get(announce_path(ih=IH)), pause=0.2, most=200)
            s.settimeout(GAVE_UP)
            assert s.recv(100) == b""
    assert raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert bodies(raw) == [{b"failure reason": b"request head not received in time"}]


def test_a_websocket_handshake_dripped_byte_by_byte_is_closed():
    with RunningTracker(loopback_config(http=None, udp=None, header_timeout=1), known={IH}) as t:
        a = t.address("websocket")
        with socket.create_connection((a.host, a.port), timeout=GAVE_UP) as s:
            assert drip(s, b"GET /announce HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: y\r\n" * 100, 0.2, 200) == b""


def test_http_connections_over_the_cap_get_503_until_one_closes():
    with RunningTracker(loopback_config(udp=None, websocket=None, max_connections=3), known={IH}) as t:
        a = t.address("http")
        held = [socket.create_connection((a.host, a.port), timeout=GAVE_UP) for _ in range(3)]
        try:
            for s in held:                   # served: counted by the tracker
                s.sendall(get(announce_path(ih=IH)))
                assert s.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
            raw = http_exchange(t, get(announce_path(ih=IH)))
            assert raw.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert bodies(raw) == [{b"failure reason": b"too many connections to the tracker: retry later"}]
        finally:
            held.pop().close()
            for s in held:
                s.close()
        # once they are gone, connections are served again
        assert bodies(http_exchange(t, get(announce_path(ih=IH)).replace(
            b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))[0][b"interval"] == 120


def test_websocket_connections_over_the_cap_get_503():
    with RunningTracker(loopback_config(http=None, udp=None, max_connections=2), known={IH}) as t:
        with ws_connect(t.url("websocket")) as one, ws_connect(t.url("websocket")) as two:
            for ws in (one, two):
                ws.send(ws_announce("-CP0001-00000000000%d" % (ws is one)))
                assert json.loads(ws.recv(GAVE_UP))["interval"] == 120
            with pytest.raises(InvalidStatus) as e:
                ws_connect(t.url("websocket"))
    assert e.value.response.status_code == 503
    assert e.value.response.body == b"too many connections to the tracker: retry later\n"


def test_a_full_swarm_refuses_new_peers_and_keeps_its_own():
    full = "swarm full: it has 3 peers, the most this tracker keeps; retry later"
    with RunningTracker(loopback_config(udp=None, max_peers_per_swarm=3), known={IH}) as t:
        def announce(n, extra=b""):
            path = announce_path(b"-SW0001-%012d" % n, 6000 + n, 5, ih=IH) + extra
            return bodies(http_exchange(t, get(path).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))[0]
        with ws_connect(t.url("websocket")) as ws:
            ws.send(ws_announce("-SW0001-000000000000"))
            assert json.loads(ws.recv(GAVE_UP))["interval"] == 120
            assert [announce(n)[b"incomplete"] for n in (1, 2)] == [2, 3]
            assert announce(3) == {b"failure reason": full.encode()}
            ws.send(ws_announce("-SW0001-000000000009"))
            assert json.loads(ws.recv(GAVE_UP)) == {"action": "announce", "info_hash": IH_TEXT, "failure reason": full}
            assert announce(1)[b"incomplete"] == 3                   # a peer already in keeps announcing
            announce(2, b"&event=stopped")
            assert announce(3)[b"incomplete"] == 3                   # room again


def flood_via_proxy(path: bytes, visitor: bytes = b"203.0.113.50") -> bytes:
    """A visitor from elsewhere, as Apache forwards it (loopback is a trusted proxy)."""
    return get(path).replace(b"\r\n\r\n", b"\r\nX-Forwarded-For: " + visitor + b"\r\n\r\n")


def test_one_address_flooding_announces_is_rate_limited_by_default():
    with RunningTracker(loopback_config(udp=None, websocket=None), known={IH}) as t:
        requests = b"".join(flood_via_proxy(announce_path(b"-RL0001-%012d" % n, 7000, 5, ih=IH))
                            for n in range(2000))
        replies = bodies(http_exchange(t, requests + get(b"/x").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))
    limited = [r for r in replies if r == {b"failure reason": b"rate limited: too many requests from your address, retry later"}]
    assert len(replies) == 2001 and len(limited) > 1000


class UnreadableCatalogue:
    """The daemon's lookup of its torrents failing: an internal error on every announce."""

    def __contains__(self, info_hash):
        raise RuntimeError("catalogue unreadable")


def test_internal_errors_log_one_traceback_a_minute_not_one_per_request(caplog):
    internal = "internal error in the tracker; it has been logged"
    with RunningTracker(loopback_config(udp=None, rate_limit=0), known=UnreadableCatalogue()) as t:
        with ws_connect(t.url("websocket")) as ws:
            for _ in range(100):
                ws.send(ws_announce("-IE0001-000000000001"))
                assert json.loads(ws.recv(GAVE_UP)) == {"action": "announce", "failure reason": internal,
                                                        "info_hash": IH_TEXT}
        for _ in range(20):
            raw = http_exchange(t, get(announce_path(ih=IH)))
            assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
            assert bodies(raw) == [{b"failure reason": internal.encode()}]
    tracebacks = [(r.name, r.getMessage().split(" from ")[0]) for r in caplog.records if r.exc_info]
    assert tracebacks == [("torrentweb.tracker.websocket", "internal error answering a WebSocket message"),
                          ("torrentweb.tracker.http", "internal error answering b'/announce?info_hash="
                                                      "UUUUUUUUUUUUUUUUUUUU&peer_id=-XX0001-000000000001&port=6000"
                                                      "&left=0&compact=1'")]


def test_a_websocket_handshake_with_two_forwarded_for_headers_is_served(caplog):
    with RunningTracker(loopback_config(http=None, udp=None), known={IH}) as t:
        with ws_connect(t.url("websocket"), additional_headers=[("X-Forwarded-For", "192.0.2.1"),
                                                                ("X-Forwarded-For", "192.0.2.2")]) as ws:
            ws.send(ws_announce("-XF0001-000000000001"))
            assert json.loads(ws.recv(GAVE_UP))["interval"] == 120
    assert tracker_log(caplog) == []


def test_the_machines_own_announces_are_never_rate_limited():
    """The seeder announces every torrent it seeds to this tracker, from this machine (directly,
    or through Apache with the machine's own address forwarded): thousands at every start."""
    with RunningTracker(loopback_config(udp=None, websocket=None), known={IH}) as t:
        own = b"".join(get(announce_path(b"-RL0002-%012d" % n, 7000, 5, ih=IH)) for n in range(2000))
        replies = bodies(http_exchange(t, own + get(b"/x").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))
    assert len(replies) == 2001 and not [r for r in replies if b"failure reason" in r and b"rate" in r[b"failure reason"]]
