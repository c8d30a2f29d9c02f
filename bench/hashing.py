#!/usr/bin/env python3
"""How fast the seeder turns files into seeded torrents, and what it costs to keep many.

    .venv/bin/python bench/hashing.py            # the full run (~1.6 GiB of scratch files in /tmp)
    .venv/bin/python bench/hashing.py --quick    # a smoke run with small sizes
    .venv/bin/python bench/hashing.py --webrtc   # only 4. (10,000 torrents; --count N for others)

Runs the real daemon (`torrentweb seeder`, ready on sd_notify READY=1 to a socket of ours) and
measures, all in one run:
1. landing -> published: a file written under a temporary name outside the document root and
   renamed in, until its `published <path> <infohash>` log line; landing -> seeded: until an
   independent libtorrent client, connected to the seeder only (no tracker, no web seed), holds
   its first piece. p50/p95 over several files of 100 KiB, 10 MiB and 200 MiB.
2. the initial scan: the daemon started on a tree of ~1 GiB it has never seen, until its
   "all published" line, in MiB/s; beside it `mktorrent` hashing the same files with the same
   piece sizes and one thread (the daemon's default hash_threads), in the same run: the ratio.
3. 10,000 small files catalogued and seeded: the daemon's peak RSS (VmHWM from /proc) and the
   restart time to READY=1 with nothing changed (nothing may be re-hashed).
4. (`--webrtc`, a section of its own) the same 10,000 torrents with ws:// and http:// trackers
   and WebRTC on, no browser: at restart, READY=1 time, descriptors and RSS once idle, and the
   latency of HTTP announces sent to the daemon's tracker all through the start (p50/p99/max),
   beside the daemon's own worst loop lag (status.json `loop_lag_max`).
The figures go to the terminal and to this benchmark's section(s) of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from harness.daemon import Daemon, Site, make_site   # noqa: E402  (the real daemon, as the tests start it)
import results                                     # noqa: E402

KIB, MIB, GIB = 1024, 1024**2, 1024**3
RESULTS = ROOT / "bench" / "RESULTS.md"
SETTLE = 0.5            # watch.settle, the default: a file must be quiet this long before hashing


class BenchError(Exception):
    """The benchmark could not measure something; the message says what and why."""


# --- measuring helpers (pure or /proc only; tested in tests/ops/test_bench_hashing.py) ----------

def percentile(values, p: float) -> float:
    """Nearest-rank percentile: p95 of 5 values is the largest, never an interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise BenchError("no values to take a percentile of")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def write_random(path: Path, size: int, seed: int, chunk: int = 4 * MIB) -> Path:
    """A file of `size` bytes that no compressor or dedup can shortcut, reproducibly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = (seed.to_bytes(8, "little") * (chunk // 8 + 1))[:chunk]
    block = bytes(b ^ (i * 131 + seed) % 256 for i, b in enumerate(block[:4096])) * (chunk // 4096)
    with open(path, "wb") as f:
        left, n = size, 0
        while left > 0:
            head = n.to_bytes(8, "little") + seed.to_bytes(8, "little")   # every chunk differs
            piece = (head + block)[:min(chunk, left)]
            f.write(piece)
            left -= len(piece)
            n += 1
    return path


def proc_status_kib(pid: int, key: str) -> int:
    """VmRSS / VmHWM / ... of a process, in KiB, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key} line")


