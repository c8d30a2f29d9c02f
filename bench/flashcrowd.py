#!/usr/bin/env python3
"""The flash crowd: how much must the origin still send when N visitors arrive at once, and how
fast do they get the page's assets, by BitTorrent (torrentweb) versus plain HTTP?

    .venv/bin/python bench/flashcrowd.py --clients 32 --json   # one N; JSON on the last line
    .venv/bin/python bench/flashcrowd.py                       # N = 1, 8, 32, 64: table + plot

The origin: the real Apache (mod_wsgi, the torrentweb snippet) and the seeder daemon (seeder +
tracker) on loopback, serving a generated page of about --size bytes of images (demo/make-assets.py
--flashcrowd). Its uplink has ONE budget of --cap bytes/s: Apache sits behind bench/throttle.py (a
relay sharing --cap among all connections, which mod_ratelimit cannot: it caps each response) and
the seeder's `seeder.upload_limit` is --cap as well.

Each N runs twice on a fresh origin: plain HTTP first (N threads fetching every asset through the
capped Apache), then BitTorrent (N libtorrent sessions, several per process, each on its own port,
adding the page's torrent from its <link rel="torrent"> with the web seed held back for --deadline
seconds, as the browser loader does; visitors keep seeding until everyone is done, as open tabs do).
Visitors arrive evenly within --spread seconds. Server egress = Apache's %O bytes for assets (access
log) + the seeder's uploaded bytes (status.json); copies = egress / asset bytes.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import multiprocessing as mp
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "demo"))
sys.path.insert(0, str(HERE))              # options, net: also when loaded by path (tests)

import net as netem  # noqa: E402
from options import add_seeder_option  # noqa: E402
from origin import Origin, OriginError  # noqa: E402

MIB = 1024 * 1024
SERIES = (1, 8, 32, 64)
BROWSER_SERIES = (1, 2, 4)        # Chromium is heavy: 2 cores
STATS_LAG = 2.5                   # libtorrent's per-torrent byte counters trail by up to ~1 s
LINK_RE = re.compile(rb'<link type="application/x-bittorrent" rel="torrent" href="([^"]+)">')
LOG_RE = re.compile(r'^\S+ "(\S+) (\S+)[^"]*" (\d+) (\d+) ')


class BenchError(Exception):
    """The benchmark could not run (origin down, no torrent link, a visitor stuck)."""


@dataclass(frozen=True)
class Result:
    clients: int
    asset_bytes: int            # one visitor's assets (one copy)
    server_bytes: int           # BitTorrent run: Apache asset bytes + seeder uploaded
    apache_bytes: int
    seeder_bytes: int
    server_copies: float
    offload: float              # share of the N copies that the server did not send
    p50_s: float
    p95_s: float
    web_seed_fallbacks: int     # visitors that got the web seed after the deadline
    http_server_bytes: int
    http_server_copies: float
    http_p50_s: float
    http_p95_s: float
    p95_ratio: float            # p95_s / http_p95_s
    cap: int
    size: int
    backstop: str               # deadline | stall: when visitors add the web seed
    deadline: float
    net: str = ""               # --net: the visitors' profile mix on bench/net.py's links
    limit_s: float = math.nan   # --net: physical lower bound of the last visitor's completion
    p95_limit: float = math.nan        # p95_s / limit_s
    http_p95_limit: float = math.nan   # http_p95_s / limit_s
    net_late_ms_p99: float = math.nan  # --net: the delay line's lateness (its own accuracy) ...
    net_dropped: int = 0               # ... and packets it could not write on


# --- helpers ----------------------------------------------------------------------------------

def quantile(values, q) -> float:
    """Nearest-rank quantile (p95 of one value is that value)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def asset_bytes_in_log(lines, paths: set[str]) -> int:
    """Sum of %O over requests for the assets (by their own URL or the page bundle's web seed)."""
    total = 0
    for line in lines:
        m = LOG_RE.match(line)
        if m and (m.group(2) in paths or "/seed/" in m.group(2)):
            total += int(m.group(4))
    return total


