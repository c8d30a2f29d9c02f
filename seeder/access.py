"""May an anonymous visitor from the Internet fetch this file? Apache answers, not torrentweb.

Access rules live in many places (.htaccess, <Directory>, <Location>, <Files>, authentication,
mod_rewrite, host rules, handlers); no reading of them by us could be trusted. So before a file
is published, and at every re-check, the daemon asks this server's Apache for the file's public
URL the way a visitor from the Internet would: from `access.probe_source`, naming
`access.probe_visitor` in `access.remoteip_header` (the snippet makes mod_remoteip believe it
from that address alone). A file is public only when Apache serves it, as the plain file, to
that visitor. Anything else, and anything that cannot be told, is not published.
"""
from __future__ import annotations

import concurrent.futures
import http.client
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from torrentweb.config import Config
from torrentweb.errors import Cancelled, TorrentwebError

log = logging.getLogger("torrentweb.access")

USER_AGENT = "torrentweb-access-check/0.1"
CHECK_MARK = "X-Torrentweb-Access-Check"     # set by the snippet on <prefix>access-check
VERIFY_EVERY = 30.0      # seconds between self-checks while probes keep coming
PROBE_THREADS = 4        # concurrent probes when a whole catalogue is re-checked
# Names the snippet's rewrite conditions and per-bundle checks can name safely: no percent sign
# (Apache would decode it into another path), no query or fragment marks, no quotes or
# backslashes (they would end the rule's string), no control characters.
SAFE_NAME = re.compile(r"^[^\x00-\x1f\x7f%?#'\"\\]+$")
OVERRIDE = ("set access.probe_url to where this server's Apache listens, or access.check: off "
            "to publish by the YAML rules alone")


