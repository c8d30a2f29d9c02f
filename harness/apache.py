"""A real Apache httpd with the real mod_wsgi, from a test's own config, on a loopback port.

    server = start_apache(tmp_path, config)          # port from config.base_url, or a free one
    try:
        urllib.request.urlopen(server.url + "page.html")
        server.access_log_lines()                    # '%h "%r" %>s %O "%{Range}i" %{ms}T'
    finally:
        server.stop()

httpd runs as www-data (it refuses root), so the fixture makes the document root readable and
the state directory group-owned by www-data (setgid, group-writable) before starting it.
"""
from __future__ import annotations

import grp
import os
import socket
import stat
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from torrentweb.apache.standalone import standalone_config
from torrentweb.config import AccessConfig

from .ports import free_port
from .processes import Process, wait_for

APACHE = "/usr/sbin/apache2"
PROBE_VISITOR = AccessConfig().probe_visitor      # how Apache logs the daemon's access probes


@dataclass
class ApacheServer:
    url: str                # http://127.0.0.1:PORT/
    port: int
    root: Path              # ServerRoot: httpd.conf, torrentweb.conf, logs/, run/
    process: Process

    @property
    def access_log(self) -> Path:
        return self.root / "logs" / "access.log"

    def access_log_lines(self) -> list[str]:
        """'%h "%r" %>s %O "%{Range}i" %{ms}T' per request (written when the response ends),
        visitors only: the daemon's access probes (client access.probe_visitor, through
        mod_remoteip) are left out, they are not what any visitor fetched."""
        try:
            lines = self.access_log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        return [line for line in lines if not line.startswith(PROBE_VISITOR + " ")]

    def error_log(self) -> str:
        try:
            return (self.root / "logs" / "error.log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        self.process.stop()


def http_get(port: int, target: str, headers=None, source: str = "127.0.0.1"):
    """One GET on loopback, from `source` (127.0.0.2 is the access probe's address):
    (status, {lower-case header: value}, body)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", target, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def start_apache(tmp_path, config, port: int | None = None, extra: str = "",
                 snippet: str | None = None, name: str = "httpd", mpm: str = "event") -> ApacheServer:
    """Start httpd from tmp_path/<name>/httpd.conf; stop it with .stop() in a finally.

    extra: config lines added before the snippet (e.g. a WSGIScriptAlias for a test app);
    snippet: replaces the rendered `torrentweb apache-config` output;
    mpm: "prefork" for Debian's mod_php.
    """
    port = port or _port_of(config.base_url) or free_port()
    root = Path(tmp_path) / name
    for sub in ("logs", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    grant_web_access(config, root)
    for filename, text in standalone_config(config, root, port, extra, snippet, mpm).items():
        (root / filename).write_text(text, encoding="utf-8")
    conf = str((root / "httpd.conf").resolve())
    check = subprocess.run([APACHE, "-t", "-f", conf], capture_output=True, text=True, env=_env())
    if check.returncode != 0:
        raise AssertionError(f"apache2 -t rejected {conf}:\n{check.stderr}{check.stdout}")
    process = Process([APACHE, "-f", conf, "-k", "start", "-DFOREGROUND"],
                      log_path=root / "logs" / "stderr.log", env=_env())
    server = ApacheServer(f"http://127.0.0.1:{port}/", port, root, process)
    try:
        wait_for(lambda: _answers(server), timeout=30, what=f"httpd answering on port {port}")
    except BaseException:
        server.stop()
        raise AssertionError(f"httpd did not start:\n{process.log()}\n{server.error_log()}")
    return server


def grant_web_access(config, *extra_dirs):
    """Let www-data reach the docroot (read), the state dir (group rw) and the server root."""
    group = grp.getgrnam(config.apache.group).gr_gid
    for d in (Path(config.docroot), Path(config.state_dir), *map(Path, extra_dirs)):
        d.mkdir(parents=True, exist_ok=True)
        for parent in d.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
    for d in (Path(config.docroot), *map(Path, extra_dirs)):
        for path in [d, *d.rglob("*")]:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            add = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
            os.chmod(path, stat.S_IMODE(mode) | add)
    state = Path(config.state_dir)
    for path in [state, *state.rglob("*")]:
        if path.is_symlink():
            continue
        os.chown(path, -1, group)
        mode = stat.S_IMODE(path.lstat().st_mode)
        os.chmod(path, mode | (0o2775 if path.is_dir() else 0o664))


def _answers(server: ApacheServer) -> bool:
    if not server.process.alive():
        raise AssertionError(f"httpd exited:\n{server.process.log()}\n{server.error_log()}")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=1):
            pass
        urllib.request.urlopen(server.url + ".torrentweb/ready-probe", timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _port_of(url: str) -> int | None:
    parts = urlsplit(url)
    return parts.port if parts.hostname in ("127.0.0.1", "localhost") else None


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE")}
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    return env
