"""The transport-free swarm: event order, expiry, numwant, peers6, scrape, stats."""
import pytest

from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.announce import Announce, ClientError, Event, Scrape
from torrentweb.seeder.tracker.swarm import Swarms

IH = b"\x01" * 20


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def swarms(**config):
    clock = Clock()
    return Swarms(TrackerConfig(**{"open": True, **config}), lambda ih: ih == IH, clock), clock


def peer(n, left=100, event=Event.NONE, v6=False, numwant=-1, ih=IH):
    address = bytes(15) + bytes([n]) if v6 else bytes([10, 0, 0, n])
    return Announce(ih, b"-TT0001-%012d" % n, address, 6000 + n, left, event, numwant)


def compacts(blob, size=6):
    return {blob[i:i + size] for i in range(0, len(blob), size)}


def test_peers_get_each_other_but_never_themselves():
    s, _ = swarms()
    s.announce(peer(1))
    r = s.announce(peer(2))
    assert compacts(r.peers4) == {bytes([10, 0, 0, 1]) + (6001).to_bytes(2, "big")}
    assert (r.complete, r.incomplete) == (0, 2)


def test_seeders_get_only_leechers():
    s, _ = swarms()
    s.announce(peer(1, left=0))
    s.announce(peer(2, left=0))
    assert s.announce(peer(3, left=0)).peers4 == b""
    s.announce(peer(4))
    r = s.announce(peer(3, left=0))
    assert compacts(r.peers4) == {bytes([10, 0, 0, 4]) + (6004).to_bytes(2, "big")}
    assert (r.complete, r.incomplete) == (3, 1)


def test_numwant_is_capped_and_defaulted():
    s, _ = swarms(numwant_default=5, numwant_max=8)
    for n in range(1, 40):
        s.announce(peer(n))
    assert len(s.announce(peer(50)).peers4) == 5 * 6
    assert len(s.announce(peer(50, numwant=1000)).peers4) == 8 * 6
    assert len(s.announce(peer(50, numwant=3)).peers4) == 3 * 6
    many = s.announce(peer(50, numwant=8))
    assert len(compacts(many.peers4)) == 8 and bytes([10, 0, 0, 50]) + (6050).to_bytes(2, "big") not in compacts(many.peers4)


def test_ipv6_peers_go_to_peers6():
    s, _ = swarms()
    s.announce(peer(1, v6=True))
    r = s.announce(peer(2))
    assert r.peers4 == b"" and r.peers6 == bytes(15) + b"\x01" + (6001).to_bytes(2, "big")


def test_event_order_is_tolerated():
    s, _ = swarms()
    r = s.announce(peer(1, event=Event.STOPPED))              # a stranger stopping: ignored
    assert (r.complete, r.incomplete) == (0, 0)
    s.announce(peer(1, event=Event.COMPLETED, left=0))         # completed before started: joins, counted
    s.announce(peer(1, event=Event.STARTED, left=0))           # started again: an update
    s.announce(peer(1, event=Event.COMPLETED, left=0))         # counted once per peer
    assert s.scrape(Scrape((IH,)))[0].downloaded == 1
    assert (s.announce(peer(2)).complete, len(s.swarms[IH])) == (1, 2)
    s.announce(peer(1, event=Event.STOPPED))
    assert s.scrape(Scrape((IH,)))[0].complete == 0


def test_a_peer_that_moves_or_finishes_changes_pool():
    s, _ = swarms()
    s.announce(peer(1))
    s.announce(Announce(IH, peer(1).peer_id, bytes([10, 9, 9, 9]), 7000, 0))
    r = s.announce(peer(2))
    assert r.peers4 == bytes([10, 9, 9, 9]) + (7000).to_bytes(2, "big")
    assert (r.complete, r.incomplete) == (1, 1)


def test_peers_expire_after_interval_plus_grace():
    s, clock = swarms(interval=100, grace=20)
    s.announce(peer(1))
    clock.now += 119
    s.expire()
    assert s.scrape(Scrape((IH,)))[0].incomplete == 1
    clock.now += 2
    s.expire()
    assert s.scrape(Scrape((IH,)))[0].incomplete == 0
    assert s.announce(peer(2)).peers4 == b""


def test_whitelist_refuses_unknown_info_hashes():
    s, _ = swarms(open=False)
    with pytest.raises(ClientError, match="^info-hash not tracked here: this tracker serves only this site's torrents$"):
        s.announce(peer(1, ih=b"\x02" * 20))
    s.announce(peer(1))
    assert [e.known for e in s.scrape(Scrape((IH, b"\x02" * 20)))] == [True, False]
    assert s.stats().refused == 2


def test_web_peers_are_offered_to_each_other_only():
    s, _ = swarms()
    web = lambda n, left=100: Announce(IH, b"-WW0001-%012d" % n, b"", 0, left)
    s.announce(peer(1))
    assert s.announce(web(1)).web_peers == ()
    assert s.announce(web(2)).web_peers == (web(1).peer_id,)
    assert s.announce(web(3, left=0)).web_peers and s.announce(peer(9)).peers4    # native sees native only
    assert set(s.announce(web(4, left=0)).web_peers) == {web(1).peer_id, web(2).peer_id}   # not seeder 3
    s.leave_web(IH, web(1).peer_id)
    assert set(s.announce(web(2)).web_peers) == {web(3).peer_id, web(4).peer_id}


