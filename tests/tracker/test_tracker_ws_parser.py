"""WebTorrent tracker messages: parsing, writing and the relay, without sockets."""
import json

import pytest

from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.announce import ClientError, Event
from torrentweb.seeder.tracker.swarm import Swarms
from torrentweb.seeder.tracker.websocket import WsAnnounce, WsTracker, parse_message

IH = "".join(chr(c) for c in range(200, 220))       # 20 characters, code points 0-255
IHB = IH.encode("latin-1")


def pid(n):
    return "-WW0300-" + "%012d" % n


def announce(n, **kw):
    msg = {"action": "announce", "info_hash": IH, "peer_id": pid(n), "numwant": 5, "left": 10, **kw}
    return json.dumps(msg)


def test_announce_with_offers():
    offers = [{"offer": {"type": "offer", "sdp": "v=0"}, "offer_id": "o" * 20}] * 15
    m = parse_message(announce(1, offers=offers, event="started"), max_offers=10)
    assert isinstance(m, WsAnnounce) and len(m.offers) == 10            # capped
    assert (m.announce.info_hash, m.announce.event, m.announce.address, m.announce.left) == (IHB, Event.STARTED, b"", 10)


@pytest.mark.parametrize("text, reason", [
    ("{not json", "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"\xff\xfe", "invalid message: expected JSON in UTF-8"),
    ("[1, 2]", "invalid message: expected a JSON object"),
    ('{"action": "dance"}', "invalid action: expected announce or scrape, got 'dance'"),
    ('{"action": "announce", "peer_id": "%s"}' % pid(1), "missing info_hash"),
    (json.dumps({"action": "announce", "info_hash": "short", "peer_id": pid(1)}), "invalid info_hash: expected 20 bytes, got 5"),
    (json.dumps({"action": "announce", "info_hash": "\u4e2d" * 20, "peer_id": pid(1)}),
     "invalid info_hash: expected 20 characters with codes 0 to 255"),
    (json.dumps({"action": "announce", "info_hash": IH, "peer_id": 5}), "invalid peer_id: expected a string of 20 characters"),
    (announce(1, offers="lots"), "invalid offers: expected a list of {offer, offer_id}"),
    (announce(1, offers=[{"offer": {}, "offer_id": "x"}]), "invalid offer_id: expected 20 bytes, got 1"),
    (announce(1, numwant="many"), "invalid numwant: expected a number, got 'many'"),
    (announce(1, event="boom"), "invalid event: expected started, completed, stopped or nothing, got 'boom'"),
    ('{"action": "scrape"}', "missing info_hash: full scrapes are not served, name the torrents"),
])
def test_malformed_messages_say_what_is_wrong(text, reason):
    with pytest.raises(ClientError) as e:
        parse_message(text)
    assert str(e.value) == reason


class Socket:
    def __init__(self, name):
        self.name = name


def relay(**config):
    cfg = TrackerConfig(**config)
    swarms = Swarms(cfg, lambda ih: ih == IHB)
    return WsTracker(swarms, cfg), swarms


def test_offers_go_to_other_peers_and_answers_come_back():
    t, swarms = relay()
    a, b = t.connect(Socket("a"), "10.0.0.1", None), t.connect(Socket("b"), "10.0.0.2", None)
    [(to, text)] = t.handle(a, announce(1, left=0))
    assert to is a and json.loads(text) == {"action": "announce", "interval": 120, "info_hash": IH,
                                            "complete": 1, "incomplete": 0}
    offer = {"offer": {"type": "offer", "sdp": "v=0 b"}, "offer_id": "O" * 20}
    out = t.handle(b, announce(2, offers=[offer, dict(offer, offer_id="P" * 20)]))
    assert [to for to, _ in out] == [b, a]                   # one peer, so one offer relayed
    assert json.loads(out[1][1]) == {"action": "announce", "offer": offer["offer"], "offer_id": "O" * 20,
                                     "peer_id": pid(2), "info_hash": IH}
    answer = {"action": "announce", "info_hash": IH, "peer_id": pid(1), "to_peer_id": pid(2),
              "answer": {"type": "answer", "sdp": "v=0 a"}, "offer_id": "O" * 20}
    [(to, text)] = t.handle(a, json.dumps(answer))
    assert to is b and json.loads(text) == {"action": "announce", "answer": answer["answer"],
                                            "offer_id": "O" * 20, "peer_id": pid(1), "info_hash": IH}
    t.disconnect(a)                                          # a's socket closed: a leaves the swarm
    assert json.loads(t.handle(b, announce(2))[0][1])["complete"] == 0


def test_failures_carry_action_and_info_hash():
    t, _ = relay()
    c = t.connect(Socket("c"), "10.0.0.1", None)
    [(_, text)] = t.handle(c, json.dumps({"action": "announce", "info_hash": "\x01" * 20, "peer_id": pid(1)}))
    assert json.loads(text) == {"action": "announce", "info_hash": "\x01" * 20,
                                "failure reason": "info-hash not tracked here: this tracker serves only this site's torrents"}
    [(_, text)] = t.handle(c, "nonsense")
    assert json.loads(text) == {"action": "announce", "failure reason": "invalid JSON: Expecting value: line 1 column 1 (char 0)"}


def test_scrape_counts():
    t, _ = relay()
    c = t.connect(Socket("c"), "10.0.0.1", None)
    t.handle(c, announce(1, left=0, event="completed"))
    [(_, text)] = t.handle(c, json.dumps({"action": "scrape", "info_hash": [IH, "\x01" * 20]}))
    assert json.loads(text) == {"action": "scrape", "files": {IH: {"complete": 1, "incomplete": 0, "downloaded": 1}}}


def test_idle_connections_are_found():
    now = [0.0]
    cfg = TrackerConfig()
    t = WsTracker(Swarms(cfg, lambda ih: True), cfg, clock=lambda: now[0])
    a, b = t.connect(Socket("a"), "10.0.0.1", None), t.connect(Socket("b"), "10.0.0.1", None)
    now[0] = 50
    t.handle(b, announce(2))
    now[0] = 70
    assert t.idle(60) == [a]
