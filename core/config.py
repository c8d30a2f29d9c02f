"""Typed configuration, loaded from YAML and validated once, at the edge.

Every component gets a frozen dataclass (`@section`); inside the program the values are
trusted. pydantic validates the YAML against those dataclasses, each field's parser being its
validator, so the dataclass is the one definition of every key, type and default. A mistake
raises ConfigError naming file, line, column and key (PyYAML's node marks give the position),
unknown keys are rejected, and nothing silently falls back.
"""
from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Annotated
from pathlib import Path
from urllib.parse import urlsplit

import pydantic
import yaml

from .errors import ConfigError

KIB = 1024
_SIZE_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": KIB, "M": 1000**2, "MB": 1000**2,
               "MIB": KIB**2, "G": 1000**3, "GB": 1000**3, "GIB": KIB**3, "T": 1000**4,
               "TB": 1000**4, "TIB": KIB**4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Address:
    """A listen address: host and port. Port 0 asks the kernel for a free one."""
    host: str
    port: int

    def __str__(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _size(text) -> int:
    """Parse 64KiB, 4GiB, 10MB or a plain byte count."""
    if isinstance(text, bool):
        raise ValueError("expected a size such as 64KiB, 4GiB or a number of bytes")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("expected a size that is not negative")
        return text
    m = _SIZE_RE.match(str(text))
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 64KiB, 4GiB or a number of bytes, got {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def _address(text) -> Address:
    """Parse host:port or [v6]:port."""
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", str(text)) or re.match(r"^([^:\[\]]+):(\d+)$", str(text))
    if not m:
        raise ValueError(f"expected host:port (IPv6 as [::1]:port), got {text!r}")
    host, port = m.group(1), int(m.group(2))
    if not 0 <= port <= 65535:
        raise ValueError(f"expected a port from 0 to 65535, got {port}")
    if not _valid_host(host):
        raise ValueError(f"expected an IP address or a host name before the port, got {host!r}")
    return Address(host, port)


def _valid_host(host: str) -> bool:
    """An IP address, or a DNS name (what looks like dotted digits must be a real IPv4)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", host):
        return False
    return bool(re.fullmatch(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?", host))


def _optional_address(text):
    return None if text is None else _address(text)


def _mimetype_pattern(text) -> str:
    if not isinstance(text, str) or not re.match(r"^[\w.+-]+/(\*|[\w.+-]+)$", text):
        raise ValueError(f"expected a mimetype such as image/* or video/mp4, got {text!r}")
    return text.lower()


def _url(text) -> str:
    parts = urlsplit(str(text))
    if parts.scheme not in ("http", "https", "ws", "wss", "udp") or not parts.netloc:
        raise ValueError(f"expected an absolute http(s)://, ws(s):// or udp:// URL, got {text!r}")
    return str(text)


def _base_url(text) -> str:
    parts = urlsplit(str(text))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an absolute http:// or https:// URL, got {text!r}")
    return str(text) if str(text).endswith("/") else str(text) + "/"


def _network(text):
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        raise ValueError(f"expected an IP address or network such as 127.0.0.1 or 10.0.0.0/8, got {text!r}")


def _positive(kind):
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"expected a {kind} that is not negative, got {value!r}")
        return value
    return parse


def _count(kind, minimum=0, maximum=None):
    """A whole number in [minimum, maximum]: 2.5 workers or 100.5 connections are mistakes
    (libtorrent and httpd take integers only), never rounded."""
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number of {kind}, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise ValueError(f"expected {bounds} {kind}, got {value!r}")
        return value
    return parse


def _at_least_one(kind):
    """A limit that 0 would turn into "refuse everything"."""
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
            raise ValueError(f"expected a {kind} of at least 1, got {value!r}")
        return value
    return parse


def _fraction(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"expected a fraction above 0 and at most 1, such as 0.5, got {value!r}")
    return value


def _one_of(*choices):
    def parse(value):
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    return parse


def parsed(parse, default=dataclasses.MISSING, **kw):
    """A field whose YAML value goes through `parse` (which raises ValueError with the reason)."""
    if default is dataclasses.MISSING and "default_factory" not in kw:
        return field(metadata={"parse": parse})
    if "default_factory" in kw:
        return field(default_factory=kw["default_factory"], metadata={"parse": parse})
    return field(default=default, metadata={"parse": parse})


def section(cls):
    """A frozen dataclass of the config, validated by pydantic when loaded from YAML.

    The dataclass is the one definition: each `parsed` field's parser becomes its pydantic
    BeforeValidator (our messages, our units), bools and strings are strict (1 is not true, 3 is
    not "3"), unknown keys are refused. Built in code, the dataclass is not re-validated."""
    cls = dataclass(frozen=True)(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if "parse" in f.metadata:
            hint = Annotated[hint, pydantic.BeforeValidator(f.metadata["parse"])]
        elif hint is bool:
            hint = pydantic.StrictBool
        elif hint is str:
            hint = pydantic.StrictStr
        f.type = cls.__annotations__[f.name] = hint
    return pydantic.with_config(pydantic.ConfigDict(extra="forbid"))(cls)


SWAPPED_BY_DEFAULT = ("image", "video", "audio")


def _optional_bool(v):
    if v is not None and not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


@section
class Rule:
    """A file is torrented when its mimetype matches and its size lies in [min_size, max_size]."""
    mimetype: str = parsed(_mimetype_pattern)
    min_size: int = parsed(_size, 0)
    max_size: typing.Optional[int] = parsed(lambda v: None if v is None else _size(v), None)
    # a hot page's loader takes these from the swarm; None = yes for image/*, video/*, audio/*
    swap: typing.Optional[bool] = parsed(_optional_bool, None)

    @property
    def swaps(self) -> bool:
        if self.swap is not None:
            return self.swap
        return self.mimetype.partition("/")[0] in SWAPPED_BY_DEFAULT

    def matches(self, mimetype: str, size: int) -> bool:
        major, _, minor = self.mimetype.partition("/")
        m_major, _, m_minor = mimetype.partition("/")
        if major != m_major or (minor != "*" and minor != m_minor):
            return False
        return size >= self.min_size and (self.max_size is None or size <= self.max_size)


@section
class WatchConfig:
    method: str = parsed(_one_of("inotify", "polling"), "inotify")
    settle: float = parsed(_positive("number of seconds"), 0.5)
    open_write_timeout: float = parsed(_positive("number of seconds"), 30.0)
    poll_interval: float = parsed(_positive("number of seconds"), 1.0)


@section
class TorrentsConfig:
    hybrid: bool = False        # BEP 52 v1+v2; WebTorrent and several native clients need v1-only
    web_seed: bool = True       # the origin's URL as BEP 19 url-list
    # The document root's URL on every frontend serving this site (each an origin and a web
    # seed, README "Scaling past one machine"); () = base_url alone.
    web_seeds: typing.Tuple[str, ...] = parsed(lambda v: _unique(_base_url(u) for u in _list(v)), ())
    hash_threads: int = parsed(_count("threads", 1), 1)


@section
class SeederConfig:
    listen: Address = parsed(_address, Address("0.0.0.0", 6881))
    upload_limit: int = parsed(_size, 0)            # bytes/s for the whole session, 0 = unlimited
    connections_limit: int = parsed(_count("connections", 1), 500)
    # A flash crowd: a few slots rotated every second make visitors trade among themselves instead
    # of all pulling the same pieces from the seeder (bench/RESULTS.md, flash crowd).
    unchoke_slots: int = parsed(_count("slots"), 2)  # 0 = libtorrent's automatic choker
    unchoke_interval: float = parsed(_positive("number of seconds"), 1.0)
    # Where a swarm's visitor seeders are at least twice its leechers (the daemon's own
    # tracker counts them), or where 8 visitors or more hold every piece between them, the
    # seeder holds its upload back there (seeder/session.py hold_back).
    hold_back: bool = True
    webtorrent: bool = True
    # Swarms offering WebRTC at once (each holds ~10 UDP sockets); 0 = as many as the nofile
    # limit allows (seeder/webrtc.py: cap_for). A lower number only lowers that.
    webrtc_swarms: int = parsed(_positive("number"), 0)
    stun_server: str = ""
    # The address the daemon's own tracker hands out for this seeder (seeder/presence.py);
    # "" = seeder.listen's host, or for a wildcard the address base_url's host has here.
    announce_ip: str = parsed(lambda v: "" if v in (None, "") else _ip(v), "")
    validate_https_trackers: bool = True
    outgoing_interface: str = ""


@section
class TrackerConfig:
    http: typing.Optional[Address] = parsed(_optional_address, Address("127.0.0.1", 6969))
    udp: typing.Optional[Address] = parsed(_optional_address, Address("127.0.0.1", 6969))
    websocket: typing.Optional[Address] = parsed(_optional_address, Address("127.0.0.1", 6970))
    announce: typing.Tuple[str, ...] = parsed(lambda v: tuple(_url(u) for u in _list(v)), ())
    open: bool = False
    interval: int = parsed(_count("seconds", 1), 120)
    min_interval: int = parsed(_count("seconds"), 30)
    grace: int = parsed(_count("seconds"), 60)
    numwant_default: int = parsed(_count("peers"), 50)
    numwant_max: int = parsed(_count("peers"), 80)
    # Apache on this host proxies the tracker: X-Forwarded-For from loopback is believed
    trusted_proxies: typing.Tuple[typing.Any, ...] = parsed(
        lambda v: tuple(_network(x) for x in _list(v)),
        (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")))
    allow_ip_param: bool = False
    # per address, 0 = off; far above a real client (one announce per torrent per interval),
    # far below a flood (bench/tracker.py turns it off to measure the tracker itself)
    rate_limit: float = parsed(_positive("number of requests per second"), 50)
    rate_burst: int = parsed(_count("announces", 1), 500)
    max_peers_per_swarm: int = parsed(_count("peers", 1), 5000)   # then new peers are refused
    header_timeout: float = parsed(_at_least_one("number of seconds"), 10)   # HTTP head, WebSocket handshake
    max_connections: int = parsed(_count("connections", 1), 4096)   # open at once, per TCP listener
    max_offers: int = parsed(_count("offers"), 10)
    max_message_size: int = parsed(_size, 64 * KIB)
    ws_idle_timeout: int = parsed(_count("seconds"), 0)      # 0 = 2 x interval
    udp_secret_rotation: int = parsed(_count("seconds", 1), 120)


def _url_prefix(text) -> str:
    t = _str(text)
    if not re.match(r"^/[A-Za-z0-9._~/-]*/$", t) or "//" in t or "/../" in t:
        raise ValueError(f"expected an absolute URL path ending in '/', such as /.torrentweb/, got {text!r}")
    return t


def _url_paths(v) -> typing.Tuple[str, ...]:
    paths = tuple(_str(x) for x in _list(v))
    for p in paths:
        if not p.startswith("/") or any(c in p for c in "#?\"' ") or any(ord(c) < 32 for c in p):
            raise ValueError(f"expected URL paths such as /blog/ (starting with /, no query, quote or "
                             f"space), got {p!r}")
    if not paths:
        raise ValueError("expected at least one URL path, such as /")
    return paths


def _content_types(v) -> typing.Tuple[str, ...]:
    types = tuple(_str(x).lower() for x in _list(v))
    for t in types:
        if not re.match(r"^[a-z0-9.+-]+/[a-z0-9.+-]+$", t):
            raise ValueError(f"expected content types such as text/html, got {t!r}")
    if not types:
        raise ValueError("expected at least one content type, such as text/html")
    return types


@section
class DynamicConfig:
    """Pages that no file holds (PHP, CGI, proxied apps): a mod_lua output filter in Apache adds
    what the daemon prepared from the page's anonymous view, fetched through Apache."""
    enabled: bool = True        # needs mod_lua and mod_filter (Debian: a2enmod lua filter)
    paths: typing.Tuple[str, ...] = parsed(_url_paths, ("/",))     # URL path prefixes handled
    content_types: typing.Tuple[str, ...] = parsed(_content_types, ("text/html",))
    fetches_per_minute: int = parsed(_count("fetches per minute", 1), 30)   # anonymous fetches, at most
    max_pages: int = parsed(_count("pages", 1), 1000)       # distinct URLs prepared at once, at most
    revalidate: float = parsed(_positive("number of seconds"), 300.0)   # a requested page is fetched again after


@section
class HotConfig:
    """When a page turns hot (pages.p2p: auto) and back. Hot: `views` page views within `window`
    seconds, or the origin's egress at `egress` x pages.uplink while the page has visitors.
    Cold again once neither has held for `cool_down` seconds and fewer than `swarm` visitors
    seed the page."""
    views: int = parsed(_count("page views", 1), 1)
    window: float = parsed(_at_least_one("number of seconds"), 10.0)
    egress: float = parsed(_fraction, 0.5)
    swarm: int = parsed(_count("seeders"), 4)
    cool_down: float = parsed(_positive("number of seconds"), 60.0)


@section
class PagesConfig:
    """The Apache-side filter: which pages get a <link rel="torrent"> and what goes into it."""
    enabled: bool = True        # inject links into HTML pages and build page bundles
    large_file_size: int = parsed(_size, 32 * KIB * KIB)   # assets above: own single-file torrent
    max_page_size: int = parsed(_size, 8 * KIB * KIB)      # bigger pages pass through unchanged
    # auto: the origin decides per page from its load (hot: swarm first; cold: plain HTTP, then
    # the visitor seeds what it has); always: every page swarm first; off: no browser loader
    p2p: str = parsed(_one_of("auto", "always", "off"), "auto")
    # the origin's uplink, bytes/s, that HTTP and the seeder share; 0 = not known: pages turn
    # hot from their own request rate alone, and the seeder feeds unchoke_slots visitors a swarm
    uplink: int = parsed(_size, 0)
    hot: HotConfig = HotConfig()
    rendered_copies: bool = True   # the daemon writes injected copies Apache serves by itself
    # a bundle that no HTML file of the docroot links any more is withdrawn after this long
    # (pages the daemon cannot see, such as WSGI apps', ask for theirs again when it is gone)
    unused_bundle_grace: float = parsed(_positive("number of seconds"), 3600.0)
    dynamic: DynamicConfig = DynamicConfig()


@section
class ApacheConfig:
    """What `torrentweb apache-config` renders into the httpd snippet."""
    prefix: str = parsed(_url_prefix, "/.torrentweb/")     # URL space of torrents and the web seed
    user: str = "www-data"      # mod_wsgi daemon process user (reads docroot and state dir)
    group: str = "www-data"
    processes: int = parsed(_count("processes", 1), 1)
    threads: int = parsed(_count("threads", 1), 15)
    python_home: str = ""       # venv with torrentweb installed; "" = the one running the command
    mode: str = parsed(_one_of("daemon", "embedded"), "daemon")   # where the filter's Python runs


@section
class LoaderConfig:
    """The browser loader's thresholds, passed to the page as data-* attributes (loader issue).
    Whether the loader is injected at all is pages.p2p; its files are under {apache.prefix}js/."""
    deadline: float = parsed(_positive("number of seconds"), 3.0)        # swarm's time before HTTP
    scrape: bool = True         # the tracker's reply says no seeders -> HTTP at once
    upload_limit: int = parsed(_size, 1024 * KIB)   # bytes/s per tab while seeding, 0 = unlimited
    seed_time: float = parsed(_positive("number of seconds"), 0)        # 0 = until pagehide
    metered_upload: bool = False  # upload from visitors on metered connections too
    max_file_size: int = parsed(_size, 64 * KIB * KIB)   # larger swapped files go straight to HTTP


def _ip(text) -> str:
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        raise ValueError(f"expected an IP address such as 127.0.0.2, got {text!r}") from None


def _optional_base_url(text) -> str:
    return "" if text in (None, "") else _base_url(text)


def _header_name(text) -> str:
    if not isinstance(text, str) or not re.match(r"^[A-Za-z0-9-]+$", text):
        raise ValueError(f"expected an HTTP header name such as X-Forwarded-For, got {text!r}")
    return text


@section
class AccessConfig:
    """Asking Apache, as an anonymous visitor from the Internet, before anything is published.

    The probe connects from `probe_source` and names `probe_visitor` in `remoteip_header`;
    the snippet makes mod_remoteip believe that header from `probe_source` alone, and refuses
    every other claim from there, so no one on the machine gains anything by sending it."""
    check: str = parsed(_one_of("probe", "off"), "probe")
    probe_url: str = parsed(_optional_base_url, "")          # "" = base_url's scheme and port on 127.0.0.1
    probe_source: str = parsed(_ip, "127.0.0.2")
    probe_visitor: str = parsed(_ip, "203.0.113.9")          # TEST-NET-3: no access rule names it
    remoteip_header: str = parsed(_header_name, "X-Torrentweb-Visitor")
    recheck: float = parsed(_positive("number of seconds"), 300.0)   # 0 = only on changes and SIGHUP
    timeout: float = parsed(_positive("number of seconds"), 5.0)


def _loopback_address(text):
    """The metrics endpoint: operators' numbers, never on a public interface."""
    if text is None:
        return None
    address = _address(text)
    try:
        loopback = ipaddress.ip_address(address.host).is_loopback
    except ValueError:
        loopback = address.host == "localhost"
    if not loopback:
        raise ValueError(f"expected a loopback address such as 127.0.0.1:9469 or [::1]:9469 "
                         f"(metrics are not for the public), got {text!r}")
    return address


@section
class MetricsConfig:
    """Prometheus metrics of the daemon (torrents, peers, bytes up, offload, announces/s)."""
    listen: typing.Optional[Address] = parsed(_loopback_address, None)   # None = off


@section
class Config:
    docroot: Path = parsed(lambda v: Path(_str(v)))
    base_url: str = parsed(_base_url)
    state_dir: Path = parsed(lambda v: Path(_str(v)), Path("/var/lib/torrentweb"))
    rules: typing.Tuple[Rule, ...] = ()
    exclude: typing.Tuple[str, ...] = parsed(lambda v: tuple(_str(x) for x in _list(v)), ())
    mimetypes: typing.Dict[str, str] = parsed(lambda v: _mimetypes(v), default_factory=dict)
    log_level: str = parsed(_one_of("debug", "info", "warning", "error"), "info")
    watch: WatchConfig = WatchConfig()
    torrents: TorrentsConfig = TorrentsConfig()
    seeder: SeederConfig = SeederConfig()
    tracker: TrackerConfig = TrackerConfig()
    loader: LoaderConfig = LoaderConfig()
    pages: PagesConfig = PagesConfig()
    apache: ApacheConfig = ApacheConfig()
    metrics: MetricsConfig = MetricsConfig()
    access: AccessConfig = AccessConfig()
    path: typing.Optional[Path] = field(default=None, metadata={"internal": True})

    @property
    def torrents_dir(self) -> Path:
        """Single-file torrents, in a tree that mirrors the document root."""
        return self.state_dir / "torrents"

    @property
    def catalogue_path(self) -> Path:
        return self.state_dir / "catalogue.sqlite"

    @property
    def base_path(self) -> str:
        """The URL path of the document root on the origin (ends in /)."""
        return urlsplit(self.base_url).path or "/"

    def probe_url(self) -> str:
        """Where the daemon asks Apache: access.probe_url, or base_url's scheme and port on
        127.0.0.1 (the request still names base_url's host)."""
        if self.access.probe_url:
            return self.access.probe_url
        parts = urlsplit(self.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://127.0.0.1:{port}{self.base_path}"

    def web_seed_bases(self) -> typing.Tuple[str, ...]:
        """The document root's URL on every frontend: torrents.web_seeds, or base_url alone."""
        return self.torrents.web_seeds or (self.base_url,)

    def announce_urls(self) -> typing.Tuple[str, ...]:
        """The announce list put into new torrents: configured, or derived from base_url."""
        if self.tracker.announce:
            return self.tracker.announce
        parts = urlsplit(self.base_url)
        ws = "wss" if parts.scheme == "https" else "ws"
        urls = []
        if self.tracker.http:
            urls.append(f"{parts.scheme}://{parts.netloc}/announce")
        if self.tracker.websocket:
            urls.append(f"{ws}://{parts.netloc}/announce")
        return tuple(urls)


@functools.cache
def _adapter() -> pydantic.TypeAdapter:
    """pydantic's validator of Config, built at the first load (not at every import)."""
    return pydantic.TypeAdapter(Config)


def _str(v) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"expected a non-empty string, got {v!r}")
    return v


def _unique(items) -> tuple:
    out = tuple(items)
    for i, item in enumerate(out):
        if item in out[:i]:
            raise ValueError(f"{item!r} is listed twice")
    return out


def _list(v) -> list:
    if not isinstance(v, list):
        raise ValueError(f"expected a list, got {v!r}")
    return v


def _mimetypes(v) -> dict:
    if not isinstance(v, dict):
        raise ValueError("expected a mapping of extension to mimetype, such as {.webp: image/webp}")
    out = {}
    for ext, mt in v.items():
        if not isinstance(ext, str) or not ext.startswith("."):
            raise ValueError(f"expected an extension starting with '.', got {ext!r}")
        out[ext.lower()] = _mimetype_pattern(mt)
    return out


# --- loading -----------------------------------------------------------------------------

# Keys of earlier versions, and what replaces them: named in the error, never ignored.
REMOVED = {
    "pages.loader": "use pages.p2p (auto, the default, or always: the loader is on; off: it is not)",
    "pages.swap": "use pages.p2p (auto: assets swapped while a page is hot; always: on every page) "
                  "and rules[].swap to keep a rule's files out of the swap",
    "loader.p2p": "use pages.p2p: off",
}


class _Loader:
    """The YAML's node tree beside pydantic's validation: PyYAML's marks give every error its
    file:line:col. What pydantic cannot see in plain data (a key given twice, a removed or an
    internal key) is checked on the nodes first."""

    def __init__(self, filename: str):
        self.filename = filename

    def error(self, node, key, reason):
        mark = node.start_mark if node is not None else None
        return ConfigError(self.filename, mark.line + 1 if mark else 0,
                           mark.column + 1 if mark else 0, key, reason)

    def check_keys(self, cls, node, prefix=""):
        """Duplicates, removed and internal keys, down the dataclasses the nodes map onto."""
        if not isinstance(node, yaml.MappingNode):
            return
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls, include_extras=False)
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            name = f"{prefix}.{key}" if prefix else str(key)
            if name in REMOVED:
                raise self.error(key_node, name, f"this key was removed: {REMOVED[name]}")
            if key in seen:
                raise self.error(key_node, name, "key given twice")
            seen.add(key)
            f = fields.get(key)
            if f is None or f.metadata.get("internal"):
                raise self.error(key_node, name, _unknown(cls))
            hint = _unwrap(hints[key])
            if dataclasses.is_dataclass(hint):
                self.check_keys(hint, value_node, name)
            elif typing.get_origin(hint) is tuple and dataclasses.is_dataclass(typing.get_args(hint)[0]) \
                    and isinstance(value_node, yaml.SequenceNode):
                for i, item in enumerate(value_node.value):
                    self.check_keys(typing.get_args(hint)[0], item, f"{name}[{i}]")

    def validate(self, node) -> "Config":
        try:
            return _adapter().validate_python(_plain(node))
        except pydantic.ValidationError as e:
            raise self._first(e, node) from None

    def _first(self, e: pydantic.ValidationError, root) -> ConfigError:
        """The error that comes first in the file, in our words."""
        found = []
        for err in e.errors(include_url=False):
            loc = err["loc"]
            node, key_node = _locate(root, loc)
            at = key_node if err["type"] in ("unexpected_keyword_argument", "extra_forbidden") else node
            mark = at.start_mark if at is not None else None
            found.append(((mark.line, mark.column) if mark else (0, 0), at, loc, err))
        _, at, loc, err = min(found, key=lambda x: x[0])
        return self.error(at, _key_name(loc), _reason(err, loc))


def _unwrap(hint):
    """Annotated[X, ...] and Optional[X] -> X, to see which fields are sections."""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else hint
    return hint


def _unknown(cls) -> str:
    names = sorted(f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal"))
    return f"unknown key; expected one of {', '.join(names)}"


def _locate(root, loc):
    """(the value node at pydantic's `loc`, its key node); the nearest existing parent when
    the key is missing."""
    node, key_node = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == part]
            if not match:
                break
            key_node, node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            break
    return node, key_node


def _key_name(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _section_at(loc):
    """The dataclass that the last key of `loc` belongs to."""
    cls = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        hint = _unwrap(typing.get_type_hints(cls)[part])
        if typing.get_origin(hint) is tuple:
            hint = typing.get_args(hint)[0]
        if not dataclasses.is_dataclass(hint):
            break
        cls = hint
    return cls


def _reason(err, loc) -> str:
    kind, given = err["type"], err.get("input")
    if kind == "value_error":
        return str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return _unknown(_section_at(loc))
    if kind in ("missing", "missing_argument"):
        return "required key is missing"
    if kind == "bool_type":
        return f"expected true or false, got {given!r}"
    if kind == "string_type":
        return f"expected a string, got {given!r}"
    if kind in ("tuple_type", "list_type"):
        return "expected a list"
    if kind in ("dataclass_type", "dataclass_exact_type", "dict_type"):
        return "expected a mapping of keys"
    return err["msg"]


def _plain(node):
    """The YAML as plain Python (what pydantic validates)."""
    if isinstance(node, yaml.ScalarNode):
        return yaml.SafeLoader("").construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(n) for n in node.value]
    return {_plain(k): _plain(v) for k, v in node.value}


def load(path) -> Config:
    """Load and validate a YAML config file; raise ConfigError on any mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, 0, 0, None, f"cannot read the configuration: {e.strerror}") from None
    return loads(text, path)


def loads(text: str, path: Path = Path("<string>")) -> Config:
    loader = _Loader(str(path))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(str(path), mark.line + 1 if mark else 0, mark.column + 1 if mark else 0,
                          None, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    if node is None:
        raise ConfigError(str(path), 1, 1, "docroot", "the file is empty; docroot and base_url are required")
    if not isinstance(node, yaml.MappingNode):
        raise loader.error(node, "(top level)", "expected a mapping of keys")
    loader.check_keys(Config, node)
    return _resolve(loader.validate(node), path, node, loader)


def _resolve(config: Config, path: Path, node, loader: _Loader) -> Config:
    """Relative paths are relative to the config file; the document root must exist."""
    base = path.parent.resolve() if str(path) != "<string>" else Path.cwd()
    docroot = (base / config.docroot).resolve()
    state_dir = (base / config.state_dir).absolute()
    key_nodes = {k.value: v for k, v in node.value}
    if not docroot.is_dir():
        raise loader.error(key_nodes.get("docroot"), "docroot",
                           f"expected an existing directory, {docroot} is not one")
    tracker_node = _child(key_nodes.get("tracker"))
    if config.tracker.min_interval > config.tracker.interval:
        raise loader.error(tracker_node.get("min_interval", key_nodes.get("tracker")), "tracker.min_interval",
                           f"must not exceed tracker.interval ({config.tracker.interval}), got "
                           f"{config.tracker.min_interval}")
    if config.tracker.numwant_default > config.tracker.numwant_max:
        raise loader.error(tracker_node.get("numwant_default", key_nodes.get("tracker")),
                           "tracker.numwant_default", f"must not exceed tracker.numwant_max "
                           f"({config.tracker.numwant_max}), got {config.tracker.numwant_default}")
    if config.tracker.announce == () and not (config.tracker.http or config.tracker.websocket):
        raise loader.error(key_nodes.get("tracker"), "tracker.announce",
                           "with no http or websocket tracker, give the announce URLs for new torrents")
    return dataclasses.replace(config, docroot=docroot, state_dir=state_dir, path=path.absolute())


def _child(node) -> dict:
    """A mapping node's keys -> value nodes (for locating cross-field errors)."""
    return {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def describe(config: Config) -> str:
    """The effective configuration, one key per line, for the log at start."""
    lines = []

    def walk(obj, prefix):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            name = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(v):
                walk(v, name + ".")
            elif isinstance(v, tuple) and v and dataclasses.is_dataclass(v[0]):
                for i, item in enumerate(v):
                    walk(item, f"{name}[{i}].")
            else:
                lines.append(f"{name} = {v}")
    walk(config, "")
    return "\n".join(lines)


def env_path(default="/etc/torrentweb/torrentweb.yaml") -> str:
    return os.environ.get("TORRENTWEB_CONFIG", default)
