#!/usr/bin/env python3
"""The tracker's throughput beside opentracker and the npm bittorrent-tracker, in one run.

    .venv/bin/python bench/tracker.py              # ~3 minutes
    .venv/bin/python bench/tracker.py --seconds 3  # a smoke run
    .venv/bin/python bench/tracker.py --baseline main   # also the tracker of another commit

1. HTTP announces: wrk (-t2 -c64, keep-alive) with tracker_announce.lua sending valid announces
   for 1,000 whitelisted info-hashes (random peer_id and port, compact=1, numwant=50,
   event=started) to ours, opentracker (Debian, whitelist of the same hashes) and npm
   bittorrent-tracker (same whitelist through its `filter`), alternating, ROUNDS rounds; the
   median requests/s and p99 latency of each. Before every run one announce is checked to be a
   real answer (not a failure), so a broken whitelist cannot pass for a fast tracker.
2. WebSocket announces (no offers) from 64 sockets (tracker_wsload.mjs): ours and npm, alternating.
With --baseline REV, the tracker of commit REV runs beside ours in both, for before/after figures
from one run (its package is taken with `git archive`, the work tree is left alone).
Prints a table with ratios and writes this benchmark's section of bench/RESULTS.md.
Servers run on free loopback ports, each in its own process group, stopped at the end.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote_from_bytes

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

from harness.ports import free_port            # noqa: E402
from harness.processes import Process, wait_for  # noqa: E402
import results                                  # noqa: E402  (bench/results.py)

HASHES = 1000
CONNECTIONS = 64


def info_hashes() -> list:
    """1,000 fixed, distinct info-hashes (the same on every run)."""
    import hashlib
    return [hashlib.sha1(b"torrentweb bench %d" % i).digest() for i in range(HASHES)]


class Contestant:
    def __init__(self, name, http_url, ws_url=None, wrk_args=(), proc=None):
        self.name, self.http_url, self.ws_url, self.wrk_args = name, http_url, ws_url, tuple(wrk_args)
        self.proc = proc
        self.http, self.ws = [], []         # (announces/s, p99 ms, CPU µs/announce), (announces/s, CPU µs)


def cpu_seconds(proc: Process) -> float:
    """User + system time the tracker's process has used: on a shared machine the rate of a run
    swings with the neighbours' load, the CPU time per announce much less."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_ours(work: Path, whitelist: Path, procs: list, name="torrentweb", env=None) -> Contestant:
    (work / "docroot").mkdir(exist_ok=True)
    port, ws_port = free_port(), free_port()
    config = work / f"{name.replace(' ', '-')}.yaml"
    config.write_text(
        "docroot: docroot\nbase_url: http://127.0.0.1/\nlog_level: warning\ntracker:\n"
        f"  http: 127.0.0.1:{port}\n  udp: null\n  websocket: 127.0.0.1:{ws_port}\n  open: false\n"
        "  rate_limit: 0\n")         # one load generator on one address: the tracker itself is measured
    proc = Process([sys.executable, "-m", "torrentweb.seeder.tracker", "-c", str(config),
                    "--whitelist", str(whitelist)], config.with_suffix(".log"), env=env)
    procs.append(proc)
    wait_for(lambda: proc.log().count("listening") >= 2 or _dead(proc), 15, what=name)
    return Contestant(name, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{ws_port}/announce", proc=proc)


def start_baseline(rev: str, work: Path, whitelist: Path, procs: list) -> Contestant:
    """Our tracker as of commit `rev`, its package laid out as setup.py's package_dir does."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True,
                            text=True, check=True).stdout.strip()
    tree = work / f"baseline-{commit}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "core", "seeder"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    package = tree / "path" / "torrentweb"
    shutil.copytree(tree / "core", package)
    (package / "seeder").symlink_to(tree / "seeder")
    env = dict(os.environ, PYTHONPATH=str(tree / "path"))   # found before the editable install
    return start_ours(work, whitelist, procs, f"torrentweb at {commit}", env)


def start_opentracker(work: Path, whitelist: Path, procs: list) -> Contestant:
    root = work / "opentracker"
    root.mkdir(exist_ok=True)
    (root / "whitelist.txt").write_text(whitelist.read_text())
    port = free_port()
    # no trailing comments: opentracker's parser takes them as part of the value
    (work / "opentracker.conf").write_text(
        f"listen.tcp_udp 127.0.0.1:{port}\ntracker.rootdir {root}\naccess.whitelist /whitelist.txt\n")
    proc = Process(["opentracker", "-f", str(work / "opentracker.conf")], work / "opentracker.log")
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url) or _dead(proc), 15, what="opentracker")
    return Contestant("opentracker", url, proc=proc)


def start_npm(work: Path, whitelist: Path, procs: list) -> Contestant:
    if not (BENCH / "node_modules" / "bittorrent-tracker").is_dir():
        raise SystemExit("npm bittorrent-tracker is missing: cd bench && npm ci --ignore-scripts")
    port = free_port()
    proc = Process(["node", str(BENCH / "tracker_npm.mjs"), str(port), str(whitelist)], work / "npm.log",
                   cwd=str(BENCH))
    procs.append(proc)
    wait_for(lambda: "listening" in proc.log() or _dead(proc), 15, what="npm bittorrent-tracker")
    return Contestant("npm bittorrent-tracker", f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", proc=proc)


def _dead(proc):
    if not proc.alive():
        raise SystemExit(f"{proc.argv[0]} exited:\n{proc.log()[-2000:]}")
    return False


def _answers(url):
    try:
        urllib.request.urlopen(url + "/announce", timeout=1).read()
        return True
    except urllib.error.HTTPError:
        return True             # an answer, if not a happy one
    except OSError:
        return False


def check_announce(c: Contestant, ih: bytes):
    """One valid announce must get peers/interval back, not a failure reason."""
    q = (f"/announce?info_hash={quote_from_bytes(ih)}&peer_id=-CK0001-000000000001&port=7000"
         "&uploaded=0&downloaded=0&left=1000&compact=1&numwant=50&event=started")
    with urllib.request.urlopen(c.http_url + q, timeout=5) as r:
        body = r.read()
    if b"failure reason" in body or b"interval" not in body:
        raise SystemExit(f"{c.name} does not answer a valid announce: {body[:200]!r}")


def wrk(c: Contestant, lua: Path, hashes_file: Path, seconds: int) -> tuple:
    env = dict(os.environ, TRACKER_HASHES=str(hashes_file))
    cpu = cpu_seconds(c.proc)
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", *c.wrk_args, "-s", str(lua),
                          c.http_url + "/"],
                         capture_output=True, text=True, env=env, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = int(re.search(r"p99_us (\d+)", out).group(1)) / 1000
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{c.name}: {non2xx.group(1)} non-2xx replies under load:\n{out}")
    return rps, p99, (cpu_seconds(c.proc) - cpu) * 1e6 / (rps * seconds)


def ws_load(c: Contestant, hex_file: Path, seconds: int) -> tuple:
    cpu = cpu_seconds(c.proc)
    out = subprocess.run(["node", str(BENCH / "tracker_wsload.mjs"), c.ws_url, str(CONNECTIONS), str(seconds),
                          str(hex_file)], capture_output=True, text=True, timeout=seconds + 30, cwd=str(BENCH))
    m = re.search(r"announces (\d+) failures (\d+) seconds ([\d.]+)", out.stdout)
    if not m:
        raise SystemExit(f"WebSocket load against {c.name} failed:\n{out.stdout}{out.stderr}")
    if int(m.group(2)):
        raise SystemExit(f"{c.name} answered {m.group(2)} WebSocket announces with a failure")
    return int(m.group(1)) / float(m.group(3)), (cpu_seconds(c.proc) - cpu) * 1e6 / int(m.group(1))


def commit() -> str:
    """The commit measured, marked when the work tree differs from it."""
    def git(*argv):
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=True).stdout
    dirty = git("status", "--porcelain", "--untracked-files=no", "core", "seeder", "bench").strip()
    return git("rev-parse", "--short", "HEAD").strip() + (" plus uncommitted changes" if dirty else "")


def table(rows, header):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(text: str):
    results.write_section("tracker", text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk / WebSocket run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating HTTP rounds")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--baseline", metavar="REV", help="also run the tracker of this commit")
    args = parser.parse_args(argv)

    hashes = info_hashes()
    with tempfile.TemporaryDirectory(prefix="torrentweb-bench-tracker-") as tmp:
        work = Path(tmp)
        whitelist = work / "whitelist.txt"
        whitelist.write_text("".join(h.hex() + "\n" for h in hashes))
        encoded = work / "hashes.txt"
        encoded.write_text("".join(quote_from_bytes(h, safe="") + "\n" for h in hashes))
        procs, contestants = [], []
        try:
            for start in (start_ours, start_opentracker, start_npm):
                contestants.append(start(work, whitelist, procs))
            if args.baseline:
                contestants.append(start_baseline(args.baseline, work, whitelist, procs))
            # opentracker closes every connection: ours again, made to do the same, for a like-for-like row
            contestants.insert(1, Contestant("torrentweb, Connection: close", contestants[0].http_url,
                                             wrk_args=("-H", "Connection: close"), proc=contestants[0].proc))
            for c in contestants:
                check_announce(c, hashes[0])
            for r in range(args.rounds):
                for c in contestants:
                    c.http.append(wrk(c, BENCH / "tracker_announce.lua", encoded, args.seconds))
                    print(f"round {r + 1}: {c.name:30} HTTP {c.http[-1][0]:9,.0f} announces/s  "
                          f"p99 {c.http[-1][1]:.1f} ms  CPU {c.http[-1][2]:.1f} µs/announce", flush=True)
            for r in range(args.rounds):
                for c in contestants:
                    if c.ws_url:
                        c.ws.append(ws_load(c, whitelist, args.seconds))
                        print(f"round {r + 1}: {c.name:30} WebSocket {c.ws[-1][0]:9,.0f} announces/s  "
                              f"CPU {c.ws[-1][1]:.1f} µs/announce", flush=True)
        finally:
            for proc in procs:
                proc.stop()

    ours, _, opentracker, npm = contestants[:4]
    ws_contestants = [c for c in contestants if c.ws_url]
    med = {c.name: [statistics.median(run[i] for run in c.http) for i in range(3)] for c in contestants}
    http_rows = [(c.name, f"{med[c.name][0]:,.0f}", f"{med[c.name][1]:.1f} ms",
                  f"{med[ours.name][0] / med[c.name][0]:.2f}", f"{med[c.name][2]:.1f}",
                  f"{med[c.name][2] / med[ours.name][2]:.2f}") for c in contestants]
    ws_med = {c.name: [statistics.median(run[i] for run in c.ws) for i in range(2)] for c in ws_contestants}
    ws_rows = [(c.name, f"{ws_med[c.name][0]:,.0f}", f"{ws_med[ours.name][0] / ws_med[c.name][0]:.2f}",
                f"{ws_med[c.name][1]:.1f}", f"{ws_med[c.name][1] / ws_med[ours.name][1]:.2f}")
               for c in ws_contestants]
    command = ".venv/bin/python bench/tracker.py" + (f" --baseline {args.baseline}" if args.baseline else "")
    text = "\n".join([
        "## Tracker (`bench/tracker.py`, loopback)",
        "",
        f"Command: `{command}` at {commit()} on this machine (2 vCPUs, shared; load generator on the "
        f"same cores); {datetime.date.today()}. HTTP: `wrk -t2 -c{CONNECTIONS} -d{args.seconds}s` with "
        f"`bench/tracker_announce.lua` (valid announces for {HASHES} whitelisted info-hashes, random peer_id/port, "
        f"compact, numwant=50), {args.rounds} alternating rounds, medians. WebSocket: {CONNECTIONS} sockets "
        "announcing back to back without offers (`bench/tracker_wsload.mjs`), "
        f"{args.seconds} s each, alternating, medians. Every tracker whitelists the same hashes. "
        "CPU µs/announce: the user + system time the tracker's process used during a run, divided by the "
        "announces it answered (the rates swing with the neighbours' load, this much less).",
        "",
        table(http_rows, ("HTTP announces", "requests/s", "p99", "torrentweb ÷ this", "CPU µs/announce",
                          "this ÷ torrentweb (CPU)")),
        "",
        f"Like for like with opentracker (both closing the connection after each reply): "
        f"{med[contestants[1].name][0] / med[opentracker.name][0]:.2f} x opentracker.",
        "",
        table(ws_rows, ("WebSocket announces", "announces/s", "torrentweb ÷ this", "CPU µs/announce",
                        "this ÷ torrentweb (CPU)")),
        "",
        "Reading: ours is one asyncio thread (a bare `asyncio.Protocol` HTTP/1.1 parser, precomputed reply "
        "shapes, compact peers joined from per-swarm lists; WebSocket: the `websockets` library's Sans-I/O "
        "protocol under a plain `asyncio.Protocol`, no task or await per message). wrk keeps connections alive; opentracker closes "
        "each one after its reply (wrk then reconnects), which costs it a TCP handshake per announce, so the "
        "`Connection: close` row (ours closing after every reply too) is the like-for-like comparison with "
        "opentracker. Behind Apache the tracker sees Apache's pooled keep-alive connections. "
        "Goal: above npm, and at least 0.5 x opentracker on HTTP.",
    ])
    print()
    print(text)
    if not args.no_write:
        write_results(text)
        print(f"\nwritten to {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
