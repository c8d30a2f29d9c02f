"""Which pages are hot: decided from the origin's own load (pages.p2p: auto).

A cold page is served as plain HTTP at full speed (its visitors then seed what they hold); a
hot one sends its visitors to the swarm first. Swarm-first costs a visitor the WebRTC set-up,
so a page turns hot only when the origin has a reason: the page's own views
(`pages.hot.views` within `window` seconds), or the origin's egress (Apache's bytes, from its
request log, plus the seeder's) at `egress` x `pages.uplink` while the page has visitors. It
turns cold once none of that has held for `cool_down` seconds, unless `swarm` visitors or more
still seed it (a ready swarm is kept while people come). Runs on the daemon's loop: every
method is a few dictionary operations.
"""
from __future__ import annotations

import collections
import re
import time
import typing
from dataclasses import dataclass, field

from .access import USER_AGENT

HISTORY = 3600          # seconds of egress kept for the status page's chart
RATE_SPAN = 10          # seconds an egress rate is averaged over
HTML = "text/html"
OWN_AGENT = USER_AGENT.split("/")[0].encode()     # the daemon's fetches: access.py's probe

_LINE = re.compile(rb'^(\d+) (\d{3}) (\d+|-) ([A-Z]+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"'
                   rb'(?: "((?:[^"\\]|\\.)*)")?')


@dataclass(frozen=True)
class Request:
    """One line of Apache's torrentweb request log (conf/httpd-torrentweb.conf.in)."""
    time: int
    status: int
    size: int
    method: str
    path: str           # the final URL path (after internal redirects to a rendered copy)
    content_type: str
    own: bool = False   # the daemon's own fetch (its User-Agent): bytes sent, but no view


def parse(line: bytes) -> Request | None:
    """None for anything that is not a line of our format: a bad line is never an error."""
    m = _LINE.match(line)
    if m is None:
        return None
    t, status, size, method, path, ctype, agent = m.groups()
    return Request(int(t), int(status), 0 if size == b"-" else int(size), method.decode(),
                   path.decode("utf-8", "replace"), ctype.decode("latin-1"),
                   bool(agent) and agent.startswith(OWN_AGENT))


@dataclass
class PageHeat:
    views: collections.deque = field(default_factory=collections.deque)
    hot_since: float | None = None
    quiet_since: float | None = None      # hot, but its reasons stopped holding at this time
    cold_since: float | None = None


class Egress:
    """Bytes per second over the last hour, per source (http: Apache; seeder: libtorrent)."""

    def __init__(self):
        self.seconds: collections.OrderedDict[int, list] = collections.OrderedDict()

    def add(self, second: int, source: int, n: int):
        row = self.seconds.get(second)
        if row is None:
            row = self.seconds[second] = [0, 0, 0]
            while len(self.seconds) > HISTORY:
                self.seconds.popitem(last=False)
        row[source] += n

    def rate(self, now: float, *sources: int, span: int = RATE_SPAN) -> float:
        """Bytes/s of `sources` over the last `span` whole seconds (the current one is still
        filling)."""
        total = 0
        for second in range(int(now) - span, int(now)):
            row = self.seconds.get(second)
            if row is not None:
                total += sum(row[s] for s in sources)
        return total / span

    def series(self, now: float, step: int = 60) -> list[tuple[int, int, int, int]]:
        """(minute start, http, seeder, visitors) bytes per second, averaged per `step`."""
        out = []
        end = int(now) // step * step
        for start in range(end - HISTORY, end + step, step):
            rows = [self.seconds.get(s) for s in range(start, start + step)]
            sums = [sum(r[i] for r in rows if r) for i in range(3)]
            out.append((start, *(round(x / step) for x in sums)))
        return out


HTTP, SEEDER, VISITORS = range(3)