class ApacheUnavailable(TorrentwebError):
    """Apache could not be asked at all (down, elsewhere, or without torrentweb's snippet):
    nothing new is published, and what is published keeps its last verdict."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"cannot ask Apache at {url} whether files may be published: {reason}; "
                         f"nothing new is published until it answers ({OVERRIDE})")


@dataclass(frozen=True)
class Verdict:
    public: bool
    reason: str = ""         # why not, for the log


PUBLIC = Verdict(True)


@dataclass(frozen=True)
class Fetched:
    """A page as the anonymous visitor got it (body None: longer than the caller's limit)."""
    status: int
    content_type: str
    content_encoding: str
    body: bytes | None


def name_verdict(rel: str) -> Verdict | None:
    """A name torrentweb cannot handle safely is never published (rename the file)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return Verdict(False, "its name is not valid UTF-8; rename the file to publish it")
    if not SAFE_NAME.match(rel):
        return Verdict(False, "its name has a character (% ? # ' \" \\ or a control character) that "
                              "Apache's access rules cannot be checked for; rename the file to publish it")
    if any(part.endswith(".torrent") for part in rel.split("/")[:-1]):
        return Verdict(False, "a directory on its path ends in .torrent, which would collide with a "
                              "file's torrent in the state directory's torrents/ tree; rename it")
    return None


class _TLS(http.client.HTTPSConnection):
    """TLS to our own Apache: no certificate check (it is this server), SNI of the site."""

    def __init__(self, host, port, server_name, **kw):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        super().__init__(host, port, context=ctx, **kw)
        self._server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


class AccessCheck:
    """Probes for one configuration. Thread-safe: each thread keeps its own keep-alive
    connection (the daemon probes from its hashing pool and from the re-check)."""

    def __init__(self, config: Config):
        self.config = config
        self.url = config.probe_url()
        parts = urlsplit(self.url)
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path or "/"
        self.site = urlsplit(config.base_url).netloc           # the Host: the site's own name
        self.headers = {"Host": self.site, "User-Agent": USER_AGENT,
                        "Accept-Encoding": "identity",
                        config.access.remoteip_header: config.access.probe_visitor}
        self._local = threading.local()
        self._verified_at = -1e9
        self._lock = threading.Lock()

    # the one request ------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kw = {"timeout": self.config.access.timeout,
                  "source_address": (self.config.access.probe_source, 0)}
            conn = (_TLS(self.host, self.port, urlsplit(self.config.base_url).hostname, **kw)
                    if self.scheme == "https" else http.client.HTTPConnection(self.host, self.port, **kw))
            self._local.conn = conn
        return conn

    def _head(self, url_path: str) -> http.client.HTTPResponse:
        """HEAD url_path as the visitor; one retry on a fresh connection (keep-alive ends)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("HEAD", url_path, headers=self.headers)
                resp = conn.getresponse()
                resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self._drop()
                return resp
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                if attempt == 2:
                    raise ApacheUnavailable(self.url, _describe(e)) from None
        raise AssertionError("unreachable")

    def fetch(self, target: str, limit: int) -> "Fetched":
        """GET target (path?query, as requested) as the anonymous visitor: what a visitor from
        the Internet gets, and nothing of a longer body than `limit` (body None then).
        Raises ApacheUnavailable."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("GET", target, headers=self.headers)
                resp = conn.getresponse()
                body = resp.read(limit + 1)
                too_long = len(body) > limit
                if too_long or resp.getheader("Connection", "").lower() == "close":
                    self._drop()
                return Fetched(resp.status, resp.getheader("Content-Type", ""),
                               resp.getheader("Content-Encoding", ""), None if too_long else body)
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                if attempt == 2:
                    raise ApacheUnavailable(self.url, _describe(e)) from None
        raise AssertionError("unreachable")

    def _drop(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    # checks ---------------------------------------------------------------------------------

    def verify(self):
        """Apache must see the probe as a visitor from the Internet: the snippet's
        <prefix>access-check answers 403 to it (Require local). Raises ApacheUnavailable."""
        resp = self._head(self.path.rstrip("/") + self.config.apache.prefix + "access-check")
        ours = resp.getheader(CHECK_MARK) == "snippet"
        if resp.status == 403 and ours:
            with self._lock:
                self._verified_at = time.monotonic()
            return
        if not ours:
            raise ApacheUnavailable(self.url, "it does not have torrentweb's snippet for this "
                                    f"configuration (access-check answered {resp.status} without "
                                    f"the snippet's mark; see apache-config)")
        if resp.status == 200:
            raise ApacheUnavailable(self.url, "it takes the probe for a local visitor (is mod_remoteip "
                                    f"loaded, and does the snippet trust {self.config.access.probe_source}?)")
        raise ApacheUnavailable(self.url, f"access-check answered {resp.status} {resp.reason}, not 403")

    def _verified(self):
        with self._lock:
            fresh = time.monotonic() - self._verified_at < VERIFY_EVERY
        if not fresh:
            self.verify()

    def check(self, rel: str, size: int) -> Verdict:
        """May an anonymous visitor from the Internet fetch docroot/rel, as this very file?"""
        bad = name_verdict(rel)
        if bad:
            return bad
        self._verified()
        resp = self._head(self.path + quote(rel))
        if resp.status == 200:
            length = resp.getheader("Content-Length")
            if length == str(size) and not resp.getheader("Content-Encoding"):
                return PUBLIC
            return Verdict(False, f"Apache does not serve it as the plain file (200 with "
                                  f"{length or 'no'} Content-Length, the file has {size} bytes): "
                                  f"a handler or a rewrite answers at its URL")
        if resp.status >= 500:
            return Verdict(False, f"Apache answers {resp.status} {resp.reason} at its URL, so it "
                                  f"cannot be told whether a visitor may fetch it ({OVERRIDE})")
        return Verdict(False, f"Apache answers {resp.status} {resp.reason} to an anonymous visitor "
                              f"from the Internet")

    def check_all(self, items, cancel=lambda: False) -> dict[str, Verdict]:
        """{rel: Verdict} for (rel, size) pairs, a few probes at a time. Raises Cancelled once
        `cancel()` (the daemon is stopping): the probes under way end, no new one starts."""
        items = list(items)
        if not items:
            return {}
        self.verify()

        def check(rel, size):
            if cancel():
                raise Cancelled(f"{rel}: not asked about, the daemon is stopping")
            return self.check(rel, size)
        with concurrent.futures.ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="access") as pool:
            verdicts = pool.map(lambda item: check(*item), items)
            return {rel: v for (rel, _), v in zip(items, verdicts)}


class OpenAccess:
    """access.check: off: the operator vouches that Apache applies no access rule under the
    document root; the YAML rules alone decide."""

    def verify(self):
        pass

    def check(self, rel: str, size: int) -> Verdict:
        return name_verdict(rel) or PUBLIC

    def check_all(self, items, cancel=lambda: False) -> dict[str, Verdict]:
        return {rel: self.check(rel, size) for rel, size in items}


def access_check(config: Config):
    if config.access.check == "off":
        return OpenAccess()
    return AccessCheck(config)


def _describe(e: Exception) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError) or "timed out" in str(e):
        return "no answer in time"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