def parse_size(text: str) -> int:
    m = re.match(r"^(\d+)(KiB|MiB|GiB|)$", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size such as 8MiB or 512KiB, got {text!r}")
    return int(m.group(1)) * {"": 1, "KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB}[m.group(2)]


def make_site(size: int, out: Path) -> Path:
    """The generated page, cached per size (make-assets is deterministic)."""
    site = out / f"site-{size}"
    if not (site / "index.html").exists():
        tmp = out / f".site-{size}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, str(ROOT / "demo" / "make-assets.py"), "--flashcrowd", str(tmp),
                        "--size", f"{size // 1024}KiB"], check=True, stdout=subprocess.DEVNULL)
        tmp.rename(site)
    return site


def fetch(url: str, timeout=600) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


# --- visitors ---------------------------------------------------------------------------------

def visitor_settings(port: int, utp: bool, ip: str = "127.0.0.1") -> dict:
    """A native visitor. TCP only by default: on loopback here uTP did no better (N = 32, two runs
    each: 4.0 / 2.4 copies with uTP, 3.5 / 1.6 without) and costs more CPU on a shared machine."""
    return {
        "listen_interfaces": f"{ip}:{port}",
        "allow_multiple_connections_per_ip": True,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "max_webtorrent_offers": 0, "alert_mask": 0,
        "user_agent": "flashcrowd-visitor",
        "enable_outgoing_utp": utp, "enable_incoming_utp": utp,
        "alert_queue_size": 100,
    }


def visitors(torrent: bytes, schedule, t0: float, deadline: float, stall: bool, utp: bool,
             root: str, results, stop, places: dict | None = None):
    """One worker process: start each visitor at its arrival time, report completion times.

    The web seed is the backstop: added `deadline` s after arrival (the loader's rule today), or,
    with `stall`, once the swarm delivered nothing for `deadline` s. places: visitor id ->
    (namespace, address) on the emulated network; the session is made inside its namespace."""
    import libtorrent as lt
    sys.path.insert(0, str(ROOT / "tests"))
    from support.ports import free_port
    pending = sorted(schedule, key=lambda v: v[1])
    running, done, progress = {}, {}, {}
    try:
        while pending or len(done) < len(schedule):
            now = time.time()
            while pending and now >= t0 + pending[0][1]:
                vid, offset = pending.pop(0)
                netns, ip = (places or {}).get(vid, (None, "127.0.0.1"))
                with netem.entered(netns) if netns else contextlib.nullcontext():
                    ses = lt.session(visitor_settings(free_port(), utp, ip))
                ti = lt.torrent_info(torrent)
                seeds = [w["url"] for w in ti.web_seeds()]
                ti.set_web_seeds([])
                atp = lt.add_torrent_params()
                atp.ti = ti
                atp.save_path = f"{root}/v{vid}"
                atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
                running[vid] = (ses, ses.add_torrent(atp), t0 + offset, seeds)
                progress[vid] = (0, t0 + offset)
            for vid, (ses, h, arrived, seeds) in running.items():
                if vid in done:
                    continue
                st = h.status()
                if st.total_done != progress[vid][0]:
                    progress[vid] = (st.total_done, now)
                since = progress[vid][1] if stall else arrived
                if st.is_seeding:
                    done[vid] = (time.time() - arrived, not seeds)
                    if os.environ.get("FLASHCROWD_DEBUG"):     # also keeps bench/out/run-*
                        print(f"visitor {vid}: done in {time.time() - arrived:.1f} s, "
                              f"{h.status().num_peers} peers", file=sys.stderr, flush=True)
                elif seeds and now - since >= deadline:
                    for url in seeds:           # the loader's backstop: the origin's web seed
                        h.add_url_seed(url)
                    running[vid] = (ses, h, arrived, [])
            if time.time() - t0 > 900:
                raise BenchError(f"visitors {sorted(set(running) - set(done))} not done after 900 s")
            time.sleep(0.02)
        results.put(("done", {vid: d for vid, d in done.items()}))
        stop.wait(600)                            # keep seeding until every visitor is done
    except Exception as e:                        # report, never hang the parent
        results.put(("error", f"{type(e).__name__}: {e}"))
    finally:
        for ses, h, _, _ in running.values():
            ses.remove_torrent(h)


