"""The tracker's tests' helpers (tests/tracker): the Tracker on its own loop, a libtorrent seeder, torrents."""
from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from pathlib import Path
from urllib.parse import quote_from_bytes

import libtorrent as lt
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from harness.ports import free_port
from harness.processes import wait_for
from torrentweb.config import Address, TrackerConfig
from torrentweb.seeder.tracker.server import Tracker

GAVE_UP = 30          # seconds: only a limit after which a test gives up, never a measured duration


class RunningTracker:
    """server.Tracker on an event loop in a thread of its own (the daemon uses its main loop)."""

    def __init__(self, config: TrackerConfig, known=None):
        self.known = set() if known is None else known
        self.tracker = Tracker(config, lambda ih: ih in self.known)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test tracker loop")

    def call(self, coroutine, timeout=15):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self):
        self.thread.start()
        try:
            self.call(self.tracker.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.call(self.tracker.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def address(self, protocol) -> Address:
        return self.tracker.addresses[protocol]

    def url(self, protocol) -> str:
        a = self.address(protocol)
        scheme = {"http": "http", "udp": "udp", "websocket": "ws"}[protocol]
        return f"{scheme}://{a.host}:{a.port}" + ("" if protocol == "udp" else "/announce")

    def stats(self):
        return self.call(_async(self.tracker.stats))


async def _async(f):
    return f()


def loopback_config(**overrides) -> TrackerConfig:
    base = dict(http=Address("127.0.0.1", 0), udp=Address("127.0.0.1", 0), websocket=Address("127.0.0.1", 0))
    base.update(overrides)
    return TrackerConfig(**base)


def announce_path(peer=b"-XX0001-000000000001", port=6000, left=0, ih=b"\x11" * 20):
    """The target of an HTTP announce (the tests' info-hash unless told)."""
    return (b"/announce?info_hash=" + quote_from_bytes(ih).encode() + b"&peer_id=" + peer +
            b"&port=%d&left=%d&compact=1" % (port, left))


def http_exchange(tracker, raw: bytes) -> bytes:
    """Send raw bytes to the HTTP tracker; everything it sends back until it closes."""
    a = tracker.address("http")
    with socket.create_connection((a.host, a.port), timeout=5) as s:
        s.sendall(raw)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def bodies(raw: bytes):
    """The bdecoded bodies of pipelined HTTP responses."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        out.append(lt.bdecode(rest[:length]))
        raw = rest[length:]
    return out


class RawWebSocket:
    """A WebSocket client on a plain socket (the `websockets` library's Sans-I/O client makes the
    frames), so that a test can stop reading, which no client library lets one do."""

    def __init__(self, url: str, address, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(GAVE_UP)
        self.sock.connect((address.host, address.port))
        self.protocol = ClientProtocol(parse_uri(url))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            self.protocol.receive_data(self.sock.recv(4096))
        assert self.protocol.handshake_exc is None

    def _flush(self):
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, text: str):
        self.protocol.send_text(text.encode())
        self._flush()

    def frames(self, count: int) -> list:
        """The next `count` frames the tracker sends (pings too; the pongs are not sent back)."""
        frames = []
        while len(frames) < count:
            data = self.sock.recv(65536)
            assert data, f"closed after {frames}"
            self.protocol.receive_data(data)
            frames += self.protocol.events_received()
        return frames

    def read_until_closed(self) -> bool:
        """Read (and drop) everything until the tracker closes or resets the connection."""
        try:
            while self.sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self):
        self.sock.close()


def make_torrent(path: Path, trackers, piece_length=64 * 1024) -> bytes:
    """A v1 single-file torrent with only these trackers: no web seed, no DHT nodes."""
    data = path.read_bytes()
    pieces = b"".join(hashlib.sha1(data[i:i + piece_length]).digest() for i in range(0, len(data), piece_length))
    meta = {b"announce": trackers[0].encode(), b"announce-list": [[t.encode()] for t in trackers],
            b"info": {b"name": path.name.encode(), b"length": len(data), b"piece length": piece_length,
                      b"pieces": pieces}}
    return lt.bencode(meta)


def info_hash(torrent: bytes) -> bytes:
    return hashlib.sha1(lt.bencode(lt.bdecode(torrent)[b"info"])).digest()


def random_file(directory: Path, name: str, size: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Seeder:
    """A libtorrent session on loopback that seeds what it is given and finds peers only via trackers."""

    def __init__(self, webtorrent=False):
        self.port = free_port()
        settings = {
            "listen_interfaces": f"127.0.0.1:{self.port}",
            "allow_multiple_connections_per_ip": True,
            "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "alert_mask": lt.alert_category.error | lt.alert_category.tracker | lt.alert_category.status,
            "stop_tracker_timeout": 1,
        }
        if webtorrent:
            settings.update({"webtorrent_stun_server": "", "max_webtorrent_offers": 10})
        else:
            settings["max_webtorrent_offers"] = 0
        self.session = lt.session(settings)
        self.handles = []
        self.alerts = []

    def add(self, torrent: bytes, save_path: Path, seed=True):
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent)
        atp.save_path = str(save_path)
        atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
        if seed:
            atp.flags |= lt.torrent_flags.seed_mode
        h = self.session.add_torrent(atp)
        self.handles.append(h)
        return h

    def poll_alerts(self):
        self.alerts += [(type(a).__name__, a.message()) for a in self.session.pop_alerts()]
        return self.alerts

    def wait_announced(self, handle, timeout=20):
        """Until a tracker has answered this torrent (so that clients find it at their first announce)."""
        wait_for(lambda: any(n == "tracker_reply_alert" for n, _ in self.poll_alerts()) or
                 handle.status().num_peers > 0, timeout,
                 what=f"the seeder's first tracker reply; its alerts: {self.alerts[-8:]}; "
                      f"state {handle.status().state}, error {handle.status().errc.message()}, "
                      f"trackers {[(t['url'], [e.get('message') for e in t.get('endpoints', [])]) for t in handle.trackers()]}")

    def close(self):
        """Destroy the session. With a ws:// tracker, stop the tracker FIRST: libtorrent 2.1.1's
        session destructor holds the GIL and waits (for ever, whatever stop_tracker_timeout
        says) on a WebSocket tracker that does not answer, and an in-process tracker cannot."""
        for h in self.handles:
            self.session.remove_torrent(h)
        self.handles.clear()
        del self.session
