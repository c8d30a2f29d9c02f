"""Prometheus metrics: the figures of `torrentweb status`, on a loopback-only endpoint.

The daemon hands its Status (seeder/status.py) to `Metrics.update()` every time it writes
status.json; a scrape reads the last one. Nothing here touches libtorrent or the tracker:
`figures()` is a pure function of that Status (tested without sockets), and the collector only
formats it.

    metrics:
      listen: 127.0.0.1:9469      # off when absent or null; loopback addresses only
"""
from __future__ import annotations

import logging
import threading
import typing
from dataclasses import dataclass

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily

from torrentweb.config import MetricsConfig
from torrentweb.errors import TorrentwebError

if typing.TYPE_CHECKING:
    from .status import Status

log = logging.getLogger("torrentweb.metrics")


class MetricsError(TorrentwebError):
    """The metrics endpoint could not be opened (address taken, not local)."""

    def __init__(self, address, reason):
        self.address, self.reason = address, reason
        super().__init__(f"metrics.listen {address}: {reason}")


@dataclass(frozen=True)
class Figures:
    """What one status.json says, as numbers (0 where a part is absent)."""
    ready: bool = False
    torrents: int = 0
    peers: int = 0
    uploaded: int = 0                # bytes the seeder sent, since it started
    upload_rate: int = 0             # bytes/s
    delivered: int = 0               # bytes of completed downloads (tracker's completed x size)
    offload: float = 0.0             # share of `delivered` not sent by the seeder
    announces: int = 0
    announces_per_second: float = 0.0
    scrapes: int = 0
    refused: int = 0
    seeders: int = 0
    leechers: int = 0
    completed: int = 0
    egress_http: int = 0             # bytes/s Apache sent (its request log), last 10 s
    egress_seeder: int = 0           # bytes/s the seeder sent, last 10 s
    egress_visitors: int = 0         # bytes/s visitors reported sending each other (the saving)
    held_back: int = 0               # swarms the seeder holds back in (seeder.hold_back)
    hot_pages: tuple = ()            # URL paths of the pages that are hot now
    cold_pages: tuple = ()           # pages with recent views that are cold


def figures(status: "Status") -> Figures:
    """Numbers from the daemon's Status (seeder/status.py); absent parts count as zero."""
    tracker = status.tracker
    swarms = tracker.torrents if tracker else ()
    sizes = {t.info_hash: t.size for t in status.per_torrent}
    delivered = sum(t.completed * sizes.get(t.info_hash, 0) for t in swarms)
    heat = status.heat
    return Figures(
        ready=status.ready,
        torrents=status.torrents,
        peers=status.peers,
        uploaded=status.uploaded,
        upload_rate=status.upload_rate,
        delivered=delivered,
        offload=offload(status.uploaded, delivered),
        announces=tracker.announces if tracker else 0,
        announces_per_second=tracker.announces_per_second if tracker else 0.0,
        scrapes=tracker.scrapes if tracker else 0,
        refused=tracker.refused if tracker else 0,
        seeders=tracker.seeders if tracker else 0,
        leechers=tracker.leechers if tracker else 0,
        completed=sum(t.completed for t in swarms),
        held_back=sum(t.held_back for t in status.per_torrent),
        egress_http=heat.egress.http if heat else 0,
        egress_seeder=heat.egress.seeder if heat else 0,
        egress_visitors=heat.egress.visitors if heat else 0,
        hot_pages=tuple(p.path for p in heat.pages if p.state == "hot") if heat else (),
        cold_pages=tuple(p.path for p in heat.pages if p.state != "hot") if heat else (),
    )


def offload(uploaded: int, delivered: int) -> float:
    """1 - seeder bytes / delivered bytes, within [0, 1]; 0 before anything was delivered."""
    if delivered <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - uploaded / delivered))


# name, kind, help, attribute of Figures
_METRICS = (
    ("torrentweb_up", "gauge", "1 once the daemon is ready (every listener bound)", "ready"),
    ("torrentweb_torrents", "gauge", "torrents seeded", "torrents"),
    ("torrentweb_peers", "gauge", "peers connected to the seeder", "peers"),
    ("torrentweb_uploaded_bytes", "counter", "bytes the seeder uploaded since it started", "uploaded"),
    ("torrentweb_upload_rate_bytes_per_second", "gauge", "seeder upload rate", "upload_rate"),
    ("torrentweb_swarms_held_back", "gauge",
     "swarms whose visitors carry them, where the seeder holds its upload back", "held_back"),
    ("torrentweb_delivered_bytes", "counter",
     "bytes of downloads completed in the swarms (tracker's completed x torrent size)", "delivered"),
    ("torrentweb_offload_ratio", "gauge",
     "share of completed downloads' bytes that peers, not the seeder, sent "
     "(the web seed's bytes are in Apache's access log)", "offload"),
    ("torrentweb_tracker_announces", "counter", "announces answered since start", "announces"),
    ("torrentweb_tracker_announces_per_second", "gauge", "announces/s over the last 10 s",
     "announces_per_second"),
    ("torrentweb_tracker_scrapes", "counter", "scrapes answered since start", "scrapes"),
    ("torrentweb_tracker_refused", "counter", "requests for info-hashes not tracked here", "refused"),
    ("torrentweb_tracker_seeders", "gauge", "seeders in all swarms", "seeders"),
    ("torrentweb_tracker_leechers", "gauge", "leechers in all swarms", "leechers"),
    ("torrentweb_tracker_completed", "counter", "downloads reported completed", "completed"),
)


class _Collector:
    """Formats the last Figures at scrape time (a custom collector, not mutable gauges)."""

    def __init__(self):
        self.figures = Figures()

    def collect(self):
        f = self.figures
        for name, kind, help_text, attr in _METRICS:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=float(getattr(f, attr)))
        egress = GaugeMetricFamily("torrentweb_egress_bytes_per_second",
                                   "bytes/s over the last 10 s: the origin's (http, seeder) and what visitors sent each "
                                   "other (visitors: the saving)", labels=["source"])
        egress.add_metric(["http"], f.egress_http)
        egress.add_metric(["seeder"], f.egress_seeder)
        egress.add_metric(["visitors"], f.egress_visitors)
        yield egress
        hot = GaugeMetricFamily("torrentweb_page_hot", "1 while the page is hot (swarm first), 0 cold "
                                "(pages with recent views)", labels=["page"])
        for page in f.hot_pages:
            hot.add_metric([page], 1)
        for page in f.cold_pages:
            hot.add_metric([page], 0)
        yield hot


class Metrics:
    """The daemon's component: start() binds the endpoint, update() feeds it, stop() closes it."""

    def __init__(self, config: MetricsConfig):
        self.config = config
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = _Collector()
        self.registry.register(self.collector)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """host:port actually bound (port 0 in the YAML asks for a free one)."""
        host = self.config.listen.host
        port = self._server.server_port if self._server else self.config.listen.port
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self):
        listen = self.config.listen
        try:
            self._server, self._thread = start_http_server(listen.port, listen.host, self.registry)
        except OSError as e:
            raise MetricsError(listen, f"cannot listen there: {e.strerror or e}; "
                                       "choose a free port or set metrics.listen: null") from None
        log.info("metrics for Prometheus on http://%s/metrics", self.address)

    def update(self, status: "Status"):
        self.collector.figures = figures(status)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = self._thread = None