def torrent_run(torrent: bytes, n: int, spread: float, deadline: float, stall: bool, utp: bool,
                processes: int, root: Path, places: dict | None = None):
    ctx = mp.get_context("spawn")
    results, stop = ctx.Queue(), ctx.Event()
    per = max(1, math.ceil(n / processes))
    schedule = [(i, spread * i / n) for i in range(n)]
    t0 = time.time() + 3.0                        # time for the workers to import libtorrent
    workers = [ctx.Process(target=visitors, args=(torrent, schedule[i:i + per], t0, deadline, stall,
                                                  utp, str(root), results, stop, places), daemon=True)
               for i in range(0, n, per)]
    for w in workers:
        w.start()
    times, fallbacks = [], 0
    try:
        for _ in workers:
            kind, payload = results.get(timeout=960)
            if kind == "error":
                raise BenchError(f"a visitor process failed: {payload}")
            for took, fell_back in payload.values():
                times.append(took)
                fallbacks += fell_back
    finally:
        stop.set()
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.kill()
    return times, fallbacks


def http_run(urls: list[str], n: int, spread: float, expected: dict[str, int],
             places: dict | None = None):
    """N threads fetch every asset; with places (visitor id -> (namespace, address)), each from
    inside its visitor's namespace."""
    times, errors = [None] * n, []
    t0 = time.time() + 0.5

    def visitor(i):
        arrived = t0 + spread * i / n
        time.sleep(max(0.0, arrived - time.time()))
        netns = (places or {}).get(i, (None,))[0]
        try:
            with netem.entered(netns) if netns else contextlib.nullcontext():
                fetch_all(urls, expected)
        except Exception as e:
            errors.append(f"visitor {i}: {e}")
            return
        times[i] = time.time() - arrived

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise BenchError("plain HTTP visitors failed: " + "; ".join(errors[:3]))
    return times


def fetch_all(urls: list[str], expected: dict[str, int]):
    for url in urls:
        got = len(fetch(url))
        if got != expected[url]:
            raise BenchError(f"{url}: {got} bytes, expected {expected[url]}")


# --- one N --------------------------------------------------------------------------------------

def origin_settings(args, browsers: bool, seeder: dict) -> dict:
    """The origin's YAML for this run; seeder: settings on top of --seeder's."""
    return {"seeder": {**dict(args.seeder), **seeder},
            "pages": {"p2p": "always" if browsers else "off"},   # the swarm first, as before hot/cold
            "rules": [{"mimetype": "image/*", "min_size": "64KiB", "swap": True}],
            "loader": {"deadline": args.deadline}}       # the browsers' web-seed deadline


def page_assets(base: str):
    """(the page's torrent, {asset URL: length}) once the page carries its torrent link."""
    import libtorrent as lt
    from support.processes import wait_for
    torrent = wait_for(lambda: page_torrent(base), 60, what="<link rel=\"torrent\"> in the page")
    info = lt.bdecode(torrent)[b"info"]
    rel = [("/".join(p.decode() for p in f[b"path"]), f[b"length"]) for f in info[b"files"]]
    return torrent, {base + path: length for path, length in rel}


