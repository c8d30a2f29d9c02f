"""The seeder is in its own tracker's swarms without announcing to itself (seeder/presence.py)."""
import os
import time
import socket
import urllib.request
from urllib.parse import quote_from_bytes

import libtorrent as lt

from support.lt_client import Client
from harness.processes import wait_for


def announce(site, ih: bytes, peer_id: bytes = b"-PR0001-000000000001", left: int = 1) -> dict:
    """What a visitor's announce to the daemon's tracker gets back."""
    port = site.settings["tracker"]["http"].split(":")[1]
    url = (f"http://127.0.0.1:{port}/announce?info_hash={quote_from_bytes(ih)}&peer_id="
           f"{quote_from_bytes(peer_id)}&port=7001&left={left}&compact=1")
    with urllib.request.urlopen(url, timeout=5) as r:
        return lt.bdecode(r.read())


def peers(reply: dict) -> set:
    raw = reply.get(b"peers", b"")
    return {(socket.inet_ntoa(raw[i:i + 4]), int.from_bytes(raw[i + 4:i + 6], "big"))
            for i in range(0, len(raw), 6)}


def scrape(site, ih: bytes) -> dict:
    port = site.settings["tracker"]["http"].split(":")[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/scrape?info_hash={quote_from_bytes(ih)}",
                                timeout=5) as r:
        return lt.bdecode(r.read())[b"files"][ih]


def seeder_port(site) -> int:
    return int(site.settings["seeder"]["listen"].rsplit(":", 1)[1])


def test_a_visitor_finds_the_seeder_through_the_tracker_though_it_never_announced(site, daemons, tmp_path):
    data = {f"img/{n}.jpg": os.urandom(200_000 + n) for n in range(3)}
    for rel, body in data.items():
        site.add(rel, body)
    d = daemons(site)
    for rel in data:
        d.wait_log(f"published {rel} ")
    d.wait_log("in its own tracker's swarms as 127.0.0.1")
    ih = bytes.fromhex(site.catalogue()["img/0.jpg"][3])
    reply = wait_for(lambda: (r := announce(site, ih)) and peers(r) and r, 10, what="the seeder in the swarm")
    assert peers(reply) == {("127.0.0.1", seeder_port(site))} and reply[b"complete"] == 1
    client = Client(tmp_path / "dl")
    try:                                    # the tracker alone: no web seed, no peer given by hand
        h = client.add(site.torrent("img/1.jpg"), web_seeds=False)
        client.wait_seeding(h)
        # two seeders, the site's and the visitor's: an announce of the site's own would be a third
        ih1 = bytes.fromhex(site.catalogue()["img/1.jpg"][3])
        assert wait_for(lambda: scrape(site, ih1)[b"complete"] == 2 or None, 10, what="the visitor as seeder")
        time.sleep(1)
        assert scrape(site, ih1)[b"complete"] == 2
    finally:
        client.close()
    assert (tmp_path / "dl" / "1.jpg").read_bytes() == data["img/1.jpg"]

    (site.docroot / "img/0.jpg").unlink()                             # withdrawn: the seeder leaves
    d.wait_log("withdrawn img/0.jpg ")
    assert announce(site, ih).get(b"failure reason", b"").startswith(b"info-hash not tracked")


def test_an_announce_ip_is_what_visitors_are_given(site, daemons):
    site.write_config(seeder=dict(site.settings["seeder"], announce_ip="198.51.100.7"))
    site.add("a.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published a.png ")
    ih = bytes.fromhex(site.catalogue()["a.png"][3])
    reply = wait_for(lambda: (r := announce(site, ih)) and peers(r) and r, 10, what="the seeder in the swarm")
    assert peers(reply) == {("198.51.100.7", seeder_port(site))}


def test_a_seeder_behind_nat_without_announce_ip_announces_over_http(tmp_path, daemons):
    from harness.daemon import make_site
    from harness.ports import free_port
    port = free_port()
    site = make_site(tmp_path, base_url="http://192.0.2.10/",            # not an address of this machine
                     seeder={"listen": f"0.0.0.0:{port}"})
    site.add("a.png", os.urandom(5000))
    d = daemons(site)
    d.wait_log("published a.png ")
    assert "announces to its own tracker over HTTP" in d.log()
    ih = bytes.fromhex(site.catalogue()["a.png"][3])
    reply = wait_for(lambda: (r := announce(site, ih)) and peers(r) and r, 30, what="the seeder's announce")
    assert (("127.0.0.1", port) in peers(reply)) and reply[b"complete"] == 1
