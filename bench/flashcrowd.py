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

--from-cold: the origin runs the product's default `pages.p2p: auto` (pages.uplink = the budget,
pages.hot.cool_down 5 s unless --hot says otherwise) and nobody has asked for the page before the
crowd (its link is read from the daemon's rendered copy; the plain-HTTP baseline fetches assets
only, and the crowd waits until its egress has left the daemon's window). Each visitor does what
the browser loader does: GET the page; hot (swapped elements, `data-torrent-src`): the assets from
the swarm as above; cold: the assets by plain HTTP, then the bundle torrent added over the files it
got, so libtorrent verifies them and seeds until the run ends (after the page turned cold again).
Reported: who got the page cold or hot, the daemon's "page ... is hot" / "... is cold" times.
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
sys.path.insert(0, str(HERE))              # options, net: also when loaded by path (tests)

import net as netem  # noqa: E402
from harness.origin import Origin, OriginError  # noqa: E402
from options import add_seeder_option, seeder_setting  # noqa: E402

MIB = 1024 * 1024
SERIES = (1, 8, 32, 64)
BROWSER_SERIES = (1, 2, 4)        # Chromium is heavy: 2 cores
TRACE_EVERY = 0.5                 # FLASHCROWD_TRACE: seconds between samples of every visitor
STATS_LAG = 2.5                   # libtorrent's per-torrent byte counters trail by up to ~1 s
LINK_RE = re.compile(rb'<link type="application/x-bittorrent" rel="torrent" href="([^"]+)">')
LOG_RE = re.compile(r'^\S+ "(\S+) (\S+)[^"]*" (\d+) (\d+) ')


class BenchError(Exception):
    """The benchmark could not run (origin down, no torrent link, a visitor stuck)."""


@dataclass(frozen=True)
class Result:
    clients: int
    asset_bytes: int            # one visitor's assets (one copy; --pages: of every page)
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
    frontend_bytes: tuple = ()         # --frontends: each frontend's Apache asset + seeder bytes
    pages: int = 1                     # --pages: the crowd spread over that many pages (visitor
    page_bytes: tuple = ()             # i on page i % pages); asset_bytes: one copy of each
    held_back: int = 0                 # swarms where the seeder began to hold back (seeder.hold_back)
    utp: bool = False                  # the native visitors spoke uTP as well as TCP (--utp)


# --- helpers ----------------------------------------------------------------------------------

def quantile(values, q) -> float:
    """Nearest-rank quantile (p95 of one value is that value)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def asset_bytes_in_log(lines, paths: set[str]) -> int:
    """Sum of %O over requests for the assets (by their own URL or the page bundle's web seed)."""
    return sum(asset_bytes_by_route(lines, paths))


def asset_bytes_by_route(lines, paths: set[str]) -> tuple[int, int]:
    """(%O of requests for the assets' own URLs, %O of the web seed's)."""
    plain = seed = 0
    for line in lines:
        m = LOG_RE.match(line)
        if m and m.group(2) in paths:
            plain += int(m.group(4))
        elif m and "/seed/" in m.group(2):
            seed += int(m.group(4))
    return plain, seed


def parse_size(text: str) -> int:
    m = re.match(r"^(\d+)(KiB|MiB|GiB|)$", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size such as 8MiB or 512KiB, got {text!r}")
    return int(m.group(1)) * {"": 1, "KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB}[m.group(2)]


def make_site(size: int, out: Path, pages: int = 1) -> Path:
    """The generated page (pages > 1: that many, p01/ ... each its own images), cached per size
    and count (make-assets is deterministic)."""
    site = out / (f"site-{size}" if pages == 1 else f"site-{size}-pages{pages}")
    if not (site / page_paths(pages)[-1] / "index.html").exists():
        tmp = out / f".{site.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for k, rel in enumerate(page_paths(pages)):
            subprocess.run([sys.executable, str(ROOT / "demo" / "make-assets.py"), "--flashcrowd",
                            str(tmp / rel), "--size", f"{size // 1024}KiB", "--seed", str(100 + 100 * k)],
                           check=True, stdout=subprocess.DEVNULL)
        tmp.rename(site)
    return site


def page_paths(pages: int) -> list[str]:
    """The pages' paths under the site's root: "" for the one page, else p01/, p02/, ..."""
    return [""] if pages == 1 else [f"p{k:02d}/" for k in range(1, pages + 1)]


def fetch(url: str, timeout=600) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


# --- visitors ---------------------------------------------------------------------------------

def visitor_settings(port: int, utp: bool, ip: str = "127.0.0.1", extra: dict | None = None) -> dict:
    """A native visitor. `utp`: uTP as well as TCP, as qBittorrent, Transmission and libtorrent
    do by default. On with --net: over home lines TCP alone sent 1.8-2.2 server copies and a web-
    seed fallback in most runs, uTP 1.3-1.5 and none (bench/RESULTS.md, N = 32). Off on loopback,
    where uTP did no better (N = 32, two runs each: 4.0 / 2.4 copies with uTP, 3.5 / 1.6 without)
    and costs more CPU."""
    return {
        "listen_interfaces": f"{ip}:{port}",
        "allow_multiple_connections_per_ip": True,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "max_webtorrent_offers": 0, "alert_mask": 0,
        "user_agent": "flashcrowd-visitor",
        "enable_outgoing_utp": utp, "enable_incoming_utp": utp,
        "alert_queue_size": 100,
        # as a browser tab does: WebTorrent unchokes every peer that says it is interested (and
        # trims to 10 slots every 10 s); libtorrent's 8 slots, rotated every 15 s, leave most
        # of a crowd choked at first: on `home` links, N = 32, 11-21 of 32 visitors got nothing
        # in 3 s and took the web seed (6.3-11 copies); unlimited: none did (3.3 copies)
        "unchoke_slots_limit": -1,
        # as a tab does: WebTorrent keeps a peer that completes. libtorrent 2.1's leecher drops
        # it on the HAVE that completes it, before it counts that piece as wanted (incoming_have
        # -> disconnect_if_redundant, "uninteresting upload-only peer"), so a visitor lacking
        # just that piece lost its source: a crowd over 20 pages, 20 of 60 visitors stalled and
        # took the web seed at ~9.5 s (1.57 copies; 1.02 and none with this; bench/RESULTS.md)
        "close_redundant_connections": False,
        **(extra or {}),                 # --visitor KEY=VALUE: libtorrent settings, tuning runs
    }


def visitors(torrents: list[bytes], schedule, t0: float, deadline: float, stall: bool, utp: bool,
             root: str, results, stop, places: dict | None = None, extra: dict | None = None):
    """One worker process: start each visitor at its arrival time, report completion times.
    Visitor i takes torrents[i % len(torrents)] (a page each).

    The web seed is the backstop: added `deadline` s after arrival (the loader's rule today), or,
    with `stall`, once the swarm delivered nothing for `deadline` s. places: visitor id ->
    (namespace, address) on the emulated network; the session is made inside its namespace."""
    import libtorrent as lt
    from harness.ports import free_port
    pending = sorted(schedule, key=lambda v: v[1])
    running, done, progress, traced = {}, {}, {}, 0.0
    try:
        while pending or len(done) < len(schedule):
            now = time.time()
            while pending and now >= t0 + pending[0][1]:
                vid, offset = pending.pop(0)
                netns, ip = (places or {}).get(vid, (None, "127.0.0.1"))
                with netem.entered(netns) if netns else contextlib.nullcontext():
                    ses = lt.session(visitor_settings(free_port(), utp, ip, extra))
                ti = lt.torrent_info(torrents[vid % len(torrents)])
                seeds = [w["url"] for w in ti.web_seeds()]
                ti.set_web_seeds([])
                atp = lt.add_torrent_params()
                atp.ti = ti
                atp.save_path = f"{root}/v{vid}"
                atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
                running[vid] = (ses, ses.add_torrent(atp), t0 + offset, seeds)
                progress[vid] = (0, time.time())     # the loader's clock starts with its torrent
            for vid, (ses, h, arrived, seeds) in running.items():
                if vid in done:
                    continue
                st, now = h.status(), time.time()
                # bytes received, as the loader counts them (WebTorrent's torrent.received)
                if st.total_payload_download != progress[vid][0]:
                    if not progress[vid][0] and os.environ.get("FLASHCROWD_DEBUG"):
                        print(f"visitor {vid}: first bytes after {now - arrived:.1f} s, "
                              f"{progress[vid][1] - arrived:.1f} s to start", file=sys.stderr)
                    progress[vid] = (st.total_payload_download, now)
                since = progress[vid][1] if stall else arrived
                if st.is_seeding:
                    done[vid] = (time.time() - arrived, not seeds)
                    if os.environ.get("FLASHCROWD_DEBUG"):     # also keeps bench/out/run-*
                        print(f"visitor {vid}: done in {time.time() - arrived:.1f} s, "
                              f"{h.status().num_peers} peers", file=sys.stderr, flush=True)
                elif seeds and now - since >= deadline:
                    if os.environ.get("FLASHCROWD_DEBUG"):
                        print(f"visitor {vid}: web seed after {now - arrived:.1f} s, "
                              f"{st.total_payload_download} B received, {st.num_peers} peers", file=sys.stderr)
                    for url in seeds:           # the loader's backstop: the origin's web seed
                        h.add_url_seed(url)
                    running[vid] = (ses, h, arrived, [])
            if os.environ.get("FLASHCROWD_TRACE") and time.time() >= traced + TRACE_EVERY:
                traced = time.time()
                trace_swarm(f"{os.environ['FLASHCROWD_TRACE']}.{os.getpid()}", running, t0)
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


def trace_swarm(path: str, running: dict, t0: float):
    """FLASHCROWD_TRACE=FILE: one JSON line per visitor to FILE.<pid>: its byte counters, the
    pieces it has (a 0/1 string) and per peer [address, bytes from it, bytes to it, we are
    interested, it is interested, we choke it, it chokes us]. What showed that a crowd's
    visitors held the same pieces at the same time and had nothing to trade (issue 15)."""
    import libtorrent as lt
    flags = (lt.peer_info.interesting, lt.peer_info.remote_interested, lt.peer_info.choked,
             lt.peer_info.remote_choked)
    with open(path, "a") as out:
        for vid, (_, h, _, _) in running.items():
            st = h.status()
            peers = [[p.ip[0], p.total_download, p.total_upload, *(int(bool(p.flags & f)) for f in flags)]
                     for p in h.get_peer_info()]
            out.write(json.dumps({"t": round(time.time() - t0, 2), "visitor": vid,
                                  "down": st.total_payload_download, "up": st.total_payload_upload,
                                  "pieces": "".join("1" if b else "0" for b in st.pieces),
                                  "peers": peers}) + "\n")


def torrent_run(torrents: list[bytes], n: int, spread: float, deadline: float, stall: bool, utp: bool,
                processes: int, root: Path, places: dict | None = None, extra: dict | None = None):
    ctx = mp.get_context("spawn")
    results, stop = ctx.Queue(), ctx.Event()
    per = max(1, math.ceil(n / processes))
    schedule = [(i, spread * i / n) for i in range(n)]
    t0 = time.time() + 3.0                        # time for the workers to import libtorrent
    if os.environ.get("FLASHCROWD_DEBUG"):        # to read the daemon's log against
        print(f"the crowd arrives at {time.strftime('%H:%M:%S', time.localtime(t0))}"
              f".{int(t0 % 1 * 1000):03d}", file=sys.stderr)
    workers = [ctx.Process(target=visitors, args=(torrents, schedule[i:i + per], t0, deadline, stall,
                                                  utp, str(root), results, stop, places, extra),
                          daemon=True)
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
        end_workers(workers, stop)
    return times, fallbacks


def end_workers(workers, stop):
    """The visitors stop seeding; their processes end (killed after 30 s)."""
    stop.set()
    for w in workers:
        w.join(30)
        if w.is_alive():
            w.kill()


def http_run(pages: list[dict[str, int]], n: int, spread: float, places: dict | None = None):
    """N threads, visitor i fetches every asset of pages[i % len(pages)] ({URL: length}); with
    places (visitor id -> (namespace, address)), each from inside its visitor's namespace."""
    times, errors = [None] * n, []
    t0 = time.time() + 0.5

    def visitor(i):
        arrived = t0 + spread * i / n
        time.sleep(max(0.0, arrived - time.time()))
        netns = (places or {}).get(i, (None,))[0]
        try:
            with netem.entered(netns) if netns else contextlib.nullcontext():
                fetch_all(pages[i % len(pages)])
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


def fetch_all(expected: dict[str, int]):
    for url, length in expected.items():
        got = len(fetch(url))
        if got != length:
            raise BenchError(f"{url}: {got} bytes, expected {length}")


# --- one N --------------------------------------------------------------------------------------

def origin_settings(args, browsers: bool, seeder: dict, uplink: int = 0) -> dict:
    """The origin's YAML for this run; seeder: settings on top of --seeder's; the uplink budget
    as pages.uplink. --from-cold: the product's default `auto`, --hot's thresholds."""
    pages = ({"p2p": "auto", "hot": hot_settings(args)} if args.from_cold
             else {"p2p": "always" if browsers else "off"})   # the swarm first, as before hot/cold
    pages["uplink"] = uplink          # the operator's budget: also the seeder's slots per swarm
    return {"seeder": {**dict(args.seeder), **seeder}, "pages": pages,
            "rules": [{"mimetype": "image/*", "min_size": "64KiB", "swap": True}],
            "loader": {"deadline": args.deadline}}       # the browsers' web-seed deadline


def page_assets(base: str, path: str = ""):
    """(the page's torrent, {asset URL: length}) once the page base+path carries its torrent link."""
    import libtorrent as lt
    from harness.processes import wait_for
    torrent = wait_for(lambda: page_torrent(base, path), 60, what=f"<link rel=\"torrent\"> in /{path}")
    info = lt.bdecode(torrent)[b"info"]
    rel = [("/".join(p.decode() for p in f[b"path"]), f[b"length"]) for f in info[b"files"]]
    return torrent, {base + path: length for path, length in rel}


@contextlib.contextmanager
def capped_origin(args, site: Path, workdir: Path, browsers: bool = False):
    """The origin behind the throttle; yields (origin, base URL, torrent, {asset URL: length})."""
    from harness.ports import free_port
    from harness.processes import Process, wait_for

    apache_port, throttle_port = free_port(), free_port()
    base = f"http://127.0.0.1:{throttle_port}/"
    settings = origin_settings(args, browsers, {"upload_limit": args.cap}, uplink=args.cap)
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
        yield (origin, base, [quiet_page_assets(origin, base)] if args.from_cold
               else [page_assets(base, path) for path in page_paths(args.pages)])
    finally:
        throttle.stop()
        origin.stop()


@contextlib.contextmanager
def net_origin(args, site: Path, workdir: Path, host, browsers: bool = False):
    """The origin inside its namespace on the emulated network: its link's uplink is the budget
    (no throttle, no seeder upload_limit). Apache also listens on the host's address; the seeder
    listens there; the tracker stays on the namespace's loopback behind Apache's proxy."""
    with net_frontends(args, site, workdir, [host], browsers) as (origins, *rest):
        yield (origins[0], *rest)


@contextlib.contextmanager
def net_frontends(args, site: Path, workdir: Path, hosts, browsers: bool = False):
    """One origin per host, each on its own copy of the site (another path: info-hashes do not
    depend on it), each a web seed of every torrent (torrents.web_seeds), all announcing to the
    first one's tracker (README "Scaling past one machine"). Yields ([origins], first base URL,
    [(torrent, {asset URL: length}) per page]); the torrents are the first frontend's, the same on all."""
    from harness.ports import free_port
    ports = [free_port() for _ in hosts]
    bases = [f"http://{h.ip}:{port}/" for h, port in zip(hosts, ports)]
    extra = {}
    if len(hosts) > 1:
        extra = {"torrents": {"web_seeds": bases},
                 "tracker": {"announce": [f"{bases[0]}announce", f"ws://{hosts[0].ip}:{ports[0]}/announce"]}}
    origins = []
    try:
        for i, (host, port, base) in enumerate(zip(hosts, ports, bases)):
            docroot = site if i == 0 else _copy_site(site, workdir / f"frontend{i}" / "srv" / "copy")
            settings = origin_settings(args, browsers, {"upload_limit": 0, "listen": f"{host.ip}:{free_port()}"},
                                       uplink=int(host.profile.up_mbit * 1e6 / 8))
            with host.entered():
                origins.append(Origin.start(docroot, workdir / (f"frontend{i}" if i else "origin"), port=port,
                                            settings={**settings, **extra}, base_url=base,
                                            apache_extra=f"Listen {host.ip}:{port}"))
        for host, origin, base in zip(hosts, origins, bases):
            with host.entered():
                if args.from_cold:                             # no page view before the crowd
                    assets = [quiet_page_assets(origin, base)]
                elif not origin.wait_published(page_paths(args.pages)[-1], timeout=60):
                    raise BenchError(f"{base}: no <link rel=\"torrent\"> within 60 s")   # mod_wsgi: 503 at first
                else:
                    assets = [page_assets(base, path) for path in page_paths(args.pages)]
                if host is hosts[0]:
                    first = assets
                elif [lt_info_hash(t) for t, _ in assets] != [lt_info_hash(t) for t, _ in first]:
                    raise BenchError(f"{base}: another info-hash than {bases[0]} for the same page")
        yield (origins, bases[0], first)
    finally:
        for origin in origins:
            origin.stop()


def _copy_site(site: Path, dest: Path) -> Path:
    shutil.copytree(site, dest, dirs_exist_ok=True)
    return dest


def lt_info_hash(torrent: bytes) -> str:
    import libtorrent as lt
    return str(lt.torrent_info(torrent).info_hashes().v1)


def network(args, n: int, origins=None) -> netem.Network:
    """The origin (profile `origin`) and n visitors v0..v{n-1} with profiles from --net's mix,
    every link scaled by --link-scale and --delay-scale; origins: [(name, profile)] in place of
    the one origin (scaled by the caller)."""
    scaled = lambda p: netem.scaled(p, args.link_scale, args.delay_scale)     # noqa: E731
    return netem.Network([*(origins or [("origin", scaled(netem.PROFILES["origin"]))]),
                          *((f"v{i}", scaled(p)) for i, p in enumerate(netem.crowd(args.net, n)))])


def limit_s(page_bytes: list[int], origin: netem.Profile, visitors: list[netem.Profile]) -> float:
    """No visitor can finish sooner: one copy of every page through the origin's uplink; every
    visitor's copy (visitor i: page i % pages) through all uplinks together; each visitor's
    page through its downlink (link rates, bytes/s)."""
    rate = lambda mbit: mbit * 1e6 / 8                                  # noqa: E731
    uplinks = rate(origin.up_mbit) + sum(rate(p.up_mbit) for p in visitors)
    wants = [page_bytes[i % len(page_bytes)] for i in range(len(visitors))]
    return max(sum(page_bytes) / rate(origin.up_mbit), sum(wants) / uplinks,
               max(w / rate(p.down_mbit) for w, p in zip(wants, visitors)))


def run_one(n: int, args, site: Path, work: Path, frontends: int = 1, scale: float = 1.0) -> Result | ColdResult:
    """frontends: that many origins on `origin` links, sharing the first one's tracker; scale: one
    origin whose link has `scale` times the `origin` profile's rates (the baseline of --frontends)."""
    measure = measure_from_cold if args.from_cold else measure_one
    if not args.net:
        return measure(n, args, capped_origin(args, site, work / f"n{n}"), work, None)
    link = netem.scaled(netem.PROFILES["origin"], scale * args.link_scale, args.delay_scale)
    names = ["origin", *(f"frontend{i}" for i in range(1, frontends))]
    with network(args, n, [(name, link) for name in names]) as net:
        places = {i: (net[f"v{i}"].netns, net[f"v{i}"].ip) for i in range(n)}
        workdir = work / f"n{n}-f{frontends}-x{scale:g}"
        origin_cm = (net_frontends(args, site, workdir, [net[name] for name in names]) if frontends > 1
                     else net_origin(args, site, workdir, net["origin"]))
        r = measure(n, args, origin_cm, work, places)
        uplink = replace(link, up_mbit=link.up_mbit * frontends)     # all frontends' uplinks together
        limit = math.nan if args.from_cold else limit_s(list(r.page_bytes), uplink,
                                                         [net[f"v{i}"].profile for i in range(n)])
    if args.from_cold:
        late = net.lateness
        return replace(r, net=net_label(args), net_late_ms_p99=late["late_ms_p99"], net_dropped=late["dropped"])
    return with_net_figures(r, net_label(args), limit, net)


def net_label(args) -> str:
    """--net's mix as the results name it, with --link-scale and --delay-scale unless 1."""
    return args.net + netem.scale_suffix(args.link_scale, args.delay_scale)


def with_net_figures(r, mix: str, limit: float, net: netem.Network):
    """The run's result with --net's figures: p95s against `limit` (limit_s), the delay line's."""
    late = net.lateness         # written at teardown
    return replace(r, net=mix, limit_s=round(limit, 2), p95_limit=round(r.p95_s / limit, 2),
                   http_p95_limit=round(r.http_p95_s / limit, 2),
                   net_late_ms_p99=late["late_ms_p99"], net_dropped=late["dropped"])


def measure_one(n: int, args, origin_cm, work: Path, places: dict | None) -> Result:
    """Plain HTTP, then BitTorrent, against the origin that origin_cm starts."""
    with origin_cm as (origin, base, pages):
        origins = origin if isinstance(origin, list) else [origin]     # --frontends: every one counts
        page_urls = [urls for _, urls in pages]
        asset_bytes = sum(sum(urls.values()) for urls in page_urls)     # one copy of every page
        demand = sum(sum(page_urls[i % len(pages)].values()) for i in range(n))
        paths = {"/" + url[len(base):] for urls in page_urls for url in urls}

        marks = [len(o.apache.access_log_lines()) for o in origins]
        http_times = http_run(page_urls, n, args.spread, places) if args.http else [math.nan]
        time.sleep(0.5)
        http_bytes = sum(asset_bytes_in_log(o.apache.access_log_lines()[m:], paths)
                         for o, m in zip(origins, marks))
        marks = [len(o.apache.access_log_lines()) for o in origins]

        up0 = [o.status().get("uploaded", 0) for o in origins]
        vroot = Path(tempfile.mkdtemp(prefix="flashcrowd-", dir=work))
        try:
            times, fallbacks = torrent_run([t for t, _ in pages], n, args.spread, args.deadline,
                                           args.backstop == "stall", args.utp, args.processes, vroot,
                                           places, dict(args.visitor))
        finally:
            shutil.rmtree(vroot, ignore_errors=True)
        finished = time.time()
        seeders = [fresh_status(o, finished + STATS_LAG)["uploaded"] - u for o, u in zip(origins, up0)]
        apaches = [asset_bytes_in_log(o.apache.access_log_lines()[m:], paths) for o, m in zip(origins, marks)]
        seeder_bytes, apache_bytes = sum(seeders), sum(apaches)
        held = held_back(origins)
    server = apache_bytes + seeder_bytes
    p95, http_p95 = quantile(times, 0.95), quantile(http_times, 0.95)
    return Result(
        clients=n, asset_bytes=asset_bytes, server_bytes=server, apache_bytes=apache_bytes,
        seeder_bytes=seeder_bytes, server_copies=round(server / asset_bytes, 3),
        offload=round(1 - server / demand, 3),
        p50_s=round(quantile(times, 0.5), 2), p95_s=round(p95, 2), web_seed_fallbacks=fallbacks,
        http_server_bytes=http_bytes, http_server_copies=round(http_bytes / asset_bytes, 3),
        http_p50_s=round(quantile(http_times, 0.5), 2), http_p95_s=round(http_p95, 2),
        p95_ratio=round(p95 / http_p95, 3), cap=args.cap, size=args.size, backstop=args.backstop,
        deadline=args.deadline, pages=len(pages),
        page_bytes=tuple(sum(urls.values()) for urls in page_urls),
        frontend_bytes=tuple(a + b for a, b in zip(apaches, seeders)) if len(origins) > 1 else (),
        held_back=held, utp=args.utp)


# --- from cold (pages.p2p: auto) ------------------------------------------------------------

HOT_MARK = b"data-torrent-src="         # a hot page's swapped elements (apache/swap.py)
HEAT_LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) .*: page (.+) is (hot|cold): ")
BENCH_COOL_DOWN = 5.0                   # pages.hot.cool_down here: the default 300 s would idle the run


@dataclass(frozen=True)
class ColdResult:
    """--from-cold: the crowd meets a page nobody asked for yet (pages.p2p: auto)."""
    clients: int
    asset_bytes: int
    server_bytes: int           # Apache's asset bytes (cold visitors' GETs + web seed) + seeder's
    cold_http_bytes: int        # Apache, the assets' own URLs: the visitors who got the page cold
    web_seed_bytes: int         # Apache, the bundle's web seed: hot visitors' backstop
    seeder_bytes: int
    server_copies: float
    cold_visitors: int          # got the page cold: assets by HTTP, then seeded them
    hot_visitors: int           # got the page hot: assets from the swarm
    cold_downloaded: int        # payload bytes cold visitors took again from anyone (0: none)
    web_seed_fallbacks: int
    p50_s: float
    p95_s: float
    http_p50_s: float
    http_p95_s: float
    p50_ratio: float
    p95_ratio: float
    hot_after_s: float          # crowd's first page request -> the daemon's "page ... is hot"
    first_hot_visitor: int      # index (arrival order) of the first visitor served the hot page
    first_hot_at_s: float       # its page request, after the crowd's first one
    last_cold_at_s: float       # the last visitor served cold, likewise
    cold_after_s: float         # crowd's last page request -> "page ... is cold"
    views: int                  # pages.hot thresholds of the run
    window: float
    cool_down: float
    uplink: int                 # pages.uplink
    spread: float
    cap: int
    size: int
    net: str = ""
    net_late_ms_p99: float = math.nan
    net_dropped: int = 0
    held_back: int = 0
    utp: bool = False


HELD_BACK_LINE = "the seeder holds back"


def held_back(origins) -> int:
    """How often the seeders began to hold back in a swarm (their log says so each time)."""
    return sum(o.daemon.log().count(HELD_BACK_LINE) for o in origins)


def heat_events(log: str) -> list[tuple[float, str, str]]:
    """(time, page, hot|cold) from the daemon's log lines "page /x is hot: ..."."""
    out = []
    for line in log.splitlines():
        m = HEAT_LINE_RE.match(line)
        if m:
            stamp = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            out.append((stamp, m.group(3), m.group(4)))
    return out


def page_state(body: bytes) -> str:
    """What a browser's loader does with this page: hot (swarm first) or cold (plain HTTP)."""
    return "hot" if HOT_MARK in body else "cold"


def quiet_page_assets(origin, base: str):
    """(torrent, {asset URL: length}) without a page view: the page's link is read from the
    cold copy the daemon rendered for Apache (a GET of the page would count towards hot)."""
    from harness.processes import wait_for
    copy = origin.site.state / "pages" / "index.html"

    def linked():
        m = copy.exists() and LINK_RE.search(copy.read_bytes())
        return m and fetch(base.rstrip("/") + m.group(1).decode())
    torrent = wait_for(linked, 60, interval=0.2, what=f"{copy} with its <link rel=\"torrent\">")
    return torrent, torrent_assets(torrent, base)


def torrent_assets(torrent: bytes, base: str) -> dict[str, int]:
    """{asset URL: length} of a page bundle (its files' paths are the docroot's)."""
    import libtorrent as lt
    info = lt.bdecode(torrent)[b"info"]
    return {base + "/".join(p.decode() for p in f[b"path"]): f[b"length"] for f in info[b"files"]}


def cold_start_visit(vid: int, page_url: str, base: str, arrive_at: float, deadline: float,
                     stall: bool, utp: bool, root: str, place, sessions: list, stop) -> dict:
    """One visitor as the browser loader behaves with pages.p2p: auto. GET the page; hot: the
    assets from the swarm (the web seed as stall backstop); cold: the assets by plain HTTP,
    then the bundle torrent added over those files, so libtorrent verifies them and seeds
    (every visitor fetches the small .torrent first: it names the assets for this bench)."""
    import libtorrent as lt
    from harness.ports import free_port
    netns, ip = place
    inside = (lambda: netem.entered(netns)) if netns else contextlib.nullcontext
    time.sleep(max(0.0, arrive_at - time.time()))
    arrived = time.time()
    with inside():
        body = fetch(page_url)
        m = LINK_RE.search(body)
        if not m:
            raise BenchError(f"visitor {vid}: the page has no <link rel=\"torrent\">")
        torrent = fetch(base.rstrip("/") + m.group(1).decode())
        state = page_state(body)
        save = f"{root}/v{vid}"
        info = lt.bdecode(torrent)[b"info"]
        if state == "cold":                 # <img src> as it is: plain HTTP, at once
            for f in info[b"files"]:
                rel = "/".join(p.decode() for p in f[b"path"])
                data = fetch(base + rel)
                if len(data) != f[b"length"]:
                    raise BenchError(f"visitor {vid}: {rel}: {len(data)} bytes, expected {f[b'length']}")
                target = Path(save, info[b"name"].decode(), rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            shown = time.time()
        ses = lt.session(visitor_settings(free_port(), utp, ip))
    sessions.append(ses)
    ti = lt.torrent_info(torrent)
    seeds = [w["url"] for w in ti.web_seeds()]
    ti.set_web_seeds([])                    # hot: held back (the backstop); cold: never needed
    atp = lt.add_torrent_params()
    atp.ti, atp.save_path = ti, save
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    h = ses.add_torrent(atp)
    fell_back, last, since = False, -1, arrived
    while not h.status().is_seeding:
        now = time.time()
        st = h.status()
        if st.total_payload_download != last:
            last, since = st.total_payload_download, now
        if state == "hot" and not fell_back and now - (since if stall else arrived) >= deadline:
            for url in seeds:               # the loader's backstop: the origin's web seed
                h.add_url_seed(url)
            fell_back = True
        if now - arrived > 900 or stop.is_set():
            raise BenchError(f"visitor {vid} ({state}) not seeding after {now - arrived:.0f} s")
        time.sleep(0.02)
    done = time.time()
    if os.environ.get("FLASHCROWD_DEBUG"):
        print(f"visitor {vid}: {state}, done in {done - arrived:.1f} s", file=sys.stderr, flush=True)
    return {"state": state, "arrived": arrived, "took": (shown if state == "cold" else done) - arrived,
            "fell_back": fell_back, "handle": h}


def cold_start_visitors(page_url: str, base: str, schedule, start, deadline: float, stall: bool,
                        utp: bool, root: str, results, stop, places: dict | None = None):
    """One worker process of --from-cold visitors, a thread each (a cold one spends seconds in
    HTTP GETs); every visitor keeps seeding until the parent says stop. start: (go, t0): the
    crowd's time zero, set once every worker is ready (a loaded machine can take seconds to
    import libtorrent: the arrivals would bunch up)."""
    import libtorrent  # noqa: F401
    results.put(("ready", None))
    go, t0 = start
    go.wait(120)
    t0 = t0.value
    records, errors, sessions = {}, [], []

    def run(vid, offset):
        try:
            records[vid] = cold_start_visit(vid, page_url, base, t0 + offset, deadline, stall, utp,
                                            root, (places or {}).get(vid, (None, "127.0.0.1")),
                                            sessions, stop)
        except Exception as e:              # report, never hang the parent
            errors.append(f"visitor {vid}: {type(e).__name__}: {e}")
    threads = [threading.Thread(target=run, args=v, daemon=True) for v in schedule]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        results.put(("error", "; ".join(errors[:3])))
        return
    results.put(("done", {vid: {k: v for k, v in r.items() if k != "handle"} for vid, r in records.items()}))
    stop.wait(900)                          # seeding, as open tabs do, until the run ends
    downloaded = {vid: r["handle"].status().total_payload_download for vid, r in records.items()
                  if r["state"] == "cold"}
    results.put(("downloaded", downloaded))


def cold_start_run(page_url: str, base: str, n: int, args, root: Path, until_cold,
                   places: dict | None = None):
    """The crowd: n visitors, arrivals even within --spread; returns their records, once the
    page went cold again (until_cold() waits for that while they still seed), with what the
    cold visitors downloaded in all (their HTTP copy is not in it: it must stay 0)."""
    ctx = mp.get_context("spawn")
    results, stop, go, t0 = ctx.Queue(), ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
    per = max(1, math.ceil(n / args.processes))
    schedule = [(i, args.spread * i / n) for i in range(n)]
    workers = [ctx.Process(target=cold_start_visitors,
                           args=(page_url, base, schedule[i:i + per], (go, t0), args.deadline,
                                 args.backstop == "stall", args.utp, str(root), results, stop, places),
                           daemon=True) for i in range(0, n, per)]
    for w in workers:
        w.start()
    records, downloaded = {}, {}
    try:
        for _ in workers:
            results.get(timeout=120)        # ready
        t0.value = time.time() + 0.5
        go.set()
        for _ in workers:
            kind, payload = results.get(timeout=960)
            if kind == "error":
                raise BenchError(f"a visitor process failed: {payload}")
            records.update(payload)
        cold = until_cold(records)
        stop.set()
        for _ in workers:
            kind, payload = results.get(timeout=60)
            downloaded.update(payload)
    finally:
        end_workers(workers, stop)
    return records, cold, sum(downloaded.values())


def hot_settings(args) -> dict:
    return {"cool_down": BENCH_COOL_DOWN, **dict(args.hot)}


def still_cold_after_baseline(origin):
    """--from-cold: a quiet while the plain-HTTP baseline's egress leaves the daemon's window (it
    must not count for the crowd); the page must not have turned hot meanwhile."""
    from torrentweb.seeder.heat import RATE_SPAN
    time.sleep(RATE_SPAN + 1.0)
    if heat_events(origin.daemon.log()):
        raise BenchError("the page turned hot before the crowd: " + origin.daemon.log()[-500:])


def measure_from_cold(n: int, args, origin_cm, work: Path, places: dict | None) -> ColdResult:
    """Plain HTTP first (assets only: no page view), a quiet while its egress leaves the
    daemon's window, then the crowd on the still-cold page."""
    with origin_cm as (origin, base, [(torrent, urls)]):
        asset_bytes = sum(urls.values())
        paths = {"/" + url[len(base):] for url in urls}
        hot = origin.config.pages.hot
        http_times = http_run([urls], n, args.spread, places) if args.http else [math.nan]
        still_cold_after_baseline(origin)
        mark = len(origin.apache.access_log_lines())
        up0 = origin.status().get("uploaded", 0)

        def until_cold(records):
            from harness.processes import wait_for
            last_view = max(r["arrived"] for r in records.values())
            return wait_for(lambda: next((t for t, _, s in heat_events(origin.daemon.log())
                                          if s == "cold" and t > last_view), None),
                            hot.window + hot.cool_down + 60, interval=0.2,
                            what="the daemon's \"page ... is cold\" after the crowd")
        vroot = Path(tempfile.mkdtemp(prefix="flashcrowd-", dir=work))
        try:
            records, cold_at, cold_downloaded = cold_start_run(base, base, n, args, vroot, until_cold,
                                                               places)
        finally:
            shutil.rmtree(vroot, ignore_errors=True)
        status = fresh_status(origin, time.time() + STATS_LAG)
        seeder_bytes = status["uploaded"] - up0
        cold_http, web_seed = asset_bytes_by_route(origin.apache.access_log_lines()[mark:], paths)
        events = heat_events(origin.daemon.log())
        held = held_back([origin])
    first_view = min(r["arrived"] for r in records.values())
    last_view = max(r["arrived"] for r in records.values())
    hot_at = next((t for t, _, s in events if s == "hot"), math.nan)
    order = sorted(records.values(), key=lambda r: r["arrived"])
    times = [r["took"] for r in order]
    server = cold_http + web_seed + seeder_bytes
    p50, p95 = quantile(times, 0.5), quantile(times, 0.95)
    hp50, hp95 = quantile(http_times, 0.5), quantile(http_times, 0.95)
    return ColdResult(
        clients=n, asset_bytes=asset_bytes, server_bytes=server, cold_http_bytes=cold_http,
        web_seed_bytes=web_seed, seeder_bytes=seeder_bytes, server_copies=round(server / asset_bytes, 3),
        cold_visitors=sum(r["state"] == "cold" for r in order),
        hot_visitors=sum(r["state"] == "hot" for r in order),
        cold_downloaded=cold_downloaded, web_seed_fallbacks=sum(r["fell_back"] for r in order),
        p50_s=round(p50, 2), p95_s=round(p95, 2), http_p50_s=round(hp50, 2), http_p95_s=round(hp95, 2),
        p50_ratio=round(p50 / hp50, 3), p95_ratio=round(p95 / hp95, 3),
        hot_after_s=round(hot_at - first_view, 2),
        first_hot_visitor=next((i for i, r in enumerate(order) if r["state"] == "hot"), -1),
        first_hot_at_s=round(next((r["arrived"] for r in order if r["state"] == "hot"), math.nan)
                             - first_view, 2),
        last_cold_at_s=round(max(r["arrived"] for r in order if r["state"] == "cold") - first_view, 2)
        if any(r["state"] == "cold" for r in order) else math.nan,
        cold_after_s=round(cold_at - last_view, 2), views=hot.views, window=hot.window,
        cool_down=hot.cool_down, uplink=origin.config.pages.uplink, spread=args.spread,
        cap=args.cap, size=args.size, held_back=held, utp=args.utp)


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
    cold: int = 0               # --from-cold: tabs that got the page cold (plain HTTP, then seeded)
    held_back: int = 0          # swarms where the seeder began to hold back
    net: str = ""               # --net: each tab its own Chromium on its own emulated line
    limit_s: float = math.nan
    p95_limit: float = math.nan
    http_p95_limit: float = math.nan
    net_late_ms_p99: float = math.nan
    net_dropped: int = 0


def run_browsers(n: int, args, site: Path, work: Path) -> BrowserResult:
    """N headless Chromium contexts open the page with the real loader (swap on). --from-cold:
    pages.p2p: auto on a page nobody viewed; the first tabs get it cold (plain HTTP, then seed
    it from their cache), the rest hot once the daemon decides."""
    if args.net:
        return run_browsers_net(n, args, site, work)
    with capped_origin(args, site, work / f"browsers{n}", browsers=True) as origin_and_assets:
        return measure_browsers(n, args, origin_and_assets, None)


def run_browsers_net(n: int, args, site: Path, work: Path) -> BrowserResult:
    """--net: one Chromium per visitor, each started inside its own visitor's namespace (a
    browser process is one host: its tabs would share one line), the origin on its link."""
    with network(args, n) as net:
        places = {i: (net[f"v{i}"].netns, net[f"v{i}"].ip) for i in range(n)}
        with net_origin(args, site, work / f"browsers{n}", net["origin"], browsers=True) as origin_and_assets:
            r = measure_browsers(n, args, origin_and_assets, places)
        limit = limit_s([r.asset_bytes], net["origin"].profile, [net[f"v{i}"].profile for i in range(n)])
    return with_net_figures(r, net_label(args), limit, net)


def measure_browsers(n: int, args, origin_and_assets, places: dict | None) -> BrowserResult:
    """Plain HTTP first (the same N, threads), then the tabs; server bytes from Apache's log and
    the seeder's status."""
    origin, base, [(_, urls)] = origin_and_assets
    asset_bytes, paths = sum(urls.values()), {"/" + url[len(base):] for url in urls}
    mark = len(origin.apache.access_log_lines())
    http_times = http_run([urls], n, args.spread, places)
    time.sleep(0.5)
    lines = origin.apache.access_log_lines()
    http_bytes, mark = asset_bytes_in_log(lines[mark:], paths), len(lines)
    if args.from_cold:
        still_cold_after_baseline(origin)
    up0 = origin.status().get("uploaded", 0)
    times, via, cold = _browse(base, n, len(urls), args.spread, places)
    finished = time.time()
    seeder_bytes = fresh_status(origin, finished + STATS_LAG)["uploaded"] - up0
    apache_bytes = asset_bytes_in_log(origin.apache.access_log_lines()[mark:], paths)
    held = held_back([origin])
    server = apache_bytes + seeder_bytes
    return BrowserResult(n, asset_bytes, server, apache_bytes, seeder_bytes,
                         round(server / asset_bytes, 3), round(quantile(times, 0.5), 2),
                         round(quantile(times, 0.95), 2), via,
                         round(http_bytes / asset_bytes, 3), round(quantile(http_times, 0.95), 2), cold,
                         held)


# [assets shown and how, the loader's error, its mode]: a cold page's images are the browser's
# own (plain HTTP); its loader runs after `load`, so mode "cold" means they are all shown
SHOWN_JS = ("() => window.torrentweb ? [window.torrentweb.elements.map(e => e.via), "
            "window.torrentweb.error, window.torrentweb.mode] : [[], null, undefined]")


def _browse(url: str, n: int, expected: int, spread: float, places: dict | None = None):
    """Open n isolated contexts (arrivals spread evenly); poll until each loader showed every asset;
    keep them all open (seeding) until the last one is done. places (visitor id -> (namespace,
    address)): each visitor its own Chromium, started inside its namespace."""
    from harness.browser import chromium, chromiums
    with contextlib.ExitStack() as stack:
        if places:         # the private http:// origin counts as secure, as https:// would
            secure = [f"--unsafely-treat-insecure-origin-as-secure={url.rstrip('/')}"]
            browsers = stack.enter_context(chromiums([places[i][0] for i in range(n)], secure))
        else:
            browsers = [stack.enter_context(chromium())] * n
        pages, arrived, done, cold = [], [], {}, set()
        t0 = time.time()
        for i in range(n):
            time.sleep(max(0.0, t0 + spread * i / n - time.time()))
            page = stack.enter_context(browsers[i].context()).new_page()
            arrived.append(time.time())
            page.goto(url, wait_until="commit")
            pages.append(page)
        deadline = time.time() + 180
        while len(done) < n:
            for i, page in enumerate(pages):
                if i not in done:
                    shown, error, mode = page.evaluate(SHOWN_JS)
                    if mode == "cold":
                        done[i] = (time.time() - arrived[i], ["http"] * expected)
                        cold.add(i)
                    elif len(shown) >= expected:
                        done[i] = (time.time() - arrived[i], shown)
            if time.time() > deadline:
                raise BenchError(f"browsers {sorted(set(range(n)) - set(done))} did not show all "
                                 f"{expected} assets in 180 s (loader error: {error})")
            time.sleep(0.1)
    via = {}
    for _, shown in done.values():
        for v in shown:
            via[v] = via.get(v, 0) + 1
    return [t for t, _ in done.values()], via, len(cold)


def fresh_status(origin, after: float) -> dict:
    """The daemon's status.json written after `after` (it rewrites it every 2 s)."""
    from harness.processes import wait_for
    return wait_for(lambda: (lambda s: s if s.get("updated", 0) > after else None)(origin.status()),
                    15, what="a fresh status.json")


def page_torrent(base: str, path: str = "") -> bytes | None:
    m = LINK_RE.search(fetch(base + path))
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
    p.add_argument("--utp", action=argparse.BooleanOptionalAction, help="native visitors speak uTP "
                   "as well as TCP, as common clients do (default: with --net; --no-utp: TCP only)")
    p.add_argument("--no-http", dest="http", action="store_false",
                   help="skip the plain-HTTP baseline (for tuning runs; its figures become NaN)")
    add_seeder_option(p)
    p.add_argument("--visitor", type=seeder_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="a libtorrent setting of the native visitors, for a tuning run, e.g. "
                        "unchoke_slots_limit=-1")
    p.add_argument("--processes", type=int, default=4, help="visitor processes")
    p.add_argument("--net", metavar="MIX", help="on bench/net.py's emulated network (root): the "
                   "visitors' profiles, e.g. home or home=0.5,mobile=0.5; the origin's link is the "
                   "`origin` profile and replaces --cap; with --browsers, each its own Chromium")
    p.add_argument("--link-scale", type=float, default=1.0, metavar="F",
                   help="with --net: every link's rates times F, delays as they are (F < 1: the same "
                        "crowd with less CPU per second; a p95 / limit_s that falls with F says the "
                        "machine, not the protocol, set the time)")
    p.add_argument("--delay-scale", type=float, default=1.0, metavar="F",
                   help="with --net: every link's delay times F (with --link-scale 1/F: the same "
                        "network, time stretched; a p95 / limit_s as at 1 says round trips, not "
                        "the CPU, set the time)")
    p.add_argument("--from-cold", action="store_true", help="pages.p2p: auto on a fresh origin: "
                   "each visitor gets the page hot (swarm) or cold (plain HTTP, then seeds it); one N")
    p.add_argument("--hot", type=seeder_setting, action="append", default=[], metavar="KEY=VALUE",
                   help=f"--from-cold: a pages.hot setting, e.g. views=1 (cool_down: {BENCH_COOL_DOWN:g} "
                        "here unless given)")
    p.add_argument("--frontends", type=int, default=1, metavar="K",
                   help="with --net: K frontends (each an origin link, a copy of the site, a web seed; "
                        "one shared tracker), then one frontend with K times the uplink; prints the ratio")
    p.add_argument("--pages", type=int, default=1, metavar="K",
                   help="a site of K pages (p01/ ... each its own --size of images), the crowd spread "
                        "over them (visitor i on page i %% K); one N, native visitors")
    p.add_argument("--out", type=Path, default=HERE / "out", help="work dir (git-ignored)")
    args = p.parse_args(argv)
    if args.utp is None:
        args.utp = bool(args.net)
    if args.clients is not None and not 1 <= args.clients <= 256:
        p.error(f"--clients {args.clients}: expected 1 to 256")
    for name, value in (("--link-scale", args.link_scale), ("--delay-scale", args.delay_scale)):
        if value != 1 and (not args.net or not 0.01 <= value <= 100):
            p.error(f"{name} {value:g}: 0.01 to 100, with --net")
    if args.net and bool(args.clients) == bool(args.browsers):
        p.error("--net: one N, native visitors (--clients) or Chromium (--browsers)")
    if args.from_cold and not (args.clients or args.browsers):
        p.error("--from-cold: one N (--clients or --browsers)")
    if args.hot and not args.from_cold:
        p.error("--hot: only with --from-cold")
    if args.frontends != 1 and (not args.net or not 2 <= args.frontends <= 8):
        p.error(f"--frontends {args.frontends}: 2 to 8, with --net")
    if args.from_cold and args.frontends != 1:
        p.error("--from-cold: one frontend")
    if args.pages != 1 and (not 2 <= args.pages <= 50 or not args.clients or args.browsers
                            or args.from_cold or args.frontends != 1):
        p.error(f"--pages {args.pages}: 2 to 50, one N (--clients), native visitors, one frontend, "
                "not --from-cold")
    args.out.mkdir(parents=True, exist_ok=True)
    site = make_site(args.size, args.out, args.pages)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.out))
    results, browsers = [], []
    native = [args.clients] if args.clients else [] if args.browsers else SERIES
    try:
        if args.frontends > 1:
            return frontends_run(args, site, work)
        for n in native:
            r = run_one(n, args, site, work)
            results.append(r)
            if args.from_cold:
                print(cold_summary(r), flush=True)
                continue
            print(f"N={n}{f' over {r.pages} pages' if r.pages > 1 else ''}: torrentweb "
                  f"{r.server_copies:.2f} copies ({r.web_seed_fallbacks} web-seed fallbacks), p95 {r.p95_s:.1f} s; "
                  f"plain HTTP {r.http_server_copies:.2f} copies, p95 {r.http_p95_s:.1f} s", flush=True)
            if args.net:
                print(f"  --net {r.net} ({'TCP + uTP' if r.utp else 'TCP only'}): limit_s {r.limit_s:.2f} s; "
                      f"p95 = {r.p95_limit:.2f} x limit_s "
                      f"(plain HTTP {r.http_p95_limit:.2f} x); delay line p99 late "
                      f"<= {r.net_late_ms_p99:.1f} ms, {r.net_dropped} dropped", flush=True)
        for n in [args.browsers] if args.browsers else [] if args.clients else BROWSER_SERIES:
            b = run_browsers(n, args, site, work)
            browsers.append(b)
            print(f"Chromium x{n}: torrentweb {b.server_copies:.2f} copies, p95 {b.p95_s:.1f} s "
                  f"({b.via}{f'; {b.cold} tabs got the page cold' if args.from_cold else ''}); plain HTTP {b.http_server_copies:.2f} copies, p95 {b.http_p95_s:.1f} s",
                  flush=True)
            if args.net:
                print(f"  --net {b.net}: limit_s {b.limit_s:.2f} s; p95 = {b.p95_limit:.2f} x limit_s "
                      f"(plain HTTP {b.http_p95_limit:.2f} x); delay line p99 late "
                      f"<= {b.net_late_ms_p99:.1f} ms, {b.net_dropped} dropped", flush=True)
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


def cold_summary(r: ColdResult) -> str:
    return (f"N={r.clients} from cold (views {r.views} in {r.window:g} s, cool_down {r.cool_down:g} s, "
            f"spread {r.spread:g} s{', --net ' + r.net if r.net else ''}): {r.server_copies:.2f} server "
            f"copies ({r.cold_http_bytes / r.asset_bytes:.2f} by HTTP to {r.cold_visitors} cold visitors, "
            f"{r.web_seed_bytes / r.asset_bytes:.2f} web seed, {r.seeder_bytes / r.asset_bytes:.2f} seeder); "
            f"{r.hot_visitors} hot; p50 / p95 {r.p50_s:.1f} / {r.p95_s:.1f} s, plain HTTP "
            f"{r.http_p50_s:.1f} / {r.http_p95_s:.1f} s (ratios {r.p50_ratio:.2f} / {r.p95_ratio:.2f}); "
            f"hot {r.hot_after_s:.2f} s after the first request (last cold visitor at {r.last_cold_at_s:.2f} s, "
            f"first hot #{r.first_hot_visitor} at {r.first_hot_at_s:.2f} s), "
            f"cold {r.cold_after_s:.1f} s after the last; cold visitors re-downloaded {r.cold_downloaded} B")


def frontends_run(args, site: Path, work: Path) -> int:
    """K frontends against one frontend with K times the uplink, alternated, same N and mix."""
    k, n = args.frontends, args.clients
    several = run_one(n, args, site, work, frontends=k)
    one = run_one(n, args, site, work, scale=k)
    for label, r in ((f"{k} frontends", several), (f"1 frontend, {k}x uplink", one)):
        print(f"N={n} {label}: {r.server_copies:.2f} server copies (Apache {r.apache_bytes}, seeder "
              f"{r.seeder_bytes} bytes), p95 {r.p95_s:.1f} s, limit_s {r.limit_s:.2f} s, "
              f"{r.web_seed_fallbacks} web seed fallbacks"
              + (f"; per frontend {', '.join(f'{b / r.asset_bytes:.2f}' for b in r.frontend_bytes)} copies"
                 if r.frontend_bytes else ""), flush=True)
    print(f"ratio, {k} frontends / 1 frontend with {k}x uplink: server copies "
          f"{several.server_copies / one.server_copies:.2f}, p95 {several.p95_s / one.p95_s:.2f}")
    if args.json:
        for label, r in (("frontends", several), ("baseline", one)):
            print(json.dumps({"run": label, "frontends": k if label == "frontends" else 1, **asdict(r)}))
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
