"""What the seeder daemon reads from the swarms: WebRTC demand (seeder/webrtc.py) and a snapshot
its status thread takes stats() of while the loop goes on."""
from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.announce import Announce, Event
from torrentweb.seeder.tracker.swarm import Swarms

IH, OTHER = b"\x01" * 20, b"\x02" * 20


def web(n, left, ih=IH):
    return Announce(ih, b"-WW0001-%012d" % n, b"", 0, left, Event.STARTED, 5)


def test_a_browser_wanting_data_is_reported_and_told_of_the_seeder_coming():
    s = Swarms(TrackerConfig(open=True), lambda ih: True)
    asked = []
    s.on_web_leecher = lambda ih: asked.append(ih) or ih == IH     # the seeder offers in IH only
    reply = s.announce(web(1, left=100))
    assert asked == [IH]
    assert (reply.complete, reply.incomplete) == (1, 1)            # the seeder, on its way
    assert s.announce(web(2, left=100, ih=OTHER)).complete == 0    # none coming there
    assert s.announce(web(3, left=0)).complete == 1                 # a browser seeding: no demand
    assert asked == [IH, OTHER]
    assert s.announce(web(4, left=100)).complete == 1              # not 2: that browser is the 1
    assert s.web_leechers(IH) == 2 and s.web_leechers(OTHER) == 1 and s.web_leechers(b"\x03" * 20) == 0
    s.leave_web(IH, b"-WW0001-%012d" % 1)
    assert s.web_leechers(IH) == 1


def test_a_snapshot_keeps_its_swarms_while_the_table_changes():
    s = Swarms(TrackerConfig(open=True), lambda ih: True)
    s.announce(web(1, left=100))
    snap = s.snapshot()
    s.announce(web(2, left=100, ih=OTHER))
    assert [t.info_hash for t in snap.stats().torrents] == [IH.hex()]
    assert [t.info_hash for t in s.stats().torrents] == [IH.hex(), OTHER.hex()]
    assert snap.stats().announces == 1 and s.stats().announces == 2
