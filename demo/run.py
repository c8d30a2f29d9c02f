#!/usr/bin/env python3
"""`make demo`: the real Apache (mod_wsgi + the torrentweb snippet), the seeder and its tracker on
the sample site in demo/site/, on loopback. Prints the URL to open and stays in the foreground;
Ctrl-C (or SIGTERM) stops everything it started, by PID.

    .venv/bin/python demo/run.py [--port 8088] [--site demo/site] [--state demo/.run] [--crowd N]

The page is cold at first, as a first visitor of an idle origin gets it: plain HTTP at full
speed, then the browser seeds what it loaded. `--crowd N` brings N visitors (plain HTTP clients,
a page view each plus its images) a minute after start, so the page turns hot while you watch
the status page; reload the page then, and your tab takes the images from the swarm. A minute
after the crowd has gone the page is cold again (the demo's pages.hot.cool_down).

State (catalogue, torrents, status.json) and logs go to --state (git-ignored demo/.run/ by default;
it is emptied at start). Exit codes: 0 stopped by a signal, 1 something failed to start, 2 usage.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import re
import shutil
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

from harness.origin import Origin, OriginError

HERE = Path(__file__).resolve().parent


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="Apache's loopback port (default: a free one)")
    p.add_argument("--site", type=Path, default=HERE / "site", help="document root (demo/site)")
    p.add_argument("--state", type=Path, default=HERE / ".run", help="state and logs (demo/.run)")
    p.add_argument("--crowd", type=int, default=0, metavar="N",
                   help="N visitors a minute after start: the page turns hot (default: none)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port {args.port}: expected 1 to 65535 (or 0 for a free one)")
    if not (args.site / "index.html").is_file():
        p.error(f"--site {args.site}: no index.html there")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    shutil.rmtree(args.state, ignore_errors=True)
    print("starting the seeder daemon and Apache ...", flush=True)
    try:
        # pages.p2p auto (the default): the page is cold (plain HTTP) until the origin is loaded
        origin = Origin.start(args.site, args.state, port=args.port or None,
                              settings={"pages": {"hot": {"cool_down": 60}}})
    except (OriginError, AssertionError, OSError) as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    try:
        if not origin.wait_published():
            print(f"demo: the page has no torrent link yet; see {args.state}/seeder.log", file=sys.stderr)
        print(f"torrentweb demo: open {origin.url}", flush=True)
        print(f"status page:     {origin.url}.torrentweb/status", flush=True)
        print(f"logs and state:  {args.state}  (Ctrl-C stops everything)", flush=True)
        print("the page is cold: visitors load it by plain HTTP, then seed what they loaded", flush=True)
        if args.crowd:
            threading.Thread(target=crowd, args=(origin, args.crowd, stop), daemon=True).start()
        while not stop.wait(1.0):
            for name, proc in (("Apache", origin.apache.process), ("the seeder", origin.daemon.proc)):
                if not proc.alive():
                    print(f"demo: {name} exited; see {args.state}", file=sys.stderr)
                    return 1
    finally:
        origin.stop()
        print("stopped.", flush=True)
    return 0


def crowd(origin, n: int, stop: threading.Event, delay: float = 60.0):
    """N visitors without the loader: the page and its images by HTTP, a few per second."""
    print(f"a crowd of {n} visitors arrives in {delay:.0f} s: watch the status page", flush=True)
    if stop.wait(delay):
        return
    page = urllib.request.urlopen(origin.url, timeout=10).read().decode()
    assets = [origin.url + m for m in re.findall(r'src="(img/[^"]+|video/[^"]+)"', page)]

    def visit(_):
        for url in [origin.url, *assets]:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(visit, range(n)))
    print(f"the crowd of {n} has been served", flush=True)
    for state, text in (("hot", "the page is hot: reload it, your tab takes the images from the swarm"),
                        ("cold", "the page is cold again: plain HTTP")):
        while not stop.wait(0.5):
            pages = (origin.status().get("heat") or {}).get("pages") or []
            if any(p["path"] == "/index.html" and p["state"] == state for p in pages) or \
                    (state == "cold" and not pages):
                print(text, flush=True)
                break


if __name__ == "__main__":
    sys.exit(main())
