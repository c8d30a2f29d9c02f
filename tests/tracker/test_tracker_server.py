"""The Tracker component on real sockets: listeners, keep-alive, bad input, limits, stats."""
import json
import socket
import struct
from urllib.parse import quote_from_bytes

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import PING
from websockets.sync.client import connect as ws_connect

from support.trackers import RawWebSocket, RunningTracker, announce_path, bodies, get, http_exchange, loopback_config
from harness.ports import free_port
from torrentweb.config import Address
from torrentweb.seeder.tracker.errors import BindError
from torrentweb.seeder.tracker.udp import PROTOCOL_ID

IH = b"\x11" * 20
IH_TEXT = IH.decode("latin-1")


@pytest.fixture(scope="module")
def tracker():
    with RunningTracker(loopback_config(max_message_size=4096, max_offers=2), known={IH}) as t:
        yield t


def test_keep_alive_and_pipelined_requests(tracker):
    raw = http_exchange(tracker, get(announce_path()) + get(announce_path(b"-XX0001-000000000002", 6001, 5)) +
                        b"GET /scrape?info_hash=" + quote_from_bytes(IH).encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    first, second, scrape = bodies(raw)
    assert first[b"peers"] == b""
    assert second[b"peers"] == bytes([127, 0, 0, 1]) + (6000).to_bytes(2, "big")
    assert scrape[b"files"][IH] == {b"complete": 1, b"downloaded": 0, b"incomplete": 1}


def test_oversized_request_head_gets_431(tracker):
    raw = http_exchange(tracker, b"GET /announce?" + b"x" * 9000)
    assert raw.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert bodies(raw)[0] == {b"failure reason": b"request head larger than 8192 bytes"}


def test_unknown_info_hash_refused_on_every_protocol(tracker):
    reason = "info-hash not tracked here: this tracker serves only this site's torrents"
    raw = http_exchange(tracker, get(announce_path(ih=b"\x22" * 20)).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert bodies(raw)[0] == {b"failure reason": reason.encode()}
    a = tracker.address("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(struct.pack("!QII", PROTOCOL_ID, 0, 1), (a.host, a.port))
        cid = s.recv(100)[8:]
        s.sendto(cid + struct.pack("!II20s20sQqQIIIiH", 1, 2, b"\x22" * 20, b"p" * 20, 0, 0, 0, 2, 0, 0, -1, 1),
                 (a.host, a.port))
        assert s.recv(1000) == struct.pack("!II", 3, 2) + reason.encode()
    with ws_connect(tracker.url("websocket")) as ws:
        ws.send(json.dumps({"action": "announce", "info_hash": "\x22" * 20, "peer_id": "p" * 20}))
        assert json.loads(ws.recv(5)) == {"action": "announce", "info_hash": "\x22" * 20, "failure reason": reason}


def test_udp_garbage_is_dropped_and_the_tracker_keeps_answering(tracker):
    a = tracker.address("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for junk in (b"", b"\x00", b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 5):
            s.sendto(junk, (a.host, a.port))
        with pytest.raises(socket.timeout):
            s.recv(100)
        s.settimeout(5)
        s.sendto(struct.pack("!QII", PROTOCOL_ID, 0, 77), (a.host, a.port))
        assert struct.unpack_from("!II", s.recv(100)) == (0, 77)


def test_websocket_bad_json_gets_a_failure_and_the_socket_stays(tracker):
    with ws_connect(tracker.url("websocket")) as ws:
        ws.send("{nope")
        assert json.loads(ws.recv(5))["failure reason"].startswith("invalid JSON: Expecting property name")
        ws.send(json.dumps({"action": "scrape", "info_hash": IH_TEXT}))
        assert json.loads(ws.recv(5))["action"] == "scrape"


def test_websocket_oversized_message_closes_the_socket(tracker):
    with ws_connect(tracker.url("websocket"), max_size=None) as ws:
        ws.send("x" * 5000)
        with pytest.raises(ConnectionClosed) as e:
            ws.recv(5)
    assert e.value.rcvd.code == 1009      # message too big


def test_websocket_offers_are_capped_and_relayed(tracker):
    with ws_connect(tracker.url("websocket")) as a, ws_connect(tracker.url("websocket")) as b, \
            ws_connect(tracker.url("websocket")) as c, ws_connect(tracker.url("websocket")) as d:
        for ws, n in ((a, 1), (b, 2), (c, 3)):
            ws.send(json.dumps({"action": "announce", "info_hash": IH_TEXT, "peer_id": "-WW0001-%012d" % n, "left": 0}))
            ws.recv(5)
        offers = [{"offer": {"type": "offer", "sdp": "v=%d" % i}, "offer_id": "%020d" % i} for i in range(5)]
        d.send(json.dumps({"action": "announce", "info_hash": IH_TEXT, "peer_id": "-WW0001-%012d" % 4, "left": 9,
                           "numwant": 5, "offers": offers}))
        assert json.loads(d.recv(5))["complete"] >= 3
        got = []
        for ws in (a, b, c):
            try:
                got.append(json.loads(ws.recv(0.5)))
            except TimeoutError:
                pass
        assert len(got) == 2                              # max_offers=2
        assert {g["offer_id"] for g in got} == {"%020d" % 0, "%020d" % 1}
        assert all(g["peer_id"] == "-WW0001-%012d" % 4 for g in got)


def test_stats_report_per_torrent_counts(tracker):
    st = tracker.stats()
    mine = [t for t in st.torrents if t.info_hash == IH.hex()]
    assert mine and mine[0].seeders >= 1 and st.announces >= 2 and st.refused >= 3


def test_idle_websocket_connections_are_dropped():
    with RunningTracker(loopback_config(ws_idle_timeout=1, http=None, udp=None), known={IH}) as t:
        with ws_connect(t.url("websocket")) as ws:
            ws.send(json.dumps({"action": "announce", "info_hash": IH_TEXT, "peer_id": "p" * 20}))
            ws.recv(5)
            with pytest.raises(ConnectionClosed) as e:
                ws.recv(10)
        assert (e.value.rcvd.code, e.value.rcvd.reason) == (1000, "idle: no announce for too long")
        assert t.stats().leechers == 0


def test_websocket_peers_get_keepalive_pings_between_announces(monkeypatch):
    """Between announces a connection is silent for `interval`: proxies and NATs would close it."""
    import torrentweb.seeder.tracker.websocket as websocket
    monkeypatch.setattr(websocket, "PING_INTERVAL", 0.5)
    with RunningTracker(loopback_config(http=None, udp=None, interval=1, ws_idle_timeout=60), known={IH}) as t:
        raw = RawWebSocket(t.url("websocket"), t.address("websocket"))
        try:
            assert [frame.opcode for frame in raw.frames(2)] == [PING, PING]
        finally:
            raw.close()


def test_websocket_flood_is_cut_off():
    with RunningTracker(loopback_config(rate_limit=1, rate_burst=5, http=None, udp=None), known={IH}) as t:
        # a visitor from elsewhere, as Apache's proxy forwards it (this machine is never limited)
        with ws_connect(t.url("websocket"), additional_headers={"X-Forwarded-For": "203.0.113.50"}) as ws:
            with pytest.raises(ConnectionClosed) as e:
                for _ in range(50):
                    ws.send(json.dumps({"action": "scrape", "info_hash": IH_TEXT}))
                    ws.recv(5)
        assert (e.value.rcvd.code, e.value.rcvd.reason) == (
            1008, "rate limited: too many requests from your address, retry later")


def test_a_taken_port_is_named_and_nothing_stays_bound():
    http_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = loopback_config(http=Address("127.0.0.1", http_port), websocket=Address("127.0.0.1", port))
        with pytest.raises(BindError) as e:
            with RunningTracker(config):
                pass
    assert str(e.value) == f"tracker websocket listener: cannot bind 127.0.0.1:{port}: Address already in use"
    with socket.socket() as s:          # the HTTP listener bound before it was closed again
        s.bind(("127.0.0.1", http_port))


def test_listeners_can_be_turned_off():
    with RunningTracker(loopback_config(udp=None, websocket=None)) as t:
        assert set(t.tracker.addresses) == {"http"}


def test_ipv6_clients_get_peers6_over_http_and_udp():
    config = loopback_config(http=Address("::1", 0), udp=Address("::1", 0), websocket=None)
    with RunningTracker(config, known={IH}) as t:
        a = t.address("http")
        assert str(a).startswith("[::1]:")
        with socket.create_connection(("::1", a.port), timeout=5) as s:
            s.sendall(get(announce_path(b"-XX0001-000000000061", 6061, 0)) + get(announce_path(b"-XX0001-000000000062", 6062, 5)))
            raw = b""
            while raw.count(b"HTTP/1.1 200") < 2 or not raw.endswith(b"e"):
                raw += s.recv(65536)
        first, second = bodies(raw)
        assert second[b"peers6"] == socket.inet_pton(socket.AF_INET6, "::1") + (6061).to_bytes(2, "big")
        assert second[b"peers"] == b""
        u = t.address("udp")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(struct.pack("!QII", PROTOCOL_ID, 0, 1), ("::1", u.port))
            cid = s.recv(100)[8:]
            s.sendto(cid + struct.pack("!II20s20sQqQIIIiH", 1, 2, IH, b"u" * 20, 0, 9, 0, 2, 0, 0, -1, 7000), ("::1", u.port))
            reply = s.recv(1000)
        loop6 = socket.inet_pton(socket.AF_INET6, "::1")
        assert reply[20:] == loop6 + (6061).to_bytes(2, "big") + loop6 + (6062).to_bytes(2, "big")   # seeder first


def test_reload_keeps_swarms_applies_settings_and_moves_listeners():
    with RunningTracker(loopback_config(websocket=None), known={IH}) as t:
        http_exchange(t, get(announce_path(b"-XX0001-000000000071", 6071, 0)).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        old_http, udp = t.address("http"), t.address("udp")
        new_port = free_port()
        t.call(t.tracker.reload(loopback_config(websocket=None, http=Address("127.0.0.1", new_port), open=True,
                                                interval=77)))
        assert t.address("http") == Address("127.0.0.1", new_port)
        assert t.address("udp") == udp          # its configured address did not change: not rebound
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((old_http.host, old_http.port), timeout=2)
        # the swarm survived; the new interval and `open` apply
        reply = bodies(http_exchange(t, get(announce_path(b"-XX0001-000000000072", 6072, 5, ih=b"\x44" * 20)).replace(
            b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))[0]
        assert reply[b"interval"] == 77
        assert [(x.info_hash, x.seeders) for x in t.stats().torrents if x.info_hash == IH.hex()] == [(IH.hex(), 1)]


def test_reload_to_a_taken_port_fails_and_keeps_the_old_listeners():
    with RunningTracker(loopback_config(websocket=None, udp=None), known={IH}) as t, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = t.address("http")
        with pytest.raises(BindError, match=f"^tracker http listener: cannot bind 127.0.0.1:{port}: Address already in use$"):
            t.call(t.tracker.reload(loopback_config(websocket=None, udp=None, http=Address("127.0.0.1", port))))
        assert t.address("http") == before
        assert bodies(http_exchange(t, get(announce_path()).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))


def test_idle_keep_alive_connections_are_closed(monkeypatch):
    import torrentweb.seeder.tracker.http as http
    monkeypatch.setattr(http, "KEEPALIVE_TIMEOUT", 0.5)
    with RunningTracker(loopback_config(udp=None, websocket=None, interval=1), known={IH}) as t:
        a = t.address("http")
        with socket.create_connection((a.host, a.port), timeout=10) as s:
            s.sendall(get(announce_path()))
            assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")
            assert s.recv(65536) == b""          # closed by the tracker once idle