@contextlib.contextmanager
def capped_origin(args, site: Path, workdir: Path, browsers: bool = False):
    """The origin behind the throttle; yields (origin, base URL, torrent, {asset URL: length})."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.ports import free_port
    from support.processes import Process, wait_for

    apache_port, throttle_port = free_port(), free_port()
    base = f"http://127.0.0.1:{throttle_port}/"
    settings = origin_settings(args, browsers, {"upload_limit": args.cap})
    # the daemon's access probe must reach Apache itself: through the throttle it would come
    # from 127.0.0.1, which Apache takes for a local visitor (nothing would be published)
    settings["access"] = {"probe_url": f"http://127.0.0.1:{apache_port}/"}
    workdir.mkdir(parents=True, exist_ok=True)
    throttle = Process([sys.executable, str(HERE / "throttle.py"), "--listen", f"127.0.0.1:{throttle_port}",
                        "--to", f"127.0.0.1:{apache_port}", "--rate", str(args.cap)],
                       workdir / "throttle.log")
    try:
        wait_for(lambda: "listening on" in throttle.log(), 20, what="the throttle")
        origin = Origin.start(site, workdir / "origin", port=apache_port, settings=settings,
                              base_url=base)
    except BaseException:
        throttle.stop()
        raise
    try:
        yield (origin, base, *page_assets(base))
    finally:
        throttle.stop()
        origin.stop()


@contextlib.contextmanager
def net_origin(args, site: Path, workdir: Path, host):
    """The origin inside its namespace on the emulated network: its link's uplink is the budget
    (no throttle, no seeder upload_limit). Apache also listens on the host's address; the seeder
    listens there; the tracker stays on the namespace's loopback behind Apache's proxy."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.ports import free_port
    port = free_port()
    base = f"http://{host.ip}:{port}/"
    settings = origin_settings(args, False, {"upload_limit": 0, "listen": f"{host.ip}:{free_port()}"})
    with host.entered():
        origin = Origin.start(site, workdir / "origin", port=port, settings=settings, base_url=base,
                              apache_extra=f"Listen {host.ip}:{port}")
    try:
        with host.entered():
            if not origin.wait_published(timeout=60):      # mod_wsgi may answer 503 at first
                raise BenchError(f"{base}: no <link rel=\"torrent\"> within 60 s")
            assets = page_assets(base)
        yield (origin, base, *assets)
    finally:
        origin.stop()


def network(mix: str, n: int) -> netem.Network:
    """The origin (profile `origin`) and n visitors v0..v{n-1} with profiles from the mix."""
    return netem.Network([("origin", netem.PROFILES["origin"]),
                          *((f"v{i}", p) for i, p in enumerate(netem.crowd(mix, n)))])


def limit_s(asset_bytes: int, origin: netem.Profile, visitors: list[netem.Profile]) -> float:
    """No visitor can finish sooner: one copy through the origin's uplink; N copies through all
    uplinks together; one copy through the slowest visitor's downlink (link rates, bytes/s)."""
    rate = lambda mbit: mbit * 1e6 / 8                                  # noqa: E731
    uplinks = rate(origin.up_mbit) + sum(rate(p.up_mbit) for p in visitors)
    return max(asset_bytes / rate(origin.up_mbit), len(visitors) * asset_bytes / uplinks,
               asset_bytes / min(rate(p.down_mbit) for p in visitors))


def run_one(n: int, args, site: Path, work: Path) -> Result:
    if not args.net:
        return measure_one(n, args, capped_origin(args, site, work / f"n{n}"), work, None)
    with network(args.net, n) as net:
        places = {i: (net[f"v{i}"].netns, net[f"v{i}"].ip) for i in range(n)}
        r = measure_one(n, args, net_origin(args, site, work / f"n{n}", net["origin"]), work, places)
        limit = limit_s(r.asset_bytes, net["origin"].profile, [net[f"v{i}"].profile for i in range(n)])
    late = net.lateness         # written at teardown
    return replace(r, net=args.net, limit_s=round(limit, 2), p95_limit=round(r.p95_s / limit, 2),
                   http_p95_limit=round(r.http_p95_s / limit, 2),
                   net_late_ms_p99=late["late_ms_p99"], net_dropped=late["dropped"])


