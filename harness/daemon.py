"""Run the real daemon (`torrentweb seeder`) as a subprocess, ready when it says READY=1."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from torrentweb.config import load as load_config

from .apache import start_apache
from .ports import free_port
from .processes import Process, wait_for

TORRENTWEB = str(Path(sys.executable).with_name("torrentweb"))


@dataclass
class Site:
    """A document root, a state directory and a YAML config for them, under one tmp dir."""
    root: Path
    settings: dict = field(default_factory=dict)
    docroot_name: str = "www"

    @property
    def docroot(self) -> Path:
        return self.root / self.docroot_name

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "torrentweb.yaml"

    def write_config(self, **overrides):
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(self.settings.get(key), dict):
                self.settings[key].update(value)
            else:
                self.settings[key] = value
        self.config_path.write_text(yaml.safe_dump(self.settings, sort_keys=False))
        return self.config_path

    def add(self, rel: str, data: bytes, mode=0o644) -> Path:
        path = self.docroot / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
        return path

    def catalogue(self) -> dict:
        """path -> row, read the way the Apache side reads it (a separate connection)."""
        db = self.state / "catalogue.sqlite"
        if not db.exists():
            return {}
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return {r[0]: r for r in c.execute("SELECT path, size, mtime_ns, info_hash, piece_size, "
                                               "torrent FROM files")}

    def bundles(self) -> dict:
        """files (sorted tuple) -> info-hash of the catalogued page bundles."""
        db = self.state / "catalogue.sqlite"
        if not db.exists():
            return {}
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return {tuple(sorted(json.loads(files))): ih
                    for ih, files in c.execute("SELECT info_hash, files FROM bundles")}

    def torrent(self, rel: str) -> bytes:
        return (self.state / "torrents" / (rel + ".torrent")).read_bytes()


def make_site(root: Path, base_url=None, docroot_name="www", **settings) -> Site:
    """A site with free ports for everything the daemon binds, never a default one."""
    site = Site(Path(root), docroot_name=docroot_name)
    site.docroot.mkdir(parents=True, exist_ok=True)
    os.chmod(site.root, 0o755)
    tracker_port = free_port()
    site.settings = {
        "docroot": str(site.docroot),
        # nothing listens there: a web seed that cannot help, unless a test starts Apache
        "base_url": base_url or f"http://127.0.0.1:{free_port()}/",
        "state_dir": str(site.state),
        "rules": [{"mimetype": "image/*", "min_size": "1KiB"}, {"mimetype": "video/*"},
                  {"mimetype": "application/zip"}],
        "exclude": ["private/**", "**/.*"],
        "watch": {"settle": 0.3},
        "seeder": {"listen": f"127.0.0.1:{free_port()}"},
        "tracker": {"http": f"127.0.0.1:{tracker_port}", "udp": f"127.0.0.1:{tracker_port}",
                    "websocket": f"127.0.0.1:{free_port()}",
                    "announce": [f"http://127.0.0.1:{tracker_port}/announce"]},
        # no Apache to ask in most tests: the YAML rules alone (daemon_behind_apache asks it)
        "access": {"check": "off"},
    }
    for key, value in settings.items():
        site.settings[key] = value
    site.write_config()
    return site


class Daemon:
    """`torrentweb seeder -c CONFIG` with $NOTIFY_SOCKET pointing at a socket of ours."""

    def __init__(self, site: Site, log_path: Path, prefix=()):
        """`prefix`: a command the daemon runs under, e.g. ("prlimit", "--nofile=1024")."""
        self.site = site
        self.sock_dir = tempfile.mkdtemp(prefix="tw-notify-")
        self.sock_path = os.path.join(self.sock_dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(0.05)
        self.messages: list[str] = []
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path, PYTHONUNBUFFERED="1")
        self.proc = Process([*prefix, TORRENTWEB, "seeder", "-c", str(site.config_path)], log_path, env=env)

    def notifications(self) -> list[str]:
        while self.sock.fileno() != -1:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                break
        return self.messages

    def wait_notified(self, text: str, timeout=60.0, after=0):
        def seen():
            assert self.proc.alive(), f"daemon exited:\n{self.log()}"
            return any(text in m for m in self.notifications()[after:])
        wait_for(seen, timeout, what=f"{text!r} from the daemon")

    def wait_ready(self, timeout=60.0):
        self.wait_notified("READY=1", timeout)
        return self

    def wait_log(self, text: str, timeout=30.0, count=1):
        wait_for(lambda: self.log().count(text) >= count, timeout,
                 what=f"{text!r} x{count} in the daemon's log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.proc.log()

    def published(self, rel: str) -> int:
        return sum(1 for line in self.log().splitlines() if f"published {rel} " in line)

    def stop(self, sig=None):
        rc = self.proc.stop(sig) if sig else self.proc.stop()
        self.notifications()
        self.sock.close()
        try:
            os.unlink(self.sock_path)
            os.rmdir(self.sock_dir)
        except OSError:
            pass
        return rc


def start_daemon(site: Site, log_path: Path, ready=True) -> Daemon:
    d = Daemon(site, log_path)
    if ready:
        d.wait_ready()
    return d


@contextlib.contextmanager
def daemon_behind_apache(site: Site, workdir: Path, port: int | None = None, extra: str = "",
                         mpm: str = "event"):
    """Apache first, as in production (the seeder's first announce goes through its proxy), then
    the daemon until READY=1; both stopped by PID, whatever the test did."""
    site.write_config(access={"check": "probe"})     # as in production: Apache decides
    server = start_apache(workdir, load_config(site.config_path), port=port, extra=extra, mpm=mpm)
    daemon = None
    try:
        daemon = start_daemon(site, Path(workdir) / "daemon.log")
        yield server, daemon
    finally:
        if daemon:
            daemon.stop()
        server.stop()