class RssSampler:
    """Samples a process's RSS every `interval` s in a thread; .peak_kib after .stop()."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak_kib = max(self.peak_kib, proc_status_kib(self.pid, "VmRSS"),
                                    proc_status_kib(self.pid, "VmHWM"))
            except (OSError, BenchError):
                return                       # the process is gone
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


class LogTail:
    """Reads a growing log file incrementally; waits for a regex and returns its match."""

    def __init__(self, path: Path):
        self.path, self.offset, self.buffer = Path(path), 0, ""

    def read(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        self.buffer += data.decode("utf-8", "replace")
        return self.buffer

    def wait(self, pattern: str, timeout: float, alive=lambda: True, interval: float = 0.005):
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        while True:
            m = regex.search(self.read())
            if m:
                self.buffer = self.buffer[m.end():]
                return m
            if not alive():
                raise BenchError(f"the daemon exited while waiting for {pattern!r}")
            if time.monotonic() > deadline:
                raise BenchError(f"no {pattern!r} in {self.path} after {timeout:.0f} s")
            time.sleep(interval)


def replace_section(text: str, section: str) -> str:
    """bench/RESULTS.md with this benchmark's section replaced (or appended); others untouched."""
    return results.replace_section(text, "hashing", section)


# --- the runs -------------------------------------------------------------------------------

@dataclass
class Figures:
    landing: dict = field(default_factory=dict)      # size label -> (published, seeded, client alone)
    scan: dict = field(default_factory=dict)
    many: dict = field(default_factory=dict)
    webrtc: dict = field(default_factory=dict)


def start(site: Site, log: Path) -> tuple[Daemon, RssSampler, float]:
    t0 = time.monotonic()
    daemon = Daemon(site, log)
    return daemon, RssSampler(daemon.proc.pid), t0


def stop(daemon: Daemon):
    rc = daemon.stop()
    if rc not in (0, None):
        raise BenchError(f"the daemon exited with status {rc}; its log: {daemon.proc.log_path}")


def first_piece_from_seeder(torrent: bytes, seeder_port: int, scratch: Path, timeout: float) -> None:
    """An independent libtorrent client connected to the seeder alone gets piece 0 (and asks for
    nothing else: with every piece wanted, piece 0 competes with the whole file's transfer)."""
    import libtorrent as lt
    from harness.ports import free_port
    session = lt.session({
        "listen_interfaces": f"127.0.0.1:{free_port()}", "allow_multiple_connections_per_ip": True,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "max_webtorrent_offers": 0, "alert_mask": 0})
    try:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent)
        atp.save_path = str(scratch)
        atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
        atp.trackers, atp.url_seeds = [], []
        atp.piece_priorities = [7] + [0] * (atp.ti.num_pieces() - 1)   # ask for piece 0 only
        handle = session.add_torrent(atp)
        handle.replace_trackers([])
        for url in handle.url_seeds():
            handle.remove_url_seed(url)
        handle.connect_peer(("127.0.0.1", seeder_port))
        deadline = time.monotonic() + timeout
        while not handle.have_piece(0):
            if time.monotonic() > deadline:
                raise BenchError(f"no piece from the seeder after {timeout:.0f} s")
            time.sleep(0.002)
        session.remove_torrent(handle, lt.session.delete_files)
    finally:
        del session


def landing(work: Path, sizes: dict, figures: Figures):
    site = make_site(work / "landing", watch={"settle": SETTLE},
                     rules=[{"mimetype": "application/octet-stream"}],
                     mimetypes={".bin": "application/octet-stream"})
    outside = work / "landing-incoming"          # same file system: the rename is atomic
    outside.mkdir()
    port = int(site.settings["seeder"]["listen"].rsplit(":", 1)[1])
    daemon, rss, _ = start(site, work / "landing.log")
    tail = LogTail(work / "landing.log")
    try:
        daemon.wait_ready()
        for label, (size, runs) in sizes.items():
            published, seeded, alone = [], [], []
            for run in range(runs):
                rel = f"{label}-{run}.bin"
                tmp = write_random(outside / rel, size, seed=hash((label, run)) & 0xFFFF)
                os.sync()
                t0 = time.monotonic()
                os.rename(tmp, site.docroot / rel)
                tail.wait(rf"published {re.escape(rel)} [0-9a-f]{{40}}", 300, daemon.proc.alive)
                t1 = time.monotonic()
                first_piece_from_seeder(site.torrent(rel), port, work / "client", 120)
                t2 = time.monotonic()
                # Baseline in the same run: the same client on the same, long-seeded torrent.
                first_piece_from_seeder(site.torrent(rel), port, work / "client", 120)
                alone.append(time.monotonic() - t2)
                published.append(t1 - t0)
                seeded.append(t2 - t0)
                (site.docroot / rel).unlink()
            figures.landing[label] = (published, seeded, alone)
            print(f"  {label}: published p50 {statistics.median(published):.2f} s, "
                  f"seeded p50 {statistics.median(seeded):.2f} s, client alone p50 "
                  f"{statistics.median(alone):.2f} s ({runs} files)", flush=True)
    finally:
        stop(daemon)
        rss.stop()