def measure_one(n: int, args, origin_cm, work: Path, places: dict | None) -> Result:
    """Plain HTTP, then BitTorrent, against the origin that origin_cm starts."""
    with origin_cm as (origin, base, torrent, urls):
        asset_bytes = sum(urls.values())
        paths = {"/" + url[len(base):] for url in urls}

        mark = len(origin.apache.access_log_lines())
        http_times = http_run(list(urls), n, args.spread, urls, places) if args.http else [math.nan]
        time.sleep(0.5)
        lines = origin.apache.access_log_lines()
        http_bytes = asset_bytes_in_log(lines[mark:], paths)
        mark = len(lines)

        up0 = origin.status().get("uploaded", 0)
        vroot = Path(tempfile.mkdtemp(prefix="flashcrowd-", dir=work))
        try:
            times, fallbacks = torrent_run(torrent, n, args.spread, args.deadline,
                                           args.backstop == "stall", args.utp, args.processes, vroot,
                                           places)
        finally:
            shutil.rmtree(vroot, ignore_errors=True)
        finished = time.time()
        status = fresh_status(origin, finished + STATS_LAG)
        seeder_bytes = status["uploaded"] - up0
        apache_bytes = asset_bytes_in_log(origin.apache.access_log_lines()[mark:], paths)
    server = apache_bytes + seeder_bytes
    p95, http_p95 = quantile(times, 0.95), quantile(http_times, 0.95)
    return Result(
        clients=n, asset_bytes=asset_bytes, server_bytes=server, apache_bytes=apache_bytes,
        seeder_bytes=seeder_bytes, server_copies=round(server / asset_bytes, 3),
        offload=round(1 - server / (n * asset_bytes), 3),
        p50_s=round(quantile(times, 0.5), 2), p95_s=round(p95, 2), web_seed_fallbacks=fallbacks,
        http_server_bytes=http_bytes, http_server_copies=round(http_bytes / asset_bytes, 3),
        http_p50_s=round(quantile(http_times, 0.5), 2), http_p95_s=round(http_p95, 2),
        p95_ratio=round(p95 / http_p95, 3), cap=args.cap, size=args.size, backstop=args.backstop,
        deadline=args.deadline)


@dataclass(frozen=True)
class BrowserResult:
    browsers: int
    asset_bytes: int
    server_bytes: int           # Apache asset bytes (web seed + plain URLs) + seeder uploaded
    apache_bytes: int
    seeder_bytes: int
    server_copies: float
    p50_s: float                # until the loader has shown every asset of the page
    p95_s: float
    via: dict                   # assets shown from swarm / webseed / http, all visitors together
    http_server_copies: float   # the same N by plain HTTP (threads), same capped origin
    http_p95_s: float