class Heat:
    def __init__(self, config, clock: typing.Callable[[], float] = time.time):
        self.clock = clock
        self.pages: dict[str, PageHeat] = {}
        self.egress = Egress()
        self._seeder_sampled = 0
        self._visitors_total: int | None = None
        self.configure(config)

    def configure(self, config):
        self.hot = config.pages.hot
        self.uplink = config.pages.uplink
        self.base_path = config.base_path
        self.copies = tuple(config.apache.prefix + d for d in ("pages/", "hot/"))

    def restore(self, hot: dict[str, float]):
        """Pages hot when the daemon stopped stay hot (and cool down as usual)."""
        for path, since in hot.items():
            self.pages.setdefault(path, PageHeat()).hot_since = since

    # input -----------------------------------------------------------------------------------

    def take(self, req: Request):
        self.egress.add(req.time, HTTP, req.size)
        page = self.page_of(req)
        if page is not None:
            self.pages.setdefault(page, PageHeat()).views.append(req.time)

    def page_of(self, req: Request) -> str | None:
        """A page view: a GET answered 200 with HTML, a rendered copy's URL mapped to its page."""
        if req.own or req.method != "GET" or req.status != 200 or not req.content_type.startswith(HTML):
            return None
        for prefix in self.copies:
            if req.path.startswith(prefix):
                return self.base_path + req.path[len(prefix):]
        return req.path

    def seeder_sent(self, now: float, rate: float):
        """The seeder's upload rate, sampled every couple of seconds: each second since the last
        sample is given that rate."""
        last = self._seeder_sampled or int(now) - 1
        for second in range(max(last, int(now) - RATE_SPAN) + 1, int(now) + 1):
            self.egress.add(second, SEEDER, int(rate))
        self._seeder_sampled = int(now)

    def visitors_sent(self, now: float, total: int):
        """The tracker's running total of what visitors reported sending each other."""
        if self._visitors_total is not None and total > self._visitors_total:
            self.egress.add(int(now), VISITORS, total - self._visitors_total)
        self._visitors_total = total

    def origin_rate(self, now: float) -> float:
        """What the origin itself sends (Apache and the seeder), against pages.uplink; what
        visitors send each other is the saving, not the origin's load."""
        return self.egress.rate(now, HTTP, SEEDER)

    # decision --------------------------------------------------------------------------------

    def decide(self, seeders: typing.Callable[[str], int]) -> tuple[dict[str, float], list[str]]:
        """Pages turned hot (path -> since) and pages turned cold, since the last call."""
        now = self.clock()
        h = self.hot
        loaded = bool(self.uplink) and self.origin_rate(now) >= h.egress * self.uplink
        turned_hot, turned_cold = {}, []
        for path, page in list(self.pages.items()):
            while page.views and page.views[0] < now - h.window:
                page.views.popleft()
            views = len(page.views)
            reason = views >= h.views or (loaded and views > 0)
            if page.hot_since is None:
                if reason:
                    page.hot_since, page.quiet_since = now, None
                    turned_hot[path] = now
                elif not views:
                    del self.pages[path]          # nothing to remember about a quiet cold page
                continue
            if reason or (views and seeders(path) >= h.swarm):
                page.quiet_since = None
            elif page.quiet_since is None:
                page.quiet_since = now
            elif now - page.quiet_since >= h.cool_down:
                page.hot_since, page.quiet_since, page.cold_since = None, None, now
                turned_cold.append(path)
        return turned_hot, turned_cold

    def status(self) -> "HeatStatus":
        now = self.clock()
        return HeatStatus(
            tuple(PageStatus(p, "hot" if s.hot_since is not None else "cold",
                             s.hot_since if s.hot_since is not None else s.cold_since, len(s.views))
                  for p, s in sorted(self.pages.items())),
            EgressNow(round(self.egress.rate(now, HTTP)), round(self.egress.rate(now, SEEDER)),
                      round(self.egress.rate(now, VISITORS)), self.uplink),
            tuple(self.egress.series(now)))


@dataclass(frozen=True)
class PageStatus:
    path: str
    state: str                  # hot | cold
    since: float | None         # when it turned so (None: cold since it was first seen)
    views: int                  # in the last pages.hot.window seconds


@dataclass(frozen=True)
class EgressNow:
    """Bytes/s over the last RATE_SPAN seconds."""
    http: int                   # Apache (its request log)
    seeder: int                 # libtorrent
    visitors: int               # visitors to each other (their announces): the saving
    uplink: int                 # pages.uplink (0: not set)


@dataclass(frozen=True)
class HeatStatus:
    pages: tuple                # PageStatus of the pages with recent views or hot
    egress: EgressNow
    egress_history: tuple       # (minute, http, seeder, visitors) bytes/s, the last hour