def scan(work: Path, total: int, figures: Figures):
    """A fresh daemon on ~total bytes, then mktorrent on the same files, warm cache for both."""
    site = make_site(work / "scan", rules=[{"mimetype": "application/octet-stream"}],
                     mimetypes={".bin": "application/octet-stream"})
    sizes = [64 * MIB] * (total // (64 * MIB)) or [total]
    files = [write_random(site.docroot / f"d{i % 4}" / f"f{i:03d}.bin", s, seed=1000 + i)
             for i, s in enumerate(sizes)]
    for f in files:                              # warm the page cache for both contestants
        with open(f, "rb") as fh:
            while fh.read(16 * MIB):
                pass
    daemon, rss, t0 = start(site, work / "scan.log")
    try:
        m = LogTail(work / "scan.log").wait(
            r"hashing: (\d+)/(\d+) files, ([\d.]+)/([\d.]+) MiB, ([\d.]+) MiB/s; all published",
            900, daemon.proc.alive)
        t_done = time.monotonic()
        catalogue = site.catalogue()
    finally:
        stop(daemon)
        rss.stop()
    if int(m.group(1)) != len(files):
        raise BenchError(f"the daemon hashed {m.group(1)} files, not {len(files)}")
    mib = sum(sizes) / MIB
    out = work / "mktorrent"
    out.mkdir()
    t_mk = time.monotonic()
    for f in files:
        rel = str(f.relative_to(site.docroot))
        piece_log2 = int(catalogue[rel][4]).bit_length() - 1
        subprocess.run(["mktorrent", "-t", "1", "-l", str(piece_log2),
                        "-a", "http://127.0.0.1:1/announce", "-o", str(out / (f.name + ".torrent")),
                        str(f)], check=True, stdout=subprocess.DEVNULL)
    mk_s = time.monotonic() - t_mk
    figures.scan = {"files": len(files), "mib": mib, "daemon_s": t_done - t0,
                    "daemon_mibs": mib / (t_done - t0), "daemon_own_mibs": float(m.group(5)),
                    "mktorrent_s": mk_s, "mktorrent_mibs": mib / mk_s}
    print(f"  scan: daemon {mib / (t_done - t0):.0f} MiB/s (start to all published), "
          f"mktorrent {mib / mk_s:.0f} MiB/s", flush=True)


def many(work: Path, count: int, figures: Figures):
    site = make_site(work / "many", rules=[{"mimetype": "image/*", "min_size": "1KiB"}])
    for i in range(count):
        path = site.docroot / f"p{i // 500:02d}" / f"img{i:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(i.to_bytes(4, "little") * 1024)     # 4 KiB, distinct
    daemon, rss, t0 = start(site, work / "many-1.log")
    try:
        LogTail(work / "many-1.log").wait(rf"hashing: {count}/{count} files.*all published", 1800,
                                          daemon.proc.alive)
        first_s = time.monotonic() - t0
        hwm_first = proc_status_kib(daemon.proc.pid, "VmHWM")
    finally:
        stop(daemon)
        peak_first = rss.stop()
    daemon, rss, t0 = start(site, work / "many-2.log")
    try:
        daemon.wait_ready(timeout=300)
        ready_s = time.monotonic() - t0
        m = LogTail(work / "many-2.log").wait(r"catalogue: (\d+) torrents seeding, (\d+) files to hash",
                                              10, daemon.proc.alive)
        time.sleep(3)                            # steady state after READY
        hwm_restart = proc_status_kib(daemon.proc.pid, "VmHWM")
        rehashed = daemon.log().count("published ")
    finally:
        stop(daemon)
        peak_restart = rss.stop()
    if int(m.group(1)) != count or int(m.group(2)) != 0 or rehashed:
        raise BenchError(f"restart: {m.group(0)!r}, {rehashed} published lines; expected "
                         f"{count} seeding and 0 to hash")
    figures.many = {"count": count, "first_s": first_s,
                    "peak_first_mib": max(hwm_first, peak_first) / KIB,
                    "ready_s": ready_s, "peak_restart_mib": max(hwm_restart, peak_restart) / KIB}
    print(f"  {count} files: first run {first_s:.1f} s, restart to READY=1 {ready_s:.2f} s, "
          f"peak RSS {figures.many['peak_restart_mib']:.0f} MiB", flush=True)


class Announcer:
    """HTTP announces to a tracker, one due every `every` s whether or not the last was answered
    (open loop: a blocked tracker shows as every announce due meanwhile waiting, not as one),
    each on a new connection, from before the tracker listens. .stop() -> latencies (s, from
    when each was due to its reply) of those answered; refused connections are not counted."""

    def __init__(self, host: str, port: int, info_hash: bytes, every: float = 0.02, workers: int = 200):
        self.address, self.every = (host, port), every
        self.request = (f"GET /announce?info_hash={''.join(f'%{b:02x}' for b in info_hash)}"
                        f"&peer_id=-BN0001-abcdefghijkl&port=6&uploaded=0&downloaded=0&left=1&compact=1"
                        f" HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").encode()
        self.latencies: list[float] = []
        self.answered: list[tuple[float, float]] = []     # (due, latency): where the tail is
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="announce")
        self._thread = threading.Thread(target=self._schedule, name="announcer", daemon=True)
        self._thread.start()

    def _schedule(self):
        due = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one, due)
            due += self.every
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _one(self, due: float):
        try:
            with socket.create_connection(self.address, timeout=60) as s:
                s.settimeout(60)
                s.sendall(self.request)
                if s.recv(4096).startswith(b"HTTP/1.1 200"):
                    self.latencies.append(time.monotonic() - due)
                    self.answered.append((due, self.latencies[-1]))
        except ConnectionRefusedError:
            pass                            # not listening yet

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        return self.latencies