def test_stats_count_torrents_and_announce_rate():
    s, clock = swarms()
    for n in range(1, 21):
        s.announce(peer(n, left=0 if n <= 5 else 1))
        clock.now += 0.5                 # 20 announces over 10 s
    st = s.stats()
    assert (st.seeders, st.leechers, st.announces) == (5, 15, 20)
    assert st.torrents[0].info_hash == IH.hex() and (st.torrents[0].seeders, st.torrents[0].leechers) == (5, 15)
    assert st.announces_per_second == 2.0      # the 10 whole seconds before now
    clock.now += 60
    assert s.stats().announces_per_second == 0


def test_incremental_expiry_visits_every_swarm_in_slices():
    s, clock = swarms(interval=10, grace=0)
    for n in range(1, 11):
        s.announce(peer(n, ih=bytes([n]) * 20))
    clock.now += 11
    s.expire(max_swarms=4)
    assert len(s.swarms) == 6
    s.expire(max_swarms=4)
    s.expire(max_swarms=4)
    assert len(s.swarms) == 0


def test_peers_are_plain_tuples_the_collector_does_not_track():
    import gc
    s, _ = swarms()
    for n in range(1, 50):
        s.announce(peer(n))
    gc.collect()
    assert not any(gc.is_tracked(p) for p in s.swarms[IH].peers.values())


from hypothesis import given, settings, strategies as st   # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 3)),
                max_size=80))
def test_pools_stay_consistent_with_a_simple_model(steps):
    """Whatever the order of joins, moves, finishes and stops, the pools match the peers."""
    s, _ = swarms()
    model = {}
    for n, seeder, v6, stop, port in steps:
        a = Announce(IH, b"-TT0001-%012d" % n, (bytes(15) + bytes([n])) if v6 else bytes([10, 0, 0, n]),
                     6000 + port, 0 if seeder else 5, Event.STOPPED if stop else Event.NONE)
        s.announce(a)
        if stop:
            model.pop(a.peer_id, None)
        else:
            model[a.peer_id] = (a.address + a.port.to_bytes(2, "big"), seeder)
    swarm = s.swarms[IH] if IH in s.swarms else None
    if swarm is None:
        assert not model
        return
    assert {p: peer[0] for p, peer in swarm.peers.items()} == {p: c for p, (c, _) in model.items()}
    assert swarm.complete == sum(seeder for _, seeder in model.values())
    for number, pool in enumerate(swarm.pools):
        assert len(pool.ids) == len(pool.compacts)
        for i, (peer_id, compact) in enumerate(zip(pool.ids, pool.compacts)):
            assert swarm.peers[peer_id][1:3] == (number, i) and swarm.peers[peer_id][0] == compact


def test_visitors_uploads_add_up_as_deltas_whatever_the_transport():
    """What peers report sending each other: each announce's total, counted once; a total that
    goes down (a restarted client) adds nothing; the pinned seeder never reports."""
    import dataclasses
    s, _ = swarms()
    s.pin(IH, b"-TW0100-000000000000", bytes([127, 0, 0, 1, 0x1a, 0xe1]))
    s.announce(dataclasses.replace(peer(1), uploaded=1000))
    s.announce(dataclasses.replace(peer(1), uploaded=1500))
    s.announce(dataclasses.replace(peer(1, left=0), uploaded=1200))       # moved pools, went down
    web = Announce(IH, b"-WW0001-000000000001", b"", 0, 5, Event.NONE, -1, 300)
    s.announce_web(web)
    s.announce_web(dataclasses.replace(web, uploaded=800))
    assert s.uploaded == 1500 + 800


def test_visitor_seeders_and_leechers_are_counted_apart_from_the_sites_own_seeders():
    """The daemon sets its seeder's slots by the swarms visitors are in (the moment they
    announce) and holds it back where visitor seeders can carry the leechers. A torrentweb
    seeder (this frontend's pinned entry, another frontend's announce, its WebRTC announce) is
    never a visitor; a visitor that announces left=0 is a visitor seeder, over HTTP or
    WebSocket; a swarm is named once to take_crowds, then kept while it has a visitor."""
    from torrentweb.naming import SEEDER_PEER_ID_PREFIX
    s, _ = swarms()
    site = SEEDER_PEER_ID_PREFIX + b"000000000001"
    s.pin(IH, SEEDER_PEER_ID_PREFIX + b"000000000000", bytes([10, 0, 0, 99, 0, 1]))
    s.announce(Announce(IH, site, bytes([10, 0, 0, 98]), 6000, 0, Event.STARTED, -1))
    s.announce_web(Announce(IH, SEEDER_PEER_ID_PREFIX + b"000000000002", b"", 0, 0, Event.STARTED, -1))
    assert s.take_crowds(()) == {}                        # the site's seeders are no crowd
    for n in (1, 2, 3):
        s.announce(peer(n))                               # three leechers
    assert s.take_crowds(()) == {IH: (0, 3)}
    s.announce(peer(4, left=0))                           # a native visitor seeder
    assert s.crowd(IH) == (1, 3)
    s.announce_web(Announce(IH, b"-WW0200-000000000005", b"", 0, 0, Event.STARTED, -1))
    assert s.take_crowds(()) == {IH: (2, 3)}              # and a tab that seeds
    assert s.take_crowds(()) == {}                        # named once; the daemon keeps the last
    assert s.take_crowds([IH]) == {IH: (2, 3)}
    s.announce(peer(4, left=0, event=Event.STOPPED))
    s.leave_web(IH, b"-WW0200-000000000005")
    assert s.take_crowds([IH]) == {IH: (0, 3)}
    for n in (1, 2, 3):
        s.announce(peer(n, event=Event.STOPPED))
    assert s.take_crowds([IH]) == {}                      # every visitor left
