"""Whatever bytes arrive, every front end answers in its protocol or drops them: never raises."""
import json
import struct

import libtorrent as lt
from hypothesis import given, settings, strategies as st

from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.http import HttpTracker
from torrentweb.seeder.tracker.swarm import Swarms
from torrentweb.seeder.tracker.udp import UdpTracker
from torrentweb.seeder.tracker.websocket import WsTracker

CONFIG = TrackerConfig(open=True)
SWARMS = Swarms(CONFIG, None)
HTTP = HttpTracker(SWARMS, CONFIG)
UDP = UdpTracker(SWARMS, CONFIG)
WS = WsTracker(SWARMS, CONFIG)

query_parts = st.sampled_from([b"info_hash", b"peer_id", b"port", b"left", b"event", b"numwant", b"ip", b"x"])
values = st.one_of(st.binary(max_size=30), st.sampled_from([b"%", b"%zz", b"%00" * 20, b"-1", b"1" * 30]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(query_parts, values), max_size=8), st.sampled_from([b"/announce", b"/scrape", b"/x"]))
def test_http_queries(params, path):
    query = b"&".join(k + b"=" + v for k, v in params).replace(b" ", b"%20").replace(b"\r", b"").replace(b"\n", b"")
    response, _ = HTTP.handle(b"GET " + path + b"?" + query + b" HTTP/1.1\r\nHost: x", "10.0.0.1", False)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ") and b" 500 " not in head
    assert isinstance(lt.bdecode(body), dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_http_heads(head):
    response, _ = HTTP.handle(head, "10.0.0.1", True)
    assert response.startswith(b"HTTP/1.1 ") and b" 500 " not in response.split(b"\r\n")[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([0, 1, 2, 3, 9]))
def test_udp_datagrams(data, action):
    for packet in (data, data[:8] + struct.pack("!I", action) + data[12:]):
        reply = UDP.handle(packet, "10.0.0.1", 4000)
        assert reply is None or struct.unpack_from("!I", reply)[0] in (0, 3)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=25)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                           max_leaves=10)
keys = st.sampled_from(["action", "info_hash", "peer_id", "numwant", "left", "event", "offers", "answer",
                        "to_peer_id", "offer_id"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_values | st.sampled_from(["announce", "scrape", "x" * 20]), max_size=8))
def test_websocket_messages(message):
    conn = WS.connect(object(), "10.0.0.1", None)
    try:
        for _, text in WS.handle(conn, json.dumps(message)):
            reply = json.loads(text)
            assert "INTERNAL" not in text and reply.get("failure reason") != \
                "internal error in the tracker; it has been logged"
    finally:
        WS.disconnect(conn)
