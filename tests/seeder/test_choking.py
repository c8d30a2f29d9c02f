"""The seeder's choker is the only way to its upload: what a flash crowd's copies depend on."""
import os
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

from harness.ports import free_port
from torrentweb.config import Address, SeederConfig
from torrentweb.seeder import builder
from torrentweb.seeder.session import FEED_BYTES, HOLD_CROWD, Feed, SeedingSession, fed_at_once

CHOKE, UNCHOKE, INTERESTED, BITFIELD = 0, 1, 2, 5                                      # BEP 3
HAVE_ALL, HAVE_NONE, ALLOWED_FAST = 14, 15, 17                                         # BEP 6
FAST_EXTENSION = 0x04       # reserved byte 7


def wire_messages(port: int, info_hash: bytes, seconds: float) -> list[int]:
    """Handshake as a BEP 6 peer with nothing that wants everything; list the seeder's replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        reserved = bytes(7) + bytes([FAST_EXTENSION])
        s.sendall(b"\x13BitTorrent protocol" + reserved + info_hash + b"-TW0000-" + os.urandom(12)
                  + struct.pack(">IB", 1, HAVE_NONE) + struct.pack(">IB", 1, INTERESTED))
        buf, ids, end = b"", [], time.monotonic() + seconds
        s.settimeout(0.2)
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            buf += chunk
        buf = buf[68:]                                  # their handshake
        while len(buf) >= 4:
            (length,) = struct.unpack(">I", buf[:4])
            if length and len(buf) >= 5:
                ids.append(buf[4])
            buf = buf[4 + length:]
        return ids


def unchoked_at_the_end(port: int, info_hash: bytes, visitors: int, seconds: float,
                        tick=lambda: None) -> int:
    """`visitors` BEP 6 peers that want everything and request nothing, on one swarm, for
    `seconds` (`tick` twice a second, as the daemon rebalances); how many the seeder has
    unchoked at the end (their last CHOKE or UNCHOKE)."""
    with ThreadPoolExecutor(visitors) as pool:
        wires = [pool.submit(wire_messages, port, info_hash, seconds) for _ in range(visitors)]
        end = time.monotonic() + seconds - 0.5
        while time.monotonic() < end:
            tick()
            time.sleep(0.5)
        replies = [w.result() for w in wires]
    assert all(HAVE_ALL in ids for ids in replies), f"a handshake did not work: {replies}"
    return sum(1 for ids in replies if [i for i in ids if i in (CHOKE, UNCHOKE)][-1:] == [UNCHOKE])


def seed(seeder: SeedingSession, root, *torrents):
    """Add the built torrents and wait until the session reports them."""
    for built in torrents:
        seeder.add(built.info_hash, built.data, root)
    deadline = time.monotonic() + 10
    while {b.info_hash for b in torrents} - {t.info_hash for t in seeder.refresh()}:
        assert time.monotonic() < deadline, "the torrents were never added"
        time.sleep(0.05)


def test_a_choked_visitor_is_granted_no_pieces_outside_the_choker(tmp_path):
    """BEP 6 allowed-fast pieces bypass choking: every visitor of a crowd would pull its own (the
    same ones behind one NAT) from the origin; bench/flashcrowd.py measured up to 5 extra copies."""
    (tmp_path / "page.bin").write_bytes(os.urandom(40 * 256 * 1024))
    built = builder.build_file(tmp_path, "page.bin", 40 * 256 * 1024, base_url="http://127.0.0.1:1/",
                               announce=[])
    seeder = SeedingSession(SeederConfig(listen=Address("127.0.0.1", free_port())))
    try:
        seed(seeder, tmp_path, built)
        ids = wire_messages(seeder.listen_port(), bytes.fromhex(built.info_hash), 1.5)
    finally:
        seeder.close()
    assert HAVE_ALL in ids, f"no HAVE ALL from the seeder: the handshake did not work ({ids})"
    assert ALLOWED_FAST not in ids, ids


def test_every_swarm_with_downloaders_gets_its_own_unchoke_slots(tmp_path):
    """libtorrent's slots are the session's: with one slot for the daemon, a visitor of a second
    page waited while the first page's visitor held it (a crowd over 20 pages: 18 swarms fell
    back to the web seed). Slots are per swarm that downloads: both visitors are unchoked."""
    torrents = []
    for name in ("a.bin", "b.bin"):
        (tmp_path / name).write_bytes(os.urandom(8 * 256 * 1024))
        torrents.append(builder.build_file(tmp_path, name, 8 * 256 * 1024, base_url="http://127.0.0.1:1/",
                                           announce=[]))
    seeder = SeedingSession(SeederConfig(listen=Address("127.0.0.1", free_port()), unchoke_slots=1))
    try:
        seed(seeder, tmp_path, *torrents)
        with ThreadPoolExecutor(2) as pool:
            wires = [pool.submit(wire_messages, seeder.listen_port(), bytes.fromhex(b.info_hash), 6)
                     for b in torrents]
            end = time.monotonic() + 6
            while time.monotonic() < end:        # the daemon's status tick does this every 2 s
                seeder.refresh()
                time.sleep(0.5)
            replies = [w.result() for w in wires]
    finally:
        seeder.close()
    assert all(HAVE_ALL in ids for ids in replies), f"a handshake did not work: {replies}"
    assert [UNCHOKE in ids for ids in replies] == [True, True], replies



def test_a_thin_share_of_the_uplink_feeds_one_visitor_at_a_time_a_fat_one_more(tmp_path):
    """A crowd over many pages splits the origin's uplink thin: two fed visitors of a swarm each
    waited longer for a whole piece than the loader waits, and took the web seed. Where the
    swarm's share brings one visitor FEED_BYTES within half the deadline, the seeder feeds one at a
    time (libtorrent's optimistic unchoke cannot add a second: the torrent has no free slot);
    where it feeds more, the swarm gets the slots once the share has held for a while (FAT_WAIT; a
    crowd arriving over a second must not take them first). A one-slot swarm is never held back."""
    unit = FEED_BYTES
    (tmp_path / "page.bin").write_bytes(os.urandom(8 * unit))
    built = builder.build_file(tmp_path, "page.bin", 8 * unit, base_url="http://127.0.0.1:1/", announce=[])
    thin = Feed(budget=unit, deadline=1.0)               # FEED_BYTES in 1 s: not within 0.5 s
    fat = Feed(budget=8 * unit, deadline=1.0)            # four times that within 0.5 s
    assert (fed_at_once(thin, 2, 1), fed_at_once(fat, 2, 1), fed_at_once(fat, 2, 4)) == (1, 2, 1)
    seen = []
    for feed in (thin, fat):
        seeder = SeedingSession(SeederConfig(listen=Address("127.0.0.1", free_port())), feed=feed)
        try:
            seed(seeder, tmp_path, built)
            crowd = {built.info_hash: (0, 3)}                # our tracker: three leechers
            fed = unchoked_at_the_end(seeder.listen_port(), bytes.fromhex(built.info_hash), 3, 4,
                                      tick=lambda: seeder.rebalance(crowd))
            h = seeder.session.find_torrent(lt_hash(built.info_hash))
            seeder.rebalance({built.info_hash: (2, 1)})     # two visitor seeders for one leecher
            seen.append((fed, h.max_uploads(), h.upload_limit() > 0))
        finally:
            seeder.close()
    assert seen == [(1, 1, False), (1, 2, True)], seen


def test_the_seeder_holds_back_where_visitor_seeders_carry_the_swarm(tmp_path):
    """seeder.hold_back: a crowd arriving at a page whose first visitor holds it all (it loaded
    the page cold) needs nothing the swarm lacks. The daemon's tracker counts each swarm's
    visitor seeders and leechers (rebalance); where the seeders are at least twice as many
    (HOLD_RATIO), the seeder holds its upload back; where they are fewer, or once they left, it
    sends all it can: one tab's uplink is not the seeder's."""
    from support.lt_client import Client
    size = 16 * 256 * 1024
    data = os.urandom(size)
    (tmp_path / "page.bin").write_bytes(data)
    built = builder.build_file(tmp_path, "page.bin", size, base_url="http://127.0.0.1:1/", announce=[])
    seeder = SeedingSession(SeederConfig(listen=Address("127.0.0.1", free_port())))
    client = Client(tmp_path / "visitor")
    try:
        seed(seeder, tmp_path, built)
        seeder.rebalance({built.info_hash: (1, 3)})        # one seeder tab for three leechers
        assert seeder.session.find_torrent(lt_hash(built.info_hash)).upload_limit() <= 0
        seeder.rebalance({built.info_hash: (1, 1)})        # one for one
        assert seeder.session.find_torrent(lt_hash(built.info_hash)).upload_limit() <= 0
        seeder.rebalance({built.info_hash: (2, 1)})        # two visitor seeders, one leecher
        h = client.add(built.data, web_seeds=False, trackers=False)
        h.connect_peer(("127.0.0.1", seeder.listen_port()))
        for _ in range(10):                                 # 2 s at most two trickles' worth
            time.sleep(0.2)
            seeder.rebalance({built.info_hash: (2, 1)})
        got = h.status().total_payload_download
        assert got <= 16 * 1024, f"{got} bytes of {size} while held back"     # a block at most
        assert [t.held_back for t in seeder.refresh()] == [True]              # status.json says so
        seeder.rebalance({})                                # the visitor seeders left
        client.wait_seeding(h, peers=[("127.0.0.1", seeder.listen_port())])
        assert [t.held_back for t in seeder.refresh()] == [False]
    finally:
        client.close()
        seeder.close()
    assert (tmp_path / "visitor" / "page.bin").read_bytes() == data


def holding(port: int, info_hash: bytes, pieces: list[bool]) -> socket.socket:
    """A visitor that holds `pieces` (a BEP 3 bitfield) and wants nothing more; open until closed."""
    bits = bytearray((len(pieces) + 7) // 8)
    for i, have in enumerate(pieces):
        bits[i // 8] |= have << (7 - i % 8)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"\x13BitTorrent protocol" + bytes(8) + info_hash + b"-TW0000-" + os.urandom(12)
              + struct.pack(">IB", 1 + len(bits), BITFIELD) + bytes(bits))
    return s


def test_the_seeder_holds_back_where_its_visitors_hold_every_piece_between_them(tmp_path):
    """seeder.hold_back: once a crowd's visitors hold every piece between them, all the seeder
    sent were pieces the swarm had (N = 32 on home lines: 0.4-0.9 copy of the page more). Where
    HOLD_CROWD visitors or more hold pieces, and every piece between them, it holds back: a
    visitor then gets next to nothing from it. Where fewer visitors hold them (one tab's uplink is
    not the seeder's), or once a holder left, it sends all it can."""
    import libtorrent as lt
    from support.lt_client import Client
    size = 16 * 256 * 1024
    data = os.urandom(size)
    (tmp_path / "page.bin").write_bytes(data)
    built = builder.build_file(tmp_path, "page.bin", size, base_url="http://127.0.0.1:1/", announce=[])
    n = lt.torrent_info(built.data).num_pieces()
    seeder = SeedingSession(SeederConfig(listen=Address("127.0.0.1", free_port())))
    client = Client(tmp_path / "visitor")
    ih, crowd = bytes.fromhex(built.info_hash), {built.info_hash: (0, HOLD_CROWD + 1)}

    def held() -> bool:
        """What the daemon's ticks decide, given a moment for the peers' bitfields to arrive."""
        for _ in range(10):
            seeder.rebalance(crowd)
            if h.upload_limit() > 0:
                return True
            time.sleep(0.1)
        return False

    wires = []
    try:
        seed(seeder, tmp_path, built)
        port, h = seeder.listen_port(), seeder.session.find_torrent(lt_hash(built.info_hash))
        few = HOLD_CROWD - 1
        wires += [holding(port, ih, [i % few == k for i in range(n)]) for k in range(few)]
        assert not held(), f"held back though only {few} visitors hold the pieces"
        wires.append(holding(port, ih, [i == 0 for i in range(n)]))
        assert held(), f"not held back though {HOLD_CROWD} visitors hold every piece"
        v = client.add(built.data, web_seeds=False, trackers=False)
        v.connect_peer(("127.0.0.1", port))
        for _ in range(10):                                 # 2 s
            time.sleep(0.2)
            seeder.rebalance(crowd)
        got = v.status().total_payload_download
        assert got <= 16 * 1024, f"{got} bytes of {size} while held back"     # a block at most
        assert [t.held_back for t in seeder.refresh()] == [True]              # status.json says so
        wires.pop(0).close()                # a holder left: its pieces are nowhere else
        end = time.monotonic() + 5
        while h.upload_limit() > 0 and time.monotonic() < end:
            seeder.rebalance(crowd)
            time.sleep(0.1)
        client.wait_seeding(v, peers=[("127.0.0.1", port)])
        assert [t.held_back for t in seeder.refresh()] == [False]
    finally:
        for w in wires:
            w.close()
        client.close()
        seeder.close()
    assert (tmp_path / "visitor" / "page.bin").read_bytes() == data


def lt_hash(info_hash: str):
    import libtorrent as lt
    return lt.sha1_hash(bytes.fromhex(info_hash))