def webrtc(work: Path, count: int, figures: Figures):
    """`count` torrents announced to http:// and ws:// trackers, WebRTC on, restarted idle."""
    http_port, ws_port = free_ports(2)
    tracker = {"http": f"127.0.0.1:{http_port}", "udp": None, "websocket": f"127.0.0.1:{ws_port}",
               "announce": [f"http://127.0.0.1:{http_port}/announce", f"ws://127.0.0.1:{ws_port}/announce"]}
    site = make_site(work / "webrtc", rules=[{"mimetype": "image/*", "min_size": "1KiB"}], tracker=tracker)
    for i in range(count):
        path = site.docroot / f"p{i // 500:02d}" / f"img{i:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(i.to_bytes(4, "little") * 1024 + b"w")
    daemon, rss, _ = start(site, work / "webrtc-1.log")
    try:
        LogTail(work / "webrtc-1.log").wait(rf"hashing: {count}/{count} files.*all published", 1800,
                                            daemon.proc.alive)
    finally:
        stop(daemon)
        rss.stop()
    any_hash = bytes.fromhex(next(iter(site.catalogue().values()))[3])
    announcer = Announcer("127.0.0.1", http_port, any_hash)
    daemon, rss, t0 = start(site, work / "webrtc-2.log")
    try:
        daemon.wait_ready(timeout=300)
        ready_s = time.monotonic() - t0
        time.sleep(5)                            # idle: every torrent has announced
        fds = len(os.listdir(f"/proc/{daemon.proc.pid}/fd"))
        rss_kib = proc_status_kib(daemon.proc.pid, "VmRSS")
        lag = json.loads((site.state / "status.json").read_text()).get("loop_lag_max", float("nan"))
        latencies = announcer.stop()
        worst = sorted(announcer.answered, key=lambda a: -a[1])[:8]
        print("  slowest announces (due after start, latency): "
              + ", ".join(f"{due - t0:.2f} s {lat * 1000:.0f} ms" for due, lat in worst), flush=True)
    finally:
        announcer.stop()
        stop(daemon)
        peak = rss.stop()
    figures.webrtc = {"count": count, "ready_s": ready_s, "fds": fds, "rss_mib": rss_kib / KIB,
                      "peak_mib": peak / KIB, "announces": len(latencies),
                      "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
                      "max_ms": max(latencies) * 1000, "lag_ms": lag * 1000}
    w = figures.webrtc
    print(f"  {count} torrents, WebRTC on, idle: READY=1 after {ready_s:.2f} s, {fds} fds, RSS "
          f"{w['rss_mib']:.0f} MiB (peak {w['peak_mib']:.0f}); {len(latencies)} announces during start: "
          f"p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms, max {w['max_ms']:.1f} ms; "
          f"loop lag max {w['lag_ms']:.0f} ms", flush=True)