def run_browsers(n: int, args, site: Path, work: Path) -> BrowserResult:
    """N headless Chromium contexts open the page with the real loader (swap on)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.browser import chromium

    with capped_origin(args, site, work / f"browsers{n}", browsers=True) as (origin, base, _, urls):
        asset_bytes, paths = sum(urls.values()), {"/" + url[len(base):] for url in urls}
        mark = len(origin.apache.access_log_lines())
        http_times = http_run(list(urls), n, args.spread, urls)
        time.sleep(0.5)
        lines = origin.apache.access_log_lines()
        http_bytes, mark = asset_bytes_in_log(lines[mark:], paths), len(lines)
        up0 = origin.status().get("uploaded", 0)
        times, via = _browse(chromium, base, n, len(urls), args.spread)
        finished = time.time()
        status = fresh_status(origin, finished + STATS_LAG)
        seeder_bytes = status["uploaded"] - up0
        apache_bytes = asset_bytes_in_log(origin.apache.access_log_lines()[mark:], paths)
    server = apache_bytes + seeder_bytes
    return BrowserResult(n, asset_bytes, server, apache_bytes, seeder_bytes,
                         round(server / asset_bytes, 3), round(quantile(times, 0.5), 2),
                         round(quantile(times, 0.95), 2), via,
                         round(http_bytes / asset_bytes, 3), round(quantile(http_times, 0.95), 2))


SHOWN_JS = "() => window.torrentweb ? [window.torrentweb.elements.map(e => e.via), window.torrentweb.error] : [[], null]"


def _browse(chromium, url: str, n: int, expected: int, spread: float):
    """Open n isolated contexts (arrivals spread evenly); poll until each loader showed every asset;
    keep them all open (seeding) until the last one is done."""
    with chromium() as browser, contextlib.ExitStack() as stack:
        pages, arrived, done = [], [], {}
        t0 = time.time()
        for i in range(n):
            time.sleep(max(0.0, t0 + spread * i / n - time.time()))
            page = stack.enter_context(browser.context()).new_page()
            arrived.append(time.time())
            page.goto(url, wait_until="commit")
            pages.append(page)
        deadline = time.time() + 180
        while len(done) < n:
            for i, page in enumerate(pages):
                if i not in done:
                    shown, error = page.evaluate(SHOWN_JS)
                    if len(shown) >= expected:
                        done[i] = (time.time() - arrived[i], shown)
            if time.time() > deadline:
                raise BenchError(f"browsers {sorted(set(range(n)) - set(done))} did not show all "
                                 f"{expected} assets in 180 s (loader error: {error})")
            time.sleep(0.1)
    via = {}
    for _, shown in done.values():
        for v in shown:
            via[v] = via.get(v, 0) + 1
    return [t for t, _ in done.values()], via


def fresh_status(origin, after: float) -> dict:
    """The daemon's status.json written after `after` (it rewrites it every 2 s)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.processes import wait_for
    return wait_for(lambda: (lambda s: s if s.get("updated", 0) > after else None)(origin.status()),
                    15, what="a fresh status.json")


def page_torrent(base: str) -> bytes | None:
    m = LINK_RE.search(fetch(base))
    return fetch(base.rstrip("/") + m.group(1).decode()) if m else None


# --- report -------------------------------------------------------------------------------------

def table(results) -> str:
    rows = ["| N | server copies (torrentweb) | plain HTTP copies | offload | p50 / p95 torrentweb (s) "
            "| p50 / p95 plain HTTP (s) | p95 ratio | web-seed fallbacks |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        rows.append(f"| {r.clients} | {r.server_copies:.2f} | {r.http_server_copies:.2f} | {r.offload:.0%} "
                    f"| {r.p50_s:.1f} / {r.p95_s:.1f} | {r.http_p50_s:.1f} / {r.http_p95_s:.1f} "
                    f"| {r.p95_ratio:.2f} | {r.web_seed_fallbacks} |")
    return "\n".join(rows)


