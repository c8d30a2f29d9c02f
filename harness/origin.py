"""An origin on loopback: the real Apache (mod_wsgi, the project's snippet) and the seeder daemon
(seeder + tracker) serving one document root. Shared by `make demo` (demo/run.py) and the
flash-crowd benchmark (bench/flashcrowd.py).

    origin = Origin.start(docroot, workdir, port=None, settings={...}, apache_extra="")
    try:
        origin.url                 # http://127.0.0.1:PORT/
        origin.status()            # the daemon's status.json (dict)
    finally:
        origin.stop()              # both stopped by PID (process groups), nothing left behind

It is built from the same helpers as the tests' fixtures (harness.apache's start_apache, the daemon
runner that waits for READY=1), so the demo, the benchmarks and the tests start things one way.
"""
from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from torrentweb import config as configuration

from .apache import ApacheServer, start_apache
from .daemon import Daemon, Site
from .ports import free_port

RULES = [{"mimetype": "image/*", "min_size": "64KiB", "swap": True},
         {"mimetype": "video/*", "swap": True}]


class OriginError(Exception):
    """The origin could not start: the message says which part and why (its log's tail)."""


@dataclass
class Origin:
    root: Path
    site: Site
    apache: ApacheServer
    daemon: Daemon

    @property
    def url(self) -> str:
        return self.apache.url

    @property
    def config(self):
        return configuration.load(self.site.config_path)

    def status(self) -> dict:
        try:
            return json.loads((self.site.state / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait_published(self, page: str = "", timeout: float = 120.0) -> bool:
        """Until `page` carries its <link rel="torrent">: the daemon hashes after READY=1, and a
        page asked for before its assets are published is served unchanged. False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + page, timeout=10) as r:
                    if b'rel="torrent"' in r.read():
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def stop(self):
        """Apache first (no new visitors), then the daemon; each by its process group."""
        errors = []
        for part in (self.apache, self.daemon):
            try:
                part.stop()
            except Exception as e:      # keep stopping the rest
                errors.append(f"{type(part).__name__}: {e}")
        if errors:
            raise OriginError("; ".join(errors))

    @classmethod
    def start(cls, docroot: Path, workdir: Path, port: int | None = None,
              settings: dict | None = None, apache_extra: str = "",
              base_url: str | None = None) -> "Origin":
        """Write the YAML, start the daemon (until READY=1), then Apache in front of it.

        base_url: what goes into torrents' web seeds and announce URLs (default: Apache's URL);
        a benchmark that puts a throttle in front of Apache passes the throttle's URL.
        """
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        site = Site(workdir)
        site.settings = {
            "docroot": str(Path(docroot).resolve()),
            "base_url": base_url or f"http://127.0.0.1:{port}/",
            "state_dir": str(site.state),
            "rules": RULES,
            "exclude": ["**/.*"],
            "seeder": {"listen": f"127.0.0.1:{free_port()}"},
            "tracker": {"http": f"127.0.0.1:{free_port()}", "udp": None,
                        "websocket": f"127.0.0.1:{free_port()}"},
            "pages": {"p2p": "auto"},
        }
        for key, value in (settings or {}).items():
            if isinstance(value, dict) and isinstance(site.settings.get(key), dict):
                site.settings[key] = {**site.settings[key], **value}
            else:
                site.settings[key] = value
        site.write_config()
        config = configuration.load(site.config_path)        # a mistake stops here, located
        site.state.mkdir(parents=True, exist_ok=True)
        # Apache first, as in production: the seeder's first announce goes through its proxy
        # (a refused one makes libtorrent back off for a while).
        try:
            apache = start_apache(workdir, config, port=port, extra=apache_extra)
        except BaseException as e:
            raise OriginError(f"Apache did not start: {e}") from None
        daemon = Daemon(site, workdir / "seeder.log")
        try:
            daemon.wait_ready(timeout=120)
        except BaseException as e:
            daemon.stop()
            apache.stop()
            raise OriginError(f"the seeder daemon did not start ({e}):\n{daemon.log()[-3000:]}") from None
        return cls(workdir, site, apache, daemon)