def free_ports(n: int) -> list[int]:
    from harness.ports import free_port
    return [free_port() for _ in range(n)]


# --- report ---------------------------------------------------------------------------------

def table(figures: Figures, command: str) -> str:
    lines = ["## Hashing and publishing (`bench/hashing.py`, loopback)", "",
             f"Command: `{command}` on this machine (2 vCPUs, shared); {time.strftime('%Y-%m-%d')}.",
             "Landing = a file renamed into the document root; published = its `published` log line "
             f"(`watch.settle` = {SETTLE} s, the default, is part of it); seeded = an independent "
             "libtorrent client, started then and connected to the seeder only, holds piece 0; "
             "client alone = the same client on the same torrent once it is long seeded (the "
             "client's own share of `seeded`).",
             "", "| file size | files | published p50 | published p95 | seeded p50 | seeded p95 "
             "| client alone p50 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, (pub, seed, alone) in figures.landing.items():
        lines.append(f"| {label} | {len(pub)} | {percentile(pub, 50):.2f} s | {percentile(pub, 95):.2f} s "
                     f"| {percentile(seed, 50):.2f} s | {percentile(seed, 95):.2f} s "
                     f"| {percentile(alone, 50):.2f} s |")
    s = figures.scan
    if s:
        lines += ["", "| initial scan | files | MiB | seconds | MiB/s | ratio to mktorrent |",
                  "| --- | --- | --- | --- | --- | --- |",
                  f"| daemon, start to `all published` | {s['files']} | {s['mib']:.0f} | {s['daemon_s']:.1f} "
                  f"| {s['daemon_mibs']:.0f} (own log: {s['daemon_own_mibs']:.0f}) "
                  f"| {s['daemon_mibs'] / s['mktorrent_mibs']:.2f} |",
                  f"| `mktorrent -t 1`, same files and piece sizes | {s['files']} | {s['mib']:.0f} "
                  f"| {s['mktorrent_s']:.1f} | {s['mktorrent_mibs']:.0f} | 1.00 |"]
    m = figures.many
    if m:
        lines += ["", f"| {m['count']:,} small files | value | goal |", "| --- | --- | --- |",
                  f"| first run, start to all published | {m['first_s']:.1f} s | |",
                  f"| peak RSS, first run | {m['peak_first_mib']:.0f} MiB | < 300 MB |",
                  f"| restart, nothing changed: start to READY=1 | {m['ready_s']:.2f} s | < 5 s |",
                  f"| peak RSS, restart | {m['peak_restart_mib']:.0f} MiB | < 300 MB |"]
    lines += ["", "Reading: *published* is `watch.settle` plus hashing, so the settle period dominates "
              "below ~100 MiB. *seeded* minus *published* is the client connecting to the seeder and "
              "receiving piece 0 (libtorrent's connection scheduling: usually well under a second, "
              "now and then a few seconds; the *client alone* column is the same on a long-seeded "
              "torrent). The scan is on a warm page cache for both contestants, one hashing thread "
              "each; on this shared machine the ratio moves by about +-20% between runs. The restart "
              "re-hashes nothing (checked: `0 files to hash`, no `published` line)."]
    return "\n".join(lines) + "\n"


def webrtc_table(figures: Figures, command: str) -> str:
    w = figures.webrtc
    return "\n".join([
        "## Many torrents with WebRTC on (`bench/hashing.py --webrtc`, loopback)", "",
        f"Command: `{command}` on this machine (2 vCPUs, shared) at {commit()}; {time.strftime('%Y-%m-%d')}.",
        f"{w['count']:,} catalogued torrents, each with an http:// and a ws:// tracker of the daemon's own, "
        "`seeder.webtorrent: true`, no browser; the daemon restarted with nothing changed. Announces: "
        "HTTP, one connection each, one due every 20 ms (open loop: latency from when it was due) from "
        "before the tracker listens until 5 s after READY=1.",
        "", "| figure | value | goal |", "| --- | --- | --- |",
        f"| start to READY=1 | {w['ready_s']:.2f} s | < 5 s |",
        f"| descriptors, idle (`/proc/PID/fd`) | {w['fds']} | < 1,000 |",
        f"| RSS, idle / peak | {w['rss_mib']:.0f} / {w['peak_mib']:.0f} MiB | < 300 MB |",
        f"| announces answered during start | {w['announces']} | |",
        f"| announce latency p50 / p99 / max | {w['p50_ms']:.1f} / {w['p99_ms']:.1f} / {w['max_ms']:.1f} ms "
        "| p99 < 50 ms |",
        f"| the daemon's worst loop lag (`loop_lag_max`) | {w['lag_ms']:.0f} ms | |",
        "", *WEBRTC_READING,
    ]) + "\n"


# Measured apart (not by this run), with the same command: what the section is compared with.
WEBRTC_READING = (
    "Before (main at 8746510, every torrent announced over WebSocket; `--webrtc --count 1292`, the "
    "open-loop announcer): READY=1 after 16.42 s, 12,944 descriptors, 500 MiB RSS, announces p50 / p99 / "
    "max 5,628 / 15,832 / 16,030 ms (the loop blocked by the re-announce and the per-torrent status "
    "calls). Main at 10,000 torrents would need ~100,000 descriptors and abort once they run out; "
    "not run. With WebRTC on demand but the seeder still announcing each torrent to its own tracker "
    "over HTTP (ef32c2b, same command, 10,000 torrents): p99 78-110 ms in four runs, the loop busy "
    "accepting the seeder's own 10,000 connections (py-spy: asyncio `_accept_connection`, 73-129 ms "
    "batches). Runs of this command on 2026-12-02 with the seeder entered in-process (p99, loop lag max, "
    "load average at the start): on a quiet machine 43.7 ms / 14 ms at load 0.8 (3efd654), 55.9 / 10 at "
    "0.1, 48.4 / 2 at 0.7 and 52.3 / 26 at 0.7 (the table's run): at the goal, not under it; with other sessions' work 55.3 / 65 at 1.2 (3efd654 "
    "again), 63.9 / 79, 66.2 / 78 and 66.8 / 25 at 1.3-4.6, 116.7 / 162 with a test suite beside it. "
    "Pausing the restore's adds to libtorrent (50 ms every 500) changed nothing (55.9 ms): not kept. "
    "2026-12-02 05:14-05:21, quiet machine (load 0.9-1.5), what the tail was: the slowest announces "
    "came in runs of three 20 ms apart, one held moment each at every status write (10,000 torrents' "
    "figures, tracker rows and metrics every 2 s: 50-200 ms of the status thread's CPU). Status every "
    "2 s: p99 66.9 / 55.6 ms (loop lag 45 / 27); every 30 s: 33.5 / 42.5 ms. Since then status.json "
    "waits 1 s more per 1,000 torrents (10 s at 10,000; the watchdog ping stays at 2 s): 43.5 / 31.4 / "
    "44.5 ms, loop lag 2-4 ms, in three runs. Tried and not kept: every thread but the loop at nice +5 "
    "(55.4 / 62.4 ms against 42.4 / 54.0 without, alternating).",
    "",
    "Reading: idle torrents hold no WebRTC socket (offers only in swarms where a browser wants data, "
    "seeder/webrtc.py), so descriptors no longer grow with the catalogue and RSS is that of "
    "libtorrent's torrents. The seeder no longer announces to its own tracker: the daemon enters it "
    "in each swarm in-process (seeder/presence.py, 250 entries per 50 ms tick), so the start sends "
    "the tracker nothing, and neither does the steady state (10,000 / interval = 83 announces/s "
    "before). What remains of the announce latency is the loop sharing 2 vCPUs with libtorrent adding "
    "10,000 torrents, the catalogue restore and the first status write.",
)


def commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return out + (" (with uncommitted changes)" if dirty else "")


def main_webrtc(args) -> int:
    work = Path(tempfile.mkdtemp(prefix="tw-bench-webrtc-", dir=args.workdir))
    os.chmod(work, 0o755)
    figures = Figures()
    try:
        print(f"{args.count} torrents with WebRTC on: start, idle cost, announces", flush=True)
        webrtc(work, args.count, figures)
    except BenchError as e:
        print(f"bench/hashing.py: {e} (scratch files and logs kept in {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    command = ".venv/bin/python bench/hashing.py --webrtc" + (
        f" --count {args.count}" if args.count != 10_000 else "")
    report = webrtc_table(figures, command)
    print("\n" + report)
    if not args.no_results:
        results.write_section("hashing#webrtc", report, RESULTS)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, no RESULTS.md")
    parser.add_argument("--runs", type=int, default=0, help="files per size (default 10/5/3)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch space (default: a tmp dir)")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--webrtc", action="store_true", help="only the many-torrents WebRTC figures")
    parser.add_argument("--count", type=int, default=10_000, help="torrents for --webrtc")
    args = parser.parse_args(argv)
    if args.webrtc:
        return main_webrtc(args)
    if shutil.which("mktorrent") is None:
        print("bench/hashing.py: mktorrent is needed for the baseline: apt-get install mktorrent",
              file=sys.stderr)
        return 1
    if args.quick:
        sizes = {"100 KiB": (100 * KIB, args.runs or 3), "10 MiB": (10 * MIB, args.runs or 2)}
        scan_total, count = 128 * MIB, 500
    else:
        sizes = {"100 KiB": (100 * KIB, args.runs or 10), "10 MiB": (10 * MIB, args.runs or 5),
                 "200 MiB": (200 * MIB, args.runs or 3)}
        scan_total, count = 1 * GIB, 10_000
    work = Path(tempfile.mkdtemp(prefix="tw-bench-hashing-", dir=args.workdir))
    os.chmod(work, 0o755)
    figures = Figures()
    try:
        print("landing -> published -> seeded", flush=True)
        landing(work, sizes, figures)
        print("initial scan vs mktorrent", flush=True)
        scan(work, scan_total, figures)
        print(f"{count} small files: memory and restart", flush=True)
        many(work, count, figures)
    except BenchError as e:
        print(f"bench/hashing.py: {e} (scratch files and logs kept in {work})", file=sys.stderr)
        return 1
    except BaseException:
        print(f"bench/hashing.py: scratch files and logs kept in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    report = table(figures, ".venv/bin/python bench/hashing.py" + (" --quick" if args.quick else ""))
    print("\n" + report)
    if not (args.quick or args.no_results):
        text = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(replace_section(text, report))
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