def plot(results, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ns = [r.clients for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ns, [r.http_server_copies for r in results], "o-", label="plain HTTP")
    a.plot(ns, [r.server_copies for r in results], "o-", label="torrentweb")
    a.set(xlabel="visitors N", ylabel="copies the server sent", title="Server egress / page size")
    b.plot(ns, [r.http_p95_s for r in results], "o-", label="plain HTTP")
    b.plot(ns, [r.p95_s for r in results], "o-", label="torrentweb")
    b.set(xlabel="visitors N", ylabel="seconds", title="p95 completion time")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    r0 = results[0]
    fig.suptitle(f"Flash crowd: {r0.asset_bytes / MIB:.1f} MiB page, origin capped at {r0.cap / MIB:g} MiB/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, help="run one N (default: the series 1, 8, 32, 64)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    p.add_argument("--size", type=parse_size, default=8 * MIB, help="page assets, e.g. 8MiB")
    p.add_argument("--cap", type=parse_size, default=4 * MIB, help="origin uplink in bytes/s, e.g. 4MiB")
    p.add_argument("--spread", type=float, default=2.0, help="visitors arrive within this many seconds")
    p.add_argument("--deadline", type=float, default=3.0,
                   help="seconds before a visitor adds the web seed (loader.deadline)")
    p.add_argument("--backstop", choices=("deadline", "stall"), default="stall",
                   help="when a visitor adds the web seed: --deadline s after arriving, or after "
                        "--deadline s without progress from the swarm (default)")
    p.add_argument("--browsers", type=int, help="run one N of headless Chromium visitors (the real "
                   "loader); the full run does 1, 2, 4 after the native series")
    p.add_argument("--utp", action="store_true", help="visitors use uTP as well as TCP")
    p.add_argument("--no-http", dest="http", action="store_false",
                   help="skip the plain-HTTP baseline (for tuning runs; its figures become NaN)")
    add_seeder_option(p)
    p.add_argument("--processes", type=int, default=4, help="visitor processes")
    p.add_argument("--net", metavar="MIX", help="on bench/net.py's emulated network (root): the "
                   "visitors' profiles, e.g. home or home=0.5,mobile=0.5; the origin's link is the "
                   "`origin` profile and replaces --cap")
    p.add_argument("--out", type=Path, default=HERE / "out", help="work dir (git-ignored)")
    args = p.parse_args(argv)
    if args.clients is not None and not 1 <= args.clients <= 256:
        p.error(f"--clients {args.clients}: expected 1 to 256")
    if args.net and (args.browsers or not args.clients):
        p.error("--net: native visitors only, one N (--clients)")
    args.out.mkdir(parents=True, exist_ok=True)
    site = make_site(args.size, args.out)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.out))
    results, browsers = [], []
    native = [args.clients] if args.clients else [] if args.browsers else SERIES
    try:
        for n in native:
            r = run_one(n, args, site, work)
            results.append(r)
            print(f"N={n}: torrentweb {r.server_copies:.2f} copies, p95 {r.p95_s:.1f} s; "
                  f"plain HTTP {r.http_server_copies:.2f} copies, p95 {r.http_p95_s:.1f} s", flush=True)
            if args.net:
                print(f"  --net {r.net}: limit_s {r.limit_s:.2f} s; p95 = {r.p95_limit:.2f} x limit_s "
                      f"(plain HTTP {r.http_p95_limit:.2f} x); delay line p99 late "
                      f"<= {r.net_late_ms_p99:.1f} ms, {r.net_dropped} dropped", flush=True)
        for n in [args.browsers] if args.browsers else [] if args.clients else BROWSER_SERIES:
            b = run_browsers(n, args, site, work)
            browsers.append(b)
            print(f"Chromium x{n}: torrentweb {b.server_copies:.2f} copies, p95 {b.p95_s:.1f} s "
                  f"({b.via}); plain HTTP {b.http_server_copies:.2f} copies, p95 {b.http_p95_s:.1f} s",
                  flush=True)
    except (BenchError, OriginError, netem.NetError) as e:
        print(f"flashcrowd: {e}", file=sys.stderr)
        return 1
    finally:
        if not os.environ.get("FLASHCROWD_DEBUG"):
            shutil.rmtree(work, ignore_errors=True)
    if not args.clients and not args.browsers:
        print(table(results))
        print(browser_table(browsers))
        plot(results, HERE / "flashcrowd.png")
        print(f"plot: {HERE / 'flashcrowd.png'}")
    if args.json:
        for r in results + browsers:
            print(json.dumps(asdict(r)))
    return 0


def browser_table(results) -> str:
    rows = ["| Chromium visitors | server copies (torrentweb) | plain HTTP copies | p50 / p95 torrentweb (s) "
            "| p95 plain HTTP (s) | assets shown via |",
            "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for b in results:
        via = ", ".join(f"{k} {v}" for k, v in sorted(b.via.items()))
        rows.append(f"| {b.browsers} | {b.server_copies:.2f} | {b.http_server_copies:.2f} "
                    f"| {b.p50_s:.1f} / {b.p95_s:.1f} | {b.http_p95_s:.1f} | {via} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
