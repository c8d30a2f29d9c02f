"""Real native BitTorrent clients driven from tests: aria2c, qbittorrent-nox, transmission-cli.

Both are configured so that the only way to find a peer is the torrent's tracker: no DHT,
no local peer discovery, no peer exchange (and the torrents given to them carry no web seed).
Flags and settings: ../shared/notes/native-clients.md.

    from support.clients import aria2c_download, QBittorrent

    aria2c_download(torrent_path, out_dir)                # raises ClientFailed with aria2c's log
    with QBittorrent(tmp_path / "qbt") as qbt:
        qbt.download(torrent_bytes, out_dir, info_hash_hex)
    transmission_download(torrent_path, out_dir, done=lambda: ...)   # web seeds: it never
                                                                     # dials 127.0.0.1 peers
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from harness.ports import free_port
from harness.processes import Process, wait_for


class ClientFailed(AssertionError):
    """A client did not finish; the message carries the end of its log."""


def aria2c_download(torrent: Path, out_dir: Path, timeout: float = 60.0, udp_tracker=False, extra=()) -> Path:
    """Download with aria2c (seed time 0: it exits when done). Returns the log file.

    aria2 1.36 sends UDP tracker requests through its DHT socket and refuses udp:// trackers
    ("udp is not supported yet") with DHT off. With `udp_tracker`, DHT is on but has no entry
    point and a fresh routing table, so it knows no node and finds nothing: the tracker still
    is the only source of peers.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    log = out_dir.parent / f"aria2c-{tag}.log"
    dht = [f"--enable-dht={'true' if udp_tracker else 'false'}",
           f"--dht-file-path={out_dir.parent / f'aria2c-{tag}-dht.dat'}"]
    argv = ["aria2c", "-d", str(out_dir), "--seed-time=0", "--bt-enable-lpd=false", *dht,
            "--enable-dht6=false", "--enable-peer-exchange=false", f"--listen-port={free_port()}",
            f"--dht-listen-port={free_port()}", "--file-allocation=none", f"--bt-stop-timeout={int(timeout)}",
            "--summary-interval=0", "--disable-ipv6=true", "--console-log-level=notice",
            f"--log={log}", "--log-level=info", "--bt-tracker-connect-timeout=10", "--bt-tracker-timeout=10",
            *extra, str(torrent)]
    proc = Process(argv, out_dir.parent / "aria2c.out")
    try:
        proc.proc.wait(timeout + 10)
    except subprocess.TimeoutExpired:
        pass
    code = proc.stop()
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else proc.log()[-3000:]
        raise ClientFailed(f"aria2c exited with {code}; end of its log:\n{tail}")
    return log


QBT_CONF = """[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port={session_port}
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\MultiConnectionsPerIp=true
Session\\AnonymousModeEnabled=false
Session\\QueueingSystemEnabled=false
Session\\Interface=
Session\\InterfaceAddress=127.0.0.1
Session\\GlobalMaxSeedingMinutes=-1

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\Port={webui_port}
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
Connection\\UPnP=false
General\\Locale=en
"""


class QBittorrent:
    """A qbittorrent-nox with a fresh profile, driven through its WebUI API."""

    def __init__(self, profile: Path):
        self.profile = Path(profile)
        self.webui_port = free_port()
        conf = self.profile / "qBittorrent" / "config" / "qBittorrent.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(QBT_CONF.format(session_port=free_port(), webui_port=self.webui_port))
        self.base = f"http://127.0.0.1:{self.webui_port}/api/v2"
        self.process = None

    def __enter__(self):
        self.process = Process(["qbittorrent-nox", f"--profile={self.profile}", f"--webui-port={self.webui_port}"],
                               self.profile / "qbittorrent.log")
        try:
            wait_for(self._up, 30, what=f"qbittorrent-nox WebUI on port {self.webui_port}")
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.process.stop()

    def _up(self):
        if not self.process.alive():
            raise ClientFailed(f"qbittorrent-nox exited:\n{self.process.log()[-2000:]}")
        try:
            return self.get("/app/version")
        except (urllib.error.URLError, ConnectionError):
            return None

    def get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body[:1] in (b"[", b"{") else body.decode()

    def add(self, torrent: bytes, save_path: Path):
        boundary = uuid.uuid4().hex
        parts = [(b'Content-Disposition: form-data; name="torrents"; filename="t.torrent"\r\n'
                  b"Content-Type: application/x-bittorrent\r\n\r\n" + torrent),
                 b'Content-Disposition: form-data; name="savepath"\r\n\r\n' + str(save_path).encode()]
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        body += b"--" + boundary.encode() + b"--\r\n"
        req = urllib.request.Request(self.base + "/torrents/add", data=body, method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = r.read().decode()
        if answer.strip() != "Ok.":
            raise ClientFailed(f"qBittorrent refused the torrent: {answer}")

    def info(self, info_hash_hex: str) -> dict:
        found = self.get(f"/torrents/info?hashes={info_hash_hex}")
        return found[0] if found else {}

    def trackers(self, info_hash_hex: str) -> list:
        return self.get(f"/torrents/trackers?hash={info_hash_hex}")

    def download(self, torrent: bytes, save_path: Path, info_hash_hex: str, timeout: float = 90.0):
        """Add the torrent and wait until it is complete; the failure names the tracker's status."""
        save_path.mkdir(parents=True, exist_ok=True)
        self.add(torrent, save_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.info(info_hash_hex).get("progress") == 1:
                return
            time.sleep(0.2)
        raise ClientFailed(f"qBittorrent did not finish: {self.info(info_hash_hex)}; "
                           f"trackers: {self.trackers(info_hash_hex)}")


TRANSMISSION_SETTINGS = {
    "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
    "port-forwarding-enabled": False, "ratio-limit-enabled": True, "ratio-limit": 0,
    "rpc-enabled": False, "start-added-torrents": True,
}


def transmission_download(torrent: Path, out_dir: Path, done, timeout: float = 120.0):
    """transmission-cli until `done()` (it keeps running after the download): for web-seed
    tests, since transmission 3.00 never dials peers at 127.0.0.1 that a tracker hands it."""
    config_dir = Path(out_dir).with_name(Path(out_dir).name + "-transmission")
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "settings.json").write_text(json.dumps(TRANSMISSION_SETTINGS))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    proc = Process(["transmission-cli", "-g", str(config_dir), "-w", str(out_dir),
                    "-p", str(free_port()), "-M", "-D", "-U", str(torrent)], config_dir / "log")
    try:
        def finished():
            if done():
                return True
            if not proc.alive():
                raise ClientFailed(f"transmission-cli exited:\n{proc.log()[-2000:]}")
            return False
        wait_for(finished, timeout, interval=0.2,
                 what=f"transmission-cli's download:\n{proc.log()[-1500:]}")
    finally:
        proc.stop()
